"""The studio's refusals: each carries the HTTP status its message is answered with."""

from __future__ import annotations

from mixdown.errors import MixdownError

__all__ = ["Forbidden", "NotFound", "StudioError"]


class StudioError(MixdownError):
    """A request the studio refuses, with the message the page shows and its HTTP status (400 unless said)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class NotFound(StudioError):
    def __init__(self, message: str):
        super().__init__(message, 404)


class Forbidden(StudioError):
    def __init__(self, message: str):
        super().__init__(message, 403)
