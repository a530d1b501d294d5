"""Session analysis end to end: analyze_session against the single measurements, the CLI, JSON and figures."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from mixdown.analysis import (
    STAGES,
    analyze_files,
    analyze_session,
    dynamics_features,
    masking_matrix,
    measure_loudness,
    stereo_features,
)
from mixdown.audio import load_session, plan_session, resample
from mixdown.cli import app
from mixdown.errors import OutputError, ParameterError
from mixdown.export.files import atomic_path

RATE = 44100
SECONDS = 4.0


def _stems(folder: Path) -> dict[str, np.ndarray]:
    """Three stems, channels-first: a mono kick (decaying 55 Hz hits), a stereo pad panned left, a mono vocal-ish
    tone with vibrato; written as 24-bit WAV."""
    rng = np.random.default_rng(0)
    t = np.arange(int(SECONDS * RATE)) / RATE
    beat = np.exp(-12.0 * (t % 0.5))
    kick = (0.8 * beat * np.sin(2 * np.pi * 55.0 * t))[None]
    pad_mono = 0.2 * np.sin(2 * np.pi * 220.0 * t) + 0.05 * rng.standard_normal(t.size)
    pad = np.stack([0.9 * pad_mono, 0.3 * pad_mono])
    vocal = (0.3 * np.sin(2 * np.pi * 440.0 * t + 3.0 * np.sin(2 * np.pi * 5.0 * t)))[None]
    stems = {"Kick In": kick, "Pad L": pad, "Vox Ld": vocal}
    folder.mkdir(parents=True, exist_ok=True)
    for name, audio in stems.items():
        sf.write(folder / f"{name}.wav", audio.T.astype(np.float32), RATE, subtype="PCM_24")
    return stems


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("song")
    _stems(folder)
    return folder


@pytest.fixture(scope="module")
def analysis(song):
    stages = []
    result = analyze_session(load_session(song), progress=lambda done, total, stage: stages.append((done, total, stage)))
    return result, stages


def test_every_stage_reports_progress_in_order(analysis):
    _, stages = analysis
    assert stages == [(i + 1, len(STAGES), stage) for i, stage in enumerate(STAGES)]


@pytest.mark.parametrize("batch_bytes", [1, 3 * 4 * int(SECONDS * RATE)])
def test_analysing_files_a_few_at_a_time_equals_the_whole_session(song, analysis, batch_bytes):
    result, _ = analysis
    seen = []
    streamed, warnings = analyze_files(plan_session(song), {"Pad L": "synth_pad"},
                                       progress=lambda done, total, stage: seen.append(done), batch_bytes=batch_bytes)
    assert seen[0] == 0 and seen[-1] == 3 and (len(seen) == 4) == (batch_bytes == 1)  # one track a batch at the least
    assert streamed.duration_s == result.duration_s and warnings == load_session(song).warnings
    for a, b in zip(streamed.tracks, result.tracks):
        assert a.name == b.name and a.loudness.integrated_lufs == b.loudness.integrated_lufs
        assert np.array_equal(a.spectrum_db, b.spectrum_db) and a.dynamics == b.dynamics
        assert (a.role.role == "synth_pad") == (a.name == "Pad L") and (a.name == "Pad L" or a.role == b.role)
    assert np.allclose(streamed.masking.band_db, result.masking.band_db, atol=1e-9)
    with pytest.raises(ParameterError, match="Nope"):
        analyze_files(plan_session(song), {"Nope": "bass"})


def test_batched_session_analysis_equals_each_measurement_on_its_own(song, analysis):
    result, _ = analysis
    session = load_session(song)
    for track, measured in zip(session.tracks, result.tracks):
        alone = measure_loudness(track.audio, RATE)
        assert measured.channels == track.audio.shape[0]
        assert measured.loudness.integrated_lufs == pytest.approx(alone.integrated_lufs, abs=1e-9)
        assert measured.loudness.true_peak_db == pytest.approx(alone.true_peak_db, abs=1e-9)
        assert measured.stereo["balance"] == pytest.approx(stereo_features(track.audio, RATE)["balance"], abs=1e-9)
        assert measured.dynamics["crest_db"] == pytest.approx(dynamics_features(track.audio, RATE)["crest_db"],
                                                               abs=1e-6)
    stacked = torch.stack([t.audio.expand(2, -1) for t in session.tracks])
    assert np.allclose(result.masking.mean_db, masking_matrix(stacked, RATE).mean_db)


def test_measurements_say_what_the_stems_are(analysis):
    result, _ = analysis
    kick, pad, vocal = result.tracks
    assert [t.role.role for t in result.tracks] == ["kick", "synth_pad", "lead_vocal"]
    # the pad's left channel is 3x its right: balance (0.09 - 0.81) / (0.09 + 0.81) = -0.8
    assert pad.stereo["balance"] == pytest.approx(-0.8, abs=0.01)
    assert kick.descriptors["centroid"] < 200.0 < vocal.descriptors["centroid"]
    assert kick.dynamics["crest_db"] > vocal.dynamics["crest_db"] + 3.0  # decaying hits against a steady tone
    # the vocal's loudest 1/3-octave band is the one holding its 440 Hz (+-15 Hz vibrato) tone
    centre = result.spectrum_hz[int(np.argmax(vocal.spectrum_db))]
    assert centre / 2 ** (1 / 6) < 440.0 < centre * 2 ** (1 / 6)
    assert result.masking.mean_db.shape == (3, 3) and np.all(np.diag(result.masking.mean_db) == 0.0)


def test_role_overrides_win(song):
    result = analyze_session(load_session(song), overrides={"Pad L": "strings"})
    assert result.tracks[1].role.role == "strings" and result.tracks[1].role.confidence == 1.0


def test_json_is_strict_and_complete(analysis):
    result, _ = analysis
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))  # -inf and NaN became null
    assert [t["name"] for t in data["tracks"]] == ["Kick In", "Pad L", "Vox Ld"]
    assert len(data["spectrum_hz"]) == len(data["tracks"][0]["spectrum_db"])
    assert data["tracks"][0]["stereo"]["width_db"] is None  # mono: -inf dB
    assert np.array(data["masking"]["mean_db"]).shape == (3, 3)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_cli_analyze_writes_json_and_figures_and_leaves_inputs_alone(song, tmp_path):
    before = _digest(song)
    out_json, figures = tmp_path / "analysis.json", tmp_path / "figures"
    result = CliRunner().invoke(app, ["analyze", str(song), "--json", str(out_json), "--plot", str(figures),
                                      "--role", "Vox Ld=backing_vocal"])
    assert result.exit_code == 0, result.output
    assert "Kick In" in result.output and "backing_vocal" in result.output
    data = json.loads(out_json.read_text())
    assert data["tracks"][2]["role"]["role"] == "backing_vocal"
    for name in ("spectra", "loudness", "stereo", "masking"):
        assert (figures / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _digest(song) == before
    assert not list(tmp_path.glob(".*tmp*"))  # no temp files left behind


def test_cli_analyze_one_file_as_svg(song, tmp_path):
    result = CliRunner().invoke(app, ["analyze", str(song / "Pad L.wav"), "--plot", str(tmp_path),
                                      "--plot-format", "svg"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loudness.svg", "spectra.svg", "stereo.svg"]
    assert (tmp_path / "spectra.svg").read_text().lstrip().startswith("<?xml")


def test_cli_analyze_json_to_stdout(song):
    result = CliRunner().invoke(app, ["analyze", str(song / "Vox Ld.wav"), "--json", "-"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["tracks"][0]["name"] == "Vox Ld"


@pytest.mark.parametrize("args, message", [
    (["analyze", "/no/such/folder"], "/no/such/folder"),
    (["analyze", "{song}", "--role", "Kick In"], "TRACK=ROLE"),
    (["analyze", "{song}", "--role", "Kick In=cowbell"], "expected a role"),
    (["analyze", "{song}", "--plot", "{tmp}", "--plot-format", "jpg"], "png or svg"),
])
def test_cli_analyze_bad_input_is_a_clear_error(song, tmp_path, args, message):
    args = [a.format(song=song, tmp=tmp_path) for a in args]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())  # rich wraps long lines


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    with pytest.raises(OutputError, match="create it first"), atomic_path(tmp_path / "missing" / "x.json"):
        pass


# --- mixdown compare ---------------------------------------------------------------------------------------------


def _write(path: Path, audio: np.ndarray, rate: int) -> Path:
    sf.write(path, audio.T.astype(np.float32), rate, subtype="FLOAT")
    return path


def _music(rate: int, seconds: float = 6.0) -> np.ndarray:
    """A stereo mix of a panned tone, noise bursts and a bass line: structure the aligner can lock onto."""
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * rate)) / rate
    bursts = rng.standard_normal(t.size) * (np.sin(2 * np.pi * 1.7 * t) > 0.5) * 0.1
    bass = 0.3 * np.sin(2 * np.pi * 82.4 * t) * (1 + np.sign(np.sin(2 * np.pi * 0.9 * t))) / 2
    tone = 0.2 * np.sin(2 * np.pi * 660.0 * t)
    return np.stack([bass + bursts + 0.8 * tone, bass + 0.6 * bursts + 0.3 * tone])


def test_cli_compare_identical_files_reads_zero(tmp_path):
    mix = _write(tmp_path / "mix.wav", _music(RATE), RATE)
    result = CliRunner().invoke(app, ["compare", str(mix), str(mix), "--json", str(tmp_path / "c.json")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["alignment"]["lag_samples"] == 0
    assert all(v == 0.0 for v in data["fxnorm_means"].values())
    assert data["mrstft"]["total"] == 0.0 and data["audio_feature_loss"] == 0.0


@pytest.mark.parametrize("reference_rate", [RATE, 48000])
def test_cli_compare_finds_delay_and_level(tmp_path, reference_rate):
    music = _music(RATE)
    delay = 2205  # 50 ms at 44.1 kHz
    late = np.concatenate([np.zeros((2, delay)), music], 1)[:, : music.shape[1]] * 10 ** (4.0 / 20)  # +4 dB
    mix = _write(tmp_path / "mix.wav", late, RATE)
    # a reference at another rate is resampled to the mix's rate
    reference = _write(tmp_path / "reference.wav", resample(music, RATE, reference_rate), reference_rate)
    figures = tmp_path / "figures"
    result = CliRunner().invoke(app, ["compare", str(mix), str(reference), "--json", str(tmp_path / "c.json"),
                                      "--plot", str(figures)])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "c.json").read_text())
    assert abs(data["alignment"]["lag_samples"] - delay) <= 1
    assert data["loudness_match_db"] == pytest.approx(-4.0, abs=0.1)
    assert data["audio_features"]["rms_db"]["distance"] == pytest.approx(4.0, abs=0.1)
    assert data["fxnorm_means"]["loudness"] > 30.0  # +4 dB is 58 % in amplitude
    if reference_rate == RATE:  # (the 48 kHz round trip removes the noise above 20 kHz: flatness sees that)
        assert max(data["fxnorm_means"][g] for g in ("spectral", "panning", "dynamics")) < 5.0
    assert (figures / "comparison.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_compare_names_a_bad_file(tmp_path):
    good = _write(tmp_path / "mix.wav", _music(RATE), RATE)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....not audio")
    result = CliRunner().invoke(app, ["compare", str(good), str(tmp_path / "broken.wav")])
    assert result.exit_code == 2 and "broken.wav" in " ".join(result.output.split())
