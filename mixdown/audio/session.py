"""A Session: the tracks of one song at one sample rate, loaded and checked, with coded warnings.

Loading reads every file read-only, resamples to the session rate with soxr, pads to the longest track, and
reports what a mixer should know about the inputs (silent, clipped, DC offset, lossy, mono in stereo...) as
``LoadWarning`` objects instead of printing or fixing anything silently.
"""

from __future__ import annotations

import errno
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soxr

if TYPE_CHECKING:  # torch loads in seconds: imported where tensors are made
    import torch

from mixdown.audio.io import (
    AUDIO_EXTENSIONS,
    CLIP_LEVEL,
    CLIP_RUN,
    LOSSY_EXTENSIONS,
    RESAMPLE_QUALITY,
    UNSUPPORTED_EXTENSIONS,
    AudioInfo,
    audio_info,
    read_audio_scanned,
)
from mixdown.audio.kernels import SampleScan
from mixdown.errors import AudioInputError, ParameterError

__all__ = [
    "WARNING_CODES",
    "LoadWarning",
    "Session",
    "SessionPlan",
    "Track",
    "load_session",
    "load_tracks",
    "natural_key",
    "plan_session",
]

WARNING_CODES = (
    "silent",
    "clipped",
    "dc_offset",
    "length_mismatch",
    "rate_mismatch",
    "lossy_source",
    "mono_as_stereo",
    "truncated",
    "skipped",
)
MIX_NAMES = ("mix", "mixture", "master", "preview")
"""File names (stems, any case) of a whole mix, not a track: mixdown's own ``mix.wav`` / ``preview.wav``, a
dataset's ``mixture.flac``. A folder scan leaves them out (with a ``skipped`` warning) when it holds other audio."""
SILENT_PEAK_DBFS = -80.0  # peak below this: the track carries (almost) nothing
DC_LIMIT = 0.01  # |mean| above this is a DC offset worth removing
MONO_DIFFERENCE_DB = -80.0  # peak of L - R below this (re the track's peak): the stereo file holds mono
_LOSSY_LENGTH_SLACK = 2304  # two MPEG frames: a lossy file may decode this much short of its header's length

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
        import torch

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
        import torch

        width = channels or counts[0]
        return torch.stack([t.audio.expand(width, -1) for t in self.tracks])


@dataclass(frozen=True)
class PlannedTrack:
    """A track of a :class:`SessionPlan`: its name, file and channel count (no audio)."""

    name: str
    path: Path
    channels: int


@dataclass(frozen=True)
class SessionPlan:
    """A session as its file headers describe it, before any sample is read: what streaming work needs to size
    itself (which files, which rate, how long, how many channels).

    Attributes:
        paths: the audio files, in session order.
        infos: their checked headers.
        sample_rate: the session rate in Hz.
        samples: the session length at that rate (the longest track's; the others are padded to it).
        warnings: what the folder scan left out (``skipped``: a full mix beside stems, a folder named like audio).
    """

    paths: list[Path]
    infos: list[AudioInfo]
    sample_rate: int
    samples: int
    warnings: tuple[LoadWarning, ...] = ()

    @property
    def names(self) -> list[str]:
        """Track names (file stems) in order."""
        return [p.stem for p in self.paths]

    @property
    def tracks(self) -> list[PlannedTrack]:
        """The tracks as the headers describe them: what a mixing method needs to write a recipe."""
        return [PlannedTrack(p.stem, p, info.channels) for p, info in zip(self.paths, self.infos)]

    @property
    def channel_counts(self) -> list[int]:
        return [info.channels for info in self.infos]

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate

    def track_samples(self, i: int) -> int:
        """Length of track ``i`` at the session rate (soxr's output length when it is resampled)."""
        info = self.infos[i]
        return info.frames if info.sample_rate == self.sample_rate else \
            round(info.frames * self.sample_rate / info.sample_rate)

    def track_bytes(self, i: int) -> int:
        """Memory of track ``i`` loaded (float32 at the session rate and length)."""
        return 4 * self.infos[i].channels * self.samples


def plan_session(source: str | os.PathLike | Iterable[str | os.PathLike],
                 sample_rate: int | None = None, keep: Iterable[str] = ()) -> SessionPlan:
    """Check every file's header and fix the session's rate and length, reading no samples.

    Args:
        source, sample_rate: as :func:`load_session`.
        keep: track names (file stems, any case) a folder scan keeps even when they are named like a whole mix
            (:data:`MIX_NAMES`): the tracks an intent names, which the user means as tracks.
    Returns:
        :class:`SessionPlan`.
    Raises:
        AudioInputError: as :func:`load_session` (except NaN/inf samples, which only reading finds).
    """
    paths, skipped = _source_paths(source, {name.casefold() for name in keep})
    _check_unique_names([(p.stem, p) for p in paths])
    infos = [audio_info(p) for p in paths]
    rate = _session_rate([info.sample_rate for info in infos], sample_rate)
    plan = SessionPlan(paths, infos, rate, 0)
    return SessionPlan(paths, infos, rate, max(plan.track_samples(i) for i in range(len(paths))), tuple(skipped))


def load_tracks(plan: SessionPlan, indices: Iterable[int] | None = None, progress: Progress | None = None,
                threads: int = 2) -> Session:
    """Read some (or all) of a plan's tracks into a :class:`Session` at the plan's rate and length.

    Args:
        plan: from :func:`plan_session`.
        indices: which tracks, in plan order; None for all. Loading a long session a few tracks at a time keeps
            memory bounded (the streaming mixer does).
        progress: called as ``progress(done, total, name)`` after each file is read.
        threads: files decoded at once (libsndfile and soxr release the GIL).
    Returns:
        ``Session`` of those tracks with the warnings they raise (``length_mismatch`` is judged against the
        whole plan's longest track).
    """
    indices = list(range(len(plan.paths)) if indices is None else indices)
    longest = max(range(len(plan.paths)), key=plan.track_samples)
    # soxr rounds each output length, so tracks of one duration at different rates may differ by one sample.
    tolerance = 1 if any(info.sample_rate != plan.sample_rate for info in plan.infos) else 0

    def read(i: int):
        return read_audio_scanned(plan.paths[i], plan.sample_rate)

    import torch

    tracks, warnings = [], []
    with ThreadPoolExecutor(max(1, threads)) as pool:
        for done, (i, (audio, info, scan)) in enumerate(zip(indices, pool.map(read, indices)), start=1):
            path, name = plan.paths[i], plan.paths[i].stem
            warnings += _content_warnings(name, path, scan, info)
            if info.sample_rate != plan.sample_rate:
                warnings.append(LoadWarning(
                    "rate_mismatch", name,
                    f"{info.sample_rate} Hz file resampled to the session's {plan.sample_rate} Hz (soxr VHQ)"))
            own = plan.track_samples(i)  # as its header says
            claimed = own if info.claimed_frames is None else \
                round(info.claimed_frames * plan.sample_rate / info.sample_rate)
            if claimed - audio.shape[1] > max(tolerance, _LOSSY_LENGTH_SLACK):  # lossy only: read refuses others
                said = "header says" if info.claimed_frames is None else "last page counts"
                warnings.append(LoadWarning(
                    "truncated", name,
                    f"decodes to {audio.shape[1] / plan.sample_rate:.3f} s of the {claimed / plan.sample_rate:.3f} s "
                    f"its {said}: probably cut off or damaged while being written or copied (or its header only "
                    "estimates the length); padded with silence; if it is, export or copy it again",
                ))
            missing = plan.samples - own
            if missing > tolerance:
                warnings.append(LoadWarning(
                    "length_mismatch", name,
                    f"{missing} samples ({missing / plan.sample_rate:.3f} s) shorter than the longest track "
                    f"({plan.paths[longest].stem}); padded with silence at the end",
                ))
            missing = plan.samples - audio.shape[1]
            if missing:  # a header that under-counted its frames reads longer: the plan's length wins
                audio = np.pad(audio, ((0, 0), (0, missing))) if missing > 0 else audio[:, :plan.samples]
            tracks.append(Track(name, path, torch.from_numpy(audio), info.sample_rate))
            if progress is not None:
                progress(done, len(indices), name)
    return Session(tracks, plan.sample_rate, warnings)


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
    return load_tracks(plan_session(source, sample_rate), progress=progress)


def _source_paths(source, keep: set[str] = frozenset()) -> tuple[list[Path], list[LoadWarning]]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            return _scan_folder(path, keep)
        if path.exists():
            return [path], []
        if path.is_symlink():
            _broken_link(path)
        raise AudioInputError(
            f"{path}: expected a folder of audio files or an audio file, found nothing at this path; "
            "fix: check the path"
        )
    paths = [Path(p) for p in source]
    if not paths:
        raise AudioInputError("expected at least one audio file, found an empty list; fix: pass files or a folder")
    return paths, []


def _scan_folder(folder: Path, keep: set[str] = frozenset()) -> tuple[list[Path], list[LoadWarning]]:
    """Audio files directly in ``folder``, in natural name order, and warnings naming what was left out.

    Unsupported audio is kept so it fails loudly; a link named like audio that leads nowhere (dangling, or a
    loop) is refused, since the track it stood for would be missing from the mix; a folder or special file
    named like audio is skipped with a warning; so is a full mix (:data:`MIX_NAMES`) beside other audio, so
    an earlier ``mix.wav`` or a dataset's ``mixture.flac`` is never mixed in as a track (unless ``keep``, the
    casefolded names an intent gives, names it).
    """
    picked = AUDIO_EXTENSIONS + UNSUPPORTED_EXTENSIONS
    try:
        entries = sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=natural_key)
    except OSError as e:
        raise AudioInputError(f"{folder}: expected a readable folder, found {e.strerror}; fix: check its "
                              "permissions") from None
    audio, skipped, others = [], [], 0
    for p in entries:
        if p.suffix.lower() not in picked:
            others += 1
        elif p.is_file():
            audio.append(p)
        elif p.is_symlink() and not p.exists():
            _broken_link(p)
        else:
            what = "a folder" if p.is_dir() else "not a regular file"
            skipped.append(LoadWarning("skipped", p.name, f"{what}, not an audio file: left out (sub-folders are "
                                       f"not searched); to mix its tracks, move them into {folder}"))
    if not audio:
        raise AudioInputError(
            f"{folder}: expected audio files ({', '.join(AUDIO_EXTENSIONS)}), found none "
            f"({others} other file(s) ignored; sub-folders are not searched); "
            "fix: point to the folder that holds the stems"
        )
    mixes = [p for p in audio if p.stem.casefold() in MIX_NAMES and p.stem.casefold() not in keep]
    if mixes and len(mixes) < len(audio):
        for p in mixes:
            skipped.append(LoadWarning("skipped", p.name, (
                f"named like a whole mix (mixdown's own output, or a dataset's mixture), not a track: left out; "
                f"to mix it in as a track, rename it (e.g. {p.stem}_track{p.suffix}) or name it in the intent "
                f"(tracks: {{{p.stem}: {{}}}})")))
        audio = [p for p in audio if p not in mixes]
    return audio, skipped


def _broken_link(path: Path) -> None:
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    try:
        path.stat()
        why = f"a symbolic link to {target}, which does not exist"
    except OSError as e:
        why = ("a symbolic link that loops back on itself" if e.errno == errno.ELOOP
               else f"a symbolic link to {target}, which does not exist")
    raise AudioInputError(f"{path}: expected an audio file, found {why}; fix: point the link at the track's file "
                          "(ln -sf FILE LINK) or remove the link")


def natural_key(path: Path) -> tuple:
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


def _content_warnings(name: str, path: Path, scan: SampleScan, info: AudioInfo) -> list[LoadWarning]:
    """Warnings about the audio as read (before resampling), in a fixed order."""
    warnings = []
    peak = scan.peak
    if peak < 10 ** (SILENT_PEAK_DBFS / 20):
        warnings.append(LoadWarning(
            "silent", name,
            f"peak {_db(peak)} dBFS, below {SILENT_PEAK_DBFS:g} dBFS; check the export or remove the track",
        ))
    if scan.clip_runs:
        warnings.append(LoadWarning(
            "clipped", name,
            f"{scan.clip_runs} run(s) of {CLIP_RUN}+ consecutive samples at full scale (|x| >= {CLIP_LEVEL}); the "
            "source is probably clipped; use an unclipped export if there is one",
        ))
    worst = int(np.argmax(np.abs(scan.means)))
    if abs(scan.means[worst]) > DC_LIMIT:
        side = "" if info.channels == 1 else (" (left)", " (right)")[worst]
        warnings.append(LoadWarning(
            "dc_offset", name, f"mean {scan.means[worst]:+.4f}{side}, above {DC_LIMIT}; a high-pass filter removes it"
        ))
    if info.lossy or path.suffix.lower() in LOSSY_EXTENSIONS:
        warnings.append(LoadWarning(
            "lossy_source", name,
            f"lossy {info.subtype} source: its coding artefacts end up in the mix; use the lossless original if you "
            "have it",
        ))
    if info.channels == 2 and peak > 0 and scan.max_difference <= peak * 10 ** (MONO_DIFFERENCE_DB / 20):
        warnings.append(LoadWarning(
            "mono_as_stereo", name,
            f"left and right are identical (difference {_db(scan.max_difference / peak)} dB re the peak): a mono "
            "signal in a stereo file; kept stereo",
        ))
    return warnings


def _db(ratio: float) -> str:
    return f"{20 * math.log10(ratio):.1f}" if ratio > 0 else "-inf"
