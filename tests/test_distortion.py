"""Distortion: closed form (tanh + Butterworth via scipy), level compensation, mix, gradients, streaming, edges."""

import numba
import numpy as np
import pytest
import torch
from scipy.signal import butter, sosfilt

from mixdown.dsp.distortion import DISTORTION_PARAMS, REFERENCE_AMPLITUDE, distortion, distortion_step, tone_sos
from mixdown.dsp.registry import get_processor
from mixdown.errors import ParameterError

FS = 44100


def reference(x: np.ndarray, sample_rate, drive_db, tone_hz, mix) -> np.ndarray:
    """The documented formula, written out with numpy and scipy."""
    g = 10 ** (drive_db / 20)
    shaped = np.tanh(g * x) * REFERENCE_AMPLITUDE / np.tanh(g * REFERENCE_AMPLITUDE)
    wet = sosfilt(butter(2, tone_hz, fs=sample_rate, output="sos"), shaped, axis=-1)
    return (1 - mix) * x + mix * wet


@pytest.mark.parametrize("drive_db, tone_hz, mix", [(0.0, 20000.0, 1.0), (12.0, 8000.0, 1.0), (48.0, 500.0, 0.3)])
def test_matches_the_closed_form(drive_db, tone_hz, mix):
    x = np.random.default_rng(0).standard_normal((2, 2, 3000)) * 0.3
    y = distortion(torch.tensor(x), FS, drive_db=drive_db, tone_hz=tone_hz, mix=mix).numpy()
    np.testing.assert_allclose(y, reference(x, FS, drive_db, tone_hz, mix), rtol=0, atol=1e-10)


def test_small_signals_see_a_linear_gain():
    t = np.arange(4000) / FS
    x = 1e-5 * np.sin(2 * np.pi * 440 * t)[None, None]
    for drive_db in (0.0, 24.0, 48.0):
        g = 10 ** (drive_db / 20)
        small_signal_gain = g * REFERENCE_AMPLITUDE / np.tanh(g * REFERENCE_AMPLITUDE)  # tanh(u) ~ u
        y = distortion(torch.tensor(x), FS, drive_db=drive_db, tone_hz=20000.0).numpy()
        linear = sosfilt(butter(2, 20000.0, fs=FS, output="sos"), small_signal_gain * x, axis=-1)
        np.testing.assert_allclose(y, linear, rtol=0, atol=1e-5 * np.abs(linear).max())


@pytest.mark.parametrize("drive_db", [0.0, 12.0, 24.0, 48.0])
def test_reference_level_keeps_its_peak(drive_db):
    """The compensation: a -18 dBFS sine peaks at -18 dBFS after the shaper, whatever the drive."""
    t = np.arange(FS // 4) / FS
    x = torch.tensor(REFERENCE_AMPLITUDE * np.sin(2 * np.pi * 100 * t))[None, None]
    y = distortion(x, FS, drive_db=drive_db, tone_hz=20000.0).numpy()
    peak_db = 20 * np.log10(np.abs(y[..., FS // 8 :]).max())
    assert peak_db == pytest.approx(-18.0, abs=0.1)


def test_tone_filter_matches_scipy_on_the_same_coefficients():
    sos = tone_sos(torch.tensor([500.0, 8000.0, 20000.0], dtype=torch.float64), FS)
    for i, f in enumerate((500.0, 8000.0, 20000.0)):
        np.testing.assert_allclose(sos[i].numpy(), butter(2, f, fs=FS, output="sos"), rtol=0, atol=1e-12)
    x = np.random.default_rng(1).standard_normal((3, 2, 5000)).astype(np.float32) * 0.5
    drive_db = 6.0
    y = distortion(torch.tensor(x), FS, drive_db=drive_db, tone_hz=torch.tensor([500.0, 8000.0, 20000.0])).numpy()
    g = 10 ** (drive_db / 20)
    shaped = np.tanh(g * x.astype(np.float64)) * REFERENCE_AMPLITUDE / np.tanh(g * REFERENCE_AMPLITUDE)
    for i in range(3):
        expected = sosfilt(sos[i].numpy(), shaped[i], axis=-1)
        np.testing.assert_allclose(y[i], expected, rtol=0, atol=1e-4)


def test_mix_zero_is_identity():
    x = torch.randn(2, 2, 1000) * 3.0
    for drive_db in (0.0, 48.0):
        assert torch.equal(distortion(x, FS, drive_db=drive_db, mix=0.0), x)


@pytest.mark.parametrize("block", [1, 65, 4097])
def test_streaming_equals_offline(block):
    n = 600 if block == 1 else 9000
    x = torch.tensor(np.random.default_rng(2).standard_normal((2, 2, n)))
    params = dict(drive_db=torch.tensor([3.0, 30.0], dtype=torch.float64), tone_hz=2000.0, mix=0.8)
    offline = distortion(x, FS, **params)
    state, blocks = None, []
    for start in range(0, n, block):
        y, state = distortion_step(x[..., start : start + block], FS, state, **params)
        blocks.append(y)
    assert (torch.cat(blocks, -1) - offline).abs().max().item() <= 1e-6


def test_gradcheck_every_parameter():
    previous = numba.get_num_threads()
    numba.set_num_threads(1)  # hundreds of tiny kernel calls: a thread pool only adds wake-up time
    try:
        torch.manual_seed(0)
        x = (torch.randn(1, 2, 128, dtype=torch.float64) * 0.5).requires_grad_()
        params = [torch.tensor([v], dtype=torch.float64, requires_grad=True) for v in (18.0, 1500.0, 0.6)]

        def f(x, drive_db, tone_hz, mix):
            return distortion(x, 8000, drive_db=drive_db, tone_hz=tone_hz, mix=mix)

        assert torch.autograd.gradcheck(f, (x, *params))
    finally:
        numba.set_num_threads(previous)


@pytest.mark.parametrize("drive_db", [0.0, 48.0])
@pytest.mark.parametrize("tone_hz", [500.0, 20000.0])
@pytest.mark.parametrize("mix", [0.0, 1.0])
def test_finite_at_the_edges(drive_db, tone_hz, mix):
    x = torch.tensor(np.random.default_rng(3).standard_normal((1, 2, 2000)) * 4.0, requires_grad=True)
    p = [torch.tensor([v], dtype=torch.float64, requires_grad=True) for v in (drive_db, tone_hz, mix)]
    y = distortion(x, FS, drive_db=p[0], tone_hz=p[1], mix=p[2])
    assert torch.isfinite(y).all()
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all() and all(torch.isfinite(v.grad).all() for v in p)


def test_bad_values_raise():
    x = torch.zeros(1, 2, 100)
    for bad in (dict(drive_db=-1.0), dict(drive_db=60.0), dict(tone_hz=100.0), dict(tone_hz=30000.0),
                dict(mix=1.5), dict(mix=float("nan")), dict(drive_db=torch.zeros(2))):
        with pytest.raises(ParameterError):
            distortion(x, FS, **bad)
    with pytest.raises(ParameterError):
        distortion(x, 32000, tone_hz=20000.0)  # valid in the table, but above Nyquist at 32 kHz
    with pytest.raises(ParameterError):
        distortion_step(x, FS, torch.zeros(1, 1, 1, 2, dtype=torch.float64))  # state of a mono stream


def test_registered():
    processor = get_processor("distortion")
    assert processor.fn is distortion and processor.step is distortion_step and processor.latency is None
    assert DISTORTION_PARAMS["tone_hz"].scale == "log" and DISTORTION_PARAMS["mix"].default == 1.0
