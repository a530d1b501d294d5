"""Every user action as a plain typed function: the CLI and the web app both call these.

Each function imports the heavy layers it works with (the console, the mixers, mastering: torch, numba and scipy
take seconds to load) when it runs, after the cheap checks of its inputs, so a wrong path or an empty folder is
reported at once and importing this module stays fast.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mixdown.audio import LoadWarning, plan_session, read_audio, resample
from mixdown.errors import OutputError, ParameterError, RecipeError
from mixdown.export.files import read_json
from mixdown.memory import return_large_blocks

if TYPE_CHECKING:
    from mixdown.analysis import SessionAnalysis
    from mixdown.analysis.meter import StreamMeasures
    from mixdown.audio import AudioInfo
    from mixdown.console import Recipe
    from mixdown.evaluate import Comparison
    from mixdown.methods.intent import Intent

__all__ = [
    "DEMO_RECIPE",
    "DEMO_STEMS",
    "MixResult",
    "RenderResult",
    "analyze_path",
    "compare_files",
    "demo_recipe_path",
    "demo_stems_path",
    "method_function",
    "mix_folder",
    "remaster_recipe",
    "render_recipe",
]

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
    amounts: dict[str, float] | None = None,
    start_s: float = 0.0,
    seconds: float | None = None,
    progress: Progress | None = None,
) -> RenderResult:
    """Render a recipe's source files to a stereo mix file.

    Args:
        recipe: a recipe file (its ``tracks[i].source`` paths are relative to it) or a loaded :class:`Recipe`.
        output: the mix file to write (atomically); never one of the inputs. Its folder is created if missing.
        format: ``wav24`` (default), ``wav16`` (TPDF dither), ``float32`` or ``flac``.
        block_seconds: streaming block length: sources are read from disk block by block, so memory stays
            bounded for any song length; many tracks get shorter blocks, so it stays bounded for any number of
            tracks too (:func:`mixdown.console.render.block_frames`).
        amounts: ``{"eq" | "dynamics" | "space" | "width": amount}`` applied before rendering
            (:func:`mixdown.console.amount.apply_amounts`; 1 = as the recipe says).
        start_s, seconds: render only this excerpt of the song (a preview after an edit); None: to the end.
        progress: optional callback ``(frames_done, frames_total, stage)``.
    Returns:
        :class:`RenderResult` with the written path and its measured loudness and peak.
    Raises:
        RecipeError: the recipe breaks its format, or a source is not an audio file (naming the field);
        AudioInputError, OutputError, ParameterError as their messages say.
    """
    data = None if hasattr(recipe, "tracks") else read_json(recipe, "recipe", RecipeError)  # before the console loads
    import pyloudnorm
    import torch

    from mixdown.audio import AudioWriter, BlockReader
    from mixdown.console import Console, Recipe
    from mixdown.console.amount import apply_amounts
    from mixdown.console.render import block_frames
    from mixdown.console.session_render import allow_open_files

    recipe = recipe if isinstance(recipe, Recipe) else Recipe.from_file_data(data, recipe)
    if amounts:
        recipe = apply_amounts(recipe, amounts)
    sources, infos = _sources(recipe)
    rate = recipe.sample_rate or _common_rate(infos)
    if start_s < 0 or (seconds is not None and seconds <= 0):
        raise ParameterError(f"render_recipe: expected start_s >= 0 and seconds > 0, found {start_s} and {seconds}")
    excerpt = {"start": round(start_s * rate), "frames": None if seconds is None else round(seconds * rate)}
    output = Path(output)
    _output_folder(output.parent)
    done = 0
    block = block_frames(block_seconds, rate, [info.channels for info in infos])
    allow_open_files(len(sources))
    with BlockReader(sources, rate, block, **excerpt) as reader:
        console = Console(recipe, reader.sample_rate, reader.channel_counts)
        with AudioWriter(output, reader.sample_rate, 2, format, protect=sources) as writer, torch.no_grad():
            for mix in console.render_blocks(reader):
                writer.write(mix)
                done += mix.shape[-1]
                if progress:
                    progress(done, reader.frames, "rendering")
    audio, rate = read_audio(writer.report.path)
    loudness = pyloudnorm.Meter(rate).integrated_loudness(audio.T)
    peak = float(np.abs(audio).max(initial=0.0))
    return RenderResult(
        writer.report.path, rate, writer.report.frames, float(loudness),
        20 * np.log10(max(peak, 1e-12)), writer.report.clipped_samples, len(recipe.tracks),
    )


def remaster_recipe(
    recipe: str | Path | Recipe,
    target: str | float | None = None,
    reference: str | Path | None = None,
    reference_amounts: dict[str, float] | None = None,
    genre: str | None = None,
    progress: Progress | None = None,
    amounts: dict[str, float] | None = None,
) -> Recipe:
    """The recipe with its master chain decided anew for its (edited) mix, as :func:`mix_folder` decides it.

    An edit changes the premaster's loudness and tone while the master chain's gain and limiter stay as they were
    (the way a DAW keeps its master plug-ins), so the edited mix misses the loudness target. This renders the
    whole premaster (the master is solved on the whole song, even for a preview) and masters it again.

    Args:
        recipe: a recipe file (its sources relative to it) or a loaded :class:`Recipe`; not changed.
        target: a loudness target name or LUFS (:func:`mixdown.mastering.loudness_target`); None: the one the
            recipe was mixed for (``notes.target``), else the default intent's.
        reference, reference_amounts: master toward a reference mix, as :func:`mix_folder` does.
        genre: decides the bus compression (none for classical, jazz, ambient); None: ``notes.genre``.
        progress: optional callback ``(frames_done, frames_total, stage)``.
        amounts: ``{"eq" | "dynamics" | "space" | "width": amount}`` applied to the mix first
            (:func:`mixdown.console.amount.apply_amounts`), so the master is decided for the mix they make.
    Returns:
        A new :class:`Recipe`: the same mix (with the amounts applied, ``notes.amounts`` recording them), the new
        master chain (each step with its reason).
    """
    data = None if hasattr(recipe, "tracks") else read_json(recipe, "recipe", RecipeError)  # before the console loads
    import torch

    from mixdown.console import Recipe
    from mixdown.console.amount import apply_amounts
    from mixdown.console.session_render import render_session
    from mixdown.mastering import check_amounts, load_reference, loudness_target
    from mixdown.mastering.master import master_to_target
    from mixdown.methods.intent import Intent

    recipe = recipe if isinstance(recipe, Recipe) else Recipe.from_file_data(data, recipe)
    if amounts:
        recipe = apply_amounts(recipe, amounts)
    edited = Recipe.from_dict({**recipe.to_dict(), "master": {"chain": []}})
    edited.path = recipe.path
    sources, infos = _sources(edited)
    rate = recipe.sample_rate or _common_rate(infos)
    chosen = loudness_target(target if target is not None else recipe.notes.get("target", Intent().target))
    matched = load_reference(reference, rate) if reference is not None else None
    genre = genre if genre is not None else recipe.notes.get("genre")
    genre = Intent.from_dict({"genre": genre}).genre if genre is not None else None  # an unknown genre says so
    rendered = render_session(edited, sources, rate, measure=False, protect=sources,
                              progress=(lambda done, total: progress(done, total, "rendering the premaster"))
                              if progress else None)
    if progress:
        progress(0, 1, "mastering")
    master = master_to_target(torch.from_numpy(rendered.premaster), rate, chosen, reference=matched,
                              amounts=check_amounts(reference_amounts), genre=genre)
    edited.master = master.steps
    edited.notes["target"] = chosen.name
    return edited


def _sources(recipe: Recipe) -> tuple[list[Path], list[AudioInfo]]:
    """Every track's source file and its checked header, in track order.

    A source is relative to the recipe's folder (the current folder for a recipe built in code) or absolute; it
    may lie outside the recipe's folder (``Recipe.save`` writes ``../stems/x.wav`` for an edited copy), but it
    must be an audio file. (The studio confines sources to a project itself.)

    Raises:
        RecipeError: a track without a source, or a source that is missing, a folder, a device or a broken link;
        AudioInputError: a file that is not audio mixdown can read. Each names the recipe file, the field and
            the fix.
    """
    import errno
    import stat

    from mixdown.audio import audio_info
    from mixdown.errors import AudioInputError

    base = recipe.path.parent if recipe.path is not None else Path.cwd()
    prefix = f"{recipe.path}: " if recipe.path is not None else ""
    paths, infos = [], []
    for i, t in enumerate(recipe.tracks):
        if t.source is None:
            raise RecipeError(f"{prefix}tracks[{i}].source: expected the audio file of track {t.name!r}, found none; "
                              f"fix: add \"source\": \"path/to/{t.name}.wav\"")
        shown = repr(t.source) if len(t.source) <= 80 else repr(t.source[:60] + "...")
        where = f"{prefix}tracks[{i}].source {shown}"
        fix = f"fix: correct the path (relative to {base}, or absolute)"
        path = Path(os.path.realpath(base / t.source))  # realpath: a link loop is reported below, not raised
        try:
            mode = os.stat(path).st_mode
        except OSError as e:
            if e.errno == errno.ELOOP or (e.errno == errno.ENOENT and os.path.islink(path)):
                raise RecipeError(f"{where}: expected an audio file, found a link that leads nowhere ({path}); "
                                  f"{fix}") from None
            found = f"nothing at {path}" if e.errno == errno.ENOENT else f"a path the system refuses ({e.strerror})"
            raise RecipeError(f"{where}: expected an audio file, found {found}; {fix}") from None
        if stat.S_ISDIR(mode):
            raise RecipeError(f"{where}: expected an audio file, found a folder ({path}); fix: name one audio file "
                              "in it")
        if not stat.S_ISREG(mode):
            raise RecipeError(f"{where}: expected an audio file, found a device or other special file ({path}); "
                              f"{fix}")
        try:
            infos.append(audio_info(path))
        except AudioInputError as e:
            raise type(e)(f"{where}: {e}") from None
        paths.append(path)
    return paths, infos


def _common_rate(infos: list[AudioInfo]) -> int:
    """The rate most sources have (ties: the highest), the one :class:`mixdown.audio.BlockReader` would take."""
    rates = [info.sample_rate for info in infos]
    return max(set(rates), key=lambda r: (rates.count(r), r))


def analyze_path(
    path: str | Path,
    roles: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> tuple[SessionAnalysis, list[LoadWarning]]:
    """Measure a file (a mix) or a folder of stems: loudness, spectra, stereo, dynamics, masking and roles.

    Args:
        path: one audio file, or a folder whose audio files are the tracks of one song (read-only).
        roles: ``{track name: role}`` overrides of the detected roles.
        progress: optional callback ``(done, total, stage)``: tracks measured so far (a few are read at a time).
    Returns:
        the :class:`SessionAnalysis` and the warnings loading raised (silent, clipped, DC offset ...).
    Raises:
        AudioInputError: no audio at ``path`` or a file that cannot be read (the message names it and the fix).
    """
    return_large_blocks()
    plan = plan_session(path)
    from mixdown.analysis import analyze_files

    analysis, warnings = analyze_files(plan, roles, progress=progress)
    return analysis, [*plan.warnings, *warnings]


def compare_files(mix: str | Path, reference: str | Path, align: bool = True,
                  stems: str | Path | None = None) -> tuple[Comparison, np.ndarray, np.ndarray, int]:
    """Compare a mix file with a reference mix file of the same music (see :func:`mixdown.evaluate.compare`).

    Args:
        mix, reference: audio files (read-only); the reference is resampled to the mix's rate (soxr VHQ).
        align: remove the lag between the two before comparing.
        stems: optional folder (or file) of the dry stems both mixes were made from: adds each track's level
            and pan in both mixes (read at the mix's rate; files are matched by nothing but their audio).
    Returns:
        ``(comparison, mix_audio, reference_audio, sample_rate)``: the audio as compared (channels-first float32,
        before alignment), for figures.
    Raises:
        AudioInputError: a file that cannot be read, shorter than 1 s, or silent (naming the file); a stems
            folder that ``mix`` would refuse.
    """
    from mixdown.audio import audio_info, load_tracks

    # the stems' headers at the mix's rate: a bad stems folder is reported before anything is decoded
    plan = plan_session(stems, sample_rate=audio_info(mix).sample_rate) if stems is not None else None
    mix_audio, rate = read_audio(mix)
    reference_audio, reference_rate = read_audio(reference)
    reference_audio = resample(reference_audio, reference_rate, rate)
    from mixdown.evaluate import compare

    tracks = load_tracks(plan).tracks if plan is not None else None
    result = compare(mix_audio, reference_audio, rate, align=align, names=(str(mix), str(reference)),
                     stems=None if tracks is None else [t.audio for t in tracks],
                     stem_names=None if tracks is None else [t.name for t in tracks])
    return result, mix_audio, reference_audio, rate


@dataclass
class MixResult:
    """What ``mix_folder`` wrote and measured.

    Attributes:
        mix_path, recipe_path: the files written; report_path the HTML report (None when not asked for).
        stems: the processed stem files (empty unless asked for).
        sample_rate, seconds: of the mix (``seconds`` is the excerpt's length for a preview).
        start_s: where the rendered excerpt starts in the song (0 unless a preview).
        tracks: number of input tracks.
        integrated_lufs, true_peak_db, loudness_range_lu: of the mastered mix; clipped_samples when written.
        warnings: what loading found.
        speaking_s: seconds each microphone was the one talking (the speech method), else empty.
    """

    mix_path: Path
    recipe_path: Path
    report_path: Path | None
    stems: list[Path]
    sample_rate: int
    seconds: float
    start_s: float
    tracks: int
    integrated_lufs: float
    true_peak_db: float
    loudness_range_lu: float
    clipped_samples: int
    warnings: list[LoadWarning]
    speaking_s: dict[str, float]


PREVIEW_SECONDS = 30.0


def mix_folder(
    stems: str | Path,
    out_dir: str | Path,
    intent: Intent | str | Path | None = None,
    target: str | float | None = None,
    genre: str | None = None,
    format: str = "wav24",
    seed: int = 0,
    method: str = "rules",
    reference: str | Path | None = None,
    reference_amounts: dict[str, float] | None = None,
    preview: bool = False,
    write_stems: bool = False,
    report: bool = True,
    progress: Progress | None = None,
) -> MixResult:
    """Mix a folder of stems: ``out_dir/mix.wav`` (mastered), ``recipe.json`` and ``report.html``.

    The session is streamed from disk: tracks are analysed a few at a time and rendered block by block, so
    memory stays bounded for any number and length of tracks (only the stereo premaster is held whole).

    Args:
        stems: a folder of audio files (read-only), one track each.
        out_dir: created if needed; every file is written atomically.
        intent: an :class:`Intent`, or a YAML/JSON intent file; None for defaults.
        target: loudness target preset or LUFS; overrides the intent's.
        genre: overrides the intent's genre.
        format: ``wav24`` (default), ``wav16`` (TPDF dither), ``float32`` or ``flac``.
        seed: the reverb's noise seed (same seed, same bits).
        method: ``rules`` (music: the default), ``dmc`` (the learned mixer: the shipped network sets every
            knob, in the reference's style when there is one), ``optimize`` (the DMC's knobs then moved by
            gradient descent toward the reference; needs one) or ``dugan`` (speech: many microphones, gain
            sharing, with a who-spoke-when report); see :data:`METHODS`.
        reference: a reference mix (audio file; overrides the intent's): the master's tonal balance, width and
            loudness move toward it (and ``dmc`` mixes in its style).
        reference_amounts: ``{"tone", "width", "loudness": 0..1}`` how far (see
            :func:`mixdown.mastering.check_amounts`; missing keys take the defaults).
        preview: render only the loudest 30 s (decisions are those of the whole song; the master is solved on
            the excerpt).
        write_stems: also write the processed stems to ``out_dir/stems/`` (32-bit float WAV).
        report: write ``report.html``.
        progress: optional callback ``(done, total, stage)``.
    Returns:
        :class:`MixResult`.
    Raises:
        AudioInputError / ParameterError / OutputError with the file and the fix.
    """
    return_large_blocks()
    # Everything cheap is checked before any audio is decoded and before anything is written: the options, the
    # output folder (created only when the mix is about to be written), the stems' headers, intent, reference.
    if method not in METHODS:
        raise ParameterError(f"method: expected one of {', '.join(METHODS)}, found {method!r}; fix: use rules for "
                             "music, dmc for the learned mixer (optimize with a reference) or dugan for speech")
    from mixdown.audio import WRITE_FORMATS

    if format not in WRITE_FORMATS:
        raise ParameterError(f"format: expected one of {', '.join(WRITE_FORMATS)}, found {format!r}; fix: choose "
                             "one of them (to share an MP3, convert the mix afterwards, e.g. `ffmpeg -i mix.wav "
                             "-b:a 320k mix.mp3`)")
    out_dir = _output_folder(Path(out_dir), stems=Path(stems), create=False)
    if write_stems:  # -o the stems folder's parent would put the processed stems among the inputs
        _output_folder(out_dir / "stems", stems=Path(stems), create=False)
    plan = plan_session(stems)  # the inputs' headers: a wrong folder or a bad file is reported before anything loads
    import torch

    from mixdown.analysis import analyze_files
    from mixdown.analysis.report import check_duration
    from mixdown.console.session_render import render_session
    from mixdown.export.report_html import measure_mix, write_report
    from mixdown.mastering import check_amounts, load_reference, loudness_target
    from mixdown.mastering.master import master_to_target
    from mixdown.methods.dugan import SpeechActivity
    from mixdown.methods.intent import Intent, load_intent

    intent = intent if isinstance(intent, Intent) else (load_intent(intent) if intent is not None else Intent())
    if plan.warnings and intent.tracks:  # a file named like a whole mix that the intent names is meant as a track
        plan = plan_session(stems, keep=intent.tracks)
    check_duration(plan.samples, plan.sample_rate, plan.names)
    if target is not None:
        intent.target = loudness_target(target)
    if genre is not None:
        intent.genre = Intent.from_dict({"genre": genre}).genre
    stage = (lambda name: (lambda done, total, what="": progress(done, total, f"{name}{what and ': '}{what}"))) \
        if progress else (lambda name: None)
    amounts = check_amounts(reference_amounts)
    intent.check_tracks(plan.names)
    reference = reference if reference is not None else intent.reference
    intent.reference = Path(reference) if reference is not None else None  # the learned methods listen to it
    matched = load_reference(reference, plan.sample_rate) if reference is not None else None  # fail early
    roles = {name: t.role for name, t in intent.tracks.items() if t.role is not None}
    analysis, warnings = analyze_files(plan, roles, progress=stage("analysing"), true_peak=False)
    warnings = [*plan.warnings, *warnings]
    decide = method_function(method)
    slow = {"progress": stage(method)} if "progress" in inspect.signature(decide).parameters else {}
    recipe = decide(plan, analysis, intent, out_dir, seed, **slow)
    start, frames = _loudest_window(analysis, recipe, plan.sample_rate, PREVIEW_SECONDS) if preview else (0, None)
    out_dir = _output_folder(out_dir, stems=Path(stems))
    stems_dir = _output_folder(out_dir / "stems", stems=Path(stems)) if write_stems else None
    speech = SpeechActivity.for_recipe(recipe, plan.sample_rate) if recipe.gain_sharing is not None else None
    rendered = render_session(recipe, plan.paths, plan.sample_rate, start, frames, measure=report,
                              stems_dir=stems_dir, protect=plan.paths, taps=[speech.add] if speech else [],
                              progress=stage("rendering"))
    if progress:
        progress(0, 1, "mastering")
    master = master_to_target(torch.from_numpy(rendered.premaster), plan.sample_rate, intent.target,
                              reference=matched, amounts=amounts, genre=intent.genre)
    recipe.master = master.steps
    if speech is not None:
        offset = start / plan.sample_rate
        recipe.notes["speakers"] = [{**s, "start_s": round(s["start_s"] + offset, 3),
                                     "end_s": round(s["end_s"] + offset, 3)} for s in speech.segments()]
        recipe.notes["speaking_s"] = speech.summary()
    if preview:
        recipe.notes["preview"] = {"start_s": round(start / plan.sample_rate, 3),
                                   "seconds": round(master.audio.shape[-1] / plan.sample_rate, 3)}
    if progress:
        progress(1, 1, "writing")
    from mixdown.audio import write_audio

    suffix = ".flac" if format == "flac" else ".wav"
    written = write_audio(out_dir / f"{'preview' if preview else 'mix'}{suffix}", master.audio, plan.sample_rate,
                          format, protect=plan.paths)
    recipe_path = recipe.save(out_dir / "recipe.json")
    report_path = None
    if report:
        report_path = write_report(out_dir / "report.html", recipe, analysis, _after(analysis, rendered.after, master.audio.shape[-1] / plan.sample_rate),
                                   measure_mix(master.audio, plan.sample_rate, master, intent.target,
                                               written.clipped_samples), warnings, title=Path(stems).name)
    return MixResult(written.path, recipe_path, report_path, rendered.stems, plan.sample_rate,
                     master.audio.shape[-1] / plan.sample_rate, start / plan.sample_rate, len(plan.paths),
                     master.integrated_lufs, master.true_peak_db, master.loudness_range_lu, written.clipped_samples,
                     warnings, recipe.notes.get("speaking_s", {}))


METHODS = {"rules": "mixdown.methods.rules:rules_recipe", "dugan": "mixdown.methods.dugan:dugan_recipe",
           "dmc": "mixdown.methods.dmc.method:dmc_recipe", "optimize": "mixdown.methods.dmc.optimize:optimize_recipe"}
"""The automatic mixers ``mix_folder`` can run: name -> ``module:function``, imported when used. Each function is
``(plan, analysis, intent, recipe_dir, seed) -> Recipe``; one that takes a ``progress`` keyword gets a
``(done, total)`` callback."""


def method_function(name: str) -> Callable:
    """The mixing function of :data:`METHODS` called ``name`` (imported now)."""
    module, function = METHODS[name].split(":")
    return getattr(importlib.import_module(module), function)


def _after(before: SessionAnalysis, measured: StreamMeasures, duration_s: float) -> SessionAnalysis:
    """The processed stems' measurements as a :class:`SessionAnalysis` (loudness, spectrum, masking; the stereo,
    descriptor and dynamics figures are not measured after processing and stay empty)."""
    from mixdown.analysis import SessionAnalysis, TrackAnalysis
    from mixdown.analysis.masking import masking_from_excitation

    tracks = [TrackAnalysis(t.name, 2, t.role, measured.loudness[i], measured.spectrum_db[i], {}, {}, {})
              for i, t in enumerate(before.tracks)]
    masking = masking_from_excitation(measured.excitation, measured.masking_centres_hz, measured.masking_hop_s) \
        if len(tracks) > 1 else None
    return SessionAnalysis(before.sample_rate, duration_s, tracks,
                           measured.spectrum_hz, masking)


def _output_folder(folder: Path, stems: Path | None = None, create: bool = True) -> Path:
    """``folder``, checked and created: writable, apart from the ``stems`` folder (outputs never land among the
    inputs, where the next run would read them back). ``create=False`` checks only, making and removing the
    missing part of the path to prove it can be made, so an early error leaves no empty folder behind.

    Raises:
        OutputError: a file in the way, no permission, or the stems folder itself; the message names the fix.
    """
    fix = "fix: choose a writable place with -o"
    if stems is not None and stems.is_dir() and folder.is_dir() and os.path.samefile(folder, stems):
        raise OutputError(
            f"{folder}: expected an output folder apart from the stems, found the stems folder itself (the mix, "
            f"recipe and report would land among the tracks, and the next mix would read them back); fix: choose "
            f"another folder with -o, e.g. -o {stems.resolve().parent / (stems.resolve().name + '_mix')}")
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: cannot create the output folder: a file has this name; {fix} (or move the "
                          "file away)")
    missing, up = [], folder  # the part of the path that does not exist yet, deepest first
    while not up.exists() and up.parent != up:
        if up.is_symlink():
            raise OutputError(f"{folder}: cannot create the output folder: {up} is a broken link; {fix}")
        missing.append(up)
        up = up.parent
    if not up.is_dir():
        raise OutputError(f"{folder}: cannot create the output folder: {up} is a file, not a folder; {fix}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK | os.X_OK)
    except OSError as e:
        raise OutputError(f"{folder}: cannot create the output folder ({e.strerror}); {fix}") from None
    finally:
        if not create:
            for made in missing:  # only what this call made, deepest first
                with contextlib.suppress(OSError):
                    made.rmdir()
    if not writable:
        raise OutputError(f"{folder}: the output folder is not writable; {fix}")
    return folder


def _loudest_window(analysis: SessionAnalysis, recipe: Recipe, sample_rate: int,
                    seconds: float) -> tuple[int, int]:
    """``(start, frames)`` of the loudest ``seconds`` of the mix-to-be: the tracks' short-term energies (10 Hz)
    weighted by their faders and summed, then the window with the highest mean."""
    total = None
    for track, strip in zip(analysis.tracks, recipe.tracks):
        if strip.mute:
            continue
        fader = sum(s.params.get("gain_db", 0.0) for s in strip.chain if s.type == "gain")
        energy = 10.0 ** ((np.nan_to_num(track.loudness.short_term_lufs, neginf=-200.0) + fader) / 10.0)
        total = energy if total is None else total + energy
    length = round(seconds * sample_rate)
    n = round(analysis.duration_s * sample_rate)
    if total is None or total.size == 0 or length >= n:
        return 0, min(length, n)
    # short-term value k covers [k * 0.1 s, k * 0.1 s + 3 s); a window of ``seconds`` holds seconds / 0.1 - 29 of them
    per_window = max(1, round((seconds - 3.0) * 10.0) + 1)
    sums = np.convolve(total, np.ones(per_window), "valid") if total.size >= per_window else total[:1]
    start = min(int(np.argmax(sums)) * sample_rate // 10, n - length)
    return start, length
