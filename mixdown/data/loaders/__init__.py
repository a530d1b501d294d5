"""Loaders for local copies of multitrack datasets: each turns a dataset folder into a list of ``Song``.

``load_dataset(name, root)`` dispatches on ``LOADERS``; every loader checks the folder against the dataset's
published layout (written in its module docstring) and raises ``DatasetError`` naming what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mixdown.data.item import Song
from mixdown.data.loaders.cambridge import load_cambridge
from mixdown.data.loaders.common import DatasetError
from mixdown.data.loaders.enst_drums import load_enst_drums
from mixdown.data.loaders.medleydb import load_medleydb
from mixdown.data.loaders.moisesdb import load_moisesdb
from mixdown.data.loaders.musdb18 import load_musdb18
from mixdown.data.loaders.slakh2100 import load_slakh2100
from mixdown.data.loaders.synth import load_synth
from mixdown.errors import ParameterError

__all__ = [
    "LOADERS",
    "DatasetError",
    "load_cambridge",
    "load_dataset",
    "load_enst_drums",
    "load_medleydb",
    "load_moisesdb",
    "load_musdb18",
    "load_slakh2100",
    "load_synth",
]

LOADERS: dict[str, Callable[..., list[Song]]] = {
    "musdb18": load_musdb18,
    "medleydb": load_medleydb,
    "enst_drums": load_enst_drums,
    "moisesdb": load_moisesdb,
    "slakh2100": load_slakh2100,
    "cambridge": load_cambridge,
    "synth": load_synth,
}


def load_dataset(name: str, root: str | Path, **options) -> list[Song]:
    """The songs of the local copy of dataset ``name`` at ``root``.

    Args:
        name: a key of ``LOADERS``.
        root: the dataset folder (see each loader for the layout it expects).
        options: passed to the loader (``cache_dir`` for musdb18, ``tracks="raw"`` for medleydb).
    Returns:
        The songs, in the dataset's order (files only: nothing is read).
    Raises:
        ParameterError: unknown ``name``.
        DatasetError: the folder does not have the dataset's layout.
    """
    if name not in LOADERS:
        raise ParameterError(f"load_dataset: expected a dataset in {sorted(LOADERS)}, found {name!r}")
    return LOADERS[name](root, **options)
