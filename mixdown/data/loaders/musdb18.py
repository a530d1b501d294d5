"""MUSDB18 / MUSDB18-HQ: 150 songs as a mix and four stems (drums, bass, other, vocals), split train / test.

Expected layout (either version; both may sit side by side in a split folder, the WAV folder wins)::

    <root>/train/<Artist - Title>/{mixture,drums,bass,other,vocals}.wav     (MUSDB18-HQ, or `musdbconvert` output)
    <root>/train/<Artist - Title>.stem.mp4                                  (MUSDB18: 5 AAC streams in the order
    <root>/test/...                                                          mixture, drums, bass, other, vocals)

A ``.stem.mp4`` is decoded once per stream with ffmpeg into ``cache_dir/<split>/<song>/<stream>.wav`` (16-bit,
the file's rate); a cached WAV newer than its mp4 is reused.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from mixdown.data.item import Song, TrackFile
from mixdown.data.loaders.common import DatasetError, require_dir, split_artist, subfolders
from mixdown.export.files import atomic_path

__all__ = ["MUSDB_ROLES", "MUSDB_STEMS", "SPLITS", "VALIDATION_SONGS", "load_musdb18"]

SPLITS = ("train", "test")
MUSDB_STEMS = ("mixture", "drums", "bass", "other", "vocals")  # also the stream order of a .stem.mp4
MUSDB_ROLES = {"drums": "drum_kit", "bass": "bass", "other": "other", "vocals": "lead_vocal"}
# The official validation songs: 14 of the train folder, as the musdb package (sigsep) and the challenges using
# MUSDB18 hold them out.
VALIDATION_SONGS = frozenset({
    "Actions - One Minute Smile", "Alexander Ross - Goodbye Bolero", "ANiMAL - Rockshow",
    "Clara Berry And Wooldog - Waltz For My Victims", "Fergessen - Nos Palpitants", "James May - On The Line",
    "Johnny Lokke - Promises & Lies", "Leaf - Summerghost", "Meaxic - Take A Step",
    "Patrick Talbot - A Reason To Leave", "Skelpolu - Human Mistakes", "Traffic Experiment - Sirens",
    "Triviul - Angelsaint", "Young Griffo - Pennies",
})
_LAYOUT = ("train/ and test/ folders of songs (<song>/{mixture,drums,bass,other,vocals}.wav or "
           "<song>.stem.mp4)")


def load_musdb18(root: str | Path, cache_dir: str | Path | None = None) -> list[Song]:
    """Every song of a local MUSDB18 (``.stem.mp4``) or MUSDB18-HQ (WAV) copy, train split first.

    Args:
        root: the folder holding ``train/`` and ``test/`` (one of them is enough).
        cache_dir: where decoded ``.stem.mp4`` streams go; None: a folder under the system temp folder named
            after ``root``, so a second load reuses it.
    Returns:
        Songs with ``song`` = folder (or file) name, ``artist`` = the text before `` - ``, tracks drums, bass,
        other, vocals (roles ``MUSDB_ROLES``), ``mix`` = mixture, ``metadata["split"]`` = ``"train"``,
        ``"validation"`` (the official 14 of :data:`VALIDATION_SONGS`, found in the train folder) or ``"test"``.
    Raises:
        DatasetError: neither split folder; an empty split folder; a song folder missing a stem file;
            ``.stem.mp4`` files without ffmpeg on PATH, or that ffmpeg cannot split into 5 streams.
    """
    root = require_dir(Path(root), _LAYOUT, "point at the folder that holds train/ and test/")
    splits = [s for s in SPLITS if (root / s).is_dir()]
    if not splits:
        raise DatasetError(f"{root}: expected {_LAYOUT}, found neither; fix: point at the folder that holds them")
    cache = Path(cache_dir) if cache_dir is not None else _default_cache(root)
    songs = []
    for split in splits:
        folder = root / split
        wav_songs = subfolders(folder)
        # a song present in both versions is read from its WAV folder (lossless, nothing to decode)
        mp4_songs = [p for p in sorted(folder.glob("*.stem.mp4"))
                     if p.name[: -len(".stem.mp4")] not in {w.name for w in wav_songs}]
        found = [*((p, False) for p in wav_songs), *((p, True) for p in mp4_songs)]
        if not found:
            raise DatasetError(
                f"{folder}: expected song folders or .stem.mp4 files, found none; "
                "fix: unpack the dataset archive here or remove the empty folder"
            )
        for path, is_mp4 in sorted(found, key=lambda item: item[0].name):
            name = path.name[: -len(".stem.mp4")] if is_mp4 else path.name
            files = _decode_stem_mp4(path, cache / split / name) if is_mp4 else _wav_stems(path)
            artist, title = split_artist(name)
            songs.append(Song(
                dataset="musdb18", song=name, artist=artist, mix=files["mixture"],
                tracks=[TrackFile(stem, files[stem], MUSDB_ROLES[stem], stem) for stem in MUSDB_STEMS[1:]],
                metadata={"split": "validation" if split == "train" and name in VALIDATION_SONGS else split,
                          "title": title, "source": "stem.mp4" if is_mp4 else "wav"},
            ))
    return songs


def _wav_stems(folder: Path) -> dict[str, Path]:
    files = {stem: folder / f"{stem}.wav" for stem in MUSDB_STEMS}
    missing = [p.name for p in files.values() if not p.is_file()]
    if missing:
        raise DatasetError(
            f"{folder}: expected {', '.join(f'{s}.wav' for s in MUSDB_STEMS)}, found {', '.join(missing)} missing; "
            "fix: restore the song from the archive or remove its folder"
        )
    return files


def _default_cache(root: Path) -> Path:
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "mixdown-musdb18" / digest


def _decode_stem_mp4(path: Path, out: Path) -> dict[str, Path]:
    """The five streams of ``path`` as WAV files in ``out`` (decoded now unless a newer copy is there)."""
    files = {stem: out / f"{stem}.wav" for stem in MUSDB_STEMS}
    mtime = path.stat().st_mtime
    if all(p.is_file() and p.stat().st_mtime >= mtime for p in files.values()):
        return files
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise DatasetError(
            f"{path}: expected ffmpeg on PATH to decode .stem.mp4 streams, found no ffmpeg; fix: install ffmpeg "
            "(e.g. `apt-get install ffmpeg`) or use the WAV version (MUSDB18-HQ, or `musdbconvert`)"
        )
    out.mkdir(parents=True, exist_ok=True)
    for index, stem in enumerate(MUSDB_STEMS):
        # atomic: an interrupted decode never leaves a truncated WAV that a later load would trust
        with atomic_path(files[stem]) as tmp:
            result = subprocess.run(
                [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(path), "-map", f"0:a:{index}",
                 "-c:a", "pcm_s16le", "-f", "wav", str(tmp)],
                capture_output=True, text=True, check=False,
            )
            if result.returncode != 0:
                detail = (result.stderr.strip().splitlines() or ["no message"])[-1]
                raise DatasetError(
                    f"{path}: expected 5 audio streams ({', '.join(MUSDB_STEMS)}), found ffmpeg could not decode "
                    f"stream {index} ({stem}): {detail}; fix: download the file again"
                )
    return files
