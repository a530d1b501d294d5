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
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixdown.dsp.gain_sharing import GAIN_SHARING_PARAMS, WEIGHT_RANGE_DB
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
        except RecursionError:
            raise RecipeError(f"{path}: expected a recipe, found values nested too deeply to be one") from None
        recipe.path = path
        return recipe

    @classmethod
    def from_dict(cls, data: Any) -> Recipe:
        """Build and validate a recipe from parsed JSON."""
        v = _Validator()
        v.object(data, "recipe", required=("tracks",),
                 optional=("schema", "version", "sample_rate", "buses", "returns", "master", "gain_sharing", "notes"))
        if data.get("schema", SCHEMA_NAME) != SCHEMA_NAME:
            v.fail("schema", f"expected {SCHEMA_NAME!r}, found {data['schema']!r}")
        version = data.get("version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            v.fail("version", f"expected {SCHEMA_VERSION} (this mixdown reads version {SCHEMA_VERSION}), found {version!r}")
        sample_rate = data.get("sample_rate")
        if sample_rate is not None and (not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or not 8000 <= sample_rate <= 384000):
            v.fail("sample_rate", f"expected an integer from 8000 to 384000 Hz, found {sample_rate!r}")
        master = data.get("master", {"chain": []})
        v.object(master, "master", required=(), optional=("chain",))
        recipe = cls(
            tracks=[v.strip(t, f"tracks[{i}]", "tracks") for i, t in enumerate(v.array(data["tracks"], "tracks"))],
            buses=[v.strip(b, f"buses[{i}]", "buses") for i, b in enumerate(v.array(data.get("buses", []), "buses"))],
            returns=[v.strip(r, f"returns[{i}]", "returns") for i, r in enumerate(v.array(data.get("returns", []), "returns"))],
            master=v.chain(master.get("chain", []), "master.chain"),
            sample_rate=sample_rate,
            notes=data.get("notes", {}),
            gain_sharing=v.gain_sharing(data["gain_sharing"], "gain_sharing") if "gain_sharing" in data else None,
        )
        recipe.validate()
        return recipe

    # --- checks across fields -----------------------------------------------------------------------------------

    def validate(self) -> None:
        """Check names, routes and sends refer to things that exist, and every parameter is in range."""
        v = _Validator()
        if not self.tracks:
            v.fail("tracks", "expected at least one track, found none")
        for kind, strips in (("tracks", self.tracks), ("buses", self.buses), ("returns", self.returns)):
            seen: set[str] = set()
            for i, s in enumerate(strips):
                if s.name in seen:
                    v.fail(f"{kind}[{i}].name", f"expected unique names, found {s.name!r} twice")
                seen.add(s.name)
                for j, step in enumerate(s.chain):
                    v.step_params(step, f"{kind}[{i}].chain[{j}]")
        for j, step in enumerate(self.master):
            v.step_params(step, f"master.chain[{j}]")
        bus_names = {b.name for b in self.buses}
        return_names = {r.name for r in self.returns}
        if MASTER in bus_names | return_names:
            v.fail("buses", f"expected no bus or return named {MASTER!r} (reserved)")
        for i, t in enumerate(self.tracks):
            if t.route != MASTER and t.route not in bus_names:
                v.fail(f"tracks[{i}].route", f"expected {MASTER!r} or one of the buses {sorted(bus_names)}, found {t.route!r}")
        for kind, strips in (("tracks", self.tracks), ("buses", self.buses)):
            for i, s in enumerate(strips):
                for k, send in enumerate(s.sends):
                    if send.to not in return_names:
                        v.fail(f"{kind}[{i}].sends[{k}].to", f"expected one of the returns {sorted(return_names)}, found {send.to!r}")
        if self.gain_sharing is not None:
            v.gain_sharing_refs(self.gain_sharing, [t.name for t in self.tracks])

    def strip(self, name: str) -> Strip:
        for s in (*self.tracks, *self.buses, *self.returns):
            if s.name == name:
                return s
        raise KeyError(name)


class _Validator:
    """Type checks for parsed JSON, raising RecipeError with the field path."""

    @staticmethod
    def fail(where: str, what: str):
        raise RecipeError(f"{where}: {what}")

    def object(self, value, where, required, optional):
        if not isinstance(value, dict):
            self.fail(where, f"expected an object, found {type(value).__name__}")
        for key in required:
            if key not in value:
                self.fail(f"{where}.{key}" if where != "recipe" else key, "required field is missing")
        unknown = sorted(set(value) - set(required) - set(optional))
        if unknown:
            self.fail(where, f"unknown field(s) {', '.join(unknown)}; expected some of: {', '.join((*required, *optional))}")

    def array(self, value, where):
        if not isinstance(value, list):
            self.fail(where, f"expected a list, found {type(value).__name__}")
        return value

    def text(self, value, where, optional=False):
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            self.fail(where, f"expected a non-empty string, found {value!r}")
        return value

    def number(self, value, where):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(where, f"expected a number, found {value!r}")
        return float(value)

    def flag(self, value, where):
        if not isinstance(value, bool):
            self.fail(where, f"expected true or false, found {value!r}")
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
            source=self.text(data.get("source"), f"{where}.source", optional=True),
            role=self.text(data.get("role"), f"{where}.role", optional=True),
        )

    def send(self, data, where) -> Send:
        self.object(data, where, required=("to", "level_db"), optional=("reason",))
        level = self.number(data["level_db"], f"{where}.level_db")
        if not -120.0 <= level <= 12.0:
            self.fail(f"{where}.level_db", f"expected -120 to 12 dB, found {level}")
        return Send(self.text(data["to"], f"{where}.to"), level, data.get("reason", ""))

    def chain(self, data, where) -> list[Step]:
        steps = []
        for j, s in enumerate(self.array(data, where)):
            w = f"{where}[{j}]"
            self.object(s, w, required=("type",), optional=("params", "reason", "bypass"))
            kind = self.text(s["type"], f"{w}.type")
            if kind not in PROCESSORS:
                self.fail(f"{w}.type", f"expected one of {', '.join(sorted(PROCESSORS))}, found {kind!r}")
            params = s.get("params", {})
            if not isinstance(params, dict):
                self.fail(f"{w}.params", f"expected an object, found {type(params).__name__}")
            steps.append(Step(kind, dict(params), s.get("reason", ""), self.flag(s.get("bypass", False), f"{w}.bypass")))
        return steps

    def gain_sharing(self, data, where) -> GainSharing:
        self.object(data, where, required=("tracks",), optional=("params", "weights_db", "reason"))
        tracks = [self.text(t, f"{where}.tracks[{i}]")
                  for i, t in enumerate(self.array(data["tracks"], f"{where}.tracks"))]
        params, weights = data.get("params", {}), data.get("weights_db", {})
        for key, value in (("params", params), ("weights_db", weights)):
            if not isinstance(value, dict):
                self.fail(f"{where}.{key}", f"expected an object, found {type(value).__name__}")
        reason = data.get("reason", "")
        if not isinstance(reason, str):
            self.fail(f"{where}.reason", f"expected a string, found {reason!r}")
        return GainSharing(tracks, dict(params),
                           {name: self.number(w, f"{where}.weights_db.{name}") for name, w in weights.items()}, reason)

    def gain_sharing_refs(self, sharing: GainSharing, track_names: list[str], where: str = "gain_sharing") -> None:
        if not sharing.tracks:
            self.fail(f"{where}.tracks", "expected at least one track name, found none")
        for i, name in enumerate(sharing.tracks):
            if name not in track_names:
                self.fail(f"{where}.tracks[{i}]", f"expected one of the tracks {track_names}, found {name!r}")
            if sharing.tracks.index(name) != i:
                self.fail(f"{where}.tracks[{i}]", f"expected unique names, found {name!r} twice")
        for name, value in sharing.params.items():
            if name not in GAIN_SHARING_PARAMS:
                self.fail(f"{where}.params.{name}",
                          f"unknown parameter of gain_sharing; expected some of: {', '.join(GAIN_SHARING_PARAMS.entries)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(f"{where}.params.{name}", f"expected a number, found {value!r}")
            try:
                GAIN_SHARING_PARAMS.check_value(name, value)
            except ParameterError as e:
                self.fail(f"{where}.params.{name}", str(e))
        low, high = WEIGHT_RANGE_DB
        for name, value in sharing.weights_db.items():
            if name not in sharing.tracks:
                self.fail(f"{where}.weights_db.{name}",
                          f"expected one of the shared tracks {sharing.tracks}, found {name!r}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                self.fail(f"{where}.weights_db.{name}", f"expected {low:g} to {high:g} dB, found {value!r}")

    def step_params(self, step: Step, where: str) -> None:
        if step.type not in PROCESSORS:
            self.fail(f"{where}.type", f"expected one of {', '.join(sorted(PROCESSORS))}, found {step.type!r}")
        table = PROCESSORS[step.type].table
        for name, value in step.params.items():
            if name not in table:
                self.fail(f"{where}.params.{name}", f"unknown parameter of {step.type}; expected some of: {', '.join(table.entries)}")
            if isinstance(value, bool) or (not isinstance(value, (int, float, str))):
                self.fail(f"{where}.params.{name}", f"expected a number or a string, found {value!r}")
            try:
                table.check_value(name, value)
            except ParameterError as e:
                self.fail(f"{where}.params.{name}", str(e))


def source_path(path: str | os.PathLike, recipe_dir: str | os.PathLike) -> str:
    """A track's ``source`` as a recipe in ``recipe_dir`` stores it: relative to that folder when they share a
    drive (the recipe moves with its stems), else absolute."""
    try:
        return os.path.relpath(Path(path).resolve(), Path(recipe_dir).resolve())
    except ValueError:
        return str(Path(path).resolve())
