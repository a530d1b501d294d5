"""The streaming meter equals the offline measurements on the whole signal, for any block size."""

import numpy as np
import pytest
import torch

from mixdown.analysis import average_spectrum, measure_loudness
from mixdown.analysis.masking import masking_excitation
from mixdown.analysis.meter import StreamMeter
from mixdown.errors import AudioInputError

RATE = 44100


def _signals(seconds=6.0):
    g = torch.Generator().manual_seed(3)
    n = int(seconds * RATE)
    t = torch.arange(n) / RATE
    x = 0.1 * torch.randn(3, 2, n, generator=g)
    x[0] += 0.5 * torch.sin(2 * torch.pi * 100.0 * t)
    x[1, :, : n // 3] = 0.0  # a silent stretch: gating must leave it out
    x[2] *= torch.linspace(0.0, 1.0, n)  # a fade: loudness range
    return x


@pytest.mark.parametrize("block", [3001, 65536, 10 ** 6])
def test_streamed_measurements_equal_the_offline_ones(block):
    x = _signals()
    meter = StreamMeter(3, RATE)
    for start in range(0, x.shape[-1], block):
        meter.add(x[..., start:start + block])
    got = meter.finish()
    for report, expected in zip(got.loudness, measure_loudness(x, RATE)):
        assert report.integrated_lufs == pytest.approx(expected.integrated_lufs, abs=1e-6)
        assert report.loudness_range_lu == pytest.approx(expected.loudness_range_lu, abs=1e-6)
        assert np.allclose(report.short_term_lufs, expected.short_term_lufs, atol=1e-6)
        assert report.sample_peak_db == pytest.approx(expected.sample_peak_db, abs=1e-6)
        assert report.true_peak_db == pytest.approx(expected.true_peak_db, abs=0.05)
    centres, levels = average_spectrum(x, RATE)
    assert np.array_equal(got.spectrum_hz, centres) and np.allclose(got.spectrum_db, levels, atol=1e-4)
    excitation, bands, _ = masking_excitation(x, RATE)
    assert got.excitation.shape == excitation.shape and np.array_equal(got.masking_centres_hz, bands)
    assert torch.allclose(got.excitation, excitation, atol=1e-3)


def test_a_first_block_shorter_than_half_a_frame_is_refused():
    with pytest.raises(AudioInputError, match="first block"):
        StreamMeter(1, RATE).add(torch.zeros(1, 2, 100))
