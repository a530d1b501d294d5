"""Every user action as a plain typed function: the CLI and the web app both call these."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from mixdown.analysis import SessionAnalysis, analyze_session
from mixdown.audio import AudioWriter, BlockReader, LoadWarning, load_session, read_audio, resample, write_audio
from mixdown.console import Console, Recipe
from mixdown.errors import OutputError, RecipeError
from mixdown.evaluate import Comparison, compare
from mixdown.mastering import loudness_target
from mixdown.mastering.master import master_to_target
from mixdown.methods.intent import Intent, load_intent
from mixdown.methods.rules import rules_recipe

__all__ = ["DEMO_RECIPE", "DEMO_STEMS", "MixResult", "RenderResult", "render_recipe", "demo_recipe_path",
           "demo_stems_path", "analyze_path", "compare_files", "mix_folder"]

DEMO_RECIPE = "assets/demo/saber-finalstep/recipe.json"
DEMO_STEMS = "assets/demo/saber-finalstep/stems"

# progress(done, total, stage): frames rendered so far out of the total, and what is happening
Progress = Callable[[int, int, str], None]


def demo_recipe_path() -> Path:
    """The example recipe bundled with the demo stems (Saber, "Final Step", BSD-2-clause; see ATTRIBUTION.md)."""
    return Path(str(resources.files("mixdown") / DEMO_RECIPE))


def demo_stems_path() -> Path:
    """The bundled demo song's stems (12 tracks, 15 s)."""
    return Path(str(resources.files("mixdown") / DEMO_STEMS))


@dataclass
class RenderResult:
    """What a render wrote and measured."""

    path: Path
    sample_rate: int
    frames: int
    loudness_lufs: float
    sample_peak_db: float
    clipped_samples: int
    tracks: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def render_recipe(
    recipe: str | Path | Recipe,
    output: str | Path,
    format: str = "wav24",
    block_seconds: float = 10.0,
    progress: Progress | None = None,
) -> RenderResult:
    """Render a recipe's source files to a stereo mix file.

    Args:
        recipe: a recipe file (its ``tracks[i].source`` paths are relative to it) or a loaded :class:`Recipe`.
        output: the mix file to write (atomically); never one of the inputs.
        format: ``wav24`` (default), ``wav16`` (TPDF dither), ``float32`` or ``flac``.
        block_seconds: streaming block length: sources are read from disk block by block, so memory stays
            bounded for any song length.
        progress: optional callback ``(frames_done, frames_total, stage)``.
    Returns:
        :class:`RenderResult` with the written path and its measured loudness and peak.
    """
    recipe = recipe if isinstance(recipe, Recipe) else Recipe.load(recipe)
    sources = _sources(recipe)
    done = 0
    with BlockReader(sources, recipe.sample_rate, max(1, int(block_seconds * (recipe.sample_rate or 44100)))) as reader:
        console = Console(recipe, reader.sample_rate, reader.channel_counts)
        with AudioWriter(output, reader.sample_rate, 2, format, protect=sources) as writer, torch.no_grad():
            for mix in console.render_blocks(reader):
                writer.write(mix)
                done += mix.shape[-1]
                if progress:
                    progress(done, reader.frames, "rendering")
    audio, rate = read_audio(writer.report.path)
    import pyloudnorm

    loudness = pyloudnorm.Meter(rate).integrated_loudness(audio.T)
    peak = float(np.abs(audio).max(initial=0.0))
    return RenderResult(
        writer.report.path, rate, writer.report.frames, float(loudness),
        20 * np.log10(max(peak, 1e-12)), writer.report.clipped_samples, len(recipe.tracks),
    )


def _sources(recipe: Recipe) -> list[Path]:
    base = recipe.path.parent if recipe.path is not None else Path.cwd()
    paths = []
    for i, t in enumerate(recipe.tracks):
        if t.source is None:
            raise RecipeError(f"tracks[{i}].source: expected the audio file of track {t.name!r}, found none; fix: add \"source\": \"path/to/{t.name}.wav\"")
        path = (base / t.source).resolve()
        if not path.is_file():
            raise RecipeError(f"tracks[{i}].source: expected an audio file, found nothing at {path}; fix: correct the path (relative to the recipe file)")
        paths.append(path)
    return paths


def analyze_path(
    path: str | Path,
    roles: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> tuple[SessionAnalysis, list[LoadWarning]]:
    """Measure a file (a mix) or a folder of stems: loudness, spectra, stereo, dynamics, masking and roles.

    Args:
        path: one audio file, or a folder whose audio files are the tracks of one song (read-only).
        roles: ``{track name: role}`` overrides of the detected roles.
        progress: optional callback ``(done, total, stage)``: files read, then analysis stages.
    Returns:
        the :class:`SessionAnalysis` and the warnings loading raised (silent, clipped, DC offset ...).
    Raises:
        AudioInputError: no audio at ``path`` or a file that cannot be read (the message names it and the fix).
    """
    session = load_session(path, progress=(lambda done, total, name: progress(done, total, f"reading {name}"))
                           if progress else None)
    analysis = analyze_session(session, roles, progress=progress)
    return analysis, session.warnings


def compare_files(mix: str | Path, reference: str | Path,
                  align: bool = True) -> tuple[Comparison, np.ndarray, np.ndarray, int]:
    """Compare a mix file with a reference mix file of the same music (see :func:`mixdown.evaluate.compare`).

    Args:
        mix, reference: audio files (read-only); the reference is resampled to the mix's rate (soxr VHQ).
        align: remove the lag between the two before comparing.
    Returns:
        ``(comparison, mix_audio, reference_audio, sample_rate)``: the audio as compared (channels-first float32,
        before alignment), for figures.
    Raises:
        AudioInputError: a file that cannot be read, or shorter than 1 s.
    """
    mix_audio, rate = read_audio(mix)
    reference_audio, reference_rate = read_audio(reference)
    reference_audio = resample(reference_audio, reference_rate, rate)
    return compare(mix_audio, reference_audio, rate, align=align), mix_audio, reference_audio, rate


@dataclass
class MixResult:
    """What ``mix_folder`` wrote and measured."""

    mix_path: Path
    recipe_path: Path
    sample_rate: int
    seconds: float
    tracks: int
    integrated_lufs: float
    true_peak_db: float
    loudness_range_lu: float
    clipped_samples: int
    warnings: list[LoadWarning]


def mix_folder(
    stems: str | Path,
    out_dir: str | Path,
    intent: Intent | str | Path | None = None,
    target: str | float | None = None,
    genre: str | None = None,
    format: str = "wav24",
    seed: int = 0,
    progress: Progress | None = None,
) -> MixResult:
    """Mix a folder of stems with the rules method: ``out_dir/mix.wav`` (mastered) and ``out_dir/recipe.json``.

    Args:
        stems: a folder of audio files (read-only), one track each.
        out_dir: created if needed; ``mix.<wav|flac>`` and ``recipe.json`` are written atomically.
        intent: an :class:`Intent`, or a YAML/JSON intent file; None for defaults.
        target: loudness target preset or LUFS; overrides the intent's.
        genre: overrides the intent's genre.
        format: ``wav24`` (default), ``wav16`` (TPDF dither), ``float32`` or ``flac``.
        seed: the reverb's noise seed (same seed, same bits).
        progress: optional callback ``(done, total, stage)``.
    Returns:
        :class:`MixResult`.
    Raises:
        AudioInputError / ParameterError / OutputError with the file and the fix.
    """
    intent = intent if isinstance(intent, Intent) else (load_intent(intent) if intent is not None else Intent())
    if target is not None:
        intent.target = loudness_target(target)
    if genre is not None:
        intent.genre = Intent.from_dict({"genre": genre}).genre
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out_dir}: cannot create the output folder ({e.strerror}); fix: choose a writable "
                          "place with -o") from None
    stage = (lambda name: (lambda done, total, what: progress(done, total, f"{name}: {what}"))) if progress else \
        (lambda name: None)
    session = load_session(stems, progress=stage("reading"))
    intent.check_tracks(session.names())
    roles = {name: t.role for name, t in intent.tracks.items() if t.role is not None}
    analysis = analyze_session(session, roles, progress=stage("analysing"))
    recipe = rules_recipe(session, analysis, intent, out_dir, seed)
    if progress:
        progress(0, 1, "rendering")
    with torch.no_grad():
        premaster = Console(recipe, session.sample_rate, [t.audio.shape[0] for t in session.tracks]).render(
            [t.audio for t in session.tracks])
    master = master_to_target(premaster, session.sample_rate, intent.target)
    recipe.master = master.steps
    if progress:
        progress(1, 1, "writing")
    suffix = ".flac" if format == "flac" else ".wav"
    report = write_audio(out_dir / f"mix{suffix}", master.audio, session.sample_rate, format,
                         protect=[t.path for t in session.tracks])
    recipe_path = recipe.save(out_dir / "recipe.json")
    return MixResult(report.path, recipe_path, session.sample_rate, session.duration_s, len(session.tracks),
                     master.integrated_lufs, master.true_peak_db, master.loudness_range_lu, report.clipped_samples,
                     session.warnings)
