"""People's mixing decisions: songs whose authors mixed them, rendered with and without their mix (issue 18).

A MIDI song whose author set each channel's volume (CC7), pan (CC10) and reverb send (CC91) carries a real mix
decision per track. Each such song is rendered from the same notes three ways, with one soundfont:

* ``dry/<stem>.wav``: each part alone at CC7 100, centre, no reverb or chorus: the stems a mixer is given;
* ``wet/<stem>.wav``: each part alone with its channel's CC7 and CC10, effects off: the author's level and pan
  of that track (the reverb send is in the metadata; its return is in the mix);
* ``mix.wav``: the whole song with the author's controls and fluidsynth's reverb and chorus on: the author's mix.

Every file of a song is scaled by one common factor (the loudest of them peaks at -1 dBFS), so levels compare
across dry, wet and mix. Drum kits are split into pieces (kick, snare, hi-hat, ...), each with the kit channel's
settings. ``metadata.json`` holds, per stem, the declared settings (``gain_db = 40 log10(CC7 / 100)``, the GM
volume curve relative to the dry stems' CC7 100; ``pan = (CC10 - 64) / 64``; ``reverb_send = CC91 / 127``), the
**render check** (the wet stem against the dry stem times one gain per channel: correlation, residual, the level
and pan that gain reads), the song's licence and its split. ``corpus.json`` lists the songs and the split.

The split is by song and stable: a song is held out when the first byte of the SHA-256 of its name is below
64 (a quarter of the songs), whatever else the corpus holds. Only the training songs may fit anything.

Sources: ``"openmsx"`` (Debian's openttd-openmsx, GPL-2.0), ``"hydrogen"`` (the demo songs of the Hydrogen drum
machine, Debian's hydrogen-data and hydrogen-drumkits, GPL-2+) or folders of ``.mid`` and ``.h2song`` files; songs
whose file sets no CC7, CC10 or CC91 are skipped (no author's mix to learn from). A Hydrogen song is rendered in
Python from its drumkit's samples (:mod:`mixdown.data.synth.hydrogen`): one stem per drum instrument, dry at fader
1.0 and centred, wet at the author's fader volume and pan, the mix the sum of the wet stems; its declared settings
are ``gain_db = 20 log10(volume)`` and Hydrogen's pan with the song's pan law. Song names start with ``h2_``.
The LMMS projects that Debian's lmms packages bundle are the project's blind evaluation set: never a source here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from mixdown.audio.io import write_audio
from mixdown.data.synth import hydrogen as h2
from mixdown.data.synth import midi as m
from mixdown.data.synth.gm import DRUM_CHANNEL, program_family, program_name, program_role
from mixdown.data.synth.render import check_soundfont, find_fluidsynth, installed_soundfonts, render_midi
from mixdown.data.synth.sources import _LICENCES, OPENMSX_FOLDER, _midi_files
from mixdown.errors import DatasetError, ParameterError
from mixdown.export.files import write_text_atomic

__all__ = ["HELD_OUT_SHARE", "is_held_out", "people_corpus", "render_check"]

HELD_OUT_SHARE = 0.25
_PEAK_CEILING_DBFS = -1.0
_RENDER_GAIN = 0.5
_DRY_CC7 = 100
Progress = Callable[[int, int, str], None]


def is_held_out(song: str) -> bool:
    """Whether ``song`` (its name) belongs to the held-out quarter (module docstring)."""
    return hashlib.sha256(song.encode()).digest()[0] < round(256 * HELD_OUT_SHARE)


def declared_settings(cc: dict[int, int]) -> dict:
    """The author's settings of one channel: CC values and what they mean (module docstring)."""
    volume, position, send = cc.get(7, _DRY_CC7), cc.get(10, 64), cc.get(91, 0)
    return {"cc7": volume, "cc10": position, "cc91": send,
            "gain_db": round(40 * math.log10(max(volume, 1) / _DRY_CC7), 3),
            "pan": round(max(-1.0, (position - 64) / 64), 4), "reverb_send": round(send / 127, 4)}


def render_check(dry: np.ndarray, wet: np.ndarray) -> dict:
    """The wet stem against the dry one times one gain per channel, ``(2, samples)`` each: the gains, the level
    and pan they read (``10 log10((g_L^2 + g_R^2) / 2)`` dB; ``4 atan2(g_R, g_L) / pi - 1``), the correlation of
    ``wet`` with ``gains * dry`` and the residual energy against the wet stem's, dB."""
    d, w = dry.astype(np.float64), wet.astype(np.float64)
    energy = (d * d).sum(1)
    gains = np.where(energy > 0, (d * w).sum(1) / np.where(energy > 0, energy, 1.0), 0.0)
    fitted = gains[:, None] * d
    residual, total = float(((w - fitted) ** 2).sum()), float((w * w).sum())
    norm = math.sqrt(float((fitted * fitted).sum()) * total)
    with np.errstate(divide="ignore"):
        return {"gains": [round(float(g), 6) for g in gains],
                "level_db": round(float(10 * np.log10((gains**2).sum() / 2)), 3) if gains.any() else None,
                "pan": round(float(4 * math.atan2(abs(gains[1]), abs(gains[0])) / math.pi - 1), 4),
                "correlation": round(float((w * fitted).sum()) / norm, 6) if norm > 0 else None,
                "residual_db": round(10 * math.log10(residual / total), 2) if residual > 0 and total > 0 else None}


def people_corpus(out_dir: str | os.PathLike, sources: Sequence[str | os.PathLike] = ("openmsx",), *,
                  seconds: float | None = 90.0, songs: int | None = None, soundfont: str | os.PathLike | None = None,
                  sample_rate: int = 44100, jobs: int = 2, fluidsynth: str | os.PathLike = "fluidsynth",
                  progress: Progress | None = None) -> list[dict]:
    """Render the songs of ``sources`` that carry an author's mix into ``out_dir`` (module docstring).

    Args:
        out_dir: created if missing; a song already there is rendered again.
        sources: ``"openmsx"``, ``"hydrogen"`` and/or folders of ``.mid`` and ``.h2song`` files, in name order.
        seconds: the first ``seconds`` of each song (None: whole songs).
        songs: at most this many songs (None: all).
        soundfont: one .sf2/.sf3 for every MIDI render (default: the first installed GM soundfont).
        jobs: fluidsynth processes at once (Hydrogen songs render in this process).
        progress: ``progress(done, total, song)`` after each song.
    Returns:
        each song's metadata (as written to its ``metadata.json``).
    Raises:
        DatasetError: a source that is not there, or a Hydrogen song or sample that cannot be used;
        ParameterError: bad arguments; MixdownError: fluidsynth missing (only needed for MIDI songs).
    """
    if (seconds is not None and not seconds > 0) or (songs is not None and songs < 1) or jobs < 1:
        raise ParameterError(f"people_corpus: expected seconds > 0, songs >= 1 and jobs >= 1, found {seconds}, "
                             f"{songs}, {jobs}")
    files = _source_files(sources)
    exe = font = None
    if any(path.suffix.lower() != ".h2song" for path, _ in files):
        exe = find_fluidsynth(fluidsynth)
        font = check_soundfont(soundfont) if soundfont is not None else installed_soundfonts()[0]
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    made: list[dict] = []
    with ThreadPoolExecutor(jobs) as pool, tempfile.TemporaryDirectory(dir=root, prefix=".people-") as scratch:
        for path, licence in files:
            if songs is not None and len(made) >= songs:
                break
            if path.suffix.lower() == ".h2song":
                meta = _hydrogen_song(root, path, licence, seconds, sample_rate)
            else:
                meta = _song(root, Path(scratch), path, licence, font, seconds, sample_rate, exe, pool)
            if meta is not None:
                made.append(meta)
                if progress:
                    progress(len(made), songs or len(files), meta["song"])
    index = {"dataset": "people", "soundfont": font.name if font else None, "sample_rate": sample_rate,
             "seconds": seconds, "held_out_share": HELD_OUT_SHARE,
             "songs": [{"song": s["song"], "split": s["split"], "source": s["source"], "licence": s["licence"],
                        "stems": len(s["stems"]), "seconds": s["seconds"]} for s in made]}
    write_text_atomic(root / "corpus.json", json.dumps(index, indent=1))
    return made


def _source_files(sources) -> list[tuple[Path, dict]]:
    out = []
    for source in sources:
        if str(source) == "openmsx":
            if not OPENMSX_FOLDER.is_dir():
                raise DatasetError(f"people: expected the OpenMSX songs in {OPENMSX_FOLDER}, found nothing there; "
                                   "fix: sudo apt-get install openttd-openmsx (or bash scripts/install_system_deps.sh)")
            out += [(p, {"kind": "openmsx", "licence": _LICENCES["openmsx"]}) for p in _midi_files(str(OPENMSX_FOLDER))]
        elif str(source) == "hydrogen":
            out += [(p, {"kind": "hydrogen", "licence": h2.song_licence(p)}) for p in h2.song_files()]
        else:
            folder = Path(source)
            if not folder.is_dir():
                raise DatasetError(f"people: expected 'openmsx', 'hydrogen' or a folder of .mid files (or .h2song "
                                   f"files), found {str(source)!r}; fix: check the path")
            songs = [*_midi_files(str(folder)), *sorted(folder.rglob("*.h2song"))]
            out += [(p, {"kind": "folder", "licence": _LICENCES["folder"]}) for p in songs]
    return out


def _stems(perf: m.Performance, seconds: float) -> list[tuple[str, m.Part]]:
    """``(name, part)`` per stem: each part cut to ``seconds``, drum kits split into pieces, names unique."""
    taken: dict[str, int] = {}
    out = []
    for part in perf.parts:
        cut = m.excerpt(part, 0.0, seconds)
        if not cut.notes:
            continue
        for piece in m.split_drums(cut) if cut.is_drums else [cut]:
            role = piece.piece or program_role(piece.program)
            taken[role] = taken.get(role, 0) + 1
            out.append((role if taken[role] == 1 else f"{role}_{taken[role]}", piece))
    return out


def _song(root, scratch, path: Path, licence: dict, font, seconds, sample_rate, exe, pool) -> dict | None:
    perf = m.read_midi(path)
    if not any(cc for cc in perf.mix.values()):
        return None  # no author's mix in this file
    length = perf.duration_s if seconds is None else min(seconds, perf.duration_s)
    stems = _stems(perf, length)
    if not stems:
        return None
    name = path.stem
    frames = round(length * sample_rate)
    folder = root / name

    def render(label: str, parts: list[m.Part], mix, effects: bool) -> np.ndarray:
        mid = m.write_midi(scratch / f"{name}-{label}.mid", parts, mix)
        audio = render_midi(mid, scratch / f"{name}-{label}.wav", font, sample_rate=sample_rate, gain=_RENDER_GAIN,
                            effects=effects, fluidsynth=exe)
        out = np.zeros((2, frames), np.float32)
        out[:, : min(frames, audio.shape[1])] = audio[:, :frames]
        return out

    def controls(channel: int) -> dict[int, dict[int, int]]:
        cc = perf.mix.get(channel, {})
        return {channel: {7: cc.get(7, _DRY_CC7), 10: cc.get(10, 64), 91: 0, 93: 0}}

    dry_jobs = [pool.submit(render, f"dry-{s}", [part], None, False) for s, part in stems]
    wet_jobs = [pool.submit(render, f"wet-{s}", [part], controls(part.channel), False) for s, part in stems]
    whole = [m.excerpt(part, 0.0, length) for part in perf.parts]
    mix_job = pool.submit(render, "mix", [p for p in whole if p.notes], perf.mix, True)
    dry, wet, mix = [j.result() for j in dry_jobs], [j.result() for j in wet_jobs], mix_job.result()
    tracks = [({"stem": stem, "channel": part.channel + 1, "notes": len(part.notes),
                "instrument": (f"GM drum kit ({part.piece})" if part.piece else "GM drum kit") if part.is_drums
                else program_name(part.program),
                "family": "Drums" if part.channel == DRUM_CHANNEL else program_family(part.program),
                "role": part.piece or program_role(part.program),
                "declared": declared_settings(perf.mix.get(part.channel, {}))}, d, w)
              for (stem, part), d, w in zip(stems, dry, wet)]
    meta = {"song": name, "dataset": "people", "source": {"kind": licence["kind"], "file": path.name},
            "licence": licence["licence"], "split": "held_out" if is_held_out(name) else "train",
            "seconds": round(length, 3), "sample_rate": sample_rate, "soundfont": font.name,
            "render_gain": _RENDER_GAIN}
    return _write_song(folder, meta, tracks, mix, sample_rate)


def _write_song(folder: Path, meta: dict, tracks: list[tuple[dict, np.ndarray, np.ndarray]], mix: np.ndarray,
                sample_rate: int) -> dict:
    """Write a song's stems (``(entry, dry, wet)`` each; silent dry stems left out), mix and metadata, all under
    one scale (the loudest file peaks at -1 dBFS); ``meta`` with ``scale_db`` and ``stems``."""
    peak = max(float(np.abs(a).max(initial=0.0)) for a in (*(d for _, d, _ in tracks), *(w for *_, w in tracks), mix))
    scale_db = min(0.0, _PEAK_CEILING_DBFS - 20 * math.log10(peak)) if peak > 0 else 0.0
    scale = 10 ** (scale_db / 20)
    for sub in ("dry", "wet"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    entries = []
    for entry, d, w in tracks:
        if not np.abs(d).max(initial=0.0) > 0:
            continue
        for sub, audio in (("dry", d), ("wet", w)):
            write_audio(folder / sub / f"{entry['stem']}.wav", audio * scale, sample_rate, format="float32")
        entries.append({**entry, "render_check": render_check(d, w)})
    write_audio(folder / "mix.wav", mix * scale, sample_rate, format="float32")
    meta = {**meta, "scale_db": round(scale_db, 3), "stems": entries}
    write_text_atomic(folder / "metadata.json", json.dumps(meta, indent=1))
    return meta


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _hydrogen_song(root: Path, path: Path, licence: dict, seconds, sample_rate: int) -> dict | None:
    """A Hydrogen song as ``h2_<file name>``: one stem per drum instrument (module docstring); None without notes."""
    song = h2.read_song(path)
    frames, rendered = h2.render_tracks(song, seconds, sample_rate)
    if not rendered:
        return None  # no note to play
    name = "h2_" + _slug(path.stem)
    taken: dict[str, int] = {}
    tracks = []
    for instrument in song.instruments:
        if instrument.id not in rendered:
            continue
        dry, wet, notes = rendered[instrument.id]
        stem = _slug(instrument.name) or f"instrument_{_slug(instrument.id)}"
        taken[stem] = taken.get(stem, 0) + 1
        first_sample = instrument.components[0][1][0].file if instrument.components else ""
        tracks.append(({"stem": stem if taken[stem] == 1 else f"{stem}_{taken[stem]}", "instrument_id": instrument.id,
                        "notes": notes, "instrument": instrument.name, "kit": instrument.drumkit, "family": "Drums",
                        "role": h2.drum_role(instrument.name, first_sample),
                        "declared": h2.declared_settings(instrument, song)}, dry, wet))
    mix = np.sum([wet for _, _, wet in tracks], axis=0, dtype=np.float32)
    meta = {"song": name, "dataset": "people",
            "source": {"kind": licence["kind"], "file": path.name, "title": song.title, "author": song.author,
                       "licence_field": song.licence_field, "hydrogen_version": song.version, "kits": song.kits},
            "licence": licence["licence"], "split": "held_out" if is_held_out(name) else "train",
            "seconds": round(frames / sample_rate, 3), "sample_rate": sample_rate,
            "renderer": "mixdown.data.synth.hydrogen", "bpm": song.bpm, "pan_law": song.pan_law,
            "swing_factor": song.swing, "master_volume": song.volume, "ignored": song.ignored,
            "muted": [i.name for i in song.instruments if i.muted]}
    return _write_song(root / name, meta, tracks, mix, sample_rate)
