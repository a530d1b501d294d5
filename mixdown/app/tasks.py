"""What the studio's jobs do: the same library calls as ``mixdown mix`` and ``mixdown render``.

Every job writes into its own folder, ``<data>/jobs/<job id>/``: ``stems/`` holds links named after the
tracks to the uploaded files (the track names a recipe shows are the cleaned upload names), ``out/`` what
the job made. Paths in a job's result are relative to its folder.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from mixdown.api import analyze_path, mix_folder, remaster_recipe, render_recipe
from mixdown.app.settings import StudioSettings
from mixdown.app.store import Job, Project, StoredFile
from mixdown.audio import read_audio, write_audio
from mixdown.console import Recipe
from mixdown.console.recipe import Strip, source_path
from mixdown.errors import ParameterError, RecipeError
from mixdown.methods.intent import Intent

__all__ = ["BALANCE", "PREVIEW_SECONDS", "job_folder", "pans_not_applied", "raw_sum", "remove_tree", "run_analysis", "run_mix", "run_render",
           "scrub_paths", "stems_folder", "upload_path"]

PREVIEW_SECONDS = 12.0
"""Length of the excerpt a preview render makes after an edit (the full render follows)."""

Progress = Callable[[float, str], None]


def remove_tree(path: Path) -> None:
    """Remove a folder or a (read-only) file of the studio's; nothing if it is not there."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.chmod(0o644)
        path.unlink(missing_ok=True)


def job_folder(settings: StudioSettings, job_id: str) -> Path:
    return settings.data_dir / "jobs" / job_id


def upload_path(settings: StudioSettings, stored: StoredFile) -> Path:
    return settings.data_dir / "uploads" / stored.project_id / stored.stored_name


def scrub_paths(text: str, settings: StudioSettings, project: Project | None = None) -> str:
    """``text`` (a message for the page) without server paths: an upload of ``project`` and a track's link in a
    job's ``stems/`` folder become the file's name (``<track name><suffix>``); any other path under the data
    folder, the home folder, the temporary folder or the installed package becomes its last part."""
    if project is not None:
        for f in project.files:
            text = text.replace(str(upload_path(settings, f)), f"{f.name}{f.suffix}")
    text = re.sub(re.escape(str(settings.data_dir / "jobs")) + r"/[0-9a-f]{32}/stems/", "", text)
    roots = {str(settings.data_dir), str(Path.home()), tempfile.gettempdir(), str(Path(__file__).parents[2])}
    for root in sorted((r for r in roots if len(r) > 1), key=len, reverse=True):
        text = re.sub(re.escape(root) + r"(?:/[^\s'\"]*)?", lambda m: Path(m[0]).name or "(studio data)", text)
    return text


def stems_folder(settings: StudioSettings, project: Project, folder: Path) -> Path:
    """``folder/stems``: one link per stem of ``project``, named ``<track name><suffix>``, made afresh."""
    stems = folder / "stems"
    shutil.rmtree(stems, ignore_errors=True)
    stems.mkdir(parents=True)
    for f in project.files:
        if f.kind == "stem":
            (stems / f"{f.name}{f.suffix}").symlink_to(upload_path(settings, f))
    return stems


def intent_of(project: Project, reference: Path | None) -> Intent:
    """The project's settings and its tracks' controls as an :class:`Intent` (what ``--intent`` reads)."""
    tracks = {}
    for f in project.files:
        if f.kind != "stem":
            continue
        chosen = {"role": f.role, "priority": f.priority, "pan": f.pan, "reverb": f.reverb}
        tracks[f.name] = {k: v for k, v in chosen.items() if v} | ({"keep": True} if f.keep else {})
    data = {"target": project.target, "tracks": tracks} | ({"genre": project.genre} if project.genre else {})
    intent = Intent.from_dict(data, source=f"project {project.name!r}")
    intent.reference = reference
    return intent


def _fresh(folder: Path) -> Path:
    """``folder/out`` emptied: a job started again after a stop begins from nothing."""
    out = folder / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return out


def run_analysis(settings: StudioSettings, project: Project, job: Job, progress: Progress) -> dict:
    """Detect each stem's role and measure its loudness (the track list shows them; a mix measures again)."""
    stems = [f for f in project.files if f.kind == "stem"]
    if not stems:
        raise ParameterError(f"project {project.name!r}: expected stems to analyse, found none; fix: upload them")
    links = stems_folder(settings, project, job_folder(settings, job.id))
    analysis, warnings = analyze_path(links, progress=lambda done, total, stage: progress(done / max(total, 1), stage))
    found = {t.name: t for t in analysis.tracks}
    return {"tracks": {f.id: {"role": found[f.name].role.role, "confidence": found[f.name].role.confidence,
                              "reason": found[f.name].role.reason,
                              "integrated_lufs": _finite(found[f.name].loudness.integrated_lufs)}
                       for f in stems if f.name in found},
            "warnings": [scrub_paths(str(w), settings, project) for w in warnings]}


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def run_mix(settings: StudioSettings, project: Project, job: Job, progress: Progress) -> dict:
    """Mix the project's stems with ``job.params["method"]``: the mastered mix, its recipe, report and processed
    stems, and the raw sum at the mix's loudness (the A/B switch's other side)."""
    stems = [f for f in project.files if f.kind == "stem"]
    if not stems:
        raise ParameterError(f"project {project.name!r}: expected stems to mix, found none; fix: upload the tracks")
    folder = job_folder(settings, job.id)
    out = _fresh(folder)
    links = stems_folder(settings, project, folder)
    reference = _reference(settings, project)
    method = job.params.get("method", "rules")
    if method == "optimize" and reference is None:
        raise ParameterError("method optimize: expected a reference mix, found none; fix: upload a reference or "
                             "choose rules or dmc")
    result = mix_folder(links, out, intent=intent_of(project, reference), method=method,
                        write_stems=True, progress=_staged(progress, {
                            "analysing": (0.0, 0.3), method: (0.3, 0.45), "rendering": (0.45, 0.8),
                            "mastering": (0.8, 0.88), "writing": (0.88, 0.9)}))
    progress(0.92, "raw sum at the mix's loudness")
    raw = raw_sum(links, out / "raw.wav", result.integrated_lufs)
    relative = partial(_relative, folder)
    unplaced = pans_not_applied(project, json.loads(result.recipe_path.read_text()))
    return {"method": method, "mix": relative(result.mix_path), "recipe": relative(result.recipe_path),
            "report": relative(result.report_path), "raw": relative(raw),
            "stems": [relative(p) for p in result.stems], "seconds": result.seconds,
            "sample_rate": result.sample_rate, "integrated_lufs": result.integrated_lufs,
            "true_peak_db": result.true_peak_db,
            "warnings": [scrub_paths(str(w), settings, project) for w in result.warnings]
            + [p["message"] for p in unplaced],
            "balances": [{k: p[k] for k in ("track", "pan", "balance")} for p in unplaced]}


BALANCE = 0.6
"""Where the page's *Apply as a balance* puts a stereo track whose pan preference a mix left out: the position the
rules mixer gives a mono track asked for that side."""


def pans_not_applied(project: Project, recipe: dict) -> list[dict]:
    """The stereo stems whose pan preference (left or right) the mix's recipe does not follow: the mixers keep a
    stereo track's image as recorded, so the user is told, and offered the mixer's pan (a balance on a stereo
    track) at the side asked for. ``[{"track", "pan", "balance", "message"}]``; "centre" is what a stereo track
    keeps anyway."""
    strips = {t.get("name"): t for t in recipe.get("tracks", [])}
    found = []
    for f in project.files:
        if f.kind != "stem" or f.channels != 2 or f.pan not in ("left", "right") or f.name not in strips:
            continue
        side = -1.0 if f.pan == "left" else 1.0
        pans = [s.get("params", {}).get("pan", 0.0) for s in strips[f.name].get("chain", [])
                if s.get("type") == "pan" and not s.get("bypass")]
        if any(isinstance(p, int | float) and p * side > 0.05 for p in pans):
            continue  # the mixer placed it (a balance) on the side asked for
        found.append({"track": f.name, "pan": f.pan, "balance": side * BALANCE, "message": (
            f"{f.name}: pan {f.pan} was not applied: the stem is stereo and the mix keeps a stereo track's image as "
            f"recorded; fix: Apply as a balance (the mixer's pan at {'L' if side < 0 else 'R'}{BALANCE * 100:.0f}, "
            "turning the other side down), or upload the track in mono")})
    return found


def _staged(progress: Progress, stages: dict[str, tuple[float, float]]) -> Callable[[int, int, str], None]:
    """A library call's ``(done, total, stage)`` reports as one job's progress: each stage (by the start of its
    name) fills its own span of [0, 1], in order, so a later stage counting from zero does not move the bar back;
    an unnamed stage keeps the bar where it is."""
    at = [0.0]

    def report(done: int, total: int, stage: str) -> None:
        for name, (begin, end) in stages.items():
            if stage.startswith(name):
                at[0] = max(at[0], begin + (end - begin) * min(max(done / max(total, 1), 0.0), 1.0))
                break
        progress(at[0], stage)

    return report


def _reference(settings: StudioSettings, project: Project) -> Path | None:
    """The project's reference mix, if it has one."""
    return next((upload_path(settings, f) for f in project.files if f.kind == "reference"), None)


def _relative(folder: Path, path: str | Path) -> str:
    """A path in a job's result: relative to the job's folder (the data folder can move)."""
    return str(Path(path).relative_to(folder))


def raw_sum(stems: Path, output: Path, loudness_lufs: float) -> Path:
    """The stems summed at unity, centred, at ``loudness_lufs`` (integrated): what the mix is compared with."""
    import pyloudnorm

    plain = Recipe(tracks=[Strip(p.stem, source=p.name) for p in sorted(stems.iterdir())])
    plain.path = stems / "raw.json"  # sources are relative to it; nothing is written there
    rendered = render_recipe(plain, output.with_name(".raw_unity.wav"), format="float32")
    audio, rate = read_audio(rendered.path)
    rendered.path.unlink()
    measured = pyloudnorm.Meter(rate).integrated_loudness(audio.T)
    gain = 10 ** ((loudness_lufs - measured) / 20) if np.isfinite(measured) and np.isfinite(loudness_lufs) else 1.0
    return write_audio(output, audio * gain, rate, "wav24").path


def run_render(settings: StudioSettings, project: Project, job: Job, progress: Progress) -> dict:
    """Render an edited recipe of an earlier mix of the project: the excerpt around ``params["start_s"]`` for a
    preview, else the whole song; with ``params["remaster"]`` the master chain is first decided anew for the
    project's target (on the whole song, preview or not)."""
    params = job.params
    source = job_folder(settings, params["mix_job"])
    if not (source / "stems").is_dir():
        raise ParameterError(f"mix {params['mix_job']}: expected a finished mix to edit, found none; fix: mix again")
    try:
        recipe = Recipe.from_dict(params["recipe"])
    except RecipeError as e:
        raise RecipeError(f"edited recipe: {e}") from None
    folder = job_folder(settings, job.id)
    out = _fresh(folder)
    links = stems_folder(settings, project, folder)
    for strip in recipe.tracks:  # the recipe names its tracks; their files are this project's stems
        match = next((p for p in links.iterdir() if p.stem == strip.name), None)
        if match is None:
            raise RecipeError(f"edited recipe: track {strip.name!r} is not a stem of this project; fix: keep the "
                              "track names of the mix")
        strip.source = source_path(match, out)
    recipe_path = recipe.save(out / "recipe.json")
    remaster = bool(params.get("remaster"))
    if remaster:
        recipe = remaster_recipe(recipe_path, target=project.target, reference=_reference(settings, project),
                                 genre=project.genre, progress=_staged(progress, {
                                     "rendering the premaster": (0.0, 0.5), "mastering": (0.5, 0.6)}))
        recipe_path = recipe.save(recipe_path)
    preview = bool(params.get("preview"))
    start = float(params.get("start_s", 0.0)) if preview else 0.0
    rendered = render_recipe(recipe_path, out / ("preview.wav" if preview else "mix.wav"),
                             start_s=start, seconds=PREVIEW_SECONDS if preview else None,
                             progress=_staged(progress, {"rendering": (0.6 if remaster else 0.0, 1.0)}))
    relative = partial(_relative, folder)
    return {"mix_job": params["mix_job"], "preview": preview, "remaster": remaster, "start_s": start,
            "mix": relative(rendered.path),
            "recipe": relative(recipe_path), "seconds": rendered.seconds, "integrated_lufs": rendered.loudness_lufs,
            "sample_peak_db": rendered.sample_peak_db}
