"""FxNorm's objective metric: mean absolute percentage error (MAPE) of mixing features, mix against reference.

Four groups (Martinez-Ramirez et al. 2022, REFERENCE section 4), each the mean of its features' MAPE:

========== ============================================================ =================================
group      features (per frame unless noted)                            signal measured
========== ============================================================ =================================
loudness   integrated loudness and true peak, one value each, as the    aligned, *not* normalised: the
           linear amplitudes ``10^(LUFS/20)`` and ``10^(dBTP/20)``      level is a property of the mix
spectral   centroid, bandwidth, contrast, roll-off 85 %, flatness of    peak-normalised to -1 dBFS
           the mono mix, STFT 4096 / 1024 (``frame_descriptors``)
panning    RMS of the spectral panning index per band 0-22050, 0-250,   peak-normalised to -1 dBFS
           250-2500, 2500-22050 Hz, STFT 2048 / 1024 (``spi_frames``)
dynamics   frame RMS (linear), frame crest factor ``peak / RMS``        peak-normalised to -1 dBFS
           (linear), frames 4096 / 1024; dynamic spread, one value
           (``dynamics_features``: std of the active frames' dB RMS)
========== ============================================================ =================================

Frame series are smoothed by a running mean of :data:`SMOOTHING_FRAMES` frames (valid part only; fewer when the
signal has fewer frames) before ``MAPE = 100 mean_t |mix_t - ref_t| / max(|ref_t|, floor)`` in percent. The
floors (:data:`MAPE_FLOORS`, in each feature's unit) only guard a reference value of 0 (silence, a mono
reference's SPI): identical signals give exactly 0, nothing gives NaN.

Why linear amplitudes for the loudness group: MAPE divides by the reference value, and LUFS / dBFS values are
negative numbers whose distance from 0 carries no meaning (a 6 dB error is 43 % of -14 LUFS but 26 % of
-23 LUFS). As amplitudes, +6 dB reads 100 % and -6 dB reads 50 % at any level. Frame RMS and crest are linear
for the same reason; spectral features are in Hz, dB (contrast) or a 0..1 ratio, as FxNorm computes them.

References: M. A. Martinez-Ramirez, W.-H. Liao, G. Fabbro, S. Uhlich, C. Nagashima, Y. Mitsufuji, "Automatic
music mixing with deep learning and out-of-domain data", ISMIR 2022 (features, peak normalisation, smoothing).
"""

from __future__ import annotations

import numpy as np
import torch

from mixdown.analysis.dynamics import FRAME_LENGTH, HOP_LENGTH, dynamics_features
from mixdown.analysis.loudness import LoudnessReport, measure_loudness
from mixdown.analysis.spectral import frame_descriptors
from mixdown.analysis.stereo import spi_frames

__all__ = ["GROUPS", "MAPE_FLOORS", "PEAK_NORMALISATION_DB", "SMOOTHING_FRAMES", "fxnorm_features", "fxnorm_mape",
           "mape"]

GROUPS = {
    "loudness": ("integrated_loudness", "peak"),
    "spectral": ("centroid", "bandwidth", "contrast", "rolloff", "flatness"),
    "panning": ("spi_rms_all", "spi_rms_low", "spi_rms_mid", "spi_rms_high"),
    "dynamics": ("rms", "crest", "dynamic_spread"),
}
"""Feature names of each FxNorm group, in report order."""
MAPE_FLOORS = {
    "integrated_loudness": 1e-5, "peak": 1e-5,  # amplitude, -100 dB
    "centroid": 1.0, "bandwidth": 1.0, "rolloff": 1.0,  # Hz
    "contrast": 0.1,  # dB
    "flatness": 1e-3,  # ratio; -30 dB counts as tonal
    "spi_rms_all": 1e-2, "spi_rms_low": 1e-2, "spi_rms_mid": 1e-2, "spi_rms_high": 1e-2,  # SPI, 0..1
    "rms": 1e-5,  # amplitude, -100 dBFS
    "crest": 1.0,  # ratio, never below 1
    "dynamic_spread": 0.1,  # dB
}
"""Smallest reference magnitude a MAPE divides by, per feature, in the feature's unit."""
SMOOTHING_FRAMES = 40
PEAK_NORMALISATION_DB = -1.0
_PANNING_BANDS = ("all", "low", "mid", "high")  # order of mixdown.analysis.stereo.PANNING_BANDS_HZ


def fxnorm_features(x: torch.Tensor, sample_rate: float,
                    loudness: LoudnessReport | None = None) -> dict[str, dict[str, np.ndarray]]:
    """FxNorm's features of one stereo signal, smoothed, grouped as in :data:`GROUPS`.

    Args:
        x: ``(2, samples)`` float tensor, at least 4096 samples (see :func:`mixdown.evaluate.alignment.as_stereo`).
        sample_rate: Hz, at least 8000.
        loudness: ``measure_loudness(x, sample_rate)`` when already measured (it is measured otherwise).
    Returns:
        ``group -> feature -> (values,)`` float64: one value for the loudness features and the dynamic spread,
        a smoothed series per frame for the others.

    Properties: not differentiable; deterministic; bit-identical for bit-identical inputs.
    """
    if loudness is None:
        loudness = measure_loudness(x, sample_rate)
    with np.errstate(divide="ignore"):  # -inf LUFS / dBTP of silence read amplitude 0
        out = {"loudness": {"integrated_loudness": np.array([10.0 ** (loudness.integrated_lufs / 20.0)]),
                            "peak": np.array([10.0 ** (loudness.true_peak_db / 20.0)])}}
    normalised = _peak_normalise(x)
    descriptors = frame_descriptors(normalised, sample_rate, n_fft=4096, hop_length=1024)
    out["spectral"] = {name: _smooth(descriptors[name]) for name in GROUPS["spectral"]}
    spi = spi_frames(normalised, sample_rate)  # (frames, 4)
    out["panning"] = {f"spi_rms_{band}": _smooth(spi[:, i]) for i, band in enumerate(_PANNING_BANDS)}
    out["dynamics"] = _dynamics(normalised, sample_rate)
    return out


def fxnorm_mape(mix: dict[str, dict[str, np.ndarray]],
                reference: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """MAPE (%) of every feature of :func:`fxnorm_features` outputs of equal-length signals, ``group ->
    feature -> float``."""
    return {group: {name: mape(mix[group][name], reference[group][name], MAPE_FLOORS[name]) for name in names}
            for group, names in GROUPS.items()}


def mape(value: np.ndarray, reference: np.ndarray, floor: float) -> float:
    """``100 mean |value - reference| / max(|reference|, floor)``, percent; 0 for identical arrays."""
    return float(100.0 * np.mean(np.abs(value - reference) / np.maximum(np.abs(reference), floor)))


def _peak_normalise(x: torch.Tensor) -> torch.Tensor:
    """``x`` scaled so its largest absolute sample is -1 dBFS (silence unchanged)."""
    peak = float(torch.maximum(x.amax(), -x.amin()))
    return x * (10.0 ** (PEAK_NORMALISATION_DB / 20.0) / peak) if peak > 0 else x


def _smooth(series: np.ndarray) -> np.ndarray:
    """Running mean over ``min(SMOOTHING_FRAMES, frames)`` frames, valid part, float64."""
    width = min(SMOOTHING_FRAMES, series.shape[-1])
    cumulative = np.concatenate([[0.0], np.cumsum(series, dtype=np.float64)])
    return (cumulative[width:] - cumulative[:-width]) / width


def _dynamics(x: torch.Tensor, sample_rate: float) -> dict[str, np.ndarray]:
    """Smoothed frame RMS and crest (linear) and the dynamic spread (dB) of a peak-normalised ``(2, samples)``."""
    features = dynamics_features(x, sample_rate)
    with np.errstate(divide="ignore"):
        rms = 10.0 ** (features["rms_db"] / 20.0)  # silent frames: -inf dB -> 0
    peak = _frame_peaks(x)
    crest = np.where(rms > 0, peak / np.where(rms > 0, rms, 1.0), 1.0)
    return {"rms": _smooth(rms), "crest": _smooth(crest), "dynamic_spread": np.array([features["dynamic_spread_db"]])}


def _frame_peaks(x: torch.Tensor) -> np.ndarray:
    """Largest absolute sample of either channel per frame, frames as in ``dynamics_features`` (4096 samples,
    hop 1024, not padded): the max of 4 consecutive 1024-sample block peaks, ``(frames,)`` float64."""
    n_blocks = x.shape[-1] // HOP_LENGTH
    blocks = x[:, : n_blocks * HOP_LENGTH].unflatten(-1, (n_blocks, HOP_LENGTH))
    block_peak = torch.maximum(blocks.amax(-1), -blocks.amin(-1)).amax(0).to(torch.float64).numpy()
    per_frame = FRAME_LENGTH // HOP_LENGTH
    n_frames = n_blocks - per_frame + 1
    return np.max([block_peak[i : i + n_frames] for i in range(per_frame)], axis=0)
