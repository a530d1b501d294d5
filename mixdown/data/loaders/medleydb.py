"""MedleyDB (1.0 and 2.0): multitracks with a metadata YAML per song, stems, raw tracks and the mix.

Expected layout::

    <root>/Audio/<Song>/<Song>_METADATA.yaml     artist, title, genre, stems: {S01: {filename, instrument,
                                                  raw: {R01: {filename, instrument}}}}, optional mix_filename,
                                                  stem_dir, raw_dir
    <root>/Audio/<Song>/<Song>_MIX.wav
    <root>/Audio/<Song>/<Song>_STEMS/<Song>_STEM_01.wav ...
    <root>/Audio/<Song>/<Song>_RAW/<Song>_RAW_01_01.wav ...

``root`` may also be the ``Audio`` folder itself. Instrument labels map to mixdown roles by ``MEDLEYDB_ROLES``;
a label not in the table goes through ``role_from_name`` (``"other"`` when no word matches).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mixdown.analysis.roles import role_from_name
from mixdown.data.item import Song, TrackFile
from mixdown.data.loaders.common import DatasetError, read_yaml, require_dir, subfolders
from mixdown.errors import ParameterError

__all__ = ["MEDLEYDB_ROLES", "load_medleydb", "medleydb_role"]

# MedleyDB's instrument taxonomy -> mixdown role, where the name rules would be wrong or unsure.
MEDLEYDB_ROLES = {
    "male singer": "lead_vocal", "female singer": "lead_vocal", "male rapper": "lead_vocal",
    "female rapper": "lead_vocal", "male speaker": "lead_vocal", "female speaker": "lead_vocal",
    "male screamer": "lead_vocal", "female screamer": "lead_vocal", "vocalists": "backing_vocal",
    "choir": "backing_vocal", "beatboxing": "percussion",
    "drum set": "drum_kit", "drum machine": "drum_kit", "kick drum": "kick", "bass drum": "kick",
    "snare drum": "snare", "toms": "toms", "high hat": "hihat", "hi-hat": "hihat", "cymbal": "overheads_room",
    "timpani": "percussion", "auxiliary percussion": "percussion", "tabla": "percussion", "bongo": "percussion",
    "conga": "percussion", "shaker": "percussion", "tambourine": "percussion", "claps": "percussion",
    "cowbell": "percussion", "darbuka": "percussion", "doumbek": "percussion", "gong": "percussion",
    "glockenspiel": "percussion", "vibraphone": "percussion", "marimba": "percussion", "xylophone": "percussion",
    "electric bass": "bass", "double bass": "bass", "tuba": "brass_winds", "bass clarinet": "brass_winds",
    "clean electric guitar": "electric_guitar", "distorted electric guitar": "electric_guitar",
    "lap steel guitar": "electric_guitar", "acoustic guitar": "acoustic_guitar", "banjo": "acoustic_guitar",
    "mandolin": "acoustic_guitar", "piano": "piano_keys", "electric piano": "piano_keys",
    "tack piano": "piano_keys", "organ": "piano_keys", "harmonium": "piano_keys", "accordion": "piano_keys",
    "synthesizer": "synth_lead", "sampler": "fx", "fx/processed sound": "fx", "scratches": "fx",
    "violin": "strings", "viola": "strings", "cello": "strings", "violin section": "strings",
    "viola section": "strings", "cello section": "strings", "string section": "strings", "erhu": "strings",
    "flute": "brass_winds", "piccolo": "brass_winds", "clarinet": "brass_winds", "oboe": "brass_winds",
    "bassoon": "brass_winds", "alto saxophone": "brass_winds", "tenor saxophone": "brass_winds",
    "baritone saxophone": "brass_winds", "soprano saxophone": "brass_winds", "trumpet": "brass_winds",
    "trombone": "brass_winds", "french horn": "brass_winds", "brass section": "brass_winds",
    "horn section": "brass_winds", "dizi": "brass_winds", "harmonica": "brass_winds", "melodica": "brass_winds",
    "main system": "other",
}

_LAYOUT = "Audio/<Song>/<Song>_METADATA.yaml with <Song>_MIX.wav, <Song>_STEMS/ and <Song>_RAW/"
_MODES = ("stems", "raw")


def medleydb_role(label: str) -> str:
    """The mixdown role of a MedleyDB instrument label: ``MEDLEYDB_ROLES``, else ``role_from_name(label)``."""
    key = label.strip().lower()
    return MEDLEYDB_ROLES[key] if key in MEDLEYDB_ROLES else role_from_name(key).role


def load_medleydb(root: str | Path, tracks: str = "stems") -> list[Song]:
    """Every song of a local MedleyDB copy.

    Args:
        root: the folder holding ``Audio/`` (or ``Audio/`` itself).
        tracks: ``"stems"`` (one file per instrument group, as mixed) or ``"raw"`` (every microphone / DI track).
    Returns:
        Songs with ``song`` = folder name, ``artist`` and ``metadata`` (title, genre, has_bleed, instrumental,
        composer, tracks) from the YAML; track ``name`` = file stem, ``label`` = the instrument label,
        ``role`` = ``medleydb_role(label)``; ``mix`` = the mix file when present.
    Raises:
        ParameterError: ``tracks`` not "stems" or "raw".
        DatasetError: no song folders; a song folder without its metadata YAML; a YAML without ``stems``; a
            listed stem or raw file missing from disk.
    """
    if tracks not in _MODES:
        raise ParameterError(f"load_medleydb: expected tracks in {_MODES}, found {tracks!r}")
    root = require_dir(Path(root), _LAYOUT, "point at the MedleyDB folder that holds Audio/")
    audio = root / "Audio" if (root / "Audio").is_dir() else root
    folders = subfolders(audio)
    if not folders:
        raise DatasetError(
            f"{audio}: expected song folders ({_LAYOUT}), found none; fix: point at the MedleyDB folder "
            "that holds Audio/"
        )
    return [_song(folder, tracks) for folder in folders]


def _song(folder: Path, mode: str) -> Song:
    name = folder.name
    meta = read_yaml(folder / f"{name}_METADATA.yaml", f"the song's metadata ({_LAYOUT})")
    if not isinstance(meta, dict) or not isinstance(meta.get("stems"), dict):
        raise DatasetError(
            f"{folder / f'{name}_METADATA.yaml'}: expected a mapping with a 'stems' mapping, found "
            f"{type(meta).__name__ if not isinstance(meta, dict) else 'no stems'}; fix: restore the file"
        )
    stem_dir = folder / str(meta.get("stem_dir") or f"{name}_STEMS")
    raw_dir = folder / str(meta.get("raw_dir") or f"{name}_RAW")
    files = []  # (folder, filename, label)
    for stem_id, stem in sorted(meta["stems"].items()):
        stem = stem or {}
        if mode == "stems":
            files.append((stem_dir, stem.get("filename"), _label(stem), stem_id))
        else:
            for raw_id, raw in sorted((stem.get("raw") or {}).items()):
                files.append((raw_dir, (raw or {}).get("filename"), _label(raw or {}), f"{stem_id}/{raw_id}"))
    track_files = []
    for where, filename, label, key in files:
        if not filename:
            raise DatasetError(
                f"{folder / f'{name}_METADATA.yaml'}: expected a filename for {key}, found none; fix: restore the file"
            )
        path = where / str(filename)
        if not path.is_file():
            raise DatasetError(
                f"{path}: expected the audio of {key} ({label}) listed in {name}_METADATA.yaml, found nothing at "
                "this path; fix: restore the file from the dataset archive"
            )
        track_files.append(TrackFile(path.stem, path, medleydb_role(label), label))
    mix = folder / str(meta.get("mix_filename") or f"{name}_MIX.wav")
    return Song(
        dataset="medleydb", song=name, artist=_text(meta.get("artist")), tracks=track_files,
        mix=mix if mix.is_file() else None,
        metadata={key: meta[key] for key in ("title", "genre", "has_bleed", "instrumental", "composer")
                  if key in meta} | {"tracks": mode},
    )


def _label(entry: dict[str, Any]) -> str:
    """The instrument label; MedleyDB 2.0 sometimes lists several (the first one decides the role)."""
    label = entry.get("instrument") or ""
    return str(label[0] if isinstance(label, list) and label else label or "")


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None
