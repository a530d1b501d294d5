"""MIDI as notes in seconds: read a file, vary it (tempo, transposition, humanisation), cut an excerpt, split it
into one part per instrument (drum kit pieces apart) and write parts back as MIDI files for fluidsynth.

A file is flattened to absolute seconds through its own tempo map, so every later step works in seconds and the
written files use one fixed tempo (``_TEMPO_US`` per beat at ``_TICKS_PER_BEAT``: 0.52 ms per tick).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import mido
import numpy as np

from mixdown.data.synth.gm import DRUM_CHANNEL, drum_piece
from mixdown.errors import AudioInputError

__all__ = [
    "MIX_CONTROLS",
    "Note",
    "Part",
    "Performance",
    "excerpt",
    "read_midi",
    "split_drums",
    "vary",
    "write_midi",
]

_TICKS_PER_BEAT = 960
_TEMPO_US = 500_000  # 120 bpm
_PLAYING_CONTROLS = (1, 11, 64)  # modulation, expression, sustain: part of the performance, kept on every stem
MIX_CONTROLS = (7, 10, 91)  # volume, pan, reverb send: the composer's mix, kept out of the dry stems
_DRY = ((7, 100), (10, 64), (91, 0), (93, 0))  # every dry stem: nominal volume, centre, no reverb, no chorus
_MIN_NOTE_S = 0.01


@dataclass(frozen=True)
class Note:
    """One note: onset and release in seconds, MIDI pitch, velocity 1..127."""

    start_s: float
    end_s: float
    pitch: int
    velocity: int


@dataclass
class Part:
    """One instrument: its channel (0-based; 9 is GM drums), GM program, notes and playing controls.

    ``controls`` are ``(time_s, number, value)``; number -1 is the pitch wheel (value -8192..8191).
    ``piece`` names the kit piece of a split drum part ("kick", ...), "" otherwise.
    """

    channel: int
    program: int
    notes: list[Note]
    controls: list[tuple[float, int, int]] = field(default_factory=list)
    piece: str = ""

    @property
    def is_drums(self) -> bool:
        return self.channel == DRUM_CHANNEL


@dataclass
class Performance:
    """A MIDI file in seconds: its parts, the first CC7/CC10/CC91 of each channel, and its length."""

    parts: list[Part]
    mix: dict[int, dict[int, int]]
    duration_s: float


def read_midi(path: str | os.PathLike) -> Performance:
    """Read a Standard MIDI File (type 0 or 1) into parts keyed by (track, channel, program at each onset).

    Parts are told apart by track too, because score exporters (music21) often put every voice on channel 1.

    Raises:
        AudioInputError: the file is missing, not MIDI, or of type 2 (independent sequences have no common time).
    """
    path = Path(path)
    try:
        midi = mido.MidiFile(path)
        if midi.type == 2:
            raise ValueError("type 2 (independent sequences)")
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise AudioInputError(
            f"{path}: expected a Standard MIDI File of type 0 or 1, found an unreadable file ({exc}); "
            "fix: remove it from the folder or re-export it as type 1 MIDI"
        ) from exc
    timed = []
    for index, track in enumerate(midi.tracks):
        tick = 0
        for msg in track:
            tick += msg.time
            timed.append((tick, index, msg))
    timed.sort(key=lambda e: (e[0], e[1]))
    seconds = _tempo_map(timed, midi.ticks_per_beat)
    return _perform([(seconds(tick), index, msg) for tick, index, msg in timed])


def _tempo_map(timed, ticks_per_beat: int):
    """A function ticks -> seconds through every set_tempo of the file (default 120 bpm)."""
    changes = [(0, 500_000)] + [(t, m.tempo) for t, _, m in timed if m.type == "set_tempo"]
    starts, elapsed = [], 0.0
    for i, (t, tempo) in enumerate(changes):
        if i:
            elapsed += (t - changes[i - 1][0]) * changes[i - 1][1] / 1e6 / ticks_per_beat
        starts.append((t, elapsed, tempo))
    ticks = np.array([s[0] for s in starts])

    def seconds(tick: int) -> float:
        t, at, tempo = starts[int(np.searchsorted(ticks, tick, side="right")) - 1]
        return at + (tick - t) * tempo / 1e6 / ticks_per_beat

    return seconds


def _perform(timed) -> Performance:
    program = {}
    sounding: dict[tuple[int, int, int], list[tuple[float, int, int]]] = {}
    parts: dict[tuple[int, int, int], Part] = {}
    controls: dict[tuple[int, int], list[tuple[float, int, int]]] = {}
    mix: dict[int, dict[int, int]] = {}
    now = 0.0

    def close(key: tuple[int, int, int], end: float) -> None:
        start, velocity, prog = sounding[key].pop(0)
        track, channel, _ = key
        part_key = (track, channel, 0 if channel == DRUM_CHANNEL else prog)
        part = parts.setdefault(part_key, Part(channel, part_key[2], []))
        part.notes.append(Note(start, max(end, start + _MIN_NOTE_S), key[2], velocity))

    for now, track, msg in timed:
        if not hasattr(msg, "channel"):
            continue
        c = msg.channel
        if msg.type == "program_change":
            program[c] = msg.program
        elif msg.type == "note_on" and msg.velocity > 0:
            sounding.setdefault((track, c, msg.note), []).append((now, msg.velocity, program.get(c, 0)))
        elif msg.type in ("note_on", "note_off") and sounding.get((track, c, msg.note)):
            close((track, c, msg.note), now)
        elif msg.type == "control_change" and msg.control in MIX_CONTROLS:
            mix.setdefault(c, {}).setdefault(msg.control, msg.value)
        elif msg.type == "control_change" and msg.control in _PLAYING_CONTROLS:
            controls.setdefault((track, c), []).append((now, msg.control, msg.value))
        elif msg.type == "pitchwheel":
            controls.setdefault((track, c), []).append((now, -1, msg.pitch))
    for key in [key for key, stack in sounding.items() for _ in stack]:
        close(key, now)  # notes never released end with the file
    for (track, channel, _), part in parts.items():
        part.notes.sort(key=lambda n: (n.start_s, n.pitch))
        part.controls = list(controls.get((track, channel), []))
    ordered = [parts[k] for k in sorted(parts)]
    return Performance(ordered, mix, now)


def split_drums(part: Part) -> list[Part]:
    """Split a drum part into kit pieces by GM note (``gm.drum_piece``), in kit order; empty pieces left out."""
    pieces: dict[str, list[Note]] = {}
    for note in part.notes:
        pieces.setdefault(drum_piece(note.pitch), []).append(note)
    order = ("kick", "snare", "hihat", "toms", "overheads_room", "percussion")
    return [replace(part, notes=pieces[p], piece=p) for p in order if p in pieces]


def vary(part: Part, rng: np.random.Generator, *, tempo_factor: float, transpose: int, timing_ms: float,
         velocity_scale: float, velocity_jitter: float) -> Part:
    """A humanised copy of ``part``.

    Args:
        tempo_factor: playback speed (1.1 = 10 % faster); all times are divided by it.
        transpose: semitones for pitched parts (drums never move); a note leaving 0..127 moves by octaves.
        timing_ms: standard deviation of each note's random time offset (clipped at 3 sigma).
        velocity_scale: multiplies every velocity (a part's dynamic level).
        velocity_jitter: standard deviation of each note's random velocity offset, in velocity steps.
    Properties: deterministic for a given ``rng`` state; note order and count are preserved.
    """
    n = len(part.notes)
    offsets = np.clip(rng.normal(0.0, timing_ms / 1000.0, n), -3 * timing_ms / 1000, 3 * timing_ms / 1000)
    jitter = rng.normal(0.0, velocity_jitter, n)
    shift = 0 if part.is_drums else transpose
    notes = []
    for note, offset, dv in zip(part.notes, offsets, jitter):
        pitch = note.pitch + shift
        while pitch > 127:
            pitch -= 12
        while pitch < 0:
            pitch += 12
        start = max(0.0, note.start_s / tempo_factor + offset)
        end = max(note.end_s / tempo_factor + offset, start + _MIN_NOTE_S)
        notes.append(Note(start, end, pitch, int(np.clip(round(note.velocity * velocity_scale + dv), 1, 127))))
    controls = [(t / tempo_factor, number, value) for t, number, value in part.controls]
    return replace(part, notes=notes, controls=controls)


def excerpt(part: Part, start_s: float, seconds: float) -> Part:
    """The notes of ``part`` starting in ``[start_s, start_s + seconds)``, shifted to 0 and cut at ``seconds``;
    each playing control starts at its value at ``start_s``."""
    stop = start_s + seconds
    notes = [Note(n.start_s - start_s, min(n.end_s, stop) - start_s, n.pitch, n.velocity)
             for n in part.notes if start_s <= n.start_s < stop]
    state: dict[int, tuple[float, int, int]] = {}
    inside = []
    for t, number, value in part.controls:
        if t < start_s:
            state[number] = (0.0, number, value)
        elif t < stop:
            inside.append((t - start_s, number, value))
    return replace(part, notes=notes, controls=list(state.values()) + inside)


def write_midi(path: str | os.PathLike, parts: list[Part], mix: dict[int, dict[int, int]] | None = None) -> Path:
    """Write parts as one type-0 MIDI file at a fixed tempo (parts sharing a channel should not overlap).

    Args:
        parts: played on their own channels with their own programs (a program change precedes a note whenever
            another part last set that channel's program).
        mix: None writes a dry file (every channel at CC7 100, centre, no reverb or chorus sends); otherwise
            ``{channel: {cc: value}}`` of the composer's CC7/CC10/CC91, written at time 0.
    """
    seconds_per_tick = _TEMPO_US / 1e6 / _TICKS_PER_BEAT

    def tick(t: float) -> int:
        return round(t / seconds_per_tick)

    channels = sorted({p.channel for p in parts})
    events: list[tuple[int, int, int, int, mido.Message]] = []  # (tick, order, channel, program, message)
    for channel in channels:
        settings = _DRY if mix is None else sorted(mix.get(channel, {}).items())
        for number, value in settings:
            events.append((0, 0, channel, -1, mido.Message("control_change", channel=channel, control=number,
                                                           value=value)))
    for part in parts:
        c = part.channel
        for t, number, value in part.controls:
            msg = (mido.Message("pitchwheel", channel=c, pitch=value) if number < 0
                   else mido.Message("control_change", channel=c, control=number, value=value))
            events.append((tick(t), 1, c, -1, msg))
        for n in part.notes:
            # at least one tick long: a note off sorted before its own note on (a note cut to under half a tick
            # at an excerpt's end) would leave the note sounding, and fluidsynth rendering, forever
            end = max(tick(n.end_s), tick(n.start_s) + 1)
            events.append((end, 2, c, -1, mido.Message("note_off", channel=c, note=n.pitch, velocity=0)))
            events.append((tick(n.start_s), 3, c, part.program,
                           mido.Message("note_on", channel=c, note=n.pitch, velocity=n.velocity)))
    events.sort(key=lambda e: e[:3])
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=_TEMPO_US, time=0)])
    current: dict[int, int] = {}
    last = 0
    for at, _, channel, program, msg in events:
        if program >= 0 and current.get(channel) != program:
            current[channel] = program
            track.append(mido.Message("program_change", channel=channel, program=program, time=at - last))
            last = at
        track.append(msg.copy(time=at - last))
        last = at
    midi = mido.MidiFile(type=0, ticks_per_beat=_TICKS_PER_BEAT)
    midi.tracks.append(track)
    midi.save(path)
    return Path(path)
