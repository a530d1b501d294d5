"""Uploaded audio: streamed to a generated name under the data folder, decoded to the end, then kept read-only.

A user's file name is never a path: it only gives the track's shown name (cleaned to letters, digits and a few
marks) and the suffix (one of the audio types libsndfile decodes). Bodies stream to disk in chunks and stop at
the size limit, so an oversized upload costs at most that much disk and is removed. Every frame is then decoded
(in a thread, block by block): a truncated file, one too short to measure or with NaN samples is refused now,
with its name as the user gave it, instead of failing a mix later; a silent one is kept with a warning.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from mixdown.app.errors import StudioError
from mixdown.audio.io import AUDIO_EXTENSIONS, audio_info
from mixdown.audio.session import SILENT_PEAK_DBFS
from mixdown.errors import AudioInputError

__all__ = ["MIN_SECONDS", "CheckedAudio", "UploadError", "check_audio", "clean_track_name", "receive_upload",
           "unique_name"]

_NAME_LENGTH = 80
MIN_SECONDS = 0.4
"""Shortest upload accepted: the loudness meter's block (BS.1770 gates 400 ms blocks), so a track can be measured."""
_BLOCK_FRAMES = 1 << 14  # frames decoded at a time: bounded memory, and where a truncated file stops
_MP3_SLACK = 2 * 1152  # an MP3 header's frame count can be an estimate (no Xing/Info header): two MPEG frames
_PLACEHOLDER_BYTES = 0xFFFF0000  # a WAV written as a stream declares its data 0 or ~4 GB long: not a truncation


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


@dataclass(frozen=True)
class CheckedAudio:
    """What decoding an upload to its end found.

    Attributes:
        sample_rate: in Hz. channels: 1 or 2. frames: samples per channel, as decoded.
        peak: largest ``|x|`` (full scale 1.0).
        warnings: what the page shows beside the file (it is kept): silence.
    """

    sample_rate: int
    channels: int
    frames: int
    peak: float
    warnings: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def check_audio(path: Path, shown: str) -> CheckedAudio:
    """Decode every frame of ``path`` (block by block) and check the file is whole, long enough and finite.

    Args:
        path: the file on the server.
        shown: the file's name as the user gave it: every message names it, never ``path``.
    Returns:
        the :class:`CheckedAudio`, with a warning when every sample is (nearly) zero.
    Raises:
        UploadError: not audio libsndfile decodes, more than 2 channels or no frames (415); the file ends before
            its header says (truncated, 415); NaN/inf samples (415); shorter than :data:`MIN_SECONDS` (400).
    """
    try:
        info = audio_info(path)
        log = sf.info(str(path)).extra_info
    except (AudioInputError, sf.SoundFileError, RuntimeError) as e:  # its message names our file: name theirs
        raise UploadError(f"{shown}: {_without(str(e).split(': ', 1)[-1], path, shown)}", 415) from None
    claimed = _claimed_frames(info.frames, log)
    decoded, peak = 0, 0.0
    try:
        with sf.SoundFile(str(path)) as f:
            while len(block := f.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)):
                finite = np.isfinite(block).all(axis=1)
                if not finite.all():
                    first = decoded + int(np.argmin(finite))
                    raise UploadError(f"{shown}: expected finite samples, found NaN/inf at frame {first}; fix: export "
                                      "the track again from its source (a float file with corrupt data)", 415)
                peak = max(peak, float(np.abs(block).max()))
                decoded += len(block)
    except (sf.SoundFileError, RuntimeError):  # libsndfile gave up in the middle: a FLAC cut short, mostly
        raise UploadError(_truncated(shown, decoded, claimed), 415) from None
    slack = _MP3_SLACK + claimed // 100 if info.subtype.startswith("MPEG") else 0
    if decoded < claimed - slack or _ogg_cut(log):
        raise UploadError(_truncated(shown, decoded, claimed if decoded < claimed else None), 415)
    if decoded < MIN_SECONDS * info.sample_rate:
        raise UploadError(f"{shown}: expected at least {MIN_SECONDS:g} s of audio, found {decoded} sample(s) "
                          f"({decoded / info.sample_rate * 1000:.3g} ms); fix: export the whole track (stems run "
                          "the length of the song)")
    warnings = []
    if peak < 10 ** (SILENT_PEAK_DBFS / 20):
        level = f"{20 * math.log10(peak):.0f} dBFS" if peak > 0 else "every sample zero"
        warnings.append(f"{shown}: silent (peak {level}, below {SILENT_PEAK_DBFS:g} dBFS); kept, but it adds nothing "
                        "to the mix; check the export, or remove the track")
    return CheckedAudio(info.sample_rate, info.channels, decoded, peak, tuple(warnings))


def _claimed_frames(frames: int, log: str) -> int:
    """The frame count the header declares. libsndfile shortens a WAV's or AIFF's to what the file holds and says
    so in its log (``data : 264600 (should be 132278)``; AIFF: ``Frame count read from 'COMM' chunk (132300)``)."""
    claimed = frames
    declared = re.search(r"^data\s*:\s*(\d+)\s*\(should be \d+\)", log, re.M)
    align = re.search(r"Block Align\s*:\s*(\d+)", log)
    if declared and align and int(align[1]) > 0 and 0 < int(declared[1]) < _PLACEHOLDER_BYTES:
        claimed = max(claimed, int(declared[1]) // int(align[1]))
    comm = re.search(r"Frame count read from 'COMM' chunk \((\d+)\)", log)
    if comm:
        claimed = max(claimed, int(comm[1]))
    return claimed


def _ogg_cut(log: str) -> bool:
    """An Ogg stream whose last page is cut off (an Ogg header declares no length)."""
    return "lacks an end-of-stream bit" in log or "Junk after the last page" in log


def _truncated(shown: str, decoded: int, claimed: int | None) -> str:
    counted = f"{decoded} of {claimed} frames" if claimed else f"{decoded} frames, then the stream stops mid-page"
    return (f"{shown}: the file ends before its header says ({counted}); expected a complete file, found a "
            "truncated one (an interrupted export, copy or download); fix: export it again and upload that")


def _without(text: str, path: Path, shown: str) -> str:
    """``text`` with the server's name for the file replaced by the user's."""
    return text.replace(str(path), shown).replace(path.name, shown).replace(path.stem, Path(shown).stem)


async def receive_upload(chunks: AsyncIterator[bytes], destination: Path, max_bytes: int,
                         shown: str) -> tuple[int, CheckedAudio]:
    """Stream an upload to ``destination`` (through a hidden temporary file in its folder), then decode it to the
    end (:func:`check_audio`, in a thread: a large file does not hold up other requests).

    Args:
        chunks: the request body.
        destination: the generated file path (its suffix is the upload's type).
        max_bytes: the size limit.
        shown: the user's file name, for messages.
    Returns:
        ``(bytes stored, what decoding found)``.
    Raises:
        UploadError: empty, over the limit (413), or refused by :func:`check_audio`; nothing is left on disk.
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
        checked = await asyncio.to_thread(check_audio, partial, shown)
        os.replace(partial, destination)
        os.chmod(destination, 0o444)  # inputs are read-only: nothing the studio does may change them
    finally:
        partial.unlink(missing_ok=True)
    return size, checked
