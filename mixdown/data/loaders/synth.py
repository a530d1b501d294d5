"""A synthetic corpus written by ``mixdown data synth`` (:mod:`mixdown.data.synth`), read back as songs.

Reading a corpus needs none of the MIDI tools that render one (the ``data`` extra), so it lives with the loaders.

Expected layout::

    <root>/corpus.json                      {"songs": [song ids], ...}
    <root>/<song>/metadata.json             instruments (stem, file, role, instrument), source, mix
    <root>/<song>/<stem>.wav | .flac        dry stems; <root>/<song>/mix.wav when the MIDI carried a composer mix
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mixdown.data.item import Song, TrackFile
from mixdown.errors import AudioInputError

__all__ = ["DATASET", "load_synth", "song_from_metadata"]

DATASET = "synth"


def song_from_metadata(folder: Path, meta: dict) -> Song:
    """A song of the corpus from its folder and its ``metadata.json`` (as a dict)."""
    tracks = [TrackFile(i["stem"], folder / i.get("file", f"{i['stem']}.wav"), i["role"], i["instrument"])
              for i in meta["instruments"]]
    source = meta["source"]
    artist = source["name"].split("/")[0] if source["kind"] == "music21" else source["kind"]
    mix = folder / meta["mix"]["file"] if meta.get("mix") else None
    # songs rendered from one score (a chorale, a user's MIDI file) stay on one side of a split; grooves are unique
    group = None if source["kind"] == "groove" else f"{source['kind']}:{source['name']}"
    return Song(DATASET, meta["song"], tracks, artist=artist, mix=mix, metadata={**meta, "split_group": group})


def load_synth(root: str | os.PathLike) -> list[Song]:
    """Read a corpus written by :func:`mixdown.data.synth.synth_corpus` back as :class:`Song` items (files checked, audio not read).

    Raises:
        AudioInputError: ``corpus.json``, a song's ``metadata.json`` or a stem listed in it is missing.
    """
    root = Path(root)
    index = root / "corpus.json"
    if not index.is_file():
        raise AudioInputError(f"{root}: expected a synthetic corpus with corpus.json, found none; "
                              f"fix: run synth_corpus (mixdown data synth --out {root}) first")
    songs = []
    for song_id in json.loads(index.read_text(encoding="utf-8"))["songs"]:
        meta_path = root / song_id / "metadata.json"
        if not meta_path.is_file():
            raise AudioInputError(f"{meta_path}: expected the song's metadata, found none; fix: re-render the corpus")
        song = song_from_metadata(root / song_id, json.loads(meta_path.read_text(encoding="utf-8")))
        missing = [str(t.path) for t in song.tracks if not t.path.is_file()]
        if missing:
            raise AudioInputError(f"{root / song_id}: expected the stems listed in metadata.json, found "
                                  f"{missing[:3]} missing; fix: re-render the corpus")
        songs.append(song)
    return songs
