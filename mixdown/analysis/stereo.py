"""Stereo image measurements: L/R correlation, side/mid width, balance, and the spectral panning index per band.

Time-domain statistics are accumulated in float64 by a compiled kernel in one pass (no float64 copy of a long
session); the spectral panning index runs on the STFT of both channels, all tracks per FFT call.
:func:`spi_frames` gives its per-frame series (used by :mod:`mixdown.evaluate`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from mixdown.analysis.kernels import panning_frames, stereo_sums
from mixdown.analysis.spectral import KERNEL_CHUNK_ELEMENTS, as_batch, stft_chunks

__all__ = ["PANNING_BANDS_HZ", "spi_frames", "stereo_features"]

PANNING_BANDS_HZ = ((0.0, 22050.0), (0.0, 250.0), (250.0, 2500.0), (2500.0, 22050.0))
"""Bands of the panning features (FxNorm): all, low, mid, high; an upper edge beyond Nyquist stops at Nyquist."""
_N_FFT = 2048
_HOP = 1024


def stereo_features(x, sample_rate: float) -> dict:
    """Correlation, width, balance and spectral panning of stereo tracks.

    With ``L, R`` the channels, ``M = (L + R) / 2`` and ``S = (L - R) / 2``, over the whole signal:

    * ``correlation``: Pearson correlation of L and R, -1..1. When a channel has no variance (mono input,
      identical silent channels) it reads 1 if both channels are equal, else 0 (one channel silent: a hard-panned
      source has no measurable L/R relation).
    * ``width``: ``E[S^2] / E[M^2]`` (0 mono, 1 one channel only, inf for ``L = -R``; 0 for silence) and
      ``width_db`` = 10 log10 of it (-inf for mono).
    * ``balance``: ``(E[R^2] - E[L^2]) / (E[R^2] + E[L^2])``, -1 (left only) .. +1 (right only); 0 for silence.
    * Spectral panning index (Avendano 2003) per STFT bin (Hann 2048, hop 1024, no padding):
      ``SPI = (1 - 2|L R*| / (|L|^2 + |R|^2)) * sign(|R|^2 - |L|^2)``: 0 for a centred (or any equal-level)
      component, -1 hard left, +1 hard right; 0 in bins with no energy. Per band of :data:`PANNING_BANDS_HZ`
      (bins with ``lo <= f < hi``, the top band up to Nyquist):

      - ``spi_rms``: RMS of SPI over the band's bins per frame (FxNorm's panning feature, 0..1, sign lost),
        averaged over the frames where the band has energy (0 when it never has);
      - ``spi_mean``: energy-weighted mean SPI over bins and frames, -1..1 (where the band's energy sits).

    A mono (1-channel) input reads correlation 1, width 0 (-inf dB), balance 0, SPI 0.

    Args:
        x: numpy array or torch tensor, ``(channels, samples)`` or ``(batch, channels, samples)``, 1 or 2
            channels, at least 2048 samples.
        sample_rate: Hz, at least 8000.
    Returns:
        dict: ``correlation``, ``width``, ``width_db``, ``balance`` (floats for a 2-D input, ``(batch,)`` float64
        arrays for a 3-D input); ``spi_rms``, ``spi_mean`` (``(4,)`` or ``(batch, 4)``, bands in the order of
        :data:`PANNING_BANDS_HZ`).
    Raises:
        AudioInputError: wrong shape, more than 2 channels, shorter than 2048 samples.
        ParameterError: sample rate below 8000 Hz.

    Properties: not differentiable (measurement); batched; deterministic.

    References: C. Avendano, "Frequency-domain source identification and manipulation in stereo mixes for
    enhancement, suppression and re-panning applications", IEEE WASPAA 2003; M. A. Martinez-Ramirez et al.,
    "Automatic music mixing with deep learning and out-of-domain data", ISMIR 2022 (panning bands).
    """
    x_t, single = as_batch(x, "stereo_features", _N_FFT, sample_rate)
    if x_t.shape[1] == 1:
        x_t = x_t.expand(-1, 2, -1)  # mono is a centred stereo image; every formula then gives the stated values
    out = _time_domain(x_t)
    out.update(_panning(x_t, sample_rate))
    if single:
        return {name: (float(value[0]) if value.ndim == 1 else value[0]) for name, value in out.items()}
    return out


def _time_domain(x: torch.Tensor) -> dict:
    """Correlation, width and balance of ``(batch, 2, samples)`` from float64 sums of products."""
    e_l, e_r, e_lr, sum_l, sum_r = stereo_sums(x).unbind(-1)
    n = x.shape[-1]
    mean_l, mean_r = sum_l / n, sum_r / n
    var_l = (e_l / n - mean_l**2).clamp_min(0.0)  # rounding only
    var_r = (e_r / n - mean_r**2).clamp_min(0.0)
    covariance = e_lr / n - mean_l * mean_r
    defined = (var_l > 0) & (var_r > 0)
    equal = (e_l + e_r - 2.0 * e_lr).abs() <= 1e-12 * (e_l + e_r)  # E[(L - R)^2] == 0 up to rounding
    fallback = torch.where(equal, torch.ones_like(e_l), torch.zeros_like(e_l))
    correlation = torch.where(defined, covariance / torch.where(defined, var_l * var_r, 1.0).sqrt(), fallback)
    side = (e_l + e_r - 2.0 * e_lr).clamp_min(0.0) / 4.0
    mid = (e_l + e_r + 2.0 * e_lr).clamp_min(0.0) / 4.0
    width = torch.where(mid > 0, side / torch.where(mid > 0, mid, 1.0),
                        torch.where(side > 0, math.inf, 0.0))
    energy = e_l + e_r
    balance = torch.where(energy > 0, (e_r - e_l) / torch.where(energy > 0, energy, 1.0), 0.0)
    with np.errstate(divide="ignore"):
        width_db = 10.0 * np.log10(width.numpy())
    return {
        "correlation": correlation.clamp(-1.0, 1.0).numpy(),  # rounding can step just past +-1
        "width": width.numpy(),
        "width_db": width_db,
        "balance": balance.numpy(),
    }


def spi_frames(x, sample_rate: float) -> np.ndarray:
    """RMS of the spectral panning index over each band's bins, per frame (FxNorm's panning feature series).

    The per-frame values that :func:`stereo_features` averages into ``spi_rms``: SPI per bin as defined there
    (Hann 2048, hop 1024, no padding, frame ``k`` covers samples ``[k * 1024, k * 1024 + 2048)``), its RMS over
    the bins of each band of :data:`PANNING_BANDS_HZ`. Frames where a band has no energy read 0.

    Args:
        x: numpy array or torch tensor, ``(channels, samples)`` or ``(batch, channels, samples)``, 1 or 2
            channels, at least 2048 samples.
        sample_rate: Hz, at least 8000.
    Returns:
        float64 ``(frames, 4)`` for a 2-D input or ``(batch, frames, 4)`` for a 3-D input, ``frames = 1 +
        (samples - 2048) // 1024``, 0..1; bands in the order of :data:`PANNING_BANDS_HZ`.
    Raises:
        AudioInputError: wrong shape, more than 2 channels, shorter than 2048 samples.
        ParameterError: sample rate below 8000 Hz.

    Properties: not differentiable (measurement); batched; deterministic; a mono input reads 0.

    References: C. Avendano, WASPAA 2003; M. A. Martinez-Ramirez et al., ISMIR 2022 (see :func:`stereo_features`).
    """
    x_t, single = as_batch(x, "spi_frames", _N_FFT, sample_rate)
    if x_t.shape[1] == 1:
        x_t = x_t.expand(-1, 2, -1)
    rms = torch.cat([chunk[0] for chunk in _band_spi(x_t, sample_rate)], 1).numpy()
    return rms[0] if single else rms


def _band_spi(x: torch.Tensor, sample_rate: float) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per chunk of frames of ``(batch, 2, samples)``: ``(rms, band_energy, weighted)``, each ``(batch, frames,
    4)`` float64: RMS of SPI over the band's bins, the band's energy ``sum |L|^2 + |R|^2`` and ``sum SPI
    (|L|^2 + |R|^2)`` over its bins (a compiled kernel per frame, :func:`mixdown.analysis.kernels.panning_frames`)."""
    freqs = np.fft.rfftfreq(_N_FFT, 1.0 / sample_rate)
    nyquist = sample_rate / 2.0
    edges = []
    for lo, hi in PANNING_BANDS_HZ:  # bins lo <= f < hi, the top band up to and including Nyquist
        inside = np.flatnonzero((freqs >= lo) & ((freqs < hi) | ((hi >= nyquist) & (freqs <= nyquist))))
        edges.append((int(inside[0]), int(inside[-1]) + 1) if inside.size else (0, 0))
    for _, spectrum in stft_chunks(x.to(torch.float32), _N_FFT, _HOP, False, KERNEL_CHUNK_ELEMENTS):
        yield tuple(panning_frames(spectrum, edges))


def _panning(x: torch.Tensor, sample_rate: float) -> dict:
    """``spi_rms`` and ``spi_mean``, each ``(batch, 4)`` float64."""
    batch, bands = x.shape[0], len(PANNING_BANDS_HZ)
    rms_sum = torch.zeros(batch, bands, dtype=torch.float64)
    frame_count = torch.zeros(batch, bands, dtype=torch.float64)
    weighted = torch.zeros(batch, bands, dtype=torch.float64)
    energy_sum = torch.zeros(batch, bands, dtype=torch.float64)
    for rms, band_energy, band_weighted in _band_spi(x, sample_rate):
        active = band_energy > 0
        rms_sum += torch.where(active, rms, 0.0).sum(1).to(torch.float64)
        frame_count += active.sum(1).to(torch.float64)
        weighted += band_weighted.sum(1).to(torch.float64)
        energy_sum += band_energy.sum(1).to(torch.float64)
    spi_rms = torch.where(frame_count > 0, rms_sum / frame_count.clamp_min(1.0), 0.0)
    spi_mean = torch.where(energy_sum > 0, weighted / torch.where(energy_sum > 0, energy_sum, 1.0), 0.0)
    return {"spi_rms": spi_rms.numpy(), "spi_mean": spi_mean.numpy()}
