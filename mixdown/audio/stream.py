"""Read many audio files block by block, aligned and at one sample rate, in bounded memory.

The console's streaming render takes blocks; this feeds it straight from disk, so a render's memory does not
grow with the song's length. Files at another rate go through soxr's streaming resampler; shorter files are
padded with silence to the longest.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
import soxr

if TYPE_CHECKING:  # torch loads in seconds: imported where tensors are made
    import torch

from mixdown.audio.io import audio_info
from mixdown.errors import AudioInputError

__all__ = ["BlockReader"]


class _TrackReader:
    """One file as a source of exactly-sized float32 ``(channels, n)`` blocks at ``sample_rate``."""

    def __init__(self, path: Path, sample_rate: int, start: int = 0):
        self.path = path
        self.file = sf.SoundFile(str(path), "r")
        self.channels = self.file.channels
        if start:  # ``start`` counts samples at the session rate
            self.file.seek(min(self.file.frames, round(start * self.file.samplerate / sample_rate)))
        self.resampler = None
        if self.file.samplerate != sample_rate:
            self.resampler = soxr.ResampleStream(self.file.samplerate, sample_rate, self.channels, dtype="float32", quality="VHQ")
        self.frames = self.file.frames if self.resampler is None else round(self.file.frames * sample_rate / self.file.samplerate)
        self.buffer = np.zeros((0, self.channels), np.float32)
        self.exhausted = False

    def read(self, n: int) -> np.ndarray:
        while len(self.buffer) < n and not self.exhausted:
            chunk = self.file.read(max(n, 4096), dtype="float32", always_2d=True)
            self.exhausted = len(chunk) == 0
            if self.resampler is not None:
                chunk = self.resampler.resample_chunk(chunk, last=self.exhausted)
            if not np.isfinite(chunk).all():
                raise AudioInputError(f"{self.path}: expected finite samples, found NaN/inf; fix: re-export the track")
            self.buffer = np.concatenate([self.buffer, chunk])
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        if len(out) < n:
            out = np.concatenate([out, np.zeros((n - len(out), self.channels), np.float32)])
        return out.T

    def close(self) -> None:
        self.file.close()


class BlockReader:
    """Aligned blocks from several files.

    Args:
        paths: audio files (1 or 2 channels each).
        sample_rate: output rate in Hz; ``None`` takes the most common rate among the files (ties: the highest).
        block_frames: frames per block.
        start: first frame to read (at ``sample_rate``): an excerpt, e.g. a preview.
        frames: how many frames to read from ``start``; None reads to the end of the longest file.

    Iterating yields lists of float32 tensors ``(channels_i, n)`` (one per file, the last block shorter) until
    :attr:`frames` frames are out. Files open read-only; use as a context manager to close them.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], sample_rate: int | None = None, block_frames: int = 1 << 16,
                 start: int = 0, frames: int | None = None):
        infos = [audio_info(p) for p in paths]  # checks every file before any block is read
        rates = [info.sample_rate for info in infos]
        self.sample_rate = sample_rate or max(set(rates), key=lambda r: (rates.count(r), r))
        self.block_frames = block_frames
        self.tracks = [_TrackReader(Path(p), self.sample_rate, start) for p in paths]
        remaining = max(0, max(t.frames for t in self.tracks) - start)
        self.frames = remaining if frames is None else min(frames, remaining)

    @property
    def channel_counts(self) -> list[int]:
        return [t.channels for t in self.tracks]

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        sizes = [min(self.block_frames, self.frames - start) for start in range(0, self.frames, self.block_frames)]
        if not sizes:
            return
        # Decoding (libsndfile, soxr) releases the GIL: read the next block while the caller works on this one.
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(self._read, sizes[0])
            for n in sizes[1:] + [0]:
                block = pending.result()
                if n:
                    pending = pool.submit(self._read, n)
                yield block

    def _read(self, n: int) -> list[torch.Tensor]:
        import torch

        return [torch.from_numpy(np.ascontiguousarray(t.read(n))) for t in self.tracks]

    def close(self) -> None:
        for t in self.tracks:
            t.close()

    def __enter__(self) -> BlockReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
