"""Amount controls: turn whole kinds of decisions up or down at once ("half the EQ, a bit more reverb").

An amount of 1 leaves a recipe as it is, 0 removes that kind of processing, values in between scale it and
values above 1 exaggerate it:

========  ==========================================================================================
eq        every EQ band gain (``*_gain_db`` of ``parametric_eq``) times the amount; filters untouched
dynamics  compressor and expander ratios ``1 + (ratio - 1) * amount``, make-up gain times the amount
          (tracks and buses; the master limiter is a loudness target, not a mix decision, and stays)
space     every send level ``+ 20 log10(amount)`` dB (amount 0 removes the sends)
width     pan positions and stereo balances times the amount, widener widths ``1 + (width - 1) * amount``
========  ==========================================================================================

A scaled value outside its processor's range is an error naming the step, never a silent clamp.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping

from mixdown.console.recipe import Recipe, Step, Strip
from mixdown.dsp.registry import PROCESSORS
from mixdown.errors import ParameterError

__all__ = ["AMOUNTS", "apply_amounts", "parse_amounts", "parse_numbers"]

AMOUNTS = ("eq", "dynamics", "space", "width")
_MAX_AMOUNT = 4.0


def parse_amounts(text: str) -> dict[str, float]:
    """``"eq=0.5,space=1.2"`` -> ``{"eq": 0.5, "space": 1.2}``; raises ParameterError naming what is wrong."""
    amounts = parse_numbers(text, "--amount", "eq=0.5")
    _check(amounts)
    return amounts


def parse_numbers(text: str, option: str, example: str) -> dict[str, float]:
    """``"a=0.5, b=1"`` -> ``{"a": 0.5, "b": 1.0}``, the syntax of every NAME=NUMBER list option; raises
    ParameterError naming ``option`` and showing ``example`` when an item is not NAME=NUMBER."""
    numbers = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        try:
            numbers[name.strip()] = float(value)
        except ValueError:
            raise ParameterError(f"{option} {item!r}: expected NAME=NUMBER, e.g. {example}, found no number; fix: "
                                 f"write it as {name.strip() or example.split('=')[0]}=<number>") from None
    return numbers


def _check(amounts: Mapping[str, float]) -> None:
    for name, value in amounts.items():
        if name not in AMOUNTS:
            raise ParameterError(f"amount {name!r}: expected one of {', '.join(AMOUNTS)}, found {name!r}; fix: use "
                                 "one of those names")
        if not (isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= _MAX_AMOUNT):
            raise ParameterError(f"amount {name}: expected a number in 0..{_MAX_AMOUNT:g} (1 = as decided), found "
                                 f"{value!r}; fix: use e.g. {name}=0.5")


def apply_amounts(recipe: Recipe, amounts: Mapping[str, float]) -> Recipe:
    """A copy of ``recipe`` with the amounts applied (see the module docstring); ``notes["amounts"]`` records
    them. The original is not modified."""
    _check(amounts)
    scaled = copy.deepcopy(recipe)
    scaled.path = recipe.path
    a = {name: float(amounts.get(name, 1.0)) for name in AMOUNTS}
    strips = [("tracks", i, s) for i, s in enumerate(scaled.tracks)] + \
        [("buses", i, s) for i, s in enumerate(scaled.buses)] + [("returns", i, s) for i, s in enumerate(scaled.returns)]
    for kind, i, strip in strips:
        for k, step in enumerate(strip.chain):
            _scale_step(step, a, f"{kind}[{i}].chain[{k}]")
        _scale_sends(strip, a["space"])
    scaled.notes = {**scaled.notes, "amounts": {k: v for k, v in a.items() if v != 1.0}}
    return scaled


def _scale_step(step: Step, a: dict[str, float], where: str) -> None:
    table = PROCESSORS[step.type].table
    params = {**table.defaults(), **step.params}
    changes = {}
    if step.type == "parametric_eq":
        changes = {k: v * a["eq"] for k, v in params.items() if k.endswith("_gain_db")}
    elif step.type in ("compressor", "expander"):
        changes = {"ratio": 1.0 + (params["ratio"] - 1.0) * a["dynamics"]}
        if "makeup_db" in params:
            changes["makeup_db"] = params["makeup_db"] * a["dynamics"]
    elif step.type == "pan":
        changes = {"pan": params["pan"] * a["width"]}
    elif step.type == "widener":
        changes = {"width": 1.0 + (params["width"] - 1.0) * a["width"]}
    for name, value in changes.items():
        value = round(value, 4)
        if value == params[name]:  # unchanged: the recipe keeps its own spelling (defaults stay implicit)
            continue
        low, high = table[name].min, table[name].max
        if not low <= value <= high:
            raise ParameterError(f"{where}.params.{name}: the amounts make it {value:g}, outside {low:g}..{high:g}; "
                                 "fix: use a smaller amount or edit that step")
        step.params[name] = value


def _scale_sends(strip: Strip, amount: float) -> None:
    if amount == 0.0:
        strip.sends = []
        return
    for send in strip.sends:
        send.level_db = round(send.level_db + 20.0 * math.log10(amount), 3)
