"""Gain and polarity: the simplest processors, and the pattern every processor follows."""

from __future__ import annotations

import math

import torch

from mixdown.dsp.params import Param, ParamTable
from mixdown.dsp.registry import Processor, register
from mixdown.dsp.signal import check_signal

__all__ = ["GAIN_PARAMS", "POLARITY_PARAMS", "db_to_amplitude", "gain", "polarity"]

GAIN_PARAMS = ParamTable(
    "gain",
    Param("gain_db", "dB", -60.0, 24.0, 0.0, description="level change"),
)

POLARITY_PARAMS = ParamTable(
    "polarity",
    Param("invert", "", 0.0, 1.0, 0.0, description="0 keeps polarity, 1 inverts it; values between fade through silence"),
)


def db_to_amplitude(db: torch.Tensor) -> torch.Tensor:
    """Decibels to linear amplitude: ``10 ** (db / 20)`` (as one ``exp``, faster than ``pow`` on long signals)."""
    return torch.exp(db * (math.log(10.0) / 20.0))


def gain(x: torch.Tensor, sample_rate: float, gain_db=0.0) -> torch.Tensor:
    """Change the level by ``gain_db`` decibels.

    Args:
        x: signal, ``(batch, channels, samples)``.
        sample_rate: Hz (unused; every processor takes it).
        gain_db: ``(batch,)`` or a number, dB.
    Returns:
        ``(batch, channels, samples)``.

    Properties: differentiable; batched; stateless; deterministic.

    Example:
        >>> y = gain(torch.ones(1, 2, 4), 44100, gain_db=-6.0206)  # halves the amplitude
    """
    check_signal(x, "gain")
    p = GAIN_PARAMS.resolve(x, gain_db=gain_db)
    return x * db_to_amplitude(p["gain_db"])[:, None, None]


def polarity(x: torch.Tensor, sample_rate: float, invert=0.0) -> torch.Tensor:
    """Invert the polarity: ``y = (1 - 2 * invert) * x``.

    Args:
        x: signal, ``(batch, channels, samples)``.
        sample_rate: Hz (unused).
        invert: ``(batch,)`` or a number in [0, 1]; 1 flips the sign.
    Returns:
        ``(batch, channels, samples)``.

    Properties: differentiable; batched; stateless; deterministic.
    """
    check_signal(x, "polarity")
    p = POLARITY_PARAMS.resolve(x, invert=invert)
    return x * (1.0 - 2.0 * p["invert"])[:, None, None]


register(Processor("gain", gain, GAIN_PARAMS))
register(Processor("polarity", polarity, POLARITY_PARAMS))
