"""``--method optimize``: gradient descent through the console lowers the audio-feature distance to a reference
(here one rendered from known knobs), keeps the best knobs, and refuses to run without a reference."""

import pytest
import torch

from mixdown.errors import ParameterError
from mixdown.evaluate import audio_feature_loss
from mixdown.methods.dmc.mixer import render_prediction
from mixdown.methods.dmc.optimize import optimize, optimize_recipe
from mixdown.methods.dmc.space import FADER, PAN, SPACE
from mixdown.methods.intent import Intent

RATE = 44100


def _windows(count=2, seconds=1.0):
    g = torch.Generator().manual_seed(0)
    n = int(seconds * RATE)
    t = torch.arange(n) / RATE
    out = []
    for w in range(count):
        tone = 0.1 * torch.sin(2 * torch.pi * (110 + 20 * w) * t)[None]
        noise = 0.05 * torch.randn(2, n, generator=g)
        out.append([tone, noise])
    return out


def test_optimisation_moves_the_knobs_toward_a_reference_mix():
    windows, names, roles, trims = _windows(), ["bass", "hats"], ["bass", "hihat"], [0.0, 0.0]
    start = torch.full((2, SPACE.track_size), 0.5)
    target = start.clone()
    target[1, FADER], target[0, PAN] = 0.65, 0.3  # the noise 12.6 dB louder, the tone to the left
    ret = torch.full((len(SPACE.ret),), 0.5)
    with torch.no_grad():
        references = torch.stack([render_prediction(w, names, roles, trims, target, ret, RATE) for w in windows])
    knobs, ret_out, cycles = optimize(windows, names, roles, trims, start, ret, references, RATE, steps=60)
    assert len(cycles) == 30 and cycles[-1] < 0.5 * cycles[0] and min(cycles) < 0.35 * cycles[0], cycles
    fader = SPACE.track[FADER][1]
    louder_db = float(fader.denormalize(knobs[1, FADER]) - fader.denormalize(knobs[0, FADER]))
    assert louder_db > 4.0 and float(knobs[0, PAN]) < 0.49  # the balance and the pan moved the right way
    with torch.no_grad():
        mixes = [render_prediction(w, names, roles, trims, knobs, ret_out, RATE) for w in windows]
        after = sum(float(audio_feature_loss(m[None], r[None], RATE)) for m, r in zip(mixes, references)) / 2
    assert after == pytest.approx(min(cycles), rel=0.5)  # the knobs returned are the best cycle's


def test_optimize_needs_a_reference_and_a_step():
    with pytest.raises(ParameterError, match="fix: add --reference"):
        optimize_recipe(None, None, Intent(), "out")
    with pytest.raises(ParameterError, match="at least 1 step"):
        optimize_recipe(None, None, Intent(), "out", steps=0)
    with pytest.raises(ParameterError, match="one reference window per song window"):
        optimize(_windows(), ["a", "b"], [None, None], [0.0, 0.0], torch.full((2, SPACE.track_size), 0.5),
                 torch.full((len(SPACE.ret),), 0.5), torch.zeros(1, 2, RATE), RATE)


def test_the_rendered_mix_gives_no_gradient_to_its_overall_level():
    windows, names, roles, trims = _windows(1), ["bass", "hats"], ["bass", "hihat"], [0.0, 0.0]
    knobs = torch.full((2, SPACE.track_size), 0.5, requires_grad=True)
    ret = torch.full((len(SPACE.ret),), 0.5)
    target = 0.01 * torch.randn(2, RATE, generator=torch.Generator().manual_seed(1))
    mix = render_prediction(windows[0], names, roles, trims, knobs, ret, RATE)
    audio_feature_loss(mix[None], target[None], RATE).backward()
    faders = knobs.grad[:, FADER]
    # the send is post-fader, so moving both faders together scales the whole mix: the normalisation undoes it
    assert float(faders.abs().max()) > 1e-4 and abs(float(faders.sum())) < 1e-3 * float(faders.abs().max())
