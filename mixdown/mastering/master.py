"""The master chain: gentle EQ, bus compression, width, then the gain and true-peak limiter that reach the target.

Order: ``parametric_eq -> compressor -> widener -> gain -> limiter``; each is a registered processor step, so
``mixdown render`` re-renders the same master from the recipe. The first three are decided once from
measurements of the premaster (and of the reference, when there is one); a step that would do nothing is left
out. The limiter takes some loudness off whatever it catches, so the gain is solved by a few rounds of "apply
gain and limiter, measure, correct" on the processed mix: each round costs one limiter pass and one loudness
measurement.

Without a reference the EQ moves the tonal balance toward the neutral curve (:mod:`mixdown.mastering.tone`) with
gains of at most 2 dB, and only when the shape is more than 1 dB RMS away from it. With a reference
(:mod:`mixdown.mastering.reference`) the EQ aims at the reference's shape instead (``tone`` amount, gains up to
4 dB), the widener moves the side/mid ratio toward the reference's (``width`` amount, 0.5..1.5), and the loudness
target moves toward the reference's integrated loudness (``loudness`` amount); the ceiling stays the chosen
target's, and the result is clamped to the custom-target range (-40..-5 LUFS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from mixdown.analysis.loudness import measure_loudness
from mixdown.console.recipe import Step
from mixdown.dsp.registry import PROCESSORS
from mixdown.mastering.glue import design_glue
from mixdown.mastering.reference import (
    MONO_SIDE_MID_DB,
    Reference,
    check_amounts,
    side_mid_db,
)
from mixdown.mastering.targets import LUFS_RANGE, LoudnessTarget
from mixdown.mastering.tone import (
    MIN_SAMPLES,
    TONE_RANGE_HZ,
    design_tone_eq,
    eq_below_nyquist,
    neutral_curve,
    tonal_balance,
    tone_distance_db,
)

__all__ = ["MasterResult", "master_to_target"]

_TOLERANCE_LU = 0.05
_MAX_ROUNDS = 6
_LIMITER = {"lookahead_ms": 5.0, "release_ms": 80.0}
_MAX_GAIN_DB = 24.0  # the gain processor's range
_BLOCK_SECONDS = 10.0  # streaming block of the master chain's processors
_SATURATED_DB_PER_LU = 10.0  # past this the limiter turns extra gain into distortion, not loudness
_NEUTRAL_EQ_DB, _REFERENCE_EQ_DB = 2.0, 4.0  # largest EQ gain: gentle alone, wider when matching a reference
_TONE_SKIP_DB = 1.0  # a shape within 1 dB RMS of its goal is left alone (the measurement's own spread)
_WIDTH_RANGE = (0.5, 1.5)
_WIDTH_SKIP = 0.01  # a width this close to 1 is no move


@dataclass
class MasterResult:
    """The master chain that reaches the target and what it measured.

    Attributes:
        steps: the recipe's master chain, ``[parametric_eq?, compressor?, widener?, gain, limiter]``.
        audio: the mastered mix ``(2, samples)``.
        integrated_lufs, true_peak_db, loudness_range_lu: of ``audio``.
        premaster_lufs: integrated loudness before mastering.
        target_lufs: the loudness aimed at (the target's, moved toward the reference); None keeps the level.
        tone_distance_db: ``(premaster, master)`` RMS distance in dB of the tonal balance from its goal (the
            neutral curve, or the reference's shape).
        side_mid_db: ``(premaster, master)`` side/mid energy ratio, dB.
        gain_reduction_db: measured gain reduction of the bus compressor on loud passages; None without one.
        reference: the reference moved toward, or None.
    """

    steps: list[Step]
    audio: torch.Tensor
    integrated_lufs: float
    true_peak_db: float
    loudness_range_lu: float
    premaster_lufs: float
    target_lufs: float | None = None
    tone_distance_db: tuple[float, float] | None = None
    side_mid_db: tuple[float, float] | None = None
    gain_reduction_db: float | None = None
    reference: Reference | None = None


def apply_step(x: torch.Tensor, sample_rate: int, step: Step) -> torch.Tensor:
    """Run one registered step on ``(2, samples)`` as the console does (defaults filled in, latency compensated).

    Steps with a streaming form run block by block into one output buffer: equal to the offline call (the
    processors' streaming contract), with working memory bounded by the block instead of the song (the
    limiter's float64 gain path alone would take ~2 GB for ten minutes at 44.1 kHz)."""
    proc = PROCESSORS[step.type]
    params = {**proc.table.defaults(), **step.params}
    block = int(_BLOCK_SECONDS * sample_rate)
    with torch.no_grad():
        if proc.step is None or x.shape[-1] <= block:
            return proc.fn(x[None], sample_rate, **params)[0]
        latency = int(proc.latency(sample_rate, **params)) if proc.latency else 0
        padded = torch.nn.functional.pad(x[None], (0, latency))
        out = torch.empty_like(x)
        state, skip, done = None, latency, 0  # the first ``latency`` output samples precede the input: dropped
        for start in range(0, padded.shape[-1], block):
            y, state = proc.step(padded[..., start:start + block], sample_rate, state, **params)
            cut = min(skip, y.shape[-1])
            skip -= cut
            out[:, done:done + y.shape[-1] - cut] = y[0, :, cut:]
            done += y.shape[-1] - cut
        return out


def _tone_step(centres: np.ndarray, shape: np.ndarray, sample_rate: int, reference: Reference | None,
               amount: float) -> tuple[Step | None, np.ndarray]:
    """The EQ step (or None) for a premaster of tonal balance ``shape``, and the goal shape ``(bands,)``."""
    if reference is None:
        goal, bound, name = neutral_curve(centres), _NEUTRAL_EQ_DB, "the neutral mix curve (MUSDB18 average)"
    else:
        goal = np.interp(np.log2(centres), np.log2(reference.centres_hz), reference.tone_db)
        bound, name = _REFERENCE_EQ_DB, f"{reference.source} ({amount:.0%} of the way)"
    distance = tone_distance_db(shape, goal)
    if amount == 0.0 or distance < _TONE_SKIP_DB:
        return None, goal
    params, response = design_tone_eq(centres, shape, goal, sample_rate, amount, bound)
    if not params:
        return None, goal
    bands = [k.removesuffix("_gain_db") for k in params if k.endswith("_gain_db")]
    gains = ", ".join(f"{b.replace('_', ' ')} {params[b + '_gain_db']:+.1f} dB at {params[b + '_freq_hz']:.0f} Hz"
                      for b in bands)
    top_khz = min(TONE_RANGE_HZ[1], sample_rate / 2.0) / 1000.0
    reason = (f"tonal balance 40 Hz-{top_khz:.3g} kHz is {distance:.1f} dB RMS from {name}; {gains} (within "
              f"+-{bound:g} dB) leave {tone_distance_db(shape + response, goal):.1f} dB (predicted)")
    return Step("parametric_eq", eq_below_nyquist(params, sample_rate), reason), goal


def _width_step(x: torch.Tensor, reference: Reference, amount: float) -> Step | None:
    mix_db = side_mid_db(x)
    if mix_db <= MONO_SIDE_MID_DB:  # mono (or silent): there is no side signal to scale
        return None
    aim_db = mix_db + amount * (reference.side_mid_db - mix_db)
    width = round(min(max(10.0 ** ((aim_db - mix_db) / 20.0), _WIDTH_RANGE[0]), _WIDTH_RANGE[1]), 3)
    if abs(width - 1.0) < _WIDTH_SKIP:
        return None
    return Step("widener", {"width": width},
                f"side/mid {mix_db:.1f} dB, {reference.source} {reference.side_mid_db:.1f} dB: width {width:g} "
                f"moves it {amount:.0%} of the way, to {mix_db + 20.0 * math.log10(width):.1f} dB "
                f"(widener within {_WIDTH_RANGE[0]:g}..{_WIDTH_RANGE[1]:g})")


def _target_lufs(target: LoudnessTarget, reference: Reference | None, amount: float,
                 current_lufs: float) -> tuple[float | None, str]:
    """The loudness to aim at and how it was chosen."""
    if reference is None or amount == 0.0:
        goal = target.integrated_lufs
        return goal, f"target {target.name} ({'keep the level' if goal is None else f'{goal:g} LUFS'})"
    base = target.integrated_lufs if target.integrated_lufs is not None else current_lufs
    goal = min(max(base + amount * (reference.integrated_lufs - base), LUFS_RANGE[0]), LUFS_RANGE[1])
    return goal, (f"target {target.name} ({base:.1f} LUFS) moved {amount:.0%} toward {reference.source} "
                  f"({reference.integrated_lufs:.1f} LUFS): {goal:.1f} LUFS")


def master_to_target(premaster: torch.Tensor, sample_rate: int, target: LoudnessTarget,
                     reference: Reference | None = None, amounts: dict[str, float] | None = None,
                     genre: str | None = None) -> MasterResult:
    """Master a premaster ``(2, samples)``: EQ, bus compression, width, then gain and limiter to ``target``.

    The gain is corrected until the measured integrated loudness is within 0.05 LU of the loudness aimed at (at
    most 6 rounds; a target that needs more than +24 dB stops at +24 dB and says so in the step's reason). The
    true peak never exceeds ``target.true_peak_db``. With ``target.integrated_lufs`` None and no reference
    loudness to move toward, the level is kept and only the ceiling is enforced.

    Args:
        premaster: the mix ``(2, samples)``, float.
        sample_rate: Hz.
        target: loudness and ceiling (:func:`mixdown.mastering.loudness_target`).
        reference: a measured reference master (:func:`mixdown.mastering.load_reference`), or None.
        amounts: how far to move toward the reference, ``{"tone", "width", "loudness"}`` each 0..1; missing
            keys take :data:`mixdown.mastering.DEFAULT_AMOUNTS` (0.7, 0.5, 1.0). Ignored without a reference.
        genre: one of ``mixdown.methods.intent.GENRES`` or None; classical, jazz and ambient get no bus
            compression.
    Returns:
        :class:`MasterResult`.
    Raises:
        ParameterError: an unknown amount key or a value outside 0..1 (the message names the key).
    """
    amount = check_amounts(amounts)
    before = measure_loudness(premaster, sample_rate)
    steps: list[Step] = []
    x = premaster
    # silence or a blip shorter than one spectrum window has no tonal balance: no EQ, no tone figures
    tonal = math.isfinite(before.integrated_lufs) and premaster.shape[-1] >= MIN_SAMPLES
    if tonal:
        centres, premaster_shape = tonal_balance(premaster, sample_rate)
        eq, goal_shape = _tone_step(centres, premaster_shape, sample_rate, reference,
                                    amount["tone"] if reference else 1.0)
        if eq is not None:
            steps.append(eq)
            x = apply_step(x, sample_rate, eq)
    glue, x, reduction = design_glue(x, sample_rate, before.loudness_range_lu, genre)
    steps += [glue] if glue is not None else []
    if reference is not None:
        wide = _width_step(x, reference, amount["width"])
        if wide is not None:
            steps.append(wide)
            x = apply_step(x, sample_rate, wide)
    current = measure_loudness(x, sample_rate).integrated_lufs if steps else before.integrated_lufs
    goal, why = _target_lufs(target, reference, amount["loudness"], current)
    y, report, gain_db, saturated = _gain_and_limit(x, sample_rate, goal, current, target.true_peak_db)
    capped = " (the gain's +24 dB limit)" if goal is not None and gain_db >= _MAX_GAIN_DB else \
        " (as loud as the limiter gets at this ceiling)" if saturated else ""
    steps += [
        Step("gain", {"gain_db": gain_db},
             f"premaster {before.integrated_lufs:.1f} LUFS; {why}; measured {report.integrated_lufs:.2f} LUFS "
             f"after the limiter{capped}"),
        Step("limiter", {"ceiling_db": target.true_peak_db, **_LIMITER},
             f"true peak at most {target.true_peak_db:g} dBTP ({target.name}); reads {report.true_peak_db:.2f} dBTP"),
    ]
    tone_distance = None
    if tonal:
        tone_distance = (tone_distance_db(premaster_shape, goal_shape),
                         tone_distance_db(tonal_balance(y, sample_rate)[1], goal_shape))
    return MasterResult(
        steps, y, report.integrated_lufs, report.true_peak_db, report.loudness_range_lu, before.integrated_lufs,
        target_lufs=goal,
        tone_distance_db=tone_distance,
        side_mid_db=(side_mid_db(premaster), side_mid_db(y)),
        gain_reduction_db=reduction, reference=reference,
    )


def _gain_and_limit(x: torch.Tensor, sample_rate: int, goal: float | None, current: float, ceiling: float):
    """``(audio, loudness report, gain_db, saturated)`` of gain + limiter on ``x`` ``(2, n)``, the gain solved to
    ``goal``; ``saturated`` when the limiter gave back less than 0.1 LU per dB of extra gain, short of ``goal``."""
    gain_db = 0.0 if goal is None or not math.isfinite(current) else goal - current
    previous = None  # (gain, loudness) of the round before, for the secant
    for _ in range(_MAX_ROUNDS):
        applied = gain_db = min(gain_db, _MAX_GAIN_DB)
        y = apply_step(apply_step(x, sample_rate, Step("gain", {"gain_db": applied})), sample_rate,
                       Step("limiter", {"ceiling_db": ceiling, **_LIMITER}))
        report = measure_loudness(y, sample_rate)
        if goal is None or not math.isfinite(report.integrated_lufs):
            break
        error = goal - report.integrated_lufs
        if abs(error) <= _TOLERANCE_LU or gain_db >= _MAX_GAIN_DB:
            break
        # A limiter working hard gives back less than 1 LU per dB of gain: the secant slope (dB per LU, at least
        # 1 as the limiter only takes loudness away, at most 10) gets there in a few rounds where 1:1 would crawl.
        slope = 1.0
        if previous is not None:
            gained = report.integrated_lufs - previous[1]
            if error > 0 and gained * _SATURATED_DB_PER_LU < gain_db - previous[0]:
                return y, report, applied, True  # more gain only makes the limiter work harder
            slope = min(max((gain_db - previous[0]) / gained, 1.0), _SATURATED_DB_PER_LU) if gained else 1.0
        previous = (gain_db, report.integrated_lufs)
        gain_db += error * slope
    return y, report, applied, False
