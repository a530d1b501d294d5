"""Time alignment of a mix with its reference, and the loudness match of the mix.

Procedure (used by :func:`mixdown.evaluate.compare`):

1. Mono mixes ``(L + R) / 2`` of both signals; their cross-correlation ``c[lag] = sum_n mix[n + lag] ref[n]``
   by FFT (``scipy.signal.correlate(method="fft")``), ``n`` running over the central 30 s of the reference
   (:data:`CORRELATION_EXCERPT_S`; all of it when shorter), so every lag sums over the same reference samples.
2. The lag is the argmax of ``c`` over ``|lag| <= max_lag_s`` (an integer number of samples; 0 when ``c`` is
   zero there, e.g. for silence). A positive lag means the mix is late (reference ``n`` is mix ``n + lag``).
3. Both signals are trimmed to their common overlap: ``mix[start_mix : start_mix + n]`` and
   ``ref[start_ref : start_ref + n]`` with ``start_mix = max(lag, 0)``, ``start_ref = max(-lag, 0)``.
4. ``correlation`` reports the peak normalised over the overlap, ``sum m r / sqrt(sum m^2 sum r^2)`` of the
   trimmed mono mixes: 1 for a delayed copy, ~0 for unrelated signals.

The loudness match (:func:`match_loudness`) then scales the aligned mix by ``L_ref - L_mix`` dB of BS.1770-4
integrated loudness (:func:`mixdown.analysis.loudness.measure_loudness`), for the comparisons that must not
depend on level.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.signal
import torch

from mixdown.analysis.loudness import LoudnessReport
from mixdown.analysis.spectral import as_batch, mono
from mixdown.errors import AudioInputError, ParameterError

__all__ = ["CORRELATION_EXCERPT_S", "DEFAULT_MAX_LAG_S", "MIN_DURATION_S", "Alignment", "align", "align_tensors",
           "as_stereo", "match_loudness", "trim"]

DEFAULT_MAX_LAG_S = 2.0
MIN_DURATION_S = 1.0
"""Shortest input and shortest overlap compared: the feature frames need a few dozen hops of 1024 samples."""
CORRELATION_EXCERPT_S = 30.0
"""Length of the reference excerpt correlated against the mix: enough music to find a lag, and a 4-minute pair
needs one ~3M-point FFT instead of a 21M-point one (0.1 s instead of 1.5 s on 2 cores)."""


@dataclasses.dataclass(frozen=True)
class Alignment:
    """Where the mix sits against the reference.

    Attributes:
        lag_samples: integer lag, samples; positive when the mix is late: reference sample ``n`` matches mix
            sample ``n + lag``.
        lag_s: the lag in seconds.
        correlation: normalised correlation of the aligned mono mixes over the overlap, -1..1.
        overlap_samples: length of both trimmed signals, samples.
        mix_start: first sample of the mix kept.
        reference_start: first sample of the reference kept.
    """

    lag_samples: int
    lag_s: float
    correlation: float
    overlap_samples: int
    mix_start: int
    reference_start: int


def as_stereo(x, name: str, sample_rate: float) -> torch.Tensor:
    """Validate one signal ``(channels, samples)``, 1 or 2 channels, at least :data:`MIN_DURATION_S`, finite;
    return it as a float32 ``(2, samples)`` tensor (mono duplicated to both channels)."""
    if isinstance(x, (np.ndarray, torch.Tensor)) and x.ndim != 2:
        raise AudioInputError(
            f"{name}: expected one signal shaped (channels, samples), found shape {tuple(x.shape)}; fix: compare "
            f"one mix at a time and put channels first (x[None] for a 1-D mono array)"
        )
    x_t, _ = as_batch(x, name, 0, sample_rate)
    if x_t.shape[-1] < MIN_DURATION_S * sample_rate:
        raise AudioInputError(
            f"{name}: expected at least {MIN_DURATION_S:g} s of audio, found {x_t.shape[-1] / sample_rate:.2f} s "
            f"({x_t.shape[-1]} samples at {sample_rate:g} Hz); fix: compare longer excerpts (the feature frames need "
            f"{MIN_DURATION_S:g} s)"
        )
    x_t = x_t[0].to(torch.float32)
    if not math.isfinite(float(x_t.sum())):  # NaN and inf propagate into the sum; no bool copy of the signal
        raise AudioInputError(f"{name}: expected finite samples, found NaN or inf; fix: check the decoder or the "
                              f"processing chain that produced this signal")
    return x_t.expand(2, -1) if x_t.shape[0] == 1 else x_t


def align(mix, reference, sample_rate: float,
          max_lag_s: float = DEFAULT_MAX_LAG_S) -> tuple[torch.Tensor, torch.Tensor, Alignment]:
    """Find the integer lag of a mix against its reference by FFT cross-correlation and trim both to the overlap.

    Args:
        mix: numpy array or torch tensor ``(channels, samples)``, 1 or 2 channels, at least 1 s.
        reference: the same layout at the same sample rate (the caller resamples); lengths may differ.
        sample_rate: Hz, at least 8000.
        max_lag_s: largest lag searched either way, seconds, >= 0.
    Returns:
        ``(mix_aligned, reference_aligned, alignment)``: float32 ``(2, n)`` tensors (mono duplicated), new
        memory, and an :class:`Alignment`.
    Raises:
        AudioInputError: wrong shape, more than 2 channels, non-finite samples, shorter than 1 s, or an overlap
            under 1 s after alignment.
        ParameterError: sample rate or ``max_lag_s`` out of range.

    Properties: not differentiable; deterministic; a delayed copy is found to the sample.

    Example:
        >>> mix_a, ref_a, info = align(mix, reference, 44100)
        >>> info.lag_samples, info.correlation
    """
    return align_tensors(as_stereo(mix, "align.mix", sample_rate),
                         as_stereo(reference, "align.reference", sample_rate), sample_rate, max_lag_s, "align")


def align_tensors(mix: torch.Tensor, reference: torch.Tensor, sample_rate: float, max_lag_s: float,
                  function: str) -> tuple[torch.Tensor, torch.Tensor, Alignment]:
    """:func:`align` of signals already checked by :func:`as_stereo`; errors name ``function``."""
    if not (isinstance(max_lag_s, (int, float)) and math.isfinite(max_lag_s) and max_lag_s >= 0):
        raise ParameterError(f"{function}.max_lag_s: expected a finite number of seconds >= 0, found "
                             f"{max_lag_s!r}; fix: use {DEFAULT_MAX_LAG_S}")
    lag = _best_lag(mix, reference, round(max_lag_s * sample_rate), round(CORRELATION_EXCERPT_S * sample_rate))
    return trim(mix, reference, lag, sample_rate, function)


def trim(mix: torch.Tensor, reference: torch.Tensor, lag: int, sample_rate: float,
         function: str) -> tuple[torch.Tensor, torch.Tensor, Alignment]:
    """Cut ``(2, samples)`` signals to their overlap at ``lag``; copies, so identical samples sit in identically
    aligned memory and every later computation on them is bit-identical."""
    mix_start, reference_start = max(lag, 0), max(-lag, 0)
    n = min(mix.shape[-1] - mix_start, reference.shape[-1] - reference_start)
    if n < MIN_DURATION_S * sample_rate:
        raise AudioInputError(
            f"{function}: expected at least {MIN_DURATION_S:g} s of overlap between mix and reference, found "
            f"{max(n, 0)} samples at lag {lag}; fix: pass excerpts of the same passage, or a smaller max_lag_s"
        )
    mix_a = torch.empty(2, n, dtype=torch.float32).copy_(mix[:, mix_start:mix_start + n])
    reference_a = torch.empty(2, n, dtype=torch.float32).copy_(reference[:, reference_start:reference_start + n])
    m, r = mono(mix_a[None])[0].to(torch.float64), mono(reference_a[None])[0].to(torch.float64)
    energy = float(m @ m) * float(r @ r)
    correlation = float(m @ r) / math.sqrt(energy) if energy > 0 else 0.0
    info = Alignment(lag, lag / sample_rate, correlation, n, mix_start, reference_start)
    return mix_a, reference_a, info


def match_loudness(mix: torch.Tensor, mix_loudness: LoudnessReport,
                   reference_loudness: LoudnessReport) -> tuple[torch.Tensor, float]:
    """Scale ``mix`` to the reference's integrated loudness: ``(mix * g, gain_db)``; gain 0 dB when either
    loudness is not finite (silence)."""
    gain_db = reference_loudness.integrated_lufs - mix_loudness.integrated_lufs
    if not math.isfinite(gain_db):
        return mix, 0.0
    return mix * 10.0 ** (gain_db / 20.0), gain_db


def _best_lag(mix: torch.Tensor, reference: torch.Tensor, max_lag: int, excerpt_samples: int) -> int:
    """Argmax over ``|lag| <= max_lag`` samples of ``c[lag] = sum_n mix[n + lag] ref[n]``, ``n`` over the central
    :data:`CORRELATION_EXCERPT_S` of the reference (all of it when shorter); 0 when ``c`` is zero there."""
    m, r = mono(mix[None])[0].numpy(), mono(reference[None])[0].numpy()
    length = min(r.shape[0], excerpt_samples)
    start = (r.shape[0] - length) // 2
    excerpt = r[start:start + length]
    lo, hi = max(0, start - max_lag), min(m.shape[0], start + length + max_lag)
    # index k of the full correlation is lag k - (length - 1) of m[lo:hi] against the excerpt
    correlation = scipy.signal.correlate(m[lo:hi], excerpt, mode="full", method="fft")
    lags = np.arange(correlation.shape[0]) - (length - 1) + lo - start
    window = np.abs(lags) <= max_lag
    if not np.any(correlation[window] != 0):
        return 0
    return int(lags[window][np.argmax(correlation[window])])


def _is_rate(sample_rate) -> bool:
    return isinstance(sample_rate, (int, float)) and math.isfinite(sample_rate) and sample_rate > 0
