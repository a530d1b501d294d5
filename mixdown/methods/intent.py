"""The user's mixing intent: what the mix is for, set before mixing (docs/intent.md describes the file).

Per track: a role (overriding detection), a priority (lead / normal / background), a pan preference, a reverb
amount, "keep" (leave this track alone) and a subgroup; for the song: a genre, a loudness target and a reference
mix. This is what RoEx asks before mixing (REFERENCE.md §1: priority, pan and reverb per track, genre-specific
targets, subgroups); every key is optional and an automatic mixer decides whatever is left out.

The file is YAML or JSON::

    genre: rock
    target: spotify            # or a number of LUFS: -12
    reference: ref/their_mix.wav
    tracks:
      Vox Ld: {priority: lead, reverb: medium}
      Gtr L: {pan: left, subgroup: guitars}

Errors name the file, the key path (``tracks."Vox Ld".priority``) and the fix; unknown keys get a suggestion.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mixdown.analysis.roles import ROLE_NAMES
from mixdown.errors import ParameterError
from mixdown.mastering.targets import (
    LUFS_RANGE,
    TARGETS,
    LoudnessTarget,
    loudness_target,
)

__all__ = [
    "GENRES",
    "PANS",
    "PRIORITIES",
    "REVERBS",
    "Intent",
    "TrackIntent",
    "load_intent",
]

GENRES: tuple[str, ...] = (
    "pop", "rock", "electronic", "hiphop", "rnb", "jazz", "acoustic", "folk", "country", "metal", "classical",
    "ambient",
)
# Keys are squashed (lower case, no spaces, hyphens, underscores, apostrophes or '&'): "Hip-Hop" -> "hiphop".
_GENRE_ALIASES = {
    "rap": "hiphop", "trap": "hiphop",
    "rb": "rnb", "randb": "rnb", "rhythmandblues": "rnb", "soul": "rnb",
    "edm": "electronic", "electronica": "electronic", "dance": "electronic", "house": "electronic",
    "techno": "electronic", "dnb": "electronic", "drumandbass": "electronic",
    "singersongwriter": "acoustic", "unplugged": "acoustic",
    "heavymetal": "metal", "orchestral": "classical", "chillout": "ambient",
}
PRIORITIES: tuple[str, ...] = ("lead", "normal", "background")
PANS: tuple[str, ...] = ("left", "centre", "right", "any")
_PAN_ALIASES = {"center": "centre"}
REVERBS: tuple[str, ...] = ("none", "low", "medium", "high")

_MASTER = "master"  # the recipe's reserved route name (mixdown.console.recipe.MASTER)
_TOP_KEYS = ("genre", "target", "reference", "tracks")
_TRACK_KEYS = ("role", "priority", "pan", "reverb", "keep", "subgroup")
_TARGET_KEYS = ("integrated_lufs", "true_peak_db")
_TRUE_PEAK_RANGE = (-10.0, 0.0)
_FILE_SUFFIXES = (".yaml", ".yml", ".json")
MAX_INTENT_BYTES = 4 << 20
"""Largest intent file read (PyYAML reads about 1 MB a second; an intent for 10,000 tracks is about 0.3 MB)."""
_REPR = reprlib.Repr()  # bounded repr of what a user wrote (keyword arguments only from Python 3.12)
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 4, 4, 60, 60


# ---------------------------------------------------------------------------------------------------------------
# The intent.
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class TrackIntent:
    """What the user wants for one track; the defaults let the mixer decide.

    Args:
        role: one of ``ROLE_NAMES`` (``"lead vocal"`` is read as ``lead_vocal``); overrides role detection.
        priority: ``lead`` (louder, in front), ``normal`` or ``background`` (quieter).
        pan: ``left``, ``centre`` (``center`` is read as centre), ``right`` or ``any`` (the autopanner decides).
        reverb: ``none``, ``low``, ``medium`` or ``high``; None lets the track's role decide.
        keep: leave this track alone: unity gain, no processing, still routed (to ``subgroup`` or the master).
        subgroup: the name of a bus this track goes to (tracks with the same name share it).

    Raises:
        ParameterError: a value outside the allowed ones, or ``keep`` with a priority, pan or reverb.
    """

    role: str | None = None
    priority: str = "normal"
    pan: str = "any"
    reverb: str | None = None
    keep: bool = False
    subgroup: str | None = None

    def __post_init__(self) -> None:
        with _errors_from("TrackIntent"):
            for key, value in _track_fields(vars(self), "").items():
                setattr(self, key, value)

    def to_dict(self) -> dict[str, Any]:
        """The fields that differ from the defaults (an empty dict for a default track)."""
        default = TrackIntent()
        return {k: getattr(self, k) for k in _TRACK_KEYS if getattr(self, k) != getattr(default, k)}


@dataclass
class Intent:
    """The user's intent for a whole mix. Build it in code, or read a file with :func:`load_intent`.

    Args:
        genre: one of ``GENRES`` (aliases such as ``hip-hop``, ``edm`` or ``r&b`` are normalised), or None.
        target: the loudness target (a ``LoudnessTarget``, a preset name or a number of LUFS); default spotify.
        reference: a reference mix to match (an audio file), or None.
        tracks: what the user wants per track, keyed by track name (the file stem).
        source: where the intent came from, named in error messages (the file, or ``"intent"``).

    Raises:
        ParameterError: a value outside the allowed ones.

    Example:
        >>> intent = Intent.from_dict({"genre": "Hip-Hop", "tracks": {"Vox": {"priority": "lead"}}})
        >>> intent.genre, intent.for_track("Vox").priority, intent.for_track("Bass").priority
        ('hiphop', 'lead', 'normal')
    """

    genre: str | None = None
    target: LoudnessTarget = TARGETS["spotify"]
    reference: Path | None = None
    tracks: dict[str, TrackIntent] = field(default_factory=dict)
    source: str = field(default="intent", compare=False, repr=False)

    def __post_init__(self) -> None:
        with _errors_from(self.source):
            self.genre = _genre(self.genre, "genre")
            self.target = _target(self.target, "target")
            self.reference = _reference(self.reference, "reference", None)
            if not isinstance(self.tracks, dict):
                raise _Invalid("tracks", "a dict of track name -> TrackIntent", _found(self.tracks))
            for name, track in self.tracks.items():
                if not isinstance(name, str) or not isinstance(track, TrackIntent):
                    raise _Invalid("tracks", "a dict of track name -> TrackIntent", f"{name!r}: {_found(track)}")

    # --- serialisation ------------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any, source: str = "intent", base_dir: str | os.PathLike | None = None) -> Intent:
        """Build and validate an intent from parsed YAML or JSON.

        Args:
            data: a mapping with the keys ``genre``, ``target``, ``reference`` and ``tracks`` (all optional);
                None (an empty file) gives the defaults.
            source: named at the start of every error message (the file).
            base_dir: the folder a relative ``reference`` is resolved against (the intent file's folder); None
                keeps it relative.

        Raises:
            ParameterError: naming ``source``, the key path (``tracks."Vox Ld".priority``) and the fix.
        """
        with _errors_from(source):
            top = _mapping({} if data is None else data, "", _TOP_KEYS)
            tracks = _mapping({} if top.get("tracks") is None else top["tracks"], "tracks", None)
            return cls(
                genre=_genre(top.get("genre"), "genre"),
                target=_target(top.get("target", "spotify"), "target"),
                reference=_reference(top.get("reference"), "reference", base_dir),
                tracks={name: TrackIntent(**_track_fields(value, _track_path(name))) for name, value in tracks.items()},
                source=source,
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML- and JSON-ready) that :meth:`from_dict` reads back into an equal intent."""
        return {
            "genre": self.genre,
            "target": _target_to_data(self.target),
            "reference": None if self.reference is None else str(self.reference),
            "tracks": {name: track.to_dict() for name, track in self.tracks.items()},
        }

    # --- use ----------------------------------------------------------------------------------------------------

    def check_tracks(self, names: list[str]) -> None:
        """Check that every track the intent names is in the session.

        Args:
            names: the session's track names (file stems).

        Raises:
            ParameterError: one line per unknown track, with close matches and the available names.
        """
        names = list(names)
        by_lower = {n.lower(): n for n in names}
        problems = []
        for name in self.tracks:
            if name in names:
                continue
            close = [by_lower[m] for m in difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)]
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            problems.append(
                f"{self.source}: {_track_path(name)}: expected the name of a track in the session, found no track "
                f"named {name!r}{hint}; fix: use a track name (file stem) of the session: {', '.join(names) or '(none)'}"
            )
        if problems:
            raise ParameterError("\n".join(problems))

    def for_track(self, name: str) -> TrackIntent:
        """What the user wants for track ``name``: its entry, or the defaults when the intent does not name it."""
        return self.tracks[name] if name in self.tracks else TrackIntent()


def load_intent(path: str | os.PathLike) -> Intent:
    """Read and validate an intent file (.yaml, .yml or .json).

    A relative ``reference`` is resolved against the file's folder.

    Raises:
        ParameterError: the file is missing, unreadable, not valid YAML/JSON, or breaks the format; the message
            names the file, the key path and the fix.
    """
    path = Path(path)
    if path.suffix.lower() not in _FILE_SUFFIXES:
        raise ParameterError(
            f"{path}: expected an intent file ending in {', '.join(_FILE_SUFFIXES)}, found {path.suffix or 'no suffix'!r}; "
            "fix: name it intent.yaml (or .json)"
        )
    try:
        size = path.stat().st_size
        if size > MAX_INTENT_BYTES:
            raise ParameterError(
                f"{path}: expected an intent of at most {MAX_INTENT_BYTES >> 20} MB, found {size / (1 << 20):.0f} MB; "
                "fix: check that this is the intent file (one for 10,000 tracks is about 0.3 MB)")
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ParameterError(f"{path}: expected a readable intent file, found {e.strerror}; fix: check the path") from None
    except UnicodeDecodeError:
        raise ParameterError(f"{path}: expected UTF-8 text, found other bytes; fix: save the file as UTF-8") from None
    data = _parse_json(text, path) if path.suffix.lower() == ".json" else _parse_yaml(text, path)
    return Intent.from_dict(data, source=str(path), base_dir=path.parent.absolute())


# ---------------------------------------------------------------------------------------------------------------
# Parsing.
# ---------------------------------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key given twice in one mapping is an error (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float, bool)):
                continue  # unhashable keys are refused by the base class
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def _too_deep(path: Path) -> ParameterError:
    return ParameterError(f"{path}: expected an intent, found values nested too deeply to be one; fix: check that "
                          "this is the intent file (docs/intent.md shows the format)")


def _parse_yaml(text: str, path: Path) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except RecursionError:  # PyYAML composes nested nodes recursively
        raise _too_deep(path) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ParameterError(
            f"{path}: expected valid YAML, found an error{where}: {problem}; fix: check the indentation and quoting "
            "there (quote names that contain ':' or '#')"
        ) from None


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _parse_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as e:
        raise ParameterError(
            f"{path}: expected valid JSON, found an error at line {e.lineno}, column {e.colno}: {e.msg}; "
            "fix: check the commas, quotes and brackets there"
        ) from None
    except _DuplicateKey as e:
        raise ParameterError(f"{path}: expected unique keys, found {e.args[0]!r} twice; fix: merge the two entries") from None
    except RecursionError:
        raise _too_deep(path) from None


# ---------------------------------------------------------------------------------------------------------------
# Validation: each reader returns the normalised value or raises _Invalid(where, expected, found, fix); the public
# entry points turn that into a ParameterError that starts with the source (the file).
# ---------------------------------------------------------------------------------------------------------------


class _Invalid(Exception):
    def __init__(self, where: str, expected: str, found: str, fix: str = ""):
        message = f"{where or 'top level'}: expected {expected}, found {found}"
        super().__init__(f"{message}; fix: {fix or 'correct it (docs/intent.md describes the file)'}")


class _errors_from:
    """Context manager: an _Invalid raised inside becomes a ParameterError prefixed with ``source``."""

    def __init__(self, source: str):
        self.source = source

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if isinstance(error, _Invalid):
            raise ParameterError(f"{self.source}: {error}") from None
        return False


def _found(value: Any) -> str:
    """A value as the user wrote it, with its YAML kind: ``yes (true/false)``, ``3 (a number)``."""
    if value is None:
        return "nothing (null)"
    kinds = ((bool, "true/false"), ((int, float), "a number"), (str, "text"), (list, "a list"), (dict, "a mapping"))
    kind = next((k for t, k in kinds if isinstance(value, t)), type(value).__name__)
    text = _REPR.repr(value)  # bounded: a YAML alias bomb is small as nodes but endless as text
    return f"{text if len(text) <= 60 else text[:57] + '...'} ({kind})"


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _track_path(name: Any) -> str:
    """``tracks."Vox Ld"``: track names are quoted, as they may hold spaces and dots."""
    return f"tracks.{json.dumps(name, ensure_ascii=False) if isinstance(name, str) else repr(name)}"


def _mapping(value: Any, where: str, allowed: tuple[str, ...] | None) -> dict:
    """A mapping whose keys are text and, if ``allowed`` is given, among ``allowed``."""
    if not isinstance(value, dict):
        example = "genre: rock" if not where else ("Vox Ld: {priority: lead}" if where == "tracks" else "priority: lead")
        raise _Invalid(where, f"a mapping of key: value lines (e.g. {example})", _found(value))
    for key in value:
        if not isinstance(key, str):
            raise _Invalid(where, "keys that are text", _found(key), f"quote the key: \"{key}\"")
        if allowed is not None and key not in allowed:
            close = _closest(key.lower(), allowed)
            found = f"the unknown key {key!r}" + (f" (did you mean {close!r}?)" if close else "")
            fix = f"rename it to {close}" if close else "remove it"
            raise _Invalid(_join(where, key), f"one of the keys {', '.join(allowed)}", found, fix)
    return value


def _choice(value: Any, where: str, allowed: tuple[str, ...], normalise=lambda v: v) -> str:
    """One of ``allowed``, written in any case; ``normalise`` maps aliases."""
    expected = f"one of {', '.join(allowed)}"
    if not isinstance(value, str):
        fix = "YAML reads yes/no/on/off as true/false: write one of the words above" if isinstance(value, bool) else ""
        raise _Invalid(where, expected, _found(value), fix or f"write one of the words above, e.g. {allowed[0]}")
    name = normalise(value.strip().lower())
    if name in allowed:
        return name
    close = _closest(name, allowed)
    found = repr(value) + (f" (did you mean {close!r}?)" if close else "")
    raise _Invalid(where, expected, found, "write one of the values listed")


def _closest(word: str, allowed) -> str | None:
    """The allowed word closest to a misspelt one, if any is close (difflib ratio >= 0.6)."""
    close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.6)
    return close[0] if close else None


def _optional_choice(value: Any, where: str, allowed: tuple[str, ...], normalise=lambda v: v) -> str | None:
    return None if value is None else _choice(value, where, allowed, normalise)


def _genre(value: Any, where: str) -> str | None:
    def squash(name: str) -> str:
        name = re.sub(r"[\s\-_'&]+", "", name)
        return _GENRE_ALIASES.get(name, name)

    return _optional_choice(value, where, GENRES, squash)


def _role(value: Any, where: str) -> str | None:
    return _optional_choice(value, where, ROLE_NAMES, lambda v: re.sub(r"[\s\-]+", "_", v))


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(where, "true or false", _found(value), "write true or false without quotes")
    return value


def _bus_name(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(where, "the name of a bus (text)", _found(value), "write a name such as drums")
    if value.strip().lower() == _MASTER:
        raise _Invalid(where, f"a bus name other than {_MASTER!r} (every track ends in the master)", repr(value),
                       "leave subgroup out to route the track straight to the master")
    return value


def _number(value: Any, where: str, low: float, high: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _Invalid(where, f"a number from {low:g} to {high:g} {unit}", _found(value))
    return float(value)


def _track_fields(value: Any, where: str) -> dict[str, Any]:
    """The validated, normalised TrackIntent fields of one track entry (None = all defaults)."""
    data = _mapping({} if value is None else value, where, _TRACK_KEYS)
    fields = {
        "role": _role(data.get("role"), _join(where, "role")),
        "priority": _choice(data.get("priority", "normal"), _join(where, "priority"), PRIORITIES),
        "pan": _choice(data.get("pan", "any"), _join(where, "pan"), PANS, lambda v: _PAN_ALIASES.get(v, v)),
        "reverb": _optional_choice(data.get("reverb"), _join(where, "reverb"), REVERBS),
        "keep": _flag(data.get("keep", False), _join(where, "keep")),
        "subgroup": _bus_name(data.get("subgroup"), _join(where, "subgroup")),
    }
    if fields["keep"]:
        changed = [f"{k}: {fields[k]}" for k, default in (("priority", "normal"), ("pan", "any"), ("reverb", None))
                   if fields[k] != default]
        if changed:
            raise _Invalid(_join(where, "keep"), "no priority, pan or reverb on a kept track (keep: true means unity "
                           "gain and no processing)", ", ".join(changed), "remove them, or set keep: false")
    return fields


def _target(value: Any, where: str) -> LoudnessTarget:
    """A preset name, a number of LUFS, or a mapping {integrated_lufs, true_peak_db}."""
    if isinstance(value, dict):
        data = _mapping(value, where, _TARGET_KEYS)
        if "integrated_lufs" not in data:
            raise _Invalid(_join(where, "integrated_lufs"), "a number of LUFS or null (keep the level)", "nothing",
                           "add integrated_lufs: -14")
        lufs = data["integrated_lufs"]
        lufs = None if lufs is None else _number(lufs, _join(where, "integrated_lufs"), *LUFS_RANGE, "LUFS")
        peak = _number(data.get("true_peak_db", -1.0), _join(where, "true_peak_db"), *_TRUE_PEAK_RANGE, "dBTP")
        level = "level kept" if lufs is None else f"{lufs:g} LUFS integrated"
        return LoudnessTarget("custom", lufs, peak, f"custom: {level}, {peak:g} dBTP ceiling")
    try:
        return loudness_target(value)
    except ParameterError:
        low, high = LUFS_RANGE
        close = _closest(value.strip().lower(), TARGETS) if isinstance(value, str) else None
        raise _Invalid(where, f"a preset ({', '.join(TARGETS)}) or a number of LUFS from {low:g} to {high:g}",
                       _found(value), f"write target: {close}" if close else "write e.g. target: spotify or target: -14") from None


def _target_to_data(target: LoudnessTarget) -> Any:
    """The shortest form :func:`_target` reads back into an equal target."""
    if TARGETS.get(target.name) == target:
        return target.name
    if target.integrated_lufs is not None and loudness_target(target.integrated_lufs) == target:
        return target.integrated_lufs
    return {"integrated_lufs": target.integrated_lufs, "true_peak_db": target.true_peak_db}


def _reference(value: Any, where: str, base_dir: str | os.PathLike | None) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise _Invalid(where, "the path of an audio file (text)", _found(value), "write e.g. reference: ref/mix.wav")
    path = Path(value).expanduser()
    return path if path.is_absolute() or base_dir is None else Path(base_dir) / path
