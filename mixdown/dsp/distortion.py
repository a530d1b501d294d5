"""Distortion: a level-compensated tanh waveshaper, a tone low-pass on the wet path, and a dry/wet mix."""

from __future__ import annotations

import math

import torch

from mixdown.dsp.kernels.biquad import sosfilt
from mixdown.dsp.params import Param, ParamTable
from mixdown.dsp.registry import Processor, register
from mixdown.dsp.signal import check_below_nyquist, check_signal
from mixdown.errors import ParameterError

__all__ = ["DISTORTION_PARAMS", "REFERENCE_AMPLITUDE", "distortion", "distortion_step", "tone_sos"]

DISTORTION_PARAMS = ParamTable(
    "distortion",
    Param("drive_db", "dB", 0.0, 48.0, 12.0, description="gain into the tanh waveshaper (more = more harmonics)"),
    Param("tone_hz", "Hz", 500.0, 20000.0, 8000.0, scale="log", description="cut-off of the low-pass on the wet path"),
    Param("mix", "", 0.0, 1.0, 1.0, description="0 keeps the dry signal, 1 gives only the distorted one"),
)

REFERENCE_AMPLITUDE = 10.0 ** (-18.0 / 20.0)  # -18 dBFS: where the wet path's peak equals the dry one


def tone_sos(tone_hz: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """Second-order Butterworth low-pass sections, ``(batch,)`` Hz -> ``(batch, 1, 6)`` ``[b0, b1, b2, 1, a1, a2]``.

    The bilinear transform of the analog Butterworth prototype with the cut-off pre-warped (the RBJ cookbook
    low-pass with ``Q = 1/sqrt(2)``): -3 dB at ``tone_hz``, identical to ``scipy.signal.butter(2, tone_hz,
    fs=sample_rate)``. Differentiable in ``tone_hz``.

    References:
        R. Bristow-Johnson, "Cookbook formulae for audio EQ biquad filter coefficients" (W3C Audio EQ Cookbook).
    """
    w0 = 2.0 * math.pi * tone_hz / sample_rate
    cos_w0 = torch.cos(w0)
    alpha = torch.sin(w0) / math.sqrt(2.0)  # sin(w0) / (2 Q) with Q = 1 / sqrt(2)
    a0 = 1.0 + alpha
    b1 = (1.0 - cos_w0) / a0
    one = torch.ones_like(a0)
    sections = [0.5 * b1, b1, 0.5 * b1, one, -2.0 * cos_w0 / a0, (1.0 - alpha) / a0]
    return torch.stack(sections, -1)[:, None, :]


def _check_state(x: torch.Tensor, state: torch.Tensor) -> None:
    expected = (x.shape[0], x.shape[1], 1, 2)
    if not isinstance(state, torch.Tensor) or tuple(state.shape) != expected:
        found = tuple(state.shape) if isinstance(state, torch.Tensor) else type(state).__name__
        raise ParameterError(
            f"distortion: expected a state shaped {expected} (the tone filter's), found {found}; "
            "fix: pass state=None to start a stream and keep batch and channels fixed during it"
        )


def distortion_step(
    x: torch.Tensor, sample_rate: float, state: torch.Tensor | None = None, drive_db=12.0, tone_hz=8000.0, mix=1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distort one block, carrying the tone filter's state.

    Args:
        x: block, ``(batch, channels, samples)``.
        sample_rate: Hz.
        state: ``(batch, channels, 1, 2)`` float64 tone-filter state from the previous block, or ``None``.
        drive_db, tone_hz, mix: see :func:`distortion`.
    Returns:
        ``(y, state)``: ``y`` shaped like ``x``; the filter state after the block.

    Properties: see :func:`distortion`.
    """
    check_signal(x, "distortion")
    p = DISTORTION_PARAMS.resolve(x, drive_db=drive_db, tone_hz=tone_hz, mix=mix)
    check_below_nyquist("distortion", "tone_hz", p["tone_hz"], sample_rate)
    if state is not None:
        _check_state(x, state)
    drive = torch.pow(10.0, p["drive_db"] / 20.0)
    # unity gain at the -18 dBFS reference peak: the wet path neither jumps up nor drops as drive changes
    makeup = REFERENCE_AMPLITUDE / torch.tanh(drive * REFERENCE_AMPLITUDE)
    shaped = torch.tanh(drive[:, None, None] * x) * makeup[:, None, None]
    wet, state = sosfilt(shaped, tone_sos(p["tone_hz"], sample_rate), state)
    share = p["mix"][:, None, None]
    return (1.0 - share) * x + share * wet, state


def distortion(x: torch.Tensor, sample_rate: float, drive_db=12.0, tone_hz=8000.0, mix=1.0) -> torch.Tensor:
    """Saturate with a tanh waveshaper, darken the result with a low-pass, and blend it with the dry signal.

    ``wet = lowpass(tanh(g x) * REFERENCE_AMPLITUDE / tanh(g REFERENCE_AMPLITUDE))`` with ``g`` the drive as
    a gain and ``REFERENCE_AMPLITUDE`` -18 dBFS, then ``y = (1 - mix) x + mix wet``. The compensation makes a
    -18 dBFS peak come out at -18 dBFS for every drive, so turning the drive up adds harmonics and density
    rather than level at moderate levels; quieter signals come out louder (the shaper compresses) and the
    wet peak never exceeds ``REFERENCE_AMPLITUDE / tanh(g REFERENCE_AMPLITUDE)`` (-18 dBFS at 48 dB drive). At
    0 dB drive the shaper is almost linear (small-signal gain 1.005, a full-scale peak comes out at 0.77).

    Args:
        x: signal, ``(batch, channels, samples)``.
        sample_rate: Hz.
        drive_db: ``(batch,)`` or a number, dB, 0 to 48.
        tone_hz: ``(batch,)`` or a number, Hz, 500 to 20000 (and below Nyquist): -3 dB point of the
            second-order Butterworth low-pass on the wet path (see :func:`tone_sos`).
        mix: ``(batch,)`` or a number, 0 to 1; 0 returns ``x`` exactly.
    Returns:
        ``(batch, channels, samples)``.

    Properties: differentiable in ``x`` and every parameter; batched; streaming via :func:`distortion_step`
    (state: the tone filter's, an exact recursion through ``sosfilt``); no latency; deterministic.

    Example:
        >>> y = distortion(torch.randn(1, 1, 44100) * 0.1, 44100, drive_db=24.0, tone_hz=5000.0, mix=0.5)
    """
    return distortion_step(x, sample_rate, None, drive_db=drive_db, tone_hz=tone_hz, mix=mix)[0]


register(Processor("distortion", distortion, DISTORTION_PARAMS, step=distortion_step))
