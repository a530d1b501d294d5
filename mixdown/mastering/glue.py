"""Bus compression on the master: a gentle glue compressor that takes 1..2 dB off the loud passages.

Settings are fixed (1.5:1, 6 dB knee, 30 ms attack so transients pass, 200 ms release, stereo-linked, no
make-up: the gain stage sets the level); only the threshold is chosen, so that the measured gain reduction on
the loud passages is :data:`GAIN_REDUCTION_GOAL_DB`. Loud passages are the 400 ms blocks whose RMS level lies in
the top fifth of the non-silent blocks; the gain reduction is the mean drop of their RMS level in dB.

The first threshold comes from the compressor's static curve applied to the 10 ms peak levels of the loud
passages (bisection); the attack and release smoothing make the real reduction differ, so the real compressor
is then run and measured, and the threshold corrected by a secant step: at most three compressor passes, stopping
within 0.2 dB of the goal.

Skipped for genres that live on their dynamics (:data:`DYNAMIC_GENRES`) and for mixes whose loudness range is
already below :data:`MIN_LRA_LU`.
"""

from __future__ import annotations

import numpy as np
import torch

from mixdown.console.recipe import Step
from mixdown.dsp.dynamics import COMPRESSOR_PARAMS, _static_gain, compressor

__all__ = ["DYNAMIC_GENRES", "GAIN_REDUCTION_GOAL_DB", "GLUE_SETTINGS", "MIN_LRA_LU", "design_glue",
           "gain_reduction_db"]

GLUE_SETTINGS = {"ratio": 1.5, "attack_ms": 30.0, "release_ms": 200.0, "knee_db": 6.0, "makeup_db": 0.0,
                 "stereo_link": "linked"}
GAIN_REDUCTION_GOAL_DB = 1.5  # glue, not squash: the design range is 1..2 dB on the loud passages
DYNAMIC_GENRES = ("classical", "jazz", "ambient")
MIN_LRA_LU = 3.0  # a mix this even has nothing left to glue
_BLOCK_S, _PEAK_S = 0.4, 0.01
_LOUD_SHARE = 0.2
_SILENT_DB = -70.0  # blocks below this RMS level are silence, not passages
_PASSES, _CLOSE_ENOUGH_DB = 3, 0.2
_MAX_STEP_DB = 6.0  # a secant through two close measurements can point far away


def _blocks(x: torch.Tensor, seconds: float, sample_rate: float) -> torch.Tensor:
    """``(2, n)`` -> ``(blocks, 2, block_samples)``, the tail shorter than a block dropped."""
    size = max(1, round(seconds * sample_rate))
    n = x.shape[-1] // size * size
    return x[:, :n].reshape(x.shape[0], -1, size).transpose(0, 1)


def _rms_db(x: torch.Tensor, sample_rate: float) -> np.ndarray:
    """RMS level in dB ``(blocks,)`` of the 400 ms blocks of ``(2, n)``."""
    blocks = _blocks(x, _BLOCK_S, sample_rate)
    return 10.0 * np.log10(torch.linalg.vector_norm(blocks, dim=(1, 2)).double().square().numpy()
                           / blocks[0].numel() + 1e-30)


def _loud(level_db: np.ndarray) -> np.ndarray:
    """Mask ``(blocks,)`` of the loud passages: the top fifth of the non-silent blocks."""
    active = level_db > _SILENT_DB
    if not active.any():
        return active
    return active & (level_db >= np.quantile(level_db[active], 1.0 - _LOUD_SHARE))


def gain_reduction_db(before: torch.Tensor | np.ndarray, after: torch.Tensor, sample_rate: float) -> float:
    """Mean drop of the RMS level in dB of the loud 400 ms blocks of ``before`` ``(2, n)`` in ``after`` ``(2, n)``
    (``before`` may also be its block levels from ``_rms_db``, measured once)."""
    level_before = before if isinstance(before, np.ndarray) else _rms_db(before, sample_rate)
    level_after = _rms_db(after, sample_rate)
    loud = _loud(level_before)
    return float(np.mean(level_before[loud] - level_after[loud])) if loud.any() else 0.0


def _threshold_for(peaks_db: torch.Tensor, goal_db: float) -> float:
    """Threshold (dB, in the compressor's range) whose static gain reduction averages ``goal_db`` over ``peaks_db``."""
    slope = torch.tensor([1.0 - 1.0 / GLUE_SETTINGS["ratio"]], dtype=torch.float64)
    knee = torch.tensor([GLUE_SETTINGS["knee_db"]], dtype=torch.float64)
    low, high = COMPRESSOR_PARAMS["threshold_db"].min, COMPRESSOR_PARAMS["threshold_db"].max
    for _ in range(40):  # bisection to 1e-10 dB: the static reduction falls as the threshold rises
        mid = (low + high) / 2
        reduction = -_static_gain(peaks_db[None, None] - mid, slope, knee).mean()
        low, high = (mid, high) if reduction > goal_db else (low, mid)
    return round((low + high) / 2, 2)


def design_glue(x: torch.Tensor, sample_rate: float, loudness_range_lu: float,
                genre: str | None = None) -> tuple[Step | None, torch.Tensor, float | None]:
    """The glue compressor for a master, applied.

    Args:
        x: the master so far, ``(2, samples)``.
        sample_rate: Hz.
        loudness_range_lu: LRA of ``x`` (EBU Tech 3342), LU.
        genre: one of ``mixdown.methods.intent.GENRES``, or None.
    Returns:
        ``(step, y, reduction_db)``: the ``compressor`` step with its reason and ``y = compressor(x)``
        ``(2, samples)``, with the measured gain reduction in dB; or ``(None, x, None)`` when skipped.
    """
    if genre in DYNAMIC_GENRES or not loudness_range_lu >= MIN_LRA_LU:  # NaN (too short to measure) skips too
        return None, x, None
    level_db = _rms_db(x, sample_rate)
    loud = _loud(level_db)
    if not loud.any():
        return None, x, None
    peaks = _blocks(x, _PEAK_S, sample_rate).abs().amax((1, 2)).double()  # (10 ms blocks,) linked peak
    per_block = round(_BLOCK_S * sample_rate) // max(1, round(_PEAK_S * sample_rate))
    chosen = torch.from_numpy(np.repeat(loud, per_block))[: peaks.numel()]
    peaks_db = 20.0 * torch.log10(peaks[: chosen.numel()][chosen].clamp_min(1e-15))
    low, high = COMPRESSOR_PARAMS["threshold_db"].min, COMPRESSOR_PARAMS["threshold_db"].max
    slope = 1.0 - 1.0 / GLUE_SETTINGS["ratio"]
    tried: list[tuple[float, float]] = []  # (threshold, measured reduction)
    threshold = _threshold_for(peaks_db, GAIN_REDUCTION_GOAL_DB)
    for attempt in range(_PASSES):
        with torch.no_grad():
            y = compressor(x[None], sample_rate, threshold_db=threshold, **GLUE_SETTINGS)[0]
        reduction = gain_reduction_db(level_db, y, sample_rate)
        tried.append((threshold, reduction))
        if abs(reduction - GAIN_REDUCTION_GOAL_DB) <= _CLOSE_ENOUGH_DB or attempt == _PASSES - 1:
            break  # the step keeps the threshold y was rendered with
        if len(tried) == 1:  # a threshold 1 dB higher takes at most `slope` dB less off: a safe first step
            step = (reduction - GAIN_REDUCTION_GOAL_DB) / slope
        else:  # secant through the last two measurements
            (t0, r0), (t1, r1) = tried[-2:]
            step = (reduction - GAIN_REDUCTION_GOAL_DB) * (t1 - t0) / (r0 - r1) if r0 != r1 else 0.0
        step = min(max(step, -_MAX_STEP_DB), _MAX_STEP_DB)
        threshold = round(min(max(threshold + step, low), high), 2)
    s = GLUE_SETTINGS
    reason = (f"bus glue: loudness range {loudness_range_lu:.1f} LU, loud passages (top 20 % of 400 ms blocks) at "
              f"{float(np.mean(level_db[loud])):.1f} dBFS RMS; {s['ratio']:g}:1 from {threshold:g} dB takes "
              f"{reduction:.1f} dB off them (measured; aim {GAIN_REDUCTION_GOAL_DB:g} dB)")
    return Step("compressor", {"threshold_db": threshold, **s}, reason), y, reduction
