"""Listening tests in the studio: the admin builds a test from finished mixes and shares its link; each
participant gets the trials and stimuli in their own random order, rates every stimulus 0-100 on each
criterion, and the answers land in the database; the results page shows means, 95 % intervals, a plot and CSV.

Admin routes need the studio's token (``Authorization: Bearer <token>``, the login cookie or ``?token=``); a
participant needs the test's join key, which is part of its link, and then only their own random participant
id (the studio's gate lets participants' pages and routes through without the token).
"""

from __future__ import annotations

import hashlib
import random
import secrets
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from mixdown.app import tasks
from mixdown.app.errors import Forbidden, NotFound
from mixdown.app.security import authenticated, presented_tokens
from mixdown.app.settings import StudioSettings
from mixdown.app.store import (
    Job,
    ListeningTest,
    Participant,
    Project,
    Rating,
    Stimulus,
    new_id,
    now,
)
from mixdown.audio import write_audio
from mixdown.errors import MixdownError
from mixdown.evaluate.listening import (
    CRITERIA,
    anchor,
    excerpt,
    loudest_start,
    ratings_csv,
    results_figure,
    summarize,
)

__all__ = ["listening_routes"]

_STATIC = resources.files("mixdown") / "app" / "static"
_RATE = 44100


class TrialIn(BaseModel):
    project_id: str
    mixes: list[str] = Field(min_length=1, max_length=12)
    raw_sum: bool = True


class TestIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    criteria: list[str] = Field(default_factory=lambda: list(CRITERIA), min_length=1, max_length=6)
    seconds: float = Field(10.0, ge=2.0, le=60.0)
    hidden_reference: bool = True
    anchor: bool = True
    trials: list[TrialIn] = Field(min_length=1, max_length=30)


class Answer(BaseModel):
    stimulus: str
    criterion: str
    value: float = Field(ge=0.0, le=100.0)


class Answers(BaseModel):
    ratings: list[Answer] = Field(max_length=500)


def listening_routes(settings: StudioSettings, factory: sessionmaker) -> APIRouter:
    """The listening-test pages and API (see the module's description)."""
    router = APIRouter()

    def admin(request: Request) -> None:
        if not authenticated(settings, request):
            given = presented_tokens(request)
            raise Forbidden("admin token: expected the studio's admin token, found "
                            f"{'a wrong one' if given else 'none'}; fix: open the admin link `mixdown serve` printed "
                            "(the token is also in the data folder's admin_token file)")

    def folder(test_id: str) -> Path:
        return settings.data_dir / "tests" / test_id

    # --- pages -------------------------------------------------------------------------------------------------
    @router.get("/admin", response_class=HTMLResponse)
    def admin_page():
        return HTMLResponse((_STATIC / "admin.html").read_text(encoding="utf-8"))

    @router.get("/listen/{test_id}", response_class=HTMLResponse)
    def listen_page(test_id: str):
        return HTMLResponse((_STATIC / "listen.html").read_text(encoding="utf-8"))

    # --- admin -------------------------------------------------------------------------------------------------
    @router.get("/api/tests", dependencies=[Depends(admin)])
    def list_tests():
        with factory() as db:
            return [_test_json(t) for t in db.scalars(select(ListeningTest).order_by(ListeningTest.created.desc()))]

    @router.post("/api/tests", status_code=201, dependencies=[Depends(admin)])
    def create_test(body: TestIn):
        test_id = new_id()
        out = folder(test_id)
        out.mkdir(parents=True)
        try:
            stimuli, references = _build_stimuli(settings, factory, body, out)
        except BaseException:
            tasks.remove_tree(out)
            raise
        with factory.begin() as db:
            test = ListeningTest(id=test_id, name=body.name.strip(), criteria=body.criteria,
                                 settings={"join_key": secrets.token_urlsafe(12), "seconds": body.seconds,
                                           "references": references})
            db.add(test)
            db.add_all(Stimulus(id=sid, test_id=test_id, trial=trial, condition=condition)
                       for sid, trial, condition in stimuli)
            db.flush()
            return _test_json(test)

    def load_test(db, test_id: str) -> ListeningTest:
        test = db.get(ListeningTest, test_id)
        if test is None:
            raise NotFound(f"listening test {test_id}: not found; fix: check the link")
        return test

    @router.delete("/api/tests/{test_id}", status_code=204, dependencies=[Depends(admin)])
    def delete_test(test_id: str):
        with factory.begin() as db:
            db.delete(load_test(db, test_id))
        tasks.remove_tree(folder(test_id))
        return Response(status_code=204)

    def rating_rows(test_id: str) -> tuple[ListeningTest, list[dict]]:
        with factory() as db:
            test = load_test(db, test_id)
            stimuli = {s.id: s for s in test.stimuli}
            rows = [{"participant": p.id[:8], "finished": p.finished is not None, "trial": stimuli[r.stimulus_id].trial,
                     "condition": stimuli[r.stimulus_id].condition, "criterion": r.criterion, "rating": r.value}
                    for p in test.participants for r in p.ratings]
            return test, rows

    @router.get("/api/tests/{test_id}/results", dependencies=[Depends(admin)])
    def results(test_id: str):
        test, rows = rating_rows(test_id)
        pooled = summarize(((r["criterion"], r["condition"], r["rating"]) for r in rows), test.criteria)
        trials = sorted({r["trial"] for r in rows})
        per_trial = {trial: [s.to_dict() for s in summarize(((r["criterion"], r["condition"], r["rating"])
                                                             for r in rows if r["trial"] == trial), test.criteria)]
                     for trial in trials}
        return {**_test_json(test), "summary": [s.to_dict() for s in pooled], "per_trial": per_trial,
                "ratings": len(rows)}

    @router.get("/api/tests/{test_id}/results.csv", dependencies=[Depends(admin)])
    def results_csv(test_id: str):
        test, rows = rating_rows(test_id)
        return Response(ratings_csv(rows), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="ratings-{test.id[:8]}.csv"'})

    @router.get("/api/tests/{test_id}/results.png", dependencies=[Depends(admin)])
    def results_png(test_id: str):
        test, rows = rating_rows(test_id)
        pooled = summarize(((r["criterion"], r["condition"], r["rating"]) for r in rows), test.criteria)
        path = results_figure(pooled, folder(test_id) / "results.png", f"{test.name} ({len(rows)} ratings)")
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-store"})

    # --- participants ------------------------------------------------------------------------------------------
    @router.post("/api/listen/{test_id}/join", status_code=201)
    def join(test_id: str, key: str):
        with factory.begin() as db:
            test = load_test(db, test_id)
            if not secrets.compare_digest(key.encode(), test.settings["join_key"].encode()):
                raise Forbidden("test link: expected the link's key, found another; fix: open the whole link you "
                                "were sent")
            participant = Participant(id=new_id(), test_id=test.id)
            db.add(participant)
            db.flush()
            return _plan(test, participant)

    def load_participant(db, participant_id: str) -> Participant:
        participant = db.get(Participant, participant_id)
        if participant is None:
            raise NotFound("participant: not found; fix: open the test link again to start afresh")
        return participant

    @router.get("/api/listen/p/{participant_id}")
    def plan(participant_id: str):
        with factory() as db:
            participant = load_participant(db, participant_id)
            return _plan(participant.test, participant)

    @router.get("/api/listen/p/{participant_id}/audio/{stimulus_id}")
    def stimulus_audio(participant_id: str, stimulus_id: str):
        with factory() as db:
            participant = load_participant(db, participant_id)
            stimulus = db.get(Stimulus, stimulus_id)
            if stimulus is None or stimulus.test_id != participant.test_id:
                raise NotFound(f"stimulus {stimulus_id}: not part of this test; fix: reload the page")
        return FileResponse(folder(participant.test_id) / f"{stimulus_id}.wav", media_type="audio/wav")

    @router.post("/api/listen/p/{participant_id}/ratings")
    def rate(participant_id: str, body: Answers):
        with factory.begin() as db:
            participant = load_participant(db, participant_id)
            test = participant.test
            rated = {s.id for s in test.stimuli} - set(test.settings["references"].values())
            for answer in body.ratings:
                if answer.stimulus not in rated:
                    raise MixdownError(f"stimulus {answer.stimulus}: not rated in this test; fix: reload the page")
                if answer.criterion not in test.criteria:
                    raise MixdownError(f"criterion {answer.criterion!r}: expected one of {', '.join(test.criteria)}; "
                                       "fix: reload the page")
            keys = {(a.stimulus, a.criterion) for a in body.ratings}
            for old in list(participant.ratings):  # answering again replaces the earlier answer
                if (old.stimulus_id, old.criterion) in keys:
                    participant.ratings.remove(old)
            participant.ratings.extend(Rating(stimulus_id=a.stimulus, criterion=a.criterion, value=a.value)
                                       for a in body.ratings)
            return {"saved": len(body.ratings)}

    @router.post("/api/listen/p/{participant_id}/finish")
    def finish(participant_id: str):
        with factory.begin() as db:
            participant = load_participant(db, participant_id)
            participant.finished = participant.finished or now()
            return {"finished": True, "ratings": len(participant.ratings)}

    return router


def _test_json(test: ListeningTest) -> dict:
    trials = sorted({s.trial for s in test.stimuli})
    return {"id": test.id, "name": test.name, "created": test.created, "criteria": test.criteria,
            "seconds": test.settings["seconds"], "trials": trials,
            "conditions": sorted({s.condition for s in test.stimuli
                                  if s.id not in test.settings["references"].values()}),
            "participants": len(test.participants), "finished": sum(p.finished is not None for p in test.participants),
            "link": f"/listen/{test.id}?key={test.settings['join_key']}"}


def _plan(test: ListeningTest, participant: Participant) -> dict:
    """The participant's trials and stimuli, shuffled by a generator seeded from their id (a reload gives the
    same order), with letters for names: nothing tells a condition apart but its sound."""
    rng = random.Random(int(hashlib.sha256(participant.id.encode()).hexdigest()[:16], 16))
    references = test.settings["references"]
    by_trial: dict[str, list[Stimulus]] = {}
    for s in sorted(test.stimuli, key=lambda s: s.id):
        if s.id not in references.values():
            by_trial.setdefault(s.trial, []).append(s)
    names = sorted(by_trial)
    rng.shuffle(names)
    trials = []
    for number, name in enumerate(names, 1):
        stimuli = by_trial[name]
        rng.shuffle(stimuli)
        reference = references.get(name)
        audio = f"/api/listen/p/{participant.id}/audio/"
        trials.append({"title": f"Song {number} of {len(names)}",
                       "reference": audio + reference if reference else None,
                       "stimuli": [{"id": s.id, "label": chr(ord("A") + k), "audio": audio + s.id}
                                   for k, s in enumerate(stimuli)]})
    answered = {(r.stimulus_id, r.criterion): r.value for r in participant.ratings}
    return {"participant": participant.id, "test": test.name, "criteria": test.criteria, "trials": trials,
            "answers": [{"stimulus": s, "criterion": c, "value": v} for (s, c), v in answered.items()],
            "finished": participant.finished is not None}


def _build_stimuli(settings: StudioSettings, factory: sessionmaker, body: TestIn,
                   out: Path) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """Write every trial's excerpts: ``([(stimulus id, trial, condition)], {trial: open reference's id})``."""
    stimuli, references, titles = [], {}, set()
    with factory() as db:
        for trial in body.trials:
            project = db.get(Project, trial.project_id)
            if project is None:
                raise NotFound(f"project {trial.project_id}: not found; fix: pick projects from the list")
            jobs = [db.get(Job, j) for j in trial.mixes]
            for job_id, job in zip(trial.mixes, jobs):
                if job is None or job.project_id != project.id or job.kind not in ("mix", "render") \
                        or job.status != "done" or job.result.get("preview"):
                    raise MixdownError(f"{project.name}: mix {job_id} is not a finished full mix of this project; "
                                       "fix: pick mixes from the project's list")
            title = project.name if project.name not in titles else f"{project.name} ({project.id[:6]})"
            titles.add(title)
            paths = {}
            for job in jobs:
                condition = job.result.get("method") or f"edit of {job.params.get('mix_job', '')[:6]}"
                while condition in paths:
                    condition += "'"
                paths[condition] = tasks.job_folder(settings, job.id) / job.result["mix"]
            mix_job = jobs[0] if jobs[0].kind == "mix" else db.get(Job, jobs[0].params["mix_job"])
            raw = tasks.job_folder(settings, mix_job.id) / mix_job.result["raw"]
            if trial.raw_sum:
                paths["raw sum"] = raw
            reference = next((tasks.upload_path(settings, f) for f in project.files if f.kind == "reference"), None)
            start = loudest_start(next(iter(paths.values())), body.seconds)
            audio = {c: excerpt(p, start, body.seconds, _RATE) for c, p in paths.items()}
            if reference is not None and body.hidden_reference:
                ref = excerpt(reference, start, body.seconds, _RATE)
                audio["hidden reference"] = ref
                references[title] = new_id()
                write_audio(out / f"{references[title]}.wav", ref, _RATE, "wav24")
                stimuli.append((references[title], title, "reference"))
            if body.anchor:
                audio["anchor"] = anchor(audio.get("hidden reference", excerpt(raw, start, body.seconds, _RATE)),
                                         _RATE)
            for condition, x in audio.items():
                sid = new_id()
                write_audio(out / f"{sid}.wav", x, _RATE, "wav24")
                stimuli.append((sid, title, condition))
    return stimuli, references
