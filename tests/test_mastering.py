"""The master chain: gentle EQ toward the neutral curve, glue compression, reference matching by amounts, and the
loudness / ceiling contract, checked by measuring before and after."""

import numpy as np
import pytest
import soundfile as sf
import torch

from mixdown.analysis.loudness import measure_loudness
from mixdown.console import Console
from mixdown.console.recipe import Recipe, Step, Strip
from mixdown.errors import ParameterError
from mixdown.mastering import (
    check_amounts,
    load_reference,
    loudness_target,
    master_to_target,
    measure_reference,
    parse_amounts,
)
from mixdown.mastering.glue import GLUE_SETTINGS, gain_reduction_db
from mixdown.mastering.master import apply_step
from mixdown.mastering.reference import side_mid_db
from mixdown.mastering.tone import (
    design_tone_eq,
    neutral_curve,
    tonal_balance,
    tone_distance_db,
)

SR = 44100
SPOTIFY = loudness_target("spotify")


def _shaped(shape_db, seconds: float, seed: int, width: float = 0.3, rms: float = 0.1, rate: int = SR) -> torch.Tensor:
    """Stereo noise whose third-octave band levels follow ``shape_db(f)`` (dB per band), side scaled by ``width``."""
    n = int(seconds * rate)
    rng = np.random.default_rng(seed)
    f = np.maximum(np.fft.rfftfreq(n, 1 / rate), 20.0)
    amplitude = np.sqrt(10 ** (shape_db(f) / 10) / f)  # a third-octave band is proportional to f wide
    left, right = (np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * amplitude, n) for _ in range(2))
    mid, side = (left + right) / 2, (left - right) / 2 * width
    x = np.stack([mid + side, mid - side])
    return torch.tensor(x / np.sqrt(np.mean(x**2)) * rms, dtype=torch.float32)


_CENTRES, _ = tonal_balance(_shaped(lambda f: 0 * f, 1.0, 0), SR)
_NEUTRAL = neutral_curve(_CENTRES)


def _neutral(f):
    return np.interp(np.log2(f), np.log2(_CENTRES), _NEUTRAL)


def _tilted(db_per_octave: float):
    return lambda f: _neutral(f) + db_per_octave * np.log2(f / 1000.0)


def _dynamic(seconds: float = 12.0, seed: int = 3) -> torch.Tensor:
    """Neutral noise in 2 s sections from -18 to 0 dB, chopped at 2 Hz: loud and quiet passages (LRA ~8 LU)."""
    x = _shaped(_neutral, seconds, seed)
    levels = np.resize([-12.0, 0.0, -6.0, -18.0, -3.0, 0.0, -9.0, -15.0, -2.0, -6.0], int(seconds / 2))
    t = np.arange(x.shape[1]) / SR
    envelope = np.repeat(10 ** (levels / 20), 2 * SR)[: x.shape[1]] * (0.6 + 0.4 * (np.sin(2 * np.pi * 2 * t) > 0))
    return x * torch.tensor(envelope, dtype=torch.float32)


def _types(result) -> list[str]:
    return [s.type for s in result.steps]


def _step(result, kind: str):
    return next(s for s in result.steps if s.type == kind)


def _assert_contract(result, goal_lufs: float, ceiling: float = -1.0, tolerance: float = 0.05) -> None:
    measured = measure_loudness(result.audio, SR)
    assert measured.integrated_lufs == pytest.approx(goal_lufs, abs=tolerance)
    assert result.integrated_lufs == pytest.approx(measured.integrated_lufs, abs=1e-6)
    assert measured.true_peak_db <= ceiling + 1e-3
    assert _types(result)[-2:] == ["gain", "limiter"]


def test_eq_corrects_a_bright_mix_by_the_bounded_amount():
    x = _shaped(_tilted(1.0), 8.0, 1)  # 1 dB/octave brighter than neutral: +-4.3 dB at 40 Hz / 16 kHz
    centres, shape = tonal_balance(x, SR)
    before = tone_distance_db(shape, neutral_curve(centres))
    result = master_to_target(x, SR, SPOTIFY)
    _assert_contract(result, -14.0)
    eq = _step(result, "parametric_eq")
    gains = {k: v for k, v in eq.params.items() if k.endswith("_gain_db")}
    assert gains["low_shelf_gain_db"] > 0.5 and gains["high_shelf_gain_db"] < -0.5  # darker: the right way
    assert all(abs(g) <= 2.0 for g in gains.values())
    # the EQ's measured effect on the band levels stays within +-2 dB (+ a band's measurement spread)
    _, eq_shape = tonal_balance(apply_step(x, SR, eq), SR)
    change = eq_shape - shape
    assert np.abs(change - change.mean()).max() <= 2.0 + 0.3
    # the distance drops to what the design predicts, measured on the master
    _, predicted = design_tone_eq(centres, shape, neutral_curve(centres), SR, 1.0, 2.0)
    expected = tone_distance_db(shape + predicted, neutral_curve(centres))
    assert result.tone_distance_db[0] == pytest.approx(before, abs=1e-9) and before > 2.3
    assert result.tone_distance_db[1] == pytest.approx(expected, abs=0.15)
    assert result.tone_distance_db[1] < before - 1.0
    assert f"{before:.1f} dB RMS" in eq.reason


def test_eq_leaves_a_neutral_mix_alone():
    x = _shaped(_neutral, 8.0, 2)
    result = master_to_target(x, SR, SPOTIFY)
    assert "parametric_eq" not in _types(result)
    assert result.tone_distance_db[0] < 1.0
    _assert_contract(result, -14.0)


def test_glue_compressor_takes_its_design_range_off_loud_passages():
    x = _dynamic()
    assert measure_loudness(x, SR).loudness_range_lu > 5.0
    result = master_to_target(x, SR, SPOTIFY)
    _assert_contract(result, -14.0)
    glue = _step(result, "compressor")
    assert {k: glue.params[k] for k in GLUE_SETTINGS} == GLUE_SETTINGS
    measured = gain_reduction_db(x, apply_step(x, SR, glue), SR)  # neutral noise: no EQ ran before it
    assert 1.0 <= measured <= 2.0
    assert result.gain_reduction_db == pytest.approx(measured, abs=1e-9)
    assert f"takes {measured:.1f} dB" in glue.reason


@pytest.mark.parametrize("case", ["flat", "classical"])
def test_glue_compressor_absent_on_a_flat_mix_and_a_dynamic_genre(case):
    x, genre = (_shaped(_neutral, 8.0, 4), None) if case == "flat" else (_dynamic(), "classical")
    result = master_to_target(x, SR, SPOTIFY, genre=genre)
    assert "compressor" not in _types(result) and result.gain_reduction_db is None
    _assert_contract(result, -14.0)


@pytest.fixture(scope="module")
def reference():
    """Brighter (+0.8 dB/octave), wider (side x0.5 vs x0.3: +4.4 dB) and louder (-11 LUFS) than the mixes below."""
    y = _shaped(_tilted(0.8), 8.0, 5, width=0.5)
    y = y * 10 ** ((-11.0 - measure_loudness(y, SR).integrated_lufs) / 20)
    return measure_reference(y, SR)


@pytest.mark.parametrize("amounts", [{}, {"tone": 1.0, "width": 1.0, "loudness": 0.5},
                                     {"tone": 0.3, "width": 0.2, "loudness": 0.25}])
def test_reference_moves_the_master_by_the_amounts(reference, amounts):
    a = check_amounts(amounts)  # {} -> the defaults 0.7 / 0.5 / 1.0
    x = _shaped(_neutral, 8.0, 6)
    _, shape = tonal_balance(x, SR)
    result = master_to_target(x, SR, SPOTIFY, reference=reference, amounts=amounts)
    goal = -14.0 + a["loudness"] * (reference.integrated_lufs + 14.0)
    assert result.target_lufs == pytest.approx(goal, abs=1e-9)
    _assert_contract(result, goal, tolerance=0.1)
    before, after = result.tone_distance_db
    assert before == pytest.approx(tone_distance_db(shape, reference.tone_db), abs=1e-9) and before > 2.0
    assert after == pytest.approx((1 - a["tone"]) * before, abs=0.1 + 0.1 * before)
    mix_width, master_width = result.side_mid_db
    move = np.clip(a["width"] * (reference.side_mid_db - mix_width), 20 * np.log10(0.5), 20 * np.log10(1.5))
    aim = mix_width + move  # the widener's 0.5..1.5 bounds the move: amount 1 stops at +3.5 dB here
    assert master_width == pytest.approx(aim, abs=0.3)
    assert abs(master_width - reference.side_mid_db) < abs(mix_width - reference.side_mid_db)
    assert f"{reference.side_mid_db:.1f} dB" in _step(result, "widener").reason


def test_zero_amounts_move_nothing(reference):
    x = _shaped(_neutral, 8.0, 6)
    result = master_to_target(x, SR, SPOTIFY, reference=reference, amounts={"tone": 0, "width": 0, "loudness": 0})
    assert _types(result) == ["gain", "limiter"]
    assert result.tone_distance_db[1] == pytest.approx(result.tone_distance_db[0], abs=0.02)
    assert result.side_mid_db[1] == pytest.approx(result.side_mid_db[0], abs=0.02)
    _assert_contract(result, -14.0)


def test_master_audio_equals_the_console_rendering_of_its_steps(reference):
    x = _dynamic(seed=7) * 0.5
    result = master_to_target(x, SR, loudness_target("apple"), reference=reference, amounts={"loudness": 0.0})
    assert _types(result) == ["parametric_eq", "compressor", "widener", "gain", "limiter"]
    _assert_contract(result, -16.0)
    recipe = Recipe.from_dict(Recipe(tracks=[Strip("mix")], master=result.steps, sample_rate=SR).to_dict())
    rendered = Console(recipe, SR, [2]).render([x])
    assert torch.allclose(rendered, result.audio, atol=1e-5, rtol=0)


def test_a_target_past_the_limiter_stops_where_the_limiter_saturates():
    result = master_to_target(_shaped(_neutral, 4.0, 10), SR, loudness_target(-6))  # noise cannot reach -6
    assert "as loud as the limiter gets" in _step(result, "gain").reason
    assert -10.0 < result.integrated_lufs < -7.0 and result.true_peak_db <= -1.0 + 1e-3
    assert _step(result, "gain").params["gain_db"] < 24.0


def test_silence_gets_only_the_gain_and_limiter(reference):
    result = master_to_target(torch.zeros(2, SR), SR, SPOTIFY, reference=reference)
    assert _types(result) == ["gain", "limiter"] and result.tone_distance_db is None
    assert torch.count_nonzero(result.audio) == 0


def test_reference_file_at_another_rate_is_resampled(tmp_path):
    y = _shaped(_tilted(0.5), 8.0, 8, width=0.5, rate=48000)
    sf.write(tmp_path / "ref.wav", y.numpy().T, 48000, subtype="FLOAT")
    direct = measure_reference(y, 48000)
    loaded = load_reference(tmp_path / "ref.wav", SR)
    assert loaded.source == "ref.wav"
    assert np.array_equal(loaded.centres_hz, _CENTRES)
    assert tone_distance_db(loaded.tone_db, direct.tone_db) < 0.2
    assert loaded.integrated_lufs == pytest.approx(direct.integrated_lufs, abs=0.1)
    assert loaded.side_mid_db == pytest.approx(direct.side_mid_db, abs=0.05)
    assert direct.side_mid_db == pytest.approx(side_mid_db(y), abs=1e-9)


@pytest.mark.parametrize("amounts, key", [({"tone": 1.5}, "tone"), ({"width": -0.1}, "width"),
                                          ({"loudness": "all"}, "loudness"), ({"brightness": 0.5}, "brightness")])
def test_bad_amounts_name_the_key(reference, amounts, key):
    with pytest.raises(ParameterError, match=key):
        master_to_target(_shaped(_neutral, 2.0, 9), SR, SPOTIFY, reference=reference, amounts=amounts)


def test_parse_amounts():
    assert parse_amounts("tone=0.2, loudness=1") == {"tone": 0.2, "width": 0.5, "loudness": 1.0}
    with pytest.raises(ParameterError, match="width"):
        parse_amounts("tone=0.2,width=wide")


@pytest.mark.parametrize("step", [Step("limiter", {"ceiling_db": -6.0, "lookahead_ms": 5.0, "release_ms": 80.0}),
                                  Step("parametric_eq", {"low_shelf_gain_db": 2.0, "peak2_gain_db": -1.5}),
                                  Step("compressor", {"threshold_db": -24.0, "ratio": 2.0})])
def test_long_master_steps_run_in_blocks_exactly_like_one_call(step):
    from mixdown.dsp.registry import PROCESSORS
    from mixdown.mastering.master import apply_step

    rate = 22050
    x = 0.3 * torch.randn(2, 25 * rate, generator=torch.Generator().manual_seed(5), dtype=torch.float64)  # 3 blocks
    proc = PROCESSORS[step.type]
    whole = proc.fn(x[None], rate, **{**proc.table.defaults(), **step.params})[0]
    assert torch.allclose(apply_step(x, rate, step), whole, atol=1e-9)
