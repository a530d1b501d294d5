"""What the rules mixer knows about each role: its share of its family's level, high-pass, reverb send,
panning class and compressor timing, and the professional averages it aims at.

The balance (family levels, role shares, the level measure) and the pan spread are fitted on people's mixes:
``mixdown train rules CORPUS`` on the training songs of a people corpus (``mixdown data people``; the fit is
:mod:`mixdown.train.rules_fit`, its figures in docs/automix.md). The onset-peak targets and the vocal family's
place are measurements of professional mixes (MUSDB18 via FxNorm, ``mixdown/assets/musdb18_features``, MIT, Sony
2022); the rest are documented choices (docs/automix.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from mixdown.analysis.professional import FAMILIES, feature

__all__ = [
    "BALANCE_CREST_REFERENCE_DB",
    "BALANCE_PEAK_WEIGHT",
    "DELAY_SEND_DB",
    "FAMILY_ATTACK_RELEASE_MS",
    "FAMILY_LEVEL_DB",
    "GENRE_DELAY",
    "GENRE_TONAL_SHARE",
    "PAN_SPREAD",
    "PRIORITY_OFFSET_DB",
    "ROLE_RULES",
    "TONAL_SHARE",
    "GenreDelay",
    "RoleRule",
    "family_targets",
]


@dataclass(frozen=True)
class RoleRule:
    """How the rules mixer treats one role.

    Attributes:
        share: relative power of the role inside its family (the family's level is split by shares); fitted on
            people's mixes where the corpus has the role (see ``ROLE_RULES``).
        highpass_hz: high-pass cut-off below the instrument's useful range; None for none.
        reverb_send_db: send level to the shared reverb at "medium"; None for a dry role.
        centred: panned to the centre (low-frequency and lead sources, Perez Gonzalez & Reiss 2007).
        compress: whether the role may get a compressor at all.
        importance: rank for masking decisions (higher keeps its space; the other track is cut).
    """

    share: float
    highpass_hz: float | None
    reverb_send_db: float | None
    centred: bool
    compress: bool
    importance: int


ROLE_RULES: dict[str, RoleRule] = {
    "lead_vocal": RoleRule(1.0, 90.0, -16.0, True, True, 10),
    "backing_vocal": RoleRule(0.35, 120.0, -13.0, False, True, 6),
    "kick": RoleRule(0.65, 30.0, None, True, True, 9),
    "snare": RoleRule(0.92, 60.0, -20.0, True, True, 8),
    "hihat": RoleRule(0.14, 300.0, None, False, False, 4),
    "toms": RoleRule(0.83, 60.0, -22.0, False, True, 5),
    "overheads_room": RoleRule(0.25, 150.0, None, False, False, 4),
    "drum_kit": RoleRule(1.0, 30.0, -26.0, True, True, 8),
    "percussion": RoleRule(0.74, 150.0, -22.0, False, False, 3),
    "bass": RoleRule(1.0, 30.0, None, True, True, 9),
    "electric_guitar": RoleRule(0.68, 80.0, -22.0, False, True, 6),
    "acoustic_guitar": RoleRule(0.82, 80.0, -20.0, False, True, 6),
    "piano_keys": RoleRule(0.61, 50.0, -20.0, False, True, 6),
    "synth_pad": RoleRule(0.96, 100.0, -24.0, False, False, 3),
    "synth_lead": RoleRule(0.51, 80.0, -20.0, False, True, 7),
    "strings": RoleRule(0.42, 60.0, -18.0, False, False, 5),
    "brass_winds": RoleRule(1.0, 80.0, -20.0, False, True, 6),
    "fx": RoleRule(0.21, 100.0, -20.0, False, False, 2),
    "other": RoleRule(0.43, 40.0, -22.0, False, False, 3),
}
"""Shares fitted on people's mixes (``mixdown train rules``, module docstring: 22 OpenMSX and 6 Hydrogen
training songs, 252 tracks) for every role the training songs hold, each held to its documented prior by eight pseudo-tracks (the prior strength cross-validation chose);
``lead_vocal``, ``backing_vocal`` and ``drum_kit`` (not in the corpus as such) keep their priors. The priors
were: lead vocal 1.0, backing 0.35, kick 1.0, snare 0.7, hi-hat 0.2, toms 0.3, overheads 0.5, kit 1.0,
percussion 0.3, bass 1.0, guitars, keys and leads 1.0, pad 0.6, strings and brass 0.8, fx 0.3, other 0.6."""

FAMILY_LEVEL_DB = {"vocals": 5.7, "drums": 2.0, "bass": 0.0, "other": 5.2}
"""Level of each family in the balance (the power sum of its tracks), dB re the bass, as the balance level
measure reads it (``BALANCE_PEAK_WEIGHT``). Drums and other fitted on people's mixes (``mixdown train rules``);
the vocals, absent from a MIDI corpus, sit against the other instruments as in MUSDB18 (0.4 dB over them).
MUSDB18's integrated loudness put the drums 4.5 dB and the other instruments 1.4 dB under the bass: split over
many drum tracks, that buried the percussion."""

BALANCE_PEAK_WEIGHT = 0.5
"""The balance reads a track's level as ``integrated loudness + 0.5 * (hit peak - integrated loudness - 12.7 dB)``
(``hit_peak_db`` of :func:`mixdown.analysis.dynamics.dynamics_features`): people level a sparse, spiky track by
its hits more than by its average power. Chosen by leave-one-song-out cross-validation (docs/automix.md)."""

BALANCE_CREST_REFERENCE_DB = 12.7
"""The corpus's median gap between a track's hit peak and its integrated loudness, dB: subtracted so that the
balance level of a typical track is its integrated loudness."""

PAN_SPREAD = (0.27, 0.56)
"""Pan of the spread (not centred) sources' nearest and widest pair: the median and 90th percentile of |pan| of
the tracks people panned (46 % of the 184 spread-role tracks of the training songs; they left the rest centred:
OpenMSX's authors panned 28 % of theirs, Hydrogen's kit authors most toms, cymbals and hi-hats). Was
(0.35, 0.75)."""

PRIORITY_OFFSET_DB = {"lead": 3.0, "normal": 0.0, "background": -5.0}
GENRE_FAMILY_OFFSET_DB: dict[str, dict[str, float]] = {
    "hiphop": {"bass": 2.0, "drums": 1.5, "other": -1.0},
    "electronic": {"bass": 1.5, "drums": 1.5, "vocals": -1.0},
    "rnb": {"vocals": 1.0, "bass": 1.0},
    "pop": {"vocals": 1.0},
    "country": {"vocals": 1.0, "drums": -1.0},
    "rock": {"other": 1.0, "vocals": -0.5},
    "metal": {"other": 1.5, "drums": 1.0, "vocals": -1.0},
    "jazz": {"drums": -2.0, "other": 1.0},
    "folk": {"vocals": 1.0, "drums": -2.0},
    "acoustic": {"vocals": 1.0, "drums": -2.0},
    "classical": {"drums": -3.0, "other": 1.0},
    "ambient": {"drums": -3.0, "other": 1.5},
}
"""Per genre, dB added to a family's MUSDB18 loudness (mostly pop and rock): the usual balance of the genre,
kept within 3 dB (hip-hop and electronic put kick and bass forward; jazz, folk and classical sit the drums back;
rock and metal push the guitars; pop, R&B, country and folk lift the voice)."""
"""Loudness offset of the user's priority (RoEx-style lead / normal / background)."""

FAMILY_ATTACK_RELEASE_MS = {"vocals": (7.5, 400.0), "drums": (10.0, 180.0), "bass": (10.0, 500.0),
                            "other": (15.0, 666.0)}
"""Compressor attack and release per family: FxNorm's per-stem normalisation settings."""

DELAY_SEND_DB = {"lead_vocal": -20.0, "backing_vocal": -26.0, "synth_lead": -22.0}
"""Send level to the shared delay of the roles that get one (vocals and leads), where the genre has a delay."""


@dataclass(frozen=True)
class GenreDelay:
    """The genre's delay: a note value at the genre's typical tempo (the analysis measures no tempo).

    Attributes:
        tempo_bpm: typical tempo of the genre, beats per minute.
        beats: the note value in beats (0.25 sixteenth "slap", 0.5 eighth, 0.75 dotted eighth, 1 quarter).
        feedback: share of each echo fed back (0.1: a single slap; 0.3: a few repeats).
        name: what the echo is called, for the reason.
    """

    tempo_bpm: float
    beats: float
    feedback: float
    name: str

    @property
    def time_ms(self) -> float:
        """Time between echoes: ``60000 / tempo_bpm * beats`` ms."""
        return 60000.0 / self.tempo_bpm * self.beats


GENRE_DELAY: dict[str, GenreDelay] = {
    "pop": GenreDelay(110.0, 0.5, 0.3, "eighth-note echo"),
    "rock": GenreDelay(120.0, 0.25, 0.1, "sixteenth-note slapback"),
    "country": GenreDelay(110.0, 0.25, 0.1, "sixteenth-note slapback"),
    "electronic": GenreDelay(125.0, 0.75, 0.35, "dotted-eighth echo"),
    "hiphop": GenreDelay(90.0, 1.0, 0.25, "quarter-note echo"),
    "rnb": GenreDelay(80.0, 0.5, 0.3, "eighth-note echo"),
}
"""Genres whose vocals and leads get a delay; the others (jazz, classical, folk, acoustic, metal, ambient and an
unnamed genre) get none: there the room is the only ambience."""

TONAL_SHARE = 0.5
"""Part of a family's deviation from the MUSDB18 average that the tonal EQ corrects: the target is an average of
many songs, not this song's ideal."""

GENRE_TONAL_SHARE = {"jazz": 0.25, "classical": 0.25, "acoustic": 0.25, "folk": 0.25}
"""The tonal EQ's share where it differs from ``TONAL_SHARE``: MUSDB18 is mostly pop and rock, so its averages
say less about acoustic genres, whose recorded timbre is more often the point."""

@cache
def family_targets() -> dict[str, dict[str, float]]:
    """Per family (vocals, drums, bass, other): ``loudness_lufs`` as the stem sits in a professional mix, and the
    onset-peak statistic ``compression_mean_db`` / ``compression_std_db`` (MUSDB18 averages)."""
    return {family: {"loudness_lufs": float(feature(f"loudness__{family}")[0]),
                     "compression_mean_db": float(feature(f"compression__{family}")[0]),
                     "compression_std_db": float(feature(f"compression__{family}")[1])}
            for family in FAMILIES}
