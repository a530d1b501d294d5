"""Render a recipe straight from the session's files, block by block: the premaster in memory, the processed
stems to disk, and the "after" measurements of every track, in one pass whose memory does not grow with the
number of tracks times their length (only the stereo premaster is kept whole: 0.2 GB for 10 minutes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mixdown.analysis.meter import StreamMeasures, StreamMeter
from mixdown.audio import AudioWriter, BlockReader, audio_info
from mixdown.console.recipe import Recipe
from mixdown.console.render import Console, block_frames
from mixdown.errors import OutputError

__all__ = ["SessionRender", "allow_open_files", "render_session"]

# Seconds per block: big enough that per-call costs vanish, small enough that 60 stereo tracks' block and the
# chain's temporaries stay within a few hundred MB; more tracks get shorter blocks (console.render.block_frames).
_BLOCK_SECONDS = 3.0


@dataclass
class SessionRender:
    """What :func:`render_session` produced.

    Attributes:
        premaster: float32 ``(2, frames)``: the console's output before mastering.
        after: per-track measurements of the processed stems (None when not asked for).
        stems: paths of the processed stem files written (empty when not asked for).
    """

    premaster: np.ndarray
    after: StreamMeasures | None
    stems: list[Path]


def allow_open_files(count: int) -> None:
    """Let this process hold ``count`` files open at once (a streaming render keeps every source open): raise
    the soft limit on open files toward the hard one where it is too low (often 1,024: a 3,000-track recipe).

    Raises:
        OutputError: the hard limit is lower than ``count`` plus a margin; the message says how to raise it.
    """
    try:
        import resource
    except ImportError:  # not POSIX: the C runtime's limit (8,192 on Windows) is what it is
        return
    need = count + 256  # the interpreter's own files, the output, the libraries
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        raise OutputError(f"{count} source files: expected to open them all at once, found this system lets a process "
                          f"open {hard} files; fix: raise the limit (`ulimit -Hn {need}` as root, or in "
                          "/etc/security/limits.conf), or bounce tracks to submixes first")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def render_session(
    recipe: Recipe,
    paths: Sequence[Path],
    sample_rate: int,
    start: int = 0,
    frames: int | None = None,
    measure: bool = True,
    stems_dir: Path | None = None,
    protect: Sequence[Path] = (),
    taps: Sequence[Callable[[torch.Tensor], None]] = (),
    progress: Callable[[int, int], None] | None = None,
) -> SessionRender:
    """Stream ``paths`` (one file per recipe track) through the console.

    Args:
        recipe: the mix.
        paths: the source files in recipe track order (read-only).
        sample_rate: the session rate (files at other rates are resampled on the fly).
        start, frames: the excerpt to render, in samples at ``sample_rate`` (a preview); ``frames`` None to the end.
        measure: measure every processed stem (loudness, spectrum, masking; no true peak) with a
            :class:`StreamMeter`.
        stems_dir: write each processed stem there as ``<track>.wav`` (32-bit float: before mastering a stem may
            exceed full scale, and float keeps it intact); None writes none.
        protect: files that must never be overwritten (the inputs).
        taps: more consumers of each ``(tracks, 2, n)`` block of processed stems (e.g. a speech activity meter).
        progress: optional ``progress(frames_done, frames_total)``.
    Returns:
        :class:`SessionRender`.
    """
    want_stems = measure or stems_dir is not None or bool(taps)
    allow_open_files(len(paths))
    with contextlib.ExitStack() as stack, torch.no_grad():
        channels = [audio_info(p).channels for p in paths]
        block = block_frames(_BLOCK_SECONDS, sample_rate, [2] * len(paths) if want_stems else channels)
        reader = stack.enter_context(BlockReader(paths, sample_rate, block, start=start, frames=frames))
        console = Console(recipe, sample_rate, reader.channel_counts)
        writers = [stack.enter_context(AudioWriter(stems_dir / f"{t.name}.wav", sample_rate, 2, "float32",
                                                   protect=protect))
                   for t in recipe.tracks] if stems_dir is not None else []
        meter = StreamMeter(len(recipe.tracks), sample_rate, true_peak=False) if measure else None
        premaster = np.empty((2, reader.frames), np.float32)
        done = 0
        for out in console.render_blocks(reader, stems=want_stems):
            mix, stems = out if want_stems else (out, None)
            premaster[:, done:done + mix.shape[-1]] = mix.numpy()
            done += mix.shape[-1]
            if stems is not None:
                for writer, stem in zip(writers, stems):
                    writer.write(stem)
                if meter is not None:
                    meter.add(stems)
                for tap in taps:
                    tap(stems)
            if progress is not None:
                progress(done, reader.frames)
    return SessionRender(premaster, meter.finish() if meter is not None else None,
                         [w.report.path for w in writers])
