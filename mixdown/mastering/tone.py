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

The EQ is the parametric EQ's low shelf (150 Hz), high shelf (4 kHz) and one broad peak (Q 0.7, its centre
searched on the third-octave grid from 300 Hz to 3 kHz, between the shelves), fitted to ``amount * (goal - mix)``
by bounded least squares on their exact RBJ responses at the band centres; if the bands together still exceed
the bound somewhere, all gains are scaled down until they do not.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy.optimize import lsq_linear

from mixdown.analysis.professional import FAMILIES, family_band_power, feature
from mixdown.analysis.spectral import average_spectrum
from mixdown.dsp.filters import section_response_db

__all__ = ["MIN_SAMPLES", "TONE_RANGE_HZ", "design_tone_eq", "neutral_curve", "tonal_balance", "tone_distance_db"]

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
    shapes = {"low_shelf": _LOW_SHELF, "high_shelf": _HIGH_SHELF}
    shelves = [section_response_db(kind, f, q, 1.0, centres_hz, sample_rate) for kind, f, q in shapes.values()]
    best = None
    candidates = [None] + [f for f in centres_hz if _PEAK_RANGE_HZ[0] <= f <= _PEAK_RANGE_HZ[1]]
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
