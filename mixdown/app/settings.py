"""Where the studio keeps things and what it accepts: one settings object, made by ``mixdown serve``."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from mixdown.errors import OutputError

__all__ = ["StudioSettings"]

_TOKEN_FILE = "admin_token"


@dataclass
class StudioSettings:
    """The studio's configuration.

    Attributes:
        data_dir: uploads, job outputs, test excerpts, the SQLite database and the admin token live here.
        database_url: any SQLAlchemy URL; None: ``sqlite:///<data_dir>/studio.db``.
        max_upload_mb: largest file accepted (a 10-minute 24-bit 96 kHz stereo WAV is 330 MB).
        max_files: most stems in one project.
        admin_token: the secret for creating listening tests and seeing results; None: read from (or made
            once and written to) ``<data_dir>/admin_token``.
    """

    data_dir: Path
    database_url: str | None = None
    max_upload_mb: float = 512.0
    max_files: int = 64
    admin_token: str | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        try:
            for sub in ("uploads", "jobs", "tests"):
                (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"{self.data_dir}: cannot create the studio's data folder ({e.strerror}); fix: "
                              "choose a writable place with --data") from None
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.data_dir / 'studio.db'}"
        if self.admin_token is None:
            self.admin_token = self._stored_token()

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def _stored_token(self) -> str:
        path = self.data_dir / _TOKEN_FILE
        if path.is_file():
            return path.read_text().strip()
        token = secrets.token_urlsafe(24)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # readable by its owner only
        with os.fdopen(descriptor, "w") as f:
            f.write(token + "\n")
        return token
