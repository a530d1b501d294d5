"""True-peak limiter: ceiling held against an independent 8x measurement, transparency, alignment, streaming,
gradients, edges and errors."""

import numpy as np
import pytest
import torch
from scipy.signal import resample_poly

from mixdown.dsp import limiter as lim
from mixdown.dsp.limiter import LIMITER_PARAMS, limiter, limiter_latency, limiter_step, true_peak_db
from mixdown.dsp.registry import get_processor
from mixdown.errors import ParameterError

FS = 44100


def true_peak_8x_db(y) -> float:
    """Independent true-peak reading: scipy's polyphase 8x resampler, max |.| over everything, in dB."""
    y = np.asarray(y, dtype=np.float64)
    return 20.0 * np.log10(np.abs(resample_poly(y, 8, 1, axis=-1)).max())


def _signals() -> dict:
    rng = np.random.default_rng(7)
    n = FS // 2
    t = np.arange(n) / FS
    bursts = np.zeros(n)
    for start in range(0, n, 5513):  # drum-like: instant attack, 7 ms decay, 8 hits a second
        length = min(2000, n - start)
        bursts[start : start + length] = np.exp(-np.arange(length) / 300.0)
    return {
        "white noise +14 dBTP": rng.standard_normal((1, 2, n)),
        # 0 dBFS samples (+-1), true peak +3 dBTP between them
        "fs/4 sine at 45 deg": np.tile(np.sqrt(2) * np.sin(np.pi / 2 * np.arange(n) + np.pi / 4), (1, 2, 1)),
        "15 kHz sine +6 dB": 2 * np.sin(2 * np.pi * 15000 * t + np.array([0.3, 1.1])[:, None])[None],
        "19 kHz sine +6 dB": np.tile(2 * np.sin(2 * np.pi * 19000 * t + 0.7), (1, 2, 1)),
        "drum transients": rng.standard_normal((1, 2, n)) * bursts * 4.0,
    }


SIGNALS = _signals()


@pytest.mark.parametrize("name", list(SIGNALS))
@pytest.mark.parametrize("ceiling_db", [0.0, -1.0, -6.0])
def test_output_true_peak_stays_at_the_ceiling(name, ceiling_db):
    x = torch.tensor(SIGNALS[name], dtype=torch.float32)
    assert true_peak_8x_db(x) > ceiling_db + 2.0  # the limiter has work to do
    y = limiter(x, FS, ceiling_db=ceiling_db, lookahead_ms=5.0, release_ms=50.0)
    assert true_peak_8x_db(y) <= ceiling_db + 0.1
    assert true_peak_8x_db(y) >= ceiling_db - 0.5  # and it does not simply turn everything down


def test_true_peak_of_the_fs4_sine_exceeds_its_sample_peak():
    x = torch.tensor(SIGNALS["fs/4 sine at 45 deg"])
    assert np.abs(x.numpy()).max() == pytest.approx(1.0)
    y = limiter(x, FS, ceiling_db=-1.0)
    # sample peak alone would allow -1 dBFS samples; the true-peak limiter must keep them ~3 dB lower
    assert 20 * np.log10(np.abs(y.numpy()[..., 2000:-2000]).max()) == pytest.approx(-4.01, abs=0.1)


def test_signal_below_the_ceiling_passes_unchanged():
    t = np.arange(FS) / FS
    x = np.stack([np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 3100 * t), np.sin(2 * np.pi * 330 * t)])[None]
    x = x * 10 ** ((-1.0 - 6.0 - true_peak_8x_db(x)) / 20)  # true peak 6 dB below a -1 dBTP ceiling
    for dtype in (torch.float64, torch.float32):
        xt = torch.tensor(x, dtype=dtype)
        y = limiter(xt, FS, ceiling_db=-1.0)
        assert y.shape == xt.shape
        assert torch.equal(y, xt)  # 0 dB of gain reduction everywhere: bit for bit


def test_output_is_aligned_with_the_input():
    x = torch.tensor(SIGNALS["drum transients"])
    y = limiter(x, FS, ceiling_db=-6.0, lookahead_ms=10.0).numpy()[0, 0]
    lags = np.arange(-60, 61)
    corr = [np.dot(y[60:-60], x.numpy()[0, 0, 60 + lag : len(y) - 60 + lag]) for lag in lags]
    assert lags[int(np.argmax(corr))] == 0


def test_latency_matches_the_step_and_the_registry():
    assert limiter_latency(FS) == round(5.0 * FS / 1000) + 10
    assert limiter_latency(48000, lookahead_ms=torch.tensor([2.0, 7.5])) == 360 + 10
    processor = get_processor("limiter")
    assert processor.latency is limiter_latency and processor.step is limiter_step
    impulse = torch.zeros(1, 1, 600, dtype=torch.float64)
    impulse[..., 0] = 0.5
    y, _ = limiter_step(impulse, 48000, None, lookahead_ms=3.0)
    assert int(y.abs().argmax()) == limiter_latency(48000, lookahead_ms=3.0)


@pytest.mark.parametrize("block", [1, 65, 4097])
def test_streaming_equals_offline(block):
    rng = np.random.default_rng(3)
    n = 3000 if block == 1 else 9000
    x = torch.tensor(rng.standard_normal((2, 2, n)) * np.linspace(0.2, 3.0, n))
    params = dict(ceiling_db=torch.tensor([-1.0, -9.0], dtype=torch.float64),
                  lookahead_ms=torch.tensor([5.0, 1.5], dtype=torch.float64), release_ms=30.0)
    latency = limiter_latency(16000, **params)
    offline = limiter(x, 16000, **params)
    state, blocks = None, []
    for start in range(0, n, block):
        y, state = limiter_step(x[..., start : start + block], 16000, state, **params)
        blocks.append(y)
    streamed = torch.cat(blocks, -1)
    assert (streamed[..., latency:] - offline[..., : n - latency]).abs().max().item() <= 1e-6


def test_batch_items_are_independent():
    x = torch.tensor(np.random.default_rng(4).standard_normal((3, 2, 4000)) * 2.0)
    ceilings, looks, releases = [-1.0, -6.0, -12.0], [5.0, 1.0, 20.0], [10.0, 80.0, 500.0]
    batched = limiter(x, 16000, ceiling_db=torch.tensor(ceilings, dtype=torch.float64),
                      lookahead_ms=torch.tensor(looks, dtype=torch.float64),
                      release_ms=torch.tensor(releases, dtype=torch.float64))
    for i in range(3):
        single = limiter(x[i : i + 1], 16000, ceiling_db=ceilings[i], lookahead_ms=looks[i], release_ms=releases[i])
        assert (batched[i : i + 1] - single).abs().max().item() <= 1e-12


def test_gradcheck_signal_ceiling_and_release():
    torch.manual_seed(0)
    x = (torch.randn(1, 2, 128, dtype=torch.float64) * 2.0).requires_grad_()
    ceiling = torch.tensor([-3.0], dtype=torch.float64, requires_grad=True)
    release = torch.tensor([20.0], dtype=torch.float64, requires_grad=True)

    def f(x, ceiling, release):
        return limiter(x, 8000, ceiling_db=ceiling, lookahead_ms=1.0, release_ms=release)

    assert torch.autograd.gradcheck(f, (x, ceiling, release))


def test_cpu_kernels_match_the_torch_paths():
    """The numba detector and sliding minimum agree with the plain-torch versions used on other devices."""
    torch.manual_seed(1)
    x_ext = torch.randn(2, 2, 300, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(2, 1, 280, dtype=torch.float64)
    fast = lim._LinkedPeaks.apply(x_ext)
    slow = lim._torch_linked_peaks(x_ext)
    assert (fast - slow).abs().max().item() <= 1e-12
    (g_fast,) = torch.autograd.grad(fast, x_ext, grad)
    (g_slow,) = torch.autograd.grad(slow, x_ext, grad)
    assert (g_fast - g_slow).abs().max().item() <= 1e-12
    assert torch.autograd.gradcheck(lim._LinkedPeaks.apply, (x_ext[:, :, :60].detach().requires_grad_(),))
    v = torch.randn(3, 500, dtype=torch.float64)
    for width in (1, 2, 7, 500):
        assert torch.equal(lim._SlidingMin.apply(v, width), lim._torch_sliding_min(v, width))


def test_true_peak_meter():
    t = np.arange(FS) / FS
    fade = np.minimum(1.0, np.minimum(np.arange(FS), FS - 1 - np.arange(FS)) / 2000.0)  # no edge clicks
    sine = torch.tensor(np.sin(2 * np.pi * 997 * t) * fade)[None, None]
    assert true_peak_db(sine, FS).item() == pytest.approx(0.0, abs=0.1)
    quarter = torch.tensor(np.sin(np.pi / 2 * np.arange(FS) + np.pi / 4) * fade)[None, None]
    sample_peak_db = 20 * np.log10(np.abs(quarter.numpy()).max())
    assert true_peak_db(quarter, FS).item() - sample_peak_db == pytest.approx(3.01, abs=0.1)
    noise = torch.tensor(np.random.default_rng(5).standard_normal((2, 2, 4000)))
    for i in range(2):
        assert true_peak_db(noise, FS)[i].item() == pytest.approx(true_peak_8x_db(noise[i]), abs=0.1)
    assert true_peak_db(torch.zeros(1, 2, 100), FS).item() == -float("inf")



def _detector_true_peak_db(x: torch.Tensor) -> torch.Tensor:
    """The reading the limiter's per-sample detector gives: what :func:`true_peak_db` computed before its meter."""
    padded = torch.nn.functional.pad(x, (lim._HISTORY, lim._GROUP_DELAY + 1))
    return lim._amplitude_to_db(lim._LinkedPeaks.apply(padded).amax(dim=(1, 2)))


def _meter_cases() -> dict:
    rng = np.random.default_rng(11)
    n = 2 * lim._CHUNK + 123  # several parallel jobs, the last one short
    t = np.arange(n) / FS
    sines = np.stack([np.sin(2 * np.pi * f * t + phase) for f, phase in
                      [(997, 0.0), (5512.5, np.pi / 4), (11025, 0.3), (15000, 1.1), (19000, 2.0), (20000, 0.7)]])
    envelope = np.repeat(rng.uniform(0.001, 1.0, (3, 1, n // 500 + 1)), 500, -1)[..., :n]
    return {
        "white noise": rng.standard_normal((3, 2, n)),
        "sines": sines.reshape(3, 2, n),
        "quiet and loud passages": rng.standard_normal((3, 2, n)) * envelope,  # blocks the meter may skip
        "one click": np.pad(np.ones((1, 1, 1)), ((0, 0), (0, 0), (500, 500))),
        "short mono": rng.standard_normal((2, 1, 7)),
        "silence": np.zeros((2, 2, 1000)),
        "silence then noise": np.concatenate([np.zeros((1, 2, n)), rng.standard_normal((1, 2, 300))], -1),
    }


@pytest.mark.parametrize("name", list(_meter_cases()))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fast_meter_equals_the_detector(name, dtype):
    """Without gradients, true_peak_db keeps running maxima only; its reading must stay bit for bit the same."""
    x = torch.tensor(_meter_cases()[name], dtype=dtype)
    fast = true_peak_db(x, FS)
    assert fast.dtype == dtype and fast.shape == (x.shape[0],)
    assert torch.equal(fast, _detector_true_peak_db(x))
    assert torch.equal(fast, true_peak_db(x.clone().requires_grad_(), FS).detach())  # the differentiable path
    singles = torch.cat([true_peak_db(x[i : i + 1], FS) for i in range(x.shape[0])])
    assert torch.equal(fast, singles)


def test_fast_meter_sine_phases_between_samples():
    t = np.arange(3000)
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 500.0)  # no edge clicks
    for divisor in (2.25, 3, 4, 6, 8):
        phases = np.linspace(0, np.pi, 8)
        x = torch.tensor(np.stack([np.sin(2 * np.pi * t / divisor + phase) * fade for phase in phases]))[:, None]
        assert torch.equal(true_peak_db(x, FS), _detector_true_peak_db(x))
        assert true_peak_db(x, FS).abs().max().item() <= 0.05  # unit tones read 0 dBTP wherever the samples fall


@pytest.mark.parametrize(
    "params",
    [
        dict(ceiling_db=-24.0, lookahead_ms=0.5, release_ms=1.0),
        dict(ceiling_db=0.0, lookahead_ms=20.0, release_ms=1000.0),
        dict(ceiling_db=-24.0, lookahead_ms=20.0, release_ms=1.0),
    ],
)
def test_finite_at_the_edges(params):
    x = torch.tensor(SIGNALS["drum transients"][..., :4000] * 30.0, requires_grad=True)
    quiet = torch.zeros(1, 2, 4000, dtype=torch.float64, requires_grad=True)
    for signal in (x, quiet):
        p = {k: torch.tensor([v], dtype=torch.float64, requires_grad=True) for k, v in params.items()}
        y = limiter(signal, FS, **p)
        assert torch.isfinite(y).all()
        y.square().sum().backward()
        assert torch.isfinite(signal.grad).all()
        assert all(torch.isfinite(v.grad).all() for k, v in p.items() if k != "lookahead_ms")
    assert true_peak_8x_db(limiter(x.detach(), FS, **params)) <= params["ceiling_db"] + 0.1


def test_bad_values_raise():
    x = torch.zeros(1, 2, 100)
    for bad in (dict(ceiling_db=0.5), dict(ceiling_db=-30.0), dict(lookahead_ms=0.1), dict(lookahead_ms=25.0),
                dict(release_ms=0.5), dict(release_ms=2000.0), dict(release_ms=float("nan")),
                dict(ceiling_db=torch.zeros(3))):
        with pytest.raises(ParameterError):
            limiter(x, FS, **bad)
    for bad in (dict(lookahead_ms=50.0), dict(threshold_db=-1.0)):
        with pytest.raises(ParameterError):
            limiter_latency(FS, **bad)
    _, state = limiter_step(x, FS, None, lookahead_ms=5.0)
    with pytest.raises(ParameterError):
        limiter_step(x, FS, state, lookahead_ms=10.0)  # a stream cannot change its latency


def test_parameter_table():
    assert LIMITER_PARAMS["ceiling_db"].default == -1.0
    assert LIMITER_PARAMS["lookahead_ms"].differentiable is False
    assert LIMITER_PARAMS["release_ms"].scale == "log"
