"""Atomic file writing: a hidden temp file in the destination folder, renamed over the target on success only,
so a crash or an error never leaves a half-written file (or destroys the previous one); and reading the JSON
files users hand in (recipes), with errors that name the file."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from mixdown.errors import MixdownError, OutputError

__all__ = [
    "MAX_JSON_BYTES",
    "STALE_SECONDS",
    "atomic_path",
    "create_temp",
    "read_json",
    "remove_stale_temps",
    "write_text_atomic",
]

MAX_JSON_BYTES = 64 << 20
"""Largest JSON file read (a recipe of 10,000 tracks is about 20 MB)."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path next to ``path`` to write to; on a clean exit it replaces ``path`` (``os.replace``), on
    an exception it is removed and ``path`` is left as it was.

    Raises:
        OutputError: the folder does not exist, or ``path`` is a folder.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise OutputError(f"{path}: expected an existing folder {path.parent}; fix: create it first")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; fix: give a file name")
    tmp = create_temp(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


STALE_SECONDS = 24 * 3600
"""A temp file nobody has written to for this long is stale, whoever made it."""


def create_temp(path: Path) -> Path:
    """A new hidden file next to ``path``, ``.NAME.<pid>.<random>.tmp``, created with the usual permissions
    (0666 minus the umask); stale temp files of ``path`` (see :func:`remove_stale_temps`) are removed first."""
    remove_stale_temps(path)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(
                f"{path}: expected a writable folder, found {exc.strerror}; fix: check permissions of {path.parent}"
            ) from exc
    raise OutputError(f"{path}: could not create a temporary file next to it; fix: clean up .{path.name}.*.tmp")


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temp files an earlier writer of ``path`` left behind when it was killed mid-write.

    A temp file ``.NAME.<pid>.<random>.tmp`` is stale when process ``pid`` no longer runs, or when nothing has
    written to it for a day (:data:`STALE_SECONDS`; a reused pid, or the older ``.NAME.<random>.tmp`` names);
    one a running process is writing is never touched. Files that cannot be removed are left (the folder may be
    shared); nothing is raised.

    Returns:
        the paths removed.
    """
    path = Path(path)
    prefix = f".{path.name}."
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
            continue
        middle = entry.name[len(prefix):-len(".tmp")].split(".")
        try:
            if entry.is_symlink() or not entry.is_file():
                continue
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS
            dead = len(middle) == 2 and middle[0].isdigit() and not _running(int(middle[0]))
            if old or dead:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _running(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (one of another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no such process; a number no pid can be
        return False
    except OSError:  # PermissionError: it runs under another user
        return True
    return True


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def read_json(path: str | os.PathLike, what: str, error: type[MixdownError]) -> object:
    """The parsed contents of a JSON file a user gave, or ``error`` naming the file, what is wrong and the fix.

    Args:
        path: the file.
        what: what it should be, for messages ("recipe").
        error: the :class:`MixdownError` subclass to raise.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise error(f"{path}: expected a {what} file, found a folder; fix: give the {what}'s JSON file")
        if path.stat().st_size > MAX_JSON_BYTES:
            raise error(f"{path}: expected a {what} of at most {MAX_JSON_BYTES >> 20} MB, found "
                        f"{path.stat().st_size / 2 ** 20:.1f} MB; fix: check that this is the {what} file")
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise error(f"{path}: cannot read the {what} ({e.strerror}); fix: check the path") from None
    except UnicodeDecodeError as e:
        raise error(f"{path}: expected UTF-8 JSON text, found byte {e.object[e.start]:#04x} at offset {e.start} that "
                    f"is not; fix: save the {what} as UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); fix: correct it there") \
            from None
    except RecursionError:
        raise error(f"{path}: expected a {what}, found JSON nested too deeply to be one; fix: check that this is "
                    f"the {what} file") from None
