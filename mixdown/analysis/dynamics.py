"""Dynamics measurements: frame RMS envelope, crest factor, dynamic spread, onset-peak "compression" statistic,
and where a track plays (activity).

Frames are 4096 samples with a hop of 1024 (FxNorm), not padded: frame ``k`` covers samples
``[k * 1024, k * 1024 + 4096)``. The squared signal and the absolute peak are reduced once per 1024-sample block
(in float64, by a compiled kernel), and every frame is the sum / max of 4 consecutive blocks, as in
:mod:`mixdown.analysis.loudness`; everything after that runs on small ``(batch, frames)`` arrays.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mixdown.analysis.kernels import block_energy_and_peak
from mixdown.analysis.spectral import as_batch, mono, power, stft_chunks
from mixdown.errors import ParameterError

__all__ = ["FRAME_LENGTH", "HOP_LENGTH", "activity", "dynamics_features"]

FRAME_LENGTH = 4096
HOP_LENGTH = 1024
_BLOCKS_PER_FRAME = FRAME_LENGTH // HOP_LENGTH
_COMPRESSION_PEAK_DB = -10.0  # FxNorm peak-normalises each stem to -10 dBFS before reading onset peaks
_ONSET_PERCENTILE = 75.0
_HIT_PERCENTILE = 90.0
_ONSET_N_FFT = 2048
_ONSET_SPAN_BLOCKS = 3  # an onset's peak is read over its 2048-sample HFC frame and the next hop (~70 ms)
_LEVEL_FLOOR_DB = -300.0  # stands for -inf inside quantiles (torch cannot interpolate between -inf values)


def dynamics_features(x, sample_rate: float, threshold_db: float = -40.0, floor_db: float = -70.0) -> dict:
    """Frame RMS, crest factor, dynamic spread, onset-peak statistic and active share of each track.

    * ``rms_db``: RMS of each 4096-sample frame (hop 1024), mean square over channels, dBFS (-inf silent).
    * ``crest_db``: ``20 log10(peak / rms)`` over the whole signal (peak of any channel, RMS over all channels):
      3.01 dB for a sine, 0 dB for a square wave; 0 for silence.
    * ``dynamic_spread_db``: standard deviation of ``rms_db`` over the active frames (see :func:`activity`), dB;
      0 when fewer than 2 frames are active. (Our definition: a level-independent spread of the envelope.)
    * ``compression_mean_db``, ``compression_std_db``, ``onset_count``: FxNorm's statistic. The track is
      peak-normalised to -10 dBFS; onsets are the local maxima of the half-wave rectified difference of the
      high-frequency content ``HFC[k] = sum_j j |X_j[k]|^2`` of the mono mix (Hann 2048, hop 1024), keeping those
      at or above the 75th percentile of all such maxima; the level of an onset is the largest absolute sample in
      its frame plus the next hop (3072 samples), dBFS. Mean and standard deviation over the kept onsets. A
      compressed track has its hits closer to its loudest one: a higher mean (nearer -10 dB) and a smaller std.
      NaN when the track has no onset.
    * ``active_share``: fraction of frames where :func:`activity` says the track plays, 0..1.
    * ``hit_peak_db``: the 90th percentile of the active frames' sample peaks, dBFS: how loud the track's hits
      are, robust to a few clicks (one frame in ten may be louder); -inf when no frame is active. With
      ``crest_db`` it tells a sparse percussive track from a dense one (the rules mixer's balance reads it).

    Args:
        x: numpy array or torch tensor, ``(channels, samples)`` or ``(batch, channels, samples)``, 1 or 2
            channels, at least 4096 samples.
        sample_rate: Hz, at least 8000.
        threshold_db: activity gate below the track's loud level, dB (see :func:`activity`).
        floor_db: absolute activity floor, dBFS.
    Returns:
        dict: ``rms_db`` ``(frames,)`` / ``(batch, frames)`` with ``frames = 1 + (samples - 4096) // 1024``, and
        the other entries as floats for a 2-D input or ``(batch,)`` float64 arrays for a 3-D input.
    Raises:
        AudioInputError: wrong shape, more than 2 channels, shorter than 4096 samples.
        ParameterError: sample rate below 8000 Hz, ``threshold_db`` above 0 or a limit not finite.

    Properties: not differentiable (measurement); batched; deterministic.

    References: P. Masri, "Computer modelling of sound for transformation and synthesis of musical signals",
    PhD thesis, Univ. of Bristol, 1996 (high-frequency content); J. P. Bello et al., "A tutorial on onset
    detection in music signals", IEEE TSAP 13(5), 2005; M. A. Martinez-Ramirez et al., "Automatic music mixing
    with deep learning and out-of-domain data", ISMIR 2022 (the feature set).
    """
    x_t, single = as_batch(x, "dynamics_features", FRAME_LENGTH, sample_rate)
    energy_blocks, peak_blocks = _blocks(x_t)
    rms_db = _frame_level_db(energy_blocks)
    active = _gate(rms_db, threshold_db, floor_db)
    total_energy = energy_blocks.sum(-1) + _tail_energy(x_t)
    peak = _peak(x_t)
    rms = (total_energy / x_t.shape[-1]).sqrt()
    crest = torch.where(rms > 0, 20.0 * torch.log10(peak / torch.where(rms > 0, rms, 1.0)), 0.0)
    spread = _masked_std(rms_db, active).numpy()
    onset_mean, onset_std, onset_count = _onset_statistic(x_t, peak_blocks, peak)
    hit_peak = _hit_peak_db(peak_blocks, active)
    out = {
        "rms_db": rms_db.numpy(),
        "crest_db": crest.numpy(),
        "dynamic_spread_db": spread,
        "compression_mean_db": onset_mean,
        "compression_std_db": onset_std,
        "onset_count": onset_count,
        "active_share": active.to(torch.float64).mean(-1).numpy(),
        "hit_peak_db": hit_peak,
    }
    if single:
        return {name: (value[0] if name == "rms_db" else float(value[0])) for name, value in out.items()}
    return out


def activity(x, sample_rate: float, threshold_db: float = -40.0, floor_db: float = -70.0) -> np.ndarray:
    """Where a track plays: frames whose RMS is above both a level relative to the track's loud frames and an
    absolute floor.

    A frame (4096 samples, hop 1024, not padded) is active when its RMS level exceeds
    ``max(L95 + threshold_db, floor_db)``, ``L95`` being the 95th percentile of the track's frame levels in dBFS
    (its loud level, robust to a few clicks). The relative gate follows the track, so a quiet track that plays
    throughout is active throughout; the floor keeps noise and reverb tails of a silent track inactive.

    Args:
        x: numpy array or torch tensor, ``(channels, samples)`` or ``(batch, channels, samples)``, 1 or 2
            channels, at least 4096 samples.
        sample_rate: Hz, at least 8000.
        threshold_db: dB relative to the loud level, negative (default -40).
        floor_db: dBFS (default -70, BS.1770's absolute gate level).
    Returns:
        bool ``(frames,)`` or ``(batch, frames)``, ``frames = 1 + (samples - 4096) // 1024``; the active share is
        its mean (also in :func:`dynamics_features`).
    Raises:
        AudioInputError: wrong shape, more than 2 channels, shorter than 4096 samples.
        ParameterError: sample rate below 8000 Hz, ``threshold_db`` above 0 or a limit not finite.

    Properties: not differentiable; batched; deterministic; digital silence is never active.
    """
    x_t, single = as_batch(x, "activity", FRAME_LENGTH, sample_rate)
    active = _gate(_frame_level_db(_blocks(x_t)[0]), threshold_db, floor_db).numpy()
    return active[0] if single else active


def _blocks(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per 1024-sample block: summed square over samples, mean over channels (float64) and absolute peak over
    channels and samples; each ``(batch, blocks)``, incomplete last block dropped."""
    energy, peak = block_energy_and_peak(x, HOP_LENGTH)
    return energy.mean(1), peak.amax(1)


def _peak(x: torch.Tensor) -> torch.Tensor:
    """Largest absolute sample of each track, ``(batch,)`` float64 (max and -min: no copy of the signal)."""
    return torch.maximum(x.amax(dim=(1, 2)), -x.amin(dim=(1, 2))).to(torch.float64)


def _tail_energy(x: torch.Tensor) -> torch.Tensor:
    """Mean-over-channels summed square of the samples after the last complete block, ``(batch,)``."""
    tail = x[..., (x.shape[-1] // HOP_LENGTH) * HOP_LENGTH:]
    return tail.to(torch.float64).square().sum(-1).mean(1)


def _frame_level_db(energy_blocks: torch.Tensor) -> torch.Tensor:
    """Frame RMS in dBFS from block energies: sums of 4 consecutive blocks (exact, no cumsum rounding)."""
    n_frames = energy_blocks.shape[-1] - _BLOCKS_PER_FRAME + 1
    frame_energy = sum(energy_blocks[:, i : i + n_frames] for i in range(_BLOCKS_PER_FRAME))
    return 10.0 * torch.log10(frame_energy / FRAME_LENGTH)


def _gate(rms_db: torch.Tensor, threshold_db: float, floor_db: float) -> torch.Tensor:
    if not (math.isfinite(threshold_db) and threshold_db <= 0.0 and math.isfinite(floor_db)):
        raise ParameterError(f"activity: expected threshold_db <= 0 dB and a finite floor_db, found "
                             f"threshold_db={threshold_db!r}, floor_db={floor_db!r}; fix: use -40 and -70")
    loud = torch.quantile(rms_db.clamp_min(_LEVEL_FLOOR_DB), 0.95, dim=-1)
    gate = torch.maximum(loud + threshold_db, torch.full_like(loud, floor_db))
    return rms_db > gate[:, None]


def _hit_peak_db(peak_blocks: torch.Tensor, active: torch.Tensor) -> np.ndarray:
    """90th percentile of the frame peaks (max of a frame's 4 blocks) over the active frames, dBFS, ``(batch,)``."""
    n_frames = active.shape[-1]
    frame_peak = torch.stack([peak_blocks[:, i : i + n_frames] for i in range(_BLOCKS_PER_FRAME)]).amax(0)
    values = torch.where(active, frame_peak.to(torch.float64), torch.nan)
    level = torch.nanquantile(values, _HIT_PERCENTILE / 100.0, dim=-1)  # NaN for a track with no active frame
    with np.errstate(divide="ignore"):
        return np.where(np.isnan(level.numpy()), -np.inf, 20.0 * np.log10(level.numpy()))


def _onset_statistic(x: torch.Tensor, peak_blocks: torch.Tensor,
                     track_peak: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and std (dB) and count of the kept onset peaks, each ``(batch,)``."""
    weights = torch.arange(_ONSET_N_FFT // 2 + 1, dtype=torch.float32)
    hfc = torch.cat([power(spectrum) @ weights
                     for _, spectrum in stft_chunks(mono(x), _ONSET_N_FFT, HOP_LENGTH, center=False)], -1)
    novelty = torch.diff(hfc, dim=-1, prepend=hfc[:, :1]).clamp_min(0.0)  # half-wave rectified HFC rise
    padded = torch.nn.functional.pad(novelty, (1, 1))
    is_peak = (novelty > padded[:, :-2]) & (novelty >= padded[:, 2:]) & (novelty > 0)
    values = torch.where(is_peak, novelty, torch.nan).to(torch.float64)
    limit = torch.nanquantile(values, _ONSET_PERCENTILE / 100.0, dim=-1)  # NaN for a row without peaks
    keep = is_peak & (values >= limit[:, None])
    # HFC frame k covers blocks k and k + 1; read the peak over those and the next block.
    n_frames = hfc.shape[-1]
    padded_peaks = torch.nn.functional.pad(peak_blocks, (0, _ONSET_SPAN_BLOCKS))
    span = torch.stack([padded_peaks[:, i : i + n_frames] for i in range(_ONSET_SPAN_BLOCKS)]).amax(0)
    safe_peak = torch.where(track_peak > 0, track_peak, 1.0)[:, None]  # silence has no onsets to read
    level_db = 20.0 * torch.log10(span / safe_peak) + _COMPRESSION_PEAK_DB
    mean = _masked_mean(level_db, keep)
    std = _masked_std(level_db, keep, minimum=1)
    has = keep.sum(-1) > 0
    return (torch.where(has, mean, torch.nan).numpy(), torch.where(has, std, torch.nan).numpy(),
            keep.sum(-1).to(torch.float64).numpy())


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` along the last axis, ``(batch,)``; 0 where the mask is empty."""
    count = mask.sum(-1)
    total = torch.where(mask, values, 0.0).sum(-1)
    return torch.where(count > 0, total / count.clamp_min(1), 0.0)


def _masked_std(values: torch.Tensor, mask: torch.Tensor, minimum: int = 2) -> torch.Tensor:
    """Population standard deviation where ``mask``, ``(batch,)``; 0 with fewer than ``minimum`` values."""
    mean = _masked_mean(values, mask)
    variance = _masked_mean(torch.where(mask, values - mean[:, None], 0.0).square(), mask)
    return torch.where(mask.sum(-1) >= minimum, variance.sqrt(), 0.0)
