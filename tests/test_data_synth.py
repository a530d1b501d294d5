"""The synthetic corpus: MIDI splitting, the GM role table, rendering with fluidsynth, determinism, loader."""

from __future__ import annotations

import hashlib
import json
import shutil

import mido
import numpy as np
import pytest
import soundfile as sf

from mixdown.data.synth import load_synth, synth_corpus
from mixdown.data.synth.corpus import composer_mix
from mixdown.data.synth.gm import drum_piece, program_family, program_role
from mixdown.data.synth.midi import read_midi, split_drums
from mixdown.data.synth.render import DEFAULT_SOUNDFONTS, render_midi
from mixdown.errors import AudioInputError, MixdownError, ParameterError

HAVE_FLUIDSYNTH = shutil.which("fluidsynth") is not None and any(
    __import__("pathlib").Path(p).is_file() for p in DEFAULT_SOUNDFONTS)
needs_fluidsynth = pytest.mark.skipif(
    not HAVE_FLUIDSYNTH, reason="fluidsynth or a GM soundfont is not installed (apt-get install fluidsynth "
                                "fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont)")
TIM = "/usr/share/sounds/sf2/TimGM6mb.sf2"  # the smallest soundfont: fast tests


def _small_midi(path):
    """Piano (program 0) on channel 1 in track 1, bass (33) on channel 2, drums on channel 10 in track 2."""
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    keys, drums = mido.MidiTrack(), mido.MidiTrack()
    mid.tracks += [keys, drums]
    keys += [mido.MetaMessage("set_tempo", tempo=500_000), mido.Message("program_change", channel=0, program=0),
             mido.Message("program_change", channel=1, program=33),
             mido.Message("control_change", channel=1, control=7, value=127),
             mido.Message("control_change", channel=1, control=10, value=32),
             mido.Message("note_on", channel=0, note=60, velocity=80),
             mido.Message("note_on", channel=1, note=40, velocity=90),
             mido.Message("note_off", channel=0, note=60, time=480),
             mido.Message("note_off", channel=1, note=40)]
    for note in (36, 38, 42, 45, 49, 63):
        drums += [mido.Message("note_on", channel=9, note=note, velocity=100),
                  mido.Message("note_off", channel=9, note=note, time=240)]
    mid.save(path)
    return path


def test_split_midi_into_instruments_and_kit_pieces(tmp_path):
    perf = read_midi(_small_midi(tmp_path / "a.mid"))
    pitched = [(p.channel, p.program, [n.pitch for n in p.notes]) for p in perf.parts if not p.is_drums]
    assert pitched == [(0, 0, [60]), (1, 33, [40])]
    piano = perf.parts[0].notes[0]
    assert piano.start_s == 0.0 and piano.end_s == pytest.approx(0.5)  # 480 ticks at 120 bpm
    drums = next(p for p in perf.parts if p.is_drums)
    pieces = {p.piece: [n.pitch for n in p.notes] for p in split_drums(drums)}
    assert pieces == {"kick": [36], "snare": [38], "hihat": [42], "toms": [45], "overheads_room": [49],
                      "percussion": [63]}
    assert perf.mix == {1: {7: 127, 10: 32}}
    assert composer_mix(perf.mix, 1) == {"gain_db": 0.0, "pan": -0.5, "reverb_send": None}
    assert composer_mix({0: {7: 64}}, 0)["gain_db"] == pytest.approx(40 * np.log10(64 / 127), abs=0.01)


def test_gm_program_roles():
    expected = {0: "piano_keys", 4: "piano_keys", 19: "piano_keys", 24: "acoustic_guitar", 29: "electric_guitar",
                33: "bass", 38: "bass", 40: "strings", 43: "bass", 48: "strings", 52: "backing_vocal",
                56: "brass_winds", 73: "brass_winds", 81: "synth_lead", 89: "synth_pad", 47: "percussion",
                122: "fx"}
    assert {p: program_role(p) for p in expected} == expected
    assert [program_family(p) for p in (0, 33, 127)] == ["Piano", "Bass", "Sound Effects"]
    assert [drum_piece(n) for n in (35, 40, 46, 50, 51, 39)] == ["kick", "snare", "hihat", "toms",
                                                                 "overheads_room", "percussion"]
    with pytest.raises(ParameterError):
        program_role(128)


def test_missing_fluidsynth_or_soundfont_is_a_clear_error(tmp_path):
    mid = _small_midi(tmp_path / "a.mid")
    with pytest.raises(MixdownError, match="apt-get install fluidsynth"):
        render_midi(mid, tmp_path / "a.wav", TIM, fluidsynth="/nonexistent/fluidsynth")
    with pytest.raises(MixdownError, match="apt-get install fluidsynth"):
        synth_corpus(tmp_path / "c", 1, 2.0, fluidsynth="/nonexistent/fluidsynth")
    if HAVE_FLUIDSYNTH:
        with pytest.raises(ParameterError, match="soundfont"):
            synth_corpus(tmp_path / "c", 1, 2.0, soundfonts=[tmp_path / "missing.sf2"])
    with pytest.raises(AudioInputError, match="corpus.json"):
        load_synth(tmp_path / "nothing")


def _hashes(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@needs_fluidsynth
def test_corpus_renders_real_stems_deterministically(tmp_path):
    songs = synth_corpus(tmp_path / "a", 2, 4.0, seed=3, soundfonts=[TIM])
    assert [s.metadata["source"]["kind"] for s in songs] == ["music21", "groove"]
    roles = {t.role for s in songs for t in s.tracks}
    assert {"kick", "snare", "hihat", "bass"} <= roles
    for song in songs:
        lengths = set()
        for track, inst in zip(song.tracks, song.metadata["instruments"]):
            audio, rate = sf.read(track.path, always_2d=True)
            assert rate == 44100 and sf.info(track.path).subtype == "FLOAT"  # exact and fastest to read
            lengths.add(audio.shape[0])
            peak = np.abs(audio).max()
            assert 10 ** (-40 / 20) < peak < 1.0, track.name
            if inst["program"] is not None:  # the role written is the GM program's role
                assert track.role == program_role(inst["program"])
        assert lengths == {4 * 44100}
    groove = songs[1]
    assert groove.mix is not None and groove.mix.is_file()
    assert all(i["composer_mix"]["gain_db"] is not None for i in groove.metadata["instruments"])
    same = synth_corpus(tmp_path / "b", 2, 4.0, seed=3, soundfonts=[TIM])
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    other = synth_corpus(tmp_path / "c", 2, 4.0, seed=4, soundfonts=[TIM])
    a, c = _hashes(tmp_path / "a"), _hashes(tmp_path / "c")
    assert a["00001-groove/kick.wav"] != c.get("00001-groove/kick.wav")
    back = load_synth(tmp_path / "a")
    assert [(s.song, [(t.name, t.role, t.path) for t in s.tracks]) for s in back] == \
        [(s.song, [(t.name, t.role, t.path) for t in s.tracks]) for s in songs]
    assert json.loads((tmp_path / "a" / "corpus.json").read_text())["songs"] == [s.song for s in songs]
    assert same[0].metadata == songs[0].metadata and other[0].metadata != songs[0].metadata


@needs_fluidsynth
def test_user_midi_folder_source(tmp_path):
    folder = tmp_path / "midi"
    folder.mkdir()
    _small_midi(folder / "song.mid")
    (song,) = synth_corpus(tmp_path / "out", 1, 2.0, seed=0, sources=[folder], soundfonts=[TIM])
    assert song.metadata["licence"] == "as provided by the user"
    assert {t.role for t in song.tracks} >= {"piano_keys", "bass", "kick"}  # programs vary only within group
    assert song.mix is not None  # the file sets CC7/CC10: a composer mix is rendered
    mixes = {i["channel"]: i["composer_mix"] for i in song.metadata["instruments"]}
    assert mixes[2] == {"gain_db": 0.0, "pan": -0.5, "reverb_send": None}  # the bass channel's CC7 127, CC10 32
    assert mixes[1] == {"gain_db": None, "pan": None, "reverb_send": None}
    with pytest.raises(ParameterError, match="folder holding .mid"):
        synth_corpus(tmp_path / "out", 1, 2.0, sources=[tmp_path / "empty"], soundfonts=[TIM])


@needs_fluidsynth
def test_corpus_in_another_format_reads_back(tmp_path):
    (song,) = synth_corpus(tmp_path / "flac", 1, 2.0, seed=1, soundfonts=[TIM], audio_format="flac")
    assert all(t.path.suffix == ".flac" and sf.info(t.path).format == "FLAC" for t in song.tracks)
    assert [t.path for t in load_synth(tmp_path / "flac")[0].tracks] == [t.path for t in song.tracks]
    with pytest.raises(ParameterError, match="audio_format"):
        synth_corpus(tmp_path / "x", 1, 2.0, soundfonts=[TIM], audio_format="mp3")


def test_openmsx_source_reads_the_debian_songs_or_names_the_package(monkeypatch, tmp_path):
    from mixdown.data.synth import sources

    if sources.OPENMSX_FOLDER.is_dir():
        assert sources.check_sources(["openmsx"]) == ["openmsx"]
        perf, info = sources.pick("openmsx", np.random.default_rng(0), 10.0)
        assert info["kind"] == "openmsx" and "GPL" in info["licence"] and len(perf.parts) >= 3
        assert perf.mix  # the songs set CC7/CC10: each gets a composer mix
    monkeypatch.setattr(sources, "OPENMSX_FOLDER", tmp_path / "missing")
    with pytest.raises(ParameterError, match="apt-get install openttd-openmsx"):
        sources.check_sources(["openmsx"])


def test_a_score_music21_cannot_convert_is_replaced_by_another(monkeypatch):
    from music21.exceptions21 import Music21Exception

    from mixdown.data.synth import sources
    from mixdown.errors import DatasetError

    pieces = (sources.Path("corpus/bach/bad.mxl"), sources.Path("corpus/bach/good.mxl"))
    good = sources.groove(np.random.default_rng(0), 4.0)

    def convert(path):
        if path.name == "bad.mxl":
            raise Music21Exception("cannot expand Stream: badly formed repeats")
        return good

    monkeypatch.setattr(sources, "_music21_pieces", lambda: pieces)
    monkeypatch.setattr(sources, "_music21_performance", convert)
    perf, info = sources.pick("music21", np.random.default_rng(1), 4.0)
    assert perf is good and info["name"] == "bach/good.mxl"
    monkeypatch.setattr(sources, "_music21_pieces", lambda: pieces[:1])
    with pytest.raises(DatasetError, match="converts to MIDI"):
        sources.pick("music21", np.random.default_rng(1), 4.0)


def test_a_note_cut_to_under_a_tick_still_ends_after_it_starts(tmp_path):
    """An excerpt's last note can be cut to under half a tick; its note off once sorted before its note on, the
    note never ended, and fluidsynth rendered 26 GB of it before anyone noticed."""
    from mixdown.data.synth.midi import Note, Part, write_midi

    part = Part(0, 80, [Note(1.0, 1.0001, 60, 100)], [])
    messages = [msg for msg in mido.MidiFile(write_midi(tmp_path / "cut.mid", [part])).tracks[0]
                if msg.type in ("note_on", "note_off")]
    assert [msg.type for msg in messages] == ["note_on", "note_off"]
    assert messages[1].time >= 1


@needs_fluidsynth
def test_a_note_that_never_ends_stops_the_render_with_a_clear_error(tmp_path):
    track = mido.MidiTrack([mido.Message("program_change", program=80, time=0),
                            mido.Message("note_on", note=60, velocity=100, time=0),
                            mido.Message("control_change", control=7, value=100, time=480)])
    song = mido.MidiFile(ticks_per_beat=480)
    song.tracks.append(track)
    song.save(tmp_path / "hanging.mid")
    with pytest.raises(MixdownError, match="a note on without a note off"):
        render_midi(tmp_path / "hanging.mid", tmp_path / "hanging.wav", TIM)
    assert not (tmp_path / "hanging.wav").exists()
