"""Declarative parameter tables: the single source of truth for every processor's ranges.

A table drives validation, [0, 1] normalisation for networks, the recipe schema, CLI help and
``docs/processors.md``. Numeric parameters become tensors shaped ``(batch,)`` on the input's dtype and device;
choice parameters (a pan law, say) stay plain strings and are not differentiable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from mixdown.errors import ParameterError

__all__ = ["Choice", "Param", "ParamTable"]


@dataclass(frozen=True)
class Param:
    """One numeric parameter in physical units.

    ``scale="log"`` maps [0, 1] geometrically (frequencies, times, ratios), so equal steps sound equal;
    it needs ``min > 0``. ``differentiable=False`` marks a parameter that acts in whole samples (a look-ahead,
    say): it still takes tensors, but its gradient is zero.
    """

    name: str
    unit: str
    min: float
    max: float
    default: float
    scale: str = "linear"
    description: str = ""
    differentiable: bool = True

    def __post_init__(self) -> None:
        if not self.min <= self.default <= self.max:
            raise ValueError(f"{self.name}: default {self.default} outside [{self.min}, {self.max}]")
        if self.scale not in ("linear", "log"):
            raise ValueError(f"{self.name}: scale must be 'linear' or 'log', not {self.scale!r}")
        if self.scale == "log" and self.min <= 0:
            raise ValueError(f"{self.name}: a log-scaled parameter needs min > 0")

    def normalize(self, value: torch.Tensor | float) -> torch.Tensor | float:
        """Physical value -> [0, 1]."""
        if self.scale == "log":
            lo, hi = math.log(self.min), math.log(self.max)
            log = torch.log if isinstance(value, torch.Tensor) else math.log
            return (log(value) - lo) / (hi - lo)
        return (value - self.min) / (self.max - self.min)

    def denormalize(self, unit_value: torch.Tensor | float) -> torch.Tensor | float:
        """[0, 1] -> physical value (differentiable for tensors)."""
        if self.scale == "log":
            lo, hi = math.log(self.min), math.log(self.max)
            exp = torch.exp if isinstance(unit_value, torch.Tensor) else math.exp
            return exp(lo + unit_value * (hi - lo))
        return self.min + unit_value * (self.max - self.min)


@dataclass(frozen=True)
class Choice:
    """A categorical option (not differentiable, not normalised)."""

    name: str
    choices: tuple[str, ...]
    default: str
    description: str = ""

    def __post_init__(self) -> None:
        if self.default not in self.choices:
            raise ValueError(f"{self.name}: default {self.default!r} not in {self.choices}")


class ParamTable:
    """An ordered set of :class:`Param` and :class:`Choice` entries for one processor."""

    def __init__(self, processor: str, *entries: Param | Choice) -> None:
        self.processor = processor
        self.entries = {e.name: e for e in entries}
        if len(self.entries) != len(entries):
            raise ValueError(f"{processor}: duplicate parameter names")

    @property
    def numeric(self) -> tuple[Param, ...]:
        return tuple(e for e in self.entries.values() if isinstance(e, Param))

    @property
    def choices(self) -> tuple[Choice, ...]:
        return tuple(e for e in self.entries.values() if isinstance(e, Choice))

    def __getitem__(self, name: str) -> Param | Choice:
        return self.entries[name]

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def __iter__(self):
        return iter(self.entries.values())

    def defaults(self) -> dict[str, float | str]:
        return {e.name: e.default for e in self.entries.values()}

    def check_names(self, names) -> None:
        unknown = sorted(set(names) - set(self.entries))
        if unknown:
            raise ParameterError(
                f"{self.processor}: unknown parameter(s) {', '.join(unknown)}; "
                f"expected some of: {', '.join(self.entries)}"
            )

    def check_value(self, name: str, value) -> None:
        """Raise :class:`ParameterError` when ``value`` is outside the declared range or choices."""
        entry = self.entries[name]
        if isinstance(entry, Choice):
            if value not in entry.choices:
                raise ParameterError(
                    f"{self.processor}.{name}: expected one of {', '.join(entry.choices)}, found {value!r}"
                )
            return
        if isinstance(value, torch.Tensor):
            bad = torch.isnan(value) | (value < entry.min) | (value > entry.max)
            if bool(bad.any()):
                found = value.detach()[bad].flatten()[0].item()
            else:
                return
        else:
            try:
                found = float(value)
            except (TypeError, ValueError):
                raise ParameterError(
                    f"{self.processor}.{name}: expected a number in {entry.unit or 'units'}, found {value!r}"
                ) from None
            if entry.min <= found <= entry.max:
                return
        raise ParameterError(
            f"{self.processor}.{name}: expected {entry.min} to {entry.max} {entry.unit}, found {found}; "
            f"fix: set {name} inside its range"
        )

    def resolve(self, x: torch.Tensor, **given) -> dict:
        """Validate ``given`` and fill in defaults.

        Args:
            x: the signal, ``(batch, channels, samples)``; sets batch size, dtype and device.
            **given: parameter values: floats, 0-d tensors or tensors shaped ``(batch,)``; strings for choices.
        Returns:
            dict name -> tensor ``(batch,)`` on ``x``'s dtype and device (choices stay strings).
        """
        self.check_names(given)
        batch = x.shape[0]
        out = {}
        for entry in self.entries.values():
            value = given.get(entry.name, entry.default)
            if value is None:
                value = entry.default
            self.check_value(entry.name, value)
            if isinstance(entry, Choice):
                out[entry.name] = value
                continue
            t = torch.as_tensor(value, dtype=x.dtype, device=x.device)
            if t.dim() == 0:
                t = t.expand(batch)
            elif t.shape != (batch,):
                raise ParameterError(
                    f"{self.processor}.{entry.name}: expected a number or a tensor shaped ({batch},), "
                    f"found shape {tuple(t.shape)}"
                )
            out[entry.name] = t
        return out

    def normalize(self, values: Mapping[str, torch.Tensor | float]) -> dict:
        """Physical values -> [0, 1] for every numeric parameter present."""
        return {k: self.entries[k].normalize(v) for k, v in values.items() if isinstance(self.entries[k], Param)}

    def denormalize(self, unit_values: Mapping[str, torch.Tensor | float]) -> dict:
        """[0, 1] values -> physical units for every numeric parameter present."""
        return {k: self.entries[k].denormalize(v) for k, v in unit_values.items()}
