"""Compressor and expander: against a per-sample reference loop, closed forms, gradients, edges, streaming."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
import torch

from mixdown.dsp import dynamics
from mixdown.dsp.dynamics import (
    COMPRESSOR_PARAMS,
    EXPANDER_PARAMS,
    compressor,
    compressor_step,
    expander,
    expander_step,
)
from mixdown.dsp.kernels import torch_path_only
from mixdown.dsp.registry import PROCESSORS
from mixdown.errors import AudioInputError, ParameterError

SR = 44100
PROCS = {"compressor": (compressor, compressor_step, COMPRESSOR_PARAMS),
         "expander": (expander, expander_step, EXPANDER_PARAMS)}


# ---- the reference: vectorised numpy statics, ballistics one sample at a time in plain Python ----------------

def ref_level(s: np.ndarray, linked: bool) -> np.ndarray:
    """(channels, n) -> (1 or channels, n) peak level in dB with a -150 dB floor."""
    a = np.abs(s)
    if linked:
        a = a.max(axis=0, keepdims=True)
    return 20.0 * np.log10(np.maximum(a, 10.0 ** (-150.0 / 20.0)))


def ref_compressor_gain(level, T, R, W):
    """Giannoulis et al. 2012 eq. 4 (output level y_G), returned as the gain y_G - x_G."""
    y = level.copy()
    if W > 0:
        knee = np.abs(2 * (level - T)) <= W
        y[knee] = level[knee] + (1 / R - 1) * (level[knee] - T + W / 2) ** 2 / (2 * W)
    above = 2 * (level - T) > W
    y[above] = T + (level[above] - T) / R
    return y - level


def ref_expander_gain(level, T, R, W, range_db):
    """The same curve mirrored below the threshold (output slope R), floored at range_db."""
    y = level.copy()
    if W > 0:
        knee = np.abs(2 * (level - T)) <= W
        y[knee] = level[knee] - (R - 1) * (level[knee] - T - W / 2) ** 2 / (2 * W)
    below = 2 * (level - T) < -W
    y[below] = T + (level[below] - T) * R
    return np.maximum(y - level, range_db)


def ref_coefficient(time_ms: float, sample_rate: float) -> float:
    return math.exp(-1.0 / (time_ms * 1e-3 * sample_rate)) if time_ms > 0 else 0.0


def ref_ballistics(target: np.ndarray, g: float, a_fall: float, a_rise: float) -> np.ndarray:
    out = []
    for t in target.tolist():
        a = a_fall if t < g else a_rise
        g = a * g + (1.0 - a) * t
        out.append(g)
    return np.array(out)


def reference(kind: str, x: np.ndarray, sample_rate: float, sidechain=None, **params) -> np.ndarray:
    """x: (channels, n) float64. Parameters as in the processor (all given explicitly, or defaults)."""
    p = dict(PROCS[kind][2].defaults(), **params)
    level = ref_level(x if sidechain is None else sidechain, p["stereo_link"] == "linked")
    attack, release = ref_coefficient(p["attack_ms"], sample_rate), ref_coefficient(p["release_ms"], sample_rate)
    if kind == "compressor":
        def curve(lv):
            return ref_compressor_gain(lv, p["threshold_db"], p["ratio"], p["knee_db"])
        a_fall, a_rise, makeup = attack, release, p["makeup_db"]
    else:
        def curve(lv):
            return ref_expander_gain(lv, p["threshold_db"], p["ratio"], p["knee_db"], p["range_db"])
        a_fall, a_rise, makeup = release, attack, 0.0
    start = float(curve(np.array([-150.0]))[0])  # the gain after silence
    gain = np.stack([ref_ballistics(row, start, a_fall, a_rise) for row in curve(level)])
    return x * 10.0 ** ((gain + makeup) / 20.0)


# ---- signals ---------------------------------------------------------------------------------------------------

def program(seconds: float, sample_rate: float, seed: int = 0, segment_s=(0.05, 0.4)) -> np.ndarray:
    """Stereo noise whose level jumps every ``segment_s`` seconds between -80 and 0 dB, with digital silence."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    env = np.empty(n)
    i = 0
    while i < n:
        length = int(rng.uniform(*segment_s) * sample_rate)
        env[i:i + length] = 10.0 ** (rng.uniform(-80.0, 0.0) / 20.0)
        i += length
    env[n // 3:n // 3 + n // 20] = 0.0
    left = rng.standard_normal(n)
    right = 0.6 * left + 0.8 * rng.standard_normal(n)
    return (np.stack([left, right]) * env * 0.3).astype(np.float32)


COMPRESSOR_SETS = [
    {},
    dict(threshold_db=-30.0, ratio=8.0, attack_ms=0.0, release_ms=50.0, knee_db=0.0, makeup_db=6.0),
    dict(threshold_db=-10.0, ratio=20.0, attack_ms=200.0, release_ms=2000.0, knee_db=24.0, makeup_db=24.0,
         stereo_link="independent"),
    dict(threshold_db=-45.0, ratio=1.5, attack_ms=3.0, release_ms=1.0, knee_db=10.0, stereo_link="independent"),
]
EXPANDER_SETS = [
    {},
    dict(threshold_db=-30.0, ratio=100.0, attack_ms=0.0, release_ms=20.0, knee_db=0.0, range_db=-60.0),
    dict(threshold_db=-40.0, ratio=4.0, attack_ms=10.0, release_ms=500.0, knee_db=12.0, range_db=-120.0,
         stereo_link="independent"),
]


@pytest.fixture(scope="module")
def ten_seconds():
    return program(10.0, SR)


@pytest.mark.parametrize(
    "kind, params", [("compressor", p) for p in COMPRESSOR_SETS] + [("expander", p) for p in EXPANDER_SETS]
)
def test_matches_per_sample_reference(ten_seconds, kind, params):
    fn = PROCS[kind][0]
    y = fn(torch.from_numpy(ten_seconds)[None], SR, **params)[0]
    assert y.dtype == torch.float32
    expected = reference(kind, ten_seconds.astype(np.float64), SR, **params)
    np.testing.assert_allclose(y.numpy(), expected, rtol=0, atol=1e-4)
    y64 = fn(torch.from_numpy(ten_seconds).double()[None], SR, **params)[0]
    np.testing.assert_allclose(y64.numpy(), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("link, sc_channels", [("linked", 2), ("independent", 1), ("independent", 2)])
def test_sidechain_matches_reference(link, sc_channels):
    x = program(2.0, SR, seed=1)
    key = program(2.0, SR, seed=2)[:sc_channels]
    params = dict(threshold_db=-35.0, ratio=6.0, attack_ms=1.0, release_ms=80.0, knee_db=4.0, stereo_link=link)
    y = compressor(torch.from_numpy(x)[None], SR, sidechain=torch.from_numpy(key)[None], **params)[0]
    expected = reference("compressor", x.astype(np.float64), SR, sidechain=key.astype(np.float64), **params)
    np.testing.assert_allclose(y.numpy(), expected, rtol=0, atol=1e-4)


# ---- closed forms ------------------------------------------------------------------------------------------------

def measured_gain_db(fn, x: torch.Tensor, sample_rate: float, **params) -> torch.Tensor:
    return 20.0 * torch.log10(fn(x, sample_rate, **params).abs() / x.abs())


def test_sine_settles_to_closed_form_gain_reduction():
    sample_rate, threshold = 48000, -30.0
    n = torch.arange(sample_rate, dtype=torch.float64)
    amplitude = 10.0 ** ((threshold + 20.0) / 20.0)
    x = (amplitude * torch.sin(2 * math.pi * 1000.0 * n / sample_rate))[None, None]
    params = dict(threshold_db=threshold, ratio=4.0, knee_db=0.0, attack_ms=0.0, release_ms=2000.0)
    gain = measured_gain_db(compressor, x, sample_rate, **params)[0, 0]
    peaks = torch.arange(sample_rate // 2 + 12, sample_rate, 48)  # sin = 1 exactly at n = 12 mod 48
    torch.testing.assert_close(gain[peaks], torch.full_like(gain[peaks], -15.0), rtol=0, atol=1e-9)
    last_cycle = gain[-48:][x[0, 0, -48:].abs() > 1e-3]
    assert float(last_cycle.max()) < -15.0 + 0.01  # settled: barely recovers between peaks


def rising_ramp(low_db: float, high_db: float, n: int = 4801) -> torch.Tensor:
    """A constant-sign ramp whose level rises steadily (the peak detector then follows it exactly)."""
    return (10.0 ** (torch.linspace(low_db, high_db, n, dtype=torch.float64) / 20.0))[None, None]


def test_compressor_static_curve_and_soft_knee():
    T, R, W = -20.0, 4.0, 12.0
    x = rising_ramp(T - 2 * W, T + 2 * W)
    level = 20.0 * torch.log10(x[0, 0])
    # A rising level means a falling gain, which attack 0 follows instantly: the output is the static curve.
    gain = measured_gain_db(compressor, x, SR, threshold_db=T, ratio=R, knee_db=W, attack_ms=0.0)[0, 0]
    expected = torch.where(
        level < T - W / 2,
        torch.zeros_like(level),
        torch.where(level > T + W / 2, (1 / R - 1) * (level - T), (1 / R - 1) * (level - T + W / 2) ** 2 / (2 * W)),
    )
    knee = (level - T).abs() < W / 2
    assert int(knee.sum()) > 1000
    torch.testing.assert_close(gain, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("W", [0.0, 10.0])
def test_expander_closed_form_and_range_floor(W):
    T, R, floor = -40.0, 3.0, -60.0
    x = rising_ramp(-120.0, 0.0)
    level = 20.0 * torch.log10(x[0, 0])
    # A rising level means a rising expander gain, which attack 0 follows instantly.
    gain = measured_gain_db(expander, x, SR, threshold_db=T, ratio=R, knee_db=W, range_db=floor, attack_ms=0.0)[0, 0]
    hard = torch.where(level < T, (R - 1) * (level - T), torch.zeros_like(level))
    if W > 0:
        knee = (level - T).abs() < W / 2
        hard = torch.where(knee, -(R - 1) * (level - T - W / 2) ** 2 / (2 * W), hard)
    expected = torch.maximum(hard, torch.full_like(hard, floor))
    assert bool((expected == floor).any()) and bool(((expected > floor) & (expected < -1.0)).any())
    torch.testing.assert_close(gain, expected, rtol=0, atol=1e-9)


def test_gate_never_attenuates_beyond_range():
    x = torch.from_numpy(program(1.0, SR, seed=3)).double()[None]
    gain = measured_gain_db(expander, x, SR, threshold_db=-20.0, ratio=100.0, release_ms=5.0, range_db=-30.0)
    gain = gain[x != 0]
    assert float(gain.min()) >= -30.0 - 1e-9
    assert float(gain.min()) < -29.9  # the floor is reached


@pytest.mark.parametrize("kind", ["compressor", "expander"])
def test_ratio_one_is_identity(kind):
    x = torch.from_numpy(program(0.5, SR, seed=4))[None]
    torch.testing.assert_close(PROCS[kind][0](x, SR, ratio=1.0, knee_db=6.0), x, rtol=0, atol=0)


def test_expander_starts_closed_after_silence():
    x = torch.full((1, 1, 10), 1e-4, dtype=torch.float64)  # -80 dB, below a -40 dB threshold
    y = expander(x, SR, threshold_db=-40.0, ratio=10.0, range_db=-50.0, attack_ms=50.0)
    torch.testing.assert_close(y, x * 10.0 ** (-50.0 / 20.0))


# ---- gradients -------------------------------------------------------------------------------------------------

def gradient_signal(batch: int = 2, n: int = 48, seed: int = 5) -> torch.Tensor:
    """Bursts of noise at about -6 dB, each decaying from -15 to -60 dB: both ballistics and every curve region act."""
    g = torch.Generator().manual_seed(seed)
    phase = torch.arange(n, dtype=torch.float64) % 24
    env = torch.where(phase < 8, 0.5, 10.0 ** ((-15.0 - 3.0 * (phase - 8)) / 20.0))
    return (torch.randn(batch, 2, n, generator=g, dtype=torch.float64) * env).requires_grad_()


GRAD_VALUES = {
    "compressor": dict(threshold_db=(-24.0, -15.0), ratio=(4.0, 9.0), attack_ms=(0.5, 1.0),
                       release_ms=(2.0, 4.0), knee_db=(6.0, 10.0), makeup_db=(2.0, 5.0)),
    "expander": dict(threshold_db=(-30.0, -22.0), ratio=(4.0, 2.0), attack_ms=(0.5, 1.0),
                     release_ms=(2.0, 4.0), knee_db=(6.0, 3.0), range_db=(-40.0, -30.0)),
}


@pytest.mark.parametrize("kind, link", [("compressor", "linked"), ("expander", "independent")])
def test_gradcheck_signal_and_every_parameter(kind, link):
    fn = PROCS[kind][0]
    names = list(GRAD_VALUES[kind])
    params = [torch.tensor(GRAD_VALUES[kind][k], dtype=torch.float64, requires_grad=True) for k in names]
    assert set(names) == {p.name for p in PROCS[kind][2].numeric}

    def f(x, *values):
        return fn(x, 8000, stereo_link=link, **dict(zip(names, values)))

    x = gradient_signal()
    f(x, *params).square().sum().backward()
    for name, value in zip(names, params):  # every parameter acts on this signal, so the check is not vacuous
        assert bool((value.grad.abs() > 1e-6).all()), name
    assert torch.autograd.gradcheck(f, (x, *params))


@pytest.mark.parametrize("link", ["linked", "independent"])
def test_gradcheck_sidechain(link):
    x, key = gradient_signal(seed=6), gradient_signal(seed=7)

    def f(x, key):
        return compressor(x, 8000, threshold_db=-20.0, ratio=5.0, attack_ms=0.5, release_ms=3.0,
                          stereo_link=link, sidechain=key)

    assert torch.autograd.gradcheck(f, (x, key))


@pytest.mark.parametrize("carried_db", [-7.0, -30.0])  # -30 dB: the gain after silence (the range floor)
def test_gradcheck_step_from_a_carried_state(carried_db):
    x = gradient_signal(batch=1, n=48)
    state = torch.tensor([[carried_db]], dtype=torch.float64)
    threshold = torch.tensor([-25.0], dtype=torch.float64, requires_grad=True)
    range_db = torch.tensor([-30.0], dtype=torch.float64, requires_grad=True)

    def f(x, threshold, range_db):
        return expander_step(x, 8000, state, threshold_db=threshold, ratio=4.0, range_db=range_db, knee_db=4.0)[0]

    assert torch.autograd.gradcheck(f, (x, threshold, range_db))


def random_value(param, rng: np.random.Generator) -> float:
    """A parameter value, at one of its range edges 40 % of the time."""
    u = rng.uniform()
    if u < 0.2:
        return param.min
    if u < 0.4:
        return param.max
    return float(param.denormalize(rng.uniform()))


@pytest.mark.parametrize("kind", ["compressor", "expander"])
def test_finite_output_and_gradients_over_random_draws(kind):
    fn, _, table = PROCS[kind]
    rng = np.random.default_rng(8)
    x0 = torch.randn(1, 2, 400, dtype=torch.float32, generator=torch.Generator().manual_seed(9))
    x0[..., 100:200] = 0.0  # digital silence
    x0[..., 300:] *= 3.0  # peaks above 0 dBFS
    for _ in range(200):
        values = {p.name: torch.tensor([random_value(p, rng)], requires_grad=True) for p in table.numeric}
        x = x0.clone().requires_grad_()
        link = str(rng.choice(["linked", "independent"]))
        y = fn(x, SR, stereo_link=link, **values)
        y.square().sum().backward()
        assert bool(torch.isfinite(y).all())
        assert bool(torch.isfinite(x.grad).all())
        for name, v in values.items():
            assert bool(torch.isfinite(v.grad).all()), (name, {k: float(t) for k, t in values.items()})


# ---- streaming, linking, registry, errors -------------------------------------------------------------------

STREAM_CASES = [
    ("compressor", dict(threshold_db=-30.0, ratio=6.0, attack_ms=2.0, release_ms=30.0, makeup_db=3.0), 0),
    ("compressor", dict(threshold_db=-25.0, attack_ms=0.0, stereo_link="independent"), 2),
    ("expander", dict(threshold_db=-30.0, ratio=8.0, attack_ms=1.0, release_ms=20.0, knee_db=6.0), 0),
    ("expander", dict(threshold_db=-35.0, range_db=-40.0, stereo_link="independent"), 1),
]


@pytest.mark.parametrize("block", [1, 65, 4097])
@pytest.mark.parametrize("kind, params, sc_channels", STREAM_CASES)
def test_streaming_equals_offline(kind, params, sc_channels, block):
    fn, step, _ = PROCS[kind]
    n = 1000 if block == 1 else 9000
    burst_s = (0.005, 0.04) if block == 1 else (0.02, 0.2)
    x = torch.from_numpy(program(n / 8000, 8000, seed=10, segment_s=burst_s)).double()[None]
    key = program(n / 8000, 8000, seed=11, segment_s=burst_s)[:sc_channels]
    key = torch.from_numpy(key).double()[None] if sc_channels else None
    offline = fn(x, 8000, sidechain=key, **params)
    state, blocks = None, []
    for start in range(0, n, block):
        part = slice(start, start + block)
        y, state = step(x[..., part], 8000, state, sidechain=None if key is None else key[..., part], **params)
        blocks.append(y)
    torch.testing.assert_close(torch.cat(blocks, -1), offline, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["compressor", "expander"])
def test_linked_keeps_the_stereo_image(kind):
    x = torch.from_numpy(program(1.0, SR, seed=12)).double()[None]
    x[:, 1] *= 0.2  # right much quieter: independent detection would treat it differently
    params = dict(threshold_db=-30.0, ratio=6.0)
    audible = x.abs().amin(1) > 1e-6
    linked = measured_gain_db(PROCS[kind][0], x, SR, **params)
    torch.testing.assert_close(linked[:, 0][audible], linked[:, 1][audible], rtol=0, atol=1e-9)
    independent = measured_gain_db(PROCS[kind][0], x, SR, stereo_link="independent", **params)
    assert float((independent[:, 0] - independent[:, 1])[audible].abs().max()) > 3.0


def test_registered_with_streaming_step():
    assert PROCESSORS["compressor"].fn is compressor and PROCESSORS["compressor"].step is compressor_step
    assert PROCESSORS["expander"].fn is expander and PROCESSORS["expander"].step is expander_step
    assert PROCESSORS["compressor"].table is COMPRESSOR_PARAMS and PROCESSORS["expander"].table is EXPANDER_PARAMS


@pytest.mark.parametrize(
    "kind, name, value",
    [
        ("compressor", "threshold_db", 1.0), ("compressor", "ratio", 0.5), ("compressor", "ratio", 21.0),
        ("compressor", "attack_ms", -1.0), ("compressor", "release_ms", 0.5), ("compressor", "knee_db", 25.0),
        ("compressor", "makeup_db", -1.0), ("compressor", "stereo_link", "mid"),
        ("expander", "threshold_db", -91.0), ("expander", "ratio", 101.0), ("expander", "attack_ms", 101.0),
        ("expander", "range_db", 1.0), ("expander", "range_db", torch.tensor([-50.0, -121.0])),
    ],
)
def test_out_of_range_parameter_raises(kind, name, value):
    with pytest.raises(ParameterError, match=name):
        PROCS[kind][0](torch.zeros(2, 2, 16), SR, **{name: value})


def test_bad_sidechain_and_state_raise():
    x = torch.zeros(1, 2, 16)
    with pytest.raises(AudioInputError, match="sidechain"):
        compressor(x, SR, sidechain=torch.zeros(1, 2, 15))
    with pytest.raises(AudioInputError, match="sidechain"):
        compressor(x, SR, sidechain=torch.zeros(1, 3, 16), stereo_link="independent")
    with pytest.raises(ParameterError, match="state"):
        compressor_step(x, SR, torch.zeros(1, 1, dtype=torch.float64), stereo_link="independent")


# ---- the fused compiled kernels against the torch composition -----------------------------------------------

def differentiable_path():
    """Run the torch composition (the CUDA path) on CPU tensors."""
    return torch_path_only()


def random_params(kind: str, rng: np.random.Generator, batch: int = 3) -> dict:
    """float32-exact ``(batch,)`` parameters: row 0 at the hard edges (knee 0, attack 0, highest ratio, range
    floor), row 1 at ratio 1 with the widest knee, the rest random (edges 40 % of the time)."""
    table = PROCS[kind][2]
    values = {p.name: [random_value(p, rng) for _ in range(batch)] for p in table.numeric}
    for name, edge in [("knee_db", "min"), ("attack_ms", "min"), ("ratio", "max"), ("range_db", "min")]:
        if name in values:
            values[name][0] = getattr(table.entries[name], edge)
    values["ratio"][1], values["knee_db"][1] = 1.0, table.entries["knee_db"].max
    return {name: torch.tensor(v, dtype=torch.float32) for name, v in values.items()}


def slope_of(kind: str, params: dict) -> torch.Tensor:
    ratio = params["ratio"].double()
    return 1.0 - 1.0 / ratio if kind == "compressor" else ratio - 1.0


def batch_signal(n: int, sample_rate: float, seed: int, channels: int = 2) -> torch.Tensor:
    """``(3, channels, n)`` float32 bursts with digital silence and peaks above 0 dBFS."""
    x = np.stack([program(n / sample_rate, sample_rate, seed=seed + i, segment_s=(0.005, 0.05))[:channels]
                  for i in range(3)])
    x[..., n // 5:n // 4] *= 10.0
    return torch.from_numpy(x)


def assert_rows_close(actual: torch.Tensor, expected: torch.Tensor, rtol: torch.Tensor) -> None:
    """Relative error per batch row below ``rtol`` (a ``(batch,)`` tensor); exact zeros must stay zeros."""
    error = (actual.double() - expected.double()).abs() / expected.double().abs()
    error = torch.where(expected == 0, (actual != 0).double(), error).flatten(1).amax(1)
    assert bool((error <= rtol).all()), (error, rtol)


FUSED_LAYOUTS = [("linked", 0), ("linked", 3), ("independent", 0), ("independent", 1), ("independent", 2)]


@pytest.mark.parametrize("link, sc_channels", FUSED_LAYOUTS)
@pytest.mark.parametrize("kind", ["compressor", "expander"])
def test_fused_kernel_equals_differentiable_path(kind, link, sc_channels):
    step = PROCS[kind][1]
    rng = np.random.default_rng(13)
    x = batch_signal(4000, 8000, seed=14)
    key = batch_signal(4000, 8000, seed=17, channels=sc_channels) if sc_channels else None

    def run(dtype, params):
        return step(x.to(dtype), 8000, None, sidechain=None if key is None else key.to(dtype), **params)

    for _ in range(4):
        params = dict(random_params(kind, rng), stereo_link=link)
        fused64, fused32 = run(torch.float64, params), run(torch.float32, params)
        with differentiable_path():
            torch64, torch32 = run(torch.float64, params), run(torch.float32, params)
        torch.testing.assert_close(fused64[0], torch64[0], rtol=1e-12, atol=0)
        assert fused32[0].dtype == torch.float32
        # float32 in, float64 inside: the fused path rounds the float64 result once
        torch.testing.assert_close(fused32[0].double(), torch64[0], rtol=1e-6, atol=0)
        for state in (fused64[1], fused32[1]):
            torch.testing.assert_close(state, torch64[1], rtol=1e-12, atol=1e-12)
        # The torch composition of a float32 signal detects in float32: its level is off by ~1e-7 of itself, an
        # error the curve multiplies by its slope (99 dB per dB for a 100:1 gate); the fused path is the closer.
        assert_rows_close(fused32[0], torch32[0], 2e-6 * (1.0 + slope_of(kind, params)))


STREAM_FUSED_CASES = [("compressor", "linked", 0), ("compressor", "independent", 2), ("expander", "linked", 3),
                      ("expander", "independent", 1)]


@pytest.mark.parametrize("block", [1, 65, 4097])
@pytest.mark.parametrize("kind, link, sc_channels", STREAM_FUSED_CASES)
def test_fused_kernel_streams_like_differentiable_path(kind, link, sc_channels, block):
    step = PROCS[kind][1]
    n = 400 if block == 1 else 9000
    x = batch_signal(n, 8000, seed=20)
    key = batch_signal(n, 8000, seed=23, channels=sc_channels) if sc_channels else None
    params = dict(random_params(kind, np.random.default_rng(26)), stereo_link=link)
    states = {"fused64": None, "fused32": None, "torch64": None}
    for start in range(0, n, block):
        part = slice(start, start + block)
        out = {}
        for name, state in states.items():
            dtype = torch.float32 if name == "fused32" else torch.float64
            sc = None if key is None else key[..., part].to(dtype)
            with differentiable_path() if name == "torch64" else contextlib.nullcontext():
                out[name] = step(x[..., part].to(dtype), 8000, state, sidechain=sc, **params)
        torch.testing.assert_close(out["fused64"][0], out["torch64"][0], rtol=1e-12, atol=0)
        torch.testing.assert_close(out["fused32"][0].double(), out["torch64"][0], rtol=1e-6, atol=0)
        for name in ("fused64", "fused32"):
            torch.testing.assert_close(out[name][1], out["torch64"][1], rtol=1e-12, atol=1e-12)
        states = {name: result[1] for name, result in out.items()}


def test_fused_kernel_runs_on_cpu_and_saves_only_for_a_gradient(monkeypatch):
    calls = []
    kernel = dynamics.dynamics_forward

    def spy(*args):
        calls.append(args[-1] is not None)  # the smoothed gain saved for the backward pass
        return kernel(*args)

    monkeypatch.setattr(dynamics, "dynamics_forward", spy)
    x, key = torch.randn(2, 2, 64), torch.randn(2, 1, 64)

    def saved(**kw) -> list[bool]:
        calls.clear()
        compressor(kw.pop("x", x), SR, sidechain=kw.pop("sidechain", None), **kw)
        return calls

    threshold = torch.full((2,), -20.0, requires_grad=True)
    assert saved() == [False] and saved(threshold_db=threshold.detach()) == [False]
    with torch.no_grad():
        assert saved(threshold_db=threshold) == [False] and saved(x=x.clone().requires_grad_()) == [False]
    assert saved(threshold_db=threshold) == [True]
    assert saved(x=x.clone().requires_grad_()) == [True]
    assert saved(sidechain=key.clone().requires_grad_(), stereo_link="independent") == [True]
    with torch_path_only():
        assert saved() == []


def _gradients(step, inputs, state, link, params, leaves, probe):
    y, _ = step(inputs[0], 8000, state, sidechain=inputs[1] if len(inputs) > 1 else None, stereo_link=link,
                **params)
    return torch.autograd.grad(y, leaves, probe, allow_unused=True)


GRADIENT_CASES = [("compressor", "linked", 0), ("compressor", "independent", 0), ("compressor", "linked", 3),
                  ("expander", "linked", 0), ("expander", "independent", 2), ("expander", "independent", 1)]


@pytest.mark.parametrize("kind, link, sc_channels", GRADIENT_CASES)
def test_fused_gradients_equal_the_torch_composition(kind, link, sc_channels):
    """The compiled backward pass against autograd through the torch composition: the signal, the side-chain,
    every parameter and a carried state, over random parameters with the edges (hard knee, instant attack,
    ratio 1, the range floor) and signals with digital silence and peaks above full scale."""
    step = PROCS[kind][1]
    rng = np.random.default_rng(31)
    x = batch_signal(3000, 8000, seed=32).double()
    key = batch_signal(3000, 8000, seed=33, channels=sc_channels).double() if sc_channels else None
    rows = 1 if link == "linked" or (key is not None and sc_channels == 1) else 2
    for carried in (None, torch.tensor([[-3.0], [-9.0], [-0.5]]).double().expand(3, rows).contiguous()):
        params = {k: v.double().requires_grad_() for k, v in random_params(kind, rng).items()}
        inputs = [x.clone().requires_grad_()] + ([key.clone().requires_grad_()] if key is not None else [])
        state = None if carried is None else carried.clone().requires_grad_()
        leaves = [*inputs, *params.values()] + ([state] if state is not None else [])
        probe = torch.randn(x.shape, generator=torch.Generator().manual_seed(34), dtype=torch.float64)

        run = dict(step=step, inputs=inputs, state=state, link=link, params=params, leaves=leaves, probe=probe)
        fused = _gradients(**run)
        with differentiable_path():
            reference = _gradients(**run)
        names = ["x", "sidechain"][: len(inputs)] + list(params) + (["state"] if state is not None else [])
        for name, a, b in zip(names, fused, reference):
            b = torch.zeros_like(a) if b is None else b
            scale = float(b.abs().max()) or 1.0
            assert float((a - b).abs().max()) <= 1e-9 * scale, (name, a, b)
