"""The console a DMC controls, and its parameters as the normalised numbers a network predicts.

Every track gets the random-mix strip (:func:`mixdown.data.random_mix.sample_recipe`): a trim measured from the
stem (not predicted), high-pass, six-band EQ, compressor, fader and pan, plus one send to a shared reverb
return. Each predicted value is normalised to ``[0, 1]`` by its processor's parameter table (the single source
of truth for ranges), so the parameter vectors of a random mix are the training targets as they stand, and a
prediction becomes an ordinary, editable recipe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mixdown.console.recipe import MASTER, Recipe, Send, Step, Strip
from mixdown.console.render import Console
from mixdown.dsp.params import Param
from mixdown.dsp.registry import PROCESSORS
from mixdown.errors import ParameterError
from mixdown.mastering.tone import NYQUIST_SHARE, eq_below_nyquist

__all__ = ["FADER", "PAN", "REVERB_RETURN", "SEND", "SPACE", "TRACK_STEPS", "DmcSpace"]

TRACK_STEPS = ("gain", "highpass", "parametric_eq", "compressor", "gain", "pan")
"""The track strip, in order; step 0 is the trim (measured from the stem, not predicted)."""
REVERB_RETURN = "reverb"
SEND = Param("send_db", "dB", -60.0, 0.0, -20.0, description="level of a track's send to the reverb return")
"""The send level's range, as a parameter table entry (sends belong to no processor)."""
_RETURN_FIXED = {"mix": 1.0, "seed": 0.0}  # the return is fully wet; its noise seed is structure, not a knob


@dataclass(frozen=True)
class DmcSpace:
    """Which parameters a DMC predicts, and how they map to a recipe and a console.

    Attributes:
        track: ``(step index, Param)`` per predicted track parameter, in the network's output order (the order of
            :func:`mixdown.data.pipeline.recipe_vector` without the trim).
        ret: the reverb return's predicted parameters.
    """

    track: tuple[tuple[int, Param], ...]
    ret: tuple[Param, ...]

    @property
    def track_size(self) -> int:
        """Predicted values per track: the strip's parameters and the send level."""
        return len(self.track) + 1

    def skeleton(self, names: list[str], roles: list[str | None], sample_rate: int) -> Recipe:
        """A recipe of default strips for these tracks (trim 0 dB, send at its default), ready to compile."""
        if len(names) != len(roles) or not names:
            raise ParameterError(f"DmcSpace: expected one role per track name, at least one, found {len(names)} "
                                 f"names and {len(roles)} roles")
        steps = [{} if kind != "parametric_eq" else eq_below_nyquist({}, sample_rate) for kind in TRACK_STEPS]
        tracks = [Strip(name, [Step(kind, dict(params)) for kind, params in zip(TRACK_STEPS, steps)],
                        [Send(REVERB_RETURN, SEND.default)],
                        route=MASTER, role=role) for name, role in zip(names, roles)]
        reverb = {p.name: p.default for p in self.ret} | _RETURN_FIXED
        return Recipe(tracks=tracks, returns=[Strip(REVERB_RETURN, [Step("reverb", reverb)])], master=[],
                      sample_rate=sample_rate, notes={"generator": "mixdown.methods.dmc"})

    def physical(self, track_norm: torch.Tensor, return_norm: torch.Tensor,
                 sample_rate: float) -> tuple[dict, torch.Tensor, dict]:
        """Normalised predictions to physical units (differentiable).

        Every frequency stays under ``NYQUIST_SHARE`` of the sample rate, as the rules mixer's do: a range that
        reaches 20 kHz is capped there at low rates (at 8 kHz, 3.6 kHz), so every session rate renders.

        Args:
            track_norm: ``(tracks, track_size)`` in ``[0, 1]``: the strip parameters then the send.
            return_norm: ``(len(ret),)`` in ``[0, 1]``.
            sample_rate: Hz of the session the values are for.
        Returns:
            ``(track_values, sends_db, return_values)``: ``{(step, name): (tracks,)}``, ``(tracks,)`` dB and
            ``{(0, name): (1,)}`` for the return's reverb step.
        """
        if track_norm.dim() != 2 or track_norm.shape[1] != self.track_size or return_norm.shape != (len(self.ret),):
            raise ParameterError(f"DmcSpace: expected track values (tracks, {self.track_size}) and return values "
                                 f"({len(self.ret)},), found {tuple(track_norm.shape)} and {tuple(return_norm.shape)}")
        top = math.floor(NYQUIST_SHARE * sample_rate)
        values = {(k, p.name): p.denormalize(track_norm[:, j]).clamp(max=top) if p.unit == "Hz" and p.max > top
                  else p.denormalize(track_norm[:, j]) for j, (k, p) in enumerate(self.track)}
        sends = SEND.denormalize(track_norm[:, -1])
        ret = {(0, p.name): p.denormalize(return_norm[j : j + 1]) for j, p in enumerate(self.ret)}
        return values, sends, ret

    def bind(self, console: Console, track_norm: torch.Tensor, return_norm: torch.Tensor) -> None:
        """Set a console compiled from :meth:`skeleton` (or :meth:`to_recipe`) to these predictions; gradients
        flow from its render back into ``track_norm`` and ``return_norm``."""
        values, sends, ret = self.physical(track_norm, return_norm, console.sample_rate)
        console.set_parameters("tracks", values)
        console.set_send_levels("tracks", sends[None])
        console.set_parameters("returns", ret)

    def to_recipe(self, names: list[str], roles: list[str | None], trims_db: list[float],
                  track_norm: torch.Tensor, return_norm: torch.Tensor, sample_rate: int,
                  decimals: int | None = None) -> Recipe:
        """The predictions as an ordinary recipe of plain floats (rounded to ``decimals`` places of their unit,
        for people to read; None: exact), with each track's measured trim."""
        def plain(x) -> float:
            return float(x) if decimals is None else round(float(x), decimals)

        recipe = self.skeleton(names, roles, sample_rate)
        values, sends, ret = self.physical(track_norm.detach().double(), return_norm.detach().double(), sample_rate)
        for i, strip in enumerate(recipe.tracks):
            strip.chain[0].params["gain_db"] = plain(trims_db[i])
            for (k, name), value in values.items():
                strip.chain[k].params[name] = plain(value[i])
            strip.sends[0].level_db = plain(sends[i])
        recipe.returns[0].chain[0].params.update({name: plain(v[0]) for (_, name), v in ret.items()})
        recipe.validate()
        return recipe

    def from_recipe(self, recipe: Recipe) -> tuple[torch.Tensor, torch.Tensor]:
        """The normalised values of a recipe with this strip (a random mix's, say): ``(tracks, track_size)``
        and ``(len(ret),)`` float32. A bypassed compressor reads as its parameters (random mixes set ratio 1);
        a track without a send reads the send's minimum; a recipe without the return reads its defaults."""
        rows = []
        for strip in recipe.tracks:
            if tuple(s.type for s in strip.chain) != TRACK_STEPS:
                raise ParameterError(f"DmcSpace: expected track {strip.name!r} to have the strip {TRACK_STEPS}, "
                                     f"found {tuple(s.type for s in strip.chain)}")
            row = [float(p.normalize(float(strip.chain[k].params.get(p.name, p.default)))) for k, p in self.track]
            level = next((s.level_db for s in strip.sends if s.to == REVERB_RETURN), SEND.min)
            rows.append(row + [float(SEND.normalize(min(max(level, SEND.min), SEND.max)))])
        reverb = next((r.chain[0].params for r in recipe.returns if r.name == REVERB_RETURN and r.chain), {})
        ret = [float(p.normalize(float(reverb.get(p.name, p.default)))) for p in self.ret]
        return torch.tensor(rows, dtype=torch.float32), torch.tensor(ret, dtype=torch.float32)


def _default_space() -> DmcSpace:
    track = tuple((k, p) for k, kind in enumerate(TRACK_STEPS) if k > 0 for p in PROCESSORS[kind].table.numeric)
    ret = tuple(p for p in PROCESSORS["reverb"].table.numeric if p.name not in _RETURN_FIXED)
    return DmcSpace(track, ret)


SPACE = _default_space()
"""The default space: 27 values per track (high-pass 1, EQ 18, compressor 6, fader 1, pan 1) plus the send, and
the reverb's four decays and pre-delay."""
FADER = next(j for j, (k, p) in enumerate(SPACE.track) if k == TRACK_STEPS.index("gain", 1) and p.name == "gain_db")
PAN = next(j for j, (k, p) in enumerate(SPACE.track) if TRACK_STEPS[k] == "pan")
"""Columns of the fader and the pan position in :data:`SPACE`'s track values."""
