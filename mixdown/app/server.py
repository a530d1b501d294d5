"""The studio's web server: the page, the JSON API over the library, audio streaming and job progress.

``create_app(settings)`` builds the FastAPI app (its lifespan opens the database and runs the worker) behind
the :class:`~mixdown.app.security.Guard` (Host allow-list, cross-site refusal, the token, security headers);
``mixdown serve`` runs it with uvicorn on localhost. Every error reaches the page as ``{"error": message}``
with the message the CLI would print (what was expected, what was found, the fix), without server paths.
"""

from __future__ import annotations

import asyncio
import json
import threading
import zipfile
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from sqlalchemy import select

from mixdown.analysis.roles import ROLE_NAMES
from mixdown.app import tasks
from mixdown.app.errors import NotFound, StudioError
from mixdown.app.jobs import Worker
from mixdown.app.listening import listening_routes
from mixdown.app.security import REPORT_CSP, Guard, inline_script_csp, login_routes
from mixdown.app.settings import StudioSettings
from mixdown.app.store import Job, Project, StoredFile, Version, add_version, dispose, new_id, open_database
from mixdown.app.uploads import (
    UploadError,
    clean_track_name,
    receive_upload,
    unique_name,
)
from mixdown.app.versions import describe_edit, edit_label, mix_label
from mixdown.audio.session import natural_key
from mixdown.console import Recipe
from mixdown.errors import MixdownError
from mixdown.mastering.targets import TARGETS
from mixdown.methods.intent import GENRES, PANS, PRIORITIES, REVERBS

__all__ = ["METHODS", "STOP_GRACE_S", "create_app", "serve"]

METHODS = ("rules", "dmc", "optimize", "dugan")
"""The automatic mixers the studio offers: those of :data:`mixdown.api.METHODS` (dugan is for speech)."""
_STATIC = resources.files("mixdown") / "app" / "static"
_JOB_FILES = {"mix", "raw", "report", "recipe"}


class ProjectIn(BaseModel):
    name: str = Field("Untitled", min_length=1, max_length=200)
    genre: str | None = None
    target: str = "spotify"


class ProjectChange(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    genre: str | None = None
    target: str | None = None


class TrackChange(BaseModel):
    """A track's controls; an empty string clears one (the mixer decides)."""

    role: str | None = None
    priority: str | None = None
    pan: str | None = None
    reverb: str | None = None
    keep: bool | None = None


class MixIn(BaseModel):
    method: str = "rules"


class RenderIn(BaseModel):
    recipe: dict[str, Any]
    preview: bool = False
    start_s: float = Field(0.0, ge=0.0)
    remaster: bool = False  # decide the master chain anew, for the project's loudness target


def create_app(settings: StudioSettings) -> FastAPI:
    """The studio as an ASGI app over ``settings`` (its data folder and database)."""
    factory = open_database(settings.database_url)

    def load_project(db, project_id: str) -> Project:
        project = db.get(Project, project_id)
        if project is None:
            raise NotFound(f"project {project_id}: not found; fix: open the studio's front page and pick a project")
        return project

    def project_with_files(project_id: str) -> Project:
        """The project, its files loaded while the session is open (for the worker and uploads)."""
        with factory() as db:
            project = load_project(db, project_id)
            _ = project.files
            return project

    def project_of(job: Job) -> Project:
        return project_with_files(job.project_id)

    def analyse(job: Job, progress) -> dict:
        result = tasks.run_analysis(settings, project_of(job), job, progress)
        with factory.begin() as db:  # the track list shows what was detected
            for file_id, found in result["tracks"].items():
                stored = db.get(StoredFile, file_id)
                if stored is not None:
                    stored.detected_role, stored.role_confidence = found["role"], found["confidence"]
                    stored.loudness_lufs = found["integrated_lufs"]
        return result

    def scrub(job: Job, message: str) -> str:
        try:
            project = project_of(job)
        except NotFound:  # deleted meanwhile
            project = None
        return tasks.scrub_paths(message, settings, project)

    def finish(db, job: Job) -> None:
        """A finished mix, or whole-song render of an edit, is the project's new version (in the same transaction
        that marks the job done: no page ever sees one without the other)."""
        result = job.result or {}
        versions = db.scalars(select(Version).where(Version.project_id == job.project_id)).all()
        if job.kind == "mix":
            first = not any(v.job_id == v.mix_job_id for v in versions)
            add_version(db, job.project_id, job.id, job.id, mix_label(result.get("method", "rules"), first))
        elif job.kind == "render" and not result.get("preview"):
            label = edit_label(job.params.get("change", ""), bool(result.get("remaster")),
                               job.params.get("base_version"), max((v.number for v in versions), default=0))
            add_version(db, job.project_id, job.id, result["mix_job"], label)

    worker = Worker(factory, {
        "analyse": analyse,
        "mix": lambda job, progress: tasks.run_mix(settings, project_of(job), job, progress),
        "render": lambda job, progress: tasks.run_render(settings, project_of(job), job, progress)}, scrub, finish)
    stopping = threading.Event()  # set when the server is told to stop: event streams end, so the stop is quick

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        stopping.clear()
        worker.start()
        yield
        stopping.set()
        worker.stop()  # its running job goes back to the queue: the next start runs it
        dispose(factory)

    app = FastAPI(title="mixdown studio", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.settings, app.state.factory, app.state.worker, app.state.stopping = settings, factory, worker, stopping
    app.add_middleware(Guard, settings=settings)

    @app.exception_handler(MixdownError)
    async def mixdown_error(_request: Request, e: MixdownError):
        status = e.status if isinstance(e, StudioError) else 400
        return JSONResponse({"error": tasks.scrub_paths(str(e), settings)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, e: RequestValidationError):
        first = e.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid')}; fix: send what the API expects "
                                      "(see /api/docs)"}, status_code=422)

    # --- pages -------------------------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    def studio_page():
        return HTMLResponse((_STATIC / "studio.html").read_text(encoding="utf-8"))

    @app.get("/api/docs", include_in_schema=False)
    def api_docs():
        """FastAPI's Swagger page: its script and style come from jsDelivr, its inline script by hash."""
        page = get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title}: API")
        page.headers["Content-Security-Policy"] = inline_script_csp(page.body, "https://cdn.jsdelivr.net")
        return page

    app.mount("/static", StaticFiles(directory=str(_STATIC)), name="static")
    app.include_router(login_routes(settings))
    app.include_router(listening_routes(settings, factory))

    @app.get("/api/health")
    def health():
        return {"ok": True}

    @app.get("/api/options")
    def options():
        """What the page's menus offer."""
        return {"methods": METHODS, "roles": ROLE_NAMES, "priorities": PRIORITIES, "pans": PANS,
                "reverbs": REVERBS, "genres": GENRES, "targets": list(TARGETS), "preview_seconds":
                tasks.PREVIEW_SECONDS, "max_upload_mb": settings.max_upload_mb}

    # --- projects ----------------------------------------------------------------------------------------------
    @app.post("/api/projects", status_code=201)
    def create_project(body: ProjectIn):
        _check_settings(body.genre, body.target)
        with factory.begin() as db:
            project = Project(name=body.name.strip(), genre=body.genre or None, target=body.target)
            db.add(project)
            db.flush()
            return _project_json(project)

    @app.get("/api/projects")
    def list_projects():
        with factory() as db:
            return [{"id": p.id, "name": p.name, "created": p.created}
                    for p in db.scalars(select(Project).order_by(Project.created.desc()))]

    @app.get("/api/projects/{project_id}")
    def get_project(project_id: str):
        with factory() as db:
            return _project_json(load_project(db, project_id))

    @app.patch("/api/projects/{project_id}")
    def change_project(project_id: str, body: ProjectChange):
        _check_settings(body.genre, body.target)
        with factory.begin() as db:
            project = load_project(db, project_id)
            for key in ("name", "genre", "target"):
                value = getattr(body, key)
                if value is not None:
                    setattr(project, key, value.strip() or None if key == "genre" else value.strip())
            return _project_json(project)

    @app.delete("/api/projects/{project_id}", status_code=204)
    def delete_project(project_id: str):
        with factory.begin() as db:
            project = load_project(db, project_id)
            if any(j.status in ("queued", "running") for j in project.jobs):
                raise MixdownError(f"project {project.name!r}: a job is still running; fix: wait for it to finish")
            folder = settings.data_dir / "uploads" / project.id
            jobs = [tasks.job_folder(settings, j.id) for j in project.jobs]
            db.delete(project)
        for path in [folder, *jobs]:
            tasks.remove_tree(path)
        return Response(status_code=204)

    # --- files -------------------------------------------------------------------------------------------------
    @app.post("/api/projects/{project_id}/files", status_code=201)
    async def upload(project_id: str, request: Request, kind: str = "stem"):
        """The request body is the file; its name comes in the ``X-Filename`` header (URI-encoded)."""
        if kind not in ("stem", "reference"):
            raise UploadError(f"kind: expected stem or reference, found {kind!r}; fix: ?kind=stem or ?kind=reference")
        filename = unquote(request.headers.get("x-filename", ""))
        name, suffix = clean_track_name(filename)
        declared = int(request.headers.get("content-length") or 0)
        if declared > settings.max_upload_bytes:
            raise UploadError(f"{filename}: expected at most {settings.max_upload_mb:.0f} MB, found "
                              f"{declared / 2**20:.0f} MB; fix: upload FLAC instead of WAV, or start the studio "
                              "with a higher --max-upload-mb", 413)
        project = await asyncio.to_thread(project_with_files, project_id)
        stems = [f for f in project.files if f.kind == "stem"]
        if kind == "stem" and len(stems) >= settings.max_files:
            raise UploadError(f"{filename}: expected at most {settings.max_files} stems in a project, found that "
                              "many already; fix: bounce some tracks together first", 413)
        stored = StoredFile(id=new_id(), project_id=project_id, kind=kind, suffix=suffix,
                            name=unique_name(name, {f.name for f in stems}) if kind == "stem" else name)
        folder = settings.data_dir / "uploads" / project_id
        folder.mkdir(exist_ok=True)
        destination = folder / stored.stored_name
        size, checked = await receive_upload(request.stream(), destination, settings.max_upload_bytes,
                                             filename or name)
        stored.bytes, stored.warnings = size, list(checked.warnings) or None
        stored.sample_rate, stored.channels, stored.seconds = checked.sample_rate, checked.channels, checked.seconds
        if kind == "reference":  # the A/B switch plays it at the mix's loudness
            stored.loudness_lufs = await asyncio.to_thread(_loudness, destination)

        def commit():
            with factory.begin() as db:
                if kind == "reference":  # one reference per project: the new one replaces the old
                    for old in db.scalars(select(StoredFile).where(StoredFile.project_id == project_id,
                                                                   StoredFile.kind == "reference")):
                        tasks.remove_tree(folder / old.stored_name)
                        db.delete(old)
                db.add(stored)
                db.flush()
                return _file_json(stored)

        return await asyncio.to_thread(commit)

    def load_file(db, project_id: str, file_id: str) -> StoredFile:
        stored = db.get(StoredFile, file_id)
        if stored is None or stored.project_id != project_id:
            raise NotFound(f"file {file_id}: not found in project {project_id}; fix: reload the page")
        return stored

    @app.patch("/api/projects/{project_id}/files/{file_id}")
    def change_track(project_id: str, file_id: str, body: TrackChange):
        checks = {"role": ROLE_NAMES, "priority": PRIORITIES, "pan": PANS, "reverb": REVERBS}
        with factory.begin() as db:
            stored = load_file(db, project_id, file_id)
            for key, allowed in checks.items():
                value = getattr(body, key)
                if value is None:
                    continue
                if value and value not in allowed:
                    raise MixdownError(f"{stored.name}: {key} expected one of {', '.join(allowed)} (or empty for "
                                       f"automatic), found {value!r}; fix: pick one from the menu")
                setattr(stored, key, value or None)
            if body.keep is not None:
                stored.keep = body.keep
            return _file_json(stored)

    @app.delete("/api/projects/{project_id}/files/{file_id}", status_code=204)
    def delete_file(project_id: str, file_id: str):
        with factory.begin() as db:
            stored = load_file(db, project_id, file_id)
            path = settings.data_dir / "uploads" / project_id / stored.stored_name
            db.delete(stored)
        tasks.remove_tree(path)
        return Response(status_code=204)

    @app.get("/api/projects/{project_id}/files/{file_id}/audio")
    def file_audio(project_id: str, file_id: str):
        with factory() as db:
            stored = load_file(db, project_id, file_id)
        return FileResponse(settings.data_dir / "uploads" / project_id / stored.stored_name,
                            media_type=_media_type(stored.suffix))

    # --- jobs --------------------------------------------------------------------------------------------------
    def queue(project_id: str, kind: str, params: dict) -> dict:
        with factory.begin() as db:
            load_project(db, project_id)
            job = Job(project_id=project_id, kind=kind, params=params)
            db.add(job)
            db.flush()
            answer = _job_json(job)
        worker.notify()
        return answer

    @app.post("/api/projects/{project_id}/analyse", status_code=202)
    def analyse(project_id: str):
        return queue(project_id, "analyse", {})

    @app.post("/api/projects/{project_id}/mix", status_code=202)
    def mix(project_id: str, body: MixIn):
        if body.method not in METHODS:
            raise MixdownError(f"method: expected one of {', '.join(METHODS)}, found {body.method!r}; fix: pick one "
                               "from the menu")
        return queue(project_id, "mix", {"method": body.method})

    def load_job(db, job_id: str) -> Job:
        job = db.get(Job, job_id)
        if job is None:
            raise NotFound(f"job {job_id}: not found; fix: reload the page")
        return job

    @app.get("/api/jobs/{job_id}")
    def get_job(job_id: str):
        with factory() as db:
            return _job_json(load_job(db, job_id))

    def finished(job_id: str) -> Job:
        with factory() as db:
            job = load_job(db, job_id)
        if job.status != "done" or not job.result:
            raise MixdownError(f"job {job_id}: expected a finished job, found it {job.status}; fix: wait for it")
        return job

    @app.post("/api/jobs/{job_id}/render", status_code=202)
    def render(job_id: str, body: RenderIn):
        """Render an edited recipe of this mix (or of the mix an earlier render edited)."""
        job = finished(job_id)
        mix_job = job.result.get("mix_job", job.id) if job.kind == "render" else job.id
        if job.kind not in ("mix", "render"):
            raise MixdownError(f"job {job_id}: expected a mix to edit, found a {job.kind} job; fix: mix first")
        Recipe.from_dict(body.recipe)  # a malformed recipe fails now, on the request, not later in the worker
        base = json.loads((tasks.job_folder(settings, job.id) / job.result["recipe"]).read_text())
        with factory() as db:
            version = db.scalar(select(Version.number).where(Version.job_id == job.id))
        return queue(job.project_id, "render", {"mix_job": mix_job, "recipe": body.recipe, "preview": body.preview,
                                                "start_s": body.start_s, "remaster": body.remaster,
                                                "base_job": job.id, "base_version": version,
                                                "change": describe_edit(base, body.recipe)})

    @app.post("/api/projects/{project_id}/versions/{number}/restore")
    def restore_version(project_id: str, number: int):
        """Make an earlier version current again (what the page, the player and the downloads show); every
        version is kept."""
        with factory.begin() as db:
            project = load_project(db, project_id)
            if not any(v.number == number for v in project.versions):
                raise NotFound(f"version {number}: not found in project {project.name!r}; fix: pick one from the "
                               "list of versions")
            project.current_version = number
            db.flush()
            return _project_json(project)

    @app.get("/api/jobs/{job_id}/recipe")
    def job_recipe(job_id: str):
        job = finished(job_id)
        return json.loads((tasks.job_folder(settings, job.id) / job.result["recipe"]).read_text())

    @app.get("/api/jobs/{job_id}/files/{what}")
    def job_file(job_id: str, what: str, download: bool = False):
        """``mix`` (or a render's preview), ``raw`` (the raw sum), ``report`` or ``recipe``."""
        if what not in _JOB_FILES:
            raise NotFound(f"{what}: expected one of {', '.join(sorted(_JOB_FILES))}; fix: use one of those")
        job = finished(job_id)
        if what not in job.result:
            raise NotFound(f"job {job_id}: has no {what}; fix: the raw sum and report come with a mix")
        path = tasks.job_folder(settings, job.id) / job.result[what]
        with factory() as db:
            project = load_project(db, job.project_id)
            number = db.scalar(select(Version.number).where(Version.job_id == job.id))
        name = f"{_download_stem(project.name)}{_numbered(number)}-{what}{path.suffix}"
        if what == "recipe" and download:
            return Response(_portable_recipe(path), media_type="application/json",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
        return FileResponse(path, media_type=_media_type(path.suffix),
                            filename=name if download else None,
                            content_disposition_type="attachment" if download else "inline",
                            headers={"Content-Security-Policy": REPORT_CSP} if what == "report" else None)

    @app.get("/api/jobs/{job_id}/stems.zip")
    def job_stems(job_id: str):
        job = finished(job_id)
        stems = job.result.get("stems") or []
        if not stems:
            raise NotFound(f"job {job_id}: has no processed stems; fix: they come with a mix")
        folder = tasks.job_folder(settings, job.id)
        archive = folder / "out" / "stems.zip"
        if not archive.is_file():
            partial = archive.with_name(".stems.zip.part")
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
                for rel in stems:
                    z.write(folder / rel, arcname=f"stems/{Path(rel).name}")
            partial.replace(archive)
        with factory() as db:
            project = load_project(db, job.project_id)
            number = db.scalar(select(Version.number).where(Version.job_id == job.id))
        return FileResponse(archive, media_type="application/zip",
                            filename=f"{_download_stem(project.name)}{_numbered(number)}-stems.zip")

    @app.get("/api/projects/{project_id}/events")
    async def events(project_id: str, request: Request):
        """Server-sent events: the project's state whenever one of its jobs moves (and every 15 s); a ``deleted``
        event, and the end of the stream, when the project is deleted (in another tab, by a script). The stream
        ends when the server stops (the page's EventSource reconnects to the next start)."""
        await asyncio.to_thread(get_project, project_id)  # 404 before the stream starts

        async def stream():
            last, quiet = None, 0.0
            yield "retry: 2000\n\n"  # how soon a page reconnects after a stop
            while not stopping.is_set() and not await request.is_disconnected():
                try:
                    state = await asyncio.to_thread(get_project, project_id)
                except NotFound as e:  # the response has started: say so in the stream, not as an error
                    yield f"event: deleted\ndata: {json.dumps({'id': project_id, 'error': str(e)})}\n\n"
                    return
                text = json.dumps(state)
                if text != last or quiet >= 15.0:
                    yield f"data: {text}\n\n"
                    last, quiet = text, 0.0
                await asyncio.sleep(0.3)
                quiet += 0.3

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return app


def _loudness(path: Path) -> float | None:
    """The integrated loudness (LUFS) of an uploaded reference; None when silent."""
    import numpy as np
    import pyloudnorm

    from mixdown.audio import read_audio

    audio, rate = read_audio(path)
    value = pyloudnorm.Meter(rate).integrated_loudness(audio.T)
    return float(value) if np.isfinite(value) else None


def _check_settings(genre: str | None, target: str | None) -> None:
    if genre and genre not in GENRES:
        raise MixdownError(f"genre: expected one of {', '.join(GENRES)}, found {genre!r}; fix: pick one from the menu")
    if target is not None:
        from mixdown.mastering.targets import loudness_target

        loudness_target(target)  # a preset name or a number of LUFS; its error says which


def _project_json(project: Project) -> dict:
    return {"id": project.id, "name": project.name, "genre": project.genre, "target": project.target,
            "created": project.created,
            "stems": [_file_json(f) for f in _in_mix_order(project.files)],
            "reference": next((_file_json(f) for f in project.files if f.kind == "reference"), None),
            "jobs": [_job_json(j) for j in sorted(project.jobs, key=lambda j: j.created, reverse=True)],
            "current_version": project.current_version,
            "versions": [_version_json(v, project) for v in project.versions]}


def _version_json(version: Version, project: Project) -> dict:
    """A version as the page shows it: what it is, its loudness, its files (mix and recipe its own; raw sum,
    processed stems and report those of the mix it edits) and that mix's warnings."""
    job = version.job
    result = job.result or {}
    mixed = next((j for j in project.jobs if j.id == version.mix_job_id), None)
    mix = (mixed.result or {}) if mixed is not None else {}
    number = next((v.number for v in project.versions if v.job_id == version.mix_job_id), None)
    return {"number": version.number, "label": version.label, "created": version.created,
            "current": version.number == project.current_version, "job": job.id, "mix_job": version.mix_job_id,
            "mix_version": number, "kind": job.kind, "method": mix.get("method"), "remaster": bool(result.get("remaster")),
            "integrated_lufs": result.get("integrated_lufs"), "true_peak_db": result.get("true_peak_db"),
            "sample_peak_db": result.get("sample_peak_db"), "mix_lufs": mix.get("integrated_lufs"),
            "seconds": result.get("seconds"), "warnings": mix.get("warnings", []), "balances": mix.get("balances", []),
            "files": {"mix": f"/api/jobs/{job.id}/files/mix", "recipe": f"/api/jobs/{job.id}/files/recipe",
                      "raw": f"/api/jobs/{version.mix_job_id}/files/raw",
                      "report": f"/api/jobs/{version.mix_job_id}/files/report",
                      "stems": f"/api/jobs/{version.mix_job_id}/stems.zip"}}


def _numbered(number: int | None) -> str:
    """The version in a download's name: ``-v3`` (nothing for a job that is no version, e.g. a preview)."""
    return "" if number is None else f"-v{number}"


def _in_mix_order(files: list[StoredFile]) -> list[StoredFile]:
    """The stems in the order a mix lists them (natural name order, as a folder of stems is read)."""
    return sorted((f for f in files if f.kind == "stem"), key=lambda f: natural_key(Path(f.name + f.suffix)))


def _file_json(f: StoredFile) -> dict:
    return {"id": f.id, "kind": f.kind, "name": f.name, "bytes": f.bytes, "sample_rate": f.sample_rate,
            "channels": f.channels, "seconds": round(f.seconds, 3), "loudness_lufs": f.loudness_lufs,
            "detected_role": f.detected_role, "role_confidence": f.role_confidence,
            "role": f.role, "priority": f.priority, "pan": f.pan, "reverb": f.reverb, "keep": f.keep,
            "warnings": f.warnings or [], "audio": f"/api/projects/{f.project_id}/files/{f.id}/audio"}


def _job_json(job: Job) -> dict:
    answer = {"id": job.id, "kind": job.kind, "status": job.status, "stage": job.stage,
              "fraction": round(job.fraction, 3), "params": {k: v for k, v in job.params.items() if k != "recipe"},
              "error": job.error, "attempts": job.attempts, "created": job.created, "updated": job.updated,
              "result": job.result}
    if job.status == "done" and job.kind in ("mix", "render"):
        answer["files"] = {k: f"/api/jobs/{job.id}/files/{k}" for k in _JOB_FILES if k in (job.result or {})}
    return answer


def _portable_recipe(path: Path) -> str:
    """The recipe with each track's source as ``<track name><suffix>``: it renders beside the user's stems."""
    data = json.loads(path.read_text())
    for track in data.get("tracks", []):
        if track.get("source"):
            track["source"] = f"{track['name']}{Path(track['source']).suffix}"
    return json.dumps(data, indent=2) + "\n"


def _download_stem(name: str) -> str:
    return clean_track_name(f"{name}.wav")[0].replace(" ", "_") or "mix"


def _media_type(suffix: str) -> str:
    return {".wav": "audio/wav", ".wave": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg",
            ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg", ".aif": "audio/aiff",
            ".aiff": "audio/aiff", ".aifc": "audio/aiff", ".html": "text/html", ".json": "application/json"
            }.get(suffix.lower(), "application/octet-stream")


STOP_GRACE_S = 3
"""How long a stop waits for requests still being answered (a download, an upload) before it cuts them: event
streams end by themselves at once, the running job is queued again without waiting, so a stop takes well under 5 s."""


def serve(settings: StudioSettings, port: int = 8000) -> None:
    """Run the studio on ``settings.host`` until SIGTERM or Ctrl-C (uvicorn, one process: the worker is a thread of
    it). A stop ends the pages' event streams and the worker at once (its job is queued again for the next start),
    waits at most :data:`STOP_GRACE_S` for other requests, and exits."""
    import uvicorn

    app = create_app(settings)

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:  # the signal: end the streams now, not after the grace period
            app.state.stopping.set()
            app.state.worker.stopping()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, host=settings.host.strip("[]"), port=port, log_level="warning",
                            server_header=False, timeout_graceful_shutdown=STOP_GRACE_S)
    Server(config).run()
