"""True-peak look-ahead limiter, built as a chain of causal stages so it streams exactly with carried state.

Signal flow per block (all stages causal; ``L = round(lookahead_ms * sample_rate / 1000)`` samples):

1. **Detector**: a causal 4x polyphase interpolator (4 phases x 20 taps, Kaiser-windowed sinc, group delay 10
   samples) puts 4 grid points on every input interval; a three-point sinusoidal fit around each local maximum
   estimates the peak between grid points; the peak per sample is the largest estimate over its 4 points and
   over all channels (linked, so the stereo image is kept).
2. **Required gain** ``r = min(0, ceiling_db - peak_db)`` in dB (0 dB for silence).
3. **Hold**: sliding minimum of ``r`` over ``L + 2`` samples.
4. **Release**: :func:`~mixdown.dsp.kernels.envelope.smooth_gain` with an instant fall and an exponential rise
   of ``release_ms``.
5. **Smoothing**: moving average (boxcar) of ``L + 1`` samples of that gain (dB), so gain changes are ramps.
6. **Apply**: the input delayed by ``latency = L + 10`` samples times the gain.

Why a detected peak can never pass: the release stage never exceeds its target (it falls instantly and rises toward
the target from below), so the released gain ``s[i] <= hold[i] = min(r[i-L-1 .. i])``. The applied gain
``g[n] = mean(s[n-L .. n])`` therefore stays below ``r[k]`` for every ``k`` inside all windows, i.e. for
``k = n-L-1`` and ``k = n-L``. The output sample ``n`` carries the input sample ``m = n-L-10``, and ``r[n-L-1]``,
``r[n-L]`` are the required gains of the two intervals ``[m-1, m)`` and ``[m, m+1)`` that touch it. So the
gains at both ends of every interval are at most the gain that interval needs (the hold is one sample longer
than the average for exactly this reason). What remains is the detector's error (a pure tone reads between
-0.001 and +0.042 dB of its true peak up to 0.4535 * sample_rate) and the gain's own modulation, which the
ramps keep slow: on full-band white noise 15 to 20 dB over the ceiling, the output's peak measured by scipy's
8x resampler lands within 0.02 dB of the ceiling.

A batch may mix look-aheads: each item's gain path is delayed to the longest one, which sets the latency.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
import torch.nn.functional as F

from mixdown.dsp.kernels import small_work_single_thread, use_torch_path
from mixdown.dsp.kernels.envelope import smooth_gain, time_to_coefficient
from mixdown.dsp.params import Param, ParamTable
from mixdown.dsp.registry import Processor, register
from mixdown.dsp.signal import check_signal
from mixdown.errors import ParameterError

__all__ = ["LIMITER_PARAMS", "limiter", "limiter_latency", "limiter_step", "true_peak_db"]

LIMITER_PARAMS = ParamTable(
    "limiter",
    Param("ceiling_db", "dBTP", -24.0, 0.0, -1.0, description="highest true peak the output may reach"),
    Param(
        "lookahead_ms", "ms", 0.5, 20.0, 5.0,
        description="look-ahead, also the length of the gain ramp; adds latency", differentiable=False,
    ),
    Param("release_ms", "ms", 1.0, 1000.0, 80.0, scale="log", description="time for the gain to recover"),
)

_OVERSAMPLING = 4
_TAPS_PER_PHASE = 20
_KAISER_BETA = 5.0
_GROUP_DELAY = _TAPS_PER_PHASE // 2  # samples: the interpolator's centre tap sits on a whole input sample
_HISTORY = _TAPS_PER_PHASE  # the FIR's taps plus one earlier sample for the refinement's left neighbour
_CHUNK = 16384  # samples per parallel detector job: enough jobs for the cores even for one stereo master
_METER_BLOCK = 64  # grid columns the meter handles at a time: small enough to skip quiet stretches


def _interpolator() -> np.ndarray:
    """Polyphase 4x interpolator, ``(4, 20)``: phase ``p`` estimates ``x(n - 10 + p / 4)`` from ``x[n-19 .. n]``.

    An 80-tap sinc, cut off at the original Nyquist frequency, centred on tap 40 under a Kaiser window
    (beta 5, 81 points, the last point dropped since it is zero). Centring on a whole tap makes phase 0 an
    exact 10-sample delay (every 4th sinc tap is zero), so the detector never under-reads a sample peak and
    the group delay is a whole number of samples. Each phase is scaled to unit gain at DC. With the
    refinement of :func:`_refine`, a tone anywhere from DC to 0.4535 * sample_rate (20 kHz at 44.1 kHz)
    reads within -0.001 / +0.042 dB of its amplitude; 20 taps per phase (rather than BS.1770's 12) are what
    keeps the phases flat that close to Nyquist.
    """
    taps = np.arange(_OVERSAMPLING * _TAPS_PER_PHASE)
    centre = _OVERSAMPLING * _GROUP_DELAY
    h = np.sinc((taps - centre) / _OVERSAMPLING) * np.kaiser(taps.size + 1, _KAISER_BETA)[:-1]
    h[0::_OVERSAMPLING] = taps[0::_OVERSAMPLING] == centre  # exact zeros (np.sinc leaves ~1e-17 there)
    phases = h.reshape(_TAPS_PER_PHASE, _OVERSAMPLING).T  # phases[p, j] = h[4 j + p]
    return phases / phases.sum(1, keepdims=True)


_PHASES = _interpolator()


def _refine(m: torch.Tensor) -> torch.Tensor:
    """Peak estimate around every point of an oversampled magnitude sequence ``m`` ``(..., points)``.

    Returns ``(..., points - 2)`` for the interior points. At a local maximum ``b`` with neighbours ``a``, ``c``,
    the sinusoid through the three points peaks at ``b * sqrt(1 + (c - a)^2 / ((2b - a - c)(2b + a + c)))``
    (exact for a pure tone, the parabolic estimate for slow signals, never more than ``b * sqrt(2)``); elsewhere
    the point's own value. This removes the grid error of 4x oversampling (up to 0.69 dB near Nyquist).
    """
    a, b, c = m[..., :-2], m[..., 1:-1], m[..., 2:]
    curvature = 2.0 * b - a - c
    local = (b >= a) & (b >= c) & (curvature > 0)
    one = torch.ones_like(b)
    ratio = (c - a) ** 2 / (torch.where(local, curvature, one) * torch.where(local, 2.0 * b + a + c, one))
    return torch.where(local, b * torch.sqrt(1.0 + ratio), b)


def _torch_linked_peaks(x_ext: torch.Tensor) -> torch.Tensor:
    """Linked inter-sample peak per sample: ``(batch, channels, 20 + samples)`` -> ``(batch, 1, samples)``.

    ``x_ext`` holds 20 samples of history before the new ones. Output ``[..., n]`` is the largest refined
    ``|.|`` on the 4x grid of the interval ``[n - 10, n - 9)`` over all channels, indices counted over the new
    samples. Plain torch (any device; autograd differentiates it); :class:`_LinkedPeaks` is the fast CPU path.
    """
    batch, channels, n_ext = x_ext.shape
    n = n_ext - _HISTORY
    # conv1d correlates, so flip the taps to get the causal FIR y[k] = sum_j h[j] x[k - j]
    weight = torch.as_tensor(_PHASES[:, ::-1].copy(), dtype=x_ext.dtype, device=x_ext.device)[:, None, :]
    phases = F.conv1d(x_ext.reshape(batch * channels, 1, n_ext), weight)  # (rows, 4, n + 1), one sample early
    grid = phases.transpose(1, 2).reshape(batch, channels, _OVERSAMPLING * (n + 1))
    # the next grid point after the last interval is phase 0 of the next sample: an exact delayed sample
    following = x_ext[..., n_ext - _GROUP_DELAY :][..., :1]
    estimate = _refine(torch.cat([grid, following], -1).abs())  # interior points 1 .. 4n + 4
    per_point = estimate[..., _OVERSAMPLING - 1 : _OVERSAMPLING - 1 + _OVERSAMPLING * n]
    return per_point.reshape(batch, channels, n, _OVERSAMPLING).amax(dim=(1, 3))[:, None, :]


@numba.njit(cache=True)
def _interpolate(src, first, delay, phases, size, grid):  # pragma: no cover - compiled
    """The 4x grid of ``size`` input samples into ``grid`` ``(4, >= size)``: column ``i`` holds the interval that
    ends at ``src[first + i - delay]``, phase ``p`` being the FIR ``sum_t phases[p, t] * src[first + i - t]``
    (summed from ``t = 0`` up, so every caller gets the same bits)."""
    window = src[first - _TAPS_PER_PHASE + 1 : first + size]  # window[i + 19 - t] = src[first + i - t]
    exact = src[first - delay : first - delay + size]
    row = grid[0]
    for i in range(size):
        row[i] = exact[i]  # phase 0 is an exact delay
    for p in range(1, _OVERSAMPLING):
        row = grid[p]
        h = phases[p]
        for i in range(size):
            acc = 0.0
            for t in range(_TAPS_PER_PHASE):  # a constant count: unrolled, so the loop over i vectorises
                acc += h[t] * window[i + _TAPS_PER_PHASE - 1 - t]
            row[i] = acc


@numba.njit(cache=True, inline="always")  # inlined where called: called per grid point
def _neighbours(grid, src, first, delay, p, i):  # pragma: no cover - compiled
    """Signed grid values before, at and after point ``p`` of column ``i >= 1`` (see :func:`_interpolate`); the
    point after the last phase is phase 0 of the next column, an exact delayed sample read from ``src``."""
    n_phases = grid.shape[0]
    va = grid[p - 1, i] if p > 0 else grid[n_phases - 1, i - 1]
    vc = grid[p + 1, i] if p + 1 < n_phases else src[first + i + 1 - delay]
    return va, grid[p, i], vc


@numba.njit(cache=True, inline="always")  # inlined where called: called per grid point
def _is_local_max(a, b, c):  # pragma: no cover - compiled
    """Where :func:`_refine` fits a sinusoid: ``b`` is a strict local maximum of the magnitudes ``a, b, c``."""
    return b >= a and b >= c and 2.0 * b - a - c > 0.0


@numba.njit(cache=True, inline="always")  # inlined where called: called per grid point
def _sine_fit(a, b, c):  # pragma: no cover - compiled
    """:func:`_refine`'s fit at a local maximum of magnitudes: ``(q, c - a, den)``, the peak being ``b * q``, with
    ``q = sqrt(1 + (c - a)^2 / den)`` and ``den = (2b - a - c)(2b + a + c)``; ``1 <= q <= sqrt(2)``."""
    u = c - a
    den = (2.0 * b - a - c) * (2.0 * b + a + c)
    return np.sqrt(1.0 + u * u / den), u, den


@numba.njit(cache=True)
def _refine_point(va, vb, vc):  # pragma: no cover - compiled
    """:func:`_refine` at one point of signed grid values, with the estimate's derivatives in each value."""
    a, b, c = abs(va), abs(vb), abs(vc)
    if _is_local_max(a, b, c):
        q, u, den = _sine_fit(a, b, c)
        half = b / (2.0 * q * den * den)  # d(b q)/dR = b / (2 q), times dR/d. = (...) / den^2
        ga = half * (-2.0 * u * den + 2.0 * u * u * (a + c))
        gc = half * (2.0 * u * den + 2.0 * u * u * (a + c))
        gb = q - half * 8.0 * b * u * u
        return b * q, ga * np.sign(va), gb * np.sign(vb), gc * np.sign(vc)
    return b, 0.0, np.sign(vb), 0.0


@numba.njit(parallel=True, cache=True)
def _peaks_kernel(x, phases, channels, delay, chunk, save, peak, which, slope):  # pragma: no cover - compiled
    """:func:`_torch_linked_peaks` fused: parallel over (batch item, chunk of samples) jobs; with ``save``, also
    the winning channel and grid point per sample and the estimate's derivatives there, for the backward."""
    rows, n_ext = x.shape
    n_phases, taps = phases.shape
    batch = rows // channels
    n = n_ext - taps
    n_chunks = (n + chunk - 1) // chunk
    for job in numba.prange(batch * n_chunks):
        b = job // n_chunks
        start = (job % n_chunks) * chunk
        stop = min(n, start + chunk)
        size = stop - start + 1  # one earlier sample gives the first point its left neighbour
        grid = np.empty((n_phases, size))
        for ch in range(channels):
            src = x[b * channels + ch]
            first = start - 1 + taps  # the FIR's newest input sample for grid column 0, in x's columns
            _interpolate(src, first, delay, phases, size, grid)
            for i in range(1, size):
                k = start + i - 1
                for p in range(n_phases):
                    va, vb, vc = _neighbours(grid, src, first, delay, p, i)
                    est, ga, gb, gc = _refine_point(va, vb, vc)
                    if (ch == 0 and p == 0) or est > peak[b, k]:
                        peak[b, k] = est
                        if not save:
                            continue
                        which[b, k] = ch * n_phases + p
                        slope[b, k, 0] = ga
                        slope[b, k, 1] = gb
                        slope[b, k, 2] = gc


@numba.njit(fastmath={"nnan", "nsz"}, cache=True)
def _abs_max(v):  # pragma: no cover - compiled
    """``max |v|`` (0 when empty); the flags let the reduction vectorise, and a maximum is exact in any order."""
    m = 0.0
    for i in range(v.size):
        m = max(m, abs(v[i]))
    return m


@numba.njit(parallel=True, cache=True)
def _meter_kernel(x, phases, channels, delay, chunk, block, out):  # pragma: no cover - compiled
    """Largest refined estimate of :func:`_peaks_kernel`'s grid per (row, chunk of samples) job, into ``out``
    ``(rows, chunks)``, for ``x`` ``(rows, samples)`` taken as silent before and for ``delay + 1`` samples after.

    No per-sample arrays: each job copies its samples (and the FIR's history) into a float64 buffer with the
    silence filled in and keeps a running maximum, block by block. Work that cannot raise the result is
    skipped, which leaves the result unchanged: a fit is bounded by ``sqrt(2)`` times its point (1.5 here, for
    rounding), a point by the FIR's largest absolute tap sum times its inputs' peak, and the result is at
    least the batch item's sample peak ``floor`` (every sample is a phase-0 point, whose estimate is at least
    the sample), so a job may under-read whatever stays at or below that floor.
    """
    rows, n = x.shape
    n_phases, taps = phases.shape
    n_chunks = out.shape[1]
    n_out = n + delay + 1
    gain = 1.5 * max(1.0, np.abs(phases).sum(1).max())
    for job in numba.prange(rows * n_chunks):
        start = (job % n_chunks) * chunk
        out[job // n_chunks, job % n_chunks] = _abs_max(x[job // n_chunks, start : min(n, start + chunk)])
    floor = np.empty(rows)
    for row in range(rows):
        item = row - row % channels
        floor[row] = out[item : item + channels].max()
    for job in numba.prange(rows * n_chunks):
        row = job // n_chunks
        start = (job % n_chunks) * chunk
        size = min(n_out, start + chunk) - start + 1  # as in _peaks_kernel: one earlier column first
        src = np.empty(size + taps - 1)  # src[j] = x[row, start - taps + j], zero outside the signal
        for j in range(src.size):
            col = start - taps + j
            src[j] = x[row, col] if 0 <= col < n else 0.0
        grid = np.empty((n_phases, block + 1))
        best = 0.0
        for lo in range(0, size - 1, block):  # grid columns lo + 1 .. lo + m, after column lo
            m = min(block, size - 1 - lo)
            if gain * _abs_max(src[lo : lo + m + taps]) < max(best, floor[row]):
                continue
            first = taps - 1 + lo
            _interpolate(src, first, delay, phases, m + 1, grid)
            top = 0.0
            for p in range(n_phases):
                top = max(top, _abs_max(grid[p, 1 : m + 1]))
            best = max(best, top)
            if top * 1.5 <= max(best, floor[row]):
                continue
            for i in range(1, m + 1):
                for p in range(n_phases):
                    b = abs(grid[p, i])
                    if b * 1.5 <= max(best, floor[row]):
                        continue
                    va, _, vc = _neighbours(grid, src, first, delay, p, i)
                    a, c = abs(va), abs(vc)
                    est = b * _sine_fit(a, b, c)[0] if _is_local_max(a, b, c) else b
                    best = max(best, est)
        out[row, job % n_chunks] = best


@numba.njit(parallel=True, cache=True)
def _peaks_backward_kernel(grad_peak, which, slope, phases, channels, delay, grad_x):  # pragma: no cover
    """Adjoint of :func:`_peaks_kernel`: each sample's gradient flows through its winning point's three grid
    values back onto the FIR's input samples. One row (batch item, channel) per job, so no two jobs collide."""
    rows, n_ext = grad_x.shape
    n_phases, taps = phases.shape
    n = n_ext - taps
    for row in numba.prange(rows):
        b = row // channels
        ch = row % channels
        for col in range(n_ext):
            grad_x[row, col] = 0.0
        for k in range(n):
            if which[b, k] // n_phases != ch:
                continue
            p = which[b, k] % n_phases
            j = k + taps
            for i in range(3):
                coef = grad_peak[b, k] * slope[b, k, i]
                slot = p + i - 1  # -1: previous sample's last phase; n_phases: the next sample
                if coef == 0.0:
                    continue
                if slot == n_phases:
                    grad_x[row, j + 1 - delay] += coef
                    continue
                jj = j - 1 if slot < 0 else j
                pp = n_phases - 1 if slot < 0 else slot
                for t in range(taps):
                    grad_x[row, jj - t] += coef * phases[pp, t]


class _LinkedPeaks(torch.autograd.Function):
    """:func:`_torch_linked_peaks` as a numba kernel on CPU; backward through the winning point only."""

    @staticmethod
    def forward(ctx, x_ext: torch.Tensor):
        batch, channels, n_ext = x_ext.shape
        n = n_ext - _HISTORY
        x_np = x_ext.detach().contiguous().reshape(batch * channels, n_ext).numpy()
        save = ctx.needs_input_grad[0]
        peak = np.empty((batch, n), dtype=x_np.dtype)
        which = np.empty((batch, n) if save else (0, 0), dtype=np.int64)  # winning channel * 4 + grid point
        slope = np.empty((batch, n, 3) if save else (0, 0, 0))  # d peak / d (left, winning, right) grid value
        _peaks_kernel(x_np, _PHASES, channels, _GROUP_DELAY, _CHUNK, save, peak, which, slope)
        ctx.arrays = (which, slope)
        ctx.shape = x_ext.shape
        return torch.from_numpy(peak)[:, None, :]

    @staticmethod
    def backward(ctx, grad_peak: torch.Tensor):
        which, slope = ctx.arrays
        batch, channels, n_ext = ctx.shape
        g = grad_peak.detach().to(torch.float64).contiguous().reshape(batch, -1).numpy()
        grad_x = np.empty((batch * channels, n_ext))
        with small_work_single_thread(grad_x.size):
            _peaks_backward_kernel(g, which, slope, _PHASES, channels, _GROUP_DELAY, grad_x)
        return torch.from_numpy(grad_x).reshape(ctx.shape).to(grad_peak.dtype)


def _linked_peaks(x_ext: torch.Tensor) -> torch.Tensor:
    """Linked inter-sample peak per sample (see :func:`_torch_linked_peaks`); numba on CPU, torch elsewhere."""
    if not use_torch_path(x_ext):
        return _LinkedPeaks.apply(x_ext)
    return _torch_linked_peaks(x_ext)


def _amplitude_to_db(peak: torch.Tensor) -> torch.Tensor:
    """``20 log10(peak)``, ``-inf`` for zero, with finite gradients everywhere."""
    positive = peak > 0
    safe = torch.where(positive, peak, torch.ones_like(peak))
    return torch.where(positive, 20.0 * torch.log10(safe), torch.full_like(peak, -float("inf")))


def true_peak_db(x: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """True peak level in dBTP: the largest inter-sample peak over all channels, from 4x oversampling.

    Oversampling follows ITU-R BS.1770-4 Annex 2 (4x, causal polyphase FIR) with this module's own
    coefficients (20 taps per phase, Kaiser-windowed sinc, see :func:`_interpolator`), then a three-point
    sinusoidal fit at each local maximum of the 4x grid (see :func:`_refine`) removes the grid's under-reading
    (plain 4x under-reads a tone by up to 0.69 dB near Nyquist). A pure tone anywhere up to 0.4535 * sample_rate
    reads within -0.001 / +0.042 dB of its amplitude. The signal is taken as silent before and after, so the
    interpolator's ringing at the edges counts, as it would on a converter. This is the detector the
    :func:`limiter` uses, so a limited signal reads at most its ceiling.

    Args:
        x: signal, ``(batch, channels, samples)``.
        sample_rate: Hz (the reading does not depend on it; every meter takes it).
    Returns:
        ``(batch,)`` dBTP; ``-inf`` for digital silence.

    Properties: differentiable (where not silent); batched; deterministic. Without gradients on a CPU tensor it
    runs a meter-only kernel (:func:`_meter_kernel`) that reads the same bits without per-sample arrays.

    References:
        ITU-R BS.1770-4 (2015), Annex 2: guidelines for accurate measurement of true-peak level.
    """
    check_signal(x, "true_peak_db")
    if use_torch_path(x) or (x.requires_grad and torch.is_grad_enabled()):
        padded = F.pad(x, (_HISTORY, _GROUP_DELAY + 1))  # silence before; flush the interpolator after
        return _amplitude_to_db(_linked_peaks(padded).amax(dim=(1, 2)))
    return _amplitude_to_db(_meter_peaks(x))


def _meter_peaks(x: torch.Tensor) -> torch.Tensor:
    """``_linked_peaks`` of ``x`` padded as in :func:`true_peak_db`, maximised per batch item, ``(batch,)`` in
    ``x``'s dtype, without gradients: :func:`_meter_kernel` keeps only running maxima (CPU only)."""
    batch, channels, n = x.shape
    x_np = x.detach().contiguous().reshape(batch * channels, n).numpy()
    n_chunks = (n + _GROUP_DELAY + 1 + _CHUNK - 1) // _CHUNK
    out = np.empty((batch * channels, n_chunks))
    with small_work_single_thread(x.numel()):
        _meter_kernel(x_np, _PHASES, channels, _GROUP_DELAY, _CHUNK, _METER_BLOCK, out)
    # the detector stores its peaks in x's dtype; rounding commutes with the maximum, so round once here
    return torch.from_numpy(out.reshape(batch, -1).max(1, initial=0.0)).to(x.dtype)


def _lookahead_samples(lookahead_ms: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """Look-ahead in whole samples, ``(batch,)`` int64 on CPU.

    The value passes through float32 first, so float32 and float64 signals (and :func:`limiter_latency`) round
    a look-ahead to the same number of samples.
    """
    ms = lookahead_ms.detach().to(torch.float32).to(torch.float64)
    return torch.round(ms * sample_rate / 1000.0).to(torch.int64).cpu()


def limiter_latency(sample_rate: float, **params) -> int:
    """Samples of delay :func:`limiter_step` adds: ``round(lookahead_ms * sample_rate / 1000) + 10``.

    With a batch of look-aheads, the longest sets the latency (shorter ones are delayed to match).
    """
    LIMITER_PARAMS.check_names(params)
    value = params.get("lookahead_ms")
    value = LIMITER_PARAMS["lookahead_ms"].default if value is None else value
    LIMITER_PARAMS.check_value("lookahead_ms", value)
    look = _lookahead_samples(torch.as_tensor(value, dtype=torch.float64).reshape(-1), sample_rate)
    return int(look.max()) + _GROUP_DELAY


def _torch_sliding_min(v: torch.Tensor, width: int) -> torch.Tensor:
    """``out[..., i] = min(v[..., i : i + width])`` for every full window, in O(samples) (van Herk / Gil-Werman).

    ``v`` is ``(rows, samples)``. Prefix minima inside blocks of ``width`` and suffix minima inside the same
    blocks; a window always spans the suffix of one block and the prefix of the next. Plain torch (any device;
    autograd differentiates it through ``cummin``); :class:`_SlidingMin` is the fast CPU path.
    """
    rows, n = v.shape
    n_blocks = -(-n // width)
    padded = F.pad(v, (0, n_blocks * width - n), value=float("inf")).reshape(rows, n_blocks, width)
    prefix = padded.cummin(-1).values.reshape(rows, -1)
    suffix = padded.flip(-1).cummin(-1).values.flip(-1).reshape(rows, -1)
    count = n - width + 1
    return torch.minimum(suffix[:, :count], prefix[:, width - 1 : width - 1 + count])


@numba.njit(parallel=True, cache=True)
def _sliding_min_kernel(v, width, out, arg):  # pragma: no cover - compiled
    """Sliding minimum and its position with a monotone queue (O(samples)), one row per job."""
    rows, n = v.shape
    for r in numba.prange(rows):
        queue = np.empty(n, dtype=np.int64)  # indices whose values increase from head to tail
        head = 0
        tail = 0
        for i in range(n):
            while tail > head and v[r, queue[tail - 1]] >= v[r, i]:
                tail -= 1
            queue[tail] = i
            tail += 1
            if queue[head] <= i - width:
                head += 1
            if i >= width - 1:
                out[r, i - width + 1] = v[r, queue[head]]
                arg[r, i - width + 1] = queue[head]


class _SlidingMin(torch.autograd.Function):
    """Sliding minimum with a monotone queue (numba, CPU); the gradient goes to each window's minimum."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, width: int):
        rows, n = v.shape
        v_np = v.detach().contiguous().numpy()
        out = np.empty((rows, n - width + 1), dtype=v_np.dtype)
        arg = np.empty((rows, n - width + 1), dtype=np.int64)
        _sliding_min_kernel(v_np, width, out, arg)
        ctx.arg = torch.from_numpy(arg)
        ctx.n = n
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        grad_v = grad_out.new_zeros(grad_out.shape[0], ctx.n).scatter_add_(1, ctx.arg, grad_out.contiguous())
        return grad_v, None


def _sliding_min(v: torch.Tensor, width: int) -> torch.Tensor:
    """Sliding minimum over ``width`` samples of ``v`` ``(rows, samples)`` -> ``(rows, samples - width + 1)``."""
    if not use_torch_path(v):
        return _SlidingMin.apply(v, width)
    return _torch_sliding_min(v, width)


def _per_lookahead(look: torch.Tensor, fn, *tensors: torch.Tensor) -> torch.Tensor:
    """Apply ``fn(L, *rows)`` to each group of batch items sharing the look-ahead ``L``; reassemble in order."""
    values = torch.unique(look)
    if values.numel() == 1:
        return fn(int(values[0]), *tensors)
    groups = [torch.nonzero(look == value).flatten() for value in values]
    parts = [fn(int(value), *(t[idx.to(t.device)] for t in tensors)) for value, idx in zip(values, groups)]
    order = torch.argsort(torch.cat(groups)).to(parts[0].device)
    return torch.cat(parts)[order]


def _silence(x: torch.Tensor, hold: int) -> dict:
    """The state before any input: silent history and 0 dB of gain reduction, for a look-ahead of ``hold``."""
    batch, channels, _ = x.shape

    def zeros(*shape, dtype=x.dtype):
        return torch.zeros(*shape, dtype=dtype, device=x.device)

    return {
        "x": zeros(batch, channels, max(_HISTORY, hold + _GROUP_DELAY)),  # interpolator taps + delay line
        "required": zeros(batch, 1, hold + 1),  # required gain (dB) the hold still needs
        "envelope": zeros(batch, 1, dtype=torch.float64),  # release stage output (dB)
        "released": zeros(batch, 1, hold),  # released gain (dB) the moving average still needs
    }


def _check_state(state: dict, expected: dict) -> None:
    """Refuse a state from another stream (other look-ahead, batch or channel count) instead of misreading it."""
    for key, value in expected.items():
        found = state.get(key) if isinstance(state, dict) else None
        if not isinstance(found, torch.Tensor) or found.shape != value.shape:
            raise ParameterError(
                f"limiter: expected a state whose {key!r} is shaped {tuple(value.shape)}, "
                f"found {None if found is None else tuple(getattr(found, 'shape', ()))}; "
                "fix: pass state=None to start a stream, and keep lookahead_ms, batch and channels fixed during it"
            )


def limiter_step(
    x: torch.Tensor, sample_rate: float, state: dict | None = None, ceiling_db=-1.0, lookahead_ms=5.0, release_ms=80.0
) -> tuple[torch.Tensor, dict]:
    """Limit one block; the output lags the input by :func:`limiter_latency` samples.

    Args:
        x: block, ``(batch, channels, samples)``.
        sample_rate: Hz.
        state: dict from the previous block, or ``None`` for silence.
        ceiling_db, lookahead_ms, release_ms: see :func:`limiter`.
    Returns:
        ``(y, state)``: ``y`` shaped like ``x`` (delayed by the latency); the state after the block.

    Properties: see :func:`limiter`; the carried state makes any block split give the same samples.
    """
    check_signal(x, "limiter")
    p = LIMITER_PARAMS.resolve(x, ceiling_db=ceiling_db, lookahead_ms=lookahead_ms, release_ms=release_ms)
    look = _lookahead_samples(p["lookahead_ms"], sample_rate)  # (batch,)
    hold = int(look.max())  # shorter look-aheads are delayed by hold - L to share one latency
    silence = _silence(x, hold)
    if state is None:
        state = silence
    else:
        _check_state(state, silence)
    with small_work_single_thread(x.numel()):
        return _limit(x, sample_rate, state, p, look)


def _limit(x: torch.Tensor, sample_rate: float, state: dict, p: dict, look: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """The stages of :func:`limiter_step` on validated inputs; ``look`` is the look-ahead in samples, ``(batch,)``."""
    hold = int(look.max())
    n = x.shape[-1]
    history = state["x"].shape[-1]
    x_ext = torch.cat([state["x"].to(x.dtype), x], -1)

    peak = _linked_peaks(x_ext[..., history - _HISTORY :])  # (batch, 1, n)
    # exactly 0 dB wherever the peak is under the ceiling; log10 never sees a zero peak
    ceiling_db = p["ceiling_db"][:, None, None]
    floor = torch.pow(10.0, ceiling_db / 20.0)
    level_db = 20.0 * torch.log10(torch.maximum(peak, floor))
    required = torch.where(peak > floor, ceiling_db - level_db, torch.zeros((), dtype=x.dtype, device=x.device))
    required_ext = torch.cat([state["required"].to(x.dtype), required], -1)  # hold + 1 earlier values first

    def hold_stage(look_samples: int, rows: torch.Tensor) -> torch.Tensor:
        # window of L + 2 ending hold - L samples back: every item's gain path lags by the same `hold`
        return _sliding_min(rows[:, 0], look_samples + 2)[:, None, :n]

    held = _per_lookahead(look, hold_stage, required_ext)
    alpha_up = time_to_coefficient(p["release_ms"], sample_rate)
    released, envelope = smooth_gain(held, torch.zeros_like(alpha_up), alpha_up, state["envelope"])
    released_ext = torch.cat([state["released"].to(x.dtype), released], -1)
    # float64 running sums keep the moving average exact over long signals, even for float32 audio
    sums = F.pad(torch.cumsum(released_ext.to(torch.float64), -1), (1, 0))

    def average_stage(look_samples: int, rows: torch.Tensor) -> torch.Tensor:
        start = hold - look_samples
        return (rows[..., hold + 1 : hold + 1 + n] - rows[..., start : start + n]) / (look_samples + 1)

    gain_db = _per_lookahead(look, average_stage, sums).to(x.dtype)
    delay = hold + _GROUP_DELAY
    delayed = x_ext[..., history - delay : history - delay + n]
    y = delayed * torch.pow(10.0, gain_db / 20.0)
    new_state = {
        "x": x_ext[..., n:],
        "required": required_ext[..., n:],
        "envelope": envelope,
        "released": released_ext[..., n:],
    }
    return y, new_state


def limiter(x: torch.Tensor, sample_rate: float, ceiling_db=-1.0, lookahead_ms=5.0, release_ms=80.0) -> torch.Tensor:
    """Keep the true peak at or below ``ceiling_db`` with a look-ahead gain ramp and an exponential release.

    Args:
        x: signal, ``(batch, channels, samples)``; channels are linked (one gain for all).
        sample_rate: Hz.
        ceiling_db: ``(batch,)`` or a number, dBTP, -24 to 0.
        lookahead_ms: ``(batch,)`` or a number, ms, 0.5 to 20; rounded to whole samples (not differentiable).
        release_ms: ``(batch,)`` or a number, ms, 1 to 1000: time constant of the gain's recovery.
    Returns:
        ``(batch, channels, samples)``, aligned with ``x`` (the latency is compensated).

    Properties: differentiable in ``x``, ``ceiling_db`` and ``release_ms``; batched; streaming via
    :func:`limiter_step` (which does not compensate the latency); deterministic. A signal whose 4x true peak
    stays below the ceiling passes bit for bit. See the module docstring for the stages and the proof that
    the gain at each detected peak is at most the gain that peak requires.

    References:
        ITU-R BS.1770-4 (2015), Annex 2 (true-peak detection by 4x oversampling).
        D. Giannoulis, M. Massberg, J. D. Reiss, "Digital dynamic range compressor design - a tutorial and
        analysis", JAES 60(6), 2012 (gain computer and ballistics in dB).
        M. van Herk, "A fast algorithm for local minimum and maximum filters", Pattern Recognition Letters 13,
        1992; J. Gil, M. Werman, IEEE TPAMI 15(5), 1993 (the O(n) sliding minimum).

    Example:
        >>> y = limiter(torch.randn(1, 2, 44100), 44100, ceiling_db=-1.0)
    """
    check_signal(x, "limiter")
    params = dict(ceiling_db=ceiling_db, lookahead_ms=lookahead_ms, release_ms=release_ms)
    look = _lookahead_samples(LIMITER_PARAMS.resolve(x, **params)["lookahead_ms"], sample_rate)
    latency = int(look.max()) + _GROUP_DELAY
    y, _ = limiter_step(F.pad(x, (0, latency)), sample_rate, None, **params)
    return y[..., latency:]


register(Processor("limiter", limiter, LIMITER_PARAMS, step=limiter_step, latency=limiter_latency))
