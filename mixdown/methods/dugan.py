"""The dugan method: the live / speech mixer for many microphones of speech (podcasts, panels, conferences).

Per microphone a speech chain, each step with its reason tied to the analysis: a fader to a common speech loudness
(measured where the microphone's own talker speaks, so pauses and crosstalk do not count), a high-pass below the
voice, an EQ only where the spectrum departs from the long-term average speech spectrum (muddy low mids, missing
presence), and a gentle compressor sized by the voice's level spread. Panning is centred unless the intent asks for
a side (then a gentle spread). No reverb. Over all microphones (except the ones the intent keeps) runs Dugan gain
sharing (:mod:`mixdown.dsp.gain_sharing`): the talker's microphone open, the others down by as much as they are
quieter, the total gain constant whatever the number of open microphones. Every microphone goes to one ``voices``
bus with gentle glue; the master chain is left to mastering.

A microphone without a talker of its own (an idle one carrying only noise, or one that only hears the others'
crosstalk) gets no make-up gain: its fader holds it at or under its input level and far under the voices (so the
speaker report, which looks 30 dB down, does not name it), and it takes no part in the comparisons that measure
the voices' levels. It stays in the gain sharing, where it only takes a share while nobody talks.

:class:`SpeechActivity` reads the processed stems while the mix renders and reports who spoke when.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from mixdown.analysis.report import SessionAnalysis, TrackAnalysis
from mixdown.console.recipe import MASTER, GainSharing, Recipe, Step, Strip, source_path
from mixdown.dsp.gain_sharing import GAIN_SHARING_PARAMS, WEIGHT_RANGE_DB
from mixdown.errors import AudioInputError, ParameterError
from mixdown.methods.intent import Intent
from mixdown.methods.rules.tables import PRIORITY_OFFSET_DB

__all__ = ["SPEECH_LUFS", "VOICES_BUS", "SpeechActivity", "dugan_recipe"]

SPEECH_LUFS = -23.0
"""Loudness every voice is brought to before mastering (EBU R128's programme level; mastering moves the whole)."""
VOICES_BUS = "voices"
_GAIN_LIMITS_DB = (-40.0, 24.0)
_SOLO_MARGIN_DB = 10.0  # crosstalk sits 15-30 dB under the talker's own microphone; 10 dB leaves room for trims
_SOLO_RANGE_DB = 10.0
_SOLO_MIN_WINDOWS = 10  # momentary loudness comes at 10 Hz: at least 1 s of solo speech
_ACTIVE_ABOVE_NOISE_DB = 10.0  # a microphone carries something (speech or crosstalk) this far above its noise floor
_HELD_UNDER_DB = 40.0  # no talker of its own: its loudest content this far under the voices (the report's range 30)
_HIGHPASS = {"plain": (80.0, "12"), "rumble": (100.0, "24")}  # (cutoff Hz, slope): male voices start near 85 Hz
_RUMBLE_DB = -20.0  # energy below 80 Hz within this of the loudest band is rumble, handling noise or proximity boom
# The long-term average speech spectrum (Byrne et al. 1994, 1/3-octave, male and female averaged), as power means
# re the 500-1000 Hz region: 200-400 Hz about +1 dB, 2-4 kHz about -12 dB. A voice further off than
# _EQ_TOLERANCE_DB gets half the difference corrected, at most _EQ_MAX_DB.
_LTASS_MUD_DB, _LTASS_PRESENCE_DB = 1.0, -12.0
_EQ_TOLERANCE_DB, _EQ_MAX_DB = 4.0, 4.0
_SPEECH_SPREAD_DB = 4.0  # each 4 dB of level spread over active frames adds 1 to the ratio, 2:1 to 4:1
_NOISE_PERCENTILE = 10.0  # the quietest tenth of momentary loudness reads the noise floor (pauses happen)
_THRESHOLD_ABOVE_NOISE_DB = 10.0
_THRESHOLD_BELOW_SPEECH_DB = (40.0, 15.0)  # the talking threshold stays this far under the speech level
_SPREAD_PAN = 0.4  # a side the user asks for: far enough to separate voices, near enough for headphones
_GLUE = {"ratio": 2.0, "attack_ms": 30.0, "release_ms": 200.0, "knee_db": 6.0}
_GLUE_ABOVE_LU = 2.0


def dugan_recipe(session, analysis: SessionAnalysis, intent: Intent, recipe_dir: str | os.PathLike,
                 seed: int = 0) -> Recipe:
    """Decide a speech mix: per-microphone speech chains, Dugan gain sharing, one voices bus.

    Args:
        session: the session (only ``session.tracks[i].path`` and ``session.sample_rate`` are read, never audio).
        analysis: :func:`mixdown.analysis.analyze_session` of it (with the intent's role overrides applied).
        intent: per-track priority (a lead microphone weighs more in the sharing), pan, keep and subgroup.
        recipe_dir: the folder the recipe will be saved in (sources are written relative to it).
        seed: unused (nothing random); kept so every method has the same signature.
    Returns:
        a :class:`Recipe` with a ``gain_sharing`` section over every microphone that is neither kept nor silent;
        its master chain is empty (see :func:`mixdown.mastering.master_to_target`). ``notes["held_down"]`` lists
        the microphones without a talker of their own (see :func:`_without_talker`), when there are any.
    """
    strips, gains, weights = [], {}, {}
    wishes = [intent.for_track(t.name) for t in analysis.tracks]
    voices = [i for i, (t, w) in enumerate(zip(analysis.tracks, wishes))
              if not w.keep and math.isfinite(t.loudness.integrated_lufs)]
    held = _without_talker(analysis.tracks, voices)
    held_names = [analysis.tracks[i].name for i in sorted(held)]
    levels = _voice_levels(analysis.tracks, [i for i in voices if i not in held])
    for i, (track, wish) in enumerate(zip(analysis.tracks, wishes)):
        role = wish.role or track.role.role
        strip = Strip(track.name, role=role, source=source_path(session.tracks[i].path, recipe_dir),
                      route=wish.subgroup or (MASTER if wish.keep else VOICES_BUS))
        if wish.keep:
            strip.chain = [Step("gain", {"gain_db": 0.0}, "keep as is (intent): no processing, no gain sharing")]
        elif i not in levels and i not in held:
            strip.mute = True
        else:
            fader = _held_fader(track, held[i]) if i in held else _fader(*levels[i])
            gains[track.name] = fader.params["gain_db"]
            bias = PRIORITY_OFFSET_DB[wish.priority]
            weights[track.name] = round(float(np.clip(gains[track.name] + bias, *WEIGHT_RANGE_DB)), 2)
            if i in held:  # nothing of a voice to equalise or compress
                steps = [fader, _highpass(track, analysis.spectrum_hz), _pan(wish.pan)]
            else:
                steps = [fader, _highpass(track, analysis.spectrum_hz), _speech_eq(track, analysis.spectrum_hz),
                         _compressor(track), _pan(wish.pan)]
            strip.chain = [s for s in steps if s is not None]
        strips.append(strip)
    sharing = _gain_sharing(analysis.tracks, gains, weights) if gains else None
    notes = {"method": "dugan", "target": intent.target.name, "speech_lufs": SPEECH_LUFS}
    if held_names:
        notes["held_down"] = held_names
    return Recipe(tracks=strips, buses=_buses(strips, set(gains) - set(held_names)), master=[],
                  sample_rate=session.sample_rate, notes=notes, gain_sharing=sharing)


def _without_talker(tracks: list[TrackAnalysis], voices: list[int]) -> dict[int, str]:
    """The voices without a talker of their own, each with the reason: ``{track index: why}``.

    Read on the momentary loudness (10 Hz), where the microphone is active: at least ``_ACTIVE_ABOVE_NOISE_DB``
    over its noise floor (its quietest ``_NOISE_PERCENTILE`` per cent). A microphone active for less than
    ``_SOLO_MIN_WINDOWS`` windows carries only steady noise (hiss, hum, an idle room) or silence. Of the others, a
    microphone has a talker where it is active and either the loudest microphone as recorded (crosstalk is
    15-30 dB under the talker's own microphone, so it never is) or leading every other one by
    ``_SOLO_MARGIN_DB`` after the provisional faders of :func:`_voice_levels` (a talker recorded much quieter than
    the others); one with fewer than ``_SOLO_MIN_WINDOWS`` such windows only hears the others. The comparisons
    leave out the idle microphones (a provisional fader lifts their noise over the talkers' pauses).
    """
    held: dict[int, str] = {}
    if not voices:
        return held
    momentary = np.stack([tracks[i].loudness.momentary_lufs for i in voices])  # (voices, windows)
    active = np.zeros(momentary.shape, dtype=bool)
    for k, i in enumerate(voices):
        finite = np.isfinite(momentary[k])
        floor = float(np.percentile(momentary[k][finite], _NOISE_PERCENTILE)) if finite.any() else -math.inf
        active[k] = finite & (momentary[k] >= floor + _ACTIVE_ABOVE_NOISE_DB)
        if active[k].sum() < _SOLO_MIN_WINDOWS:
            held[i] = (f"noise only, never {_ACTIVE_ABOVE_NOISE_DB:g} dB above its noise floor of {floor:.1f} LUFS "
                       f"for {_SOLO_MIN_WINDOWS / 10.0:g} s")
    rest = [k for k, i in enumerate(voices) if i not in held]
    if len(rest) < 2:
        return held
    raw = momentary[rest]
    provisional = raw + np.array([SPEECH_LUFS - tracks[voices[k]].loudness.integrated_lufs for k in rest])[:, None]
    for n, k in enumerate(rest):
        loudest = raw[n] > np.delete(raw, n, 0).max(0)
        leading = provisional[n] >= np.delete(provisional, n, 0).max(0) + _SOLO_MARGIN_DB
        if (active[k] & (loudest | leading)).sum() < _SOLO_MIN_WINDOWS:
            held[voices[k]] = (f"only the others' crosstalk, never the loudest microphone for "
                               f"{_SOLO_MIN_WINDOWS / 10.0:g} s where it carries sound")
    return held


def _held_fader(track: TrackAnalysis, why: str) -> Step:
    """No make-up gain for a microphone without a talker: at most its input level, and its loudest content
    (95th percentile of momentary loudness) at least ``_HELD_UNDER_DB`` under the speech level."""
    momentary = track.loudness.momentary_lufs[np.isfinite(track.loudness.momentary_lufs)]
    loudest = float(np.percentile(momentary, 95.0)) if momentary.size else -math.inf
    gain = round(float(np.clip(min(0.0, SPEECH_LUFS - _HELD_UNDER_DB - loudest), *_GAIN_LIMITS_DB)), 2)
    return Step("gain", {"gain_db": gain}, f"no speech of its own ({why}): held down, not lifted toward "
                                           f"{SPEECH_LUFS:g} LUFS; its loudest ({loudest:.1f} LUFS) sits "
                                           f"{SPEECH_LUFS - loudest - gain:.0f} dB under the voices")


def _voice_levels(tracks: list[TrackAnalysis], voices: list[int]) -> dict[int, tuple[float, str]]:
    """Each microphone's speech loudness (LUFS) and how it was measured.

    A microphone's integrated loudness also counts the crosstalk of the other talkers, which passes the relative
    gate when its own talker speaks rarely (and then the fader would lift that crosstalk to the speech level).
    So the level is read where the microphone leads every other one by ``_SOLO_MARGIN_DB`` in momentary loudness
    (its own talker speaks, crosstalk being well below), keeping those windows within ``_SOLO_RANGE_DB`` of
    their 90th percentile (speech, not the pauses); the gated integrated loudness where there are too few. The
    microphones are compared after provisional faders (from their integrated loudness), so a microphone recorded
    hotter does not lead on its crosstalk.
    """
    out = {}
    if not voices:
        return out
    momentary = np.stack([tracks[i].loudness.momentary_lufs for i in voices])
    provisional = np.array([SPEECH_LUFS - tracks[i].loudness.integrated_lufs for i in voices])[:, None]
    momentary = momentary + provisional  # after the provisional faders (-inf stays -inf)
    for k, i in enumerate(voices):
        others = np.delete(momentary, k, 0).max(0) if len(voices) > 1 else np.full(momentary.shape[1], -np.inf)
        solo = momentary[k][np.isfinite(momentary[k]) & (momentary[k] >= others + _SOLO_MARGIN_DB)]
        if solo.size >= _SOLO_MIN_WINDOWS:
            speech = solo[solo >= np.percentile(solo, 90.0) - _SOLO_RANGE_DB]
            level = 10.0 * math.log10(float(np.mean(10.0 ** (speech / 10.0)))) - float(provisional[k, 0])
            out[i] = (level, f"over {speech.size / 10.0:.1f} s where this microphone leads the others by "
                             f"{_SOLO_MARGIN_DB:g} dB (its talker speaks)")
        else:
            out[i] = (tracks[i].loudness.integrated_lufs,
                      "integrated, pauses gated out (never clearly the loudest microphone)")
    return out


def _fader(measured: float, how: str) -> Step:
    gain = round(float(np.clip(SPEECH_LUFS - measured, *_GAIN_LIMITS_DB)), 2)
    return Step("gain", {"gain_db": gain}, f"voice measured {measured:.1f} LUFS {how}; every voice to "
                                           f"{SPEECH_LUFS:g} LUFS")


def _band_db(track: TrackAnalysis, centres_hz: np.ndarray, low: float, high: float) -> float:
    """Power mean of the 1/3-octave levels with centres in ``[low, high]`` Hz, dB (-inf when silent)."""
    inside = track.spectrum_db[(centres_hz >= low) & (centres_hz <= high)]
    power = np.mean(10.0 ** (inside / 10.0)) if inside.size else 0.0
    return 10.0 * math.log10(power) if power > 0.0 else -math.inf


def _highpass(track: TrackAnalysis, centres_hz: np.ndarray) -> Step:
    loudest = float(np.max(track.spectrum_db))
    below = _band_db(track, centres_hz, 0.0, 80.0) - loudest
    cutoff, slope = _HIGHPASS["rumble" if below > _RUMBLE_DB else "plain"]
    why = "rumble, handling noise or proximity boom" if below > _RUMBLE_DB else "nothing of a voice"
    return Step("highpass", {"cutoff_hz": cutoff, "slope_db_per_octave": slope},
                f"{why} below 80 Hz ({below:.0f} dB re the loudest band): {cutoff:g} Hz, {slope} dB/oct")


def _speech_eq(track: TrackAnalysis, centres_hz: np.ndarray) -> Step | None:
    """De-mud at 300 Hz and presence at 3 kHz, each only where the voice departs from the average speech
    spectrum by more than the tolerance; None where it does not."""
    body = _band_db(track, centres_hz, 500.0, 1000.0)
    mud = _band_db(track, centres_hz, 180.0, 420.0) - body - _LTASS_MUD_DB
    presence = _LTASS_PRESENCE_DB - (_band_db(track, centres_hz, 2000.0, 4000.0) - body)
    params, why = {}, []
    if math.isfinite(mud) and mud > _EQ_TOLERANCE_DB:
        params |= {"peak1_gain_db": -round(min(mud / 2.0, _EQ_MAX_DB), 1), "peak1_freq_hz": 300.0, "peak1_q": 1.0}
        why.append(f"low mids {mud:.1f} dB above average speech: cut at 300 Hz")
    if math.isfinite(presence) and presence > _EQ_TOLERANCE_DB:
        params |= {"peak3_gain_db": round(min(presence / 2.0, _EQ_MAX_DB), 1), "peak3_freq_hz": 3000.0,
                   "peak3_q": 1.0}
        why.append(f"2-4 kHz {presence:.1f} dB below average speech: presence at 3 kHz")
    return Step("parametric_eq", params, "; ".join(why)) if params else None


def _compressor(track: TrackAnalysis) -> Step:
    spread = track.dynamics.get("dynamic_spread_db", math.nan)
    ratio = round(float(np.clip(1.0 + spread / _SPEECH_SPREAD_DB, 2.0, 4.0)), 2) if math.isfinite(spread) else 2.0
    return Step("compressor", {"threshold_db": SPEECH_LUFS, "ratio": ratio, "attack_ms": 10.0, "release_ms": 150.0,
                               "knee_db": 6.0},
                f"voice level spread {spread:.1f} dB over active frames: {ratio:g}:1 above the speech level evens "
                "syllables and sentences")


def _pan(preference: str) -> Step | None:
    if preference not in ("left", "right"):
        return None  # centred: one voice at a time, in front of the listener
    return Step("pan", {"pan": _SPREAD_PAN * (-1.0 if preference == "left" else 1.0)},
                f"user asked for {preference}: a gentle {_SPREAD_PAN:g} spread")


def _gain_sharing(tracks: list[TrackAnalysis], gains: dict[str, float], weights: dict[str, float]) -> GainSharing:
    """Sharing over the processed microphones; the talking threshold above the loudest noise floor.

    Weights include the faders (and the priority offsets), so the sharing compares voices as they will sound, not
    as they were recorded.
    """
    floors = []
    for t in tracks:
        momentary = t.loudness.momentary_lufs[np.isfinite(t.loudness.momentary_lufs)]
        if t.name in weights and momentary.size:
            floors.append(float(np.percentile(momentary, _NOISE_PERCENTILE)) + weights[t.name])
    noise = max(floors, default=-math.inf)
    low, high = SPEECH_LUFS - _THRESHOLD_BELOW_SPEECH_DB[0], SPEECH_LUFS - _THRESHOLD_BELOW_SPEECH_DB[1]
    threshold = round(float(np.clip(noise + _THRESHOLD_ABOVE_NOISE_DB, low, high)), 1)
    hold = GAIN_SHARING_PARAMS["hold_ms"].default
    return GainSharing(list(gains), {"threshold_db": threshold, "hold_ms": hold}, weights,
                       f"Dugan gain sharing over {len(gains)} microphone(s), weighted by fader and priority; talking "
                       f"above {threshold:g} dB (loudest noise floor {noise:.1f} dB after its fader); pauses under "
                       f"{hold / 1000:g} s keep the last talker open")


def _buses(strips: list[Strip], voices: set[str]) -> list[Strip]:
    """One bus per route in use; glue on those with processed voices (one voice at a time: expected near the
    speech level, not a power sum), none on a subgroup of kept tracks."""
    buses = []
    threshold = SPEECH_LUFS + _GLUE_ABOVE_LU
    for name in dict.fromkeys(s.route for s in strips if s.route != MASTER):
        members = [s for s in strips if s.route == name and s.name in voices]
        chain = [Step("compressor", {"threshold_db": threshold, **_GLUE},
                      f"glue: {len(members)} voice(s) at {SPEECH_LUFS:g} LUFS, one at a time under gain sharing; "
                      f"2:1 above {threshold:g} dB")] if members else []
        buses.append(Strip(name, chain=chain))
    return buses


class SpeechActivity:
    """Who spoke when, from the processed stems as they render, in bounded memory (one level per frame).

    Feed it every ``(tracks, channels, n)`` stems block (``Console.render_blocks(blocks, stems=True)``); then
    :meth:`segments` lists the speaker turns and :meth:`summary` the speaking time per track.

    A frame is a turn of the track that is loudest in it, when that level reaches the speech threshold: the
    louder of ``threshold_db`` and ``range_db`` under the 95th percentile of the frames' loudest levels (so
    crosstalk and noise of a quiet recording do not count). Turns of one track separated by less than
    ``bridge_s`` of silence are joined; turns shorter than ``min_segment_s`` are dropped (a cough, an "mm"), and
    the turns either side of a dropped one joined again when close enough.

    Args:
        names: the names of the tracks to follow.
        sample_rate: Hz.
        rows: where those tracks are along the stems' first axis (default: the first ``len(names)``);
            :meth:`for_recipe` sets them to the recipe's gain-sharing tracks, so a music bed is not a speaker.
        frame_ms: frame length, ms.
        threshold_db: absolute speech threshold, dBFS mean square.
        range_db: relative speech threshold under the loud frames, dB.
        bridge_s: longest pause inside one turn, s.
        min_segment_s: shortest turn reported, s.

    Example:
        >>> activity = SpeechActivity.for_recipe(recipe, 44100)
        >>> for mix, stems in console.render_blocks(blocks, stems=True):
        ...     activity.add(stems)
        >>> activity.segments()   # [{"track": "host", "start_s": 0.0, "end_s": 3.2}, ...]
    """

    def __init__(self, names, sample_rate: int, rows=None, frame_ms: float = 50.0, threshold_db: float = -60.0,
                 range_db: float = 30.0, bridge_s: float = 0.3, min_segment_s: float = 0.2) -> None:
        self.names, self.sample_rate = list(names), int(sample_rate)
        self.rows = list(range(len(self.names))) if rows is None else [int(r) for r in rows]
        if len(self.rows) != len(self.names):
            raise ParameterError(f"SpeechActivity: expected one row per name ({len(self.names)}), found "
                                 f"{len(self.rows)}")
        self.frame = max(1, round(frame_ms * sample_rate / 1000.0))
        self.threshold_db, self.range_db = threshold_db, range_db
        self.bridge_frames = round(bridge_s * sample_rate / self.frame)
        self.min_frames = round(min_segment_s * sample_rate / self.frame)
        self._frames: list[np.ndarray] = []  # (frames, tracks) mean squares
        self._partial = np.zeros(len(self.names))
        self._partial_count = 0

    @classmethod
    def for_recipe(cls, recipe: Recipe, sample_rate: int, **options) -> SpeechActivity:
        """Follow a recipe's gain-sharing tracks (all its tracks when it has no ``gain_sharing``) in the stems
        ``Console.render_blocks(..., stems=True)`` yields for it (one row per recipe track)."""
        names = [t.name for t in recipe.tracks]
        speakers = recipe.gain_sharing.tracks if recipe.gain_sharing is not None else names
        return cls(speakers, sample_rate, rows=[names.index(n) for n in speakers], **options)

    def add(self, stems) -> None:
        """Account one block ``(tracks, channels, n)`` (torch or numpy) of the processed stems."""
        x = stems.detach().cpu().numpy() if isinstance(stems, torch.Tensor) else np.asarray(stems)
        if x.ndim != 3 or x.shape[0] <= max(self.rows, default=-1):
            raise AudioInputError(f"SpeechActivity.add: expected stems shaped (tracks, channels, samples) with "
                                  f"rows {self.rows}, found {x.shape}")
        power = np.square(x[self.rows], dtype=np.float64).mean(1)  # (followed tracks, n)
        start = 0
        if self._partial_count:
            start = min(self.frame - self._partial_count, power.shape[1])
            self._partial += power[:, :start].sum(1)
            self._partial_count += start
            if self._partial_count == self.frame:
                self._frames.append(self._partial[None] / self.frame)
                self._partial, self._partial_count = np.zeros(len(self.names)), 0
        full = (power.shape[1] - start) // self.frame
        if full:
            stop = start + full * self.frame
            self._frames.append(power[:, start:stop].reshape(len(self.names), full, self.frame).mean(2).T)
            start = stop
        if start < power.shape[1]:
            self._partial += power[:, start:].sum(1)
            self._partial_count += power.shape[1] - start

    def _levels_db(self) -> np.ndarray:
        frames = list(self._frames)
        if self._partial_count:
            frames.append(self._partial[None] / self._partial_count)
        if not frames:
            return np.zeros((0, len(self.names)))
        with np.errstate(divide="ignore"):
            return 10.0 * np.log10(np.concatenate(frames))

    def segments(self) -> list[dict]:
        """Speaker turns in time order: ``[{"track": name, "start_s": s, "end_s": s}, ...]`` (not overlapping)."""
        levels = self._levels_db()
        if not levels.size:
            return []
        loudest = levels.max(1)
        finite = loudest[np.isfinite(loudest)]
        if not finite.size:
            return []
        threshold = max(self.threshold_db, float(np.percentile(finite, 95.0)) - self.range_db)
        labels = np.where(loudest >= threshold, levels.argmax(1), -1)
        change = np.flatnonzero(np.diff(labels)) + 1
        starts, ends = np.r_[0, change], np.r_[change, labels.size]
        turns = [[int(labels[a]), int(a), int(b)] for a, b in zip(starts, ends) if labels[a] >= 0]
        turns = self._join(turns)
        turns = self._join([t for t in turns if t[2] - t[1] >= self.min_frames])
        total = (levels.shape[0] - 1) * self.frame + (self._partial_count or self.frame)
        seconds = lambda f: round(min(f * self.frame, total) / self.sample_rate, 3)
        return [{"track": self.names[k], "start_s": seconds(a), "end_s": seconds(b)} for k, a, b in turns]

    def _join(self, turns: list[list[int]]) -> list[list[int]]:
        """Merge neighbouring turns of one track separated by fewer than ``bridge_frames``."""
        out: list[list[int]] = []
        for turn in turns:
            if out and out[-1][0] == turn[0] and turn[1] - out[-1][2] < self.bridge_frames:
                out[-1][2] = turn[2]
            else:
                out.append(list(turn))
        return out

    def summary(self) -> dict[str, float]:
        """Speaking time per track, s (every track listed, 0 for one that never spoke)."""
        out = {name: 0.0 for name in self.names}
        for s in self.segments():
            out[s["track"]] = round(out[s["track"]] + s["end_s"] - s["start_s"], 3)
        return out
