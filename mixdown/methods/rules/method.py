"""The rules mixer: a whole recipe from a session's analysis and the user's intent.

Per track: fader to a loudness target (family level of professional mixes, split by role, moved by priority),
role high-pass, one EQ holding a masking cut where it hides a more important track and the tonal bands that move
its family toward professional stems of that family, a compressor where it is more dynamic than professional
stems of its family, a pan position (mono tracks; stereo tracks keep their image), a reverb send and, in genres
that use one, a delay send on vocals and leads. Tracks go to drums, vocals and instruments buses (or the user's
subgroups) with gentle glue compression; one shared reverb return and one shared delay return. The master chain
(loudness gain and limiter) is added by mastering, which measures the rendered mix. Every step carries its
reason.
"""

from __future__ import annotations

import math
import os

from mixdown.analysis.report import SessionAnalysis
from mixdown.analysis.roles import family_of
from mixdown.console.recipe import Recipe, Step, Strip, source_path
from mixdown.methods.intent import Intent
from mixdown.methods.rules.decide import (
    balance_targets,
    compressor_step,
    delay_send,
    gain_step,
    highpass_step,
    masking_cuts,
    pan_positions,
    reverb_send,
)
from mixdown.methods.rules.tables import GENRE_DELAY, GENRE_TONAL_SHARE, TONAL_SHARE
from mixdown.methods.rules.tonal import combined_eq, tonal_corrections

__all__ = ["DELAY_RETURN", "REVERB_RETURN", "rules_recipe"]

REVERB_RETURN = "reverb"
DELAY_RETURN = "delay"
_FAMILY_BUS = {"drums": "drums", "vocals": "vocals", "bass": "instruments", "other": "instruments"}
_GLUE = {"ratio": 2.0, "attack_ms": 30.0, "release_ms": 200.0, "knee_db": 6.0}
_GLUE_ABOVE_LU = 2.0  # the glue compressor's threshold above the bus's expected loudness
# Decay per band (low, low-mid, high-mid, high) in s: a plate-like medium room for most genres, longer for
# ballads and ambient, short for dense genres where long tails blur the beat.
_REVERB_DECAYS = {"short": (1.2, 1.1, 0.9, 0.6), "medium": (1.8, 1.6, 1.3, 0.9), "long": (3.2, 2.8, 2.2, 1.5)}
_DELAY_DAMPING = 0.5  # echoes darker than the source (-3 dB at 5 kHz at 44.1 kHz), so they sit behind it
_DELAY_HIGHPASS_HZ = 200.0  # echoes of low end only muddy the mix
_GENRE_REVERB = {"electronic": "short", "hiphop": "short", "metal": "short", "rock": "medium", "pop": "medium",
                 "rnb": "medium", "country": "medium", "folk": "medium", "acoustic": "medium", "jazz": "medium",
                 "classical": "long", "ambient": "long"}


def rules_recipe(session, analysis: SessionAnalysis, intent: Intent, recipe_dir: str | os.PathLike,
                 seed: int = 0) -> Recipe:
    """Decide every console parameter of a mix.

    Args:
        session: the loaded :class:`mixdown.audio.Session` (its file paths become the recipe's sources).
        analysis: :func:`mixdown.analysis.analyze_session` of it (with the intent's role overrides applied).
        intent: the user's intent (defaults for tracks it does not name).
        recipe_dir: the folder the recipe will be saved in (sources are written relative to it).
        seed: the reverb's noise seed.
    Returns:
        a :class:`Recipe` with tracks, buses and the reverb and delay returns (each only when some track sends
        to it); its master chain is empty (see :func:`mixdown.mastering.master_to_target`).
    """
    names = [t.name for t in analysis.tracks]
    wishes = [intent.for_track(name) for name in names]
    roles = [w.role or t.role.role for w, t in zip(wishes, analysis.tracks)]
    priorities = [w.priority for w in wishes]
    keep = [w.keep for w in wishes]
    targets = balance_targets(analysis.tracks, roles, priorities, intent.genre)
    cuts = masking_cuts(analysis, roles, priorities, keep)
    gains = [gain_step(track, role, target) for track, role, target in zip(analysis.tracks, roles, targets)]
    tonal = tonal_corrections(analysis, roles, [None if g is None else g.params["gain_db"] for g in gains],
                              [not k for k in keep], GENRE_TONAL_SHARE.get(intent.genre or "", TONAL_SHARE))
    positions = pan_positions(analysis, roles, [w.pan for w in wishes])
    strips = []
    for i, (track, role, wish) in enumerate(zip(analysis.tracks, roles, wishes)):
        strip = Strip(track.name, role=role, source=source_path(session.tracks[i].path, recipe_dir),
                      route=wish.subgroup or _FAMILY_BUS[family_of(role)])
        if wish.keep:
            strip.chain = [Step("gain", {"gain_db": 0.0}, "keep as is (intent): no processing")]
        else:
            steps = [gains[i], highpass_step(track, role, analysis.spectrum_hz),
                     combined_eq(cuts.get(i), tonal.get(i), analysis.sample_rate),
                     compressor_step(track, role, targets[i])]
            if i in positions:
                pan, reason = positions[i]
                steps.append(Step("pan", {"pan": pan}, reason))
            strip.chain = [s for s in steps if s is not None]
            if not math.isfinite(track.loudness.integrated_lufs):
                strip.mute = True
            sends = [reverb_send(role, wish.reverb, REVERB_RETURN),
                     delay_send(role, wish.reverb, intent.genre, DELAY_RETURN)]
            strip.sends = [s for s in sends if s is not None]
        strips.append(strip)
    buses = _buses(strips, targets)
    used = {send.to for s in strips for send in s.sends}
    returns = ([_reverb(intent.genre, seed)] if REVERB_RETURN in used else []) + \
              ([_delay(intent.genre)] if DELAY_RETURN in used else [])
    return Recipe(tracks=strips, buses=buses, returns=returns, master=[], sample_rate=session.sample_rate,
                  notes={"method": "rules", "genre": intent.genre, "target": intent.target.name})


def _buses(strips: list[Strip], targets: list[float]) -> list[Strip]:
    """One bus per route in use, with glue compression just above its expected loudness (the power sum of its
    members' targets)."""
    buses = []
    for name in dict.fromkeys(s.route for s in strips):
        members = [t for s, t in zip(strips, targets) if s.route == name and not s.mute]
        expected = 10.0 * math.log10(sum(10.0 ** (t / 10.0) for t in members)) if members else -30.0
        threshold = round(max(-60.0, min(0.0, expected + _GLUE_ABOVE_LU)), 1)
        glue = Step("compressor", {"threshold_db": threshold, **_GLUE},
                    f"glue: {len(members)} track(s) expected at {expected:.1f} LUFS together; 2:1 above "
                    f"{threshold:g} dB, slow attack keeps the transients")
        buses.append(Strip(name, chain=[glue]))
    return buses


def _reverb(genre: str | None, seed: int) -> Strip:
    size = _GENRE_REVERB.get(genre or "", "medium")
    low, lowmid, highmid, high = _REVERB_DECAYS[size]
    return Strip(REVERB_RETURN, chain=[Step("reverb", {
        "decay_low_s": low, "decay_lowmid_s": lowmid, "decay_highmid_s": highmid, "decay_high_s": high,
        "pre_delay_ms": 25.0, "mix": 1.0, "seed": int(seed) % (1 << 24)},
        f"{size} reverb for {genre or 'an unspecified genre'}; shared by every send")])


def _delay(genre: str) -> Strip:
    """The shared delay return: the genre's note value at its typical tempo (``GENRE_DELAY``), wet only."""
    rule = GENRE_DELAY[genre]
    return Strip(DELAY_RETURN, chain=[
        Step("highpass", {"cutoff_hz": _DELAY_HIGHPASS_HZ, "slope_db_per_octave": "12"},
             f"no echoes below {_DELAY_HIGHPASS_HZ:g} Hz: they would only muddy the low end"),
        Step("delay", {"time_ms": round(rule.time_ms, 1), "feedback": rule.feedback, "damping": _DELAY_DAMPING,
                       "mix": 1.0},
             f"{rule.name} for {genre}: {rule.beats:g} beat at a typical {rule.tempo_bpm:g} BPM = "
             f"{rule.time_ms:.0f} ms; shared by every send")])
