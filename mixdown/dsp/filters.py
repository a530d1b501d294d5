"""Biquad design and the filter processors: high-pass, low-pass and the parametric EQ.

Design is kept apart from application: every shape below designs second-order sections from physical
parameters (torch, differentiable), and one kernel, :func:`mixdown.dsp.kernels.biquad.sosfilt`, applies them
as a true recursion.

References:
    R. Bristow-Johnson, "Cookbook formulae for audio EQ biquad filter coefficients" (the RBJ Audio EQ Cookbook).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mixdown.dsp.kernels.biquad import sosfilt
from mixdown.dsp.params import Choice, Param, ParamTable
from mixdown.dsp.registry import Processor, register
from mixdown.dsp.signal import check_below_nyquist, check_signal

__all__ = [
    "EQ_BANDS",
    "HIGHPASS_PARAMS",
    "LOWPASS_PARAMS",
    "PARAMETRIC_EQ_PARAMS",
    "biquad_section",
    "highpass",
    "highpass_step",
    "lowpass",
    "lowpass_step",
    "parametric_eq",
    "parametric_eq_step",
    "section_response_db",
]

# Butterworth section Qs: one section for 12 dB/oct, two for 24 dB/oct (4th order).
_BUTTERWORTH_Q = {"12": (1 / math.sqrt(2),), "24": (0.5411961001461971, 1.3065629648763766)}


def biquad_section(kind: str, frequency_hz, q, gain_db, sample_rate: float) -> torch.Tensor:
    """Design one normalised second-order section per batch item.

    Args:
        kind: ``"lowpass"``, ``"highpass"``, ``"peak"``, ``"low_shelf"`` or ``"high_shelf"``.
        frequency_hz, q, gain_db: tensors ``(batch,)`` (``gain_db`` unused by the pass filters).
        sample_rate: Hz.
    Returns:
        ``(batch, 6)`` as ``[b0, b1, b2, 1, a1, a2]``, float64: poles near z = 1 (a 20 Hz high-pass at 44.1 kHz)
        move audibly when coefficients are rounded to float32, so design always runs in double precision.
    """
    frequency_hz, q = frequency_hz.double(), q.double()
    gain_db = gain_db.double() if gain_db is not None else None
    w0 = 2 * math.pi * frequency_hz / sample_rate
    cos, alpha = torch.cos(w0), torch.sin(w0) / (2 * q)
    one = torch.ones_like(cos)
    if kind == "lowpass":
        b = ((1 - cos) / 2, 1 - cos, (1 - cos) / 2)
        a = (1 + alpha, -2 * cos, 1 - alpha)
    elif kind == "highpass":
        b = ((1 + cos) / 2, -(1 + cos), (1 + cos) / 2)
        a = (1 + alpha, -2 * cos, 1 - alpha)
    elif kind == "peak":
        amp = torch.pow(10.0, gain_db / 40)
        b = (1 + alpha * amp, -2 * cos, 1 - alpha * amp)
        a = (1 + alpha / amp, -2 * cos, 1 - alpha / amp)
    elif kind in ("low_shelf", "high_shelf"):
        amp = torch.pow(10.0, gain_db / 40)
        s = 1.0 if kind == "low_shelf" else -1.0  # the high shelf is the low shelf with cos -> -cos mirrored
        root = 2 * torch.sqrt(amp) * alpha
        b = (
            amp * ((amp + 1) - s * (amp - 1) * cos + root),
            s * 2 * amp * ((amp - 1) - s * (amp + 1) * cos),
            amp * ((amp + 1) - s * (amp - 1) * cos - root),
        )
        a = ((amp + 1) + s * (amp - 1) * cos + root, -s * 2 * ((amp - 1) + s * (amp + 1) * cos), (amp + 1) + s * (amp - 1) * cos - root)
    else:
        raise ValueError(f"unknown biquad kind {kind!r}")
    a0 = a[0]
    return torch.stack([b[0] / a0, b[1] / a0, b[2] / a0, one, a[1] / a0, a[2] / a0], -1)


# --- high-pass and low-pass ------------------------------------------------------------------------------------

HIGHPASS_PARAMS = ParamTable(
    "highpass",
    Param("cutoff_hz", "Hz", 10.0, 5000.0, 80.0, "log", "-3 dB frequency"),
    Choice("slope_db_per_octave", ("12", "24"), "12", "Butterworth slope: 12 (2nd order) or 24 (4th order) dB/oct"),
)
LOWPASS_PARAMS = ParamTable(
    "lowpass",
    Param("cutoff_hz", "Hz", 200.0, 22000.0, 18000.0, "log", "-3 dB frequency"),
    Choice("slope_db_per_octave", ("12", "24"), "12", "Butterworth slope: 12 (2nd order) or 24 (4th order) dB/oct"),
)


def _pass_filter_step(kind, table, x, sample_rate, state, params):
    check_signal(x, kind)
    p = table.resolve(x, **params)
    check_below_nyquist(kind, "cutoff_hz", p["cutoff_hz"], sample_rate)
    qs = _BUTTERWORTH_Q[p["slope_db_per_octave"]]
    sos = torch.stack(
        [biquad_section(kind, p["cutoff_hz"], torch.full_like(p["cutoff_hz"], q), None, sample_rate) for q in qs], 1
    )
    return sosfilt(x, sos, state)


def highpass_step(x, sample_rate, state, **params):
    """Streaming :func:`highpass`: ``(y_block, state)``; ``state`` ``(batch, channels, sections, 2)`` or ``None``."""
    return _pass_filter_step("highpass", HIGHPASS_PARAMS, x, sample_rate, state, params)


def highpass(x: torch.Tensor, sample_rate: float, cutoff_hz=80.0, slope_db_per_octave="12") -> torch.Tensor:
    """Butterworth high-pass filter, 12 or 24 dB/octave.

    Args:
        x: ``(batch, channels, samples)``.
        sample_rate: Hz.
        cutoff_hz: ``(batch,)`` or a number, -3 dB frequency in Hz (below Nyquist).
        slope_db_per_octave: ``"12"`` or ``"24"``.
    Returns:
        ``(batch, channels, samples)``.

    Properties: exact recursion; differentiable in ``x`` and ``cutoff_hz``; batched; streaming via
    :func:`highpass_step`; deterministic.
    """
    return highpass_step(x, sample_rate, None, cutoff_hz=cutoff_hz, slope_db_per_octave=slope_db_per_octave)[0]


def lowpass_step(x, sample_rate, state, **params):
    """Streaming :func:`lowpass`: ``(y_block, state)``."""
    return _pass_filter_step("lowpass", LOWPASS_PARAMS, x, sample_rate, state, params)


def lowpass(x: torch.Tensor, sample_rate: float, cutoff_hz=18000.0, slope_db_per_octave="12") -> torch.Tensor:
    """Butterworth low-pass filter, 12 or 24 dB/octave.

    Args:
        x: ``(batch, channels, samples)``.
        sample_rate: Hz.
        cutoff_hz: ``(batch,)`` or a number, -3 dB frequency in Hz (below Nyquist).
        slope_db_per_octave: ``"12"`` or ``"24"``.
    Returns:
        ``(batch, channels, samples)``.

    Properties: exact recursion; differentiable in ``x`` and ``cutoff_hz``; batched; streaming via
    :func:`lowpass_step`; deterministic.
    """
    return lowpass_step(x, sample_rate, None, cutoff_hz=cutoff_hz, slope_db_per_octave=slope_db_per_octave)[0]


# --- parametric EQ ---------------------------------------------------------------------------------------------

_IDENTITY_SECTION = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float64)

# (band prefix, section kind, default frequency, frequency range, q range, default q)
EQ_BANDS = (
    ("low_shelf", "low_shelf", 100.0, (20.0, 2000.0), (0.1, 2.0), 0.707),
    ("peak1", "peak", 250.0, (20.0, 20000.0), (0.1, 10.0), 1.0),
    ("peak2", "peak", 1000.0, (20.0, 20000.0), (0.1, 10.0), 1.0),
    ("peak3", "peak", 3000.0, (20.0, 20000.0), (0.1, 10.0), 1.0),
    ("peak4", "peak", 6000.0, (20.0, 20000.0), (0.1, 10.0), 1.0),
    ("high_shelf", "high_shelf", 8000.0, (1000.0, 20000.0), (0.1, 2.0), 0.707),
)

PARAMETRIC_EQ_PARAMS = ParamTable(
    "parametric_eq",
    *[
        entry
        for band, kind, freq, (f_lo, f_hi), (q_lo, q_hi), q in EQ_BANDS
        for entry in (
            Param(f"{band}_gain_db", "dB", -18.0, 18.0, 0.0, description=f"{band.replace('_', ' ')} gain"),
            Param(f"{band}_freq_hz", "Hz", f_lo, f_hi, freq, "log", f"{band.replace('_', ' ')} frequency"),
            Param(f"{band}_q", "", q_lo, q_hi, q, "log", f"{band.replace('_', ' ')} Q (bandwidth or shelf slope)"),
        )
    ],
)


def parametric_eq_step(x, sample_rate, state, **params):
    """Streaming :func:`parametric_eq`: ``(y_block, state)``; ``state`` ``(batch, channels, sections, 2)`` or
    ``None``, one section per band in use.

    A band at 0 dB, whose gain carries no gradient, is the identity: left out of the cascade when it is flat in
    every batch row, else made the exact identity section in its flat rows, which the compiled filter skips (an
    automatic mix uses two or three of the six bands: up to half the filtering saved). The bands in use depend
    only on the parameters, so a stream with fixed parameters keeps one state shape."""
    check_signal(x, "parametric_eq")
    p = PARAMETRIC_EQ_PARAMS.resolve(x, **params)
    sections = []
    for band, kind, *_ in EQ_BANDS:
        check_below_nyquist("parametric_eq", f"{band}_freq_hz", p[f"{band}_freq_hz"], sample_rate)
        gain_db = p[f"{band}_gain_db"]
        flat = None if gain_db.requires_grad else gain_db.eq(0)
        if flat is not None and bool(flat.all()):
            continue
        section = biquad_section(kind, p[f"{band}_freq_hz"], p[f"{band}_q"], gain_db, sample_rate)
        if flat is not None and bool(flat.any()):
            section = torch.where(flat.reshape(-1, 1), _IDENTITY_SECTION.to(section), section)
        sections.append(section)
    if not sections:  # every band flat: the EQ is the identity
        return x, state
    return sosfilt(x, torch.stack(sections, 1), state)


def parametric_eq(x: torch.Tensor, sample_rate: float, **params) -> torch.Tensor:
    """Six-band parametric EQ: low shelf, four peaking bands, high shelf (RBJ cookbook shapes in cascade).

    Args:
        x: ``(batch, channels, samples)``.
        sample_rate: Hz.
        **params: ``<band>_gain_db`` (dB), ``<band>_freq_hz`` (Hz) and ``<band>_q`` for the bands
            ``low_shelf``, ``peak1`` ... ``peak4``, ``high_shelf``; each ``(batch,)`` or a number. Omitted
            parameters take their defaults (0 dB: a band at its default is transparent).
    Returns:
        ``(batch, channels, samples)``.

    Properties: exact recursion (one section per band in use); differentiable in ``x`` and all 18 parameters; batched;
    streaming via :func:`parametric_eq_step`; deterministic.

    Example:
        >>> y = parametric_eq(x, 44100, peak2_gain_db=-3.0, peak2_freq_hz=400.0, peak2_q=2.0)
    """
    return parametric_eq_step(x, sample_rate, None, **params)[0]


register(Processor("highpass", highpass, HIGHPASS_PARAMS, step=highpass_step))
register(Processor("lowpass", lowpass, LOWPASS_PARAMS, step=lowpass_step))
register(Processor("parametric_eq", parametric_eq, PARAMETRIC_EQ_PARAMS, step=parametric_eq_step))


def section_response_db(kind: str, frequency_hz: float, q: float, gain_db: float, frequencies_hz: np.ndarray,
                        sample_rate: float) -> np.ndarray:
    """Magnitude response in dB ``(frequencies,)`` of one :func:`biquad_section` (designing EQ moves: which
    gains of which bands reach a target curve)."""
    design = [torch.tensor([float(v)], dtype=torch.float64) for v in (frequency_hz, q, gain_db)]
    b0, b1, b2, _, a1, a2 = biquad_section(kind, *design, sample_rate)[0].numpy()
    z = np.exp(-2j * math.pi * np.asarray(frequencies_hz, np.float64) / sample_rate)
    return 20.0 * np.log10(np.abs((b0 + b1 * z + b2 * z * z) / (1.0 + a1 * z + a2 * z * z)))
