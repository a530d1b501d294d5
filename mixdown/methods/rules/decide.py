"""The rules mixer's decisions, one function per kind, each returning console steps with a one-line reason tied
to a measurement (a track's analysis) or to a documented table (``tables.py``).

Inputs are a :class:`mixdown.analysis.TrackAnalysis` (what the track is and how it measures), the role it plays,
and the user's :class:`mixdown.methods.intent.TrackIntent`.
"""

from __future__ import annotations

import math
import re

import numpy as np

from mixdown.analysis.report import SessionAnalysis, TrackAnalysis
from mixdown.analysis.roles import family_of
from mixdown.console.recipe import Send, Step
from mixdown.mastering.tone import NYQUIST_SHARE
from mixdown.methods.rules.tables import (
    BALANCE_CREST_REFERENCE_DB,
    BALANCE_PEAK_WEIGHT,
    DELAY_SEND_DB,
    FAMILY_ATTACK_RELEASE_MS,
    FAMILY_LEVEL_DB,
    GENRE_DELAY,
    GENRE_FAMILY_OFFSET_DB,
    PAN_SPREAD,
    PRIORITY_OFFSET_DB,
    ROLE_RULES,
    family_targets,
)

__all__ = [
    "balance_level",
    "balance_targets",
    "compressor_step",
    "delay_send",
    "gain_step",
    "highpass_step",
    "masking_cuts",
    "pan_positions",
    "reverb_send",
]

_GAIN_LIMITS_DB = (-40.0, 18.0)  # never push a track further than this, whatever it measures
_HIGHPASS_USEFUL_DB = 12.0  # a band this close to the loudest is part of the sound, whatever the role says
_MAX_MASKING_CUT_DB = 4.0
_MASKING_MIN_DB = 6.0  # pairs masking less than this (mean dB over the target's audible cells) are left alone
_REVERB_AMOUNT_DB = {"none": None, "low": -6.0, "medium": 0.0, "high": 5.0}
_REVERB_DEFAULT_SEND_DB = -20.0  # a role with no reverb by default, when the user asks for some


def balance_targets(tracks: list[TrackAnalysis], roles: list[str], priorities: list[str],
                    genre: str | None = None) -> list[float]:
    """Target balance level (:func:`balance_level`, LUFS-like, before mastering) of each track: its family's
    level, moved by the genre's balance, split among the family's tracks by role share, plus the priority offset.

    Family levels and shares are fitted on people's mixes (``tables.py``); the vocals sit at MUSDB18's average
    vocal loudness in professional mixes and the other families relative to them. The split keeps each family's
    total power at its level however many tracks it has (three hi-hat mics share one hi-hat budget).
    """
    families = [family_of(role) for role in roles]
    totals: dict[str, float] = {}
    for family, role in zip(families, roles):
        totals[family] = totals.get(family, 0.0) + ROLE_RULES[role].share
    vocals = family_targets()["vocals"]["loudness_lufs"]
    by_genre = GENRE_FAMILY_OFFSET_DB.get(genre or "", {})
    return [vocals + FAMILY_LEVEL_DB[family] - FAMILY_LEVEL_DB["vocals"] + by_genre.get(family, 0.0)
            + 10.0 * math.log10(ROLE_RULES[role].share / totals[family]) + PRIORITY_OFFSET_DB[priority]
            for family, role, priority in zip(families, roles, priorities)]


def balance_level(track: TrackAnalysis) -> float:
    """How loud a track reads in the balance: its integrated loudness (LUFS, silences gated out), moved by
    ``BALANCE_PEAK_WEIGHT`` of how far its hits (``hit_peak_db``) stand above it beyond the typical
    ``BALANCE_CREST_REFERENCE_DB``: a sparse, spiky track reads louder than its average power, as people level it
    (fitted, ``tables.py``). ``-inf`` for a silent track."""
    loudness = track.loudness.integrated_lufs
    hits = track.dynamics.get("hit_peak_db", math.nan)
    if not math.isfinite(loudness) or not math.isfinite(hits):
        return loudness
    return loudness + BALANCE_PEAK_WEIGHT * (hits - loudness - BALANCE_CREST_REFERENCE_DB)


def gain_step(track: TrackAnalysis, role: str, target_lufs: float) -> Step | None:
    """The fader: brings the track's balance level (:func:`balance_level`) to its target. None for a silent
    track."""
    measured = balance_level(track)
    if not math.isfinite(measured):
        return None
    low, high = _GAIN_LIMITS_DB
    gain = float(np.clip(target_lufs - measured, low, high))
    loudness, hits = track.loudness.integrated_lufs, track.dynamics.get("hit_peak_db", math.nan)
    rise = f" with hits {hits - loudness:.0f} dB above it" if math.isfinite(hits) else ""
    return Step("gain", {"gain_db": round(gain, 2)},
                f"{role} measured {loudness:.1f} LUFS{rise}: reads {measured:.1f} in the balance; target "
                f"{target_lufs:.1f} (family level and role share fitted on people's mixes, moved by the genre and "
                f"priority)")


def highpass_step(track: TrackAnalysis, role: str, centres_hz: np.ndarray) -> Step | None:
    """Role-based high-pass: removes what lies below the instrument's useful range (rumble, handling noise,
    spill), when there is energy there to remove (more than -60 dB under the track's loudest band).

    The role's cut-off is an expectation; the spectrum can contradict it (a pad with a sub-octave, a vocal
    stem with an 808 in it). Where a band below the cut-off is within 12 dB of the loudest band, that is part
    of the sound: the cut-off moves to an octave below the lowest such band, and no filter is placed when that
    falls under 20 Hz."""
    cutoff = ROLE_RULES[role].highpass_hz
    if cutoff is None:
        return None
    levels = np.where(np.isfinite(track.spectrum_db), track.spectrum_db, -np.inf)
    below = levels[centres_hz < cutoff]
    if below.size == 0 or not np.isfinite(below).any() or below.max() < levels.max() - 60.0:
        return None
    useful = centres_hz[levels >= levels.max() - _HIGHPASS_USEFUL_DB]
    lowest = float(useful.min())
    if lowest >= cutoff:
        return Step("highpass", {"cutoff_hz": cutoff, "slope_db_per_octave": "12"},
                    f"{role}: nothing useful below {cutoff:g} Hz; band energy there up to "
                    f"{below.max() - levels.max():.0f} dB re its loudest band")
    lowered = round(lowest / 2.0, 1)
    if lowered < 20.0:
        return None
    return Step("highpass", {"cutoff_hz": lowered, "slope_db_per_octave": "12"},
                f"{role}: usually cut at {cutoff:g} Hz, but this track has energy within {_HIGHPASS_USEFUL_DB:g} dB "
                f"of its loudest band down to {lowest:.0f} Hz: cut an octave below, at {lowered:g} Hz")


def masking_cuts(analysis: SessionAnalysis, roles: list[str], priorities: list[str],
                 keep: list[bool]) -> dict[int, Step]:
    """Masking-aware EQ: where a track masks a more important one (by priority, then role importance), one
    peak cut on the less important track at the band of worst masking, up to 4 dB, one per track.

    Returns ``{track index: parametric_eq step}``.
    """
    if analysis.masking is None:
        return {}
    rank = [(PRIORITY_OFFSET_DB[p], ROLE_RULES[r].importance) for p, r in zip(priorities, roles)]
    band_db, centres = analysis.masking.band_db, analysis.masking.centres_hz
    candidates = []
    for masker in range(len(roles)):
        for target in range(len(roles)):
            mean = analysis.masking.mean_db[masker, target]
            if masker != target and rank[masker] < rank[target] and mean >= _MASKING_MIN_DB and not keep[masker]:
                candidates.append((mean, masker, target))
    cuts: dict[int, Step] = {}
    names = [t.name for t in analysis.tracks]
    for mean, masker, target in sorted(candidates, reverse=True):
        if masker in cuts:
            continue
        band = int(np.argmax(band_db[masker, target]))
        depth = round(min(_MAX_MASKING_CUT_DB, band_db[masker, target, band] / 3.0), 1)
        frequency = float(np.clip(centres[band], 40.0, min(16000.0, NYQUIST_SHARE * analysis.sample_rate)))
        cuts[masker] = Step("parametric_eq", {"peak2_gain_db": -depth, "peak2_freq_hz": round(frequency, 1),
                                              "peak2_q": 1.4},
                            f"masks {names[target]} by {band_db[masker, target, band]:.1f} dB around "
                            f"{frequency:.0f} Hz (mean {mean:.1f} dB); cut here, keep the more important track")
    return cuts


def compressor_step(track: TrackAnalysis, role: str, target_lufs: float) -> Step | None:
    """A gentle compressor where the track's onset peaks stand further above its body than the professional
    average of its family (FxNorm's onset-peak statistic): ratio from the gap, threshold just above the track's
    loudness after the fader, the family's attack and release. None where the track is already as dense."""
    if not ROLE_RULES[role].compress:
        return None
    family = family_of(role)
    target = family_targets()[family]["compression_mean_db"]
    measured = track.dynamics.get("compression_mean_db")
    if measured is None or not math.isfinite(measured) or measured >= target - 1.0:
        return None
    gap = target - measured
    ratio = round(float(np.clip(1.0 + gap / 4.0, 1.5, 4.0)), 2)
    attack, release = FAMILY_ATTACK_RELEASE_MS[family]
    threshold = round(float(np.clip(target_lufs + 3.0, -60.0, 0.0)), 1)
    makeup = round((1.0 - 1.0 / ratio) * 2.0, 1)
    return Step("compressor", {"threshold_db": threshold, "ratio": ratio, "attack_ms": attack,
                               "release_ms": release, "knee_db": 6.0, "makeup_db": makeup},
                f"onset peaks {measured:.1f} dB vs {target:.1f} dB for professional {family} (re a -10 dBFS "
                f"peak): {gap:.1f} dB more dynamic, so {ratio:g}:1")


def pan_positions(analysis: SessionAnalysis, roles: list[str], pans: list[str]) -> dict[int, tuple[float, str]]:
    """Pan positions of the mono tracks, after Perez Gonzalez & Reiss (2007): low-frequency and lead sources in
    the centre; the others sorted by spectral centroid and dealt in pairs of neighbours (similar spectra) to
    opposite sides, the pairs spreading wider as they go; a name's side (``L``/``R``) and the user's preference
    win. Stereo tracks keep their own image and are not listed.

    Returns ``{track index: (pan -1..1, reason)}``.
    """
    positions: dict[int, tuple[float, str]] = {}
    spread = []
    for i, (track, role, preference) in enumerate(zip(analysis.tracks, roles, pans)):
        if track.channels != 1:
            continue
        side = _name_side(track.name)
        if preference in ("left", "right"):
            positions[i] = (-0.6 if preference == "left" else 0.6, f"user asked for {preference}")
        elif preference == "centre":
            positions[i] = (0.0, "user asked for the centre")
        elif side:
            positions[i] = (0.7 * side, f"the name says {'left' if side < 0 else 'right'}")
        elif ROLE_RULES[role].centred:
            positions[i] = (0.0, f"{role}: low-frequency or lead source, centred")
        else:
            spread.append((track.descriptors["centroid"], i))
    spread.sort()
    pairs = [spread[k:k + 2] for k in range(0, len(spread), 2)]
    low, high = PAN_SPREAD
    for k, pair in enumerate(pairs):
        width = low if len(pairs) == 1 else low + (high - low) * k / (len(pairs) - 1)
        if len(pair) == 1:
            centroid, i = pair[0]
            positions[i] = (round(width / 2.0 * (-1) ** k, 2),
                            f"odd one out of the spread sources (centroid {centroid:.0f} Hz), near the centre")
            continue
        (c_left, left), (c_right, right) = pair if k % 2 == 0 else pair[::-1]
        reason = f"similar spectra ({c_left:.0f} / {c_right:.0f} Hz centroid) panned apart to unmask them"
        positions[left], positions[right] = (-round(width, 2), reason), (round(width, 2), reason)
    return positions


def reverb_send(role: str, amount: str | None, to: str) -> Send | None:
    """Send to the shared reverb: the role's level at "medium", moved by the user's amount."""
    base = ROLE_RULES[role].reverb_send_db
    if amount is None:
        return None if base is None else Send(to, base, f"{role}: reverb by role ({base:g} dB send)")
    offset = _REVERB_AMOUNT_DB[amount]
    if offset is None:
        return None
    level = (base if base is not None else _REVERB_DEFAULT_SEND_DB) + offset
    return Send(to, level, f"user asked for {amount} reverb")


def delay_send(role: str, amount: str | None, genre: str | None, to: str) -> Send | None:
    """Send to the shared delay: vocals and leads, in genres that use one (``GENRE_DELAY``); the user's reverb
    amount (the ambience they want on the track) moves it as it moves the reverb send, and "none" means dry."""
    base = DELAY_SEND_DB.get(role)
    if base is None or genre not in GENRE_DELAY:
        return None
    offset = 0.0 if amount is None else _REVERB_AMOUNT_DB[amount]
    if offset is None:
        return None
    why = f"user asked for {amount} ambience" if amount is not None else "by role"
    return Send(to, base + offset, f"{role} in {genre}: {GENRE_DELAY[genre].name} {why} "
                                   f"({base + offset:g} dB send)")


def _name_side(name: str) -> int:
    """-1 or +1 when the name ends in a left/right marker ("OH L", "Gtr_R", "Piano Left"), else 0."""
    tokens = re.split(r"[\s_\-.]+", name.strip().lower())
    return {"l": -1, "left": -1, "r": 1, "right": 1}.get(tokens[-1] if tokens else "", 0)
