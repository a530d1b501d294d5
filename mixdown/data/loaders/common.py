"""What every dataset loader shares: the error type, folder and file checks, metadata readers, name helpers.

Loaders only look at the file system (existence, names, metadata files); no audio is read, so loading a dataset
of thousands of tracks takes a moment. Every check raises :class:`DatasetError` with a message of the form
``"<path>: expected <what the layout needs>, found <what is there>; fix: <what to do>"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mixdown.audio.io import AUDIO_EXTENSIONS
from mixdown.errors import DatasetError

__all__ = [
    "DatasetError",
    "audio_files",
    "find_audio",
    "read_json",
    "read_yaml",
    "require_dir",
    "require_file",
    "split_artist",
    "subfolders",
    "unique_names",
    "words",
]


def require_dir(path: Path, expected: str, fix: str) -> Path:
    """``path`` if it is a folder, else DatasetError ``"<path>: expected <expected>, found ...; fix: <fix>"``."""
    if not path.is_dir():
        found = "a file" if path.exists() else "nothing at this path"
        raise DatasetError(f"{path}: expected {expected}, found {found}; fix: {fix}")
    return path


def require_file(path: Path, expected: str, fix: str) -> Path:
    """``path`` if it is a file, else DatasetError naming it."""
    if not path.is_file():
        found = "a folder" if path.exists() else "nothing at this path"
        raise DatasetError(f"{path}: expected {expected}, found {found}; fix: {fix}")
    return path


def find_audio(folder: Path, stem: str, extensions: Iterable[str] = (".wav", ".flac")) -> Path | None:
    """The first ``folder/<stem><ext>`` that exists, trying ``extensions`` in order; None when none does."""
    for ext in extensions:
        path = folder / f"{stem}{ext}"
        if path.is_file():
            return path
    return None


def audio_files(folder: Path) -> list[Path]:
    """Audio files (``mixdown.audio.io.AUDIO_EXTENSIONS``) directly in ``folder``, sorted by name, hidden ones
    (``.name``, macOS ``._name``) left out."""
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")
    )


def subfolders(folder: Path) -> list[Path]:
    """Visible sub-folders of ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def read_yaml(path: Path, expected: str) -> Any:
    """Parse a YAML file with ``yaml.safe_load``; DatasetError naming the file when missing or malformed."""
    import yaml  # only the MedleyDB and Slakh loaders need it

    return _parse(path, expected, "YAML", yaml.safe_load, yaml.YAMLError)


def read_json(path: Path, expected: str) -> Any:
    """Parse a JSON file; DatasetError naming the file when missing or malformed."""
    return _parse(path, expected, "JSON", json.loads, json.JSONDecodeError)


def _parse(path: Path, expected: str, kind: str, parse, error: type[Exception]) -> Any:
    require_file(path, expected, "restore the file from the dataset archive")
    try:
        return parse(path.read_text(encoding="utf-8"))
    except (error, UnicodeDecodeError) as exc:
        raise DatasetError(
            f"{path}: expected {expected}, found {kind} that does not parse ({exc}); fix: restore the file"
        ) from None


def split_artist(folder_name: str) -> tuple[str | None, str]:
    """``"Artist - Title"`` -> ``("Artist", "Title")``; a name without `` - `` -> ``(None, name)``."""
    artist, sep, title = folder_name.partition(" - ")
    if not sep or not artist.strip() or not title.strip():
        return None, folder_name
    return artist.strip(), title.strip()


def unique_names(names: list[str]) -> list[str]:
    """``names`` with repeats made unique by ``_2``, ``_3`` ... in order of appearance (track names must be)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def words(text: str) -> list[str]:
    """Lower-case alphanumeric words of a name (``"Song_MIX.wav"`` -> ``["song", "mix", "wav"]``)."""
    return re.findall(r"[a-z0-9]+", text.lower())
