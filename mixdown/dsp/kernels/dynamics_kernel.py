"""The compressor's and expander's inference path as one compiled pass over the samples.

Without gradients, :mod:`mixdown.dsp.dynamics` runs detector, gain computer, ballistics and gain in this single
kernel instead of some fifteen full-length torch passes and their float32 <-> float64 conversions. Per sample of a
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
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["dynamics_forward"]

_DB_TO_LOG = math.log(10.0) / 20.0  # 10^(db/20) = exp(db ln(10)/20), as gain.db_to_amplitude computes it
# 20 log10(a) as (20 / ln 10) ln(a): glibc's log is faster than its log10; they differ by about an ulp.
_LOG_TO_DB = 20.0 / math.log(10.0)
# Samples per chunk: the logs and exps run in loops of their own, apart from the serial recursion, so that their
# calls overlap instead of waiting on it (about 1.4x faster than one loop); 8 KiB of scratch stays in L1.
_CHUNK = 1024


@numba.njit(parallel=True, cache=True)
def dynamics_forward(
    x, source, amplitude_floor, sign, threshold, slope, half_knee, curvature, floor_db, shift, offset,
    alpha_down, alpha_up, rows, g0, y, gf,
):  # pragma: no cover - compiled
    """Fused detector, gain computer, ballistics and gain (module docstring); fills ``y`` and ``gf``.

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
    batch, channels, n_samples = x.shape
    for r in numba.prange(batch * rows):
        b = r // rows
        k = r % rows
        first_in, last_in = (0, source.shape[1]) if rows == 1 else (k, k + 1)
        first_out, last_out = (0, channels) if rows == 1 else (k, k + 1)
        t, s, h, q, lo = threshold[b], slope[b], half_knee[b], curvature[b], floor_db[b]
        sh, off, ad, au = shift[b], offset[b], alpha_down[b], alpha_up[b]
        g = g0[r]
        buf = np.empty(_CHUNK)
        for start in range(0, n_samples, _CHUNK):
            m = min(_CHUNK, n_samples - start)
            for j in range(m):  # detector: level in dB
                amplitude = amplitude_floor
                for c in range(first_in, last_in):
                    amplitude = max(amplitude, abs(np.float64(source[b, c, start + j])))
                buf[j] = _LOG_TO_DB * np.log(amplitude)
            for j in range(m):  # gain computer and ballistics: buf becomes the gain in exp's units
                o = sign * (buf[j] - t)
                if o > h:
                    target = -s * o
                else:
                    inside = min(max(o, -h), h) + h
                    target = q * (inside * inside)
                target = max(target, lo) - sh
                a = ad if target < g else au
                g = a * g + (1.0 - a) * target
                buf[j] = (g + off) * _DB_TO_LOG
            for j in range(m):
                buf[j] = math.exp(buf[j])
            for c in range(first_out, last_out):
                for j in range(m):
                    y[b, c, start + j] = x[b, c, start + j] * buf[j]
        gf[r] = g + sh
