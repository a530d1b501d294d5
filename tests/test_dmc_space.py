"""The DMC parameter space: random-mix recipes read back exactly, predictions bound to the console render
like the recipe they write, and gradients reach the network's outputs."""

import numpy as np
import pytest
import torch

from mixdown.console import Console, render
from mixdown.data.random_mix import sample_recipe
from mixdown.errors import ParameterError
from mixdown.methods.dmc.space import SPACE, TRACK_STEPS

SR = 44100
NAMES, ROLES = ["kick", "bass", "vox"], ["kick", "bass", "lead_vocal"]


def _tracks(seed=0, n=4410):
    g = torch.Generator().manual_seed(seed)
    return [0.1 * torch.randn(1, n, generator=g, dtype=torch.float64),
            0.1 * torch.randn(1, n, generator=g, dtype=torch.float64),
            0.1 * torch.randn(2, n, generator=g, dtype=torch.float64)]


def test_random_mix_recipes_round_trip_through_the_normalised_values():
    recipe = sample_recipe(NAMES, ROLES, np.random.default_rng(3))
    assert not recipe.tracks[0].sends  # a kick sends nothing to the reverb in the random-mix priors
    track_norm, return_norm = SPACE.from_recipe(recipe)
    assert track_norm.shape == (3, SPACE.track_size) == (3, 28) and return_norm.shape == (5,)
    assert float(track_norm.min()) >= 0 and float(track_norm.max()) <= 1
    trims = [t.chain[0].params["gain_db"] for t in recipe.tracks]
    back = SPACE.to_recipe(NAMES, ROLES, trims, track_norm, return_norm, SR)
    for a, b in zip(recipe.tracks, back.tracks):
        for k in range(len(TRACK_STEPS)):
            for name, value in a.chain[k].params.items():
                assert b.chain[k].params[name] == pytest.approx(value, rel=1e-5, abs=1e-4), (a.name, k, name)
        sent = a.sends[0].level_db if a.sends else -60.0  # no send reads as the send's minimum
        assert b.sends[0].level_db == pytest.approx(max(sent, -60.0), abs=1e-4)
    decay = recipe.returns[0].chain[0].params["decay_low_s"]
    assert back.returns[0].chain[0].params["decay_low_s"] == pytest.approx(decay, rel=1e-5)


def test_bound_predictions_render_like_their_recipe_and_pass_gradients():
    tracks = _tracks()
    g = torch.Generator().manual_seed(1)
    track_norm = torch.rand(3, SPACE.track_size, generator=g, dtype=torch.float64).requires_grad_()
    return_norm = torch.rand(5, generator=g, dtype=torch.float64).requires_grad_()
    skeleton = SPACE.skeleton(NAMES, ROLES, SR)
    console = Console(skeleton, SR, [t.shape[0] for t in tracks], dtype=torch.float64)
    SPACE.bind(console, track_norm, return_norm)
    mix = console.render(tracks)
    recipe = SPACE.to_recipe(NAMES, ROLES, [0.0] * 3, track_norm, return_norm, SR)
    assert torch.allclose(mix, render(tracks, recipe, SR, dtype=torch.float64), atol=1e-9)
    mix.square().mean().backward()
    assert torch.isfinite(track_norm.grad).all() and (track_norm.grad != 0).sum() >= 3 * 20
    assert return_norm.grad.abs().sum() > 0
    with pytest.raises(ParameterError, match="track values"):
        SPACE.bind(console, track_norm[:, :5], return_norm)


def test_a_random_mix_rerenders_from_its_normalised_values_through_the_dmc_console():
    from mixdown.data.random_mix import console_inputs, render_random_mix
    from mixdown.methods.dmc.mixer import model_inputs, render_prediction

    stems = torch.stack([t.float().expand(2, -1) if t.shape[0] == 1 else t.float() for t in _tracks(n=22050)])
    mix, recipe = render_random_mix(stems, SR, NAMES, ROLES, np.random.default_rng(4), drum_bus_probability=0.0)
    assert recipe.returns[0].chain[0].params["seed"] == 0  # the DMC's reverb uses noise seed 0
    inputs = console_inputs(stems)
    model_stems, trims = model_inputs(inputs)
    assert trims == [t.chain[0].params["gain_db"] for t in recipe.tracks]
    rms = model_stems.square().mean((1, 2)).sqrt()
    assert torch.allclose(20 * torch.log10(rms), torch.full((3,), -20.0), atol=0.01)
    track_norm, return_norm = SPACE.from_recipe(recipe)
    rendered = render_prediction(inputs, NAMES, ROLES, trims, track_norm.double(), return_norm.double(), SR)
    # the same mix, up to float32 rounding and the kick's missing send, which reads as the -60 dB minimum
    assert torch.allclose(rendered.float(), mix, atol=5e-4) and float((rendered.float() - mix).abs().max()) > 0
