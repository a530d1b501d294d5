"""A damped feedback delay line with a fractional delay, as a true recursion with an analytic backward pass.

For one row (one channel of one batch item) with delay ``T >= 1`` samples (``D = floor(T)``, ``f = T - D``),
feedback ``g`` and damping coefficient ``c``:

    r[n] = (1 - f) w[n - D] + f w[n - D - 1]     read the line between its two neighbouring samples
    d[n] = (1 - c) r[n] + c d[n - 1]             one-pole low-pass in the loop (unity gain at DC)
    w[n] = x[n] + g d[n]                         write the line

``d`` is the wet signal. Because ``D >= 1``, ``r[n]`` only reads ``w`` before ``n``: there is no instantaneous
loop. The loop gain is at most ``g < 1`` at every frequency, so the recursion is stable. The samples
``w[m], m < 0`` and ``d[-1]`` are the carried state (silence at the start).

Backward pass. With upstream gradients ``gd[n] = dL/dd[n]`` (and ``dL/dw`` for the samples kept in the output
state), the adjoints ``W[n] = dL/dw[n]``, ``Dd[n] = dL/dd[n]`` (total), ``R[n] = dL/dr[n]`` obey the same
structure run backwards in time:

    W[n]  = (1 - f) R[n + D] + f R[n + D + 1]    (+ dL/dw[n] of the output state)
    Dd[n] = gd[n] + g W[n] + c Dd[n + 1]         (+ dL/dd[N - 1] of the output state at the last sample)
    R[n]  = (1 - c) Dd[n]

``W[n]`` only needs ``R`` at later times, so one reverse sweep scatters ``R[n]`` into ``W[n - D]`` and
``W[n - D - 1]`` and finds every adjoint when it needs it. Then

    dL/dx[n] = W[n]
    dL/dg    = sum_n W[n] d[n]
    dL/dc    = sum_n Dd[n] (d[n - 1] - r[n])
    dL/dT    = sum_n R[n] (w[n - D - 1] - w[n - D])        (the interpolation slope; one-sided at whole T)
    dL/dw[m] = W[m] for the carried history (m < 0),  dL/dd[-1] = c Dd[0]

On CPU tensors both sweeps are numba kernels (float64 accumulators, parallel over ``batch * channels`` rows)
wrapped in a ``torch.autograd.Function``. On other devices (CUDA) the same recursion runs in plain torch, in
chunks no longer than the shortest delay, so that a chunk only reads line samples that earlier chunks wrote;
autograd differentiates it. That path takes ``samples / floor(shortest delay)`` sequential steps, each copying the
kept history: fine for delays of milliseconds and more, slow for a batch that mixes 1-sample and long delays.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

from mixdown.dsp.kernels import use_torch_path
from mixdown.errors import ParameterError

__all__ = ["delay_line", "history_length", "torch_delay_line"]


@numba.njit(parallel=True, cache=True)
def _forward_kernel(x, delay, feedback, damping, channels, line, wet0, wet, wet_end):  # pragma: no cover - compiled
    rows, n_samples = x.shape
    kept = line.shape[1] - n_samples  # line[:, :kept] holds the carried history, w[n] lands at kept + n
    for r in numba.prange(rows):
        b = r // channels
        whole = int(np.floor(delay[b]))
        frac = delay[b] - whole
        g = feedback[b]
        c = damping[b]
        d = wet0[r]
        for n in range(n_samples):
            k = kept + n - whole
            d = (1.0 - c) * ((1.0 - frac) * line[r, k] + frac * line[r, k - 1]) + c * d
            wet[r, n] = d
            line[r, kept + n] = x[r, n] + g * d
        wet_end[r] = d


@numba.njit(parallel=True, cache=True)
def _backward_kernel(
    grad_wet, grad_history_end, grad_wet_end, line, wet, wet0, delay, feedback, damping, channels,
    grad_x, grad_history, grad_wet0, grad_delay, grad_feedback, grad_damping,
):  # pragma: no cover - compiled
    rows, n_samples = grad_wet.shape
    kept = line.shape[1] - n_samples
    for r in numba.prange(rows):
        b = r // channels
        whole = int(np.floor(delay[b]))
        frac = delay[b] - whole
        g = feedback[b]
        c = damping[b]
        adj = np.zeros(kept + n_samples)  # dL/dw over history + signal, filled by later reads
        for j in range(kept):  # the output state is line[:, n_samples:]
            adj[n_samples + j] += grad_history_end[r, j]
        carry = grad_wet_end[r]  # dL/dd[n] arriving from d[n + 1] (or from the output state at the end)
        sum_g = 0.0
        sum_c = 0.0
        sum_t = 0.0
        for n in range(n_samples - 1, -1, -1):
            k = kept + n - whole
            new = line[r, k]
            old = line[r, k - 1]
            adj_w = adj[kept + n]
            grad_x[r, n] = adj_w
            adj_d = grad_wet[r, n] + g * adj_w + carry
            prev = wet[r, n - 1] if n > 0 else wet0[r]
            sum_g += adj_w * wet[r, n]
            sum_c += adj_d * (prev - ((1.0 - frac) * new + frac * old))
            adj_r = (1.0 - c) * adj_d
            sum_t += adj_r * (old - new)
            adj[k] += (1.0 - frac) * adj_r
            adj[k - 1] += frac * adj_r
            carry = c * adj_d
        grad_wet0[r] = carry
        for j in range(kept):
            grad_history[r, j] = adj[j]
        grad_delay[r] = sum_t
        grad_feedback[r] = sum_g
        grad_damping[r] = sum_c


def history_length(delay_samples: torch.Tensor) -> int:
    """Line samples a state keeps: ``ceil(longest delay) + 2`` (the interpolation reads ``floor(T) + 1`` back)."""
    return math.ceil(float(delay_samples.detach().max())) + 2


def _check(x: torch.Tensor, delay_samples: torch.Tensor, feedback: torch.Tensor, damping: torch.Tensor) -> None:
    batch = x.shape[0]
    if x.dim() != 3 or any(t.shape != (batch,) for t in (delay_samples, feedback, damping)):
        raise ParameterError(
            f"delay_line: expected x (batch, channels, samples) and parameters shaped ({batch},), found x "
            f"{tuple(x.shape)}, delay {tuple(delay_samples.shape)}, feedback {tuple(feedback.shape)}, "
            f"damping {tuple(damping.shape)}"
        )
    shortest = float(delay_samples.detach().min()) if batch else 1.0
    if not shortest >= 1.0:
        raise ParameterError(
            f"delay_line: expected delays of at least 1 sample, found {shortest:g}; "
            "fix: lengthen the delay or raise the sample rate"
        )


def _initial_state(x: torch.Tensor, delay_samples: torch.Tensor, state: dict | None):
    """History ``(batch, channels, kept)`` and last wet sample ``(batch, channels)``, float64 on ``x``'s device.

    The history never shrinks: it grows to the longest delay seen. A delay longer than every earlier block's
    reads silence for the part of the past that was never kept.
    """
    batch, channels, _ = x.shape
    needed = history_length(delay_samples) if batch else 2
    if state is None:
        history = torch.zeros(batch, channels, needed, dtype=torch.float64, device=x.device)
        wet0 = torch.zeros(batch, channels, dtype=torch.float64, device=x.device)
        return history, wet0
    history, wet0 = state.get("history"), state.get("wet")
    if (
        not isinstance(history, torch.Tensor) or not isinstance(wet0, torch.Tensor)
        or history.dim() != 3 or history.shape[:2] != (batch, channels) or wet0.shape != (batch, channels)
    ):
        raise ParameterError(
            f"delay_line: expected a state from the previous block for x {tuple(x.shape)}: "
            f"{{'history': ({batch}, {channels}, samples), 'wet': ({batch}, {channels})}}; "
            "fix: pass the state that the previous call returned, or None for silence"
        )
    history = history.to(device=x.device, dtype=torch.float64)
    if history.shape[2] < needed:
        history = torch.nn.functional.pad(history, (needed - history.shape[2], 0))
    return history, wet0.to(device=x.device, dtype=torch.float64)


def _numpy_rows(t: torch.Tensor, rows: int, width: int) -> np.ndarray:
    return t.detach().contiguous().reshape(rows, width).numpy()


def _params_numpy(*params: torch.Tensor):
    return tuple(p.detach().to(torch.float64).contiguous().numpy() for p in params)


def _run_forward(x, delay_samples, feedback, damping, history, wet0, save: bool):
    """Run the numba forward. Returns torch wet, history, wet_end and the numpy arrays the backward needs."""
    batch, channels, n = x.shape
    rows = batch * channels
    kept = history.shape[2]
    x_np = _numpy_rows(x, rows, n)
    delay_np, feedback_np, damping_np = _params_numpy(delay_samples, feedback, damping)
    line = np.empty((rows, kept + n))
    line[:, :kept] = _numpy_rows(history, rows, kept)
    wet0_np = _numpy_rows(wet0, rows, 1)[:, 0].copy()
    wet = np.empty((rows, n), dtype=np.float64 if save else x_np.dtype)  # float64 feeds the backward
    wet_end = np.empty(rows)
    _forward_kernel(x_np, delay_np, feedback_np, damping_np, channels, line, wet0_np, wet, wet_end)
    wet_t = torch.from_numpy(wet).reshape(batch, channels, n).to(x.dtype)
    history_t = torch.from_numpy(np.ascontiguousarray(line[:, n:])).reshape(batch, channels, kept)
    wet_end_t = torch.from_numpy(wet_end).reshape(batch, channels)
    return wet_t, history_t, wet_end_t, (line, wet, wet0_np, delay_np, feedback_np, damping_np)


class _DelayLine(torch.autograd.Function):
    """CPU delay line with the closed-form backward of the module docstring (gradients to every input)."""

    @staticmethod
    def forward(ctx, x, delay_samples, feedback, damping, history, wet0):
        wet, history_end, wet_end, arrays = _run_forward(x, delay_samples, feedback, damping, history, wet0, True)
        ctx.arrays = arrays
        ctx.meta = (x.shape, x.dtype, delay_samples.dtype)
        return wet, history_end, wet_end

    @staticmethod
    def backward(ctx, grad_wet, grad_history_end, grad_wet_end):
        line, wet, wet0, delay_np, feedback_np, damping_np = ctx.arrays
        (batch, channels, n), x_dtype, p_dtype = ctx.meta
        rows, kept = batch * channels, line.shape[1] - n

        def rows_f64(grad, width):
            if grad is None:
                return np.zeros((rows, width))
            return grad.detach().to(torch.float64).contiguous().reshape(rows, width).numpy()

        # the signal-sized gradients stay in x's dtype (the kernel accumulates in float64): no big conversions
        grad_wet_np = _numpy_rows(torch.zeros(rows, n, dtype=x_dtype) if grad_wet is None else grad_wet, rows, n)
        grad_x = torch.empty(batch, channels, n, dtype=x_dtype)
        grad_history = np.empty((rows, kept))
        per_row = [np.empty(rows) for _ in range(4)]  # wet0, delay, feedback, damping
        _backward_kernel(
            grad_wet_np, rows_f64(grad_history_end, kept), rows_f64(grad_wet_end, 1)[:, 0].copy(),
            line, wet, wet0, delay_np, feedback_np, damping_np, channels,
            grad_x.numpy().reshape(rows, n), grad_history, *per_row,
        )
        grad_wet0, grad_delay, grad_feedback, grad_damping = (torch.from_numpy(a) for a in per_row)

        def per_item(a):
            return a.reshape(batch, channels).sum(1).to(p_dtype)

        return (
            grad_x,
            per_item(grad_delay),
            per_item(grad_feedback),
            per_item(grad_damping),
            torch.from_numpy(grad_history).reshape(batch, channels, kept),
            grad_wet0.reshape(batch, channels),
        )


def delay_line(
    x: torch.Tensor,
    delay_samples: torch.Tensor,
    feedback: torch.Tensor,
    damping: torch.Tensor,
    state: dict | None = None,
) -> tuple[torch.Tensor, dict]:
    """Run the damped feedback delay line of the module docstring and return its wet signal.

    Args:
        x: signal, ``(batch, channels, samples)``, float32 or float64; channels run independently.
        delay_samples: ``(batch,)`` delay in samples, ``>= 1``, fractional allowed.
        feedback: ``(batch,)`` loop gain ``g`` in [0, 1).
        damping: ``(batch,)`` one-pole coefficient ``c`` in [0, 1); 0 leaves the echoes undamped.
        state: ``{"history": (batch, channels, kept), "wet": (batch, channels)}`` (float64) from the previous
            block, or ``None`` for silence.
    Returns:
        ``(wet, state)``: ``wet`` shaped like ``x``; the state after the last sample, whose history keeps
        ``max(history_length(delay_samples), kept)`` line samples.

    Properties: exact recursion; differentiable in ``x``, all three parameters and the state (closed-form
    backward on CPU, autograd elsewhere); batched; streaming via ``state``; deterministic.
    """
    _check(x, delay_samples, feedback, damping)
    if use_torch_path(x):
        return torch_delay_line(x, delay_samples, feedback, damping, state)
    history, wet0 = _initial_state(x, delay_samples, state)
    inputs = (x, delay_samples, feedback, damping, history, wet0)
    if torch.is_grad_enabled() and any(t.requires_grad for t in inputs):
        wet, history_end, wet_end = _DelayLine.apply(*inputs)
    else:
        wet, history_end, wet_end, _ = _run_forward(*inputs, save=False)
    return wet, {"history": history_end, "wet": wet_end}


# ---------------------------------------------------------------------------------------------------------------
# Pure-torch path: the same recursion in chunks no longer than the shortest delay (any device, autograd).
# ---------------------------------------------------------------------------------------------------------------


def _one_pole(u: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``d[k] = c d[k-1] + u[k]`` from ``d[-1] = 0`` by a doubling scan. u ``(rows, k)``, c ``(rows, 1)``.

    After the pass with step ``m``, ``s[k] = sum_{j < 2m} c^j u[k-j]``; the powers ``c^m <= 1`` keep it stable.
    """
    s, power, step = u, c, 1
    while step < s.shape[1]:
        s = torch.cat([s[:, :step], s[:, step:] + power * s[:, :-step]], 1)
        power = power * power
        step *= 2
    return s


def torch_delay_line(
    x: torch.Tensor,
    delay_samples: torch.Tensor,
    feedback: torch.Tensor,
    damping: torch.Tensor,
    state: dict | None = None,
) -> tuple[torch.Tensor, dict]:
    """The same delay line as :func:`delay_line` in plain torch (any device; autograd gives the gradients)."""
    _check(x, delay_samples, feedback, damping)
    batch, channels, n = x.shape
    rows = batch * channels
    history, wet0 = _initial_state(x, delay_samples, state)
    kept = history.shape[2]

    def per_row(p, dtype=x.dtype):
        return p.to(dtype).repeat_interleave(channels)[:, None]  # (rows, 1)

    g, c = per_row(feedback), per_row(damping)
    delay = per_row(delay_samples, torch.float64)  # split whole and fraction before rounding to x's dtype
    whole = torch.floor(delay.detach()).long()
    frac = (delay - whole).to(x.dtype)
    chunk = int(whole.min()) if rows else 1
    line = history.to(x.dtype).reshape(rows, kept)  # line[:, -1] is w[s - 1] at chunk start s
    d_prev = wet0.to(x.dtype).reshape(rows, 1)
    signal = x.reshape(rows, n)
    newer = kept + torch.arange(chunk, device=x.device) - whole  # (rows, chunk) line positions of w[n - D]
    older = newer - 1  # w[n - D - 1]; both < kept, so a chunk only reads samples earlier chunks wrote
    pieces = []
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        read = (1 - frac) * line.gather(1, newer[:, :size]) + frac * line.gather(1, older[:, :size])
        u = (1 - c) * read
        u = torch.cat([u[:, :1] + c * d_prev, u[:, 1:]], 1)
        d = _one_pole(u, c)
        line = torch.cat([line, signal[:, start:start + size] + g * d], 1)[:, -kept:]
        d_prev = d[:, -1:]
        pieces.append(d)
    wet = torch.cat(pieces, 1) if pieces else signal.new_zeros(rows, 0)
    state_end = {
        "history": line.reshape(batch, channels, kept).to(torch.float64),
        "wet": d_prev.reshape(batch, channels).to(torch.float64),
    }
    return wet.reshape(batch, channels, n), state_end
