"""Training losses: zero for identical inputs, gradients that flow, masks that hold, weights that add up."""

import pytest
import torch

from mixdown.errors import ParameterError
from mixdown.evaluate import audio_feature_loss, mrstft_distance
from mixdown.train.losses import LossWeights, mix_loss, parameter_loss

SR = 44100


def _noise(seed, batch=2, seconds=0.5):
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(batch, 2, int(SR * seconds), generator=g, dtype=torch.float64)


def test_terms_are_the_evaluate_metrics_weighted_and_zero_for_identical_mixes():
    y, ref = _noise(0), _noise(1)
    terms = mix_loss(y, ref, SR, LossWeights(mrstft=2.0, af=0.5))
    assert terms["mrstft"] == pytest.approx(float(mrstft_distance(y, ref)["total"].mean()))
    assert terms["af"] == pytest.approx(float(audio_feature_loss(y, ref, SR)))
    assert terms["total"] == pytest.approx(2.0 * float(terms["mrstft"]) + 0.5 * float(terms["af"]))
    assert float(mix_loss(ref, ref, SR)["total"]) == 0.0


def test_gradients_reach_the_mix_and_the_parameters():
    y = _noise(0).requires_grad_()
    params = torch.rand(2, 3, 5, dtype=torch.float64, requires_grad=True)
    target = torch.rand(2, 3, 5, dtype=torch.float64)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    loss = mix_loss(y, _noise(1), SR, LossWeights(params=1.0), params, target, mask)["total"]
    loss.backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    assert params.grad[~mask].abs().sum() == 0 and params.grad[mask].abs().min() > 0  # padding tracks: no gradient


def test_parameter_loss_averages_real_tracks_only():
    predicted = torch.zeros(1, 3, 2)
    target = torch.tensor([[[0.5, 0.5], [0.1, 0.3], [1.0, 1.0]]])
    assert float(parameter_loss(predicted, target, torch.tensor([[True, True, False]]))) == pytest.approx(0.35)
    assert float(parameter_loss(predicted, target)) == pytest.approx((0.5 + 0.2 + 1.0) / 3)
    with pytest.raises(ParameterError, match="mask"):
        parameter_loss(predicted, target, torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ParameterError, match="params_ref"):
        mix_loss(_noise(0), _noise(1), SR, LossWeights(params=1.0))
    with pytest.raises(ParameterError, match="non-negative"):
        LossWeights(mrstft=0, af=0, params=0)
