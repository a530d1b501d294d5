"""FX augmentation for contrastive learning: random chains of EQ, compression, imager, panning, reverb and gain.

Each effect of a config is applied with its own probability, with parameters drawn from its ranges
(:data:`DEFAULT_AUGMENT`, after Koo et al.'s FX-normalisation augmentation, REFERENCE.md §2) and clipped into
the processor's parameter table. The applied chain comes back as ``[{"type": ..., "params": ...}]``, exactly the
recipe's step format, so :func:`apply_chain`, a recipe strip or the console reproduce the output.

Order: fixed (the config's order: EQ, compressor, imager, pan, reverb, gain; the usual insert order, with the
level change last so it stays a pure level change) unless ``shuffle`` is set, when the order is a random
permutation drawn from the same generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from mixdown.data.random_mix import (
    EQ_BANDS_HZ,
    REVERB_SEEDS,
    below_nyquist,
    in_range,
    loguniform,
)
from mixdown.dsp.registry import PROCESSORS
from mixdown.errors import AudioInputError, ParameterError

__all__ = [
    "DEFAULT_AUGMENT",
    "AugmentConfig",
    "Effect",
    "apply_chain",
    "augment",
    "contrastive_pair",
    "same_fx",
    "sample_chain",
]


@dataclass(frozen=True)
class Effect:
    """One effect of an augmentation chain.

    Attributes:
        processor: a registry name (``mixdown processors``).
        probability: chance it is applied, 0..1.
        ranges: parameter -> ``(low, high, scale)``; scale "linear", "log" (log-uniform) or "int" (an integer
            seed); parameters not named keep their table defaults. Draws are clipped into the table.
    """

    processor: str
    probability: float
    ranges: dict[str, tuple[float, float, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class AugmentConfig:
    """Effects in their fixed order, and whether to shuffle that order per draw."""

    effects: tuple[Effect, ...]
    shuffle: bool = False

    def with_probabilities(self, **probabilities: float) -> AugmentConfig:
        """A copy with some effects' probabilities changed, by processor name (``compressor=0.0``)."""
        unknown = set(probabilities) - {e.processor for e in self.effects}
        if unknown:
            raise ParameterError(f"AugmentConfig: expected effects among {[e.processor for e in self.effects]}, "
                                 f"found {sorted(unknown)}")
        return AugmentConfig(tuple(Effect(e.processor, probabilities.get(e.processor, e.probability), e.ranges)
                                   for e in self.effects), self.shuffle)


def _eq_ranges() -> dict[str, tuple[float, float, str]]:
    ranges = {}
    for band, (low, high) in EQ_BANDS_HZ.items():
        ranges[f"{band}_gain_db"] = (-15.0, 15.0, "linear")
        ranges[f"{band}_freq_hz"] = (low, high, "log")
        ranges[f"{band}_q"] = (0.1, 2.0, "log")
    return ranges


DEFAULT_AUGMENT = AugmentConfig((
    Effect("parametric_eq", 0.8, _eq_ranges()),
    Effect("compressor", 0.6, {"threshold_db": (-60.0, -5.0, "linear"), "ratio": (4.0, 20.0, "log"),
                               "attack_ms": (1.0, 20.0, "log"), "release_ms": (50.0, 500.0, "log"),
                               "knee_db": (0.0, 12.0, "linear")}),
    Effect("widener", 0.5, {"width": (0.0, 2.0, "linear")}),
    Effect("pan", 0.5, {"pan": (-1.0, 1.0, "linear")}),
    Effect("reverb", 0.5, {"decay_low_s": (0.3, 4.0, "log"), "decay_lowmid_s": (0.3, 4.0, "log"),
                           "decay_highmid_s": (0.2, 3.0, "log"), "decay_high_s": (0.1, 2.0, "log"),
                           "pre_delay_ms": (0.0, 50.0, "linear"), "mix": (0.0, 0.5, "linear"),
                           "seed": (0, REVERB_SEEDS - 1, "int")}),
    Effect("gain", 0.8, {"gain_db": (-6.0, 9.0, "linear")}),
))
"""Koo et al.'s ranges where the tables allow: EQ +-15 dB per band, Q 0.1-2; compressor threshold -60 (table
floor; Koo -80) to -5 dB, ratio 4-20 (table ceiling; Koo 40), attack 1-20 ms, release 50-500 ms; imager width
0-2; reverb wet 0-0.5 (noise seed from :data:`~mixdown.data.random_mix.REVERB_SEEDS`); gain -6..+9 dB. Pan (balance) -1..+1 is ours."""


def _draw(rng: np.random.Generator, sample_rate: int, processor: str, name: str, low: float, high: float,
          scale: str):
    if name.endswith("_hz"):
        low, high = below_nyquist(low, high, sample_rate)
    if scale == "int":
        return int(in_range(processor, name, rng.integers(int(low), int(high) + 1)))
    value = loguniform(rng, low, high) if scale == "log" else rng.uniform(low, high)
    return in_range(processor, name, value)


def sample_chain(channels: int, sample_rate: int, rng: np.random.Generator,
                 config: AugmentConfig = DEFAULT_AUGMENT) -> list[dict]:
    """Draw an effect chain for a ``channels``-channel input at ``sample_rate`` Hz (frequencies stay below
    0.45 ``sample_rate``).

    Every effect's coin and parameters are drawn whether or not it is applied, so one effect's probability
    does not shift the others' draws. The imager needs stereo: on a signal still mono at its turn it is left out.

    Returns:
        ``[{"type": processor, "params": {...}}, ...]`` in the order applied.
    """
    if channels not in (1, 2):
        raise AudioInputError(f"sample_chain: expected 1 or 2 channels, found {channels}")
    order = list(rng.permutation(len(config.effects))) if config.shuffle else list(range(len(config.effects)))
    chain = []
    for k in order:
        effect = config.effects[k]
        applied = rng.uniform() < effect.probability
        params = {name: _draw(rng, sample_rate, effect.processor, name, *r) for name, r in effect.ranges.items()}
        if not applied or (effect.processor == "widener" and channels == 1):
            continue
        chain.append({"type": effect.processor, "params": params})
        channels = PROCESSORS[effect.processor].output_channels or channels
    return chain


def apply_chain(x: torch.Tensor, sample_rate: int, chain: list[dict]) -> torch.Tensor:
    """Apply ``chain`` (as :func:`sample_chain` returns) to ``x`` ``(channels, n)``; returns ``(channels', n)``
    (2 channels after a pan or reverb). Not differentiable (``torch.no_grad``)."""
    with torch.no_grad():
        y = x[None]
        for step in chain:
            y = PROCESSORS[step["type"]].fn(y, sample_rate, **step["params"])
    return y[0]


def _check(x: torch.Tensor, where: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[0] not in (1, 2):
        raise AudioInputError(f"{where}: expected a tensor (1 or 2 channels, samples), "
                              f"found {tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")


def augment(x: torch.Tensor, sample_rate: int, rng: np.random.Generator,
            config: AugmentConfig = DEFAULT_AUGMENT) -> tuple[torch.Tensor, list[dict]]:
    """Process ``x`` with a random effect chain.

    Args:
        x: float ``(channels, samples)``, 1 or 2 channels.
        sample_rate: Hz.
        rng: the only source of randomness.
        config: effects, probabilities and ranges.
    Returns:
        ``(y, applied)``: ``y`` ``(channels', samples)`` (2 channels once a pan or reverb ran); ``applied`` the
        chain as recipe steps, ``apply_chain(x, sample_rate, applied)`` reproduces ``y``.

    Properties: not differentiable; deterministic per ``rng`` state.
    """
    _check(x, "augment")
    chain = sample_chain(x.shape[0], sample_rate, rng, config)
    return apply_chain(x, sample_rate, chain), chain


def contrastive_pair(x: torch.Tensor, sample_rate: int, rng: np.random.Generator,
                     config: AugmentConfig = DEFAULT_AUGMENT) -> tuple[torch.Tensor, list[dict], torch.Tensor, list[dict]]:
    """Two views of the same content under two independent effect chains: ``(y1, applied1, y2, applied2)``."""
    y1, a1 = augment(x, sample_rate, rng, config)
    y2, a2 = augment(x, sample_rate, rng, config)
    return y1, a1, y2, a2


def same_fx(x1: torch.Tensor, x2: torch.Tensor, sample_rate: int, rng: np.random.Generator,
            config: AugmentConfig = DEFAULT_AUGMENT) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """The same effect chain on two different excerpts (the FX-embedding setting: same effects, different
    content). ``x1`` and ``x2`` ``(channels, n)`` need the same channel count (lengths may differ).

    Returns:
        ``(y1, y2, applied)``.
    """
    _check(x1, "same_fx")
    _check(x2, "same_fx")
    if x1.shape[0] != x2.shape[0]:
        raise AudioInputError(f"same_fx: expected excerpts with the same channel count, found {x1.shape[0]} and "
                              f"{x2.shape[0]}; fix: convert both to stereo")
    chain = sample_chain(x1.shape[0], sample_rate, rng, config)
    return apply_chain(x1, sample_rate, chain), apply_chain(x2, sample_rate, chain), chain
