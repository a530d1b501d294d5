"""The compressor's and expander's CPU path: compiled passes over chunks of samples, forward and backward.

:mod:`mixdown.dsp.dynamics` runs detector, gain computer, ballistics and gain here instead of some thirty
full-length torch passes each way and their float32 <-> float64 conversions. Per sample of a gain row (one per
batch item when linked or keyed by a mono side-chain, else one per channel), in float64:

    level  = 20 log10 max(|s|, amplitude_floor)            max over the side-chain's channels for a linked row
    o      = sign (level - threshold)                       sign +1: compressor, -1: expander
    target = max(-slope o            if o > knee/2
                 curvature (clamp(o, -knee/2, knee/2) + knee/2)^2  otherwise,   floor) - shift
    g      = alpha_down g + (1 - alpha_down) target   if target < g   else the same with alpha_up
    y      = x 10^((g + offset) / 20)

The backward pass (:func:`dynamics_backward`) is the adjoint of these lines, run from the last chunk to the
first with the smoothed gain the forward saved: the detector and gain computer are recomputed with the very
same calls, so every branch (which ballistic, which side of the knee) is the forward's; the recursion's adjoint
is ``envelope.py``'s. Gradients come back per sample for the signal and the side-chain, and per gain row for
the per-batch scalars, which the caller computed in torch (autograd carries them on to the parameters).

The gain computer here duplicates ``mixdown.dsp.dynamics._static_gain`` (and the expander's range floor): the two
must agree, and ``tests/test_dynamics.py`` checks that this path equals the torch composition, samples and
gradients. The ballistics are ``envelope._forward_kernel``'s recursion, with the same branch rule.

The logarithm and the exponential run between compiled passes as torch's vectorised (SLEEF) functions on the
same memory: about 1 ns a sample on two threads, where a compiled loop calling libm takes 4 to 5 and numpy's
float64 versions, vectorised only with AVX-512, 6 to 7 on an AVX2 machine.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

__all__ = ["dynamics_forward"]

_DB_TO_LOG = math.log(10.0) / 20.0  # 10^(db/20) = exp(db ln(10)/20), as gain.db_to_amplitude computes it
# 20 log10(a) as (20 / ln 10) ln(a): the natural logarithm is the faster one; they differ by about an ulp.
_LOG_TO_DB = 20.0 / math.log(10.0)
# Samples per chunk: bounds the float64 scratch (rows x chunk) on long signals; the Python loop over chunks costs
# microseconds.
_CHUNK = 1 << 16


def _log(a: np.ndarray, out: np.ndarray | None = None) -> None:
    """``out = ln(a)`` (in place without ``out``), float64, through torch (module docstring)."""
    torch.log(torch.from_numpy(a), out=torch.from_numpy(a if out is None else out))


def _exp(a: np.ndarray) -> None:
    """``a = exp(a)`` in place, float64, through torch."""
    torch.exp_(torch.from_numpy(a))


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


@numba.njit(inline="always", cache=True)
def _curve(log_amplitude, sign, threshold, slope, half_knee, curvature, floor_db):  # pragma: no cover - compiled
    """The gain computer at one sample: ``(overshoot o, clamped knee position + W/2, o above the knee,
    static gain, gain after the floor)``, dB. The one expression the forward and the backward passes share,
    so the backward re-derives the forward's numbers to the bit."""
    o = sign * (_LOG_TO_DB * log_amplitude - threshold)
    inside = min(max(o, -half_knee), half_knee) + half_knee  # 0 below the knee
    above = o > half_knee
    static = -slope * o if above else curvature * (inside * inside)
    return o, inside, above, static, max(static, floor_db)


@numba.njit(parallel=True, cache=True)
def _target(level, sign, threshold, slope, half_knee, curvature, floor_db, shift, rows):  # pragma: no cover - compiled
    """The gain computer in place: ``level`` (natural log of the amplitude) becomes the target gain (dB, relative
    to ``shift``). No recursion: the loop vectorises."""
    for r in numba.prange(level.shape[0]):
        b = r // rows
        t, s, h, q, lo, sh = threshold[b], slope[b], half_knee[b], curvature[b], floor_db[b], shift[b]
        for j in range(level.shape[1]):
            level[r, j] = _curve(level[r, j], sign, t, s, h, q, lo)[4] - sh


@numba.njit(inline="always", cache=True)
def _ballistics_step(target, gain, ad, au):  # pragma: no cover - compiled
    a = ad if target < gain else au
    return a * gain + (1.0 - a) * target


@numba.njit(parallel=True, cache=True)
def _smooth(level, offset, alpha_down, alpha_up, rows, g, start, saved, save):  # pragma: no cover - compiled
    """The ballistics in place: ``level`` (target gains) becomes the smoothed gain in exp's units; ``g``
    ``(rows,)`` carries the smoothed gain (dB, relative to ``shift``) across chunks; with ``save`` the smoothed
    gain also goes to ``saved[:, start + j]`` for the backward pass. Rows two by two: each recursion waits on
    its last sample, two independent ones overlap (an odd last row runs alone)."""
    n_rows = level.shape[0]
    for job in numba.prange((n_rows + 1) // 2):
        r0 = 2 * job
        r1 = min(r0 + 1, n_rows - 1)
        b0, b1 = r0 // rows, r1 // rows
        g0, g1 = g[r0], g[r1]
        for j in range(level.shape[1]):
            g0 = _ballistics_step(level[r0, j], g0, alpha_down[b0], alpha_up[b0])
            g1 = _ballistics_step(level[r1, j], g1, alpha_down[b1], alpha_up[b1])
            if save:
                saved[r0, start + j] = g0
                saved[r1, start + j] = g1
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
    alpha_down, alpha_up, rows, g0, y, gf, saved=None,
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
        saved: optional ``(batch * rows, samples)`` float64, receives the smoothed gain relative to ``shift``
            (what :func:`dynamics_backward` needs).
    """
    batch, _, n_samples = x.shape
    g = g0.astype(np.float64)  # a copy: the carried gain
    scratch = np.empty((batch * rows, min(_CHUNK, n_samples)))
    save = saved is not None
    saved = saved if save else np.empty((0, 0))
    for start in range(0, n_samples, _CHUNK):
        stop = min(start + _CHUNK, n_samples)
        level = scratch[:, : stop - start]
        _detect(source, amplitude_floor, rows, start, level)
        _log(level)
        _target(level, sign, threshold, slope, half_knee, curvature, floor_db, shift, rows)
        _smooth(level, offset, alpha_down, alpha_up, rows, g, start, saved, save)
        _exp(level)
        _apply(x, level, rows, start, y)
    gf[:] = g + np.repeat(shift, rows)


# Per-row gradient sums of the backward pass, in this order (rows of ``acc``).
_GRADS = ("threshold", "slope", "half_knee", "curvature", "floor_db", "shift", "offset", "alpha_down", "alpha_up")


@numba.njit(parallel=True, cache=True)
def _adjoint_gain(grad_y, x, gain, rows, start, want_x, grad_x, direct, acc):  # pragma: no cover - compiled
    """Through ``y = x * gain``: ``grad_x = grad_y * gain`` and ``direct[r, j]`` = dL/dg (dB) of the row's
    smoothed gain, ``ln(10)/20 * gain * sum over the row's channels of grad_y * x``; sums dL/d offset."""
    channels = x.shape[1]
    for r in numba.prange(direct.shape[0]):
        b = r // rows
        c0, c1 = (0, channels) if rows == 1 else (r % rows, r % rows + 1)
        for j in range(direct.shape[1]):
            direct[r, j] = 0.0
        for c in range(c0, c1):
            for j in range(direct.shape[1]):
                gy = np.float64(grad_y[b, c, start + j])
                direct[r, j] += gy * np.float64(x[b, c, start + j])
                if want_x:
                    grad_x[b, c, start + j] = gy * gain[r, j]
        total = 0.0
        for j in range(direct.shape[1]):
            direct[r, j] *= _DB_TO_LOG * gain[r, j]
            total += direct[r, j]
        acc[6, r] += total


@numba.njit(parallel=True, cache=True)
def _adjoint_ballistics(grad, log_amplitude, saved, g0, start, sign, threshold, slope, half_knee, curvature,
                        floor_db, shift, alpha_down, alpha_up, rows, mu, alpha_next, acc):  # pragma: no cover - compiled
    """The recursion's adjoint in reverse time (``envelope.py``'s docstring): ``grad`` (dL/dg) becomes
    dL/dtarget in place; ``mu`` and ``alpha_next`` ``(rows,)`` carry the adjoint and the coefficient of the
    sample after the chunk; sums dL/d alpha. The target and the gain before it are the forward's own numbers,
    so the branch is the forward's."""
    for r in numba.prange(grad.shape[0]):
        b = r // rows
        t, sl, hk, q, lo, sh = threshold[b], slope[b], half_knee[b], curvature[b], floor_db[b], shift[b]
        ad, au = alpha_down[b], alpha_up[b]
        m, a_next = mu[r], alpha_next[r]
        d_ad = d_au = 0.0
        for j in range(grad.shape[1] - 1, -1, -1):
            n = start + j
            m = grad[r, j] + a_next * m
            previous = saved[r, max(n - 1, 0)] if n > 0 else g0[r]
            target = _curve(log_amplitude[r, j], sign, t, sl, hk, q, lo)[4] - sh
            down = target < previous
            w = m * (previous - target)
            # selects, not branches: on noise the ballistic in use is a coin flip
            d_ad += w if down else 0.0
            d_au += 0.0 if down else w
            a_next = ad if down else au
            grad[r, j] = (1.0 - a_next) * m
        mu[r], alpha_next[r] = m, a_next
        acc[7, r] += d_ad
        acc[8, r] += d_au


@numba.njit(parallel=True, cache=True)
def _adjoint_curve(grad, log_amplitude, sign, threshold, slope, half_knee, curvature, floor_db, rows,
                   acc):  # pragma: no cover - compiled
    """The gain computer's adjoint, sample by sample (no recursion): sums dL/dtarget into the per-row
    gradients of threshold, slope, knee, floor and shift, and turns ``grad`` in place into dL/d level (dB).
    ``max(static, floor)`` shares a tie evenly, as ``torch.maximum``'s gradient does."""
    for r in numba.prange(grad.shape[0]):
        b = r // rows
        t, sl, hk, q, lo = threshold[b], slope[b], half_knee[b], curvature[b], floor_db[b]
        d_t = d_sl = d_hk = d_q = d_lo = d_sh = 0.0
        for j in range(grad.shape[1]):
            d_target = grad[r, j]
            d_sh -= d_target
            # inside is 0 below the knee, where every term of the knee vanishes
            o, inside, above, static, _ = _curve(log_amplitude[r, j], sign, t, sl, hk, q, lo)
            share = 1.0 if static > lo else (0.5 if static == lo else 0.0)
            d_lo += (1.0 - share) * d_target
            d_static = share * d_target
            knee = 2.0 * q * inside * d_static
            d_sl -= d_static * o if above else 0.0
            d_q += 0.0 if above else d_static * inside * inside
            d_hk += 0.0 if above else knee
            d_o = -sl * d_static if above else knee
            d_t -= sign * d_o
            grad[r, j] = sign * d_o
        for k, v in enumerate((d_t, d_sl, d_hk, d_q, d_lo, d_sh)):
            acc[k, r] += v


@numba.njit(parallel=True, cache=True)
def _adjoint_detector(grad, amplitude, source, rows, start, accumulate, grad_source):  # pragma: no cover - compiled
    """From dL/d level (dB) to the detected signal: ``(20 / ln 10) / s`` at the source holding the peak, 0 at
    the others (``amax`` shares a tie evenly) and below the floor. ``accumulate`` adds to ``grad_source``
    (the signal's own gradient, when the detected signal is the signal) instead of writing it."""
    sources = source.shape[1]
    for r in numba.prange(grad.shape[0]):
        b = r // rows
        s0, s1 = (0, sources) if rows == 1 else (r % rows, r % rows + 1)
        for j in range(grad.shape[1]):
            n = start + j
            peak = amplitude[r, j]
            d_level = _LOG_TO_DB * grad[r, j]
            if s1 - s0 > 1:
                ties = 0
                for c in range(s0, s1):
                    ties += abs(np.float64(source[b, c, n])) == peak
                d_level /= max(ties, 1)
            for c in range(s0, s1):
                v = np.float64(source[b, c, n])
                d = d_level / v if abs(v) == peak else 0.0
                if accumulate:
                    grad_source[b, c, n] += d
                else:
                    grad_source[b, c, n] = d


def dynamics_backward(grad_y, x, source, amplitude_floor, sign, per_batch, rows, g0, saved, want_x, want_source,
                      same=False):
    """The adjoint of :func:`dynamics_forward`, in chunks from the last: ``(grad_x, grad_source, grads, grad_g0)``.

    Per chunk: the detector and the gain again (the same calls as the forward, so every number and branch is
    the forward's), then compiled passes through the gain (:func:`_adjoint_gain`), the ballistics in reverse
    (:func:`_adjoint_ballistics`), the gain computer (:func:`_adjoint_curve`) and the detector
    (:func:`_adjoint_detector`).

    Args:
        grad_y: ``(batch, channels, samples)`` upstream gradient.
        x, source, amplitude_floor, sign, rows, g0: as given to :func:`dynamics_forward`.
        per_batch: its ``(threshold, slope, half_knee, curvature, floor_db, shift, offset, alpha_down,
            alpha_up)``, ``(batch,)`` float64 each.
        saved: the smoothed gain it saved.
        want_x, want_source: which signal gradients to compute (the others come back ``None``).
        same: ``source`` is ``x``: its two gradients come back summed, as ``grad_x``.
    Returns:
        ``grad_x`` like ``x`` (through ``y = x * gain``, and the detector when ``same``), ``grad_source`` like
        ``source`` (through the detector; ``None`` when ``same``), ``grads`` ``(len(_GRADS), batch * rows)``
        float64 in :data:`_GRADS` order, ``grad_g0`` ``(batch * rows,)``.
    """
    threshold, slope, half_knee, curvature, floor_db, shift, offset, alpha_down, alpha_up = per_batch
    n_rows, n_samples = saved.shape
    same = same and want_x and want_source
    grad_x = np.empty(x.shape, x.dtype) if want_x else np.empty((0, 0, 0), x.dtype)
    separate = want_source and not same
    grad_source = np.empty(source.shape, source.dtype) if separate else np.empty((0, 0, 0), source.dtype)
    width = min(_CHUNK, n_samples)
    scratch = np.empty((4, n_rows, width))
    mu, alpha_next = np.zeros(n_rows), np.zeros(n_rows)
    acc = np.zeros((len(_GRADS), n_rows))
    offset_rows = np.repeat(offset, rows)[:, None]
    for start in reversed(range(0, n_samples, _CHUNK)):
        stop = min(start + _CHUNK, n_samples)
        amplitude, log_amplitude, gain, grad = scratch[:, :, : stop - start]
        _detect(source, amplitude_floor, rows, start, amplitude)
        _log(amplitude, log_amplitude)
        np.add(saved[:, start:stop], offset_rows, out=gain)
        gain *= _DB_TO_LOG
        _exp(gain)
        _adjoint_gain(grad_y, x, gain, rows, start, want_x, grad_x, grad, acc)
        _adjoint_ballistics(grad, log_amplitude, saved, g0, start, sign, threshold, slope, half_knee, curvature,
                            floor_db, shift, alpha_down, alpha_up, rows, mu, alpha_next, acc)
        _adjoint_curve(grad, log_amplitude, sign, threshold, slope, half_knee, curvature, floor_db, rows, acc)
        if want_source:
            _adjoint_detector(grad, amplitude, source, rows, start, same, grad_x if same else grad_source)
    return (grad_x if want_x else None), (grad_source if separate else None), acc, alpha_next * mu
