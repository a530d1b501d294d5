"""The compressor's and expander's inference path: compiled passes over chunks of samples.

Without gradients, :mod:`mixdown.dsp.dynamics` runs detector, gain computer, ballistics and gain here instead of
some fifteen full-length torch passes and their float32 <-> float64 conversions. Per sample of a
gain row (one per batch item when linked or keyed by a mono side-chain, else one per channel), in float64:

    level  = 20 log10 max(|s|, amplitude_floor)            max over the side-chain's channels for a linked row
    o      = sign (level - threshold)                       sign +1: compressor, -1: expander
    target = max(-slope o            if o > knee/2
                 curvature (clamp(o, -knee/2, knee/2) + knee/2)^2  otherwise,   floor) - shift
    g      = alpha_down g + (1 - alpha_down) target   if target < g   else the same with alpha_up
    y      = x 10^((g + offset) / 20)

The gain computer here duplicates ``mixdown.dsp.dynamics._static_gain`` (and the expander's range floor): the two
must agree, and ``tests/test_dynamics.py`` checks that this path equals the differentiable one. The ballistics are
``envelope._forward_kernel``'s recursion, with the same branch rule. Every per-batch scalar comes in computed by
the caller in torch.

The logarithm and the exponential run as numpy ufuncs between two compiled passes: numpy's SIMD versions take
about 1 ns a sample where a compiled loop calling libm takes 4 to 5 (2.2x faster overall).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["dynamics_forward"]

_DB_TO_LOG = math.log(10.0) / 20.0  # 10^(db/20) = exp(db ln(10)/20), as gain.db_to_amplitude computes it
# 20 log10(a) as (20 / ln 10) ln(a): the natural logarithm is the faster one; they differ by about an ulp.
_LOG_TO_DB = 20.0 / math.log(10.0)
# Samples per chunk: bounds the float64 scratch (rows x chunk) on long signals; the Python loop over chunks costs
# microseconds.
_CHUNK = 1 << 16


@numba.njit(parallel=True, cache=True)
def _detect(source, amplitude_floor, rows, start, level):  # pragma: no cover - compiled
    """``level[r, j]`` = the detected amplitude (max |s| over the row's sources, at least the floor)."""
    m = level.shape[1]
    for r in numba.prange(level.shape[0]):
        b = r // rows
        first, last = (0, source.shape[1]) if rows == 1 else (r % rows, r % rows + 1)
        for j in range(m):
            amplitude = amplitude_floor
            for c in range(first, last):
                amplitude = max(amplitude, abs(np.float64(source[b, c, start + j])))
            level[r, j] = amplitude


@numba.njit(parallel=True, cache=True)
def _target(level, sign, threshold, slope, half_knee, curvature, floor_db, shift, rows):  # pragma: no cover - compiled
    """The gain computer in place: ``level`` (natural log of the amplitude) becomes the target gain (dB, relative
    to ``shift``). No recursion: the loop vectorises."""
    for r in numba.prange(level.shape[0]):
        b = r // rows
        t, s, h, q, lo, sh = threshold[b], slope[b], half_knee[b], curvature[b], floor_db[b], shift[b]
        for j in range(level.shape[1]):
            o = sign * (_LOG_TO_DB * level[r, j] - t)
            inside = min(max(o, -h), h) + h
            target = -s * o if o > h else q * (inside * inside)
            level[r, j] = max(target, lo) - sh


@numba.njit(inline="always", cache=True)
def _ballistics_step(target, gain, ad, au):  # pragma: no cover - compiled
    a = ad if target < gain else au
    return a * gain + (1.0 - a) * target


@numba.njit(parallel=True, cache=True)
def _smooth(level, offset, alpha_down, alpha_up, rows, g):  # pragma: no cover - compiled
    """The ballistics in place: ``level`` (target gains) becomes the smoothed gain in exp's units; ``g``
    ``(rows,)`` carries the smoothed gain (dB, relative to ``shift``) across chunks. Rows two by two: each
    recursion waits on its last sample, two independent ones overlap (an odd last row runs alone)."""
    n_rows = level.shape[0]
    for job in numba.prange((n_rows + 1) // 2):
        r0 = 2 * job
        r1 = min(r0 + 1, n_rows - 1)
        b0, b1 = r0 // rows, r1 // rows
        g0, g1 = g[r0], g[r1]
        for j in range(level.shape[1]):
            g0 = _ballistics_step(level[r0, j], g0, alpha_down[b0], alpha_up[b0])
            g1 = _ballistics_step(level[r1, j], g1, alpha_down[b1], alpha_up[b1])
            level[r0, j] = (g0 + offset[b0]) * _DB_TO_LOG
            level[r1, j] = (g1 + offset[b1]) * _DB_TO_LOG
        g[r0], g[r1] = g0, g1


@numba.njit(parallel=True, cache=True)
def _apply(x, gain, rows, start, y):  # pragma: no cover - compiled
    """``y[b, c, start + j] = x[b, c, start + j] * gain[row, j]``, row ``b * rows`` (+ ``c`` when one per channel);
    in float64, rounded once to ``y``'s type (numpy's mixed-type multiply is 5x slower)."""
    batch, channels = x.shape[0], x.shape[1]
    for job in numba.prange(batch * channels):
        b, c = job // channels, job % channels
        r = b * rows + (0 if rows == 1 else c)
        for j in range(gain.shape[1]):
            y[b, c, start + j] = np.float64(x[b, c, start + j]) * gain[r, j]


def dynamics_forward(
    x, source, amplitude_floor, sign, threshold, slope, half_knee, curvature, floor_db, shift, offset,
    alpha_down, alpha_up, rows, g0, y, gf,
):
    """Detector, gain computer, ballistics and gain (module docstring); fills ``y`` and ``gf``.

    Args:
        x: ``(batch, channels, samples)`` float32 or float64 signal.
        source: ``(batch, sources, samples)`` detected signal (``x`` or the side-chain), same dtype as ``x``.
        amplitude_floor: detector floor as an amplitude.
        sign: +1.0 (compressor, acts above the threshold) or -1.0 (expander, acts below).
        threshold, slope, half_knee, curvature, floor_db, shift, offset, alpha_down, alpha_up: ``(batch,)``
            float64: threshold dB, gain lost per dB of overshoot, half the knee width dB, the knee's quadratic
            coefficient, the gain floor dB (-inf for none), the gain after silence dB, shift + makeup dB, and
            the one-pole coefficients while the gain falls / rises.
        rows: gain rows per batch item: 1 (one gain from all sources, applied to all channels) or ``channels``
            (row k: source k, channel k).
        g0: ``(batch * rows,)`` float64 smoothed gain before the first sample, relative to ``shift``.
        y: output like ``x``; gf: ``(batch * rows,)`` float64, receives the gain after the last sample (dB,
            shift added back).
    """
    batch, _, n_samples = x.shape
    g = g0.astype(np.float64)  # a copy: the carried gain
    scratch = np.empty((batch * rows, min(_CHUNK, n_samples)))
    for start in range(0, n_samples, _CHUNK):
        stop = min(start + _CHUNK, n_samples)
        level = scratch[:, : stop - start]
        _detect(source, amplitude_floor, rows, start, level)
        np.log(level, out=level)
        _target(level, sign, threshold, slope, half_knee, curvature, floor_db, shift, rows)
        _smooth(level, offset, alpha_down, alpha_up, rows, g)
        np.exp(level, out=level)
        _apply(x, level, rows, start, y)
    gf[:] = g + np.repeat(shift, rows)
