"""MoisesDB: 240 songs as stems (vocals, drums, bass, guitar, ...) split into individual source tracks; no mix.

Expected layout::

    <root>/<song uuid>/data.json      {"artist", "song", "genre", "stems": [{"stemName", "tracks":
                                        [{"trackType", "id", "extension", "has_bleed"}]}]}
    <root>/<song uuid>/<stemName>/<track id>.<extension>

``root`` is the folder of song folders (``moisesdb_v0.1`` in the archive). Track types map to roles by
``MOISES_ROLES``; an unknown type goes through ``role_from_name``, then falls back on its stem's role.
"""

from __future__ import annotations

from pathlib import Path

from mixdown.analysis.roles import role_from_name
from mixdown.data.item import Song, TrackFile
from mixdown.data.loaders.common import DatasetError, read_json, require_dir, subfolders, unique_names

__all__ = ["MOISES_ROLES", "MOISES_STEM_ROLES", "load_moisesdb"]

MOISES_ROLES = {
    "lead_male_singer": "lead_vocal", "lead_female_singer": "lead_vocal", "human_choir": "backing_vocal",
    "background_vocals": "backing_vocal", "other_vocals": "backing_vocal",
    "kick_drum": "kick", "snare_drum": "snare", "toms": "toms", "hi_hat": "hihat", "cymbals": "overheads_room",
    "overheads": "overheads_room", "full_acoustic_drumkit": "drum_kit", "drum_machine": "drum_kit",
    "a_tonal_percussion": "percussion", "a-tonal_percussion": "percussion", "pitched_percussion": "percussion",
    "bass_guitar": "bass", "bass_synthesizer": "bass", "contrabass_double_bass": "bass",
    "clean_electric_guitar": "electric_guitar", "distorted_electric_guitar": "electric_guitar",
    "lap_steel_guitar_or_slide_guitar": "electric_guitar", "acoustic_guitar": "acoustic_guitar",
    "grand_piano": "piano_keys", "electric_piano": "piano_keys", "organ_electric_organ": "piano_keys",
    "synth_pad": "synth_pad", "synth_lead": "synth_lead", "string_section": "strings", "violin": "strings",
    "viola": "strings", "cello": "strings", "brass": "brass_winds", "flutes": "brass_winds", "reeds": "brass_winds",
    "fx": "fx",
}
MOISES_STEM_ROLES = {
    "vocals": "lead_vocal", "drums": "drum_kit", "bass": "bass", "guitar": "electric_guitar",
    "piano": "piano_keys", "percussion": "percussion", "bowed_strings": "strings", "wind": "brass_winds",
    "other_keys": "piano_keys", "other_plucked": "acoustic_guitar", "other": "other",
}
_LAYOUT = "<song uuid>/data.json with audio at <song uuid>/<stemName>/<track id>.<extension>"


def load_moisesdb(root: str | Path) -> list[Song]:
    """Every song of a local MoisesDB copy.

    Args:
        root: the folder of song folders.
    Returns:
        Songs with ``song`` = the uuid folder name, ``artist``, ``metadata`` = ``{"title", "genre"}``; one track
        per source track, ``name`` = ``"<stemName>.<trackType>"`` (``_2`` ... on repeats), ``label`` = the track
        type; ``mix`` None (MoisesDB has none).
    Raises:
        DatasetError: no song folders; a song folder without ``data.json``; a ``data.json`` without ``stems``; a
            listed track whose audio file is missing.
    """
    root = require_dir(Path(root), _LAYOUT, "point at the MoisesDB folder of song folders")
    folders = subfolders(root)
    if not folders:
        raise DatasetError(
            f"{root}: expected song folders ({_LAYOUT}), found none; fix: point at the folder of song folders "
            "(moisesdb_v0.1 in the archive)"
        )
    return [_song(folder) for folder in folders]


def _song(folder: Path) -> Song:
    meta_path = folder / "data.json"
    meta = read_json(meta_path, f"the song's metadata ({_LAYOUT})")
    if not isinstance(meta, dict) or not isinstance(meta.get("stems"), list):
        raise DatasetError(
            f"{meta_path}: expected an object with a 'stems' list, found none; fix: restore the file"
        )
    names, files = [], []
    for stem in meta["stems"]:
        stem_name = str(stem.get("stemName", ""))
        for track in stem.get("tracks") or []:
            kind = str(track.get("trackType", ""))
            path = folder / stem_name / f"{track.get('id')}.{str(track.get('extension', 'wav')).lstrip('.')}"
            if not path.is_file():
                raise DatasetError(
                    f"{path}: expected the audio of track {kind!r} of stem {stem_name!r} listed in data.json, "
                    "found nothing at this path; fix: restore the file from the dataset archive"
                )
            names.append(f"{stem_name}.{kind}")
            files.append((path, _role(kind, stem_name), kind))
    if not files:
        raise DatasetError(f"{meta_path}: expected at least one track in 'stems', found none; fix: restore the file")
    tracks = [TrackFile(name, path, role, kind) for name, (path, role, kind) in zip(unique_names(names), files)]
    artist = str(meta.get("artist") or "").strip() or None
    return Song(dataset="moisesdb", song=folder.name, artist=artist, tracks=tracks, mix=None,
                metadata={"title": meta.get("song"), "genre": meta.get("genre")})


def _role(kind: str, stem_name: str) -> str:
    key = kind.strip().lower()
    if key in MOISES_ROLES:
        return MOISES_ROLES[key]
    guess = role_from_name(key.replace("_", " "))
    if guess.confidence > 0:
        return guess.role
    return MOISES_STEM_ROLES.get(stem_name.lower(), "other")
