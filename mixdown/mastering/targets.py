"""Loudness targets: the integrated loudness and true-peak ceiling a master is delivered at.

Loudness is integrated loudness in LUFS (ITU-R BS.1770-4, gated as in EBU R128); the ceiling is a true peak in
dBTP (4x oversampled). Presets:

=========  ==========  ========  ======================================================================
name       LUFS        dBTP      source
=========  ==========  ========  ======================================================================
spotify    -14         -1        Spotify for Artists, "Loudness normalization" (-14 LUFS; keep true
                                 peaks below -1 dBTP, below -2 dBTP for masters louder than -14 LUFS)
apple      -16         -1        Apple, "Apple Digital Masters" / Sound Check (-16 LUFS, -1 dBTP);
                                 also AES TD1008 (2021): music streams at most -16 LUFS
youtube    -14         -1        YouTube normalises playback to about -14 LUFS (same ceiling as Spotify)
cd         -9          -0.3      a choice, not a standard: a loud modern CD / download master; the CD
                                 format has no loudness norm, -0.3 dBTP leaves room for inter-sample peaks
broadcast  -23         -1        EBU R128 (2020): programme loudness -23 LUFS, max true peak -1 dBTP
none       (kept)      -1        no loudness normalisation: keep the mix level, only limit to -1 dBTP
=========  ==========  ========  ======================================================================

A number of LUFS (from -40 to -5) makes a custom target with the streaming ceiling of -1 dBTP.

References:
    ITU-R BS.1770-4 (2015), Algorithms to measure audio programme loudness and true-peak audio level.
    EBU R 128 (2020), Loudness normalisation and permitted maximum level of audio signals.
    AES TD1008 (2021), Recommendations for loudness of internet audio streaming and on-demand distribution.
    Spotify for Artists, "Loudness normalization" (artists.spotify.com/help); Apple, "Mastered for iTunes /
    Apple Digital Masters" guidelines; YouTube Help, "Audio loudness normalization".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mixdown.errors import ParameterError

__all__ = ["CUSTOM_TRUE_PEAK_DB", "LUFS_RANGE", "TARGETS", "LoudnessTarget", "loudness_target"]

LUFS_RANGE = (-40.0, -5.0)  # quieter is inaudible on playback devices, louder than -5 LUFS is square waves
CUSTOM_TRUE_PEAK_DB = -1.0  # the ceiling of a numeric target: the streaming services' -1 dBTP


@dataclass(frozen=True)
class LoudnessTarget:
    """Where a master's loudness ends up.

    Args:
        name: the preset name (``spotify``...) or ``"-12 LUFS"`` for a custom level.
        integrated_lufs: integrated loudness to normalise to, in LUFS; None keeps the mix's own level.
        true_peak_db: the ceiling the final limiter holds, in dBTP.
        description: one line for people: where the numbers come from.
    """

    name: str
    integrated_lufs: float | None
    true_peak_db: float
    description: str


TARGETS: dict[str, LoudnessTarget] = {
    t.name: t
    for t in (
        LoudnessTarget("spotify", -14.0, -1.0, "Spotify's normalisation level (-14 LUFS, peaks below -1 dBTP)"),
        LoudnessTarget("apple", -16.0, -1.0, "Apple Music Sound Check level; AES TD1008's ceiling for music streams"),
        LoudnessTarget("youtube", -14.0, -1.0, "YouTube's playback normalisation level"),
        LoudnessTarget("cd", -9.0, -0.3, "a loud CD / download master (our choice; the CD format sets no level)"),
        LoudnessTarget("broadcast", -23.0, -1.0, "EBU R128 programme loudness for broadcast"),
        LoudnessTarget("none", None, -1.0, "no loudness normalisation: keep the mix level, only limit to -1 dBTP"),
    )
}


def loudness_target(name_or_lufs: str | float | LoudnessTarget) -> LoudnessTarget:
    """The loudness target for a preset name (any case) or a number of LUFS.

    Args:
        name_or_lufs: a preset name from ``TARGETS`` (``"Spotify"`` works), a number of LUFS from -40 to -5
            (also as text, ``"-12"`` or ``"-12 LUFS"``), or a ``LoudnessTarget`` (returned as it is).

    Returns:
        The preset, or a custom target ``"<n> LUFS"`` with a -1 dBTP ceiling.

    Raises:
        ParameterError: an unknown name, a number out of range, or another type; the message lists the presets.

    Example:
        >>> loudness_target("Apple").integrated_lufs
        -16.0
        >>> loudness_target(-12).name
        '-12 LUFS'
    """
    if isinstance(name_or_lufs, LoudnessTarget):
        return name_or_lufs
    if isinstance(name_or_lufs, str):
        key = name_or_lufs.strip().lower()
        if key in TARGETS:
            return TARGETS[key]
        try:
            lufs = float(key.removesuffix("lufs"))  # "-12" or a custom target's own name, "-12 LUFS
        except ValueError:
            _fail(repr(name_or_lufs))
        return _custom(lufs, repr(name_or_lufs))
    if isinstance(name_or_lufs, (int, float)) and not isinstance(name_or_lufs, bool):
        return _custom(float(name_or_lufs), repr(name_or_lufs))
    _fail(f"{name_or_lufs!r} ({type(name_or_lufs).__name__})")


def _custom(lufs: float, found: str) -> LoudnessTarget:
    low, high = LUFS_RANGE
    if not (math.isfinite(lufs) and low <= lufs <= high):
        _fail(f"{found}, outside {low:g} to {high:g} LUFS")
    return LoudnessTarget(
        f"{lufs:g} LUFS", lufs, CUSTOM_TRUE_PEAK_DB, f"custom: {lufs:g} LUFS integrated, {CUSTOM_TRUE_PEAK_DB:g} dBTP ceiling"
    )


def _fail(found: str):
    low, high = LUFS_RANGE
    raise ParameterError(
        f"loudness target: expected a preset ({', '.join(TARGETS)}) or a number of LUFS from {low:g} to {high:g}, "
        f"found {found}; fix: use e.g. 'spotify' or -14"
    )
