"""Tonal balance of a master: third-octave shape, the neutral target curve, and the gentle EQ that moves toward it.

Tonal balance is the long-term third-octave spectrum of the mono mix from 40 Hz to 16 kHz
(:func:`mixdown.analysis.spectral.average_spectrum`), level-normalised by subtracting its mean in dB: only the
shape counts, the gain stage sets the level. The distance between two shapes is the RMS of their difference
in dB (after removing the mean difference).

The neutral target (no reference) is the power sum of MUSDB18's four family spectra (FxNorm's average magnitude
spectra of vocals, drums, bass and other, ``mixdown/assets/musdb18_features``), each scaled to unit power
over 40 Hz..16 kHz and weighted by its family's average loudness in the mixes: the tonal balance of an average
professional mix. It falls about 1.8 dB per octave in third-octave bands (4.8 dB per octave in power density,
pink noise being 3), with a bass bump at 80..160 Hz.

The EQ is the parametric EQ's low shelf (150 Hz), high shelf (4 kHz; a quarter of the sample rate below 16 kHz)
and one broad peak (Q 0.7, its centre searched on the third-octave grid from 300 Hz to 3 kHz or 0.75 of the
high shelf, between the shelves), fitted to ``amount * (goal - mix)``
by bounded least squares on their exact RBJ responses at the band centres; if the bands together still exceed
the bound somewhere, all gains are scaled down until they do not.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from scipy.optimize import lsq_linear

from mixdown.analysis.professional import FAMILIES, family_band_power, feature
from mixdown.analysis.spectral import average_spectrum
from mixdown.dsp.filters import EQ_BANDS, section_response_db

__all__ = [
    "MIN_SAMPLES",
    "NYQUIST_SHARE",
    "TONE_RANGE_HZ",
    "design_tone_eq",
    "eq_below_nyquist",
    "neutral_curve",
    "tonal_balance",
    "tone_distance_db",
]

TONE_RANGE_HZ = (40.0, 16000.0)  # below 40 Hz is rumble a master EQ should not chase; above 16 kHz is air
MIN_SAMPLES = 16384  # one Welch window of average_spectrum: a shorter signal has no tonal balance to speak of
_BANDS_PER_OCTAVE = 3
_SILENT_DB = -120.0  # a silent band reads this instead of -inf, so shapes stay finite
# The EQ's shapes: parametric_eq band -> (RBJ kind, frequency in Hz, Q); the peak's frequency is searched.
_LOW_SHELF = ("low_shelf", 150.0, 0.707)
_HIGH_SHELF = ("high_shelf", 4000.0, 0.707)
# The peak works between the shelves, where they cannot reach, so the bands never stack at one frequency.
_PEAK_BAND, _PEAK_Q, _PEAK_RANGE_HZ = "peak2", 0.7, (300.0, 3000.0)
_MIN_PEAK_DB = 0.5  # a broad peak smaller than this is not worth a band
NYQUIST_SHARE = 0.45  # every frequency an automatic decision places stays below this share of the sample rate
_HIGH_SHELF_SHARE = 0.25  # at low rates the high shelf moves down to a quarter of the rate (2 kHz at 8 kHz)
_PEAK_BELOW_SHELF = 0.75  # and the peak's range ends under it, so the bands still never stack
_STEP_DB = 0.1  # gains are rounded to this, for a readable recipe


def tonal_balance(x, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Level-normalised third-octave spectrum of the mono mix from 40 Hz to 16 kHz (or Nyquist).

    Args:
        x: ``(channels, samples)`` numpy array or tensor, at least 16384 samples.
        sample_rate: Hz, at least 8000.
    Returns:
        ``(centres_hz, shape_db)``: ``(bands,)`` each; ``shape_db`` has zero mean.
    """
    fmax = min(TONE_RANGE_HZ[1], sample_rate / 2.0)
    centres, level = average_spectrum(x, sample_rate, _BANDS_PER_OCTAVE, TONE_RANGE_HZ[0], fmax)
    level = np.maximum(level, _SILENT_DB)
    return centres, level - level.mean()


def neutral_curve(centres_hz: np.ndarray) -> np.ndarray:
    """The neutral target shape (MUSDB18 family spectra, loudness-weighted power sum) at third-octave centres.

    Args:
        centres_hz: ``(bands,)`` third-octave centres from :func:`tonal_balance`.
    Returns:
        ``(bands,)`` level-normalised dB (zero mean).
    """
    level = 10.0 * np.log10(_neutral_power(tuple(float(c) for c in centres_hz)))
    return level - level.mean()


@cache
def _neutral_power(centres: tuple[float, ...]) -> np.ndarray:
    """The families' band powers, each at unit total (the stems' scale is unknown) times its loudness."""
    total = 0.0
    for family in FAMILIES:
        bands = family_band_power(family, np.asarray(centres), _BANDS_PER_OCTAVE)
        total = total + bands / bands.sum() * 10.0 ** (feature(f"loudness__{family}")[0] / 10.0)
    return total


def tone_distance_db(shape_db: np.ndarray, goal_db: np.ndarray) -> float:
    """RMS difference in dB of two tonal shapes ``(bands,)``, ignoring a level offset."""
    diff = np.asarray(shape_db) - np.asarray(goal_db)
    return float(np.sqrt(np.mean((diff - diff.mean()) ** 2)))


def design_tone_eq(centres_hz: np.ndarray, shape_db: np.ndarray, goal_db: np.ndarray, sample_rate: float,
                   amount: float, bound_db: float) -> tuple[dict[str, float], np.ndarray]:
    """Shelves and at most one broad peak that move ``shape_db`` by ``amount`` of the way to ``goal_db``.

    Each gain, and the whole response at every band centre, stays within ``bound_db`` either way (bounded least
    squares on the exact responses with a free level offset, since only shapes count; then a common scale-down
    where the bands add up past the bound).

    Args:
        centres_hz, shape_db, goal_db: ``(bands,)`` from :func:`tonal_balance` / :func:`neutral_curve`.
        sample_rate: Hz of the audio the EQ will run on.
        amount: 0..1, share of the difference to correct.
        bound_db: largest gain of any band, dB.
    Returns:
        ``(params, response_db)``: ``parametric_eq`` parameters (only the bands used; empty when every gain
        rounds to 0) and the EQ's predicted response ``(bands,)`` in dB at ``centres_hz``.
    """
    centres_hz = np.asarray(centres_hz)
    wanted = amount * (np.asarray(goal_db) - np.asarray(shape_db))
    kind, high_hz, high_q = _HIGH_SHELF
    high_hz = min(high_hz, _HIGH_SHELF_SHARE * sample_rate)  # 4 kHz is Nyquist at 8 kHz: the shelf moves down
    shapes = {"low_shelf": _LOW_SHELF, "high_shelf": (kind, high_hz, high_q)}
    shelves = [section_response_db(kind, f, q, 1.0, centres_hz, sample_rate) for kind, f, q in shapes.values()]
    best = None
    peak_top = min(_PEAK_RANGE_HZ[1], _PEAK_BELOW_SHELF * high_hz)
    candidates = [None] + [f for f in centres_hz if _PEAK_RANGE_HZ[0] <= f <= peak_top]
    for peak_hz in candidates:
        basis = [np.ones_like(centres_hz), *shelves]
        if peak_hz is not None:
            basis.append(section_response_db("peak", peak_hz, _PEAK_Q, 1.0, centres_hz, sample_rate))
        a = np.stack(basis, 1)
        k = a.shape[1] - 1
        fit = lsq_linear(a, wanted, bounds=([-np.inf] + [-bound_db] * k, [np.inf] + [bound_db] * k))
        if peak_hz is not None and abs(fit.x[-1]) < _MIN_PEAK_DB:
            continue
        if best is None or fit.cost < best[0]:
            best = (fit.cost, peak_hz, fit.x[1:])
    _, peak_hz, gains = best
    bands = list(shapes.items())
    if peak_hz is not None:
        bands.append((_PEAK_BAND, ("peak", round(float(peak_hz), 1), _PEAK_Q)))

    def response_of(g: np.ndarray) -> np.ndarray:
        return sum((section_response_db(kind, f, q, float(v), centres_hz, sample_rate)
                    for (_, (kind, f, q)), v in zip(bands, g)), np.zeros_like(centres_hz))

    peak = np.abs(response_of(gains)).max()
    if peak > bound_db:  # dB responses are close to linear in the gains, so one scale-down holds the bound
        gains = gains * (bound_db / peak)
    gains = np.trunc(gains / _STEP_DB) * _STEP_DB  # toward 0, so rounding never crosses the bound
    params: dict[str, float] = {}
    for (band, (_, f, q)), g in zip(bands, gains):
        if g != 0.0:
            params.update({f"{band}_gain_db": round(float(g), 1), f"{band}_freq_hz": f, f"{band}_q": q})
    return params, response_of(gains)


def eq_below_nyquist(params: dict[str, float], sample_rate: float) -> dict[str, float]:
    """``parametric_eq`` parameters with every band the EQ does not use placed below Nyquist.

    The EQ checks all six bands' frequencies against Nyquist, the flat ones too, and the defaults of the top
    bands (peak4 6 kHz, high shelf 8 kHz) are at or above it at 16 kHz and below. A band left out of
    ``params`` gets, only where its default is too high, the frequency ``0.45 * sample_rate`` (rounded down to
    1 Hz) at 0 dB: still flat, now renderable. A band in use is never moved (its frequency is a decision,
    made below Nyquist; the render refuses it otherwise).

    Args:
        params: ``parametric_eq`` parameters (any subset).
        sample_rate: Hz of the audio the EQ runs on.
    Returns:
        a new dict: ``params`` plus ``<band>_freq_hz`` and ``<band>_gain_db`` (0) for the moved bands.
    """
    top = float(math.floor(NYQUIST_SHARE * sample_rate))
    out = dict(params)
    for band, _, default_hz, (low_hz, _), _, _ in EQ_BANDS:
        if f"{band}_freq_hz" not in out and default_hz >= top:
            out.update({f"{band}_gain_db": 0.0, f"{band}_freq_hz": max(low_hz, top)})
    return out
