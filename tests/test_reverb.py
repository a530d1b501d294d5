"""Reverb: convolution against scipy, measured decay times, determinism, gradients, streaming, edges, errors."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from mixdown.dsp.registry import get_processor
from mixdown.dsp.reverb import (
    REVERB_PARAMS,
    _band_masks,
    reverb,
    reverb_impulse_response,
    reverb_step,
)
from mixdown.errors import AudioInputError, ParameterError

DECAYS = ("decay_low_s", "decay_lowmid_s", "decay_highmid_s", "decay_high_s")


def _params(dtype=torch.float64, **values):
    return {k: torch.tensor(v, dtype=dtype) for k, v in values.items()}


# Two items with different settings; fractional pre-delays (in samples) at every rate used below.
TWO = dict(
    decay_low_s=[0.31, 0.52], decay_lowmid_s=[0.27, 0.18], decay_highmid_s=[0.2, 0.44], decay_high_s=[0.13, 0.25],
    pre_delay_ms=[3.17, 0.0], mix=[1.0, 0.35], seed=[0, 77],
)


def test_registered_with_two_output_channels():
    proc = get_processor("reverb")
    assert proc.fn is reverb and proc.step is reverb_step and proc.output_channels == 2
    assert not REVERB_PARAMS["seed"].differentiable
    assert {p.name for p in REVERB_PARAMS.numeric} == {*DECAYS, "pre_delay_ms", "mix", "seed"}


@pytest.mark.parametrize("channels", [1, 2])
def test_output_is_dry_plus_linear_convolution_with_the_exposed_response(channels):
    sample_rate = 16000
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, channels, 12000, generator=g, dtype=torch.float64)
    params = _params(**TWO)
    y = reverb(x, sample_rate, **params)
    h = reverb_impulse_response(sample_rate, None, **{k: v for k, v in params.items() if k != "mix"}).numpy()
    assert y.shape == (2, 2, 12000)
    mono = x.mean(1).numpy()
    for b in range(2):
        mix = TWO["mix"][b]
        dry = x[b].expand(2, -1).numpy()
        for c in range(2):
            wet = scipy.signal.fftconvolve(mono[b], h[b, c])[: x.shape[-1]]
            assert np.abs(y[b, c].numpy() - ((1 - mix) * dry[c] + mix * wet)).max() < 1e-5


def test_short_signal_matches_direct_convolution_float32():
    x = torch.randn(1, 2, 700, generator=torch.Generator().manual_seed(2))
    y = reverb(x, 8000, decay_low_s=0.2, decay_high_s=0.1, pre_delay_ms=1.3, seed=5)
    h = reverb_impulse_response(8000, None, decay_low_s=0.2, decay_high_s=0.1, pre_delay_ms=1.3, seed=5).numpy()
    assert y.dtype == torch.float32
    for c in range(2):
        ref = np.convolve(x[0].double().mean(0).numpy(), h[0, c])[:700]
        assert np.abs(y[0, c].double().numpy() - ref).max() < 1e-5


def test_response_shape_support_and_unit_energy():
    sample_rate = 8000
    h = reverb_impulse_response(sample_rate, None, 0.3, 0.25, 0.2, 0.15, pre_delay_ms=12.34, seed=3)
    onset = 12.34 * sample_rate / 1000  # 98.72 samples
    assert h.shape == (1, 2, math.ceil(onset + 0.3 * sample_rate))
    assert torch.allclose(h.square().sum(-1), torch.ones(1, 2, dtype=torch.float64), atol=1e-12)
    assert (h[..., : math.ceil(onset)] == 0).all() and (h[..., math.ceil(onset) + 1 :].abs() > 0).any()
    padded = reverb_impulse_response(sample_rate, h.shape[-1] + 50, 0.3, 0.25, 0.2, 0.15, pre_delay_ms=12.34, seed=3)
    assert torch.equal(padded[..., : h.shape[-1]], h) and (padded[..., h.shape[-1] :] == 0).all()


def test_band_masks_are_complementary_and_split_at_the_crossovers():
    f = torch.arange(24001, dtype=torch.float64)  # 1 Hz grid: index = frequency
    masks = _band_masks(f)
    assert torch.allclose(masks.sum(0), torch.ones_like(f), atol=1e-14) and (masks >= -1e-15).all()
    for hz, band in [(100, 0), (500, 1), (2000, 2), (10000, 3)]:
        assert masks[band, hz] == pytest.approx(1.0)
    for hz, low in [(250, 0), (1000, 1), (4000, 2)]:  # -6 dB (amplitude 0.5) on each side at a crossover
        assert masks[low, hz] == pytest.approx(0.5) and masks[low + 1, hz] == pytest.approx(0.5)


def _schroeder_t60(rows, sample_rate):
    """Decay time from the backward-integrated energy (both channels summed), fitted from -5 to -35 dB."""
    edc = sum(np.cumsum(r[::-1] ** 2)[::-1] for r in rows)
    db = 10 * np.log10(edc / edc[0])
    start, stop = np.argmax(db <= -5), np.argmax(db <= -35)
    slope = np.polyfit(np.arange(start, stop) / sample_rate, db[start:stop], 1)[0]
    return -60.0 / slope


@pytest.mark.parametrize("decays", [(2.0, 1.4, 0.9, 0.5), (1.5, 0.6, 1.2, 0.4)])
def test_each_band_decays_in_its_own_time(decays):
    sample_rate = 44100
    h = reverb_impulse_response(sample_rate, None, *decays, pre_delay_ms=12.3, seed=0).numpy()[0]
    for (low, high), t60 in zip([(40, 160), (400, 630), (1600, 2500), (7000, 14000)], decays):
        sos = scipy.signal.butter(8, [low, high], "bandpass", fs=sample_rate, output="sos")
        measured = _schroeder_t60([scipy.signal.sosfilt(sos, row) for row in h], sample_rate)
        assert measured == pytest.approx(t60, rel=0.10), f"band {low}-{high} Hz"


def test_same_seed_same_bits_other_seed_other_noise_left_right_decorrelated():
    x = torch.randn(1, 1, 4000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    a = reverb(x, 16000, seed=11, decay_low_s=0.7)
    assert torch.equal(a, reverb(x, 16000, seed=11, decay_low_s=0.7))
    assert (a - reverb(x, 16000, seed=12, decay_low_s=0.7)).abs().max() > 0.01
    for seed in (0, 11, 2**24 - 1):
        h = reverb_impulse_response(16000, None, seed=seed).numpy()[0]
        assert abs(np.corrcoef(h[0], h[1])[0, 1]) < 0.1
        other = reverb_impulse_response(16000, None, seed=seed - 1 if seed else 1).numpy()[0]
        assert abs(np.corrcoef(h[0], other[0])[0, 1]) < 0.1


def test_items_are_independent_of_the_batch():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 2, 3000, generator=g, dtype=torch.float64)
    params = _params(**TWO)
    batched = reverb(x, 16000, **params)
    for i in range(2):
        single = reverb(x[i : i + 1], 16000, **{k: v[i : i + 1] for k, v in params.items()})
        assert (batched[i : i + 1] - single).abs().max() < 1e-12


def test_gradcheck_every_parameter_and_the_input():
    # 8 kHz keeps every band below Nyquist (the top one partly) and the responses around 1000 samples.
    sample_rate = 8000
    x = torch.randn(1, 2, 64, generator=torch.Generator().manual_seed(5), dtype=torch.float64).requires_grad_()
    values = _params(decay_low_s=[0.1234], decay_lowmid_s=[0.1111], decay_highmid_s=[0.1345], decay_high_s=[0.1017],
                     pre_delay_ms=[1.23], mix=[0.7])
    names = list(values)

    def f(x, *tensors):
        return reverb(x, sample_rate, seed=9, **dict(zip(names, tensors)))

    inputs = (x, *(v.requires_grad_() for v in values.values()))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-4)


def test_gradcheck_over_the_whole_response_fast_mode():
    # 1500 samples at 8 kHz cover the whole 0.1-0.15 s decays (and the pre-delay) in the output.
    x = torch.randn(1, 1, 1500, generator=torch.Generator().manual_seed(10), dtype=torch.float64).requires_grad_()
    values = _params(decay_low_s=[0.1432], decay_lowmid_s=[0.1211], decay_highmid_s=[0.1045], decay_high_s=[0.1317],
                     pre_delay_ms=[17.77], mix=[0.45])
    names = list(values)

    def f(x, *tensors):
        return reverb(x, 8000, seed=4, **dict(zip(names, tensors)))

    inputs = (x, *(v.requires_grad_() for v in values.values()))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-4, fast_mode=True)


def test_gradient_reaches_every_decay_through_a_longer_signal():
    x = torch.randn(1, 1, 3000, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    values = {k: v.requires_grad_() for k, v in _params(decay_low_s=[0.3], decay_lowmid_s=[0.25],
                                                          decay_highmid_s=[0.2], decay_high_s=[0.15],
                                                          pre_delay_ms=[2.5], mix=[0.8]).items()}
    reverb(x, 16000, **values).square().sum().backward()
    for name, v in values.items():
        assert v.grad.abs().item() > 0, name


@pytest.mark.parametrize("block, samples", [(1, 600), (65, 9000), (4097, 9000)])
def test_streaming_equals_offline(block, samples):
    sample_rate = 8000
    x = torch.randn(2, 2, samples, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    params = _params(**TWO)
    offline = reverb(x, sample_rate, **params)
    state, blocks = None, []
    for start in range(0, samples, block):
        y, state = reverb_step(x[..., start : start + block], sample_rate, state, **params)
        blocks.append(y)
    assert (torch.cat(blocks, -1) - offline).abs().max() < 1e-6


def test_streaming_with_uneven_blocks_and_changing_mix():
    sample_rate = 8000
    x = torch.randn(2, 1, 7000, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    params = _params(**{k: v for k, v in TWO.items() if k != "mix"})
    sizes = [3, 0, 64, 1, 129, 2500, 7, 4097]
    mixes = [0.2, 0.2, 1.0, 0.5, 0.0, 0.9, 0.3, 0.6]
    state, start = None, 0
    for size, mix in zip(sizes, mixes):
        y, state = reverb_step(x[..., start : start + size], sample_rate, state, mix=mix, **params)
        expected = reverb(x[..., : start + size], sample_rate, mix=mix, **params)[..., start:]
        assert y.shape == (2, 2, min(size, 7000 - start)) and torch.allclose(y, expected, rtol=0.0, atol=1e-6)
        start += size
    with pytest.raises(ParameterError, match="state=None"):
        reverb_step(x[..., :10], sample_rate, state, **{**params, "decay_low_s": 0.4})


@pytest.mark.parametrize("edge", ["min", "max"])
def test_range_edges_give_finite_output_and_gradients(edge):
    sample_rate = 2000  # a 10 s decay is 20000 samples
    values = {p.name: torch.tensor([p.min if edge == "min" else p.max], dtype=torch.float64, requires_grad=True)
              for p in REVERB_PARAMS.numeric if p.differentiable}
    x = torch.randn(1, 2, 500, generator=torch.Generator().manual_seed(9), dtype=torch.float64).requires_grad_()
    seed = REVERB_PARAMS["seed"].min if edge == "min" else REVERB_PARAMS["seed"].max
    y = reverb(x, sample_rate, seed=seed, **values)
    assert torch.isfinite(y).all()
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all() and all(torch.isfinite(v.grad).all() for v in values.values())
    if edge == "min":  # mix 0: the dry signal, exactly
        assert torch.equal(y, x.detach().expand(-1, 2, -1) * 1.0)


@pytest.mark.parametrize(
    "name, value", [("decay_low_s", 0.05), ("decay_lowmid_s", 10.5), ("decay_highmid_s", 0.0),
                    ("decay_high_s", float("nan")), ("pre_delay_ms", -1.0), ("pre_delay_ms", 201.0),
                    ("mix", 1.01), ("seed", -1), ("seed", 2**24)],
)
def test_bad_parameters_are_refused_by_name(name, value):
    x = torch.zeros(1, 2, 16, dtype=torch.float64)
    with pytest.raises(ParameterError, match=name):
        reverb(x, 8000, **{name: value})
    with pytest.raises(ParameterError, match=name):
        reverb_impulse_response(8000, None, **{name: value}) if name != "mix" else reverb_step(x, 8000, None, mix=value)


def test_bad_signals_and_sample_rates_are_refused():
    with pytest.raises(AudioInputError):
        reverb(torch.zeros(1, 3, 16), 8000)
    with pytest.raises(AudioInputError):
        reverb(torch.zeros(2, 16), 8000)
    with pytest.raises(ParameterError, match="sample rate"):
        reverb(torch.zeros(1, 2, 16), 0)
    with pytest.raises(ParameterError, match="shaped"):
        reverb(torch.zeros(2, 2, 16), 8000, decay_low_s=torch.ones(3))
