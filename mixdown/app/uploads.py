"""Uploaded audio: streamed to a generated name under the data folder, checked, then kept read-only.

A user's file name is never a path: it only gives the track's shown name (cleaned to letters, digits and a few
marks) and the suffix (one of the audio types libsndfile decodes). Bodies stream to disk in chunks and stop at
the size limit, so an oversized upload costs at most that much disk and is removed.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

from mixdown.app.errors import StudioError
from mixdown.audio.io import AUDIO_EXTENSIONS, audio_info
from mixdown.errors import AudioInputError

__all__ = ["UploadError", "clean_track_name", "receive_upload", "unique_name"]

_NAME_LENGTH = 80


class UploadError(StudioError):
    """An upload the studio refuses (400, 413 too large, 415 not audio)."""


def clean_track_name(filename: str) -> tuple[str, str]:
    """``(name, suffix)`` from a user's file name: the last path part without its suffix, reduced to word
    characters, spaces and ``-+&()`` (at most 80), and the lower-case suffix.

    Raises:
        UploadError: the suffix is not an audio type the studio decodes.
    """
    base = re.split(r"[\\/]", filename or "")[-1]
    stem, dot, suffix = base.rpartition(".")
    suffix = f".{suffix.lower()}" if dot else ""
    if suffix not in AUDIO_EXTENSIONS:
        shown = _clean(base, keep=".") or "(no name)"
        raise UploadError(f"{shown}: expected an audio file ({', '.join(AUDIO_EXTENSIONS)}), found "
                          f"{suffix or 'no suffix'}; fix: export the track as WAV or FLAC and upload that", 415)
    return _clean(stem) or "track", suffix


def _clean(text: str, keep: str = "") -> str:
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(rf"[^\w\-+&() {re.escape(keep)}]+", "_", text)
    return re.sub(r"[_ ]{2,}", "_", text).strip(" _.")[:_NAME_LENGTH]


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name 2``, ``name 3`` ... if a track of the project already has it (case-insensitive)."""
    folded = {t.casefold() for t in taken}
    candidate, n = name, 2
    while candidate.casefold() in folded:
        candidate, n = f"{name} {n}", n + 1
    return candidate


async def receive_upload(chunks: AsyncIterator[bytes], destination: Path, max_bytes: int, shown: str) -> int:
    """Stream an upload to ``destination`` (through a hidden temporary file in its folder), then check it is
    audio libsndfile decodes, mono or stereo, with samples.

    Args:
        chunks: the request body.
        destination: the generated file path (its suffix is the upload's type).
        max_bytes: the size limit.
        shown: the user's file name, for messages.
    Returns:
        the number of bytes stored.
    Raises:
        UploadError: empty, over the limit (413) or not decodable audio; nothing is left on disk.
    """
    partial = destination.with_name(f".{destination.stem}.part{destination.suffix}")  # the type stays visible
    size = 0
    try:
        with open(partial, "xb") as f:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadError(f"{shown}: expected at most {max_bytes / 2**20:.0f} MB, found a larger file; "
                                      "fix: upload FLAC instead of WAV, or start the studio with a higher "
                                      "--max-upload-mb", 413)
                f.write(chunk)
        if size == 0:
            raise UploadError(f"{shown}: expected audio, found an empty upload; fix: choose the file again")
        try:
            audio_info(partial)
        except AudioInputError as e:  # its message names our file: name the user's instead
            reason = str(e).split(": ", 1)[-1].replace(str(partial), shown)
            reason = reason.replace(partial.name, shown).replace(partial.stem, Path(shown).stem)
            raise UploadError(f"{shown}: {reason}", 415) from None
        os.replace(partial, destination)
        os.chmod(destination, 0o444)  # inputs are read-only: nothing the studio does may change them
    finally:
        partial.unlink(missing_ok=True)
    return size
