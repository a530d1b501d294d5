"""The rules mixer end to end: loudness target, determinism, re-rendering the recipe, intent, bad input."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from mixdown import api
from mixdown.analysis import measure_loudness
from mixdown.cli import app
from mixdown.errors import AudioInputError, OutputError, ParameterError
from mixdown.methods.intent import Intent, TrackIntent

REAL = Path("/work/shared/data/real")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo_mix(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return api.mix_folder(api.demo_stems_path(), out), out


def test_demo_mix_meets_the_streaming_target(demo_mix):
    result, _ = demo_mix
    audio, rate = sf.read(result.mix_path, always_2d=True)
    assert rate == 44100 and sf.info(result.mix_path).subtype == "PCM_24"
    measured = measure_loudness(audio.T.astype(np.float32), rate)
    assert measured.integrated_lufs == pytest.approx(-14.0, abs=0.5)
    assert measured.true_peak_db <= -1.0 + 0.05  # 24-bit quantisation only
    assert result.clipped_samples == 0 and np.abs(audio).max() < 1.0


def test_recipe_renders_back_to_the_same_mix(demo_mix, tmp_path):
    result, _ = demo_mix
    again = api.render_recipe(result.recipe_path, tmp_path / "again.wav")
    a, _ = sf.read(result.mix_path)
    b, _ = sf.read(again.path)
    assert a.shape == b.shape and np.abs(a - b).max() <= 2.0 / 2**23  # one 24-bit step of rounding


def test_every_decision_has_a_reason(demo_mix):
    recipe = json.loads(demo_mix[0].recipe_path.read_text())
    steps = [s for t in recipe["tracks"] + recipe["buses"] + recipe["returns"] for s in t["chain"]]
    steps += recipe["master"]["chain"]
    assert steps and all(len(s.get("reason", "")) > 10 for s in steps)
    roles = {t["name"]: t["role"] for t in recipe["tracks"]}
    assert roles["01_kick_909"] == "kick" and roles["08_bass"] == "bass"
    pans = {t["name"]: s["params"]["pan"] for t in recipe["tracks"] for s in t["chain"] if s["type"] == "pan"}
    assert pans["01_kick_909"] == 0.0  # low-frequency source centred
    assert any(p < 0 for p in pans.values()) and any(p > 0 for p in pans.values())  # the others spread


def test_same_seed_same_bits(tmp_path):
    first = api.mix_folder(api.demo_stems_path(), tmp_path / "a", seed=3)
    second = api.mix_folder(api.demo_stems_path(), tmp_path / "b", seed=3)
    assert _digest(first.mix_path) == _digest(second.mix_path)


def test_intent_priority_keep_and_target(tmp_path):
    intent = Intent(tracks={"11_lead_tripleosc": TrackIntent(priority="lead"), "08_bass": TrackIntent(keep=True)})
    result = api.mix_folder(api.demo_stems_path(), tmp_path, intent=intent, target="broadcast", format="float32")
    recipe = json.loads(result.recipe_path.read_text())
    tracks = {t["name"]: t for t in recipe["tracks"]}
    assert [s["type"] for s in tracks["08_bass"]["chain"]] == ["gain"]
    assert tracks["08_bass"]["chain"][0]["params"]["gain_db"] == 0.0
    default = json.loads(api.mix_folder(api.demo_stems_path(), tmp_path / "d").recipe_path.read_text())
    lead_gain = {t["name"]: t["chain"][0]["params"]["gain_db"] for t in recipe["tracks"]}
    default_gain = {t["name"]: t["chain"][0]["params"]["gain_db"] for t in default["tracks"]}
    assert lead_gain["11_lead_tripleosc"] - default_gain["11_lead_tripleosc"] == pytest.approx(3.0, abs=0.01)
    audio, rate = sf.read(result.mix_path, always_2d=True)
    assert measure_loudness(audio.T.astype(np.float32), rate).integrated_lufs == pytest.approx(-23.0, abs=0.5)


def _write_stems(folder: Path, rate: int = 44100, seconds: float = 3.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(rate * seconds)) / rate
    sf.write(folder / "Kick.wav", (0.8 * np.exp(-10 * (t % 0.5)) * np.sin(2 * np.pi * 50 * t)).astype(np.float32), rate)
    sf.write(folder / "Vox Ld.wav", (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), rate)
    return folder


def test_cli_mix_writes_mix_and_recipe_and_leaves_inputs_alone(tmp_path):
    stems = _write_stems(tmp_path / "song")
    before = {p.name: _digest(p) for p in stems.iterdir()}
    result = CliRunner().invoke(app, ["mix", str(stems), "-o", str(tmp_path / "out"), "--target", "-16",
                                      "--format", "flac"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mix.flac", "recipe.json", "report.html"]
    assert {p.name: _digest(p) for p in stems.iterdir()} == before
    audio, rate = sf.read(tmp_path / "out" / "mix.flac", always_2d=True)
    assert measure_loudness(audio.T.astype(np.float32), rate).integrated_lufs == pytest.approx(-16.0, abs=0.5)


def test_mix_keeps_a_96k_session_rate(tmp_path):
    stems = _write_stems(tmp_path / "song", rate=96000, seconds=2.0)
    result = api.mix_folder(stems, tmp_path / "out")
    assert sf.info(result.mix_path).samplerate == 96000


def _write_band(folder: Path, rate: int, seconds: float) -> Path:
    """Kick, bass, hi-hat noise and a lead: spectra far from the professional averages, so the rules mixer and
    the master place EQ bands (the ones that must stay below Nyquist at every rate)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    t = np.arange(int(rate * seconds)) / rate
    beat = t % 0.5
    parts = {
        "Kick.wav": 0.8 * np.exp(-12 * beat) * np.sin(2 * np.pi * 55 * t),
        "Bass.wav": 0.4 * np.sin(2 * np.pi * 41 * t) * (1 + 0.3 * np.sin(2 * np.pi * 2 * t)),
        "Hats.wav": 0.2 * np.exp(-40 * (t % 0.25)) * rng.standard_normal(t.size),
        "Vox Ld.wav": 0.3 * np.sin(2 * np.pi * 330 * t + 2 * np.sin(2 * np.pi * 5 * t)),
    }
    for name, x in parts.items():
        sf.write(folder / name, x.astype(np.float32), rate)
    return folder


@pytest.mark.parametrize("rate, method", [(8000, "rules"), (11025, "rules"), (16000, "rules"), (22050, "rules"),
                                          (48000, "rules"), (96000, "rules"), (192000, "rules"), (384000, "rules"),
                                          (8000, "dmc"), (16000, "dmc"), (192000, "dmc"), (8000, "dugan")])
def test_every_rate_from_8_to_384_khz_mixes(tmp_path, rate, method):
    stems = _write_band(tmp_path / "song", rate, max(0.6, 17000 / rate))  # the analysis needs 16384 samples
    result = CliRunner().invoke(app, ["mix", str(stems), "-o", str(tmp_path / "out"), "--method", method])
    assert result.exit_code == 0, result.output
    audio, written = sf.read(tmp_path / "out" / "mix.wav")
    assert written == rate and np.all(np.isfinite(audio)) and np.abs(audio).max() > 0.01
    recipe = json.loads((tmp_path / "out" / "recipe.json").read_text())
    strips = recipe["tracks"] + recipe["buses"] + recipe["returns"] + [recipe["master"]]
    frequencies = {f"{strip.get('name', 'master')}.{step['type']}.{name}": value for strip in strips
                   for step in strip["chain"] for name, value in step["params"].items() if name.endswith("_hz")}
    assert any(".parametric_eq." in k for k in frequencies)  # the case that failed at 8 kHz is exercised
    assert {k: v for k, v in frequencies.items() if v >= rate / 2} == {}


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(AudioInputError, match="empty"):
        api.mix_folder(tmp_path / "empty", tmp_path / "out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_read_only_output_is_a_clear_error(tmp_path):
    stems = _write_stems(tmp_path / "song")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError):
            api.mix_folder(stems, locked / "out")
    finally:
        locked.chmod(0o700)


def test_an_output_place_nobody_can_write_is_a_clear_error(tmp_path):
    stems = _write_stems(tmp_path / "song")
    with pytest.raises(OutputError, match="cannot create the output folder.*fix: choose a writable place"):
        api.mix_folder(stems, "/proc/mixdown_out")  # read-only for every user, root included
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OutputError, match="cannot create the output folder"):
        api.mix_folder(stems, tmp_path / "file" / "out")


def _song_with_a_loud_chorus(folder: Path, rate: int = 22050) -> Path:
    """50 s: quiet verse, a chorus 6 dB louder from 25 s to 45 s, quiet outro."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(50 * rate) / rate
    level = np.where((t >= 25.0) & (t < 45.0), 0.4, 0.2)
    sf.write(folder / "Bass.wav", (level * np.sin(2 * np.pi * 55 * t)).astype(np.float32), rate)
    sf.write(folder / "Vox Ld.wav", (level * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2)
             .astype(np.float32), rate)
    return folder


def test_preview_renders_the_loudest_30_seconds_with_the_whole_songs_decisions(tmp_path):
    stems = _song_with_a_loud_chorus(tmp_path / "song")
    full = api.mix_folder(stems, tmp_path / "full", report=False)
    preview = api.mix_folder(stems, tmp_path / "preview", preview=True, report=False)
    assert preview.mix_path.name == "preview.wav" and preview.seconds == pytest.approx(30.0)
    assert 15.0 - 0.1 <= preview.start_s <= 25.0 + 0.1  # the window holds the whole chorus
    assert sf.info(preview.mix_path).frames == 30 * 22050
    assert preview.integrated_lufs == pytest.approx(-14.0, abs=0.5) and preview.true_peak_db <= -1.0 + 1e-6
    decided = [json.loads(r.recipe_path.read_text())["tracks"] for r in (full, preview)]
    assert decided[0] == decided[1]  # the excerpt is mixed exactly as the song is
    assert json.loads(preview.recipe_path.read_text())["notes"]["preview"]["start_s"] == pytest.approx(
        preview.start_s, abs=1e-3)


def test_processed_stems_are_written_as_float_and_line_up_with_the_mix(demo_mix, tmp_path):
    result = api.mix_folder(api.demo_stems_path(), tmp_path, write_stems=True, report=False)
    names = [t["name"] for t in json.loads(result.recipe_path.read_text())["tracks"]]
    assert len(names) == 12 and [p.stem for p in result.stems] == names
    mix, rate = sf.read(result.mix_path, always_2d=True)
    for path in result.stems:
        info = sf.info(path)
        assert info.subtype == "FLOAT" and info.channels == 2 and info.frames == len(mix) and rate == info.samplerate
    assert all(np.abs(sf.read(path)[0]).max() > 0.001 for path in result.stems)


def test_render_amounts_scale_the_decisions(demo_mix, tmp_path):
    result, _ = demo_mix
    dry = api.render_recipe(result.recipe_path, tmp_path / "dry.wav", amounts={"space": 0.0, "eq": 0.0})
    wet = api.render_recipe(result.recipe_path, tmp_path / "wet.wav", amounts={"space": 2.0})
    plain = api.render_recipe(result.recipe_path, tmp_path / "plain.wav")
    assert wet.loudness_lufs > plain.loudness_lufs > dry.loudness_lufs - 0.5
    out = CliRunner().invoke(app, ["render", str(result.recipe_path), "-o", str(tmp_path / "x.wav"), "--amount",
                                   "reverb=2"])
    assert out.exit_code == 2 and "expected one of eq, dynamics, space, width" in out.output


def test_the_report_shows_this_mix(demo_mix):
    result, _ = demo_mix
    page = result.report_path.read_text()
    assert result.report_path.name == "report.html" and "data:image/png;base64," in page and "http" not in page
    recipe = json.loads(result.recipe_path.read_text())
    assert all(t["name"] in page for t in recipe["tracks"])
    assert f"{result.integrated_lufs:.1f} LUFS" in page and page.count("&#10003; pass") == 3 and "&#10007;" not in page


def test_speech_method_mixes_a_conversation_and_says_who_spoke_when(tmp_path):
    from tests.test_dugan import SR, TURNS, _conversation

    names, mics = _conversation()
    (tmp_path / "panel").mkdir()
    for name, audio in zip(names, mics[:, 0]):
        sf.write(tmp_path / "panel" / f"{name}.wav", audio.numpy().astype(np.float32), SR)
    out = CliRunner().invoke(app, ["mix", str(tmp_path / "panel"), "-o", str(tmp_path / "out"), "--method", "dugan"])
    assert out.exit_code == 0, out.output
    assert "who spoke: ann 4 s, bob 2 s, cat 2 s" in " ".join(out.output.split())
    recipe = json.loads((tmp_path / "out" / "recipe.json").read_text())
    assert recipe["gain_sharing"]["tracks"] == names and recipe["notes"]["method"] == "dugan"
    assert [s["track"] for s in recipe["notes"]["speakers"]] == [name for name, _, _ in TURNS]
    mix, rate = sf.read(tmp_path / "out" / "mix.wav", always_2d=True)
    assert measure_loudness(mix.T.astype(np.float32), rate).integrated_lufs == pytest.approx(-14.0, abs=0.5)
    assert "ann" in (tmp_path / "out" / "report.html").read_text()
    bad = CliRunner().invoke(app, ["mix", str(tmp_path / "panel"), "-o", str(tmp_path / "x"), "--method", "magic"])
    assert bad.exit_code == 2 and "expected one of rules, dugan" in bad.output


def test_a_reference_moves_the_master_toward_it(tmp_path):
    reference = Path(api.demo_stems_path()).parent / "reference_mix.flac"
    if not reference.exists():
        pytest.skip("no reference mix bundled")
    plain = api.mix_folder(api.demo_stems_path(), tmp_path / "plain", report=False)
    matched = api.mix_folder(api.demo_stems_path(), tmp_path / "matched", reference=reference,
                             reference_amounts={"tone": 1.0, "width": 1.0, "loudness": 1.0}, report=False)
    from mixdown.mastering import load_reference, measure_reference

    target = load_reference(reference, 44100)
    tone = [measure_reference(sf.read(r.mix_path, always_2d=True)[0].T.astype(np.float32), 44100)
            for r in (plain, matched)]
    distance = [float(np.sqrt(np.mean((t.tone_db - target.tone_db) ** 2))) for t in tone]
    assert abs(tone[1].side_mid_db - target.side_mid_db) < abs(tone[0].side_mid_db - target.side_mid_db)
    assert distance[1] < distance[0]
    assert abs(matched.integrated_lufs - target.integrated_lufs) < 0.5 or matched.true_peak_db <= -1.0
    with pytest.raises(ParameterError, match="tone"):
        api.mix_folder(api.demo_stems_path(), tmp_path / "bad", reference=reference, reference_amounts={"tone": 3})


def test_cli_mix_needs_stems_or_demo():
    result = CliRunner().invoke(app, ["mix"])
    assert result.exit_code == 2 and "--demo" in result.output


@pytest.mark.skipif(not REAL.is_dir(), reason="real recordings not present")
@pytest.mark.parametrize("song", sorted(str(p) for p in REAL.glob("jazzsamba/*/stems"))
                         + sorted(str(p) for p in REAL.glob("urmp/*") if p.is_dir()) + [str(REAL / "musdb18_sample")])
def test_real_songs_meet_the_target(song, tmp_path):
    stems = Path(song)
    if (stems / "mixture.flac").exists():  # the musdb sample holds its own mix: mix the four stems only
        files = sorted(p for p in stems.iterdir() if p.stem != "mixture")
        stems = tmp_path / "stems"
        stems.mkdir()
        for p in files:
            (stems / p.name).symlink_to(p)
    result = api.mix_folder(stems, tmp_path / "out")
    again = api.mix_folder(stems, tmp_path / "again", report=False)
    audio, rate = sf.read(result.mix_path, always_2d=True)
    measured = measure_loudness(audio.T.astype(np.float32), rate)
    print(f"\n{song}: {measured.integrated_lufs:.2f} LUFS, {measured.true_peak_db:.2f} dBTP, {rate} Hz")
    assert measured.integrated_lufs == pytest.approx(-14.0, abs=0.5) and measured.true_peak_db <= -0.95
    assert result.clipped_samples == 0 and math.isfinite(measured.loudness_range_lu)
    assert {sf.info(p).samplerate for p in Path(song).iterdir() if p.suffix in (".mp3", ".flac")} == {rate}
    assert _digest(result.mix_path) == _digest(again.mix_path)  # same seed, same bytes


def test_awkward_but_usable_stems_mix_with_warnings(tmp_path):
    """A silent stem, a shorter stem at another rate and a stray text file: warnings, and a mix on target."""
    stems = _write_stems(tmp_path / "song")
    sf.write(stems / "Silence.wav", np.zeros(3 * 44100, np.float32), 44100)
    t = np.arange(int(1.5 * 48000)) / 48000
    sf.write(stems / "Short 48k.wav", (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 48000, subtype="FLOAT")
    (stems / "notes.txt").write_text("not audio: ignored")
    result = api.mix_folder(stems, tmp_path / "out")
    codes = {(w.track, w.code) for w in result.warnings}
    assert {("Silence", "silent"), ("Short 48k", "rate_mismatch"), ("Short 48k", "length_mismatch")} <= codes
    assert result.sample_rate == 44100 and result.integrated_lufs == pytest.approx(-14.0, abs=0.5)
    recipe = json.loads(result.recipe_path.read_text())
    assert {t["name"]: t.get("mute", False) for t in recipe["tracks"]}["Silence"] is True


@pytest.mark.parametrize("make, message", [
    (lambda d: sf.write(d / "six.wav", np.zeros((44100, 6), np.float32), 44100), "six.wav: expected a mono or stereo"),
    (lambda d: (d / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage"), "corrupt.wav"),
    (lambda d: sf.write(d / "one.wav", np.full(1, 0.1, np.float32), 44100), "at least 0.5 s"),
])
def test_unusable_stems_are_clear_errors(tmp_path, make, message):
    stems = tmp_path / "song"
    stems.mkdir()
    make(stems)
    result = CliRunner().invoke(app, ["mix", str(stems), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and message in " ".join(result.output.split())
    assert not (tmp_path / "out" / "mix.wav").exists()
