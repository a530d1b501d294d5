"""Loudness metering after ITU-R BS.1770-4 and EBU R128: integrated, short-term, momentary, LRA, peaks.

The whole batch (every track of a session) is measured in one pass: one compiled kernel K-weights all tracks
and sums the squared result per 100 ms segment in float64 (no filtered copy of the session is kept), and every
block energy (400 ms momentary, 3 s short-term) is a sum of consecutive segments. Gating and percentiles then run
on small ``(batch, blocks)`` arrays.

Block timing: the hop is ``round(sample_rate / 10)`` samples and the windows are exactly 4 and 30 hops, so at
the usual rates (44.1, 48, 88.2, 96 kHz) they are 100 ms, 400 ms and 3 s to the sample. Only complete windows
count; value ``k`` of a 10 Hz series covers samples ``[k * hop, k * hop + window)``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from mixdown.analysis.spectral import as_batch
from mixdown.dsp.kernels.biquad import sosfilt_block_energy
from mixdown.dsp.limiter import true_peak_db
from mixdown.errors import AudioInputError, ParameterError

__all__ = ["LoudnessReport", "block_energies", "k_weighting_sos", "measure_loudness"]

# BS.1770-4 filter prototypes as analogue parameters (the design libebur128 and pyloudnorm's "DeMan" filter use),
# so the bilinear transform gives the standard's 48 kHz coefficients and their equivalent at any other rate.
_SHELF_HZ = 1681.974450955533
_SHELF_GAIN_DB = 3.999843853973347
_SHELF_Q = 0.7071752369554196
_SHELF_VB_EXPONENT = 0.4996667741545416
_HIGHPASS_HZ = 38.13547087602444
_HIGHPASS_Q = 0.5003270373238773

_OFFSET_DB = -0.691  # BS.1770 eq. 2: a 997 Hz sine reads its RMS level in dBFS on one channel
_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0  # BS.1770-4 integrated loudness
_LRA_RELATIVE_GATE_LU = -20.0  # EBU Tech 3342
_LRA_PERCENTILES = (10.0, 95.0)
_MOMENTARY_HOPS = 4  # 400 ms
_SHORT_TERM_HOPS = 30  # 3 s
_MIN_SAMPLE_RATE = 8000.0


@dataclasses.dataclass
class LoudnessReport:
    """Loudness of one track.

    Attributes:
        integrated_lufs: gated integrated loudness (BS.1770-4), LUFS; ``-inf`` when no block passes the gates.
        short_term_lufs: ``(n_short,)`` float64, 3 s windows at 10 Hz (empty under 3 s); ``-inf`` where silent.
        momentary_lufs: ``(n_momentary,)`` float64, 400 ms windows at 10 Hz; ``-inf`` where silent.
        loudness_range_lu: LRA (EBU Tech 3342), LU; 0 when no short-term value passes the gates.
        sample_peak_db: largest absolute sample, dBFS; ``-inf`` for digital silence.
        true_peak_db: 4x-oversampled true peak, dBTP; ``-inf`` for digital silence.
        plr_db: peak-to-loudness ratio, ``true_peak_db - integrated_lufs``, dB; ``+inf`` when the track has
            peaks but no gated loudness, 0 for digital silence.
    """

    integrated_lufs: float
    short_term_lufs: np.ndarray
    momentary_lufs: np.ndarray
    loudness_range_lu: float
    sample_peak_db: float
    true_peak_db: float
    plr_db: float

    def to_dict(self) -> dict:
        """Plain Python values (floats and lists of floats), e.g. for JSON."""
        out = dataclasses.asdict(self)
        out["short_term_lufs"] = self.short_term_lufs.tolist()
        out["momentary_lufs"] = self.momentary_lufs.tolist()
        return out


def k_weighting_sos(sample_rate: float) -> np.ndarray:
    """K-weighting filter of BS.1770-4 (pre-filter shelf, then RLB high-pass) designed for ``sample_rate``.

    Args:
        sample_rate: Hz, at least 8000.
    Returns:
        ``(2, 6)`` float64 sections ``[b0, b1, b2, 1, a1, a2]``; at 48 kHz they equal the coefficients printed in
        BS.1770-4 Tables 1 and 2 to 1e-8.

    References:
        ITU-R BS.1770-4 (2015), Annex 1; the analogue-prototype derivation of B. De Man, "Evaluation of
        implementations of the EBU R128 loudness measurement" (AES 145th Convention, 2018), as in libebur128.
    """
    _check_sample_rate(sample_rate)
    k = math.tan(math.pi * _SHELF_HZ / sample_rate)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh**_SHELF_VB_EXPONENT
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf = [
        (vh + vb * k / _SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / _SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / _SHELF_Q + k * k) / a0,
    ]
    k = math.tan(math.pi * _HIGHPASS_HZ / sample_rate)
    a0 = 1.0 + k / _HIGHPASS_Q + k * k
    # The standard's RLB numerator is exactly [1, -2, 1] (unit gain at Nyquist, not at DC-free passband centre).
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _HIGHPASS_Q + k * k) / a0]
    return np.array([shelf, highpass])


def block_energies(x: torch.Tensor, sample_rate: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel-weighted mean square of the K-weighted signal per 400 ms and per 3 s window, hop 100 ms.

    Args:
        x: signal ``(batch, channels, samples)``, 1 or 2 channels (weights 1.0), at least 400 ms long.
        sample_rate: Hz.
    Returns:
        ``(momentary, short_term)``: float64 ``(batch, n_momentary)`` and ``(batch, n_short)`` sums over channels
        of the mean squares (BS.1770 ``sum_i G_i z_ij``); ``n_short`` is 0 below 3 s.

    Properties: not differentiable (measurement); batched (one filter call for the whole batch); deterministic.
    """
    _check_sample_rate(sample_rate)
    hop = round(sample_rate / 10)
    _check_length(x, hop * _MOMENTARY_HOPS, sample_rate)
    sos = torch.from_numpy(k_weighting_sos(sample_rate)).to(x.device).expand(x.shape[0], 2, 6)
    segments = sosfilt_block_energy(x.detach(), sos.contiguous(), hop).sum(1)  # (batch, n_segments) float64
    return windowed_energies(segments, hop)


def windowed_energies(segments: torch.Tensor, hop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(momentary, short_term)`` mean squares (see :func:`block_energies`) from the channel-summed K-weighted
    energy of each 100 ms segment, ``segments`` float64 ``(batch, n_segments)``; ``hop`` samples per segment."""
    zero = segments.new_zeros(segments.shape[0], 1)
    cumulative = torch.cat([zero, segments.cumsum(-1)], -1)
    return tuple(
        (cumulative[:, hops:] - cumulative[:, :-hops]).clamp_min(0.0) / (hops * hop)  # cumsum rounding only
        for hops in (_MOMENTARY_HOPS, _SHORT_TERM_HOPS)
    )


def measure_loudness(x, sample_rate: float, true_peak: bool = True) -> LoudnessReport | list[LoudnessReport]:
    """Measure BS.1770-4 / EBU R128 loudness, loudness range and peaks of one track or a batch of tracks.

    Args:
        x: numpy array or torch tensor (float), ``(channels, samples)`` for one track or
            ``(batch, channels, samples)`` for several of equal length; 1 (mono) or 2 (stereo) channels with
            weight 1.0 each, full scale at +-1.0; at least 400 ms.
        sample_rate: Hz, at least 8000.
        true_peak: measure the 4x-oversampled true peak (a third of the cost); False reports it (and the PLR) as
            NaN, for callers that do not use it.
    Returns:
        one :class:`LoudnessReport` for a 2-D input, a list of ``batch`` reports for a 3-D input.
    Raises:
        AudioInputError: wrong shape or dtype, more than 2 channels, shorter than 400 ms.
        ParameterError: sample rate below 8000 Hz or not finite.

    Properties: not differentiable; batched (every track in one filter pass, gating vectorised);
    deterministic; silence reads ``-inf`` LUFS and LRA 0 without warnings.

    References:
        ITU-R BS.1770-4 (2015); EBU Tech 3341 (2016) loudness metering; EBU Tech 3342 (2016) loudness range.

    Example:
        >>> report = measure_loudness(audio, 44100)  # audio (2, n)
        >>> report.integrated_lufs, report.true_peak_db
    """
    # shape, dtype and channel checks shared with the other measurements; the 400 ms minimum is checked below
    x_t, single = as_batch(x, "measure_loudness", 0, sample_rate)
    momentary, short_term = block_energies(x_t, sample_rate)
    with torch.no_grad():
        # max and -min: no |x| copy of the whole session
        x_d = x_t.detach()
        sample_peak = torch.maximum(x_d.amax(dim=(1, 2)), -x_d.amin(dim=(1, 2))).to(torch.float64).cpu()
        peak = true_peak_db(x_t.detach(), sample_rate).to(torch.float64).cpu() if true_peak else \
            torch.full_like(sample_peak, math.nan)
    reports = loudness_reports(momentary, short_term, sample_peak, peak)
    return reports[0] if single else reports


def loudness_reports(momentary: torch.Tensor, short_term: torch.Tensor, sample_peak: torch.Tensor,
                     true_peak_db: torch.Tensor) -> list[LoudnessReport]:
    """Reports from windowed energies (:func:`windowed_energies`), the linear sample peak and the true peak in
    dBTP, each ``(batch, ...)``: the gating and statistics half of :func:`measure_loudness`, shared with the
    streaming meter."""
    integrated = _integrated(momentary).cpu()
    lra = _loudness_range(short_term)
    sample_peak = _to_db(sample_peak.to(torch.float64))
    true_peak = true_peak_db.to(torch.float64)
    # PLR: silence (both -inf) reads 0, peaks without gated loudness read +inf; never NaN.
    plr = torch.where(torch.isinf(true_peak) & (true_peak < 0), torch.zeros_like(true_peak), true_peak - integrated)
    momentary_lufs = _to_lufs(momentary).cpu().numpy()
    short_term_lufs = _to_lufs(short_term).cpu().numpy()
    return [
        LoudnessReport(
            integrated_lufs=float(integrated[b]),
            short_term_lufs=short_term_lufs[b].copy(),
            momentary_lufs=momentary_lufs[b].copy(),
            loudness_range_lu=float(lra[b]),
            sample_peak_db=float(sample_peak[b]),
            true_peak_db=float(true_peak[b]),
            plr_db=float(plr[b]),
        )
        for b in range(momentary.shape[0])
    ]


def _to_lufs(energy: torch.Tensor) -> torch.Tensor:
    """BS.1770 eq. 2 on weighted mean squares; 0 gives -inf (torch.log10 does not warn)."""
    return _OFFSET_DB + 10.0 * torch.log10(energy)


def _to_db(amplitude: torch.Tensor) -> torch.Tensor:
    return 20.0 * torch.log10(amplitude)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` along the last axis, ``(batch,)``; 0 where the mask is empty."""
    count = mask.sum(-1)
    total = torch.where(mask, values, torch.zeros_like(values)).sum(-1)
    return torch.where(count > 0, total / count.clamp_min(1), torch.zeros_like(total))


def _gate(energy: torch.Tensor, relative_gate_lu: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Two-stage gating of blocks (BS.1770-4 eqs. 4-6; Tech 3342 with a -20 LU relative gate).

    Args:
        energy: ``(batch, blocks)`` weighted mean squares.
        relative_gate_lu: the relative gate below the absolute-gated loudness (-10 for BS.1770, -20 for LRA).
    Returns:
        ``(loudness, gated)``: ``(batch, blocks)`` LUFS and the mask of blocks above both gates.
    """
    loudness = _to_lufs(energy)
    above_absolute = loudness > _ABSOLUTE_GATE_LUFS
    relative = _to_lufs(_masked_mean(energy, above_absolute)) + relative_gate_lu
    return loudness, above_absolute & (loudness > relative[:, None])


def _integrated(momentary: torch.Tensor) -> torch.Tensor:
    """BS.1770-4 eq. 7: loudness of the mean energy of the gated 400 ms blocks, ``(batch,)`` LUFS."""
    _, gated = _gate(momentary, _RELATIVE_GATE_LU)
    return _to_lufs(_masked_mean(momentary, gated))


def _loudness_range(short_term: torch.Tensor) -> torch.Tensor:
    """EBU Tech 3342 LRA of ``(batch, blocks)`` short-term energies, ``(batch,)`` LU.

    The percentiles follow the Tech 3342 reference: sorted gated values, index ``round((n - 1) * p / 100)``.
    """
    if short_term.shape[1] == 0:
        return torch.zeros(short_term.shape[0], dtype=torch.float64)
    loudness, gated = _gate(short_term, _LRA_RELATIVE_GATE_LU)
    count = gated.sum(-1)
    ordered = torch.where(gated, loudness, torch.full_like(loudness, math.inf)).sort(-1).values
    last = (count - 1).clamp_min(0).to(torch.float64)
    low, high = (
        ordered.gather(-1, torch.round(last * p / 100.0).to(torch.int64)[:, None])[:, 0] for p in _LRA_PERCENTILES
    )
    return torch.where(count > 0, high - low, torch.zeros_like(high)).cpu()


def _check_sample_rate(sample_rate: float) -> None:
    if not (math.isfinite(sample_rate) and sample_rate >= _MIN_SAMPLE_RATE):
        raise ParameterError(
            f"measure_loudness.sample_rate: expected at least {_MIN_SAMPLE_RATE:g} Hz (the K-weighting shelf "
            f"sits at 1.68 kHz), found {sample_rate!r}; fix: pass the file's sample rate in Hz"
        )


def _check_length(x: torch.Tensor, minimum: int, sample_rate: float) -> None:
    if x.shape[-1] < minimum:
        raise AudioInputError(
            f"measure_loudness: expected at least 400 ms of audio ({minimum} samples at {sample_rate:g} Hz), "
            f"found {x.shape[-1]} samples; fix: measure a longer excerpt (loudness blocks are 400 ms long)"
        )
