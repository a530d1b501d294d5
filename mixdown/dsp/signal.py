"""Checks and small helpers shared by every processor."""

from __future__ import annotations

import torch

from mixdown.errors import AudioInputError, ParameterError

__all__ = ["check_below_nyquist", "check_signal"]


def check_signal(x: torch.Tensor, processor: str, channels: tuple[int, ...] | None = None) -> None:
    """Refuse anything that is not a floating tensor shaped ``(batch, channels, samples)``."""
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise AudioInputError(
            f"{processor}: expected a float tensor shaped (batch, channels, samples), found {shape}; "
            "fix: add the missing axes, e.g. x[None, None] for one mono signal"
        )
    if channels is not None and x.shape[1] not in channels:
        raise AudioInputError(
            f"{processor}: expected {' or '.join(map(str, channels))} channel(s), found {x.shape[1]}"
        )


def check_below_nyquist(processor: str, name: str, frequency_hz: torch.Tensor, sample_rate: float) -> None:
    """Refuse a frequency at or above Nyquist instead of clamping it silently."""
    nyquist = sample_rate / 2
    top = float(frequency_hz.detach().max())
    if top >= nyquist:
        raise ParameterError(
            f"{processor}.{name}: expected a frequency below Nyquist ({nyquist:g} Hz at {sample_rate:g} Hz), "
            f"found {top:g} Hz; fix: lower {name} or render at a higher sample rate"
        )
