"""What changed between two versions of a mix, said the way a person would: ``bass -6 dB, keys muted``.

The studio keeps every finished mix and every whole-song render of an edit as a numbered version of its project
(:class:`mixdown.app.store.Version`); this module writes their labels. An edit's changes are read from the recipe
it was made from and the edited recipe (the page sends whole recipes), so a script's edits are labelled too.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["describe_edit", "edit_label", "mix_label"]

_MOST = 4  # changes named in a label; the rest are counted


def mix_label(method: str, first: bool) -> str:
    """A mix's label: ``first mix (rules)``, or ``new mix (dmc)`` when the project had one already."""
    return f"{'first' if first else 'new'} mix ({method})"


def edit_label(change: str, remaster: bool, base: int | None, latest: int) -> str:
    """A whole-song render's label.

    Args:
        change: :func:`describe_edit` of the edit ("" when the recipe is unchanged).
        remaster: the master chain was decided anew.
        base: the number of the version edited (None: not a version, e.g. an edit of a preview).
        latest: the newest version's number when this one is added.
    """
    earlier = base is not None and base != latest
    if remaster:
        return "mastered again" + (f" after: {change}" if change else "") + (f" (from version {base})" if earlier else "")
    of = f" of version {base}" if earlier else ""
    return f"edit{of}: {change}" if change else f"rendered again{of} (no change)"


def describe_edit(before: dict[str, Any], after: dict[str, Any]) -> str:
    """The differences of recipe ``after`` from ``before`` that the studio's mixer makes (per track: fader, pan,
    mute, sends, EQ and dynamics amounts; the master gain), as a short comma-separated phrase; any other
    difference is "other changes". "" when the two are the same."""
    changes: list[str] = []
    earlier = {t.get("name"): t for t in before.get("tracks", [])}
    for track in after.get("tracks", []):
        name = track.get("name")
        if name in earlier:
            changes += _track_changes(name, earlier[name], track)
    master = _gain(before.get("master", {}).get("chain", [])), _gain(after.get("master", {}).get("chain", []))
    if _moved(*master):
        changes.append(f"master {_db(master[1] - master[0])}")
    if _rest(before) != _rest(after) or (not changes and before != after):
        changes.append("other changes")
    if len(changes) > _MOST:
        changes = [*changes[:_MOST], f"{len(changes) - _MOST} more"]
    return ", ".join(changes)


def _track_changes(name: str, before: dict, after: dict) -> list[str]:
    found = []
    a, b = _gain(before.get("chain", [])), _gain(after.get("chain", []))
    if _moved(a, b):
        found.append(f"{name} {_db(b - a)}")
    a, b = _param(before, "pan", "pan", 0.0), _param(after, "pan", "pan", 0.0)
    if _moved(a, b, 0.005):
        found.append(f"{name} pan {_pan(b)}")
    if bool(before.get("mute")) != bool(after.get("mute")):
        found.append(f"{name} {'muted' if after.get('mute') else 'unmuted'}")
    sends = {s.get("to"): s.get("level_db") for s in before.get("sends", [])}
    for to in sorted(set(sends) | {s.get("to") for s in after.get("sends", [])}, key=str):
        level = next((s.get("level_db") for s in after.get("sends", []) if s.get("to") == to), None)
        if level is None and sends.get(to) is not None:
            found.append(f"{name} {to} send off")
        elif level is not None and (sends.get(to) is None or _moved(sends[to], level)):
            found.append(f"{name} {to} send {level:g} dB")
    eq_before, eq_after = _step(before, "parametric_eq"), _step(after, "parametric_eq")
    if eq_before is not None and eq_after is not None and eq_before != eq_after:
        found.append(f"{name} EQ {_amount(eq_before, eq_after)}")
    comp_before, comp_after = _step(before, "compressor"), _step(after, "compressor")
    if comp_before is not None and comp_after is not None and comp_before != comp_after:
        ratio = comp_after.get("ratio")
        found.append(f"{name} dynamics {ratio:g}:1" if isinstance(ratio, int | float) else f"{name} dynamics")
    return found


def _rest(recipe: dict) -> dict:
    """The recipe without what :func:`_track_changes` and the master gain read: what else differs is counted."""
    def strip(track: dict) -> dict:  # the fader and pan may be added; EQ and dynamics only change
        chain = [s.get("type") if s.get("type") in ("parametric_eq", "compressor") else s
                 for s in track.get("chain", []) if s.get("type") not in ("gain", "pan")]
        return {**{k: v for k, v in track.items() if k not in ("mute", "sends", "chain")}, "chain": chain}

    master = recipe.get("master", {})
    return {**{k: v for k, v in recipe.items() if k not in ("tracks", "master")},
            "tracks": [strip(t) for t in recipe.get("tracks", [])],
            "master": {**master, "chain": [s for s in master.get("chain", []) if s.get("type") != "gain"]}}


def _step(track: dict, kind: str) -> dict | None:
    step = next((s for s in track.get("chain", []) if s.get("type") == kind and not s.get("bypass")), None)
    return None if step is None else step.get("params", {})


def _param(track: dict, kind: str, key: str, default: float) -> float:
    params = _step(track, kind)
    value = default if params is None else params.get(key, default)
    return float(value) if isinstance(value, int | float) else default


def _gain(chain: list[dict]) -> float:
    return _param({"chain": chain}, "gain", "gain_db", 0.0)


def _moved(a: float, b: float, by: float = 0.05) -> bool:
    return abs(b - a) >= by


def _db(x: float) -> str:
    return f"{round(x, 1):+g} dB"


def _pan(x: float) -> str:
    return "C" if abs(x) < 0.005 else f"{'L' if x < 0 else 'R'}{abs(x) * 100:.0f}"


def _amount(before: dict, after: dict) -> str:
    """The EQ amount the page's slider set (the gains scaled together), else "changed"."""
    for key, value in before.items():
        if key.endswith("_gain_db") and isinstance(value, int | float) and abs(value) > 1e-6:
            scaled = after.get(key)
            if isinstance(scaled, int | float) and math.isfinite(scaled):
                return f"\N{MULTIPLICATION SIGN}{scaled / value:.1f}"
    return "changed"
