"""Compressor and downward expander (gate): peak detector, soft-knee gain computer, attack/release ballistics.

Both processors run the same feed-forward path (Giannoulis, Massberg & Reiss 2012, "log-domain detector"):

    level[n]  = 20 log10 max(|s[n]|, 10^(-150/20))    s = x or the side-chain; max over channels when linked
    target[n] = curve(level[n])                         static gain in dB with a quadratic soft knee
    g[n]      = smooth_gain(target)                     attack / release one-poles in the dB gain domain
    y[n]      = x[n] 10^((g[n] + makeup) / 20)

and differ only in the curve and in which ballistic acts while the gain falls: a compressor's gain falls on
attack, an expander's gain rises on attack (the gate opens). A gate is an expander with a high ratio.

Two implementations of the same numbers: the torch composition below (the CUDA path; autograd differentiates
it), and on CPU compiled passes (``kernels/dynamics_kernel.py``) that do all four lines per sample in float64,
with a hand-derived backward pass: forward + backward 0.36 s against 0.88 s for 8 tracks x 30 s at 44.1 kHz
(``benchmarks/console_speed.py --profile``). Its gain computer duplicates :func:`_static_gain`; the two must agree
(``tests/test_dynamics.py`` checks the paths against each other, samples and gradients). For a float32 signal the
compiled path is the more exact one: the torch composition detects in float32, off by up to ~1e-5 of the output
for a gate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from mixdown.dsp.gain import db_to_amplitude
from mixdown.dsp.kernels import small_work_single_thread, use_torch_path
from mixdown.dsp.kernels.dynamics_kernel import dynamics_backward, dynamics_forward
from mixdown.dsp.kernels.envelope import smooth_gain, time_to_coefficient
from mixdown.dsp.params import Choice, Param, ParamTable
from mixdown.dsp.registry import Processor, register
from mixdown.dsp.signal import check_signal
from mixdown.errors import AudioInputError, ParameterError

__all__ = [
    "COMPRESSOR_PARAMS",
    "EXPANDER_PARAMS",
    "FLOOR_DB",
    "compressor",
    "compressor_step",
    "expander",
    "expander_step",
]

FLOOR_DB = -150.0
"""Detector floor: the level of digital silence, so log10 never sees 0."""
_FLOOR_AMPLITUDE = 10.0 ** (FLOOR_DB / 20.0)

_STEREO_LINK = Choice(
    "stereo_link",
    ("linked", "independent"),
    "linked",
    description="linked: one gain from the loudest channel (keeps the stereo image); independent: per channel",
)

COMPRESSOR_PARAMS = ParamTable(
    "compressor",
    Param("threshold_db", "dB", -60.0, 0.0, -20.0, description="level above which the gain is reduced"),
    Param("ratio", ":1", 1.0, 20.0, 4.0, scale="log", description="input dB per output dB above the threshold"),
    Param("attack_ms", "ms", 0.0, 200.0, 10.0, description="time constant while the gain falls (0 = instant)"),
    Param("release_ms", "ms", 1.0, 2000.0, 100.0, scale="log", description="time constant while the gain rises"),
    Param("knee_db", "dB", 0.0, 24.0, 6.0, description="width of the soft knee centred on the threshold"),
    Param("makeup_db", "dB", 0.0, 24.0, 0.0, description="gain added after the compression"),
    _STEREO_LINK,
)

EXPANDER_PARAMS = ParamTable(
    "expander",
    Param("threshold_db", "dB", -90.0, 0.0, -50.0, description="level below which the gain is reduced"),
    Param("ratio", ":1", 1.0, 100.0, 2.0, scale="log", description="output dB per input dB below the threshold"),
    Param("attack_ms", "ms", 0.0, 100.0, 1.0, description="time constant while the gain rises (0 = instant)"),
    Param("release_ms", "ms", 1.0, 2000.0, 100.0, scale="log", description="time constant while the gain falls"),
    Param("knee_db", "dB", 0.0, 24.0, 0.0, description="width of the soft knee centred on the threshold"),
    Param("range_db", "dB", -120.0, 0.0, -80.0, description="largest attenuation (the floor of the gain)"),
    _STEREO_LINK,
)


def _col(value: torch.Tensor) -> torch.Tensor:
    """``(batch,)`` -> ``(batch, 1, 1)`` to broadcast against ``(batch, channels, samples)``."""
    return value[:, None, None]


def _detect(source: torch.Tensor, linked: bool) -> torch.Tensor:
    """Peak level in dB per sample: ``(batch, channels, samples)`` -> ``(batch, 1 or channels, samples)``."""
    amplitude = source.abs()
    if linked and source.shape[1] > 1:
        amplitude = amplitude.amax(dim=1, keepdim=True)
    # clamp_min keeps log10 and its gradient finite on digital silence; it only acts below -150 dB.
    return 20.0 * torch.log10(amplitude.clamp_min(_FLOOR_AMPLITUDE))


def _knee(slope: torch.Tensor, knee_db: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(half width W/2, quadratic coefficient -slope / 2W)`` of the soft knee, each ``(batch,)``."""
    # With W = 0 the knee is empty, so dividing by 1 instead changes nothing.
    return 0.5 * knee_db, -slope / (2.0 * torch.where(knee_db > 0, knee_db, torch.ones_like(knee_db)))


def _static_gain(overshoot_db: torch.Tensor, slope: torch.Tensor, knee_db: torch.Tensor) -> torch.Tensor:
    """The gain computer shared by both processors: ``-slope * knee(overshoot)`` in dB.

    ``knee(d)`` is 0 for ``2d <= -W``, ``(d + W/2)^2 / (2W)`` inside the knee and ``d`` for ``2d > W``
    (Giannoulis et al. 2012, eq. 4, written for the gain instead of the output level). ``overshoot_db`` is how far
    the level lies on the acting side of the threshold: ``level - T`` for a compressor, ``T - level`` for an
    expander; ``slope`` is the gain lost per dB of overshoot.

    ``kernels/dynamics_kernel.py`` computes the same curve per sample for inference: change both together.
    """
    half, curvature = (_col(v) for v in _knee(slope, knee_db))
    # Clamping into the knee leaves the quadratic exact where it is used (inside the knee, and below it where it
    # is 0) and keeps the branch torch.where discards finite, so its gradient never becomes 0 * inf = NaN. The
    # bounds need no gradient: the quadratic is flat at the lower one, and above the upper one it is discarded.
    in_knee = torch.clamp(overshoot_db, -half.detach(), half.detach())
    return torch.where(overshoot_db > half, -_col(slope) * overshoot_db, curvature * (in_knee + half).square())


def _compressor_slope(p: dict) -> torch.Tensor:
    return 1.0 - 1.0 / p["ratio"]


def _expander_slope(p: dict) -> torch.Tensor:
    return p["ratio"] - 1.0


def _compressor_curve(level_db: torch.Tensor, p: dict) -> torch.Tensor:
    return _static_gain(level_db - _col(p["threshold_db"]), _compressor_slope(p), p["knee_db"])


def _expander_curve(level_db: torch.Tensor, p: dict) -> torch.Tensor:
    gain_db = _static_gain(_col(p["threshold_db"]) - level_db, _expander_slope(p), p["knee_db"])
    return torch.maximum(gain_db, _col(p["range_db"]))


@dataclass(frozen=True)
class _Kind:
    """What tells a compressor from an expander."""

    name: str
    table: ParamTable
    curve: Callable[[torch.Tensor, dict], torch.Tensor]  # level dB -> static gain dB, same shape
    attack_lowers_gain: bool
    # For the fused kernel, what ``curve`` is made of: the overshoot is sign * (level - threshold), the slope
    # the gain lost per dB of it; the floor of the gain is p["range_db"] where the table has it.
    sign: float
    slope: Callable[[dict], torch.Tensor]


_COMPRESSOR = _Kind("compressor", COMPRESSOR_PARAMS, _compressor_curve, True, 1.0, _compressor_slope)
_EXPANDER = _Kind("expander", EXPANDER_PARAMS, _expander_curve, False, -1.0, _expander_slope)


def _check_sidechain(name: str, x: torch.Tensor, sidechain: torch.Tensor, linked: bool) -> None:
    check_signal(sidechain, f"{name}.sidechain")
    batch, channels, samples = x.shape
    sc_batch, sc_channels, sc_samples = sidechain.shape
    if (sc_batch, sc_samples) != (batch, samples) or not (linked or sc_channels in (1, channels)):
        allowed = "any" if linked else f"1 or {channels}"
        raise AudioInputError(
            f"{name}.sidechain: expected shape ({batch}, {allowed}, {samples}) to match x, "
            f"found {tuple(sidechain.shape)}; fix: pass a side-chain block of the same batch and length as x"
        )


def _check_state(name: str, state: torch.Tensor, shape: tuple[int, int]) -> None:
    if not isinstance(state, torch.Tensor) or tuple(state.shape) != shape:
        found = tuple(state.shape) if isinstance(state, torch.Tensor) else type(state).__name__
        raise ParameterError(
            f"{name}.state: expected a tensor shaped {shape}, found {found}; fix: pass the state the previous "
            "block returned, with the same stereo_link and side-chain layout"
        )


def _ballistics(kind: _Kind, p: dict, sample_rate: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(alpha while the gain falls, alpha while it rises)``, ``(batch,)`` float64 each."""
    # Coefficients in float64: with float32 a 2 s release would lose ~1 % of its 1 - alpha.
    attack = time_to_coefficient(p["attack_ms"].to(torch.float64), sample_rate)
    release = time_to_coefficient(p["release_ms"].to(torch.float64), sample_rate)
    return (attack, release) if kind.attack_lowers_gain else (release, attack)


def _process(kind: _Kind, x, sample_rate, state, sidechain, params) -> tuple[torch.Tensor, torch.Tensor]:
    """The one implementation behind all four public functions."""
    check_signal(x, kind.name)
    p = kind.table.resolve(x, **params)
    linked = p["stereo_link"] == "linked"
    if sidechain is not None:
        _check_sidechain(kind.name, x, sidechain, linked)
    source = x if sidechain is None else sidechain.to(x.dtype)
    rows = 1 if linked else source.shape[1]  # gain rows per batch item
    if state is not None:
        _check_state(kind.name, state, (x.shape[0], rows))
    if x.dtype in (torch.float32, torch.float64) and not use_torch_path(x):
        return _process_fused(kind, x, sample_rate, state, source, rows, p)
    level_db = _detect(source, linked)
    # Smooth relative to the gain at digital silence, so state None means "silence before" (a gate starts
    # closed) while smooth_gain still starts from 0 dB; the ballistics are shift invariant, so this is exact.
    silent_db = kind.curve(level_db.new_full((x.shape[0], 1, 1), FLOOR_DB), p)
    if state is None:
        shift, start = silent_db, None  # the gain after silence depends on the parameters: keep its gradient
    else:
        shift = silent_db.detach()  # a carried gain is a constant
        start = state.to(torch.float64) - shift[..., 0].to(torch.float64)
    falling, rising = _ballistics(kind, p, sample_rate)
    smoothed_db, end = smooth_gain(kind.curve(level_db, p) - shift, falling, rising, start)
    offset_db = shift + _col(p["makeup_db"]) if "makeup_db" in p else shift
    y = x * db_to_amplitude(smoothed_db.to(x.dtype) + offset_db)
    return y, end + shift[..., 0].detach().to(torch.float64)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


class _Fused(torch.autograd.Function):
    """:func:`dynamics_forward` with its adjoint :func:`dynamics_backward`: the per-sample work in compiled
    passes both ways, the per-batch scalars (threshold, slope, knee, shift, ...) left to torch's autograd."""

    @staticmethod
    def forward(ctx, x, source, start, sign, rows, save, *per_batch):
        batch = x.shape[0]
        arrays = tuple(map(_numpy, per_batch))
        saved = np.empty((batch * rows, x.shape[-1])) if save else None
        y = torch.empty(x.shape, dtype=x.dtype)
        end = np.empty(batch * rows)
        with small_work_single_thread(x.numel()):
            dynamics_forward(_numpy(x), _numpy(source), _FLOOR_AMPLITUDE, sign, *arrays, rows, _numpy(start),
                             y.numpy(), end, saved)
        if save:
            ctx.save_for_backward(x, source, start)
            ctx.arrays, ctx.saved, ctx.sign, ctx.rows = arrays, saved, sign, rows
            ctx.same = source is x  # no side-chain: one gradient for both uses of x, summed in the kernel
        end_t = torch.from_numpy(end).reshape(batch, rows)
        ctx.mark_non_differentiable(end_t)  # as the torch composition: a carried state is a constant
        return y, end_t

    @staticmethod
    def backward(ctx, grad_y, _grad_end):
        x, source, start = ctx.saved_tensors
        want_x, want_source = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        with small_work_single_thread(x.numel()):
            grad_x, grad_source, acc, grad_start = dynamics_backward(
                _numpy(grad_y.to(x.dtype)), _numpy(x), _numpy(source), _FLOOR_AMPLITUDE, ctx.sign, ctx.arrays,
                ctx.rows, _numpy(start), ctx.saved, want_x, want_source, ctx.same)
        batch = x.shape[0]
        per_batch = torch.from_numpy(acc).reshape(len(acc), batch, ctx.rows).sum(-1)
        return (None if grad_x is None else torch.from_numpy(grad_x),
                None if grad_source is None else torch.from_numpy(grad_source),
                torch.from_numpy(grad_start), None, None, None, *per_batch)


def _process_fused(kind: _Kind, x, sample_rate, state, source, rows, p) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_process` on CPU: the same steps in compiled passes (forward, and backward where a gradient is
    wanted), in float64 throughout.

    The per-batch scalars are computed here in torch, as the torch composition computes them (in float64 even
    for a float32 signal), so autograd carries their gradients back to the parameters; only the per-sample
    work moves into :func:`dynamics_forward` and :func:`dynamics_backward`.
    """
    batch = x.shape[0]
    p = {k: v.to(torch.float64) if isinstance(v, torch.Tensor) else v for k, v in p.items()}
    shift = kind.curve(torch.full((batch, 1, 1), FLOOR_DB, dtype=torch.float64), p)[:, 0, 0]
    if state is None:
        start = torch.zeros(batch * rows, dtype=torch.float64)
    else:
        shift = shift.detach()  # a carried gain is a constant, as in the torch composition
        start = (state.to(torch.float64) - shift[:, None]).reshape(-1)
    falling, rising = _ballistics(kind, p, sample_rate)
    slope = kind.slope(p)
    half_knee, curvature = _knee(slope, p["knee_db"])
    floor_db = p["range_db"] if "range_db" in p else torch.full_like(shift, -torch.inf)
    offset_db = shift + p["makeup_db"] if "makeup_db" in p else shift
    per_batch = (p["threshold_db"], slope, half_knee, curvature, floor_db, shift, offset_db, falling, rising)
    # Inside Function.forward grad mode is off and needs_input_grad ignores no_grad: decide here what to keep.
    save = torch.is_grad_enabled() and any(t.requires_grad for t in (x, source, start, *per_batch))
    return _Fused.apply(x, source, start, kind.sign, rows, save, *per_batch)


def compressor_step(
    x: torch.Tensor,
    sample_rate: float,
    state: torch.Tensor | None,
    threshold_db=None,
    ratio=None,
    attack_ms=None,
    release_ms=None,
    knee_db=None,
    makeup_db=None,
    stereo_link: str = "linked",
    sidechain: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Compress one block, carrying the smoothed gain to the next block.

    Args:
        x: block, ``(batch, channels, samples)``.
        sample_rate: Hz.
        state: ``(batch, 1)`` when linked (``(batch, channels)`` when independent) float64 gain in dB before the
            block, as returned by the previous call; ``None`` starts after silence (0 dB).
        threshold_db, ratio, attack_ms, release_ms, knee_db, makeup_db, stereo_link, sidechain: as in
            :func:`compressor`.
    Returns:
        ``(y, state)``: ``y`` shaped like ``x`` and the gain after the last sample.
    """
    params = dict(threshold_db=threshold_db, ratio=ratio, attack_ms=attack_ms, release_ms=release_ms,
                  knee_db=knee_db, makeup_db=makeup_db, stereo_link=stereo_link)
    return _process(_COMPRESSOR, x, sample_rate, state, sidechain, params)


def compressor(
    x: torch.Tensor,
    sample_rate: float,
    threshold_db=None,
    ratio=None,
    attack_ms=None,
    release_ms=None,
    knee_db=None,
    makeup_db=None,
    stereo_link: str = "linked",
    sidechain: torch.Tensor | None = None,
) -> torch.Tensor:
    """Feed-forward peak compressor with a soft knee and attack/release smoothing of the gain in dB.

    Above the knee the output level is ``T + (L - T) / ratio``; inside a knee of ``knee_db`` around the threshold
    the curve is quadratic; below it the signal is untouched. The gain falls with the attack time constant and
    recovers with the release time constant. ``None`` for a parameter means its default in
    :data:`COMPRESSOR_PARAMS`.

    Args:
        x: signal, ``(batch, channels, samples)``, float32 or float64.
        sample_rate: Hz.
        threshold_db: ``(batch,)`` or a number, dB (-60..0).
        ratio: ``(batch,)`` or a number (1..20; 1 leaves the signal unchanged).
        attack_ms: ``(batch,)`` or a number, ms (0..200; 0 is instant).
        release_ms: ``(batch,)`` or a number, ms (1..2000).
        knee_db: ``(batch,)`` or a number, dB (0..24; 0 is a hard knee).
        makeup_db: ``(batch,)`` or a number, dB (0..24).
        stereo_link: ``"linked"`` (one gain from the loudest channel) or ``"independent"`` (per channel).
        sidechain: optional key signal ``(batch, channels_sc, samples)`` detected instead of ``x`` (independent
            linking needs ``channels_sc`` equal to 1 or to ``x``'s channels).
    Returns:
        ``(batch, channels, samples)``.

    Properties: differentiable in ``x``, ``sidechain`` and every numeric parameter (analytic backward on CPU);
    batched; streaming via :func:`compressor_step`; deterministic.

    References: D. Giannoulis, M. Massberg, J. D. Reiss, "Digital dynamic range compressor design - a tutorial
    and analysis", JAES 60(6), 2012 (soft-knee gain computer, smoothing in the log domain).

    Example:
        >>> y = compressor(torch.randn(2, 2, 44100), 44100, threshold_db=-30.0, ratio=4.0)
    """
    return compressor_step(x, sample_rate, None, threshold_db, ratio, attack_ms, release_ms, knee_db, makeup_db,
                           stereo_link, sidechain)[0]


def expander_step(
    x: torch.Tensor,
    sample_rate: float,
    state: torch.Tensor | None,
    threshold_db=None,
    ratio=None,
    attack_ms=None,
    release_ms=None,
    knee_db=None,
    range_db=None,
    stereo_link: str = "linked",
    sidechain: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Expand one block, carrying the smoothed gain to the next block.

    Args:
        x: block, ``(batch, channels, samples)``.
        sample_rate: Hz.
        state: ``(batch, 1)`` when linked (``(batch, channels)`` when independent) float64 gain in dB before the
            block, as returned by the previous call; ``None`` starts after silence (the gain at -150 dB, i.e.
            closed down to ``range_db`` for a gate).
        threshold_db, ratio, attack_ms, release_ms, knee_db, range_db, stereo_link, sidechain: as in
            :func:`expander`.
    Returns:
        ``(y, state)``: ``y`` shaped like ``x`` and the gain after the last sample.
    """
    params = dict(threshold_db=threshold_db, ratio=ratio, attack_ms=attack_ms, release_ms=release_ms,
                  knee_db=knee_db, range_db=range_db, stereo_link=stereo_link)
    return _process(_EXPANDER, x, sample_rate, state, sidechain, params)


def expander(
    x: torch.Tensor,
    sample_rate: float,
    threshold_db=None,
    ratio=None,
    attack_ms=None,
    release_ms=None,
    knee_db=None,
    range_db=None,
    stereo_link: str = "linked",
    sidechain: torch.Tensor | None = None,
) -> torch.Tensor:
    """Downward expander / noise gate: attenuate what lies below the threshold, never by more than ``range_db``.

    Below the threshold the gain is ``(ratio - 1)(L - T)`` dB (a gate is a high ratio), with a quadratic soft
    knee of ``knee_db`` around the threshold, floored at ``range_db``. The gain rises (the gate opens) with the
    attack time constant and falls with the release time constant. ``None`` for a parameter means its default in
    :data:`EXPANDER_PARAMS`.

    Args:
        x: signal, ``(batch, channels, samples)``, float32 or float64.
        sample_rate: Hz.
        threshold_db: ``(batch,)`` or a number, dB (-90..0).
        ratio: ``(batch,)`` or a number (1..100; 1 leaves the signal unchanged).
        attack_ms: ``(batch,)`` or a number, ms (0..100; 0 opens instantly).
        release_ms: ``(batch,)`` or a number, ms (1..2000).
        knee_db: ``(batch,)`` or a number, dB (0..24; 0 is a hard knee).
        range_db: ``(batch,)`` or a number, dB (-120..0), the largest attenuation.
        stereo_link: ``"linked"`` (one gain from the loudest channel) or ``"independent"`` (per channel).
        sidechain: optional key signal ``(batch, channels_sc, samples)`` detected instead of ``x``.
    Returns:
        ``(batch, channels, samples)``.

    Properties: differentiable in ``x``, ``sidechain`` and every numeric parameter (analytic backward on CPU);
    batched; streaming via :func:`expander_step` (starts closed, as after silence); deterministic.

    References: Giannoulis, Massberg & Reiss, JAES 2012 (gain computer and ballistics, mirrored below the
    threshold).

    Example:
        >>> y = expander(torch.randn(1, 2, 44100) * 1e-3, 44100, threshold_db=-40.0, ratio=10.0)
    """
    return expander_step(x, sample_rate, None, threshold_db, ratio, attack_ms, release_ms, knee_db, range_db,
                         stereo_link, sidechain)[0]


register(Processor("compressor", compressor, COMPRESSOR_PARAMS, step=compressor_step))
register(Processor("expander", expander, EXPANDER_PARAMS, step=expander_step))
