"""The rules mixer's tonal correction (EQ toward professional stems) and its genre delay."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mixdown.analysis import analyze_session
from mixdown.audio.session import Session, Track
from mixdown.console import Console
from mixdown.methods.intent import Intent, TrackIntent
from mixdown.methods.rules import rules_recipe
from mixdown.methods.rules.tables import GENRE_DELAY
from mixdown.methods.rules.tonal import (
    _unit_response,
    combined_eq,
    family_curve_db,
    fit_bands,
    tonal_corrections,
)

RATE = 44100
CENTRES = 1000.0 * 2.0 ** (np.arange(-17, 14) / 3.0)  # 19.7 Hz .. 20.2 kHz, as analyze_session at 44.1 kHz
SHELF_LIMIT, PEAK_LIMIT, MIN_MOVE = 3.0, 4.0, 1.5


def _gains(params: dict) -> dict[str, float]:
    return {k[: -len("_gain_db")]: v for k, v in params.items() if k.endswith("_gain_db")}


def test_family_curves_have_the_known_shapes():
    vocals, bass = family_curve_db("vocals", CENTRES), family_curve_db("bass", CENTRES)
    at = lambda curve, hz: curve[np.argmin(np.abs(CENTRES - hz))]
    assert at(vocals, 500.0) - at(vocals, 50.0) > 15.0  # voices hold little below 100 Hz
    assert at(bass, 100.0) - at(bass, 4000.0) > 25.0  # bass is all low end


@pytest.mark.parametrize("tilt_db_per_octave, sign", [(2.0, -1.0), (-2.0, 1.0)])
def test_a_tilted_spectrum_gets_shelves_against_the_tilt(tilt_db_per_octave, sign):
    target = family_curve_db("vocals", CENTRES)
    measured = target + tilt_db_per_octave * np.log2(CENTRES / 1000.0)  # too bright (+) or too dark (-)
    params, reasons = fit_bands(measured, target, CENTRES, RATE, 180.0)
    gains = _gains(params)
    lowest = min((k for k in params if k.endswith("_freq_hz")), key=params.get)[: -len("_freq_hz")]
    assert np.sign(gains["high_shelf"]) == sign and np.sign(gains[lowest]) == -sign  # the low end moves the other way
    assert MIN_MOVE <= abs(gains["high_shelf"]) <= SHELF_LIMIT and MIN_MOVE <= abs(gains[lowest]) <= PEAK_LIMIT
    assert len(gains) <= 3 and len(reasons) == len(gains)
    assert any(("more" if sign < 0 else "less") in r and "high shelf" in r for r in reasons)


def test_a_spectrum_close_to_the_target_gets_no_eq():
    target = family_curve_db("drums", CENTRES)
    assert fit_bands(target + 7.0, target, CENTRES, RATE, 60.0) is None  # level does not count, only shape
    gentle = target + 0.4 * np.log2(CENTRES / 1000.0)  # +-2.6 dB at the ends: half of it is under 1.5 dB
    assert fit_bands(gentle, target, CENTRES, RATE, 60.0) is None


def test_gains_never_exceed_their_bounds():
    rng = np.random.default_rng(3)
    target = family_curve_db("other", CENTRES)
    for _ in range(40):
        bumps = sum(rng.normal(0.0, 12.0) * np.exp(-0.5 * (np.log2(CENTRES / rng.uniform(60, 12000)) / 0.7) ** 2)
                    for _ in range(3))
        fitted = fit_bands(target + bumps + rng.normal(0.0, 8.0) * np.log2(CENTRES / 1000.0), target, CENTRES,
                           RATE, 80.0)
        if fitted is None:
            continue
        total = np.zeros_like(CENTRES)
        for band, gain in _gains(fitted[0]).items():
            limit = SHELF_LIMIT if band.endswith("shelf") else PEAK_LIMIT
            assert MIN_MOVE <= abs(gain) <= limit, (band, gain)
            kind = band if band.endswith("shelf") else "peak"
            total += gain * _unit_response(kind, fitted[0][f"{band}_freq_hz"], fitted[0][f"{band}_q"], CENTRES, RATE)
        assert np.abs(total[CENTRES >= 80.0]).max() <= PEAK_LIMIT + 0.15  # overlapping bands add up to 4 dB at most
        assert "peak2_gain_db" not in fitted[0]  # the masking cut's slot stays free


def test_a_family_is_corrected_as_a_sum_with_the_same_bands_on_each_member():
    drums = family_curve_db("drums", CENTRES)
    low = np.where(CENTRES < 1000.0, drums, drums - 40.0)  # a kick: the kit's low half
    high = np.where(CENTRES >= 1000.0, drums, drums - 40.0) + 8.0  # hi-hats 8 dB too loud in the sum
    analysis = SimpleNamespace(spectrum_hz=CENTRES, sample_rate=RATE,
                               tracks=[SimpleNamespace(spectrum_db=low), SimpleNamespace(spectrum_db=high)])
    out = tonal_corrections(analysis, ["kick", "hihat"], [0.0, 0.0], [True, True])
    assert out[0] == out[1]
    assert _gains(out[0][0])["high_shelf"] < 0.0 and "2 tracks together" in out[0][1]
    assert tonal_corrections(analysis, ["kick", "hihat"], [0.0, 0.0], [False, False]) == {}


# --- the whole recipe on a synthetic session --------------------------------------------------------------------


def _noise(seed: int, seconds: float, colour: float, low_hz: float, high_hz: float, peak: float) -> torch.Tensor:
    """Band-limited noise with power ~ f^colour, ``(1, samples)``."""
    n = int(seconds * RATE)
    spectrum = torch.fft.rfft(torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    f = torch.fft.rfftfreq(n, 1.0 / RATE, dtype=torch.float64)
    shape = torch.where((f >= low_hz) & (f <= high_hz), f.clamp(min=1.0) ** (colour / 2.0), torch.zeros_like(f))
    x = torch.fft.irfft(spectrum * shape, n)
    return (peak * x / x.abs().max()).float()[None]


@pytest.fixture(scope="module")
def session_and_analysis():
    # the guitar is raw white noise far above the voice: it masks it, and it is far brighter than guitars in mixes
    audio = {"vox": _noise(1, 3.0, -1.0, 150.0, 8000.0, 0.02), "gtr": _noise(2, 3.0, 0.0, 80.0, 16000.0, 0.5),
             "bass": _noise(3, 3.0, -2.0, 35.0, 2000.0, 0.1)}
    session = Session([Track(name, Path(f"{name}.wav"), a, RATE) for name, a in audio.items()], RATE)
    roles = {"vox": "lead_vocal", "gtr": "electric_guitar", "bass": "bass"}
    return session, analyze_session(session, roles)


def _recipe(session, analysis, tmp_path, **intent):
    return rules_recipe(session, analysis, Intent.from_dict(intent), tmp_path, 0)


def test_masking_cut_and_tonal_bands_share_one_eq_step(session_and_analysis, tmp_path):
    session, analysis = session_and_analysis
    recipe = _recipe(session, analysis, tmp_path, genre="pop")
    for strip in recipe.tracks:
        assert sum(step.type == "parametric_eq" for step in strip.chain) <= 1
    eq = next(s for s in recipe.strip("gtr").chain if s.type == "parametric_eq")
    assert "peak2_gain_db" in eq.params and "high_shelf_gain_db" in eq.params  # white noise: far too bright
    assert eq.params["high_shelf_gain_db"] < 0.0 and "masks vox" in eq.reason and "tonal balance" in eq.reason


def test_combined_eq_keeps_both_parts():
    from mixdown.console.recipe import Step

    cut = Step("parametric_eq", {"peak2_gain_db": -3.0, "peak2_freq_hz": 900.0, "peak2_q": 1.4}, "masks x")
    step = combined_eq(cut, ({"low_shelf_gain_db": 2.0, "low_shelf_freq_hz": 150.0, "low_shelf_q": 0.707}, "tonal"))
    assert step.params["peak2_gain_db"] == -3.0 and step.params["low_shelf_gain_db"] == 2.0
    assert step.reason == "masks x; tonal" and combined_eq(None, None) is None and combined_eq(cut, None) is cut


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100])
def test_eq_bands_stay_below_nyquist_at_every_rate(rate):
    """An EQ step is renderable at its rate: unused bands whose defaults reach Nyquist (peak4 6 kHz, high shelf
    8 kHz) are placed below it, used bands are left as decided, and the master's tone EQ decides below it."""
    from mixdown.console.recipe import Step
    from mixdown.dsp.filters import parametric_eq
    from mixdown.mastering.tone import design_tone_eq, eq_below_nyquist, neutral_curve, tonal_balance

    cut = Step("parametric_eq", {"peak2_gain_db": -3.0, "peak2_freq_hz": 900.0, "peak2_q": 1.4}, "masks x")
    step = combined_eq(cut, None, rate)
    assert {k: v for k, v in step.params.items() if k.startswith("peak2")} == cut.params
    assert all(v < 0.45 * rate + 1 for k, v in step.params.items() if k.endswith("_freq_hz"))
    assert all(step.params.get(f"{band}_gain_db", 0.0) == 0.0 for band in ("peak4", "high_shelf"))
    if rate >= 22050:
        assert step is cut and eq_below_nyquist(cut.params, rate) == cut.params  # nothing to move
    x = torch.from_numpy(np.random.default_rng(3).standard_normal((1, 2, 20000)).astype(np.float32))
    brown = torch.cumsum(x, -1) * 0.01  # far darker than the neutral curve: every band of the tone EQ moves
    centres, shape = tonal_balance(brown[0], rate)
    tone, _ = design_tone_eq(centres, shape, neutral_curve(centres), rate, 1.0, 2.0)
    assert tone and all(v < 0.45 * rate for k, v in tone.items() if k.endswith("_freq_hz"))
    for params in (step.params, eq_below_nyquist(tone, rate)):
        assert torch.isfinite(parametric_eq(x, rate, **params)).all()


def test_delay_sends_follow_genre_and_intent(session_and_analysis, tmp_path):
    session, analysis = session_and_analysis
    delay_targets = lambda recipe: {s.name for s in recipe.tracks if any(x.to == "delay" for x in s.sends)}
    pop = _recipe(session, analysis, tmp_path, genre="pop")
    assert delay_targets(pop) == {"vox"}  # vocals and leads only: not the guitar or the bass
    delay = next(r for r in pop.returns if r.name == "delay").chain[-1]
    assert delay.type == "delay" and delay.params["time_ms"] == pytest.approx(60000.0 / 110.0 * 0.5, abs=0.05)
    assert GENRE_DELAY["hiphop"].time_ms == pytest.approx(60000.0 / 90.0)
    for genre in ("classical", "jazz", None):
        recipe = _recipe(session, analysis, tmp_path, genre=genre)
        assert delay_targets(recipe) == set() and all(r.name != "delay" for r in recipe.returns)
    for wish in ({"reverb": "none"}, {"keep": True}):
        recipe = _recipe(session, analysis, tmp_path, genre="pop", tracks={"vox": wish})
        assert delay_targets(recipe) == set()
    high = _recipe(session, analysis, tmp_path, genre="pop", tracks={"vox": {"reverb": "high"}})
    level = lambda recipe: next(x.level_db for x in recipe.strip("vox").sends if x.to == "delay")
    assert level(high) == pytest.approx(level(pop) + 5.0)


def test_the_recipe_renders(session_and_analysis, tmp_path):
    session, analysis = session_and_analysis
    recipe = _recipe(session, analysis, tmp_path, genre="electronic")
    recipe.validate()
    with torch.no_grad():
        mix = Console(recipe, RATE, [1, 1, 1]).render([t.audio for t in session.tracks])
    assert mix.shape[-1] == session.samples and torch.isfinite(mix).all() and mix.abs().max() > 1e-3
    dry_vox = {"vox": TrackIntent(reverb="none").to_dict()}
    without = _recipe(session, analysis, tmp_path, genre="electronic", tracks=dry_vox)
    with torch.no_grad():
        dry = Console(without, RATE, [1, 1, 1]).render([t.audio for t in session.tracks])
    assert (mix - dry).abs().max() > 1e-4  # the sends are heard


@pytest.mark.parametrize("loudest_hz, expected", [(1000.0, 100.0), (160.0, 39.4), (50.0, None)])
def test_the_high_pass_follows_the_role_unless_the_spectrum_says_otherwise(loudest_hz, expected):
    from mixdown.methods.rules.decide import highpass_step

    spectrum = -30.0 - 12.0 * np.abs(np.log2(CENTRES / loudest_hz))  # a peak at loudest_hz, 12 dB an octave away
    step = highpass_step(SimpleNamespace(spectrum_db=spectrum), "synth_pad", CENTRES)  # pads: 100 Hz by role
    if expected is None:
        assert step is None  # an octave under the sound would be below 20 Hz: no filter at all
    else:
        assert step.params["cutoff_hz"] == pytest.approx(expected, rel=0.03) and f"{expected:g} Hz" in step.reason


def test_the_genre_moves_family_balance_by_its_documented_offsets():
    from mixdown.methods.rules.decide import balance_targets
    from mixdown.methods.rules.tables import GENRE_FAMILY_OFFSET_DB

    roles, priorities = ["kick", "bass", "lead_vocal", "electric_guitar"], ["normal"] * 4
    plain = balance_targets([None] * 4, roles, priorities)
    for genre, offsets in GENRE_FAMILY_OFFSET_DB.items():
        moved = balance_targets([None] * 4, roles, priorities, genre)
        expected = [offsets.get(f, 0.0) for f in ("drums", "bass", "vocals", "other")]
        assert np.allclose(np.subtract(moved, plain), expected) and max(map(abs, expected)) <= 3.0
