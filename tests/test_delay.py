"""Feedback delay: per-sample reference, closed forms, gradients, both paths, streaming, edges, errors."""

import math

import numba
import numpy as np
import pytest
import torch

from mixdown.dsp.delay import DELAY_PARAMS, delay, delay_step
from mixdown.dsp.kernels.delay_line import delay_line, torch_delay_line
from mixdown.dsp.registry import get_processor
from mixdown.errors import ParameterError


@numba.njit(cache=False)
def _reference(x, delay_samples, feedback, damping, mix):
    """Plain per-sample loop over (batch, channels, samples) float64, the line starting silent."""
    batch, channels, n = x.shape
    y = np.empty_like(x)
    for b in range(batch):
        whole = math.floor(delay_samples[b])
        frac = delay_samples[b] - whole
        for ch in range(channels):
            w = np.zeros(n)
            d = 0.0
            for i in range(n):
                new = w[i - whole] if i - whole >= 0 else 0.0
                old = w[i - whole - 1] if i - whole - 1 >= 0 else 0.0
                d = (1.0 - damping[b]) * ((1.0 - frac) * new + frac * old) + damping[b] * d
                w[i] = x[b, ch, i] + feedback[b] * d
                y[b, ch, i] = (1.0 - mix[b]) * x[b, ch, i] + mix[b] * d
    return y


def _run_reference(x, sample_rate, time_ms, feedback, damping, mix):
    samples = np.asarray(time_ms, dtype=np.float64) * sample_rate / 1000.0
    arrays = [np.asarray(v, dtype=np.float64) for v in (feedback, damping, mix)]
    return _reference(x.double().numpy(), samples, *arrays)


PARAMS = dict(time_ms=[1.7, 250.0], feedback=[0.9, 0.35], damping=[0.0, 0.6], mix=[1.0, 0.4])


def _tensors(dtype, **params):
    return {k: torch.tensor(v, dtype=dtype) for k, v in params.items()}


def test_matches_reference_float32_ten_seconds():
    sample_rate = 44100
    x = torch.randn(2, 2, 10 * sample_rate, generator=torch.Generator().manual_seed(1))
    y = delay(x, sample_rate, **_tensors(torch.float32, **PARAMS))
    ref = _run_reference(x, sample_rate, *[np.float32(PARAMS[k]) for k in ("time_ms", "feedback", "damping", "mix")])
    assert y.dtype == torch.float32
    assert np.abs(y.double().numpy() - ref).max() < 1e-5  # brief: 1e-4; measured 4.8e-7 at peak 9.9


@pytest.mark.parametrize(
    "sample_rate, time_ms",
    [(1000, [1.0, 7.0]), (8000, [1.0, 3.0]), (8000, [1.0625, 3.3]), (44100, [1.0, 33.3])],
)  # whole and fractional sample delays, down to the 1-sample minimum
def test_matches_reference_float64(sample_rate, time_ms):
    x = torch.randn(2, 3, 2000, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    params = dict(time_ms=time_ms, feedback=[0.95, 0.5], damping=[0.99, 0.25], mix=[0.7, 1.0])
    ref = _run_reference(x, sample_rate, **params)
    y = delay(x, sample_rate, **_tensors(torch.float64, **params))
    assert np.abs(y.numpy() - ref).max() < 1e-10


def test_impulse_echoes_halve_with_feedback_half():
    sample_rate, period = 44100, 441  # 10 ms is exactly 441 samples
    x = torch.zeros(1, 2, 10 * period + 5, dtype=torch.float64)
    x[:, :, 0] = 1.0
    y = delay(x, sample_rate, time_ms=10.0, feedback=0.5, damping=0.0, mix=1.0)
    expected = torch.zeros_like(x)
    for k in range(1, 11):
        expected[:, :, k * period] = 0.5 ** (k - 1)
    assert torch.allclose(y, expected, rtol=0, atol=1e-15)
    half = delay(x, sample_rate, time_ms=10.0, feedback=0.5, damping=0.0, mix=0.5)
    assert torch.allclose(half, 0.5 * x + 0.5 * expected, rtol=0, atol=1e-15)


def test_damping_cutoff_matches_documented_formula():
    sample_rate, c = 44100, 0.3
    cutoff = sample_rate / (2 * math.pi) * math.acos((4 * c - 1 - c * c) / (2 * c))
    assert abs(cutoff - 9731) < 1  # the figure in the table's description
    n = np.arange(20000)
    x = torch.tensor(np.sin(2 * np.pi * cutoff / sample_rate * n))[None, None]
    y = delay(x, sample_rate, time_ms=10.0, feedback=0.0, damping=c, mix=1.0)
    steady = y[0, 0, 1000:].numpy()
    assert abs(np.sqrt(2 * np.mean(steady**2)) - 1 / math.sqrt(2)) < 1e-3


def _gradcheck_inputs(batch=2, channels=1, samples=64):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(batch, channels, samples, dtype=torch.float64, generator=g)
    params = _tensors(torch.float64, time_ms=[1.3, 1.77][:batch], feedback=[0.8, 0.93][:batch],
                      damping=[0.4, 0.05][:batch], mix=[0.6, 0.9][:batch])
    return x, params  # at 8 kHz: 10.4 and 14.16 samples, several echoes inside the signal


@pytest.mark.parametrize("path", [delay_line, torch_delay_line])
def test_gradcheck_every_parameter(path, monkeypatch):
    monkeypatch.setattr("mixdown.dsp.delay.delay_line", path)
    x, params = _gradcheck_inputs()
    names = list(params)
    inputs = [x.requires_grad_()] + [params[k].requires_grad_() for k in names]

    def fn(x, *values):
        return delay(x, 8000, **dict(zip(names, values)))

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7)


def test_gradcheck_through_carried_state():
    x, params = _gradcheck_inputs(batch=1, channels=2, samples=40)
    state = delay_step(torch.randn(1, 2, 30, dtype=torch.float64), 8000, None, **params)[1]
    history = state["history"].clone().requires_grad_()
    wet = state["wet"].clone().requires_grad_()
    x.requires_grad_()
    feedback = params.pop("feedback").requires_grad_()

    def fn(x, history, wet, feedback):
        y, end = delay_step(x, 8000, {"history": history, "wet": wet}, feedback=feedback, **params)
        return y, end["history"], end["wet"]

    assert torch.autograd.gradcheck(fn, (x, history, wet, feedback), eps=1e-6, atol=1e-7)


def test_numba_path_equals_torch_path_with_gradients():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3, 2, 5000, dtype=torch.float64, generator=g)
    samples = torch.tensor([44.1, 300.0, 1234.56], dtype=torch.float64)
    feedback = torch.tensor([0.95, 0.0, 0.6], dtype=torch.float64)
    damping = torch.tensor([0.99, 0.3, 0.0], dtype=torch.float64)
    upstream = torch.randn(3, 2, 5000, dtype=torch.float64, generator=g)
    results = []
    for path in (delay_line, torch_delay_line):
        leaves = [t.clone().requires_grad_() for t in (x, samples, feedback, damping)]
        wet, state = path(*leaves)
        (wet * upstream).sum().backward()
        results.append([wet, state["history"], state["wet"]] + [t.grad for t in leaves])
    for a, b in zip(*results):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-9)


def _stream(step, x, block, **params):
    state, out = None, []
    for start in range(0, x.shape[-1], block):
        y, state = step(x[..., start:start + block], 44100, state, **params)
        out.append(y)
    return torch.cat(out, -1)


@pytest.mark.parametrize("block", [1, 13, 65, 4097])
def test_streaming_equals_offline(block):
    length = {1: 400, 13: 1500}.get(block, 9000)  # small blocks cost one kernel launch each
    x = torch.randn(2, 2, length, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    params = _tensors(torch.float64, time_ms=[1.7, 3.1], feedback=[0.9, 0.5], damping=[0.3, 0.9], mix=[0.5, 1.0])
    offline = delay(x, 44100, **params)
    assert (_stream(delay_step, x, block, **params) - offline).abs().max() < 1e-12  # brief: 1e-6


@pytest.mark.parametrize("block", [13, 65])
def test_torch_path_streaming_equals_offline(block, monkeypatch):
    monkeypatch.setattr("mixdown.dsp.delay.delay_line", torch_delay_line)
    x = torch.randn(2, 1, 3000, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    params = _tensors(torch.float64, time_ms=[1.7, 20.3], feedback=[0.9, 0.5], damping=[0.3, 0.9], mix=[0.5, 1.0])
    offline = delay(x, 44100, **params)
    assert (_stream(delay_step, x, block, **params) - offline).abs().max() < 1e-6


def test_state_history_grows_to_the_longest_delay():
    x = torch.randn(1, 2, 300, dtype=torch.float64)
    _, state = delay_step(x, 1000, None, time_ms=10.0)
    assert state["history"].shape == (1, 2, 12)
    _, state = delay_step(x, 1000, state, time_ms=100.5)
    assert state["history"].shape == (1, 2, 103)
    _, state = delay_step(x, 1000, state, time_ms=5.0)
    assert state["history"].shape == (1, 2, 103)


@pytest.mark.parametrize("path", [delay_line, torch_delay_line])
def test_edges_finite_over_random_draws(path, monkeypatch):
    """200 random parameter sets (40% of values at a range edge), as batch items of one call per sample rate."""
    monkeypatch.setattr("mixdown.dsp.delay.delay_line", path)
    rng = np.random.default_rng(7)
    edges = {"time_ms": [1.0, 2000.0], "feedback": [0.0, 0.95], "damping": [0.0, 0.99], "mix": [0.0, 1.0]}
    # 1 ms is a single sample at 1 kHz; the torch path steps through 1-sample chunks there, so it gets fewer
    for sample_rate, batch, torch_samples in [(1000, 67, 100), (8000, 67, 300), (44100, 66, 300)]:
        params = {}
        for entry in DELAY_PARAMS.numeric:
            drawn = entry.denormalize(torch.from_numpy(rng.random(batch))).numpy()
            values = np.where(rng.random(batch) < 0.4, rng.choice(edges[entry.name], batch), drawn)
            params[entry.name] = torch.tensor(values, dtype=torch.float32, requires_grad=True)
        samples = 2500 if path is delay_line else torch_samples
        x = torch.randn(batch, 2, samples, generator=torch.Generator().manual_seed(sample_rate), requires_grad=True)
        y = delay(x, sample_rate, **params)
        y.square().sum().backward()
        assert torch.isfinite(y).all()
        for t in [x, *params.values()]:
            assert torch.isfinite(t.grad).all()


@pytest.mark.parametrize(
    "bad",
    [
        dict(time_ms=0.5), dict(time_ms=2500.0), dict(feedback=1.0), dict(feedback=-0.1), dict(damping=1.0),
        dict(mix=1.5), dict(time_ms=float("nan")), dict(feedback=torch.tensor([0.1, 0.2, 0.3])),
    ],
)
def test_bad_parameters_raise(bad):
    with pytest.raises(ParameterError):
        delay(torch.zeros(2, 1, 100), 44100, **bad)


def test_delay_shorter_than_one_sample_and_bad_state_raise():
    with pytest.raises(ParameterError, match="at least 1 sample"):
        delay(torch.zeros(1, 1, 100), 500, time_ms=1.0)
    with pytest.raises(ParameterError, match="state"):
        delay_step(torch.zeros(1, 2, 100), 44100, {"history": torch.zeros(1, 1, 20), "wet": torch.zeros(1, 1)})


def test_registered():
    processor = get_processor("delay")
    assert processor.fn is delay and processor.step is delay_step and processor.table is DELAY_PARAMS
