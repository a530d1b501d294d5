"""A Session: the tracks of one song at one sample rate, loaded and checked, with coded warnings.

Loading reads every file read-only, resamples to the session rate with soxr, pads to the longest track, and
reports what a mixer should know about the inputs (silent, clipped, DC offset, lossy, mono in stereo...) as
``LoadWarning`` objects instead of printing or fixing anything silently.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soxr
import torch

from mixdown.audio.io import (
    AUDIO_EXTENSIONS,
    LOSSY_EXTENSIONS,
    UNSUPPORTED_EXTENSIONS,
    AudioInfo,
    read_audio_info,
)
from mixdown.errors import AudioInputError, ParameterError

__all__ = ["Session", "Track", "LoadWarning", "load_session", "WARNING_CODES"]

WARNING_CODES = (
    "silent",
    "clipped",
    "dc_offset",
    "length_mismatch",
    "rate_mismatch",
    "lossy_source",
    "mono_as_stereo",
)
SILENT_PEAK_DBFS = -80.0  # peak below this: the track carries (almost) nothing
CLIP_LEVEL = 0.999  # |x| at or above this counts as full scale
CLIP_RUN = 3  # this many consecutive full-scale samples in one channel mean clipping, not a peak
DC_LIMIT = 0.01  # |mean| above this is a DC offset worth removing
MONO_DIFFERENCE_DB = -80.0  # peak of L - R below this (re the track's peak): the stereo file holds mono
RESAMPLE_QUALITY = "VHQ"

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class LoadWarning:
    """Something about an input a mixer should know; ``code`` is one of ``WARNING_CODES``."""

    code: str
    track: str
    message: str

    def __str__(self) -> str:
        return f"{self.track}: {self.code}: {self.message}"


@dataclass
class Track:
    """One input track at the session rate.

    Attributes:
        name: the file stem, unique in its session.
        path: the source file.
        audio: float32 tensor ``(channels, samples)``, 1 or 2 channels, at the session rate.
        original_sample_rate: the file's own rate in Hz (before any resampling).
        role: what the track is ("kick", "vocal", ...), or None while unknown.
    """

    name: str
    path: Path
    audio: torch.Tensor
    original_sample_rate: int
    role: str | None = None

    def __post_init__(self) -> None:
        audio = self.audio
        if not isinstance(audio, torch.Tensor) or audio.dim() != 2 or audio.shape[0] not in (1, 2):
            shape = tuple(audio.shape) if isinstance(audio, torch.Tensor) else type(audio).__name__
            raise AudioInputError(
                f"track {self.name}: expected a tensor shaped (channels, samples) with 1 or 2 channels, found "
                f"{shape}; fix: pass channels-first mono or stereo audio"
            )

    @property
    def channels(self) -> int:
        """1 (mono) or 2 (stereo)."""
        return self.audio.shape[0]

    @property
    def samples(self) -> int:
        """Length in samples at the session rate."""
        return self.audio.shape[1]


@dataclass
class Session:
    """The tracks of one song, all at ``sample_rate`` and all the same length.

    Attributes:
        tracks: in load order (a folder loads sorted by file name).
        sample_rate: Hz.
        warnings: what loading found, in track order.
    """

    tracks: list[Track]
    sample_rate: int
    warnings: list[LoadWarning] = field(default_factory=list)

    def __post_init__(self) -> None:
        lengths = {t.samples for t in self.tracks}
        if len(lengths) > 1:
            raise AudioInputError(
                f"session: expected tracks of one length, found {sorted(lengths)} samples; "
                "fix: pad the tracks to the same length (load_session does)"
            )
        _check_unique_names([(t.name, t.path) for t in self.tracks])

    @property
    def samples(self) -> int:
        """Length of every track in samples (0 for an empty session)."""
        return self.tracks[0].samples if self.tracks else 0

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.samples / self.sample_rate

    def names(self) -> list[str]:
        """Track names in order."""
        return [t.name for t in self.tracks]

    def track(self, name: str) -> Track:
        """The track called ``name``."""
        for t in self.tracks:
            if t.name == name:
                return t
        raise AudioInputError(f"session: expected a track named {name!r}, found only {self.names()}")

    def channel_counts(self) -> list[int]:
        """Channels per track, in order (1 or 2 each)."""
        return [t.channels for t in self.tracks]

    def input_paths(self) -> set[Path]:
        """Resolved source paths, to pass as ``write_audio(..., protect=session.input_paths())``."""
        return {t.path.resolve() for t in self.tracks}

    def stack(self, channels: int | None = None) -> torch.Tensor:
        """All tracks as one tensor ``(n_tracks, channels, samples)``.

        Args:
            channels: None keeps each track's channels and requires them all equal; 2 duplicates mono tracks to
                both channels (stereo tracks unchanged); 1 requires every track to be mono. Folding stereo to mono
                is a mixing decision, so it is never done here.
        Returns:
            float32 ``(n_tracks, channels, samples)``.
        """
        if channels not in (None, 1, 2):
            raise ParameterError(f"Session.stack: expected channels None, 1 or 2, found {channels!r}")
        counts = sorted(set(self.channel_counts()))
        if not counts:
            raise AudioInputError("session: expected at least one track to stack, found none")
        if channels is None and len(counts) > 1:
            raise AudioInputError(
                "session: expected tracks with one channel count, found mono and stereo tracks; "
                "fix: stack(channels=2) duplicates mono tracks to stereo"
            )
        if channels == 1 and counts != [1]:
            stereo = [t.name for t in self.tracks if t.channels == 2]
            raise AudioInputError(
                f"session: expected mono tracks for stack(channels=1), found stereo tracks {stereo}; "
                "fix: use stack(channels=2) or downmix them explicitly"
            )
        width = channels or counts[0]
        return torch.stack([t.audio.expand(width, -1) for t in self.tracks])


def load_session(
    source: str | os.PathLike | Iterable[str | os.PathLike],
    sample_rate: int | None = None,
    progress: Progress | None = None,
) -> Session:
    """Load the tracks of one song into a ``Session``.

    Args:
        source: a folder (every audio file directly in it, sorted by name with numbers in numeric order; hidden
            and non-audio files and sub-folders ignored), one audio file, or a list of files (kept in the
            given order).
        sample_rate: the session rate in Hz; None takes the most common rate among the files (ties: the highest).
            Files at other rates are resampled with soxr (``"VHQ"``) and warned ``rate_mismatch``.
        progress: called as ``progress(done, total, name)`` after each file is read.
    Returns:
        ``Session`` whose tracks are float32 ``(channels, samples)`` tensors of one length: shorter tracks are
        padded with silence at the end (warned ``length_mismatch``; a difference of 1 sample from resampling
        is padded without a warning). Mono and stereo tracks keep their channel counts.
    Raises:
        AudioInputError: no audio files, two tracks with the same name (file stem, case-insensitive), or any
            file ``read_audio`` refuses; the message names the file and the fix.

    Properties: input files are opened read-only; deterministic. Warning codes: silent (peak below -80 dBFS),
    clipped (3+ consecutive samples at ``|x| >= 0.999``), dc_offset (``|mean| > 0.01`` in a channel),
    lossy_source (MP3/Vorbis/Opus), mono_as_stereo (L - R below -80 dB re the peak; kept stereo),
    rate_mismatch, length_mismatch. Checks run on the audio as read, before resampling.

    Example:
        >>> session = load_session("song/stems")
        >>> [str(w) for w in session.warnings]
    """
    paths = _source_paths(source)
    _check_unique_names([(p.stem, p) for p in paths])
    loaded = []
    for done, path in enumerate(paths, start=1):
        loaded.append((path, *read_audio_info(path)))
        if progress is not None:
            progress(done, len(paths), path.stem)

    rate = _session_rate([info.sample_rate for _, _, info in loaded], sample_rate)
    resampled = [resample(audio, info.sample_rate, rate) for _, audio, info in loaded]
    longest = max(range(len(loaded)), key=lambda i: resampled[i].shape[1])
    length = resampled[longest].shape[1]
    # soxr rounds each output length, so tracks of one duration at different rates may differ by one sample.
    tolerance = 1 if any(info.sample_rate != rate for _, _, info in loaded) else 0

    tracks, warnings = [], []
    for (path, audio, info), at_rate in zip(loaded, resampled):
        name = path.stem
        warnings += _content_warnings(name, path, audio, info)
        if info.sample_rate != rate:
            warnings.append(LoadWarning(
                "rate_mismatch", name, f"{info.sample_rate} Hz file resampled to the session's {rate} Hz (soxr VHQ)"
            ))
        missing = length - at_rate.shape[1]
        if missing > tolerance:
            warnings.append(LoadWarning(
                "length_mismatch", name,
                f"{missing} samples ({missing / rate:.3f} s) shorter than the longest track "
                f"({loaded[longest][0].stem}); padded with silence at the end",
            ))
        padded = np.pad(at_rate, ((0, 0), (0, missing))) if missing else at_rate
        tracks.append(Track(name, path, torch.from_numpy(padded), info.sample_rate))
    return Session(tracks, rate, warnings)


def _source_paths(source) -> list[Path]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            return _scan_folder(path)
        if path.exists():
            return [path]
        raise AudioInputError(
            f"{path}: expected a folder of audio files or an audio file, found nothing at this path; "
            "fix: check the path"
        )
    paths = [Path(p) for p in source]
    if not paths:
        raise AudioInputError("expected at least one audio file, found an empty list; fix: pass files or a folder")
    return paths


def _scan_folder(folder: Path) -> list[Path]:
    """Audio files directly in ``folder``, in natural name order; unsupported audio is kept so it fails loudly."""
    picked = AUDIO_EXTENSIONS + UNSUPPORTED_EXTENSIONS
    files = [p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file()]
    audio = [p for p in files if p.suffix.lower() in picked]
    if not audio:
        raise AudioInputError(
            f"{folder}: expected audio files ({', '.join(AUDIO_EXTENSIONS)}), found none "
            f"({len(files)} other file(s) ignored; sub-folders are not searched); "
            "fix: point to the folder that holds the stems"
        )
    return sorted(audio, key=_natural_key)


def _natural_key(path: Path) -> tuple:
    """Sort "2_bass" before "10_vox"; case-insensitive, the exact name breaks ties."""
    parts = re.split(r"(\d+)", path.name.casefold())
    return tuple(int(p) if p.isdigit() else p for p in parts), path.name


def _check_unique_names(named: list[tuple[str, Path]]) -> None:
    seen: dict[str, Path] = {}
    for name, path in named:
        key = name.casefold()
        if key in seen:
            raise AudioInputError(
                f"{path}: expected unique track names (file stems), found {name!r} twice ({seen[key]} and {path}); "
                "fix: rename one of the files"
            )
        seen[key] = path


def _session_rate(rates: list[int], requested: int | None) -> int:
    if requested is not None:
        if isinstance(requested, bool) or not isinstance(requested, (int, np.integer)) or requested <= 0:
            raise ParameterError(f"load_session: expected a positive integer sample_rate in Hz, found {requested!r}")
        return int(requested)
    counts = Counter(rates)
    return max(counts, key=lambda r: (counts[r], r))


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """``(channels, samples)`` float32 at ``rate_out``; output length ``round(samples * rate_out / rate_in)``."""
    if rate_in == rate_out:
        return audio
    y = soxr.resample(np.ascontiguousarray(audio.T), rate_in, rate_out, quality=RESAMPLE_QUALITY)
    return np.ascontiguousarray(y.reshape(y.shape[0], -1).T, dtype=np.float32)


def _content_warnings(name: str, path: Path, audio: np.ndarray, info: AudioInfo) -> list[LoadWarning]:
    """Warnings about the audio as read (before resampling), in a fixed order."""
    warnings = []
    peak = float(np.abs(audio).max())
    if peak < 10 ** (SILENT_PEAK_DBFS / 20):
        warnings.append(LoadWarning(
            "silent", name,
            f"peak {_db(peak)} dBFS, below {SILENT_PEAK_DBFS:g} dBFS; check the export or remove the track",
        ))
    runs = _clipped_runs(audio)
    if runs:
        warnings.append(LoadWarning(
            "clipped", name,
            f"{runs} run(s) of {CLIP_RUN}+ consecutive samples at full scale (|x| >= {CLIP_LEVEL}); the source is "
            "probably clipped; use an unclipped export if there is one",
        ))
    means = audio.mean(axis=1, dtype=np.float64)
    worst = int(np.argmax(np.abs(means)))
    if abs(means[worst]) > DC_LIMIT:
        side = "" if audio.shape[0] == 1 else (" (left)", " (right)")[worst]
        warnings.append(LoadWarning(
            "dc_offset", name, f"mean {means[worst]:+.4f}{side}, above {DC_LIMIT}; a high-pass filter removes it"
        ))
    if info.lossy or path.suffix.lower() in LOSSY_EXTENSIONS:
        warnings.append(LoadWarning(
            "lossy_source", name,
            f"lossy {info.subtype} source: its coding artefacts end up in the mix; use the lossless original if you "
            "have it",
        ))
    if audio.shape[0] == 2 and peak > 0:
        difference = float(np.abs(audio[0] - audio[1]).max())
        if difference <= peak * 10 ** (MONO_DIFFERENCE_DB / 20):
            warnings.append(LoadWarning(
                "mono_as_stereo", name,
                f"left and right are identical (difference {_db(difference / peak)} dB re the peak): a mono signal "
                "in a stereo file; kept stereo",
            ))
    return warnings


def _clipped_runs(audio: np.ndarray) -> int:
    """Number of runs of ``CLIP_RUN`` or more consecutive samples at ``|x| >= CLIP_LEVEL``, over channels."""
    runs = 0
    for channel in np.abs(audio) >= CLIP_LEVEL:
        edges = np.flatnonzero(np.diff(channel.astype(np.int8), prepend=0, append=0))
        lengths = edges[1::2] - edges[0::2]
        runs += int(np.count_nonzero(lengths >= CLIP_RUN))
    return runs


def _db(ratio: float) -> str:
    return f"{20 * math.log10(ratio):.1f}" if ratio > 0 else "-inf"
