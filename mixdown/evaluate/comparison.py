"""``compare``: every objective metric of a mix against a reference mix, in one report.

Procedure:

1. Both inputs become float32 stereo ``(2, samples)`` (mono duplicated) and are aligned: integer lag by FFT
   cross-correlation, both trimmed to their overlap (:func:`mixdown.evaluate.align`); or, with
   ``align=False``, both cut to the shorter length from their first sample.
2. BS.1770-4 integrated loudness and true peak of both aligned signals (``measure_loudness``).
3. Metrics, each on the signals it is meant for:

   ================ ====================================================================================
   ``fxnorm``       FxNorm MAPE (%) per feature and group (:mod:`mixdown.evaluate.fxnorm`): the loudness
                    group on the aligned signals as they are; spectral, panning and dynamics on both signals
                    peak-normalised to -1 dBFS, as FxNorm does
   ``audio_features`` Diff-MST's AF features of both aligned signals as they are (a training loss sees the
                    level too: ``rms_db`` is its loudness term), their L1 distances and the weighted AF loss
   ``mrstft``       multi-resolution STFT distance on L + R and L - R after the mix is scaled to the
                    reference's integrated loudness (so it measures the balance and timbre, not the level)
   ``stems``        with the dry stems both mixes were made from: each stem's level and pan in each mix
                    (:mod:`mixdown.evaluate.stem_balance`), their differences after the loudness match, the
                    mean absolute differences, and the differences in words
   ================ ====================================================================================

Every feature is computed on one signal at a time, so identical inputs give bit-identical features and every
metric reads exactly 0 for ``compare(x, x)``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import torch

from mixdown.analysis.loudness import measure_loudness
from mixdown.errors import AudioInputError
from mixdown.evaluate.alignment import DEFAULT_MAX_LAG_S, Alignment, align_tensors, as_stereo, match_loudness, trim
from mixdown.evaluate.features import AF_WEIGHTS, _distances, audio_features
from mixdown.evaluate.fxnorm import fxnorm_features, fxnorm_mape
from mixdown.evaluate.stem_balance import balance_errors, compare_stem_balance, stem_balance
from mixdown.evaluate.stft_distance import mrstft_distance

__all__ = ["MIN_LOUDNESS_LUFS", "Comparison", "compare"]

MIN_LOUDNESS_LUFS = -60.0
"""Quietest integrated loudness (BS.1770) a compared signal may have: 46 dB under a streaming master, far below
any mix worth comparing; quieter, the relative errors of the features divide by almost nothing."""


@dataclasses.dataclass
class Comparison:
    """A mix measured against a reference.

    Attributes:
        sample_rate: Hz.
        alignment: lag, correlation and overlap of the aligned pair (:class:`Alignment`).
        loudness_match_db: gain that brought the mix to the reference's integrated loudness for ``mrstft``, dB.
        fxnorm: ``group -> feature -> MAPE`` in percent (groups and features of
            :data:`mixdown.evaluate.fxnorm.GROUPS`).
        fxnorm_means: ``group -> mean MAPE of its features``, percent.
        audio_features: ``name -> {"mix": value, "reference": value, "distance": float}``; values are floats,
            or lists of 24 floats for ``bark_mid`` and ``bark_side`` (distance: mean over bands).
        audio_feature_loss: Diff-MST's weighted sum of the distances.
        mrstft: ``{"sum": ..., "difference": ..., "total": ...}`` multi-resolution STFT distances.
        warnings: what the figures should be read with (a mono signal compared with a stereo one).
        stems: with stems, ``{"mix": ..., "reference": ...}`` (:meth:`StemBalance.to_dict`), ``"tracks"``: one
            :class:`~mixdown.evaluate.stem_balance.StemDifference` dict per stem, ``"errors"``: ``{"balance_db",
            "pan"}`` mean absolute differences, ``"sentences"``: the differences worth mentioning, largest first;
            None without stems.
    """

    sample_rate: float
    alignment: Alignment
    loudness_match_db: float
    fxnorm: dict[str, dict[str, float]]
    fxnorm_means: dict[str, float]
    audio_features: dict[str, dict]
    audio_feature_loss: float
    mrstft: dict[str, float]
    warnings: list[str] = dataclasses.field(default_factory=list)
    stems: dict | None = None

    def to_dict(self) -> dict:
        """Plain Python values (floats, ints, lists and dicts), e.g. for ``json.dumps``."""
        return dataclasses.asdict(self)


def compare(mix, reference, sample_rate: float, *, align: bool = True, max_lag_s: float = DEFAULT_MAX_LAG_S,
            names: tuple[str, str] = ("compare.mix", "compare.reference"), stems: Sequence | None = None,
            stem_names: Sequence[str] | None = None) -> Comparison:
    """Compare a mix with a reference mix of the same music: FxNorm MAPE groups, AF features, MR-STFT distance.

    Args:
        mix: numpy array or torch tensor ``(channels, samples)``, 1 or 2 channels (mono is duplicated to both),
            full scale +-1, at least 1 s.
        reference: the same layout and sample rate (resample before calling); channel count and length may
            differ from the mix.
        sample_rate: Hz, at least 8000.
        align: find and remove the lag between the two (see :func:`mixdown.evaluate.align`); ``False`` compares
            them from their first samples.
        max_lag_s: largest lag searched, seconds.
        names: what error messages and warnings call the mix and the reference (their files).
        stems: optional dry stems both mixes were made from, each ``(1 or 2, samples)`` at ``sample_rate``,
            starting where both mixes start: adds the per-track comparison (``Comparison.stems``).
        stem_names: their names (default ``stem 1``, ...).
    Returns:
        :class:`Comparison`; ``to_dict()`` gives JSON-ready values.
    Raises:
        AudioInputError: a signal not ``(channels, samples)`` with 1 or 2 channels, non-finite, shorter than 1 s,
            an overlap under 1 s, or silent or near-silent where they are compared (integrated loudness below
            :data:`MIN_LOUDNESS_LUFS`: there is nothing to compare, and every relative error would explode).
        ParameterError: sample rate below 8000 Hz, ``max_lag_s`` negative.

    Properties: not differentiable (the AF features and the MR-STFT distance are, on their own); deterministic;
    every metric is exactly 0 for ``compare(x, x)``; about 3.5 s for a 4-minute 44.1 kHz stereo pair on 2 cores.

    Example:
        >>> result = compare(my_mix, reference_mix, 44100)
        >>> result.fxnorm_means["spectral"], result.mrstft["total"]
        >>> json.dumps(result.to_dict())
    """
    mix_t, reference_t = (as_stereo(x, name, sample_rate) for x, name in zip((mix, reference), names))
    if align:
        mix_a, reference_a, alignment = align_tensors(mix_t, reference_t, sample_rate, max_lag_s, "compare")
    else:
        mix_a, reference_a, alignment = trim(mix_t, reference_t, 0, sample_rate, "compare")
    loudness = [measure_loudness(signal, sample_rate) for signal in (mix_a, reference_a)]
    for name, report in zip(names, loudness):
        level = report.integrated_lufs
        if not level >= MIN_LOUDNESS_LUFS:  # -inf: silence (every block under BS.1770's -70 LUFS gate)
            found = "silence" if not math.isfinite(level) else f"near-silence ({level:.1f} LUFS integrated)"
            raise AudioInputError(
                f"{name}: expected audible sound to compare with, found {found} in the "
                f"{alignment.overlap_samples / sample_rate:.1f} s compared; fix: check that this is the right file "
                f"(a mix and its reference must both play the music: features of silence have nothing to compare)")
    warnings = [f"{name} is mono: it is compared as the same signal in both channels, so its width and panning "
                "read as a centred mono mix" for x, name in zip((mix, reference), names) if x.shape[0] == 1] \
        if mix.shape[0] != reference.shape[0] else []
    fx_mix, fx_reference = (fxnorm_features(signal, sample_rate, report)
                            for signal, report in zip((mix_a, reference_a), loudness))
    fxnorm = fxnorm_mape(fx_mix, fx_reference)
    with torch.no_grad():
        af_mix, af_reference = (audio_features(signal[None], sample_rate) for signal in (mix_a, reference_a))
        distances = _distances(af_mix, af_reference)
        matched, gain_db = match_loudness(mix_a, *loudness)
        spectral = mrstft_distance(matched[None], reference_a[None])
    return Comparison(
        sample_rate=float(sample_rate),
        alignment=alignment,
        loudness_match_db=float(gain_db),
        fxnorm=fxnorm,
        fxnorm_means={group: float(np.mean(list(values.values()))) for group, values in fxnorm.items()},
        audio_features={name: {"mix": _plain(af_mix[name][0]), "reference": _plain(af_reference[name][0]),
                               "distance": float(distances[name][0])} for name in AF_WEIGHTS},
        audio_feature_loss=float(sum(AF_WEIGHTS[name] * float(distances[name][0]) for name in AF_WEIGHTS)),
        mrstft={name: float(value[0]) for name, value in spectral.items()},
        warnings=warnings,
        stems=None if stems is None else _stem_comparison(mix, reference, stems, stem_names, sample_rate, names,
                                                          float(gain_db)),
    )


def _stem_comparison(mix, reference, stems, stem_names, sample_rate, names, loudness_match_db) -> dict:
    """``Comparison.stems``: each mix as it was given (the stems start where it starts) against the stems."""
    balances = [stem_balance(x, stems, sample_rate, stem_names, name) for x, name in zip((mix, reference), names)]
    differences = compare_stem_balance(*balances, loudness_match_db)
    ranked = sorted(differences, key=lambda d: -max(abs(d.level_db) if math.isfinite(d.level_db) else 0.0,
                                                    10.0 * abs(d.pan) if math.isfinite(d.pan) else 0.0))
    return {"mix": balances[0].to_dict(), "reference": balances[1].to_dict(),
            "tracks": [_plain_difference(d) for d in differences], "errors": balance_errors(differences),
            "sentences": [text for text in (d.sentence() for d in ranked) if text]}


def _plain_difference(difference) -> dict:
    out = dataclasses.asdict(difference)
    for key in ("level_db", "pan"):
        out[key] = out[key] if math.isfinite(out[key]) else None
    return out


def _plain(value: torch.Tensor) -> float | list[float]:
    return float(value) if value.dim() == 0 else [float(v) for v in value]
