"""Attack/release smoothing of a gain curve (dB) as a true recursion, with an analytic backward pass.

Every dynamics processor (compressor, expander, gate, limiter) computes a target gain per sample and then
smooths it with two one-pole ballistics, one used while the gain falls and one while it rises:

    alpha[n] = alpha_down  if target[n] < g[n-1]  else  alpha_up
    g[n]     = alpha[n] g[n-1] + (1 - alpha[n]) target[n]

(a compressor falls on attack and rises on release; a gate the other way round; a limiter falls instantly).
The branch is fixed by the forward pass, so the backward is a time-varying linear recursion run in reverse:

    mu[n]          = dL/dg[n] + alpha[n+1] mu[n+1]
    dL/dtarget[n]  = (1 - alpha[n]) mu[n]
    dL/dalpha_k    = sum over the steps n that used alpha_k of mu[n] (g[n-1] - target[n])
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from mixdown.dsp.kernels import small_work_single_thread, use_torch_path

__all__ = ["smooth_gain", "time_to_coefficient"]


def time_to_coefficient(time_ms: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """One-pole coefficient ``exp(-1 / (time * sample_rate))`` for a time constant in ms; 0 ms gives 0 (instant).

    Differentiable everywhere, including at 0 ms (where the gradient is 0).
    """
    positive = time_ms > 0
    safe = torch.where(positive, time_ms, torch.ones_like(time_ms))
    return torch.where(positive, torch.exp(-1000.0 / (safe * sample_rate)), torch.zeros_like(time_ms))


@numba.njit(parallel=True, cache=True)
def _forward_kernel(target, alpha_down, alpha_up, channels, g0, out, gf):  # pragma: no cover - compiled
    rows, n_samples = target.shape
    for r in numba.prange(rows):
        ad = alpha_down[r // channels]
        au = alpha_up[r // channels]
        g = g0[r]
        for n in range(n_samples):
            t = np.float64(target[r, n])
            a = ad if t < g else au
            g = a * g + (1.0 - a) * t
            out[r, n] = g
        gf[r] = g


@numba.njit(parallel=True, cache=True)
def _backward_kernel(grad_out, target, out, alpha_down, alpha_up, channels, grad_target, grad_ad, grad_au):  # pragma: no cover
    rows, n_samples = target.shape
    for r in numba.prange(rows):
        ad = alpha_down[r // channels]
        au = alpha_up[r // channels]
        mu = 0.0
        a_next = 0.0
        sum_d = 0.0
        sum_u = 0.0
        for n in range(n_samples - 1, -1, -1):
            mu = grad_out[r, n] + a_next * mu
            prev = out[r, n - 1] if n > 0 else 0.0
            t = target[r, n]
            down = t < prev
            a = ad if down else au
            grad_target[r, n] = (1.0 - a) * mu
            if down:
                sum_d += mu * (prev - t)
            else:
                sum_u += mu * (prev - t)
            a_next = a
        grad_ad[r] = sum_d
        grad_au[r] = sum_u


class _SmoothGain(torch.autograd.Function):
    @staticmethod
    def forward(ctx, target, alpha_down, alpha_up):
        batch, channels, n = target.shape
        t = target.detach().contiguous().reshape(batch * channels, n).to(torch.float64).numpy()
        ad = alpha_down.detach().to(torch.float64).contiguous().numpy()
        au = alpha_up.detach().to(torch.float64).contiguous().numpy()
        out = np.empty_like(t)
        gf = np.empty(batch * channels)
        with small_work_single_thread(t.size):
            _forward_kernel(t, ad, au, channels, np.zeros(batch * channels), out, gf)
        ctx.arrays = (t, out, ad, au)
        ctx.shape = target.shape
        return torch.from_numpy(out).reshape(batch, channels, n).to(target.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        t, out, ad, au = ctx.arrays
        batch, channels, n = ctx.shape
        g = grad_out.detach().contiguous().reshape(batch * channels, n).to(torch.float64).numpy()
        grad_t = np.empty_like(t)
        grad_ad = np.empty(batch * channels)
        grad_au = np.empty(batch * channels)
        with small_work_single_thread(g.size):
            _backward_kernel(g, t, out, ad, au, channels, grad_t, grad_ad, grad_au)
        dtype = grad_out.dtype
        gt = torch.from_numpy(grad_t).reshape(batch, channels, n).to(dtype)
        gad = torch.from_numpy(grad_ad).reshape(batch, channels).sum(1).to(dtype)
        gau = torch.from_numpy(grad_au).reshape(batch, channels).sum(1).to(dtype)
        return gt, gad, gau


def _affine_scan(a: torch.Tensor, b: torch.Tensor, g0: torch.Tensor) -> torch.Tensor:
    """Solve ``g[n] = a[n] g[n-1] + b[n]`` from ``g[-1] = g0`` with a log-depth (Hillis-Steele) scan.

    Composing two steps gives another affine step, so ``ceil(log2 n)`` rounds of elementwise work solve the whole
    recursion in parallel; autograd differentiates it.
    """
    step = 1
    while step < a.shape[-1]:
        b = a * torch.nn.functional.pad(b[..., :-step], (step, 0)) + b
        a = a * torch.nn.functional.pad(a[..., :-step], (step, 0), value=1.0)
        step *= 2
    return a * g0[..., None] + b


def _torch_smooth(target, alpha_down, alpha_up, state, max_rounds: int = 64):
    """The recursion in plain torch, parallel over time (any device; autograd gives the gradients).

    Which ballistic acts at a sample depends on the previous output, so the recursion is solved as a fixed
    point: guess the branches, solve the then-linear recursion with :func:`_affine_scan`, re-derive the branches
    from the result, repeat until they no longer change (typically 5 to 20 rounds). At that point every sample
    satisfies the recursion with its own branch, so the result is exact; one final scan with autograd on gives
    the gradients of the piecewise-linear recursion. If the branches have not settled after ``max_rounds``,
    the plain sequential loop finishes the job.
    """
    g0 = state.to(target.dtype)
    if target.shape[-1] == 0:
        return target.clone(), state
    ad, au = alpha_down[:, None, None], alpha_up[:, None, None]
    with torch.no_grad():
        previous = torch.cat([g0[..., None], target[..., :-1]], -1)  # first guess: the gain follows the target
        down = target < previous
        for _ in range(max_rounds):
            a = torch.where(down, ad, au)
            g = _affine_scan(a, (1 - a) * target, g0)
            settled = target < torch.cat([g0[..., None], g[..., :-1]], -1)
            if torch.equal(settled, down):
                break
            down = settled
        else:
            down = None
    if down is None:  # outside no_grad: the fallback must keep the gradients
        return _sequential_smooth(target, alpha_down, alpha_up, g0)
    a = torch.where(down, ad, au)
    g = _affine_scan(a, (1 - a) * target, g0)
    return g, g[..., -1].detach().to(torch.float64)


def _sequential_smooth(target, alpha_down, alpha_up, g):
    """The recursion one sample at a time (the fallback of :func:`_torch_smooth`)."""
    ad, au = alpha_down[:, None], alpha_up[:, None]
    out = []
    for n in range(target.shape[-1]):
        t = target[..., n]
        a = torch.where(t < g, ad, au)
        g = a * g + (1 - a) * t
        out.append(g)
    return torch.stack(out, -1), g.detach().to(torch.float64)


def smooth_gain(
    target_db: torch.Tensor,
    alpha_down: torch.Tensor,
    alpha_up: torch.Tensor,
    state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth a target gain curve with separate falling and rising one-pole ballistics.

    Args:
        target_db: target gain in dB, ``(batch, channels, samples)`` (``channels == 1`` for linked detection).
        alpha_down: ``(batch,)`` coefficient while the gain falls (see :func:`time_to_coefficient`).
        alpha_up: ``(batch,)`` coefficient while the gain rises.
        state: ``(batch, channels)`` gain in dB before the first sample (float64), or ``None`` for 0 dB.
    Returns:
        ``(gain_db, state)``: smoothed gain shaped like ``target_db`` and the gain after the last sample.

    Properties: exact recursion; differentiable in all three inputs (closed-form backward on CPU from 0 dB,
    torch autograd otherwise); batched; streaming via ``state``; deterministic.
    """
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (target_db, alpha_down, alpha_up))
    zero = state is None or not bool(state.any())
    if use_torch_path(target_db) or (needs_grad and not zero):
        init = torch.zeros(target_db.shape[:2], dtype=torch.float64, device=target_db.device) if state is None else state
        return _torch_smooth(target_db, alpha_down, alpha_up, init)
    if needs_grad:
        g = _SmoothGain.apply(target_db, alpha_down, alpha_up)
        return g, g[..., -1].detach().to(torch.float64)
    batch, channels, n = target_db.shape
    t = target_db.detach().contiguous().reshape(batch * channels, n).to(torch.float64).numpy()
    g0 = np.zeros(batch * channels) if state is None else state.to(torch.float64).reshape(-1).numpy().copy()
    out = np.empty_like(t)
    gf = np.empty(batch * channels)
    with small_work_single_thread(t.size):
        _forward_kernel(
                t, alpha_down.detach().to(torch.float64).numpy(), alpha_up.detach().to(torch.float64).numpy(), channels, g0, out, gf
        )
    y = torch.from_numpy(out).reshape(batch, channels, n).to(target_db.dtype)
    return y, torch.from_numpy(gf).reshape(batch, channels)

