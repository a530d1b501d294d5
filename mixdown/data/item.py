"""The common currency of the training data: a song as files, and an excerpt of it as tensors.

Every loader (MUSDB18, MedleyDB, ENST-Drums, MoisesDB, Slakh2100, Cambridge-MT folders) and the synthetic corpus
describe each song as a :class:`Song` (files only, nothing read); the pipelines cut :class:`Excerpt` tensors
from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = ["Excerpt", "Song", "TrackFile"]


@dataclass(frozen=True)
class TrackFile:
    """One track of a song on disk.

    Attributes:
        name: unique within the song (file stem or the dataset's track id).
        path: the audio file.
        role: a mixdown role (``mixdown.analysis.roles.ROLE_NAMES``) or None when the dataset does not say.
        label: the dataset's own instrument label (e.g. MedleyDB's "clean electric guitar"), "" when none.
    """

    name: str
    path: Path
    role: str | None = None
    label: str = ""


@dataclass
class Song:
    """One multitrack song of a dataset.

    Attributes:
        dataset: the loader's name ("musdb18", "medleydb", ...).
        song: an id unique within the dataset (splits are made by it).
        artist: the artist when known (splits keep an artist on one side), else None.
        tracks: the tracks, in the dataset's order.
        mix: the dataset's mix of them, when it has one.
        metadata: anything else the dataset says (genre, licence, tempo ...), JSON-compatible.
    """

    dataset: str
    song: str
    tracks: list[TrackFile]
    artist: str | None = None
    mix: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Excerpt:
    """A training example: ``tracks`` x ``samples`` of one song, padded to a fixed track count.

    Attributes:
        audio: float32 ``(max_tracks, 2, samples)``; mono tracks are copied to both channels; padding rows are 0.
        mask: bool ``(max_tracks,)``: True for real tracks.
        names, roles: per real track.
        sample_rate: Hz.
        song: ``"<dataset>/<song id>"``.
        start_s: where the excerpt starts in the song.
        mix: float32 ``(2, samples)`` of the dataset's mix over the same span, or None.
    """

    audio: torch.Tensor
    mask: torch.Tensor
    names: list[str]
    roles: list[str | None]
    sample_rate: int
    song: str
    start_s: float
    mix: torch.Tensor | None = None
