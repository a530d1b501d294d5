"""Each stem's level and pan in a mix, read back from the dry stems: known mixes, re-renders, reverb, words, CLI."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import torch

from mixdown.dsp.stereo import pan
from mixdown.errors import AudioInputError, ParameterError
from mixdown.evaluate import compare, compare_stem_balance, stem_balance

SR = 22050
SECONDS = 8.0
NAMES = ["kick", "hat", "bass", "pad"]


def _stems(seed: int = 0) -> list[torch.Tensor]:
    """A kick (55 Hz thumps), a hi-hat (high-passed noise ticks), a bass (a sine changing note) and a pad
    (band-passed noise): four instruments with their own rhythms and bands, mono. ``seed`` re-renders the noise
    and the bass's phase, as a second render of a synthesiser would differ."""
    n = int(SR * SECONDS)
    t = np.arange(n) / SR
    rng = np.random.default_rng(seed)
    kick = np.sin(2 * np.pi * 55 * t) * np.exp(-(t % 0.5) / 0.08) * 0.8
    hat = scipy.signal.sosfilt(scipy.signal.butter(4, 6000, "hp", fs=SR, output="sos"),
                               rng.standard_normal(n) * np.exp(-(t % 0.125) / 0.01) * 0.3)
    bass = np.sin(2 * np.pi * (82 + 30 * (t % 2 > 1)) * t + 1.3 * seed) * 0.4
    pad = scipy.signal.sosfilt(scipy.signal.butter(2, [400, 3000], "bp", fs=SR, output="sos"),
                               rng.standard_normal(n) * 0.2)
    return [torch.from_numpy(s.astype(np.float32))[None] for s in (kick, hat, bass, pad)]


def _mix(stems, levels_db, pans) -> torch.Tensor:
    """A gain-and-pan mix with the console's own panner (-3 dB law)."""
    return sum(pan((s * 10 ** (level / 20))[None], SR, pan=p)[0] for s, level, p in zip(stems, levels_db, pans))


LEVELS = [0.0, -6.0, -3.0, -9.0]
PANS = [0.0, 0.5, -0.2, -0.7]


def test_a_gain_and_pan_mix_reads_back_its_levels_and_pans():
    balance = stem_balance(_mix(_stems(), LEVELS, PANS), _stems(), SR, NAMES)
    assert balance.names == NAMES and balance.method == "waveform"
    np.testing.assert_allclose(balance.level_db, LEVELS, atol=1e-3)
    np.testing.assert_allclose(balance.pan, PANS, atol=1e-4)
    assert balance.explained > 0.9999


def test_a_stereo_stem_reads_its_balance_and_unity_as_0_db():
    stems = _stems()
    wide = torch.cat([stems[3], _stems(seed=5)[3]])  # a stereo pad: two different noises
    mix = _mix(stems[:3], LEVELS[:3], PANS[:3]) + wide * torch.tensor([[1.0], [0.5]])
    balance = stem_balance(mix, [*stems[:3], wide], SR, NAMES)
    gains = balance.gains[3]
    assert gains[0] == pytest.approx(1.0, abs=0.05) and gains[1] == pytest.approx(0.5, abs=0.05)
    assert balance.level_db[3] == pytest.approx(10 * math.log10((1 + 0.25) / 2), abs=0.3)
    assert balance.pan[3] == pytest.approx(4 * math.atan2(0.5, 1.0) / math.pi - 1, abs=0.05)
    unity = stem_balance(wide, [wide], SR)
    assert unity.level_db[0] == pytest.approx(0.0, abs=0.01) and unity.pan[0] == pytest.approx(0.0, abs=0.01)


def test_a_second_render_with_other_phases_still_reads_right_where_waveform_least_squares_fails():
    """The person's mix is rendered again: the synthesisers' noise and the bass's phase differ from the dry
    stems. Band powers still give every level within 1 dB; a least-squares fit of the waveforms reads the hi-hat
    and the pad some 40 dB too low (their waveforms no longer match at all)."""
    rerender = _mix(_stems(seed=1), LEVELS, PANS)
    balance = stem_balance(rerender, _stems(), SR, NAMES)
    assert balance.method == "band power"
    np.testing.assert_allclose(balance.level_db, LEVELS, atol=1.0)
    np.testing.assert_allclose(balance.pan, PANS, atol=0.05)
    design = torch.cat(_stems()).T.double().numpy()
    waveform_gains = np.linalg.lstsq(design, rerender.sum(0).double().numpy(), rcond=None)[0]
    expected = np.array([10 ** (level / 20) * 2 * math.cos((p + 1) * math.pi / 4 - math.pi / 4) * math.sqrt(0.5)
                         for level, p in zip(LEVELS, PANS)])  # what L + R carries of each stem
    with np.errstate(divide="ignore"):
        error_db = np.abs(20 * np.log10(np.abs(waveform_gains) / expected))
    assert error_db[1] > 20 and error_db[3] > 20


def test_reverb_on_the_mix_moves_the_levels_little():
    """A reverb 10 dB under the dry mix: every level within 1.5 dB (the bass reads lowest: the kick's and its
    tails share the lowest bands), every pan within 0.05."""
    mix = _mix(_stems(), LEVELS, PANS)
    n = int(1.2 * SR)
    impulse = np.random.default_rng(3).standard_normal(n) * np.exp(-np.arange(n) / SR / 0.3)
    impulse /= np.sqrt((impulse**2).sum())
    wet = np.stack([scipy.signal.fftconvolve(channel, impulse)[: mix.shape[-1]] for channel in mix.numpy()])
    balance = stem_balance(mix + torch.from_numpy(wet * 10 ** (-10 / 20)).float(), _stems(), SR, NAMES)
    np.testing.assert_allclose(balance.level_db, LEVELS, atol=1.5)
    np.testing.assert_allclose(balance.pan, PANS, atol=0.05)


def test_compare_says_which_track_is_quieter_and_where_one_is_panned():
    stems = _stems()
    reference = _mix(stems, LEVELS, PANS)
    levels = [LEVELS[0] - 6.0, *LEVELS[1:]]  # the kick 6 dB down
    pans = [*PANS[:3], PANS[3] + 0.4]  # the pad 0.4 further right
    mix = _mix(stems, levels, pans) * 10 ** (4 / 20)  # and 4 dB louder overall, which the loudness match removes
    result = compare(mix.numpy(), reference.numpy(), SR, stems=stems, stem_names=NAMES)
    tracks = {t["name"]: t for t in result.stems["tracks"]}
    # the loudness match takes in the kick's drop too, so the kick reads about 6 dB down and the others a little up
    assert tracks["kick"]["level_db"] - tracks["bass"]["level_db"] == pytest.approx(-6.0, abs=0.5)
    assert tracks["pad"]["pan"] == pytest.approx(0.4, abs=0.05)
    assert abs(tracks["hat"]["pan"]) < 0.03 and abs(tracks["bass"]["pan"]) < 0.03
    sentences = result.stems["sentences"]
    assert sentences[0].startswith("kick ") and "dB quieter than in the reference" in sentences[0]
    assert any(s.startswith("pad ") and "panned 0.4" in s and "further right" in s for s in sentences)
    assert not any(s.startswith("hat ") and "panned" in s for s in sentences)
    errors = result.stems["errors"]
    assert errors["relative_balance_db"] < errors["balance_db"] + 1e-9 and errors["pan"] > 0.05
    json.dumps(result.to_dict())  # JSON-ready, no NaN objects
    same = compare(reference.numpy(), reference.numpy(), SR, stems=stems, stem_names=NAMES).stems
    assert same["errors"]["balance_db"] == 0.0 and same["errors"]["pan"] == 0.0 and same["sentences"] == []


def test_a_track_missing_from_one_mix_reads_not_heard():
    stems = _stems()
    reference = _mix(stems, LEVELS, PANS)
    mix = _mix(stems[:3], LEVELS[:3], PANS[:3])
    differences = compare_stem_balance(stem_balance(mix, stems, SR, NAMES), stem_balance(reference, stems, SR, NAMES))
    assert math.isnan(differences[3].level_db) or differences[3].level_db < -20


def test_bad_input_names_the_problem():
    stems = _stems()
    mix = _mix(stems, LEVELS, PANS)
    with pytest.raises(AudioInputError, match="at least one stem"):
        stem_balance(mix, [], SR)
    with pytest.raises(ParameterError, match="4 names"):
        stem_balance(mix, stems, SR, ["a"])
    with pytest.raises(AudioInputError, match="silence"):
        stem_balance(torch.zeros(2, SR), stems, SR, NAMES)
    with pytest.raises(AudioInputError, match="finite"):
        stem_balance(mix, [stems[0] * float("nan")], SR, ["kick"])
    with pytest.raises(ParameterError, match="8000 Hz"):
        stem_balance(mix, stems, 4000, NAMES)


def run_cli(*args):
    from typer.testing import CliRunner

    from mixdown.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_compare_with_stems(tmp_path):
    stems = _stems()
    folder = tmp_path / "stems"
    folder.mkdir()
    for name, stem in zip(NAMES, stems):
        sf.write(folder / f"{name}.wav", stem[0].numpy(), SR, subtype="FLOAT")
    reference = _mix(stems, LEVELS, PANS)
    mix = _mix(stems, [LEVELS[0] - 8.0, *LEVELS[1:]], PANS)
    for name, audio in (("mix.wav", mix), ("reference.wav", reference)):
        sf.write(tmp_path / name, audio.numpy().T, SR, subtype="FLOAT")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.rglob("*.wav")}
    result = run_cli("compare", str(tmp_path / "mix.wav"), str(tmp_path / "reference.wav"), "--stems", str(folder),
                     "--json", str(tmp_path / "c.json"))
    assert result.exit_code == 0, result.output
    assert "kick" in result.output and "dB quieter than in the reference" in result.output
    written = json.loads((tmp_path / "c.json").read_text())
    assert [t["name"] for t in written["stems"]["tracks"]] == sorted(NAMES)  # the folder, in name order
    assert before == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.rglob("*.wav")}
    missing = run_cli("compare", str(tmp_path / "mix.wav"), str(tmp_path / "reference.wav"), "--stems",
                      str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "nowhere" in missing.output and "Traceback" not in missing.output
