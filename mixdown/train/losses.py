"""Training losses for learned mixers: audio losses on the rendered mix, and a parameter loss on the recipe.

* ``mrstft``: the multi-resolution STFT distance on ``L + R`` and ``L - R`` (DMC's stereo loss,
  :func:`mixdown.evaluate.mrstft_distance`), averaged over the batch.
* ``af``: Diff-MST's audio-feature loss (loudness, crest, width, balance, Bark spectra of mid and side,
  :func:`mixdown.evaluate.audio_feature_loss`).
* ``params``: mean absolute difference of normalised console parameters (``[0, 1]`` through each processor's
  table), over the real tracks only.

:func:`mix_loss` weighs them (:class:`LossWeights`) and returns each term, so a training log shows what moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mixdown.errors import ParameterError
from mixdown.evaluate import audio_feature_loss, mrstft_distance

__all__ = ["LossWeights", "mix_loss", "parameter_loss"]


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms; a term with weight 0 is not computed.

    Attributes:
        mrstft: of the multi-resolution STFT distance (DMC's loss).
        af: of Diff-MST's audio-feature loss.
        params: of the parameter loss (only where the true parameters are known: random mixes).
    """

    mrstft: float = 1.0
    af: float = 1.0
    params: float = 0.0

    def __post_init__(self) -> None:
        if min(self.mrstft, self.af, self.params) < 0 or self.mrstft + self.af + self.params == 0:
            raise ParameterError(f"LossWeights: expected non-negative weights, not all 0, found {self}")


def parameter_loss(predicted: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute difference of normalised parameters over the real tracks.

    Args:
        predicted, target: ``(batch, tracks, parameters)`` in ``[0, 1]``.
        mask: bool ``(batch, tracks)``, True for real tracks; None counts every track.
    Returns:
        scalar tensor (0 when no track is real).
    """
    if predicted.shape != target.shape or predicted.dim() != 3:
        raise ParameterError(f"parameter_loss: expected predicted and target shaped (batch, tracks, parameters) "
                             f"alike, found {tuple(predicted.shape)} and {tuple(target.shape)}")
    error = (predicted - target).abs().mean(-1)  # (batch, tracks)
    if mask is None:
        return error.mean()
    if mask.shape != error.shape:
        raise ParameterError(f"parameter_loss: expected a mask shaped {tuple(error.shape)}, found {tuple(mask.shape)}")
    weight = mask.to(error.dtype)
    return (error * weight).sum() / weight.sum().clamp_min(1.0)


def mix_loss(y: torch.Tensor, y_ref: torch.Tensor, sample_rate: float, weights: LossWeights = LossWeights(),
             params: torch.Tensor | None = None, params_ref: torch.Tensor | None = None,
             mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The weighted training loss of a rendered mix against a target mix (and of its parameters).

    Args:
        y: ``(batch, 2, samples)`` rendered mix; ``y_ref`` the target of the same shape.
        sample_rate: Hz.
        weights: :class:`LossWeights`.
        params, params_ref, mask: for the parameter term (see :func:`parameter_loss`); required when
            ``weights.params > 0``.
    Returns:
        ``{"total", "mrstft", "af", "params"}`` scalar tensors; terms with weight 0 are 0 (not computed).

    Properties: differentiable in ``y`` and ``params``; 0 for identical inputs.
    """
    zero = y.new_zeros(())
    terms = {"mrstft": zero, "af": zero, "params": zero}
    if weights.mrstft:
        terms["mrstft"] = mrstft_distance(y, y_ref)["total"].mean()
    if weights.af:
        terms["af"] = audio_feature_loss(y, y_ref, sample_rate)
    if weights.params:
        if params is None or params_ref is None:
            raise ParameterError("mix_loss: expected params and params_ref with a parameter weight above 0, found "
                                 "none; fix: pass them or set LossWeights(params=0)")
        terms["params"] = parameter_loss(params, params_ref, mask)
    terms["total"] = weights.mrstft * terms["mrstft"] + weights.af * terms["af"] + weights.params * terms["params"]
    return terms
