"""Where the studio keeps things and what it accepts: one settings object, made by ``mixdown serve``."""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from mixdown.errors import OutputError

__all__ = ["StudioSettings"]

_TOKEN_FILE = "admin_token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
"""The names a studio always answers to (this computer)."""
_EVERYWHERE = ("0.0.0.0", "::", "[::]", "")


@dataclass
class StudioSettings:
    """The studio's configuration.

    Attributes:
        data_dir: uploads, job outputs, test excerpts, the SQLite database and the admin token live here.
        database_url: any SQLAlchemy URL; None: ``sqlite:///<data_dir>/studio.db``.
        max_upload_mb: largest file accepted (a 10-minute 24-bit 96 kHz stereo WAV is 330 MB).
        max_files: most stems in one project.
        admin_token: the studio's token: it opens the listening tests' admin side, and every page and route of a
            studio that requires it (see ``token_required``); None: read from (or made once and written to)
            ``<data_dir>/admin_token``, readable by its owner only.
        host: the address the studio is bound to (``mixdown serve --host``).
        allowed_hosts: names the studio answers to besides ``localhost``, ``127.0.0.1``, ``[::1]`` and ``host``
            (``--allowed-host``, e.g. the name a reverse proxy or the local network uses).
        require_token: ask for the token on every route but the login page; None: when ``host`` is not loopback.
    """

    data_dir: Path
    database_url: str | None = None
    max_upload_mb: float = 512.0
    max_files: int = 64
    admin_token: str | None = None
    host: str = "127.0.0.1"
    allowed_hosts: list[str] = field(default_factory=list)
    require_token: bool | None = None

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
    def loopback(self) -> bool:
        """Bound to this computer only (127.0.0.0/8, ::1 or localhost)."""
        if self.host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False

    @property
    def binds_everywhere(self) -> bool:
        """Bound to every interface (0.0.0.0 or ::)."""
        return self.host in _EVERYWHERE

    @property
    def token_required(self) -> bool:
        """Every route but the login page (and participants' pages) needs the token."""
        return (not self.loopback) if self.require_token is None else self.require_token

    def host_names(self) -> frozenset[str]:
        """The names the ``Host`` header may carry: lower-case, IPv6 in brackets, without ports. Bound to every
        interface, the machine's own name is one too (its IP addresses are let through by the guard)."""
        names = [*LOOPBACK_NAMES, *self.allowed_hosts]
        if self.binds_everywhere:
            names.append(socket.gethostname())
        else:
            names.append(self.host)
        shown = set()
        for name in names:
            name = name.strip().lower()
            if name.count(":") > 1 and not name.startswith("["):
                name = f"[{name}]"  # a bare IPv6 address
            elif ":" in name.rpartition("]")[2]:
                name = name.rpartition(":")[0]  # a port given with the name
            if name:
                shown.add(name)
        return frozenset(shown)

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
