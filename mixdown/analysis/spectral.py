"""Spectral measurements: a long-term fractional-octave spectrum and per-frame descriptors (FxNorm's spectral set).

Both work on the mono mix ``(L + R) / 2`` of each track (a mean, not a sum, so identical channels read the level
of one channel) and on the whole batch at once. Frames are cut with ``unfold`` and transformed with
``torch.fft.rfft`` a few thousand frames at a time, so memory stays bounded for long sessions (16 tracks x 4 min)
while every track of the batch goes through the same FFT call.

This module also holds the input checks shared by :mod:`mixdown.analysis.stereo` and
:mod:`mixdown.analysis.dynamics`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np
import torch

from mixdown.analysis.kernels import spectral_descriptors
from mixdown.errors import AudioInputError, ParameterError

__all__ = ["CONTRAST_EDGES_HZ", "ROLLOFF_FRACTION", "average_spectrum", "frame_descriptors"]

ROLLOFF_FRACTION = 0.85
"""Share of the frame's summed magnitude below the roll-off frequency (librosa / FxNorm)."""
CONTRAST_EDGES_HZ = (0.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0)
"""Lower edges of the octave bands of spectral contrast (librosa's n_bands=6, fmin=200); the last ends at Nyquist."""
_CONTRAST_QUANTILE = 0.02  # share of a band's bins averaged for its peak and for its valley (librosa)
_FLATNESS_FLOOR = 1e-10  # power floor of spectral flatness (librosa's amin), so silence reads 1, not 0/0
_DESCRIPTORS = ("centroid", "bandwidth", "rolloff", "contrast", "flatness")  # the order of spectral_descriptors
_WELCH_N_FFT = 16384  # 2.7 Hz bins at 44.1 kHz, finer than the 4.6 Hz wide 1/3-octave band at 20 Hz
WELCH_N_FFT, WELCH_HOP = _WELCH_N_FFT, _WELCH_N_FFT // 2  # no overlap padding: frames start every hop
_MIN_SAMPLE_RATE = 8000.0
_FFT_ELEMENTS = 1 << 20  # frames x n_fft samples per FFT call (4 MB of float32: stays in cache)
KERNEL_CHUNK_ELEMENTS = 1 << 23  # frames x n_fft samples per chunk handed to a compiled kernel


def average_spectrum(x, sample_rate: float, bands_per_octave: int = 3, fmin: float = 20.0,
                     fmax: float = 20000.0) -> tuple[np.ndarray, np.ndarray]:
    """Long-term power spectrum of the mono mix, integrated into fractional-octave bands.

    Welch's method (Hann windows of 16384 samples, hop 8192, no padding) gives the mean one-sided power spectrum,
    scaled so that its sum is the signal's mean square; the power is then integrated over each band treating
    every bin as a constant density over its width (bands narrower than a bin get their share of it). So a band
    reads the mean square of the part of the signal inside it: a full-scale sine reads -3.01 dB in its band and
    pink noise reads the same level in every band.

    Bands have exact base-2 centres ``1000 * 2**(k / bands_per_octave)`` Hz and edges a half band either side;
    a band is kept when its centre lies within half a band of ``[fmin, fmax]`` (so 19.7 Hz, nominally "20 Hz",
    is kept for ``fmin=20``). An upper edge beyond Nyquist is cut at Nyquist.

    Args:
        x: numpy array or torch tensor, ``(channels, samples)`` or ``(batch, channels, samples)``, 1 or 2
            channels, full scale +-1, at least 16384 samples.
        sample_rate: Hz, at least 8000.
        bands_per_octave: 1, 3, 6, 12 or 24 ...: positive integer.
        fmin: Hz, > 0.
        fmax: Hz, above ``fmin`` and at most ``sample_rate / 2``.
    Returns:
        ``(centres_hz, level_db)``: ``(bands,)`` float64 centres in Hz, and band levels in dB re full-scale mean
        square, ``(bands,)`` for a 2-D input or ``(batch, bands)`` for a 3-D input; ``-inf`` for a silent band.
    Raises:
        AudioInputError: wrong shape, more than 2 channels, shorter than 16384 samples.
        ParameterError: sample rate, band count or frequency limits out of range.

    Properties: not differentiable (measurement); batched; deterministic.

    References: P. Welch, "The use of fast Fourier transform for the estimation of power spectra", IEEE Trans.
    Audio Electroacoust. 15(2), 1967; IEC 61260-1:2014 (fractional-octave bands, base-2 variant).
    """
    x_t, single = as_batch(x, "average_spectrum", _WELCH_N_FFT, sample_rate)
    _check_bands(bands_per_octave, fmin, fmax, sample_rate)
    power_sum = torch.zeros(x_t.shape[0], _WELCH_N_FFT // 2 + 1, dtype=torch.float64)
    n_frames = 0
    for _, spectrum in stft_chunks(mono(x_t), _WELCH_N_FFT, WELCH_HOP, center=False):
        power_sum += power(spectrum).sum(1).to(torch.float64)
        n_frames += spectrum.shape[1]
    centres, level_db = welch_bands(power_sum, n_frames, sample_rate, bands_per_octave, fmin, fmax)
    return centres, level_db[0] if single else level_db


def welch_bands(power_sum: torch.Tensor, n_frames: int, sample_rate: float, bands_per_octave: int = 3,
                fmin: float = 20.0, fmax: float = 20000.0) -> tuple[np.ndarray, np.ndarray]:
    """Fractional-octave band levels (dB, ``(batch, bands)``) from the sum over ``n_frames`` Welch frames
    (:data:`WELCH_N_FFT`, Hann) of the bin powers ``(batch, bins)``: the second half of :func:`average_spectrum`,
    shared with the streaming meter."""
    window = torch.hann_window(_WELCH_N_FFT, periodic=True, dtype=torch.float64)
    # Parseval: sum over all bins = mean square; one-sided: fold the negative frequencies.
    density = power_sum / (max(n_frames, 1) * _WELCH_N_FFT * window.square().sum())
    density[:, 1:-1] *= 2.0
    centres, lower, upper = _band_edges(bands_per_octave, fmin, fmax, sample_rate / 2.0)
    band_power = integrate_bands(density.numpy(), sample_rate / _WELCH_N_FFT, lower, upper)
    with np.errstate(divide="ignore"):
        return centres, 10.0 * np.log10(band_power)


def frame_descriptors(x, sample_rate: float, n_fft: int = 4096, hop_length: int = 1024) -> dict:
    """Per-frame spectral centroid, bandwidth, roll-off, flatness and contrast of the mono mix (FxNorm's set).

    Hann-windowed STFT, frames centred on ``k * hop_length`` (reflect padding, as ``torch.stft(center=True)``
    and librosa), magnitude ``S[f]`` per bin frequency ``f``:

    * ``centroid``  = sum f S / sum S, Hz.
    * ``bandwidth`` = sqrt(sum S (f - centroid)^2 / sum S), Hz.
    * ``rolloff``   = lowest bin frequency whose cumulative magnitude reaches 85 % of the frame's sum, Hz.
    * ``flatness``  = geometric / arithmetic mean of the power S^2 floored at 1e-10 (librosa), 0..1; complex
      white Gaussian noise reads exp(-Euler gamma) = 0.561 per frame, a sine about 0, digital silence 1.
    * ``contrast``  = mean over the 7 octave bands of :data:`CONTRAST_EDGES_HZ` of 20 log10(peak / valley), the
      means of the top and bottom 2 % of each band's magnitudes (librosa's algorithm, but in amplitude dB:
      librosa's ``power_to_db`` of magnitudes gives half these values), dB.

    Silent frames read 0 for centroid, bandwidth, roll-off and contrast.

    Args:
        x: numpy array or torch tensor, ``(channels, samples)`` or ``(batch, channels, samples)``, 1 or 2
            channels, at least ``n_fft`` samples.
        sample_rate: Hz, at least 8000.
        n_fft: frame length in samples, even, at least 256 (FxNorm: 4096).
        hop_length: samples between frames, 1..n_fft (FxNorm: 1024).
    Returns:
        dict of float64 arrays ``centroid``, ``bandwidth``, ``rolloff``, ``flatness``, ``contrast``, each
        ``(frames,)`` for a 2-D input or ``(batch, frames)`` for a 3-D input, ``frames = 1 + samples //
        hop_length``; and ``times_s``, ``(frames,)`` frame centres in seconds.
    Raises:
        AudioInputError: wrong shape, more than 2 channels, shorter than ``n_fft``.
        ParameterError: sample rate, ``n_fft`` or ``hop_length`` out of range.

    Properties: not differentiable (measurement); batched (one FFT call per chunk of frames for all tracks, then
    a compiled kernel per frame, :func:`mixdown.analysis.kernels.spectral_descriptors`); deterministic; float32
    spectra, float64 descriptors.

    References: D.-N. Jiang et al., "Music type classification by spectral contrast feature", ICME 2002;
    M. A. Martinez-Ramirez et al., "Automatic music mixing with deep learning and out-of-domain data",
    ISMIR 2022 (the feature set); B. McFee et al., librosa 0.10 (definitions of the descriptors).
    """
    if not (isinstance(n_fft, int) and n_fft >= 256 and n_fft % 2 == 0):
        raise ParameterError(f"frame_descriptors.n_fft: expected an even integer >= 256, found {n_fft!r}; "
                             f"fix: use 4096 (FxNorm)")
    if not (isinstance(hop_length, int) and 1 <= hop_length <= n_fft):
        raise ParameterError(f"frame_descriptors.hop_length: expected an integer in 1..n_fft ({n_fft}), found "
                             f"{hop_length!r}; fix: use n_fft // 4")
    x_t, single = as_batch(x, "frame_descriptors", n_fft, sample_rate)
    freqs = torch.fft.rfftfreq(n_fft, 1.0 / sample_rate, dtype=torch.float64)
    edges = _contrast_band_edges(freqs)
    # librosa's quantile count per band (Python's round, as librosa)
    counts = [max(1, round(_CONTRAST_QUANTILE * (hi - lo))) for lo, hi in itertools.pairwise(edges)]
    parts = [spectral_descriptors(spectrum, freqs, edges, counts, ROLLOFF_FRACTION, _FLATNESS_FLOOR**0.5)
             for _, spectrum in stft_chunks(mono(x_t), n_fft, hop_length, True, KERNEL_CHUNK_ELEMENTS)]
    values = torch.cat(parts, -1).numpy()  # (5, batch, frames)
    out = {name: value[0] if single else value for name, value in zip(_DESCRIPTORS, values)}
    out["times_s"] = np.arange(values.shape[-1]) * hop_length / sample_rate
    return out


def _contrast_band_edges(freqs: torch.Tensor) -> list[int]:
    """Bin edges ``[lo_0, ..., hi_last]`` of the contrast bands that start below Nyquist (bins ``lo <= f < hi``,
    the last to Nyquist); empty bands are dropped."""
    nyquist = float(freqs[-1])
    starts = [int(torch.searchsorted(freqs, edge)) for edge in CONTRAST_EDGES_HZ if edge < nyquist]
    edges = starts + [freqs.numel()]
    return [edges[0]] + [hi for lo, hi in itertools.pairwise(edges) if hi > lo]


def _band_edges(bands_per_octave: int, fmin: float, fmax: float,
                nyquist: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    half = 2.0 ** (0.5 / bands_per_octave)
    k_low = math.ceil(bands_per_octave * math.log2(fmin / half / 1000.0))
    k_high = math.floor(bands_per_octave * math.log2(fmax * half / 1000.0))
    centres = 1000.0 * 2.0 ** (np.arange(k_low, k_high + 1) / bands_per_octave)
    return centres, centres / half, np.minimum(centres * half, nyquist)


def integrate_bands(density: np.ndarray, bin_hz: float, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Band sums of ``(batch, bins)`` bin powers, each bin spread evenly over ``[(k - 1/2), (k + 1/2)] * bin_hz``
    (cut at 0 and Nyquist); ``(batch, bands)``."""
    n_bins = density.shape[-1]
    knots = np.concatenate([[0.0], (np.arange(n_bins - 1) + 0.5) * bin_hz, [(n_bins - 1) * bin_hz]])
    cumulative = np.concatenate([np.zeros((density.shape[0], 1)), np.cumsum(density, -1)], -1)

    def at(frequency: np.ndarray) -> np.ndarray:
        right = np.clip(np.searchsorted(knots, frequency, side="right"), 1, knots.size - 1)
        share = (frequency - knots[right - 1]) / (knots[right] - knots[right - 1])
        return cumulative[:, right - 1] + share * (cumulative[:, right] - cumulative[:, right - 1])

    return np.maximum(at(upper) - at(lower), 0.0)  # clamp only the cumsum rounding of silent bands


def _check_bands(bands_per_octave, fmin, fmax, sample_rate) -> None:
    if not (isinstance(bands_per_octave, int) and bands_per_octave >= 1):
        raise ParameterError(f"average_spectrum.bands_per_octave: expected a positive integer, found "
                             f"{bands_per_octave!r}; fix: use 1 (octaves) or 3 (third octaves)")
    if not (0.0 < fmin < fmax <= sample_rate / 2.0):
        raise ParameterError(f"average_spectrum: expected 0 < fmin < fmax <= sample_rate / 2 "
                             f"({sample_rate / 2.0:g} Hz), found fmin={fmin!r}, fmax={fmax!r}; "
                             f"fix: lower fmax to at most {sample_rate / 2.0:g}")


def power(spectrum: torch.Tensor) -> torch.Tensor:
    """``|X|^2`` of a complex tensor (4x faster than ``abs()``, which guards against overflow we cannot reach)."""
    return spectrum.real.square() + spectrum.imag.square()


def mono(x: torch.Tensor) -> torch.Tensor:
    """``(batch, channels, samples)`` -> float32 ``(batch, samples)`` mean over channels (a view of a float32
    mono input: no copy of a long session)."""
    x = x.to(torch.float32)
    return x[:, 0] if x.shape[1] == 1 else x.mean(1)


def stft_chunks(signal: torch.Tensor, n_fft: int, hop: int, center: bool,
                chunk_elements: int = _FFT_ELEMENTS) -> Iterator[tuple[int, torch.Tensor]]:
    """Hann-windowed one-sided spectra of ``(..., samples)``, yielded as ``(first_frame, (..., frames, bins))``
    chunks of about ``chunk_elements`` frame samples; ``center`` reflect-pads ``n_fft // 2`` each side like
    ``torch.stft(center=True)``. Differentiable (unfold and rfft).

    The FFT itself runs on pieces of :data:`_FFT_ELEMENTS`, whose windowed frames and spectra stay in the CPU
    cache (2-3x faster than one call on 8M values). Torch reductions over the spectra are fastest on chunks of
    that size too (the default); compiled kernels, which pay a fixed cost per call, ask for larger chunks, which
    are then filled piece by piece (without gradients; with gradients they come as pieces). Large chunks are
    views of one reused buffer: use each chunk before asking for the next."""
    if center:
        lead = signal.shape[:-1]
        signal = torch.nn.functional.pad(signal.reshape(-1, 1, signal.shape[-1]), (n_fft // 2, n_fft // 2),
                                         mode="reflect").reshape(*lead, -1)
    frames = signal.unfold(-1, n_fft, hop)
    window = torch.hann_window(n_fft, periodic=True, dtype=signal.dtype, device=signal.device)
    rows = max(1, math.prod(frames.shape[:-2]))
    piece = max(1, _FFT_ELEMENTS // (rows * n_fft))
    step = piece if signal.requires_grad else max(piece, chunk_elements // (rows * n_fft) // piece * piece)
    n_frames = frames.shape[-2]
    buffer = None
    for start in range(0, n_frames, step):
        stop = min(start + step, n_frames)
        if stop - start <= piece:
            yield start, torch.fft.rfft(frames[..., start:stop, :] * window)
            continue
        if buffer is None:  # one buffer for every large chunk: fresh 64 MB blocks would each fault in anew
            buffer = torch.empty(*frames.shape[:-2], step, n_fft // 2 + 1,
                                 dtype=torch.complex64 if signal.dtype == torch.float32 else torch.complex128)
        spectrum = buffer[..., : stop - start, :]
        for first in range(start, stop, piece):
            last = min(first + piece, stop)
            spectrum[..., first - start:last - start, :] = torch.fft.rfft(frames[..., first:last, :] * window)
        yield start, spectrum


def as_batch(x, function: str, min_samples: int, sample_rate: float) -> tuple[torch.Tensor, bool]:
    """Validate a feature function's input: ``x`` as a tensor ``(batch, channels, samples)`` and whether it came
    as one track. Raises AudioInputError (shape, channels, length) or ParameterError (sample rate)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3) or not x.is_floating_point():
        found = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise AudioInputError(
            f"{function}: expected a float array shaped (channels, samples) or (batch, channels, samples), "
            f"found {found}; fix: convert integer PCM to float in [-1, 1] and put channels first"
        )
    single = x.dim() == 2
    x = (x[None] if single else x).detach().cpu()
    if x.shape[1] not in (1, 2):
        raise AudioInputError(
            f"{function}: expected 1 or 2 channels (channels first), found {x.shape[1]} in shape "
            f"{tuple(x.shape)}; fix: transpose a (samples, channels) array with x.T"
        )
    if not (isinstance(sample_rate, (int, float)) and math.isfinite(sample_rate)
            and sample_rate >= _MIN_SAMPLE_RATE):
        raise ParameterError(f"{function}.sample_rate: expected at least {_MIN_SAMPLE_RATE:g} Hz, found "
                             f"{sample_rate!r}; fix: pass the file's sample rate in Hz")
    if x.shape[-1] < min_samples:
        raise AudioInputError(
            f"{function}: expected at least {min_samples} samples ({min_samples / sample_rate * 1000:.0f} ms at "
            f"{sample_rate:g} Hz), found {x.shape[-1]}; fix: measure a longer excerpt"
        )
    return x, single
