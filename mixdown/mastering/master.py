"""Mastering to a loudness target: one gain and the true-peak limiter, found by measuring the result.

The limiter takes some loudness off whatever it catches, so the gain is solved by a few rounds of
"apply gain and limiter, measure, correct" on the mix itself (not by re-rendering the tracks): each round costs
one limiter pass and one loudness measurement of the stereo mix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mixdown.analysis.loudness import measure_loudness
from mixdown.console.recipe import Step
from mixdown.dsp.gain import gain
from mixdown.dsp.limiter import limiter
from mixdown.mastering.targets import LoudnessTarget

__all__ = ["MasterResult", "master_to_target"]

_TOLERANCE_LU = 0.05
_MAX_ROUNDS = 6
_LIMITER = {"lookahead_ms": 5.0, "release_ms": 80.0}
_MAX_GAIN_DB = 24.0  # the gain processor's range


@dataclass
class MasterResult:
    """The master chain that reaches the target and what it measured.

    Attributes:
        steps: ``[gain, limiter]`` for the recipe's master chain.
        audio: the mastered mix ``(2, samples)``.
        integrated_lufs, true_peak_db, loudness_range_lu: of ``audio``.
        premaster_lufs: integrated loudness before mastering.
    """

    steps: list[Step]
    audio: torch.Tensor
    integrated_lufs: float
    true_peak_db: float
    loudness_range_lu: float
    premaster_lufs: float


def master_to_target(premaster: torch.Tensor, sample_rate: int, target: LoudnessTarget) -> MasterResult:
    """Gain and true-peak limiting of a premaster ``(2, samples)`` so that it reads ``target``.

    With ``target.integrated_lufs`` None the level is kept and only the ceiling is enforced. Otherwise the gain
    is corrected until the measured integrated loudness is within 0.05 LU of the target (at most 6 rounds; a
    target that needs more than +24 dB stops at +24 dB and says so in the step's reason).

    Returns:
        :class:`MasterResult`.
    """
    x = premaster[None]
    before = measure_loudness(premaster, sample_rate)
    ceiling = target.true_peak_db
    gain_db = 0.0 if target.integrated_lufs is None or not math.isfinite(before.integrated_lufs) else \
        target.integrated_lufs - before.integrated_lufs
    for _ in range(_MAX_ROUNDS):
        applied = gain_db = min(gain_db, _MAX_GAIN_DB)
        with torch.no_grad():
            y = limiter(gain(x, sample_rate, gain_db=applied), sample_rate, ceiling_db=ceiling, **_LIMITER)[0]
        report = measure_loudness(y, sample_rate)
        if target.integrated_lufs is None or not math.isfinite(report.integrated_lufs):
            break
        error = target.integrated_lufs - report.integrated_lufs
        if abs(error) <= _TOLERANCE_LU or gain_db >= _MAX_GAIN_DB:
            break
        gain_db += error
    goal = "keep the level" if target.integrated_lufs is None else f"{target.integrated_lufs:g} LUFS"
    steps = [
        Step("gain", {"gain_db": applied},
             f"premaster {before.integrated_lufs:.1f} LUFS; target {target.name} ({goal}) measured "
             f"{report.integrated_lufs:.2f} LUFS after the limiter"),
        Step("limiter", {"ceiling_db": ceiling, **_LIMITER},
             f"true peak at most {ceiling:g} dBTP ({target.name}); reads {report.true_peak_db:.2f} dBTP"),
    ]
    return MasterResult(steps, y, report.integrated_lufs, report.true_peak_db, report.loudness_range_lu,
                        before.integrated_lufs)
