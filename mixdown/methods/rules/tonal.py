"""Tonal correction: a few interpretable EQ bands that move each family's spectrum part of the way toward the
average spectrum of professional stems of that family (MUSDB18, measured by FxNorm).

The comparison is made on the family as it will sound in the mix (its tracks power-summed at their fader gains,
after their high-passes), so three drum microphones are judged together against professional drum stems and a
hi-hat is never pulled toward a whole kit. Only the shape counts: both curves are brought to the same mean level
over the bands where the family is meant to play (an octave above its lowest high-pass up to 16 kHz) and where
both hold energy. The difference, smoothed over about an octave and halved (the target is an average of many
songs, not this song's ideal; a quarter in acoustic genres), is fitted greedily with at most three bands of the
parametric EQ (low shelf, high shelf, and peaks in the slots the masking cut leaves free), gains bounded (shelves
3 dB, peaks and their sum 4 dB) and kept only when they move at least 1.5 dB. Every member of the family gets
the same bands, so the family sum is what is corrected.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from mixdown.analysis.professional import family_band_power
from mixdown.analysis.report import SessionAnalysis
from mixdown.analysis.roles import family_of
from mixdown.console.recipe import Step
from mixdown.dsp.filters import section_response_db
from mixdown.mastering.tone import eq_below_nyquist
from mixdown.methods.rules.tables import ROLE_RULES, TONAL_SHARE

__all__ = ["combined_eq", "family_curve_db", "fit_bands", "tonal_corrections"]

_SHELF_LIMIT_DB = 3.0
_PEAK_LIMIT_DB = 4.0
_MIN_MOVE_DB = 1.5  # smaller moves are not worth a band
_MAX_BANDS = 3
_ENERGY_RANGE_DB = 40.0  # bands further below the curve's loudest band hold nothing worth shaping
_TOP_HZ = 16000.0
_MIN_VALID_BANDS = 6
_SMOOTHING = np.array([1.0, 2.0, 3.0, 2.0, 1.0])  # triangular, 5 third-octave bands: about an octave
_LOW_SHELF_HZ = (60.0, 100.0, 150.0, 250.0, 400.0)
_HIGH_SHELF_HZ = (2500.0, 4000.0, 6000.0, 8000.0, 10000.0)
_PEAK_Q = (0.7, 1.4)
_PEAK_SLOTS = ("peak1", "peak3", "peak4")  # peak2 belongs to the masking cut (decide.masking_cuts)
_DESIGN_DB = 3.0  # unit responses are designed at this gain and scaled (RBJ boosts and cuts mirror in dB)


def family_curve_db(family: str, centres_hz: np.ndarray) -> np.ndarray:
    """Professional average spectrum of a family on the analysis's 1/3-octave bands.

    The MUSDB18 mean magnitude spectrum (FxNorm, N = 65536 at 44.1 kHz) is squared to power and summed over each
    band's edges (a half band either side of the centre), as :func:`mixdown.analysis.spectral.average_spectrum`
    integrates a track's power. Only the shape is meaningful (the features are not calibrated to full scale).

    Args:
        family: ``vocals``, ``drums``, ``bass`` or ``other``.
        centres_hz: ``(bands,)`` band centres in Hz.
    Returns:
        ``(bands,)`` band levels in dB (arbitrary reference); -inf for a band above 22.05 kHz.
    """
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(family_band_power(family, centres_hz))


def tonal_corrections(analysis: SessionAnalysis, roles: list[str], gains_db: list[float | None],
                      active: list[bool], share: float = TONAL_SHARE) -> dict[int, tuple[dict[str, float], str]]:
    """EQ bands that move each family's summed spectrum part of the way toward professional stems of that family.

    Args:
        analysis: the session's analysis (``spectrum_db`` per track on ``spectrum_hz``, ``sample_rate``).
        roles: the role of each track.
        gains_db: each track's fader gain in dB (None for a silent track, left out).
        active: False for tracks left out of the correction (``keep``, muted).
        share: part of the measured deviation to correct (``tables.GENRE_TONAL_SHARE`` by genre).
    Returns:
        ``{track index: (parametric_eq params, reason)}`` for the members of every family that needs a
        correction; the params use only ``low_shelf``, ``high_shelf`` and ``peak1/3/4``.
    """
    centres = np.asarray(analysis.spectrum_hz, dtype=np.float64)
    out: dict[int, tuple[dict[str, float], str]] = {}
    families: dict[str, list[int]] = {}
    for i, (role, gain, on) in enumerate(zip(roles, gains_db, active)):
        if on and gain is not None:
            families.setdefault(family_of(role), []).append(i)
    for family, members in families.items():
        levels = [analysis.tracks[i].spectrum_db + gains_db[i] + _highpass_db(roles[i], centres) for i in members]
        with np.errstate(divide="ignore"):
            measured = 10.0 * np.log10(np.sum([10.0 ** (lv / 10.0) for lv in levels], axis=0))
        lowest = min(ROLE_RULES[roles[i]].highpass_hz or 20.0 for i in members)
        fitted = fit_bands(measured, family_curve_db(family, centres), centres, analysis.sample_rate,
                           2.0 * lowest, share)
        if fitted is None:
            continue
        params, parts = fitted
        who = f"{family} ({len(members)} tracks together)" if len(members) > 1 else family
        reason = (f"tonal balance of {who} vs professional {family} (MUSDB18, shape only, {share:g} of the "
                  f"deviation): " + "; ".join(parts))
        for i in members:
            out[i] = (params, reason)
    return out


def fit_bands(measured_db: np.ndarray, target_db: np.ndarray, centres_hz: np.ndarray, sample_rate: float,
              low_hz: float, share: float = TONAL_SHARE) -> tuple[dict[str, float], list[str]] | None:
    """Fit at most three bounded EQ bands to ``share`` of the smoothed shape difference ``target - measured``.

    Args:
        measured_db, target_db: ``(bands,)`` levels in dB on ``centres_hz``.
        centres_hz: ``(bands,)`` Hz.
        sample_rate: Hz (bands stay below 0.4 x sample rate).
        low_hz: bands below this are left out (the high-pass's business).
        share: part of the deviation to correct.
    Returns:
        ``(params, reasons)``: parametric_eq parameters and one phrase per band quoting the measured deviation;
        None where no band would move 1.5 dB (the spectrum is already close).
    """
    top = min(_TOP_HZ, 0.4 * sample_rate)
    valid = (centres_hz >= low_hz) & (centres_hz <= top) & np.isfinite(measured_db) & np.isfinite(target_db)
    if valid.sum() < _MIN_VALID_BANDS:
        return None
    valid &= measured_db >= measured_db[valid].max() - _ENERGY_RANGE_DB
    valid &= target_db >= target_db[valid].max() - _ENERGY_RANGE_DB
    if valid.sum() < _MIN_VALID_BANDS:
        return None
    deviation = np.zeros_like(centres_hz)
    deviation[valid] = (target_db[valid] - target_db[valid].mean()) - (measured_db[valid] - measured_db[valid].mean())
    deviation = _smooth(deviation, valid)
    residual = np.where(valid, share * deviation, 0.0)
    chosen: list[tuple[str, float, float, float, np.ndarray]] = []  # (kind, frequency, q, gain, response)
    for _ in range(_MAX_BANDS):
        best = None
        for kind, frequency, q, unit in _candidates(centres_hz, valid, sample_rate, top):
            if _taken(kind, frequency, chosen):
                continue
            r = np.where(valid, unit, 0.0)
            energy = float(r @ r)
            if energy <= 0.0:
                continue
            limit = _PEAK_LIMIT_DB if kind == "peak" else _SHELF_LIMIT_DB
            gain = float(np.clip(residual @ r / energy, -limit, limit))
            improvement = float(residual @ residual - (residual - gain * r) @ (residual - gain * r))
            if best is None or improvement > best[0]:
                best = (improvement, kind, frequency, q, gain, unit)
        if best is None or abs(best[4]) < _MIN_MOVE_DB:
            break
        _, kind, frequency, q, gain, unit = best
        chosen.append((kind, frequency, q, round(gain, 1), unit))
        residual = residual - np.where(valid, gain * unit, 0.0)
    chosen = _within_bound(chosen, valid)
    if not chosen:
        return None
    return _as_params(chosen, deviation, valid, centres_hz)


def _within_bound(chosen: list, valid: np.ndarray) -> list:
    """Scale all gains down together where overlapping bands add up past the peak bound, then drop the bands
    left under the smallest move."""
    total = np.abs(sum(c[3] * c[4] for c in chosen))[valid].max() if chosen else 0.0
    scale = min(1.0, _PEAK_LIMIT_DB / total) if total > 0.0 else 1.0
    scaled = [(kind, f, q, round(gain * scale, 1), unit) for kind, f, q, gain, unit in chosen]
    return [c for c in scaled if abs(c[3]) >= _MIN_MOVE_DB]


def combined_eq(cut: Step | None, tonal: tuple[dict[str, float], str] | None,
                sample_rate: float | None = None) -> Step | None:
    """One parametric_eq step holding a track's masking cut (peak2) and its tonal bands, with both reasons.

    With ``sample_rate``, the bands it does not use are placed below Nyquist where their defaults are not
    (:func:`mixdown.mastering.tone.eq_below_nyquist`: peak4 and the high shelf at 16 kHz and below)."""
    if cut is None and tonal is None:
        return None
    if tonal is None:
        step = cut
    elif cut is None:
        step = Step("parametric_eq", dict(tonal[0]), tonal[1])
    else:
        step = Step("parametric_eq", {**cut.params, **tonal[0]}, f"{cut.reason}; {tonal[1]}")
    if sample_rate is None:
        return step
    params = eq_below_nyquist(step.params, sample_rate)
    return step if params == step.params else Step("parametric_eq", params, step.reason)


def _highpass_db(role: str, centres_hz: np.ndarray) -> np.ndarray:
    """Level change of the role's 12 dB/octave Butterworth high-pass at the band centres, dB."""
    cutoff = ROLE_RULES[role].highpass_hz
    if cutoff is None:
        return np.zeros_like(centres_hz)
    ratio4 = (centres_hz / cutoff) ** 4
    return 10.0 * np.log10(ratio4 / (1.0 + ratio4))


def _smooth(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Triangular moving average over valid bands only (normalised by the weights present)."""
    weights = valid.astype(np.float64)
    total = np.convolve(values * weights, _SMOOTHING, mode="same")
    norm = np.convolve(weights, _SMOOTHING, mode="same")
    return np.where(valid, total / np.maximum(norm, 1e-12), 0.0)


def _candidates(centres_hz: np.ndarray, valid: np.ndarray, sample_rate: float, top: float):
    """Every band shape the fit may use: ``(kind, frequency_hz, q, response in dB per dB of gain)``; peaks sit on
    the bands being compared."""
    for frequency in _LOW_SHELF_HZ:
        yield "low_shelf", frequency, 0.707, _unit_response("low_shelf", frequency, 0.707, centres_hz, sample_rate)
    for frequency in _HIGH_SHELF_HZ:
        if frequency <= top:
            yield "high_shelf", frequency, 0.707, _unit_response("high_shelf", frequency, 0.707, centres_hz,
                                                                 sample_rate)
    for frequency in centres_hz[valid & (centres_hz >= 80.0) & (centres_hz <= 10000.0)]:
        for q in _PEAK_Q:
            yield "peak", float(frequency), q, _unit_response("peak", float(frequency), q, centres_hz, sample_rate)


@cache
def _unit_response_cached(kind: str, frequency: float, q: float, centres: tuple, sample_rate: float) -> np.ndarray:
    return section_response_db(kind, frequency, q, _DESIGN_DB, np.asarray(centres), sample_rate) / _DESIGN_DB


def _unit_response(kind: str, frequency: float, q: float, centres_hz: np.ndarray, sample_rate: float) -> np.ndarray:
    return _unit_response_cached(kind, frequency, q, tuple(np.round(centres_hz, 6)), float(sample_rate))


def _taken(kind: str, frequency: float, chosen: list) -> bool:
    """A shelf is used once; peaks while a peak slot is free, at least an octave from the peaks already chosen."""
    if kind != "peak":
        return any(c[0] == kind for c in chosen)
    peaks = [c[1] for c in chosen if c[0] == "peak"]
    return len(peaks) >= len(_PEAK_SLOTS) or any(abs(math.log2(frequency / f)) < 1.0 for f in peaks)


def _as_params(chosen: list, deviation: np.ndarray, valid: np.ndarray,
               centres_hz: np.ndarray) -> tuple[dict[str, float], list[str]]:
    """Parameters in the EQ's slots (peaks in frequency order) and a phrase per band quoting the deviation."""
    params: dict[str, float] = {}
    parts = []
    peak_slots = iter(_PEAK_SLOTS)
    for kind, frequency, q, gain, unit in sorted(chosen, key=lambda c: c[1]):
        slot = next(peak_slots) if kind == "peak" else kind  # peaks take peak1, peak3, peak4 upward in frequency
        params.update({f"{slot}_gain_db": gain, f"{slot}_freq_hz": round(frequency, 1), f"{slot}_q": q})
        region = valid & (np.abs(unit) >= 0.5 * np.abs(unit[valid]).max())
        measured = float(deviation[region].mean())
        low, high = _hz(centres_hz[region].min()), _hz(centres_hz[region].max())
        where = {"low_shelf": f"below {high}", "high_shelf": f"above {low}"}.get(
            kind, f"{low}-{high}" if low != high else f"around {low}")
        label = {"low_shelf": "low shelf", "high_shelf": "high shelf"}.get(kind, f"peak (Q {q:g})")
        parts.append(f"{abs(measured):.1f} dB {'less' if measured > 0 else 'more'} {where}: {gain:+.1f} dB "
                     f"{label} at {_hz(frequency)}")
    return params, parts


def _hz(frequency: float) -> str:
    return f"{frequency / 1000.0:.1f} kHz" if frequency >= 1000.0 else f"{frequency:.0f} Hz"
