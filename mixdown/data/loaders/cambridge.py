"""Cambridge-MT-style folders: a folder of songs, each a folder of multitrack audio files and an optional mix.

Expected layout::

    <root>/<Artist - Title>/01_Kick.wav, 02_SnareTop.wav, ..., [<anything>_Mix.wav]
    <root>/<Title>/...                                           (artist unknown without " - ")

The mix is the one file whose name has the word ``mix`` or ``mixdown`` (``"Song_Mix.wav"``, ``"mixdown.flac"``);
every other audio file is a track, its role from ``role_from_name``.
"""

from __future__ import annotations

from pathlib import Path

from mixdown.analysis.roles import role_from_name
from mixdown.data.item import Song, TrackFile
from mixdown.data.loaders.common import (
    DatasetError,
    audio_files,
    require_dir,
    split_artist,
    subfolders,
    unique_names,
    words,
)

__all__ = ["MIX_WORDS", "load_cambridge"]

MIX_WORDS = frozenset({"mix", "mixdown"})
_LAYOUT = "song folders, each holding the song's multitrack audio files (and optionally one *mix* file)"


def load_cambridge(root: str | Path) -> list[Song]:
    """Every song folder under ``root``.

    Args:
        root: the folder of song folders.
    Returns:
        Songs with ``song`` = folder name, ``artist`` = the text before `` - `` (None without it), tracks named by
        file stem, ``mix`` = the mix file or None, ``metadata`` = ``{"title"}``.
    Raises:
        DatasetError: no song folders; a song folder with no track files; two files that both look like the mix.
    """
    root = require_dir(Path(root), _LAYOUT, "point at the folder that holds the song folders")
    folders = subfolders(root)
    if not folders:
        raise DatasetError(f"{root}: expected {_LAYOUT}, found none; fix: point at the folder that holds them")
    return [_song(folder) for folder in folders]


def _song(folder: Path) -> Song:
    files = audio_files(folder)
    mixes = [p for p in files if MIX_WORDS.intersection(words(p.stem))]
    if len(mixes) > 1:
        raise DatasetError(
            f"{folder}: expected at most one mix file, found {', '.join(p.name for p in mixes)}; fix: move all but "
            "the full mix out of the folder"
        )
    parts = [p for p in files if p not in mixes]
    # "Kick.wav" and "Kick.flac" in one folder: names must stay unique
    names = unique_names([p.stem for p in parts])
    tracks = [TrackFile(name, p, role_from_name(p.name).role) for name, p in zip(names, parts)]
    if not tracks:
        raise DatasetError(
            f"{folder}: expected multitrack audio files (WAV, FLAC, AIFF ...), found "
            f"{'only the mix' if mixes else 'none'}; fix: unpack the song's multitracks into this folder"
        )
    artist, title = split_artist(folder.name)
    return Song(dataset="cambridge", song=folder.name, artist=artist, tracks=tracks,
                mix=mixes[0] if mixes else None, metadata={"title": title})
