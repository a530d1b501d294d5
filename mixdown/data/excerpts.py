"""Random excerpts of a song where the music plays: per-track activity, and an excerpt cut where enough tracks
are active, read from disk span by span.

Activity is judged per track against the track itself: a 100 ms frame is active when its RMS is above
``FLOOR_DBFS`` and within ``RANGE_DB`` of the track's loudest frame, so a quiet shaker counts as playing and a
loud track's bleed or fade-out tail does not.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from mixdown.audio.io import AudioInfo, audio_info
from mixdown.audio.session import resample
from mixdown.data.item import Excerpt, Song
from mixdown.data.loaders.common import DatasetError
from mixdown.errors import ParameterError

__all__ = [
    "ACTIVE_SHARE",
    "FLOOR_DBFS",
    "FRAME_MS",
    "RANGE_DB",
    "activity",
    "file_activity",
    "file_header",
    "random_excerpt",
    "read_span",
]

FRAME_MS = 100.0  # activity frame length
FLOOR_DBFS = -60.0  # frames at or below this RMS are silent, however loud the track is elsewhere
RANGE_DB = 40.0  # frames more than this below the track's loudest frame are bleed, tails or noise
ACTIVE_SHARE = 0.5  # a track plays in a window when more than this share of its frames there are active
_READ_BLOCK = 1 << 18  # frames per block when scanning a whole file: bounds memory on long tracks


def activity(audio, sample_rate: int, frame_ms: float = FRAME_MS, floor_dbfs: float = FLOOR_DBFS,
             range_db: float = RANGE_DB) -> np.ndarray:
    """Which frames of a track are active.

    Args:
        audio: ``(channels, samples)`` or ``(samples,)``, numpy array or tensor, full scale +-1.
        sample_rate: Hz.
        frame_ms: frame length; frame ``k`` covers samples ``[k, k + 1) * frame_ms / 1000 * sample_rate``, the last
            frame may be partial.
    Returns:
        bool ``(ceil(samples / frame),)``: frame RMS (power averaged over channels) above ``floor_dbfs`` and within
        ``range_db`` of the loudest frame.

    Properties: deterministic; not differentiable (a decision).

    Example:
        >>> active = activity(track_audio, 44100)  # (frames,) bool, one per 100 ms
    """
    x = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    x = x[None] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[1] == 0:
        raise ParameterError(f"activity: expected audio shaped (channels, samples), found {tuple(x.shape)}")
    power = np.mean(np.square(x, dtype=np.float64), axis=0)
    n_frames = _frame_count(power.size, sample_rate, frame_ms)
    sums, counts = _frame_sums(power, 0, sample_rate, frame_ms, n_frames)
    return _decide(sums / np.maximum(counts, 1), floor_dbfs, range_db)


def file_activity(path: str | Path, frame_ms: float = FRAME_MS, floor_dbfs: float = FLOOR_DBFS,
                  range_db: float = RANGE_DB) -> np.ndarray:
    """:func:`activity` of an audio file, read in blocks; cached per file (path, size and modification time).

    Returns:
        bool ``(frames,)``, read-only.
    Raises:
        AudioInputError: the file cannot be read (the message names it).
    """
    path = Path(path)
    file_header(path)  # the checks and messages of mixdown.audio.io for a missing or unreadable file
    stat = path.stat()
    return _cached_file_activity(str(path), stat.st_mtime_ns, stat.st_size, frame_ms, floor_dbfs, range_db)


def file_header(path: str | Path) -> AudioInfo:
    """:func:`mixdown.audio.io.audio_info`, cached per file (path, size and modification time): a training run
    asks for the same headers at every excerpt.

    Raises:
        AudioInputError: the file is missing or unreadable (the message names it).
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return audio_info(path)  # raises its clear message
    return _cached_header(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=65536)
def _cached_header(path: str, mtime_ns: int, size: int) -> AudioInfo:
    return audio_info(path)


@functools.lru_cache(maxsize=8192)
def _cached_file_activity(path: str, mtime_ns: int, size: int, frame_ms: float, floor_dbfs: float,
                          range_db: float) -> np.ndarray:
    with sf.SoundFile(path) as snd:
        n_frames = _frame_count(snd.frames, snd.samplerate, frame_ms)
        sums, counts = np.zeros(n_frames), np.zeros(n_frames)
        offset = 0
        for block in snd.blocks(_READ_BLOCK, dtype="float32", always_2d=True):
            power = np.mean(np.square(block, dtype=np.float64), axis=1)
            s, c = _frame_sums(power, offset, snd.samplerate, frame_ms, n_frames)
            sums += s
            counts += c
            offset += power.size
    active = _decide(sums / np.maximum(counts, 1), floor_dbfs, range_db)
    active.flags.writeable = False  # shared by every caller through the cache
    return active


def _frame_count(samples: int, sample_rate: int, frame_ms: float) -> int:
    return max(1, math.ceil(samples * 1000.0 / (sample_rate * frame_ms)))


def _frame_sums(power: np.ndarray, offset: int, sample_rate: int, frame_ms: float, n_frames: int):
    """Per-frame sums of ``power`` (samples from ``offset``) and sample counts, on one time grid for any rate."""
    frame = np.minimum((np.arange(offset, offset + power.size) * 1000.0) // (sample_rate * frame_ms), n_frames - 1)
    frame = frame.astype(np.int64)
    return (np.bincount(frame, weights=power, minlength=n_frames)[:n_frames],
            np.bincount(frame, minlength=n_frames)[:n_frames].astype(float))


def _decide(mean_power: np.ndarray, floor_dbfs: float, range_db: float) -> np.ndarray:
    level_db = 10 * np.log10(mean_power + 1e-20)
    return (level_db > floor_dbfs) & (level_db > level_db.max() - range_db)


def read_span(path: str | Path, start_s: float, seconds: float, sample_rate: int,
              out: np.ndarray | None = None) -> np.ndarray:
    """``seconds`` of a file from ``start_s``, stereo, at ``sample_rate``; only that span is read.

    Args:
        out: float32 ``(2, round(seconds * sample_rate))`` zeros to fill in place (saves a copy), or None.
    Returns:
        float32 ``(2, round(seconds * sample_rate))`` (``out`` when given): mono copied to both channels; zeros
        past the file's end; resampled (soxr) when the file's rate differs.
    Raises:
        AudioInputError: missing or unreadable file, more than 2 channels.
    """
    info = file_header(path)
    start = round(start_s * info.sample_rate)
    frames = round(seconds * info.sample_rate)
    with sf.SoundFile(str(path)) as snd:
        snd.seek(min(start, info.frames))
        data = snd.read(frames, dtype="float32", always_2d=True).T  # (channels, <= frames)
    n = round(seconds * sample_rate)
    fitted = np.zeros((2, n), np.float32) if out is None else out
    if info.sample_rate != sample_rate:
        padded = np.zeros((data.shape[0], frames), np.float32)
        padded[:, : data.shape[1]] = data
        data = resample(padded, info.sample_rate, sample_rate)
    fitted[:, : min(n, data.shape[1])] = data[:, :n]  # broadcasts a mono row to both channels
    return fitted


def random_excerpt(
    song: Song,
    seconds: float,
    sample_rate: int,
    rng: np.random.Generator,
    max_tracks: int,
    min_active_tracks: int = 2,
    active_share: float = ACTIVE_SHARE,
) -> Excerpt:
    """A random excerpt of ``song`` where at least ``min_active_tracks`` tracks play.

    Every start on the 100 ms grid where at least ``min_active_tracks`` tracks are active (by their own
    :func:`file_activity`) for more than ``active_share`` of the window is a candidate; one is drawn uniformly
    with ``rng``. When the song has more than ``max_tracks`` tracks, the tracks active there are kept first (a
    random subset if too many), then random others; the kept tracks stay in song order.

    Args:
        song: a loader's song.
        seconds: excerpt length.
        sample_rate: Hz of the excerpt; files at another rate are resampled (soxr).
        rng: ``numpy.random.Generator``; the same generator state gives the same excerpt.
        max_tracks: track rows of the output (padding rows are zero, masked out).
        min_active_tracks: tracks that must play; capped by ``max_tracks`` and the song's track count (a
            one-track song needs its one track playing); 0 accepts any start.
        active_share: see above.
    Returns:
        :class:`Excerpt` with audio ``(max_tracks, 2, round(seconds * sample_rate))`` float32, mask
        ``(max_tracks,)``, and the song's mix over the same span when it has one (the mix of all its tracks).
    Raises:
        ParameterError: bad arguments.
        DatasetError: the song is shorter than ``seconds``, or no window has ``min_active_tracks`` active tracks.
        AudioInputError: a track file is missing or unreadable.

    Properties: deterministic given ``rng``; reads whole files once for activity (cached), then only the span.

    Example:
        >>> ex = random_excerpt(song, 6.0, 44100, np.random.default_rng(0), max_tracks=8)
        >>> ex.audio.shape, ex.mask.sum()
    """
    _check_arguments(song, seconds, sample_rate, rng, max_tracks, min_active_tracks, active_share)
    frame_s = FRAME_MS / 1000.0
    profiles = [file_activity(t.path) for t in song.tracks]
    duration = max(_duration(t.path) for t in song.tracks)
    starts = math.floor((duration - seconds) / frame_s + 1e-9) + 1  # candidate starts on the frame grid
    where = f"{song.dataset}/{song.song}"
    if starts < 1:
        raise DatasetError(
            f"{where}: expected at least {seconds:g} s of audio, found {duration:.2f} s; fix: ask for shorter "
            "excerpts or leave the song out"
        )
    window = max(1, round(seconds / frame_s))
    playing = np.stack([_window_share(p, starts, window) > active_share for p in profiles])  # (tracks, starts)
    count = playing.sum(axis=0)
    needed = min(min_active_tracks, max_tracks, len(song.tracks))
    valid = np.flatnonzero(count >= needed)
    if valid.size == 0:
        raise DatasetError(
            f"{where}: expected a {seconds:g} s window where {needed} track(s) play, found at most "
            f"{int(count.max())}; fix: lower min_active_tracks or leave the song out"
        )
    start = int(rng.choice(valid))
    keep = _choose_tracks(playing[:, start], max_tracks, rng)
    start_s = start * frame_s
    n = round(seconds * sample_rate)
    audio = np.zeros((max_tracks, 2, n), np.float32)
    for row, index in enumerate(keep):
        read_span(song.tracks[index].path, start_s, seconds, sample_rate, out=audio[row])
    mask = torch.zeros(max_tracks, dtype=torch.bool)
    mask[: len(keep)] = True
    mix = torch.from_numpy(read_span(song.mix, start_s, seconds, sample_rate)) if song.mix is not None else None
    return Excerpt(
        audio=torch.from_numpy(audio), mask=mask, names=[song.tracks[i].name for i in keep],
        roles=[song.tracks[i].role for i in keep], sample_rate=sample_rate, song=where, start_s=start_s, mix=mix,
    )


def _duration(path: Path) -> float:
    info = file_header(path)
    return info.frames / info.sample_rate


def _window_share(profile: np.ndarray, starts: int, window: int) -> np.ndarray:
    """Share of active frames in ``[s, s + window)`` for each start ``s < starts`` (frames past the end: silent)."""
    padded = np.zeros(starts + window, bool)
    length = min(profile.size, padded.size)
    padded[:length] = profile[:length]
    total = np.concatenate([[0], np.cumsum(padded)])
    return (total[window: window + starts] - total[:starts]) / window


def _choose_tracks(playing: np.ndarray, max_tracks: int, rng: np.random.Generator) -> list[int]:
    """Indices of the tracks to keep (playing ones first), in song order."""
    if playing.size <= max_tracks:
        return list(range(playing.size))
    active = rng.permutation(np.flatnonzero(playing))
    silent = rng.permutation(np.flatnonzero(~playing))
    return sorted(int(i) for i in np.concatenate([active, silent])[:max_tracks])


def _check_arguments(song, seconds, sample_rate, rng, max_tracks, min_active_tracks, active_share) -> None:
    if not isinstance(song, Song) or not song.tracks:
        raise ParameterError(f"random_excerpt: expected a Song with tracks, found {song!r:.80}")
    if not (isinstance(seconds, (int, float)) and seconds > 0):
        raise ParameterError(f"random_excerpt: expected seconds > 0, found {seconds!r}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ParameterError(f"random_excerpt: expected a positive integer sample_rate in Hz, found {sample_rate!r}")
    if not isinstance(rng, np.random.Generator):
        raise ParameterError(
            f"random_excerpt: expected a numpy.random.Generator, found {type(rng).__name__}; "
            "fix: pass numpy.random.default_rng(seed)"
        )
    if not isinstance(max_tracks, int) or max_tracks < 1:
        raise ParameterError(f"random_excerpt: expected max_tracks >= 1, found {max_tracks!r}")
    if not isinstance(min_active_tracks, int) or min_active_tracks < 0:
        raise ParameterError(f"random_excerpt: expected min_active_tracks >= 0, found {min_active_tracks!r}")
    if not 0 <= active_share < 1:
        raise ParameterError(f"random_excerpt: expected 0 <= active_share < 1, found {active_share!r}")
