"""Filters against scipy on the same coefficients, frequency responses against closed forms, the torch path."""

import numpy as np
import pytest
import scipy.signal
import torch

from mixdown.dsp.filters import EQ_BANDS, biquad_section, highpass, lowpass, parametric_eq
from mixdown.dsp.kernels import torch_path_only
from mixdown.dsp.kernels.biquad import sosfilt, sosfilt_block_energy, torch_sosfilt
from mixdown.errors import ParameterError

SR = 44100


def _noise(seconds=10.0, channels=2, batch=2, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((batch, channels, int(SR * seconds))).astype(np.float32) * 0.3)


def _scipy_reference(x: torch.Tensor, sos: torch.Tensor) -> np.ndarray:
    return np.stack([scipy.signal.sosfilt(sos[b].double().numpy(), x[b].double().numpy(), axis=-1) for b in range(x.shape[0])])


EQ_SETTINGS = {
    "low_shelf_gain_db": [6.0, -9.0], "low_shelf_freq_hz": [80.0, 300.0],
    "peak1_gain_db": [-4.0, 12.0], "peak1_freq_hz": [40.0, 250.0], "peak1_q": [4.0, 0.3],
    "peak2_gain_db": [3.0, -18.0], "peak2_q": [10.0, 1.0],
    "peak3_gain_db": [-6.0, 2.0], "peak4_gain_db": [18.0, -3.0], "peak4_freq_hz": [12000.0, 16000.0],
    "high_shelf_gain_db": [-3.0, 4.0], "high_shelf_q": [0.5, 2.0],
}


def _eq_sos(sample_rate=SR):
    params = {k: torch.tensor(v, dtype=torch.float64) for k, v in EQ_SETTINGS.items()}
    full = {}
    for band, kind, freq, _, _, q in EQ_BANDS:
        full[band] = biquad_section(
            kind,
            params.get(f"{band}_freq_hz", torch.full((2,), freq, dtype=torch.float64)),
            params.get(f"{band}_q", torch.full((2,), q, dtype=torch.float64)),
            params.get(f"{band}_gain_db", torch.zeros(2, dtype=torch.float64)),
            sample_rate,
        )
    return torch.stack(list(full.values()), 1), params


def test_parametric_eq_matches_scipy_within_1e4th_in_float32_over_10_s():
    x = _noise()
    sos, params = _eq_sos()
    y = parametric_eq(x, SR, **{k: v.float() for k, v in params.items()})
    assert y.dtype == torch.float32
    err = np.abs(y.numpy() - _scipy_reference(x, sos)).max()
    assert err < 1e-4, err


@pytest.mark.parametrize("slope", ["12", "24"])
@pytest.mark.parametrize("kind,cutoffs", [("highpass", [20.0, 1000.0]), ("lowpass", [300.0, 18000.0])])
def test_pass_filters_match_scipy_butterworth_within_1e4th(kind, cutoffs, slope):
    x = _noise()
    fn = highpass if kind == "highpass" else lowpass
    y = fn(x, SR, cutoff_hz=torch.tensor(cutoffs), slope_db_per_octave=slope)
    order = 2 if slope == "12" else 4
    for b, f in enumerate(cutoffs):
        ref = scipy.signal.sosfilt(scipy.signal.butter(order, f, kind.replace("pass", ""), fs=SR, output="sos"), x[b].double().numpy(), axis=-1)
        assert np.abs(y[b].numpy() - ref).max() < 1e-4


def test_eq_frequency_response_hits_the_requested_gains():
    single = biquad_section("peak", torch.tensor([1000.0]), torch.tensor([2.0]), torch.tensor([-7.5]), SR)
    _, h = scipy.signal.sosfreqz(single.double().numpy(), worN=[1000.0], fs=SR)
    assert 20 * np.log10(abs(h[0])) == pytest.approx(-7.5, abs=1e-4)
    shelf = biquad_section("high_shelf", torch.tensor([4000.0]), torch.tensor([0.707]), torch.tensor([6.0]), SR)
    _, h = scipy.signal.sosfreqz(shelf.double().numpy(), worN=[4000.0, 21000.0, 30.0], fs=SR)
    db = 20 * np.log10(np.abs(h))
    assert db[0] == pytest.approx(3.0, abs=0.01) and db[1] == pytest.approx(6.0, abs=0.1) and abs(db[2]) < 0.01


def test_eq_at_defaults_is_transparent():
    x = _noise(0.5)
    assert torch.allclose(parametric_eq(x, SR), x, atol=1e-6)


def test_torch_path_matches_the_numba_kernel_and_streams():
    x = _noise(1.0).double()
    sos, _ = _eq_sos()
    y, zf = sosfilt(x, sos)
    yt, zt = torch_sosfilt(x, sos)
    assert (y - yt).abs().max() < 1e-9 and (zf - zt).abs().max() < 1e-9
    y1, s = torch_sosfilt(x[..., :1000], sos)
    y2, _ = torch_sosfilt(x[..., 1000:], sos, s)
    assert (torch.cat([y1, y2], -1) - y).abs().max() < 1e-9


@pytest.mark.parametrize("torch_path", [False, True])
def test_block_energy_is_the_blockwise_sum_of_squares_of_the_filtered_signal(torch_path):
    x = _noise(1.0)  # float32 in, float64 sums out
    sos, _ = _eq_sos()
    block = 4410
    expected = _scipy_reference(x, sos)[..., : (x.shape[-1] // block) * block]
    expected = (expected**2).reshape(*expected.shape[:-1], -1, block).sum(-1)
    if torch_path:
        with torch_path_only():
            energy = sosfilt_block_energy(x, sos, block)
    else:
        energy = sosfilt_block_energy(x, sos, block)
    assert energy.dtype == torch.float64 and energy.shape == (2, 2, x.shape[-1] // block)
    # the kernel accumulates in float64; the torch path filters in the input's float32
    assert np.abs(energy.numpy() / expected - 1.0).max() < (1e-4 if torch_path else 1e-6)


def test_flat_bands_in_some_rows_are_skipped_exactly():
    # three mono rows (a pair and an odd row); band peak2 flat in rows 0 and 2, peak3 flat in row 1 only
    x = _noise(1.0, channels=1, batch=3).double()
    params = {"peak2_gain_db": torch.tensor([0.0, 6.0, 0.0]), "peak3_gain_db": torch.tensor([-4.0, 0.0, 3.0]),
              "peak2_freq_hz": torch.tensor([500.0, 800.0, 2000.0]), "low_shelf_gain_db": torch.tensor([2.0, 2.0, 0.0])}
    y = parametric_eq(x, SR, **params)
    for b in range(3):
        alone = parametric_eq(x[b : b + 1], SR, **{k: v[b : b + 1] for k, v in params.items()})
        assert torch.equal(y[b], alone[0])  # a flat band changes nothing, not even rounding
        sections = [biquad_section(kind, params.get(f"{band}_freq_hz", torch.tensor([float(f)] * 3))[b : b + 1],
                                   torch.tensor([q]), params[f"{band}_gain_db"][b : b + 1], SR)
                    for band, kind, f, _, _, q in EQ_BANDS if f"{band}_gain_db" in params and params[f"{band}_gain_db"][b] != 0]
        ref = scipy.signal.sosfilt(torch.cat(sections).numpy(), x[b, 0].numpy())
        assert np.abs(y[b, 0].numpy() - ref).max() < 1e-8


@pytest.mark.parametrize("batch,channels", [(1, 1), (3, 1), (1, 2), (3, 2)])
def test_kernel_streams_exactly_with_odd_and_even_rows(batch, channels):
    # rows are filtered two by two; an odd last row alone: both must carry their state between blocks
    x = _noise(0.1, channels=channels, batch=batch).double()
    sos = _eq_sos()[0][:1].expand(batch, -1, -1).contiguous()
    whole, _ = sosfilt(x, sos)
    state, blocks = None, []
    for start in range(0, x.shape[-1], 65):
        y, state = sosfilt(x[..., start : start + 65], sos, state)
        blocks.append(y)
    assert torch.equal(torch.cat(blocks, -1), whole)


def test_identity_sections_are_skipped_only_from_silence():
    x = _noise(0.2, channels=2, batch=2).double()
    sos = _eq_sos()[0][:, :3].clone()
    sos[0, 1] = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])  # identity in batch item 0 only
    y, zf = sosfilt(x, sos)
    assert np.abs(y.numpy() - _scipy_reference(x, sos)).max() < 1e-12
    assert torch.all(zf[0, :, 1] == 0)  # a skipped section's state stays silent
    state = torch.zeros(2, 2, 3, 2, dtype=torch.float64)
    state[0, :, 1, 0] = 0.5  # an identity section with a carried state rings out: it must run
    y2, _ = sosfilt(x, sos, state)
    assert torch.allclose(y2, torch_sosfilt(x, sos, state)[0], atol=1e-9)
    assert not torch.allclose(y2[0], y[0], atol=1e-3)


def test_block_energy_of_an_odd_number_of_rows():
    x = _noise(1.0, channels=1, batch=3)  # 3 rows: the kernel's last pair holds one row twice
    sos = _eq_sos()[0][:1].expand(3, -1, -1).contiguous()
    expected = _scipy_reference(x, sos)[..., : 10 * 4410]
    energy = sosfilt_block_energy(x, sos, 4410)
    assert np.abs(energy.numpy() / (expected**2).reshape(3, 1, 10, 4410).sum(-1) - 1.0).max() < 1e-6


def test_biquad_kernel_gradients_match_finite_differences_and_torch_autograd():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2, 200, generator=g, dtype=torch.float64, requires_grad=True)
    sos, _ = _eq_sos()
    sos = sos.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: sosfilt(a, b)[0], (x, sos))
    w = torch.randn(2, 2, 200, generator=g, dtype=torch.float64)
    ga = torch.autograd.grad((sosfilt(x, sos)[0] * w).sum(), (x, sos))
    gb = torch.autograd.grad((torch_sosfilt(x, sos)[0] * w).sum(), (x, sos))
    for a, b in zip(ga, gb):
        assert torch.allclose(a, b, atol=1e-9)


def test_frequencies_at_or_above_nyquist_are_refused():
    with pytest.raises(ParameterError, match="Nyquist"):
        lowpass(torch.zeros(1, 1, 10), 16000, cutoff_hz=9000.0)
    with pytest.raises(ParameterError, match="peak4_freq_hz"):
        parametric_eq(torch.zeros(1, 1, 10), 22050, peak4_freq_hz=12000.0)
