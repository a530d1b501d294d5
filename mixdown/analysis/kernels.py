"""Compiled kernels of the measurements: per-block energy and peak, and the per-frame spectral descriptors.

Both replace chains of whole-array torch operations (each one a pass over memory and a full-size temporary) with
one pass per block or per frame that stays in the CPU cache: analysing 16 tracks x 4 minutes moves gigabytes
through memory otherwise. Measurements only: no gradients.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

from mixdown.dsp.kernels import small_work_single_thread
from mixdown.dsp.kernels.biquad import flush_states, section_step

__all__ = ["block_energy_and_peak", "filtered_segment_energy", "panning_frames", "spectral_descriptors",
           "stereo_sums"]

_LOG_GROUP = 32  # magnitudes multiplied before one log: floored at 1e-5 and below ~1e4, 32 of them stay finite


@numba.njit(parallel=True, cache=True)
def _block_kernel(x, block, energy, peak):  # pragma: no cover - compiled
    rows = x.shape[0]
    n_blocks = energy.shape[1]
    for job in numba.prange(rows * n_blocks):
        r, k = job // n_blocks, job % n_blocks
        total = 0.0
        top = 0.0
        for n in range(k * block, (k + 1) * block):
            v = np.float64(x[r, n])
            total += v * v
            top = max(top, abs(v))
        energy[r, k] = total
        peak[r, k] = top


def block_energy_and_peak(x: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed square and absolute peak of each complete block of samples.

    Args:
        x: ``(batch, channels, samples)`` float32 or float64 CPU tensor.
        block: samples per block, positive.
    Returns:
        ``(energy, peak)``: float64 ``(batch, channels, samples // block)`` each; the incomplete last block is
        dropped.

    Properties: not differentiable; batched (parallel over rows and blocks); deterministic (float64 sums).
    """
    batch, channels, n_samples = x.shape
    n_blocks = n_samples // block
    x_np = x.detach().contiguous().reshape(batch * channels, n_samples).numpy()
    energy = np.empty((batch * channels, n_blocks))
    peak = np.empty((batch * channels, n_blocks))
    with small_work_single_thread(x_np.size):
        _block_kernel(x_np, block, energy, peak)
    shape = (batch, channels, n_blocks)
    return torch.from_numpy(energy).reshape(shape), torch.from_numpy(peak).reshape(shape)


# Reordering of sums (so they vectorise) but IEEE infinities and NaN kept: silence and floors stay exact.
_FAST = {"reassoc", "contract", "nsz", "arcp"}


@numba.njit(inline="always", cache=True)
def _sift_down(heap, i, size):  # pragma: no cover - compiled
    """Restore the min-heap property of ``heap[:size]`` below position ``i``."""
    while True:
        child = 2 * i + 1
        if child >= size:
            return
        if child + 1 < size and heap[child + 1] < heap[child]:
            child += 1
        if heap[i] <= heap[child]:
            return
        heap[i], heap[child] = heap[child], heap[i]
        i = child


@numba.njit(cache=True)
def _top_mean(values, count, heap):  # pragma: no cover - compiled
    """Mean of the ``count`` largest ``values``: one pass keeping them in a min-heap, O(n) compares when few
    values replace its root (a spectrum falling with frequency, scanned upwards, replaces almost none)."""
    for j in range(count):
        heap[j] = values[j]
    for i in range(count // 2 - 1, -1, -1):
        _sift_down(heap, i, count)
    root = heap[0]
    for j in range(count, values.size):
        if values[j] > root:
            heap[0] = values[j]
            _sift_down(heap, 0, count)
            root = heap[0]
    return heap[:count].sum() / count


@numba.njit(parallel=True, cache=True, fastmath=_FAST)
def _descriptor_kernel(spectrum, freqs, band_edges, band_counts, rolloff_fraction, flatness_floor,
                       out):  # pragma: no cover - compiled
    n_rows, n_frames, n_bins = spectrum.shape[0], spectrum.shape[1], spectrum.shape[2]
    n_bands = band_counts.size
    for job in numba.prange(n_rows * n_frames):
        r, t = job // n_frames, job % n_frames
        frame = spectrum[r, t]
        magnitude = np.empty(n_bins)
        heap = np.empty(band_counts.max())
        for k in range(n_bins):
            magnitude[k] = math.sqrt(np.float64(frame[k, 0]) ** 2 + np.float64(frame[k, 1]) ** 2)
        total = 0.0
        weighted = 0.0
        square_sum = 0.0
        for k in range(n_bins):
            m = magnitude[k]
            total += m
            weighted += freqs[k] * m
            floored = max(m, flatness_floor)
            square_sum += floored * floored
        log_sum = 0.0
        for group in range(0, n_bins, _LOG_GROUP):
            product = 1.0
            for k in range(group, min(group + _LOG_GROUP, n_bins)):
                product *= max(magnitude[k], flatness_floor)
            log_sum += math.log(product)
        # geometric / arithmetic mean of the floored power
        out[4, r, t] = math.exp(2.0 * log_sum / n_bins) / (square_sum / n_bins)
        if total <= 0.0:  # a silent frame: centroid, bandwidth, roll-off and contrast read 0
            out[0, r, t] = out[1, r, t] = out[2, r, t] = out[3, r, t] = 0.0
            continue
        centroid = weighted / total
        spread = 0.0
        for k in range(n_bins):
            spread += magnitude[k] * (freqs[k] - centroid) ** 2
        target = rolloff_fraction * total
        cumulative = 0.0
        below = n_bins - 1  # rounding of the running sum can leave the target unreached
        for k in range(n_bins):
            cumulative += magnitude[k]
            if cumulative >= target:
                below = k
                break
        contrast = 0.0
        for b in range(n_bands):
            lo, hi = band_edges[b], band_edges[b + 1]
            peak = _top_mean(magnitude[lo:hi], band_counts[b], heap)
            # the smallest are the largest negated; scanned from the top of the band down, where they sit
            valley = -_top_mean(-magnitude[lo:hi][::-1], band_counts[b], heap)
            if valley > 0.0 and peak > 0.0:  # a band with no energy (or only in its top 2 %) reads 0 dB
                contrast += 20.0 * math.log10(peak / valley)
        out[0, r, t] = centroid
        out[1, r, t] = math.sqrt(spread / total)
        out[2, r, t] = freqs[below]
        out[3, r, t] = contrast / n_bands


def spectral_descriptors(spectrum: torch.Tensor, freqs: torch.Tensor, band_edges: list[int],
                         band_counts: list[int], rolloff_fraction: float, flatness_floor: float) -> torch.Tensor:
    """Centroid, bandwidth, roll-off, contrast and flatness of each frame of a one-sided complex spectrum.

    Definitions are those of :func:`mixdown.analysis.frame_descriptors` (which documents them); this is its
    compiled inner loop: one pass over each frame's magnitudes for the sums, one for the spread and the roll-off,
    and a bounded heap per contrast band for its top and bottom ``count`` magnitudes.

    Args:
        spectrum: complex64 ``(rows, frames, bins)``.
        freqs: ``(bins,)`` bin frequencies, Hz.
        band_edges: contrast bands as bin indices ``[lo_0, lo_1, ..., hi_last]`` (band ``b`` is
            ``lo_b <= k < lo_{b+1}``).
        band_counts: per band, how many magnitudes its peak and its valley average.
        rolloff_fraction: share of the summed magnitude below the roll-off.
        flatness_floor: magnitude floor of the flatness (the square root of the power floor).
    Returns:
        float64 ``(5, rows, frames)``: centroid (Hz), bandwidth (Hz), roll-off (Hz), contrast (dB), flatness.

    Properties: not differentiable; parallel over frames; deterministic.
    """
    rows, frames, _ = spectrum.shape
    out = np.empty((5, rows, frames))
    with small_work_single_thread(spectrum.numel()):
        _descriptor_kernel(torch.view_as_real(spectrum.contiguous()).numpy(), freqs.to(torch.float64).numpy(),
                           np.asarray(band_edges, np.int64), np.asarray(band_counts, np.int64),
                           rolloff_fraction, flatness_floor, out)
    return torch.from_numpy(out)


@numba.njit(parallel=True, cache=True, fastmath=_FAST)
def _panning_kernel(spectrum, band_edges, out):  # pragma: no cover - compiled
    n_rows, n_frames, n_bins = spectrum.shape[0], spectrum.shape[2], spectrum.shape[3]
    n_bands = band_edges.shape[0]
    for job in numba.prange(n_rows * n_frames):
        r, t = job // n_frames, job % n_frames
        spi = np.empty(n_bins)
        energy = np.empty(n_bins)
        for k in range(n_bins):
            left = np.float64(spectrum[r, 0, t, k, 0]) ** 2 + np.float64(spectrum[r, 0, t, k, 1]) ** 2
            right = np.float64(spectrum[r, 1, t, k, 0]) ** 2 + np.float64(spectrum[r, 1, t, k, 1]) ** 2
            total = left + right
            energy[k] = total
            if total > 0.0:
                # |L R*| = |L| |R|; the similarity is <= 1 (AM-GM), the max only catches rounding
                similarity = 2.0 * math.sqrt(left * right) / total
                side = 1.0 if right > left else (-1.0 if right < left else 0.0)
                spi[k] = max(1.0 - similarity, 0.0) * side
            else:
                spi[k] = 0.0
        for b in range(n_bands):
            lo, hi = band_edges[b, 0], band_edges[b, 1]
            square_sum = 0.0
            band_energy = 0.0
            weighted = 0.0
            for k in range(lo, hi):
                square_sum += spi[k] * spi[k]
                band_energy += energy[k]
                weighted += spi[k] * energy[k]
            out[0, r, t, b] = math.sqrt(square_sum / max(hi - lo, 1))
            out[1, r, t, b] = band_energy
            out[2, r, t, b] = weighted


def panning_frames(spectrum: torch.Tensor, band_edges: list[tuple[int, int]]) -> torch.Tensor:
    """Per frame and band: RMS of the spectral panning index over the band's bins, the band's energy and its
    SPI-weighted energy (definitions in :func:`mixdown.analysis.stereo_features`).

    Args:
        spectrum: complex64 ``(rows, 2, frames, bins)``, left and right one-sided spectra.
        band_edges: per band its bins ``(lo, hi)``, ``lo <= k < hi``; bands may overlap.
    Returns:
        float64 ``(3, rows, frames, bands)``: SPI RMS (0..1), ``sum |L|^2 + |R|^2`` and
        ``sum SPI (|L|^2 + |R|^2)`` over the band's bins.

    Properties: not differentiable; parallel over frames; deterministic.
    """
    rows, _, frames, _ = spectrum.shape
    out = np.empty((3, rows, frames, len(band_edges)))
    with small_work_single_thread(spectrum.numel()):
        _panning_kernel(torch.view_as_real(spectrum.contiguous()).numpy(), np.asarray(band_edges, np.int64), out)
    return torch.from_numpy(out)


_SEGMENT = 1 << 16  # samples per job of the stereo sums: many jobs even for one track, on any core count


@numba.njit(parallel=True, cache=True)
def _stereo_sums_kernel(x, channels, out):  # pragma: no cover - compiled
    n_batch, n_segments = out.shape[0], out.shape[1]
    n_samples = x.shape[1]
    for job in numba.prange(n_batch * n_segments):
        b, k = job // n_segments, job % n_segments
        left, right = b * channels, b * channels + channels - 1  # a mono row is both channels
        e_l = e_r = e_lr = s_l = s_r = 0.0
        for n in range(k * _SEGMENT, min((k + 1) * _SEGMENT, n_samples)):
            xl = np.float64(x[left, n])
            xr = np.float64(x[right, n])
            e_l += xl * xl
            e_r += xr * xr
            e_lr += xl * xr
            s_l += xl
            s_r += xr
        out[b, k, 0], out[b, k, 1], out[b, k, 2], out[b, k, 3], out[b, k, 4] = e_l, e_r, e_lr, s_l, s_r


def stereo_sums(x: torch.Tensor) -> torch.Tensor:
    """Sums over time of ``L^2, R^2, L R, L, R`` per track, in float64, in one pass over the signal.

    Args:
        x: ``(batch, channels, samples)`` CPU tensor, 1 channel (read as L = R) or 2.
    Returns:
        float64 ``(batch, 5)``.

    Properties: not differentiable; parallel over tracks and stretches of 65536 samples (summed in a fixed
    order: deterministic).
    """
    batch, channels, n_samples = x.shape
    if channels == 2 and x.stride(1) == 0:  # an expanded mono signal: read its one row
        x, channels = x[:, :1], 1
    x_np = x.detach().contiguous().reshape(batch * channels, n_samples).numpy()
    out = np.empty((batch, max(1, -(-n_samples // _SEGMENT)), 5))
    with small_work_single_thread(x_np.size):
        _stereo_sums_kernel(x_np, channels, out)
    return torch.from_numpy(out).sum(1)


@numba.njit(parallel=True, cache=True, fastmath=False)
def _segment_energy_kernel(x, sos, ends, zi, zf, out):  # pragma: no cover - compiled
    rows = x.shape[0]
    n_sections = sos.shape[0]
    for r in numba.prange(rows):
        z1 = np.empty(n_sections)
        z2 = np.empty(n_sections)
        for s in range(n_sections):
            z1[s] = zi[r, s, 0]
            z2[s] = zi[r, s, 1]
        start = 0
        for k in range(ends.size):
            energy = 0.0
            for n in range(start, ends[k]):
                flush_states(n, z1, z2)
                v = np.float64(x[r, n])
                for s in range(n_sections):
                    v = section_step(sos, z1, z2, s, v)
                energy += v * v
            out[r, k] = energy
            start = ends[k]
        for s in range(n_sections):
            zf[r, s, 0] = z1[s]
            zf[r, s, 1] = z2[s]


def filtered_segment_energy(x: torch.Tensor, sos: np.ndarray, ends: np.ndarray,
                            state: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Energy of ``x`` filtered by one cascade, per segment, carrying the filter state: what a streaming
    loudness meter needs, in one pass without the filtered signal.

    Args:
        x: ``(rows, samples)`` float32 or float64 (every row through the same filter).
        sos: ``(sections, 6)`` float64, normalised (``a0 == 1``).
        ends: int64 ``(segments,)`` increasing segment end positions, the last one ``samples``.
        state: ``(rows, sections, 2)`` float64 from the previous block, or None for silence.
    Returns:
        ``(energies, state)``: float64 ``(rows, segments)`` sums of squares, and the state after the block.
    """
    rows = x.shape[0]
    zi = np.zeros((rows, sos.shape[0], 2)) if state is None else state
    zf = np.empty_like(zi)
    out = np.empty((rows, ends.size))
    x_np = x.detach().contiguous().numpy()
    with small_work_single_thread(x_np.size):
        _segment_energy_kernel(x_np, np.ascontiguousarray(sos, np.float64), ends.astype(np.int64), zi, zf, out)
    return out, zf
