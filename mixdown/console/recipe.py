"""The recipe: a mix as versioned, validated, human-editable JSON.

A recipe holds per-track channel strips (a chain of processors with parameters in physical units, a route to a
bus or the master, sends to FX returns), subgroup buses, FX returns and the master chain. Every step may carry a
one-line ``reason`` (why an automatic mixer chose it). Validation checks every field against the processor
registry's parameter tables and names the offending field, e.g. ``tracks[2].chain[1].params.ratio``.

Schema (version 1)::

    {"schema": "mixdown.recipe", "version": 1, "sample_rate": 44100,
     "tracks":  [{"name": "kick", "source": "stems/kick.wav", "role": "kick", "route": "drums", "mute": false,
                  "chain": [{"type": "gain", "params": {"gain_db": -3.0}, "reason": "..."}],
                  "sends": [{"to": "reverb", "level_db": -18.0}]}],
     "buses":   [{"name": "drums", "chain": [...], "sends": [...]}],
     "returns": [{"name": "reverb", "chain": [{"type": "reverb", "params": {...}}]}],
     "master":  {"chain": [...]},
     "gain_sharing": {"tracks": ["host", "guest"], "params": {"hold_ms": 1000.0}, "weights_db": {"host": 3.0}},
     "notes": {}}

Buses and returns feed the master. Sends come from tracks and buses (post-chain) and feed returns. The optional
``gain_sharing`` section (the speech automixer, :mod:`mixdown.dsp.gain_sharing`) scales the listed tracks' inputs
by their Dugan gains before their strips.
"""

from __future__ import annotations

import json
import math
import os
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixdown.dsp.gain_sharing import GAIN_SHARING_PARAMS, WEIGHT_RANGE_DB
from mixdown.dsp.params import Param
from mixdown.dsp.registry import PROCESSORS
from mixdown.errors import ParameterError, RecipeError
from mixdown.export.files import read_json, write_text_atomic

__all__ = ["MASTER", "SCHEMA_NAME", "SCHEMA_VERSION", "GainSharing", "Recipe", "Send", "Step", "Strip"]

SCHEMA_NAME = "mixdown.recipe"
SCHEMA_VERSION = 1
MASTER = "master"


@dataclass
class Step:
    """One processor in a chain: its registry ``type`` and parameters in physical units."""

    type: str
    params: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    bypass: bool = False

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"type": self.type, "params": dict(self.params)}
        if self.reason:
            d["reason"] = self.reason
        if self.bypass:
            d["bypass"] = True
        return d


@dataclass
class Send:
    """A post-chain send to an FX return at ``level_db``."""

    to: str
    level_db: float
    reason: str = ""

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"to": self.to, "level_db": self.level_db}
        if self.reason:
            d["reason"] = self.reason
        return d


@dataclass
class Strip:
    """A channel strip: a track, a subgroup bus or an FX return."""

    name: str
    chain: list[Step] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    route: str = MASTER
    mute: bool = False
    source: str | None = None
    role: str | None = None

    def active_steps(self) -> list[Step]:
        return [s for s in self.chain if not s.bypass]

    def to_dict(self, kind: str) -> dict:
        d: dict[str, Any] = {"name": self.name}
        if kind == "tracks":
            if self.source is not None:
                d["source"] = self.source
            if self.role is not None:
                d["role"] = self.role
            d["route"] = self.route
            if self.mute:
                d["mute"] = True
        d["chain"] = [s.to_dict() for s in self.chain]
        if kind != "returns":
            d["sends"] = [s.to_dict() for s in self.sends]
        return d


@dataclass
class GainSharing:
    """Dugan gain sharing over ``tracks`` (speech microphones), applied to their inputs before their strips.

    ``params`` are :data:`mixdown.dsp.gain_sharing.GAIN_SHARING_PARAMS` values (omitted ones take defaults);
    ``weights_db`` biases a track in the sharing (tracks not named weigh 0 dB).
    """

    tracks: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    weights_db: dict[str, float] = field(default_factory=dict)
    reason: str = ""

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"tracks": list(self.tracks), "params": dict(self.params)}
        if self.weights_db:
            d["weights_db"] = dict(self.weights_db)
        if self.reason:
            d["reason"] = self.reason
        return d


@dataclass
class Recipe:
    """A whole mix. Build it in code, or load an edited JSON file with :meth:`load`."""

    tracks: list[Strip] = field(default_factory=list)
    buses: list[Strip] = field(default_factory=list)
    returns: list[Strip] = field(default_factory=list)
    master: list[Step] = field(default_factory=list)
    sample_rate: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    gain_sharing: GainSharing | None = None
    path: Path | None = field(default=None, compare=False, repr=False)

    # --- serialisation ------------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"schema": SCHEMA_NAME, "version": SCHEMA_VERSION}
        if self.sample_rate is not None:
            d["sample_rate"] = self.sample_rate
        d["tracks"] = [t.to_dict("tracks") for t in self.tracks]
        d["buses"] = [b.to_dict("buses") for b in self.buses]
        d["returns"] = [r.to_dict("returns") for r in self.returns]
        d["master"] = {"chain": [s.to_dict() for s in self.master]}
        if self.gain_sharing is not None:
            d["gain_sharing"] = self.gain_sharing.to_dict()
        if self.notes:
            d["notes"] = self.notes
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save(self, path: str | os.PathLike) -> Path:
        """Write the recipe atomically (temp file in the same folder, then rename). A recipe read from a file
        still names the same audio when saved in another folder: its relative sources are rewritten for it."""
        path = Path(path)
        if self.path is not None and os.path.abspath(self.path.parent) != os.path.abspath(path.parent):
            for strip in self.tracks:
                if strip.source is not None and not os.path.isabs(strip.source):
                    # abspath, not resolve: a source that is a link stays the link
                    strip.source = os.path.relpath(os.path.abspath(self.path.parent / strip.source),
                                                   os.path.abspath(path.parent))
        self.path = write_text_atomic(path, self.to_json())
        return self.path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Recipe:
        """Read and validate a recipe file; errors name the file and the field."""
        return cls.from_file_data(read_json(path, "recipe", RecipeError), path)

    @classmethod
    def from_file_data(cls, data: Any, path: str | os.PathLike) -> Recipe:
        """Validate the parsed JSON of the recipe file ``path`` (errors name the file and the field)."""
        path = Path(path)
        try:
            recipe = cls.from_dict(data)
        except RecipeError as e:
            raise RecipeError(f"{path}: {e}") from None
        recipe.path = path
        return recipe

    @classmethod
    def from_dict(cls, data: Any) -> Recipe:
        """Build and validate a recipe from parsed JSON."""
        v = _Validator()
        v.object(data, "recipe", required=("tracks",),
                 optional=("schema", "version", "sample_rate", "buses", "returns", "master", "gain_sharing", "notes"))
        _check_values(data)
        if data.get("schema", SCHEMA_NAME) != SCHEMA_NAME:
            v.fail("schema", f"expected {SCHEMA_NAME!r}, found {_shown(data['schema'])}",
                   f"a mixdown recipe says \"schema\": \"{SCHEMA_NAME}\"; check that this is a recipe file")
        version = data.get("version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION or isinstance(version, bool):
            v.fail("version", f"expected {SCHEMA_VERSION} (this mixdown reads version {SCHEMA_VERSION}), found "
                   f"{_shown(version)}", "render it with the mixdown that wrote it, or upgrade mixdown")
        sample_rate = data.get("sample_rate")
        if sample_rate is not None and (not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or not 8000 <= sample_rate <= 384000):
            v.fail("sample_rate", f"expected an integer from 8000 to 384000 Hz, found {_shown(sample_rate)}",
                   "write a whole number such as 44100 or 48000 (no quotes), or leave sample_rate out")
        master = data.get("master", {"chain": []})
        v.object(master, "master", required=(), optional=("chain",))
        notes = data.get("notes", {})
        if not isinstance(notes, dict):
            v.fail("notes", f"expected an object, found {_kind(notes)}", "write \"notes\": {} or leave it out")
        recipe = cls(
            tracks=[v.strip(t, f"tracks[{i}]", "tracks") for i, t in enumerate(v.array(data["tracks"], "tracks"))],
            buses=[v.strip(b, f"buses[{i}]", "buses") for i, b in enumerate(v.array(data.get("buses", []), "buses"))],
            returns=[v.strip(r, f"returns[{i}]", "returns") for i, r in enumerate(v.array(data.get("returns", []), "returns"))],
            master=v.chain(master.get("chain", []), "master.chain"),
            sample_rate=sample_rate,
            notes=notes,
            gain_sharing=v.gain_sharing(data["gain_sharing"], "gain_sharing") if "gain_sharing" in data else None,
        )
        recipe.validate()
        return recipe

    # --- checks across fields -----------------------------------------------------------------------------------

    def validate(self) -> None:
        """Check names, routes and sends refer to things that exist, and every parameter is in range."""
        v = _Validator()
        if not self.tracks:
            v.fail("tracks", "expected at least one track, found none", "add a track: {\"name\": ..., \"source\": ...}")
        for kind, strips in (("tracks", self.tracks), ("buses", self.buses), ("returns", self.returns)):
            seen: set[str] = set()
            for i, s in enumerate(strips):
                if s.name in seen:
                    v.fail(f"{kind}[{i}].name", f"expected unique names, found {s.name!r} twice",
                           f"rename one of them (e.g. {s.name!r} 2)")
                seen.add(s.name)
                for j, step in enumerate(s.chain):
                    v.step_params(step, f"{kind}[{i}].chain[{j}]")
        for j, step in enumerate(self.master):
            v.step_params(step, f"master.chain[{j}]")
        bus_names = {b.name for b in self.buses}
        return_names = {r.name for r in self.returns}
        if MASTER in bus_names | return_names:
            v.fail("buses", f"expected no bus or return named {MASTER!r} (reserved), found one", "rename it")
        for i, t in enumerate(self.tracks):
            if t.route != MASTER and t.route not in bus_names:
                v.fail(f"tracks[{i}].route", f"expected {MASTER!r} or one of the buses {sorted(bus_names)}, found {t.route!r}",
                       "route it to one of those, or add that bus to \"buses\"")
        for kind, strips in (("tracks", self.tracks), ("buses", self.buses)):
            for i, s in enumerate(strips):
                for k, send in enumerate(s.sends):
                    if send.to not in return_names:
                        v.fail(f"{kind}[{i}].sends[{k}].to", f"expected one of the returns {sorted(return_names)}, found {send.to!r}",
                               "send to one of those, or add that return to \"returns\"")
        if self.gain_sharing is not None:
            v.gain_sharing_refs(self.gain_sharing, [t.name for t in self.tracks])

    def strip(self, name: str) -> Strip:
        for s in (*self.tracks, *self.buses, *self.returns):
            if s.name == name:
                return s
        raise KeyError(name)


MAX_DEPTH = 32
"""Deepest nesting of values a recipe may hold (its own fields need 6 levels; ``notes`` gets the rest)."""


def _kind(value: Any) -> str:
    """What a JSON value is, in words: ``a list``, ``text``, ``an object`` ..."""
    if value is None:
        return "null"
    kinds = ((bool, "true/false"), ((int, float), "a number"), (str, "text"), (list, "a list"), (dict, "an object"))
    return next((k for t, k in kinds if isinstance(value, t)), type(value).__name__)


def _shown(value: Any, limit: int = 60) -> str:
    """``value`` as written, shortened to ``limit`` characters (a pasted file must not flood the message)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    text = _short_repr(limit).repr(value) if isinstance(value, (str, list, dict)) else repr(value)
    return text if len(text) <= limit + 10 else text[:limit] + "..."


def _short_repr(limit: int) -> reprlib.Repr:
    short = reprlib.Repr()  # (keyword arguments only from Python 3.12)
    short.maxstring = short.maxother = limit
    short.maxlist = short.maxdict = 6
    short.maxlevel = 2
    return short


def _check_values(data: Any) -> None:
    """Refuse non-finite numbers (Python's JSON reader takes NaN and Infinity) and values nested deeper than
    :data:`MAX_DEPTH` anywhere in the parsed recipe, naming the field; iterative, so no depth can overflow."""
    pending: list[tuple[Any, str, int]] = [(data, "", 0)]
    while pending:
        value, where, depth = pending.pop()
        if isinstance(value, float) and not math.isfinite(value):
            _Validator.fail(where, f"expected a finite number, found {_shown(value)}",
                            "write a number (JSON has no NaN or Infinity)")
        if not isinstance(value, (dict, list)):
            continue
        if depth >= MAX_DEPTH:
            top = where.split(".")[0].split("[")[0]
            _Validator.fail(top, f"expected values nested at most {MAX_DEPTH} levels deep, found deeper ones (at "
                            f"{where[:80]}{'...' if len(where) > 80 else ''})",
                            f"flatten {top}, or check that this is the recipe file")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(item, (dict, list, float)):
                path = f"{where}[{key}]" if isinstance(value, list) else f"{where}.{key}" if where else str(key)
                pending.append((item, path, depth + 1))


class _Validator:
    """Type checks for parsed JSON, raising RecipeError with the field path, what was found and the fix."""

    @staticmethod
    def fail(where: str, what: str, fix: str = "correct it (docs/recipe.md describes every field)"):
        raise RecipeError(f"{where}: {what}; fix: {fix}")

    def object(self, value, where, required, optional):
        if not isinstance(value, dict):
            self.fail(where, f"expected an object, found {_kind(value)}",
                      "a recipe is a JSON object: {\"tracks\": [...]}" if where == "recipe"
                      else "write it as {\"key\": value, ...}")
        for key in required:
            if key not in value:
                self.fail(f"{where}.{key}" if where != "recipe" else key, "required field is missing",
                          f"add \"{key}\"")
        unknown = sorted(set(value) - set(required) - set(optional))
        if unknown:
            self.fail(where, f"expected some of: {', '.join((*required, *optional))}, found unknown field(s) "
                      f"{', '.join(_shown(u, 40) for u in unknown[:5])}{' ...' if len(unknown) > 5 else ''}",
                      "remove them or correct their spelling")

    def array(self, value, where):
        if not isinstance(value, list):
            self.fail(where, f"expected a list, found {_kind(value)}", "write it as [...]")
        return value

    def text(self, value, where, optional=False):
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            self.fail(where, f"expected a non-empty string, found {_shown(value)}", "write it in quotes")
        return value

    def reason(self, value, where) -> str:
        if not isinstance(value, str):
            self.fail(where, f"expected text, found {_kind(value)}", "write the reason in quotes, or leave it out")
        return value

    def path(self, value, where):
        value = self.text(value, where, optional=True)
        if value is not None and "\0" in value:
            self.fail(where, "expected a file path, found one with a NUL character", "correct the path")
        return value

    def number(self, value, where):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(where, f"expected a number, found {_shown(value)}", "write a number without quotes")
        return float(value)

    def flag(self, value, where):
        if not isinstance(value, bool):
            self.fail(where, f"expected true or false, found {_shown(value)}", "write true or false without quotes")
        return value

    def strip(self, data, where, kind) -> Strip:
        optional = {"tracks": ("source", "role", "route", "mute", "chain", "sends"), "buses": ("chain", "sends"), "returns": ("chain",)}[kind]
        self.object(data, where, required=("name",), optional=optional)
        return Strip(
            name=self.text(data["name"], f"{where}.name"),
            chain=self.chain(data.get("chain", []), f"{where}.chain"),
            sends=[self.send(s, f"{where}.sends[{k}]") for k, s in enumerate(self.array(data.get("sends", []), f"{where}.sends"))],
            route=self.text(data.get("route", MASTER), f"{where}.route"),
            mute=self.flag(data.get("mute", False), f"{where}.mute"),
            source=self.path(data.get("source"), f"{where}.source"),
            role=self.text(data.get("role"), f"{where}.role", optional=True),
        )

    def send(self, data, where) -> Send:
        self.object(data, where, required=("to", "level_db"), optional=("reason",))
        level = self.number(data["level_db"], f"{where}.level_db")
        if not -120.0 <= level <= 12.0:
            self.fail(f"{where}.level_db", f"expected -120 to 12 dB, found {level}", "set a level in that range")
        return Send(self.text(data["to"], f"{where}.to"), level, self.reason(data.get("reason", ""), f"{where}.reason"))

    def chain(self, data, where) -> list[Step]:
        steps = []
        for j, s in enumerate(self.array(data, where)):
            w = f"{where}[{j}]"
            self.object(s, w, required=("type",), optional=("params", "reason", "bypass"))
            kind = self.text(s["type"], f"{w}.type")
            if kind not in PROCESSORS:
                self.fail(f"{w}.type", f"expected one of {', '.join(sorted(PROCESSORS))}, found {_shown(kind)}",
                          "use one of those (`mixdown processors` lists their parameters)")
            params = s.get("params", {})
            if not isinstance(params, dict):
                self.fail(f"{w}.params", f"expected an object, found {_kind(params)}",
                          "write the parameters as {\"name\": value, ...}")
            steps.append(Step(kind, dict(params), self.reason(s.get("reason", ""), f"{w}.reason"),
                              self.flag(s.get("bypass", False), f"{w}.bypass")))
        return steps

    def gain_sharing(self, data, where) -> GainSharing:
        self.object(data, where, required=("tracks",), optional=("params", "weights_db", "reason"))
        tracks = [self.text(t, f"{where}.tracks[{i}]")
                  for i, t in enumerate(self.array(data["tracks"], f"{where}.tracks"))]
        params, weights = data.get("params", {}), data.get("weights_db", {})
        for key, value in (("params", params), ("weights_db", weights)):
            if not isinstance(value, dict):
                self.fail(f"{where}.{key}", f"expected an object, found {_kind(value)}",
                          "write it as {\"name\": value, ...}")
        reason = self.reason(data.get("reason", ""), f"{where}.reason")
        return GainSharing(tracks, dict(params),
                           {name: self.number(w, f"{where}.weights_db.{name}") for name, w in weights.items()}, reason)

    def gain_sharing_refs(self, sharing: GainSharing, track_names: list[str], where: str = "gain_sharing") -> None:
        if not sharing.tracks:
            self.fail(f"{where}.tracks", "expected at least one track name, found none", "list the shared tracks")
        known, seen = set(track_names), set()
        for i, name in enumerate(sharing.tracks):
            if name not in known:
                self.fail(f"{where}.tracks[{i}]", f"expected one of the tracks {_shown(track_names, 200)}, found "
                          f"{name!r}", "use a track's name")
            if name in seen:
                self.fail(f"{where}.tracks[{i}]", f"expected unique names, found {name!r} twice", "list it once")
            seen.add(name)
        for name, value in sharing.params.items():
            if name not in GAIN_SHARING_PARAMS:
                self.fail(f"{where}.params.{name}", f"expected some of: {', '.join(GAIN_SHARING_PARAMS.entries)}, "
                          "found an unknown parameter of gain_sharing", "remove it or correct its spelling")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(f"{where}.params.{name}", f"expected a number, found {_shown(value)}",
                          "write a number without quotes")
            try:
                GAIN_SHARING_PARAMS.check_value(name, value)
            except ParameterError as e:
                self.fail(f"{where}.params.{name}", *_split_fix(str(e), f"set {name} inside its range"))
        low, high = WEIGHT_RANGE_DB
        for name, value in sharing.weights_db.items():
            if name not in seen:
                self.fail(f"{where}.weights_db.{name}",
                          f"expected one of the shared tracks {_shown(sharing.tracks, 200)}, found {name!r}",
                          "weigh only tracks listed in gain_sharing.tracks")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                self.fail(f"{where}.weights_db.{name}", f"expected {low:g} to {high:g} dB, found {_shown(value)}",
                          "set a weight in that range")

    def step_params(self, step: Step, where: str) -> None:
        if step.type not in PROCESSORS:
            self.fail(f"{where}.type", f"expected one of {', '.join(sorted(PROCESSORS))}, found {_shown(step.type)}",
                      "use one of those (`mixdown processors` lists their parameters)")
        table = PROCESSORS[step.type].table
        for name, value in step.params.items():
            if name not in table:
                self.fail(f"{where}.params.{name}", f"expected some of: {', '.join(table.entries)}, found an "
                          f"unknown parameter of {step.type}", "remove it or correct its spelling")
            numeric = isinstance(table[name], Param)
            if isinstance(value, bool) or not isinstance(value, (int, float) if numeric else str):
                expected = f"a number in {table[name].unit or 'units'}" if numeric else \
                    f"one of {', '.join(repr(c) for c in table[name].choices)}"
                self.fail(f"{where}.params.{name}", f"expected {expected}, found {_shown(value)} ({_kind(value)})",
                          "write a number without quotes" if numeric else "write one of those, in quotes")
            try:
                table.check_value(name, value)
            except ParameterError as e:
                self.fail(f"{where}.params.{name}", *_split_fix(str(e), f"set {name} inside its range"))


def _split_fix(message: str, fix: str) -> tuple[str, str]:
    """``(what, fix)`` of a ParameterError's message, which may carry its own ``; fix: ...``."""
    what, _, own = message.partition("; fix: ")
    return what, own or fix


def source_path(path: str | os.PathLike, recipe_dir: str | os.PathLike) -> str:
    """A track's ``source`` as a recipe in ``recipe_dir`` stores it: relative to that folder when they share a
    drive (the recipe moves with its stems), else absolute."""
    try:
        return os.path.relpath(Path(path).resolve(), Path(recipe_dir).resolve())
    except ValueError:
        return str(Path(path).resolve())
