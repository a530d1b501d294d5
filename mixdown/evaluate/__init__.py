"""Objective comparison of a mix with a reference mix: alignment, FxNorm feature MAPE, Diff-MST's audio
features (differentiable, also a training loss), the multi-resolution STFT distance, and each stem's level and pan
in a mix read back from the dry stems. See docs/evaluate.md."""

from mixdown.evaluate.alignment import Alignment, align, match_loudness
from mixdown.evaluate.comparison import Comparison, compare
from mixdown.evaluate.features import AF_WEIGHTS, audio_feature_distances, audio_feature_loss, audio_features
from mixdown.evaluate.fxnorm import GROUPS, MAPE_FLOORS, fxnorm_features, fxnorm_mape
from mixdown.evaluate.stem_balance import (
    StemBalance,
    StemDifference,
    balance_errors,
    compare_stem_balance,
    stem_balance,
)
from mixdown.evaluate.stft_distance import FFT_SIZES, mrstft_distance

__all__ = [
    "AF_WEIGHTS",
    "FFT_SIZES",
    "GROUPS",
    "MAPE_FLOORS",
    "Alignment",
    "Comparison",
    "StemBalance",
    "StemDifference",
    "align",
    "audio_feature_distances",
    "audio_feature_loss",
    "audio_features",
    "balance_errors",
    "compare",
    "compare_stem_balance",
    "fxnorm_features",
    "fxnorm_mape",
    "match_loudness",
    "mrstft_distance",
    "stem_balance",
]
