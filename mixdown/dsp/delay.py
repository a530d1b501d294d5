"""Feedback delay with damping: echoes that repeat every ``time_ms`` and darken as they decay.

Per channel, with ``T = time_ms * sample_rate / 1000`` samples (``D = floor(T)``, ``f = T - D``), ``g = feedback``
and ``c = damping``:

    r[n] = (1 - f) w[n - D] + f w[n - D - 1]     fractional read: linear interpolation, so dy/dtime_ms exists
    d[n] = (1 - c) r[n] + c d[n - 1]             one-pole low-pass inside the loop
    w[n] = x[n] + g d[n]                         the line's input
    y[n] = (1 - mix) x[n] + mix d[n]

The first echo arrives after ``T`` samples; echo ``k`` has passed the low-pass ``k`` times and been scaled by
``g^(k-1)``. ``damping`` is the one-pole coefficient, whose filter ``(1 - c) / (1 - c z^-1)`` has unity gain at
DC and falls by 3 dB at

    f_3dB = sample_rate / (2 pi) * arccos((4c - 1 - c^2) / (2c))

for ``c >= 3 - 2 sqrt(2) ~ 0.172`` (below that even Nyquist stays above -3 dB). At 44.1 kHz: c = 0.3 -> 9.7 kHz,
0.5 -> 5.0 kHz, 0.9 -> 740 Hz, 0.99 -> 70 Hz. The recursion (and its analytic backward pass) lives in
:mod:`mixdown.dsp.kernels.delay_line`.
"""

from __future__ import annotations

import torch

from mixdown.dsp.kernels.delay_line import delay_line
from mixdown.dsp.params import Param, ParamTable
from mixdown.dsp.registry import Processor, register
from mixdown.dsp.signal import check_signal
from mixdown.errors import ParameterError

__all__ = ["DELAY_PARAMS", "delay", "delay_step"]

DELAY_PARAMS = ParamTable(
    "delay",
    Param("time_ms", "ms", 1.0, 2000.0, 250.0, scale="log", description="time between echoes (fractional samples)"),
    Param("feedback", "", 0.0, 0.95, 0.35, description="share of each echo fed back into the line"),
    Param(
        "damping", "", 0.0, 0.99, 0.3,
        description="one-pole low-pass coefficient in the loop; 0 = none, 0.3 = -3 dB at 9.7 kHz (44.1 kHz)",
    ),
    Param("mix", "", 0.0, 1.0, 0.25, description="wet share: y = (1 - mix) x + mix wet"),
)


def _delay_samples(time_ms: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """Delay in samples ``(batch,)``, float64 (a float32 delay of 88200 samples would be rounded to 1/128 sample).

    The line needs at least one sample, so shorter delays are refused.
    """
    samples = time_ms.to(torch.float64) * sample_rate / 1000.0
    shortest = float(samples.detach().min()) if samples.numel() else 1.0
    if shortest < 1.0:
        raise ParameterError(
            f"delay.time_ms: expected a delay of at least 1 sample, found {shortest:g} samples "
            f"({float(time_ms.detach().min()):g} ms at {sample_rate:g} Hz); fix: raise time_ms or the sample rate"
        )
    return samples


def delay_step(
    x: torch.Tensor,
    sample_rate: float,
    state: dict | None = None,
    time_ms=250.0,
    feedback=0.35,
    damping=0.3,
    mix=0.25,
) -> tuple[torch.Tensor, dict]:
    """Delay one block, carrying the delay line from the previous block.

    Args:
        x: block, ``(batch, channels, samples)``; channels are delayed independently.
        sample_rate: Hz.
        state: ``{"history": (batch, channels, kept), "wet": (batch, channels)}`` (float64) returned by the
            previous call, or ``None`` for silence. ``kept = ceil(longest delay in samples) + 2``; it never shrinks,
            and a delay that grows past it reads silence for the part of the past that was not kept.
        time_ms: ``(batch,)`` or a number, ms between echoes.
        feedback: ``(batch,)`` or a number in [0, 0.95].
        damping: ``(batch,)`` or a number in [0, 0.99], the loop's one-pole coefficient.
        mix: ``(batch,)`` or a number in [0, 1].
    Returns:
        ``(y, state)``: ``y`` shaped like ``x``; the state after the block's last sample.

    Properties: differentiable in ``x``, every parameter (``time_ms`` through the interpolation slope) and the
    state; batched; streaming (blocks of any size give the offline result); deterministic.
    """
    check_signal(x, "delay")
    p = DELAY_PARAMS.resolve(x, time_ms=time_ms, feedback=feedback, damping=damping, mix=mix)
    samples = _delay_samples(p["time_ms"], sample_rate)
    wet, state = delay_line(x, samples, p["feedback"], p["damping"], state)
    wet_share = p["mix"][:, None, None]
    return (1.0 - wet_share) * x + wet_share * wet, state


def delay(x: torch.Tensor, sample_rate: float, time_ms=250.0, feedback=0.35, damping=0.3, mix=0.25) -> torch.Tensor:
    """Add damped feedback echoes every ``time_ms`` milliseconds.

    Args:
        x: signal, ``(batch, channels, samples)``; channels are delayed independently.
        sample_rate: Hz; a delay shorter than one sample (1 ms below 1 kHz) raises ParameterError.
        time_ms: ``(batch,)`` or a number, 1 to 2000 ms; fractional sample delays interpolate linearly.
        feedback: ``(batch,)`` or a number in [0, 0.95]; echo ``k`` has amplitude ``feedback^(k-1)`` undamped.
        damping: ``(batch,)`` or a number in [0, 0.99]; see the module docstring for its -3 dB frequency.
        mix: ``(batch,)`` or a number in [0, 1]; 0 is dry, 1 is only the echoes.
    Returns:
        ``(batch, channels, samples)``; the tail past the end of ``x`` is cut (stream with :func:`delay_step`).

    Properties: differentiable in ``x`` and every parameter (exact recursion, analytic backward on CPU);
    batched; deterministic; equals :func:`delay_step` from silence.

    Example:
        >>> y = delay(torch.randn(1, 2, 44100), 44100, time_ms=375.0, feedback=0.4, damping=0.5, mix=0.3)
    """
    return delay_step(x, sample_rate, None, time_ms=time_ms, feedback=feedback, damping=damping, mix=mix)[0]


register(Processor("delay", delay, DELAY_PARAMS, step=delay_step))
