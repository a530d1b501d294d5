"""Atomic file writing: a hidden temp file in the destination folder, renamed over the target on success only,
so a crash or an error never leaves a half-written file (or destroys the previous one)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from mixdown.errors import OutputError

__all__ = ["atomic_path", "create_temp", "write_text_atomic"]


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


def create_temp(path: Path) -> Path:
    """A new hidden file next to ``path``, created with the usual permissions (0666 minus the umask)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
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


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
