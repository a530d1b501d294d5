"""ENST-Drums: three drummers, each playing takes recorded on 8 microphones (kick, snare, hi-hat, toms,
overheads) plus a dry and a wet mix.

Expected layout::

    <root>/drummer_1/audio/<mic>/<take>.wav     mic: hi-hat, kick, overhead_L, overhead_R, snare, tom_1, tom_2,
    <root>/drummer_2/audio/...                       tom_3 (not every drummer), dry_mix, wet_mix
    <root>/drummer_3/audio/...                       accompaniment (minus-one takes: the band without drums)

A song is one take of one drummer (``"drummer_1/001_hits_snare-drum_sticks_x6"``) with the microphones that
recorded it; ``artist`` is the drummer, so a split keeps each drummer's takes on one side.
"""

from __future__ import annotations

import re
from pathlib import Path

from mixdown.analysis.roles import role_from_name
from mixdown.data.item import Song, TrackFile
from mixdown.data.loaders.common import DatasetError, audio_files, require_dir, subfolders

__all__ = ["ENST_MIXES", "ENST_ROLES", "load_enst_drums"]

ENST_ROLES = {"kick": "kick", "snare": "snare", "hi-hat": "hihat", "overhead_l": "overheads_room",
              "overhead_r": "overheads_room", "accompaniment": "other"}  # tom_N -> toms; others: role_from_name
ENST_MIXES = ("wet_mix", "dry_mix")  # the song's mix is the first found; both are recorded in metadata
_LAYOUT = "drummer_{1,2,3}/audio/<mic>/<take>.wav"


def load_enst_drums(root: str | Path) -> list[Song]:
    """Every take of every drummer in a local ENST-Drums copy.

    Args:
        root: the folder holding ``drummer_1/`` ... ``drummer_3/`` (one is enough).
    Returns:
        Songs ``"<drummer>/<take>"``, ``artist`` = the drummer folder, tracks = the microphone files of the take
        in mic-folder order (``name`` = mic folder, roles by ``ENST_ROLES``, tom_N -> toms), ``mix`` = wet_mix
        (else dry_mix), ``metadata`` = ``{"drummer", "take", "mixes": {name: path}}``.
    Raises:
        DatasetError: no ``drummer_*`` folder; a drummer without ``audio/`` or without microphone folders; a take
            found only in the mix folders.
    """
    root = require_dir(Path(root), _LAYOUT, "point at the ENST-Drums folder that holds drummer_1/ ...")
    drummers = [p for p in subfolders(root) if re.fullmatch(r"drummer_\d+", p.name)]
    if not drummers:
        raise DatasetError(
            f"{root}: expected {_LAYOUT}, found no drummer_N folder; fix: point at the folder that holds them"
        )
    songs = []
    for drummer in drummers:
        audio = require_dir(drummer / "audio", f"a folder of microphone folders ({_LAYOUT})",
                            "restore it from the dataset archive")
        mics = [m for m in subfolders(audio) if m.name not in ENST_MIXES]
        if not mics:
            raise DatasetError(
                f"{audio}: expected microphone folders (kick, snare, hi-hat, ...), found none; "
                "fix: restore them from the dataset archive"
            )
        takes: dict[str, list[Path]] = {}
        for folder in [*mics, *(audio / m for m in ENST_MIXES if (audio / m).is_dir())]:
            for path in audio_files(folder):
                takes.setdefault(path.stem, []).append(path)
        for take in sorted(takes):
            tracks = [TrackFile(p.parent.name, p, _mic_role(p.parent.name), p.parent.name)
                      for p in takes[take] if p.parent.name not in ENST_MIXES]
            if not tracks:
                raise DatasetError(
                    f"{audio}: expected microphone files of take {take!r} next to its mixes, found only "
                    f"{', '.join(p.parent.name for p in takes[take])}; fix: restore the microphone folders"
                )
            mixes = {p.parent.name: p for p in takes[take] if p.parent.name in ENST_MIXES}
            mix = next((mixes[m] for m in ENST_MIXES if m in mixes), None)
            songs.append(Song(
                dataset="enst_drums", song=f"{drummer.name}/{take}", artist=drummer.name, tracks=tracks, mix=mix,
                metadata={"drummer": drummer.name, "take": take, "mixes": {k: str(v) for k, v in mixes.items()}},
            ))
    return songs


def _mic_role(mic: str) -> str:
    key = mic.lower()
    if key in ENST_ROLES:
        return ENST_ROLES[key]
    return "toms" if key.startswith("tom") else role_from_name(mic).role
