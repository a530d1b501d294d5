"""Check that a dataset's tracks are real audio: each read once, its peak, clipping and playing time measured.

For a ``mixdown data synth`` corpus it also checks that every stem's role is its GM program's role, and counts
instruments.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf

from mixdown.audio.io import CLIP_LEVEL
from mixdown.data.excerpts import file_activity
from mixdown.data.item import Song, TrackFile
from mixdown.data.synth.gm import program_role

__all__ = ["SILENT_PEAK_DBFS", "DatasetCheck", "TrackCheck", "check_songs"]

SILENT_PEAK_DBFS = -60.0
"""A track whose peak stays at or below this is silent."""
_BLOCK = 1 << 18


@dataclass(frozen=True)
class TrackCheck:
    """One track, measured.

    Attributes:
        song, track: where it is.
        peak_dbfs: sample peak over all channels (-inf for digital silence).
        clipped: samples at or above full scale (``mixdown.audio.io.CLIP_LEVEL``).
        active_share: share of 100 ms frames where it plays (:func:`mixdown.data.excerpts.file_activity`).
        role_matches: for a synthetic stem with a GM program, whether its role is the program's; else None.
    """

    song: str
    track: str
    peak_dbfs: float
    clipped: int
    active_share: float
    role_matches: bool | None


@dataclass
class DatasetCheck:
    """Every track's measures and what they add up to (:meth:`summary`)."""

    tracks: list[TrackCheck] = field(default_factory=list)
    roles: Counter = field(default_factory=Counter)
    instruments: Counter = field(default_factory=Counter)

    @property
    def silent(self) -> list[TrackCheck]:
        return [t for t in self.tracks if t.peak_dbfs <= SILENT_PEAK_DBFS]

    @property
    def clipping(self) -> list[TrackCheck]:
        return [t for t in self.tracks if t.clipped]

    @property
    def role_mismatches(self) -> list[TrackCheck]:
        return [t for t in self.tracks if t.role_matches is False]

    def summary(self) -> dict:
        """JSON-ready totals: counts of silent, clipping and mismatched tracks, peak and playing-share spread."""
        peaks = [t.peak_dbfs for t in self.tracks if t.peak_dbfs > -np.inf]
        shares = [t.active_share for t in self.tracks]
        return {
            "tracks": len(self.tracks),
            "silent": len(self.silent),
            "clipping": len(self.clipping),
            "role_checked": sum(t.role_matches is not None for t in self.tracks),
            "role_mismatches": len(self.role_mismatches),
            "peak_dbfs": {"min": round(min(peaks), 2), "median": round(statistics.median(peaks), 2),
                          "max": round(max(peaks), 2)} if peaks else None,
            "active_share": {"min": round(min(shares), 3), "median": round(statistics.median(shares), 3)}
            if shares else None,
            "roles": dict(self.roles.most_common()),
            "instruments": dict(self.instruments.most_common()),
        }


def _peak_and_clipped(path) -> tuple[float, int]:
    peak, clipped = 0.0, 0
    with sf.SoundFile(str(path)) as snd:
        for block in snd.blocks(_BLOCK, dtype="float32", always_2d=True):
            magnitude = np.abs(block)
            peak = max(peak, float(magnitude.max(initial=0.0)))
            clipped += int(np.count_nonzero(magnitude >= CLIP_LEVEL))
    return (20 * np.log10(peak) if peak > 0 else -np.inf), clipped


def _program(song: Song, track: TrackFile) -> int | None:
    """The GM program a synthetic stem was rendered with (None for drums or other datasets)."""
    for inst in song.metadata.get("instruments", ()):
        if inst.get("stem") == track.name:
            return inst.get("program")
    return None


def _check_track(song: Song, track: TrackFile) -> TrackCheck:
    peak_dbfs, clipped = _peak_and_clipped(track.path)
    program = _program(song, track)
    return TrackCheck(song.song, track.name, float(peak_dbfs), clipped, float(file_activity(track.path).mean()),
                      None if program is None else program_role(program) == track.role)


def check_songs(songs: Sequence[Song], jobs: int = 2,
                progress: Callable[[int, int], None] | None = None) -> DatasetCheck:
    """Read every track of ``songs`` once and measure it.

    Args:
        songs: a loader's songs.
        jobs: files read at once (libsndfile and numpy release the GIL).
        progress: ``progress(done, total)`` after each track.
    Returns:
        :class:`DatasetCheck` with a :class:`TrackCheck` per track, role counts and instrument counts (the
        track's dataset label, e.g. the GM instrument of a synthetic stem).
    Raises:
        AudioInputError: a track cannot be read (the message names it).
    """
    pairs = [(song, track) for song in songs for track in song.tracks]
    result = DatasetCheck()
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        for done, checked in enumerate(pool.map(lambda pair: _check_track(*pair), pairs), 1):
            result.tracks.append(checked)
            if progress:
                progress(done, len(pairs))
    result.roles.update(track.role or "unknown" for _, track in pairs)
    result.instruments.update(track.label for _, track in pairs if track.label)
    return result
