"""The corpus of people's mixing decisions: dry and wet renders of one song, the declared settings, the render
check, the split, and reading the author's balance back from the mix."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

mido = pytest.importorskip("mido")

from mixdown.data.synth.people import declared_settings, is_held_out, people_corpus, render_check  # noqa: E402
from mixdown.data.synth.render import DEFAULT_SOUNDFONTS  # noqa: E402
from mixdown.errors import DatasetError  # noqa: E402
from mixdown.evaluate import stem_balance  # noqa: E402

needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not any(Path(p).is_file() for p in DEFAULT_SOUNDFONTS),
    reason="fluidsynth or a GM soundfont is not installed (bash scripts/install_system_deps.sh)")

# channel: (program, CC7, CC10, CC91); channel 9 is the GM drum kit
AUTHOR = {0: (0, 64, 64, 40), 1: (33, 110, 32, 0), 9: (0, 90, 64, 20)}


def _song(path: Path, with_mix: bool = True, seconds: float = 4.0) -> Path:
    """A MIDI song: piano chords, a bass line and a kick/snare/hi-hat groove, with the author's CC7/CC10/CC91."""
    track = mido.MidiTrack()
    ticks = 480  # per beat at 120 bpm: 0.5 s
    events = []
    for channel, (program, volume, position, send) in AUTHOR.items():
        if channel != 9:
            events.append((0, mido.Message("program_change", channel=channel, program=program)))
        if with_mix:
            for number, value in ((7, volume), (10, position), (91, send)):
                events.append((0, mido.Message("control_change", channel=channel, control=number, value=value)))
    for beat in range(int(seconds * 2)):
        start, stop = beat * ticks, beat * ticks + ticks - 40
        for channel, pitch in ((0, 60), (0, 64), (1, 36 + 5 * (beat % 2)), (9, 36 if beat % 2 == 0 else 38),
                               (9, 42)):
            events.append((start, mido.Message("note_on", channel=channel, note=pitch, velocity=100)))
            events.append((stop, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
    events.sort(key=lambda e: (e[0], e[1].type == "note_on"))
    last = 0
    for at, message in events:
        track.append(message.copy(time=at - last))
        last = at
    song = mido.MidiFile(ticks_per_beat=ticks)
    song.tracks.append(track)
    song.save(path)
    return path


def test_declared_settings_follow_the_gm_volume_curve_and_pan_controller():
    assert declared_settings({7: 100, 10: 64}) == {"cc7": 100, "cc10": 64, "cc91": 0, "gain_db": 0.0, "pan": 0.0,
                                                   "reverb_send": 0.0}
    settings = declared_settings({7: 64, 10: 32, 91: 127})
    assert settings["gain_db"] == pytest.approx(40 * math.log10(0.64), abs=1e-3)
    assert settings["pan"] == -0.5 and settings["reverb_send"] == 1.0


def test_render_check_reads_a_known_gain_and_pan():
    rng = np.random.default_rng(0)
    dry = np.repeat(rng.standard_normal((1, 8000)), 2, 0)
    theta = (0.5 + 1) * math.pi / 4
    wet = dry * np.array([[math.cos(theta)], [math.sin(theta)]]) * 10 ** (-6 / 20) * math.sqrt(2)
    check = render_check(dry, wet)
    assert check["level_db"] == pytest.approx(-6.0, abs=1e-6) and check["pan"] == pytest.approx(0.5, abs=1e-6)
    assert check["correlation"] == pytest.approx(1.0, abs=1e-9)
    assert check["residual_db"] is None or check["residual_db"] < -100


def test_the_split_is_stable_and_holds_out_a_quarter():
    names = [f"song {k}" for k in range(2000)]
    held = [is_held_out(n) for n in names]
    assert held == [is_held_out(n) for n in names]
    assert 0.2 < sum(held) / len(held) < 0.3


def test_a_missing_source_names_the_fix(tmp_path):
    with pytest.raises(DatasetError, match="folder of .mid files"):
        people_corpus(tmp_path / "out", [tmp_path / "nowhere"])


@needs_fluidsynth
def test_a_song_renders_dry_wet_and_mix_with_its_authors_settings(tmp_path):
    songs = tmp_path / "midi"
    songs.mkdir()
    _song(songs / "tune.mid")
    _song(songs / "no_mix.mid", with_mix=False)  # no author's mix: skipped
    made = people_corpus(tmp_path / "out", [songs], seconds=None)
    assert [s["song"] for s in made] == ["tune"]
    folder = tmp_path / "out" / "tune"
    meta = json.loads((folder / "metadata.json").read_text())
    index = json.loads((tmp_path / "out" / "corpus.json").read_text())
    assert index["songs"][0]["split"] == meta["split"] == ("held_out" if is_held_out("tune") else "train")
    stems = {e["stem"]: e for e in meta["stems"]}
    assert {"piano_keys", "bass", "kick", "snare", "hihat"} <= set(stems)
    for name, entry in stems.items():
        assert (folder / "dry" / f"{name}.wav").is_file() and (folder / "wet" / f"{name}.wav").is_file()
        channel = entry["channel"] - 1
        assert entry["declared"] == declared_settings(dict(zip((7, 10, 91), AUTHOR[channel][1:])))
    assert (folder / "mix.wav").is_file() and meta["licence"]
    # the render check: each wet stem is its dry stem times one gain per channel
    piano, bass = stems["piano_keys"]["render_check"], stems["bass"]["render_check"]
    assert piano["correlation"] > 0.999 and bass["correlation"] > 0.999
    assert piano["level_db"] == pytest.approx(40 * math.log10(0.64), abs=1.0)  # centred: the volume curve alone
    assert bass["pan"] < -0.3  # CC10 32: left
    # read back from the files, whose common scale keeps the levels: the same check
    dry, _ = sf.read(folder / "dry" / "piano_keys.wav", always_2d=True)
    wet, rate = sf.read(folder / "wet" / "piano_keys.wav", always_2d=True)
    assert render_check(dry.T, wet.T)["level_db"] == pytest.approx(piano["level_db"], abs=0.01)
    # the author's mix (reverb and chorus on) read back against the dry stems: each track where the author put it
    names = sorted(stems)
    dry_stems = [sf.read(folder / "dry" / f"{n}.wav", always_2d=True, dtype="float32")[0].T for n in names]
    mix = sf.read(folder / "mix.wav", always_2d=True, dtype="float32")[0].T
    balance = stem_balance(mix, dry_stems, rate, names)
    read = dict(zip(names, balance.level_db))
    assert read["piano_keys"] - read["bass"] == pytest.approx(
        stems["piano_keys"]["render_check"]["level_db"] - stems["bass"]["render_check"]["level_db"], abs=1.0)
    assert dict(zip(names, balance.pan))["bass"] < -0.2


def _unity_song(path: Path) -> Path:
    """The test song with the author's mix at unity: every channel CC7 100, centred, no reverb."""
    global AUTHOR
    saved, AUTHOR = AUTHOR, {c: (p, 100, 64, 0) for c, (p, *_) in AUTHOR.items()}
    try:
        return _song(path)
    finally:
        AUTHOR = saved


@needs_fluidsynth
def test_evaluate_against_people_ranks_the_plain_sum_first_when_the_author_left_everything_at_unity(tmp_path):
    from typer.testing import CliRunner

    from mixdown.cli import app
    from mixdown.train.against_people import evaluate_against_people

    songs = tmp_path / "midi"
    songs.mkdir()
    _unity_song(songs / "unity.mid")
    people_corpus(tmp_path / "corpus", [songs], seconds=None)
    result = evaluate_against_people(tmp_path / "corpus", ("sum", "equal_loudness"), split="all")
    by = {r["contender"]: r for r in result["songs"]}
    # the author's mix is the dry stems at unity (same notes, same soundfont), plus the effects some soundfont
    # presets send to by themselves (the mix is rendered with effects on): the sum's balance and pan read ~0
    assert by["sum"]["balance_db"] < 0.5 and by["sum"]["pan"] < 0.06
    assert by["equal_loudness"]["balance_db"] > by["sum"]["balance_db"] + 1.0
    summary = result["summary"]["folder"]
    assert summary["sum"]["songs"] == 1 and summary["sum"]["balance_db"]["mean"] == pytest.approx(by["sum"]["balance_db"])
    cli = CliRunner().invoke(app, ["evaluate", str(tmp_path / "corpus"), "--split", "all", "--method", "sum",
                                   "--json", str(tmp_path / "e.json")])
    assert cli.exit_code == 0, cli.output
    assert json.loads((tmp_path / "e.json").read_text())["songs"][0]["contender"] == "sum"
    empty = CliRunner().invoke(app, ["evaluate", str(tmp_path / "corpus"), "--split", "train"])
    held = is_held_out("unity")
    assert (empty.exit_code == 2 and "no" in empty.output.lower()) if held else empty.exit_code == 0
