"""A seeded "pop groove": drums, bass, chords (keys and guitar), a pad and a lead over a four-chord loop.

Simple but musical: a common progression in a random key, one chord per 4/4 bar, a rock beat with crash and tom
fill every fourth bar, a root/fifth bass line, close-voiced triads, and a pentatonic lead that walks by step.
The channels carry CC7/CC10/CC91 so the corpus also gets a composer mix for these songs.
"""

from __future__ import annotations

import numpy as np

from mixdown.data.synth.gm import DRUM_CHANNEL
from mixdown.data.synth.midi import Note, Part, Performance

__all__ = ["groove"]

_PROGRESSIONS = ((0, 7, 9, 5), (9, 5, 0, 7), (0, 9, 5, 7), (2, 7, 0, 0), (0, 5, 7, 5), (0, 5, 9, 7))  # roots
_MINOR = {9, 2, 4}  # scale degrees (semitones above the tonic) that carry a minor triad in a major key
_PENTATONIC = (0, 2, 4, 7, 9)
# channel -> (programs to choose from, CC7, CC10, CC91)
_BAND = {
    0: ((0, 1, 2, 4, 5, 16, 17, 18), 96, 54, 30),  # keys
    1: ((32, 33, 34, 35, 36, 38, 39), 110, 64, 10),  # bass
    2: ((24, 25, 26, 27, 29), 88, 90, 35),  # guitar
    3: ((88, 89, 90, 91, 94, 48, 50), 70, 40, 60),  # pad
    4: ((80, 81, 56, 65, 66, 73, 26), 100, 70, 45),  # lead
    DRUM_CHANNEL: ((0,), 110, 64, 20),
}


def groove(rng: np.random.Generator, seconds: float) -> Performance:
    """A band arrangement at least ``seconds`` long, tempo 84..132 bpm, every choice drawn from ``rng``."""
    bpm = float(rng.uniform(84, 132))
    beat = 60.0 / bpm
    bars = int(np.ceil(seconds / (4 * beat))) + 1
    tonic = 36 + int(rng.integers(0, 12))  # bass octave: C2..B2
    roots = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    parts: dict[int, list[Note]] = {c: [] for c in _BAND}

    def note(channel: int, beat_at: float, beats: float, pitch: int, velocity: float) -> None:
        start = beat_at * beat
        parts[channel].append(Note(start, start + beats * beat * 0.95, int(pitch), int(np.clip(velocity, 1, 127))))

    syncopated = rng.random() < 0.5
    comp = int(rng.integers(3))  # keys rhythm: 0 whole notes, 1 quarters, 2 offbeat eighths
    for bar in range(bars):
        b0, degree = 4 * bar, roots[bar % 4]
        root = tonic + degree
        third = 3 if degree in _MINOR else 4
        # drums: kick 1 and 3 (and the "and" of 3 when syncopated), snare 2 and 4, closed hats on eighths
        for k in (0, 2) + ((2.5,) if syncopated else ()):
            note(DRUM_CHANNEL, b0 + k, 0.25, 36, 105 + rng.normal(0, 6))
        for s in (1, 3):
            note(DRUM_CHANNEL, b0 + s, 0.25, 38, 100 + rng.normal(0, 6))
        for h in range(8):
            open_hat = h == 7 and bar % 2 == 1
            note(DRUM_CHANNEL, b0 + h / 2, 0.25, 46 if open_hat else 42, (85 if h % 2 == 0 else 65) + rng.normal(0, 5))
        if bar % 4 == 0:
            note(DRUM_CHANNEL, b0, 1, 49, 100)
        if bar % 4 == 3:
            for i, tom in enumerate((50, 48, 45, 43)):
                note(DRUM_CHANNEL, b0 + 3 + i / 4, 0.25, tom, 95 + rng.normal(0, 5))
        # bass: root on eighths, a fifth on the last eighth
        for e in range(8):
            note(1, b0 + e / 2, 0.5, root + (7 if e == 7 else 0), 95 + rng.normal(0, 6))
        # chords: close triad around middle C
        triad = [60 + (degree + i) % 12 - (12 if (degree + i) % 12 > 7 else 0) for i in (0, third, 7)]
        hits = ((0, 4),) if comp == 0 else tuple((q, 1) for q in range(4)) if comp == 1 else \
            tuple((q + 0.5, 0.5) for q in range(4))
        for at, length in hits:
            for p in triad:
                note(0, b0 + at, length, p, 72 + rng.normal(0, 5))
        for at in (0, 1.5, 2, 3, 3.5):  # guitar strum pattern
            for i, p in enumerate(sorted(triad)):
                note(2, b0 + at + i * 0.02, 0.5, p - 12 if p > 64 else p, 70 + rng.normal(0, 6))
        for p in triad:
            note(3, b0, 4, p + 12, 60)
    # lead: a pentatonic walk in eighths and quarters, from bar 2 on
    scale = [tonic + 36 + o + d for o in (0, 12) for d in _PENTATONIC]
    idx, at = int(rng.integers(len(scale))), 4.0
    while at < 4 * bars:
        length = float(rng.choice((0.5, 1.0, 1.5)))
        if rng.random() > 0.15:  # a few rests
            note(4, at, length, scale[idx], 90 + rng.normal(0, 8))
        idx = int(np.clip(idx + rng.choice((-2, -1, 1, 2)), 0, len(scale) - 1))
        at += length
    out = [Part(c, int(rng.choice(_BAND[c][0])), sorted(parts[c], key=lambda n: n.start_s)) for c in sorted(parts)]
    mix = {c: {7: v, 10: p, 91: r} for c, (_, v, p, r) in _BAND.items()}
    return Performance(out, mix, 4 * bars * beat)
