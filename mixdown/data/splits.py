"""Train / validation / test splits of songs: disjoint by song and by artist, reproducible from a seed.

Songs are grouped before they are split: all songs of one artist form one group (artists compared case- and
space-insensitively, across datasets, since MUSDB18 and MedleyDB share songs), a song without an artist is a group
of its own, and a dataset may name its own unit instead (``metadata["split_group"]``). Groups are shuffled with the seed and dealt one by one to the split furthest below its target count,
so the fractions hold to within the size of one group.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from mixdown.data.item import Song
from mixdown.errors import ParameterError

__all__ = ["OFFICIAL_SPLITS", "SPLIT_NAMES", "group_key", "split_songs"]

SPLIT_NAMES = ("train", "validation", "test")
# A dataset's own split name (``Song.metadata["split"]``) -> ours; Slakh's "omitted" tracks are left out.
OFFICIAL_SPLITS = {"train": "train", "validation": "validation", "test": "test", "omitted": None}


def group_key(song: Song) -> str:
    """What keeps songs together: the dataset's own unit when it names one (``Song.metadata["split_group"]``:
    the synthetic corpus names the score a song was rendered from, as all its chorales share one composer), else
    ``"artist:<name>"`` when the artist is known, else ``"song:<dataset>/<id>"``."""
    group = song.metadata.get("split_group")
    if group:
        return f"group:{song.dataset}/{group}"
    if song.artist and song.artist.strip():
        return "artist:" + " ".join(song.artist.casefold().split())
    return f"song:{song.dataset}/{song.song}"


def split_songs(
    songs: list[Song],
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    official: bool = False,
) -> dict[str, list[Song]]:
    """Split songs into train, validation and test, keeping every artist on one side.

    Args:
        songs: from one or several loaders; ``(dataset, song)`` pairs must be unique.
        fractions: of the songs for train, validation, test; non-negative, summing to 1.
        seed: the same songs and seed give the same split (songs are sorted first, so their order does not matter).
        official: keep the dataset's own split where it has one (``Song.metadata["split"]``: MUSDB18 train/test,
            Slakh2100 train/validation/test; Slakh's "omitted" songs are dropped). Songs of an artist with an
            official song follow that song's split; the other songs are dealt by ``fractions``.
    Returns:
        ``{"train": [...], "validation": [...], "test": [...]}``, each in ``(dataset, song)`` order.
    Raises:
        ParameterError: bad fractions, or a ``(dataset, song)`` pair given twice.

    Properties: deterministic; disjoint by song and by artist (except where an official split itself puts one
    artist on both sides, which ``official=True`` keeps as the dataset has it).

    Example:
        >>> parts = split_songs(load_dataset("medleydb", "/data/MedleyDB"), seed=1)
        >>> len(parts["train"]), len(parts["test"])
    """
    if len(fractions) != 3 or any(not f >= 0 for f in fractions) or not math.isclose(sum(fractions), 1.0):
        raise ParameterError(
            f"split_songs: expected three non-negative fractions (train, validation, test) summing to 1, "
            f"found {fractions!r}"
        )
    ordered = sorted(songs, key=lambda s: (s.dataset, s.song))
    for a, b in itertools.pairwise(ordered):
        if (a.dataset, a.song) == (b.dataset, b.song):
            raise ParameterError(
                f"split_songs: expected each song once, found {a.dataset}/{a.song} twice; fix: load each dataset once"
            )
    parts: dict[str, list[Song]] = {name: [] for name in SPLIT_NAMES}
    groups: dict[str, list[Song]] = {}
    for song in ordered:
        if official and _is_dropped(song):
            continue
        groups.setdefault(group_key(song), []).append(song)
    free = []
    for key in sorted(groups):
        pinned = _official_split(groups[key]) if official else None
        if pinned is None:
            free.append(key)
            continue
        for song in groups[key]:
            own = song.metadata.get("split")
            parts[OFFICIAL_SPLITS.get(own, pinned)].append(song)
    _deal([groups[key] for key in free], fractions, seed, parts)
    return {name: sorted(part, key=lambda s: (s.dataset, s.song)) for name, part in parts.items()}


def _official_split(group: list[Song]) -> str | None:
    """The split the first official song of a group names (None: no official song, or only omitted ones)."""
    for song in group:
        split = song.metadata.get("split")
        if split in OFFICIAL_SPLITS and OFFICIAL_SPLITS[split] is not None:
            return OFFICIAL_SPLITS[split]
    return None


def _is_dropped(song: Song) -> bool:
    split = song.metadata.get("split")
    return split in OFFICIAL_SPLITS and OFFICIAL_SPLITS[split] is None


def _deal(groups: list[list[Song]], fractions, seed: int, parts: dict[str, list[Song]]) -> None:
    """Shuffle ``groups`` with ``seed`` and give each to the split with the largest deficit to its target."""
    total = sum(len(g) for g in groups)
    targets = np.array(fractions, dtype=float) * total
    counts = np.zeros(3)
    for index in np.random.default_rng(seed).permutation(len(groups)):
        group = groups[index]
        choice = int(np.argmax(targets - counts))  # ties: the first split, so train fills before the others
        counts[choice] += len(group)
        parts[SPLIT_NAMES[choice]].extend(group)
