"""The audio features (AF) of Diff-MST, differentiable, and the weighted AF loss built on them.

Per stereo signal ``x = (L, R)`` of a batch, over the whole excerpt:

* ``rms_db``: ``10 log10 E[x^2]``, mean square over both channels and all samples, dBFS.
* ``crest_db``: ``20 log10 max|x| - rms_db``, the exact largest sample of either channel over the RMS, dB.
* ``width``: ``E[(L - R)^2] / E[(L + R)^2]``, 0 mono, 1 one channel only.
* ``imbalance``: ``(E[R^2] - E[L^2]) / (E[R^2] + E[L^2])``, -1 left only .. +1 right only.
* ``bark_mid``, ``bark_side``: natural log of the mean power per bin in 24 equal-Bark bands (Traunmueller's
  scale, 20 Hz .. min(20 kHz, Nyquist)) of ``M = (L + R) / 2`` and ``S = (L - R) / 2``. The power is Welch's
  average over Hann frames of ``n_fft`` samples (hop ``n_fft / 2``, centred, reflect-padded) of
  ``|X_k|^2 / sum(w^2)``, so white noise of variance ``s^2`` reads ``s^2`` in every bin.

Every log argument and denominator is a mean square floored at :data:`POWER_FLOOR` (-100 dBFS) with
``torch.where``: digital silence reads ``rms_db`` -100, crest 0, width 0, imbalance 0, Bark values ln 1e-10,
all with finite (zero) gradients, and nothing changes for any signal above the floor.

The loss (Diff-MST's weights, :data:`AF_WEIGHTS`) is the weighted sum of the L1 distances: ``|a - b|`` for the
scalar features, the mean over bands of ``|a - b|`` for the Bark spectra, averaged over the batch.

References: C. J. Steinmetz, S. S. Vanka, M. A. Martinez-Ramirez, G. Bromham, "Diff-MST: Differentiable mixing
style transfer", ISMIR 2024 (the feature set and weights; implemented here from the definitions);
H. Traunmueller, "Analytical expressions for the tonotopic sensory scale", JASA 88(1), 1990.
"""

from __future__ import annotations

import torch

from mixdown.analysis.masking import bark
from mixdown.analysis.spectral import power, stft_chunks
from mixdown.evaluate._inputs import check_n_fft, check_pair, check_stereo_batch, safe

__all__ = ["AF_WEIGHTS", "BARK_BANDS", "POWER_FLOOR", "audio_feature_distances", "audio_feature_loss",
           "audio_features"]

AF_WEIGHTS = {"rms_db": 0.1, "crest_db": 0.001, "width": 1.0, "imbalance": 1.0, "bark_mid": 0.1,
              "bark_side": 0.1}
"""Weights of the AF loss terms (Diff-MST)."""
BARK_BANDS = 24
POWER_FLOOR = 1e-10
"""Floor of every mean square under a log or in a denominator (-100 dBFS)."""
_F_LOW_HZ = 20.0
_F_HIGH_HZ = 20000.0


def audio_features(x: torch.Tensor, sample_rate: float, n_fft: int = 2048) -> dict[str, torch.Tensor]:
    """Diff-MST's audio features of a batch of stereo signals (see the module docstring for definitions).

    Args:
        x: ``(batch, 2, samples)``, float32 or float64, full scale +-1, at least ``n_fft`` samples.
        sample_rate: Hz.
        n_fft: frame length of the Bark spectra in samples (hop ``n_fft / 2``, Welch); 2048 at 44.1 kHz.
    Returns:
        dict of tensors in ``x``'s dtype: ``rms_db``, ``crest_db``, ``width``, ``imbalance`` ``(batch,)``;
        ``bark_mid``, ``bark_side`` ``(batch, 24)``.
    Raises:
        AudioInputError: not ``(batch, 2, samples)`` float, or shorter than ``n_fft``.
        ParameterError: ``n_fft`` not an integer >= 16 divisible by 4.

    Properties: differentiable in ``x`` (finite gradients on silence); batched; deterministic.

    Example:
        >>> f = audio_features(x, 44100)  # x (batch, 2, samples)
        >>> f["width"], f["bark_mid"].shape  # (batch,), (batch, 24)
    """
    check_n_fft(n_fft, "audio_features")
    check_stereo_batch(x, "audio_features", n_fft)
    left, right = x[:, 0], x[:, 1]
    e_left, e_right = left.square().mean(-1), right.square().mean(-1)
    mean_square = (e_left + e_right) / 2.0
    rms_db = 10.0 * torch.log10(safe(mean_square, POWER_FLOOR))
    peak_square = x.abs().amax(dim=(1, 2)).square()
    crest_db = 10.0 * torch.log10(safe(peak_square, POWER_FLOOR)) - rms_db
    side, mid = (left - right).square().mean(-1), (left + right).square().mean(-1)
    bark_mid, bark_side = _bark_spectra(torch.stack([left + right, left - right], 1) / 2.0, sample_rate, n_fft)
    return {
        "rms_db": rms_db,
        "crest_db": crest_db,
        "width": side / safe(mid, POWER_FLOOR),
        "imbalance": (e_right - e_left) / safe(e_left + e_right, POWER_FLOOR),
        "bark_mid": bark_mid,
        "bark_side": bark_side,
    }


def audio_feature_distances(y: torch.Tensor, y_ref: torch.Tensor, sample_rate: float,
                            n_fft: int = 2048) -> dict[str, torch.Tensor]:
    """Unweighted L1 distance of every AF feature between ``y`` and ``y_ref``, each ``(batch,)``.

    Args:
        y, y_ref: ``(batch, 2, samples)`` of one shape and dtype (see :func:`audio_features`).
        sample_rate: Hz.
        n_fft: frame length of the Bark spectra.
    Returns:
        dict ``name -> (batch,)``: ``|f(y) - f(y_ref)|``, the Bark spectra averaged over their 24 bands.

    Properties: differentiable in both signals; batched; zero for identical inputs.
    """
    check_pair(y, y_ref, "audio_feature_distances", n_fft)
    return _distances(audio_features(y, sample_rate, n_fft), audio_features(y_ref, sample_rate, n_fft))


def audio_feature_loss(y: torch.Tensor, y_ref: torch.Tensor, sample_rate: float,
                       n_fft: int = 2048) -> torch.Tensor:
    """Diff-MST's AF loss: ``sum_k AF_WEIGHTS[k] * distance_k``, averaged over the batch.

    Args:
        y: ``(batch, 2, samples)`` mix, float32 or float64.
        y_ref: ``(batch, 2, samples)`` reference of the same shape and dtype.
        sample_rate: Hz.
        n_fft: frame length of the Bark spectra (2048 at 44.1 kHz).
    Returns:
        scalar tensor.

    Properties: differentiable (finite gradients on silence); batched; deterministic; 0 for identical inputs.

    Example:
        >>> loss = audio_feature_loss(mix, reference, 44100)
        >>> loss.backward()
    """
    distances = audio_feature_distances(y, y_ref, sample_rate, n_fft)
    return sum(AF_WEIGHTS[name] * distance for name, distance in distances.items()).mean()


def _distances(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """L1 distance per feature of two feature dicts, the vector features averaged over their last axis."""
    return {name: (a[name] - b[name]).abs().reshape(a[name].shape[0], -1).mean(-1) for name in AF_WEIGHTS}


def _bark_spectra(mid_side: torch.Tensor, sample_rate: float, n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Log mean power per Bark band of ``(batch, 2, samples)`` mid and side, each ``(batch, 24)``."""
    window_energy = torch.hann_window(n_fft, periodic=True, dtype=mid_side.dtype).square().sum()
    total, n_frames = 0.0, 0
    for _, spectrum in stft_chunks(mid_side, n_fft, n_fft // 2, center=True):
        total = total + power(spectrum).sum(-2)  # (batch, 2, bins)
        n_frames += spectrum.shape[-2]
    bins_to_bands = _bark_matrix(n_fft, sample_rate).to(mid_side.dtype)  # (bins, bands), rows of 1/count
    band_power = total / (n_frames * window_energy) @ bins_to_bands
    log_power = torch.log(safe(band_power, POWER_FLOOR))
    return log_power[:, 0], log_power[:, 1]


def _bark_matrix(n_fft: int, sample_rate: float) -> torch.Tensor:
    """``(bins, 24)`` float64 averaging matrix: bin k belongs to the equal-Bark band holding ``bark(f_k)``;
    bins outside 20 Hz .. min(20 kHz, Nyquist) belong to none; a band without bins stays empty (reads the
    floor)."""
    freqs = torch.fft.rfftfreq(n_fft, 1.0 / sample_rate, dtype=torch.float64)
    low, high = bark(_F_LOW_HZ), bark(min(_F_HIGH_HZ, sample_rate / 2.0))
    band = torch.floor((bark(freqs) - low) / (high - low) * BARK_BANDS).to(torch.int64)
    inside = (freqs >= _F_LOW_HZ) & (freqs <= min(_F_HIGH_HZ, sample_rate / 2.0))
    band = torch.where(inside, band.clamp(0, BARK_BANDS - 1), BARK_BANDS)  # the top edge itself is in the last band
    member = torch.nn.functional.one_hot(band, BARK_BANDS + 1)[:, :BARK_BANDS].to(torch.float64)
    count = member.sum(0)
    return member / torch.where(count > 0, count, torch.ones_like(count))
