"""The studio's database: projects, their files and jobs, listening tests and their answers (SQLAlchemy 2).

SQLite in the data folder is the default (write-ahead log, so readers never wait for the worker's writes);
any SQLAlchemy URL works, PostgreSQL included (``mixdown serve --database postgresql://...``). Audio never
goes into the database: rows name files by generated names under the data folder.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)

__all__ = [
    "Base",
    "Job",
    "ListeningTest",
    "Participant",
    "Project",
    "Rating",
    "Stimulus",
    "StoredFile",
    "Version",
    "add_version",
    "new_id",
    "now",
    "open_database",
]


def new_id() -> str:
    """A random 32-hex-digit id: row keys and file names both (never anything a user typed)."""
    return uuid.uuid4().hex


def now() -> float:
    return time.time()


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict] = {dict[str, Any]: JSON, list[Any]: JSON}


class Project(Base):
    """One song: its stems, settings and the jobs run on it."""

    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    created: Mapped[float] = mapped_column(Float, default=now)
    genre: Mapped[str | None] = mapped_column(String(40), default=None)
    target: Mapped[str] = mapped_column(String(40), default="spotify")
    current_version: Mapped[int | None] = mapped_column(Integer, default=None)  # what a reload shows
    files: Mapped[list[StoredFile]] = relationship(back_populates="project", order_by="StoredFile.created",
                                                   cascade="all, delete-orphan")
    jobs: Mapped[list[Job]] = relationship(back_populates="project", order_by="Job.created",
                                           cascade="all, delete-orphan")
    versions: Mapped[list[Version]] = relationship(back_populates="project", order_by="Version.number",
                                                   cascade="all, delete-orphan")


class StoredFile(Base):
    """An uploaded audio file (a stem or a reference mix), stored as ``<id><suffix>``; for a stem, the user's
    intent for its track (role, priority, pan, reverb, keep as is)."""

    __tablename__ = "files"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "stem" | "reference"
    name: Mapped[str] = mapped_column(String(120))  # the track name shown and used in the recipe (cleaned)
    suffix: Mapped[str] = mapped_column(String(8))
    created: Mapped[float] = mapped_column(Float, default=now)
    bytes: Mapped[int] = mapped_column(Integer)
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float)
    detected_role: Mapped[str | None] = mapped_column(String(40), default=None)
    role_confidence: Mapped[float | None] = mapped_column(Float, default=None)
    loudness_lufs: Mapped[float | None] = mapped_column(Float, default=None)
    role: Mapped[str | None] = mapped_column(String(40), default=None)  # the user's choice, over the detected
    priority: Mapped[str | None] = mapped_column(String(20), default=None)
    pan: Mapped[str | None] = mapped_column(String(20), default=None)
    reverb: Mapped[str | None] = mapped_column(String(20), default=None)
    keep: Mapped[bool] = mapped_column(Boolean, default=False)
    warnings: Mapped[list[Any] | None] = mapped_column(JSON, default=None)  # what decoding it found (silence)
    project: Mapped[Project] = relationship(back_populates="files")

    @property
    def stored_name(self) -> str:
        return f"{self.id}{self.suffix}"


class Job(Base):
    """Work for the background worker: ``analyse`` (roles and loudness of the stems), ``mix`` (decide and
    render) or ``render`` (an edited recipe).

    ``status`` runs queued -> running -> done | failed; a job found running at start-up was cut off by a stop
    and is queued again (``attempts`` counts the starts)."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    stage: Mapped[str] = mapped_column(String(120), default="")
    fraction: Mapped[float] = mapped_column(Float, default=0.0)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[float] = mapped_column(Float, default=now)
    updated: Mapped[float] = mapped_column(Float, default=now)
    project: Mapped[Project] = relationship(back_populates="jobs")


class Version(Base):
    """One version of a project's mix: a finished mix, or the whole-song render of an edit of an earlier version
    (previews are not versions). Numbered 1, 2, ... per project; ``Project.current_version`` names the one the page
    shows and downloads, and restoring an earlier one only moves that pointer (none is ever deleted but with the
    project).

    ``job_id`` made its mix file and recipe; ``mix_job_id`` is the mix it edits (the same job for a mix), whose
    stems, raw sum, processed stems and report it shares; ``label`` says what changed ("first mix (rules)",
    "edit: bass -6 dB", "mastered again")."""

    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("project_id", "number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    mix_job_id: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(300))
    created: Mapped[float] = mapped_column(Float, default=now)
    project: Mapped[Project] = relationship(back_populates="versions")
    job: Mapped[Job] = relationship()


def add_version(db: Session, project_id: str, job_id: str, mix_job_id: str, label: str,
                created: float | None = None) -> Version:
    """Number the next version of the project (inside the caller's transaction) and make it the current one."""
    last = db.scalar(select(func.max(Version.number)).where(Version.project_id == project_id)) or 0
    version = Version(project_id=project_id, number=last + 1, job_id=job_id, mix_job_id=mix_job_id,
                      label=label[:300], created=now() if created is None else created)
    db.add(version)
    project = db.get(Project, project_id)
    if project is not None:
        project.current_version = version.number
    db.flush()
    return version


class ListeningTest(Base):
    """A multi-stimulus rating test (MUSHRA-style): per song, several mixes rated 0-100 on each criterion."""

    __tablename__ = "tests"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    created: Mapped[float] = mapped_column(Float, default=now)
    criteria: Mapped[list[Any]] = mapped_column(default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stimuli: Mapped[list[Stimulus]] = relationship(back_populates="test", cascade="all, delete-orphan")
    participants: Mapped[list[Participant]] = relationship(back_populates="test", cascade="all, delete-orphan")


class Stimulus(Base):
    """One loudness-normalised excerpt of a test: a song (``trial``) under one condition (a method, the hidden
    reference or the anchor), stored as ``<id>.wav`` in the test's folder."""

    __tablename__ = "stimuli"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    test_id: Mapped[str] = mapped_column(ForeignKey("tests.id", ondelete="CASCADE"), index=True)
    trial: Mapped[str] = mapped_column(String(200))
    condition: Mapped[str] = mapped_column(String(80))
    test: Mapped[ListeningTest] = relationship(back_populates="stimuli")


class Participant(Base):
    """One person taking a test through their own link (the id is the secret in it)."""

    __tablename__ = "participants"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    test_id: Mapped[str] = mapped_column(ForeignKey("tests.id", ondelete="CASCADE"), index=True)
    created: Mapped[float] = mapped_column(Float, default=now)
    finished: Mapped[float | None] = mapped_column(Float, default=None)
    test: Mapped[ListeningTest] = relationship(back_populates="participants")
    ratings: Mapped[list[Rating]] = relationship(cascade="all, delete-orphan")


class Rating(Base):
    __tablename__ = "ratings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"), index=True)
    stimulus_id: Mapped[str] = mapped_column(ForeignKey("stimuli.id", ondelete="CASCADE"))
    criterion: Mapped[str] = mapped_column(String(40))
    value: Mapped[float] = mapped_column(Float)
    created: Mapped[float] = mapped_column(Float, default=now)


def open_database(url: str) -> sessionmaker:
    """Connect (creating the tables on first use) and return the session factory."""
    sqlite = url.startswith("sqlite")
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30} if sqlite else {},
                           pool_pre_ping=not sqlite)
    if sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    Base.metadata.create_all(engine)
    _add_new_columns(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    _versions_of_older_mixes(factory)
    return factory


def _add_new_columns(engine: Engine) -> None:
    """Add the (nullable) columns a newer studio keeps to the tables an older one made."""
    found = inspect(engine)
    missing = []
    for table in Base.metadata.sorted_tables:
        present = {c["name"] for c in found.get_columns(table.name)}
        missing += [(table.name, column) for column in table.columns if column.name not in present]
    if not missing:
        return
    with engine.begin() as connection:
        for table, column in missing:
            if not column.nullable:
                raise RuntimeError(f"{table}.{column.name}: a new column must be nullable to be added in place")
            kind = column.type.compile(engine.dialect)
            connection.execute(text(f'ALTER TABLE {table} ADD COLUMN "{column.name}" {kind}'))


def _versions_of_older_mixes(factory: sessionmaker) -> None:
    """A database from before versions were kept: each project's finished mixes and whole-song renders become
    its versions, in the order they were made, the last one current (what the page showed before a reload)."""
    with factory.begin() as db:
        older = db.scalars(select(Project).where(
            Project.current_version.is_(None), ~Project.versions.any(),
            Project.jobs.any((Job.kind == "mix") & (Job.status == "done")))).all()
        for project in older:
            mixed = False
            for job in project.jobs:
                result = job.result or {}
                if job.status != "done" or job.kind not in ("mix", "render") or result.get("preview"):
                    continue
                if job.kind == "mix":
                    label = f"{'new' if mixed else 'first'} mix ({result.get('method', 'rules')})"
                    add_version(db, project.id, job.id, job.id, label, job.updated)
                    mixed = True
                else:
                    label = "mastered again" if result.get("remaster") else "edit (made before versions were kept)"
                    add_version(db, project.id, job.id, result.get("mix_job", job.id), label, job.updated)


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the worker's writes
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def dispose(factory: sessionmaker) -> None:
    """Close every pooled connection (a server stopping, a test restarting it)."""
    engine: Engine = factory.kw["bind"]
    engine.dispose()
