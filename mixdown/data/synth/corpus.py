"""The synthetic multitrack corpus: MIDI rendered into per-instrument dry stems, the way Slakh2100 was made.

Each song draws, from ``numpy.random.default_rng([seed, index])``: a source piece, a soundfont, programs within
each part's GM group (``gm.PROGRAM_GROUPS``; a chorale's four voices get a choir, strings, organ, brass, winds or
sax ensemble), tempo (+-10 %), transposition (+-3 semitones, half the songs), humanisation (timing and velocity)
and an excerpt start. Each part is rendered alone and dry; drums are split into kit pieces.

Layout: ``OUT/<song>/<stem>.wav`` (24-bit, stereo, equal lengths), ``OUT/<song>/mix.wav`` when the MIDI carries
a composer mix (CC7/CC10/CC91), ``OUT/<song>/metadata.json``, ``OUT/corpus.json``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixdown.audio.io import WRITE_FORMATS, write_audio
from mixdown.data.item import Song
from mixdown.data.loaders.synth import DATASET, load_synth, song_from_metadata
from mixdown.data.synth import midi as m
from mixdown.data.synth.gm import (
    DRUM_CHANNEL,
    program_family,
    program_group,
    program_name,
    program_role,
)
from mixdown.data.synth.render import (
    check_soundfont,
    find_fluidsynth,
    installed_soundfonts,
    render_midi,
)
from mixdown.data.synth.sources import check_sources, pick
from mixdown.errors import ParameterError
from mixdown.export.files import write_text_atomic

__all__ = ["DATASET", "composer_mix", "load_synth", "synth_corpus"]  # DATASET, load_synth: the loader's

PEAK_CEILING_DBFS = -1.0  # stems and mix are scaled down to peak at most here
SILENT_DBFS = -60.0  # a stem peaking below this is skipped as silent
_RENDER_GAIN = 0.5
# Voice ensembles for scores whose parts name no instrument, soprano to bass (extra voices repeat the last).
_ENSEMBLES = {
    "choir": (52, 53, 52, 53),
    "strings": (40, 40, 41, 42),
    "organ": (19, 19, 19, 19),
    "brass": (56, 60, 57, 58),
    "winds": (73, 68, 71, 70),
    "saxes": (64, 65, 66, 67),
}
Progress = Callable[[int, int, str], None]


def composer_mix(mix: dict[int, dict[int, int]], channel: int) -> dict[str, float | None]:
    """One channel's composer mix: gain_db = 40 log10(CC7/127) (GM volume curve), pan = (CC10-64)/64,
    reverb_send = CC91/127; None where the file does not set the controller."""
    cc = mix.get(channel, {})
    return {
        "gain_db": None if 7 not in cc else round(40 * math.log10(max(cc[7], 1) / 127), 2),
        "pan": None if 10 not in cc else round(max(-1.0, (cc[10] - 64) / 64), 4),
        "reverb_send": None if 91 not in cc else round(cc[91] / 127, 4),
    }


def synth_corpus(out_dir: str | os.PathLike, songs: int, seconds: float = 30.0, seed: int = 0,
                 sources: Sequence[str | os.PathLike] = ("music21", "groove"), *,
                 soundfonts: Sequence[str | os.PathLike] | None = None, sample_rate: int = 44100,
                 split_drums: bool = True, jobs: int = 2, fluidsynth: str | os.PathLike = "fluidsynth",
                 audio_format: str = "float32", progress: Progress | None = None) -> list[Song]:
    """Render ``songs`` synthetic multitrack songs of ``seconds`` each into ``out_dir``.

    Args:
        out_dir: created if missing; existing songs of the same ids are replaced.
        songs: how many songs (>= 1).
        seconds: length of every stem, s.
        seed: everything is drawn from ``default_rng([seed, index])``; the same seed gives identical files.
        sources: ``"music21"`` (Bach chorales), ``"groove"`` (generated band with drums) and/or folders of
            .mid files; song ``i`` uses ``sources[i % len(sources)]``.
        soundfonts: .sf2/.sf3 files to draw from; default the installed Debian GM soundfonts.
        split_drums: True writes kit pieces (kick, snare, hihat, toms, overheads_room, percussion); False one
            ``drum_kit`` stem.
        jobs: fluidsynth processes at once (one per stem).
        audio_format: a :data:`mixdown.audio.io.WRITE_FORMATS` name. The default 32-bit float WAV keeps the
            renders exactly and is what training reads fastest: a 6 s stereo excerpt takes 0.27 ms to read,
            against 1.7 ms from 24-bit PCM ("wav24", a quarter smaller on disk) and 0.8 ms from "wav16".
        progress: ``progress(done, total, stage)`` after each song; stage is the song id.
    Returns:
        the songs written, as :class:`Song` items (``dataset="synth"``).
    Raises:
        MixdownError: fluidsynth missing; ParameterError: bad argument or soundfont.
    """
    if not isinstance(songs, int) or songs < 1 or not seconds > 0 or jobs < 1:
        raise ParameterError(f"synth_corpus: expected songs >= 1, seconds > 0, jobs >= 1, found {songs}, {seconds}, "
                             f"{jobs}")
    if audio_format not in WRITE_FORMATS:
        raise ParameterError(f"synth_corpus: expected audio_format one of {sorted(WRITE_FORMATS)}, found "
                             f"{audio_format!r}")
    exe = find_fluidsynth(fluidsynth)
    fonts = [check_soundfont(f) for f in soundfonts] if soundfonts is not None else installed_soundfonts()
    srcs = check_sources(sources)
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    made: list[Song] = []
    with ThreadPoolExecutor(jobs) as pool, tempfile.TemporaryDirectory(dir=root, prefix=".synth-") as scratch:
        for index in range(songs):
            rng = np.random.default_rng([seed, index])
            made.append(_song(root, Path(scratch), index, rng, srcs[index % len(srcs)], fonts, seconds, seed,
                              sample_rate, split_drums, exe, pool, audio_format))
            if progress:
                progress(index + 1, songs, made[-1].song)
    index_doc = {"dataset": DATASET, "seed": seed, "seconds": seconds, "sample_rate": sample_rate,
                 "songs": [s.song for s in made]}
    write_text_atomic(root / "corpus.json", json.dumps(index_doc, indent=1))
    return made


def _programs(perf: m.Performance, source: dict, rng: np.random.Generator) -> list[int]:
    """A program per part: a voice ensemble for unnamed score voices, else a program of the part's GM group."""
    if source.get("ensemble"):
        name = sorted(_ENSEMBLES)[int(rng.integers(len(_ENSEMBLES)))]
        source["ensemble"] = name
        voices = _ENSEMBLES[name]
        return [voices[min(i, len(voices) - 1)] for i in range(len(perf.parts))]
    out = []
    for part in perf.parts:
        first, last, _ = program_group(part.program)
        out.append(part.program if part.is_drums or rng.random() < 0.3 else int(rng.integers(first, last + 1)))
    return out


@dataclass
class _Stem:
    """One stem to render: its file name, the notes, its role, the part's source channel and velocity scale."""

    name: str
    part: m.Part
    role: str
    source_channel: int
    velocity_scale: float


def _arrange(perf: m.Performance, info: dict, rng: np.random.Generator, seconds: float,
             split_drums: bool) -> tuple[list[_Stem], list[m.Part], dict[int, dict[int, int]], dict]:
    """Vary and cut the piece: (stems, whole parts for the mix, the mix's CCs by new channel, the settings)."""
    programs = _programs(perf, info, rng)
    tempo = float(rng.uniform(0.9, 1.1))
    transpose = int(rng.integers(-3, 4)) if rng.random() < 0.5 else 0
    timing_ms, jitter = float(rng.uniform(2, 12)), float(rng.uniform(2, 8))
    last = perf.duration_s / tempo - seconds
    onsets = sorted(n.start_s / tempo for p in perf.parts for n in p.notes if n.start_s / tempo <= last)
    start = max(0.0, float(onsets[int(rng.integers(len(onsets)))]) - 0.05) if onsets else 0.0
    # One channel per pitched part (score exporters put every voice on one channel); drums stay on channel 10.
    free = iter(c % 16 for c in range(64) if c % 16 != DRUM_CHANNEL)
    stems: list[_Stem] = []
    whole: list[m.Part] = []
    mix: dict[int, dict[int, int]] = {}
    taken: dict[str, int] = {}
    for part, program in zip(perf.parts, programs):
        channel = DRUM_CHANNEL if part.is_drums else next(free)
        scale = float(rng.uniform(0.75, 1.05))
        varied = m.vary(m.Part(channel, program, part.notes, part.controls), rng, tempo_factor=tempo,
                        transpose=transpose, timing_ms=timing_ms, velocity_scale=scale, velocity_jitter=jitter)
        cut = m.excerpt(varied, start, seconds)
        if not cut.notes:
            continue
        whole.append(cut)
        if part.channel in perf.mix:
            mix[channel] = perf.mix[part.channel]
        for piece in m.split_drums(cut) if cut.is_drums and split_drums else [cut]:
            role = piece.piece or ("drum_kit" if piece.is_drums else program_role(piece.program))
            taken[role] = taken.get(role, 0) + 1
            name = role if taken[role] == 1 else f"{role}_{taken[role]}"
            stems.append(_Stem(name, piece, role, part.channel, scale))
    settings = {"tempo_factor": round(tempo, 4), "transpose": transpose, "start_s": round(start, 4),
                "humanise": {"timing_ms": round(timing_ms, 3), "velocity_jitter": round(jitter, 3)}}
    return stems, whole, mix, settings


def _describe(stem: _Stem) -> dict:
    part = stem.part
    return {"stem": stem.name, "role": stem.role, "channel": stem.source_channel + 1, "notes": len(part.notes),
            "program": None if part.is_drums else part.program,
            "instrument": (f"GM drum kit ({part.piece})" if part.piece else "GM drum kit") if part.is_drums
            else program_name(part.program),
            "family": "Drums" if part.is_drums else program_family(part.program),
            "velocity_scale": round(stem.velocity_scale, 4)}


def _write(folder: Path, name: str, audio: np.ndarray, sample_rate: int, audio_format: str) -> dict:
    """Write a render scaled to peak at most ``PEAK_CEILING_DBFS`` as ``folder/name.wav`` (``.flac``); what was
    measured and done, for metadata."""
    peak_db, scale_db = _level(audio)
    path = folder / f"{name}{WRITE_FORMATS[audio_format][3][0]}"
    report = write_audio(path, audio * 10 ** (scale_db / 20), sample_rate, format=audio_format)
    return {"file": path.name, "peak_dbfs": round(peak_db + scale_db, 2), "render_peak_dbfs": round(peak_db, 2),
            "scaled_db": round(scale_db, 2), "clipped_samples": report.clipped_samples}


def _song(root, scratch, index, rng, source, fonts, seconds, seed, sample_rate, split_drums, exe, pool,
          audio_format) -> Song:
    perf, info = pick(source, rng, seconds)
    font = fonts[int(rng.integers(len(fonts)))]
    stems, whole, mix, settings = _arrange(perf, info, rng, seconds, split_drums)
    song_id = f"{index:05d}-{info['kind']}"
    folder = root / song_id
    folder.mkdir(exist_ok=True)
    frames = round(seconds * sample_rate)

    def render(name: str, parts: list[m.Part], mix=None) -> np.ndarray:
        mid = m.write_midi(scratch / f"{song_id}-{name}.mid", parts, mix)
        audio = render_midi(mid, scratch / f"{song_id}-{name}.wav", font, sample_rate=sample_rate,
                            gain=_RENDER_GAIN, effects=mix is not None, fluidsynth=exe)
        out = np.zeros((2, frames), np.float32)  # every stem exactly `seconds` long: release tails cut, pads
        out[:, : min(frames, audio.shape[1])] = audio[:, :frames]
        return out

    jobs = [pool.submit(render, stem.name, [stem.part]) for stem in stems]
    mix_job = pool.submit(render, "mix", whole, mix) if perf.mix else None
    instruments, skipped = [], []
    for stem, job in zip(stems, jobs):
        audio, entry = job.result(), _describe(stem)
        if _level(audio)[0] < SILENT_DBFS:
            skipped.append({**entry, "peak_dbfs": round(_level(audio)[0], 2)})
            continue
        entry.update(_write(folder, stem.name, audio, sample_rate, audio_format))
        if perf.mix:
            entry["composer_mix"] = composer_mix(perf.mix, stem.source_channel)
        instruments.append(entry)
    mix_info = None if mix_job is None else _write(folder, "mix", mix_job.result(), sample_rate, audio_format)
    meta = {
        "song": song_id, "dataset": DATASET, "source": info, "licence": info["licence"], "seed": seed,
        "index": index, "seconds": seconds, "sample_rate": sample_rate, "soundfont": font.name, **settings,
        "render_gain": _RENDER_GAIN, "instruments": instruments, "skipped_silent": skipped, "mix": mix_info,
    }
    write_text_atomic(folder / "metadata.json", json.dumps(meta, indent=1))
    return song_from_metadata(folder, meta)


def _level(audio: np.ndarray) -> tuple[float, float]:
    """(peak dBFS, gain dB that brings the peak to the ceiling or leaves it, <= 0)."""
    peak = float(np.abs(audio).max(initial=0.0))
    peak_db = 20 * math.log10(peak) if peak > 0 else -math.inf
    return peak_db, min(0.0, PEAK_CEILING_DBFS - peak_db) if peak > 0 else 0.0


