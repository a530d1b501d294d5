"""Slakh2100 (and its ``flac_redux`` re-release): Lakh MIDI songs rendered with sampled instruments into stems.

Expected layout::

    <root>/{train,validation,test,omitted}/TrackNNNNN/metadata.yaml    stems: {S00: {inst_class, program_num,
                                                                          is_drum, audio_rendered,
                                                                          midi_program_name}, ...}
    <root>/<split>/TrackNNNNN/mix.wav | mix.flac
    <root>/<split>/TrackNNNNN/stems/S00.wav | S00.flac

Stems with ``audio_rendered: false`` have no audio (``flac_redux`` drops their files) and are skipped. Roles come
from the General MIDI class (``SLAKH_ROLES``): guitar programs 24-25 are acoustic, 26-31 electric.
"""

from __future__ import annotations

from pathlib import Path

from mixdown.data.item import Song, TrackFile
from mixdown.data.loaders.common import DatasetError, find_audio, read_yaml, require_dir, subfolders

__all__ = ["SLAKH_ROLES", "SLAKH_SPLITS", "load_slakh2100"]

SLAKH_SPLITS = ("train", "validation", "test", "omitted")
SLAKH_ROLES = {
    "Piano": "piano_keys", "Chromatic Percussion": "percussion", "Organ": "piano_keys",
    "Guitar": "electric_guitar", "Bass": "bass", "Strings": "strings", "Strings (continued)": "strings",
    "Ensemble": "strings", "Brass": "brass_winds", "Reed": "brass_winds", "Pipe": "brass_winds",
    "Synth Lead": "synth_lead", "Synth Pad": "synth_pad", "Synth Effects": "fx", "Ethnic": "other",
    "Percussive": "percussion", "Sound Effects": "fx", "Drums": "drum_kit",
}
_ACOUSTIC_GUITAR_PROGRAMS = (24, 25)  # GM nylon and steel string guitars (0-based program numbers)
_LAYOUT = "{train,validation,test,omitted}/TrackNNNNN/ with metadata.yaml, mix.(wav|flac), stems/SNN.(wav|flac)"


def load_slakh2100(root: str | Path) -> list[Song]:
    """Every rendered song of a local Slakh2100 or Slakh2100-flac_redux copy, split by split.

    Args:
        root: the folder holding the split folders (one is enough).
    Returns:
        Songs with ``song`` = the ``TrackNNNNN`` folder name, ``artist`` None (Slakh does not name them), tracks =
        rendered stems (``name`` = ``S00``..., ``label`` = ``midi_program_name``, ``role`` from ``inst_class``),
        ``mix``, ``metadata`` = ``{"split", "uuid", "midi"}``.
    Raises:
        DatasetError: no split folder; a split without track folders; a track without ``metadata.yaml`` or
            ``stems``; a rendered stem whose audio is missing.
    """
    root = require_dir(Path(root), _LAYOUT, "point at the Slakh folder that holds train/ ...")
    splits = [s for s in SLAKH_SPLITS if (root / s).is_dir()]
    if not splits:
        raise DatasetError(
            f"{root}: expected {_LAYOUT}, found no split folder; fix: point at the folder that holds them"
        )
    songs = []
    for split in splits:
        folders = subfolders(root / split)
        if not folders:
            raise DatasetError(
                f"{root / split}: expected TrackNNNNN folders, found none; fix: unpack the archive here or remove "
                "the empty folder"
            )
        songs.extend(_song(folder, split) for folder in folders)
    return songs


def _song(folder: Path, split: str) -> Song:
    meta_path = folder / "metadata.yaml"
    meta = read_yaml(meta_path, f"the track's metadata ({_LAYOUT})")
    if not isinstance(meta, dict) or not isinstance(meta.get("stems"), dict):
        raise DatasetError(f"{meta_path}: expected a mapping with a 'stems' mapping, found none; fix: restore the file")
    tracks = []
    for stem_id, stem in sorted(meta["stems"].items()):
        stem = stem or {}
        if not stem.get("audio_rendered", True):
            continue
        path = find_audio(folder / "stems", stem_id)
        if path is None:
            raise DatasetError(
                f"{folder / 'stems' / stem_id}.wav: expected the audio of rendered stem {stem_id} listed in "
                "metadata.yaml (.wav or .flac), found neither; fix: restore the file from the dataset archive"
            )
        tracks.append(TrackFile(stem_id, path, _role(stem), str(stem.get("midi_program_name") or "")))
    if not tracks:
        raise DatasetError(f"{meta_path}: expected at least one rendered stem, found none; fix: restore the file")
    return Song(dataset="slakh2100", song=folder.name, artist=None, tracks=tracks, mix=find_audio(folder, "mix"),
                metadata={"split": split, "uuid": meta.get("UUID"), "midi": meta.get("midi_filename")})


def _role(stem: dict) -> str:
    if stem.get("is_drum"):
        return "drum_kit"
    kind = str(stem.get("inst_class") or "")
    if kind == "Guitar" and stem.get("program_num") in _ACOUSTIC_GUITAR_PROGRAMS:
        return "acoustic_guitar"
    return SLAKH_ROLES.get(kind, "other")
