"""``mixdown mix --method optimize --reference REF``: gradient descent on the console's knobs toward a reference.

It starts from the DMC's estimate (which already heard the reference) and renders the song's windows through the
differentiable console, step after step, moving every knob of the DMC strip to lower the audio-feature distance
(Diff-MST's loss: loudness, crest, width, balance, Bark spectra of mid and side) between each window's mix and a
window of the reference. The audio-feature loss compares what a mix sounds like, not which notes play, so the
reference can be any song. A small pull toward the start keeps knobs the loss cannot hear (the frequency of an
EQ band at 0 dB, say) where the DMC put them. When the reference is a mix of these very stems
(:func:`~mixdown.methods.dmc.method.follow_heard_reference`), the balance read off it is the start, the STFT
distance joins the loss, and the balance is read again at the end; otherwise the pans read off its stereo image
are.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from mixdown.analysis import SessionAnalysis
from mixdown.console.recipe import Recipe
from mixdown.data.random_mix import console_inputs
from mixdown.errors import ParameterError
from mixdown.evaluate import audio_feature_loss, mrstft_distance
from mixdown.methods.dmc.method import (
    estimate,
    finish_recipe,
    follow_heard_reference,
    listen,
    shipped_model,
)
from mixdown.methods.dmc.mixer import render_prediction
from mixdown.methods.dmc.model import DmcModel
from mixdown.methods.intent import Intent

__all__ = ["OPTIMIZE_STEPS", "optimize", "optimize_recipe"]

OPTIMIZE_STEPS = 150
_LEARNING_RATE = 0.05  # Adam's first step in logit units (cosine decay to a tenth): a knob can cross its range
_ANCHOR = 0.05  # weight of the squared distance to the start (normalised units)


def optimize(windows: list[list[torch.Tensor]], names: list[str], roles: list[str | None], trims_db: list[float],
             track_norm: torch.Tensor, return_norm: torch.Tensor, references: torch.Tensor, sample_rate: int,
             steps: int = OPTIMIZE_STEPS, same_music: bool = False,
             progress: Callable[[int, int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """Adam on the normalised knobs (through a sigmoid, so they stay in range) toward the reference windows.

    Args:
        windows: per window, per track ``(1 or 2, n)`` at ``sample_rate``; ``names``, ``roles``, ``trims_db`` per
            track (the recipe's trims: what the knobs act on).
        track_norm, return_norm: the start, ``(tracks, SPACE.track_size)`` and ``(len(SPACE.ret),)``.
        references: ``(windows, 2, n')`` at -23 LUFS; window ``w`` of the song is compared with reference ``w``.
        steps: optimiser steps; each renders one window (cycling through them).
        same_music: the references are mixes of these very windows (recovering a mix's recipe): the
            multi-resolution STFT distance, which compares the notes too, joins the loss.
        progress: optional ``(done, steps)`` callback.
    Returns:
        ``(track_norm, return_norm, cycle_losses)``: the knobs with the lowest mean loss over a full cycle of
        windows (the start when ``steps`` is shorter than a cycle) and the mean loss of each full cycle.
    """
    if references.shape[0] != len(windows):
        raise ParameterError(f"optimize: expected one reference window per song window, found {references.shape[0]} "
                             f"and {len(windows)}")
    inputs = [console_inputs(torch.stack([x.expand(2, -1) for x in w])) for w in windows]
    start = [x.detach().clamp(1e-3, 1 - 1e-3) for x in (track_norm, return_norm)]
    logits = [torch.logit(x).requires_grad_(True) for x in start]
    adam = torch.optim.Adam(logits, lr=_LEARNING_RATE)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(adam, max(1, steps), eta_min=0.1 * _LEARNING_RATE)
    losses, cycles, best = [], [], [x.detach().clone() for x in start]
    cycle = len(windows)
    for step in range(steps):
        w = step % cycle
        knobs = [torch.sigmoid(x) for x in logits]
        mix = render_prediction(inputs[w], names, roles, trims_db, *knobs, sample_rate)
        loss = audio_feature_loss(mix[None], references[w : w + 1], sample_rate)
        if same_music:
            loss = loss + mrstft_distance(mix[None], references[w : w + 1])["total"].mean()
        anchor = sum(((k - s) ** 2).mean() for k, s in zip(knobs, start))
        adam.zero_grad()
        (loss + _ANCHOR * anchor).backward()
        adam.step()
        decay.step()
        losses.append(float(loss.detach()))
        if (step + 1) % cycle == 0:  # judge knobs on a whole cycle of windows
            cycles.append(sum(losses[-cycle:]) / cycle)
            if cycles[-1] == min(cycles):
                best = [k.detach().clone() for k in knobs]
        if progress:
            progress(step + 1, steps)
    return best[0], best[1], cycles


def optimize_recipe(session, analysis: SessionAnalysis, intent: Intent, recipe_dir: str | Path, seed: int = 0,
                    steps: int = OPTIMIZE_STEPS, model: DmcModel | None = None,
                    progress: Callable[[int, int], None] | None = None) -> Recipe:
    """Every console parameter optimised toward the intent's reference (``mixdown.api.METHODS["optimize"]``).

    Args:
        session, analysis, intent, recipe_dir, seed: as :func:`mixdown.methods.dmc.method.dmc_recipe`; the intent
            must name a reference.
        steps: optimiser steps (:data:`OPTIMIZE_STEPS`; each costs one window's render forward and backward).
        model: the DMC giving the start; None: the shipped one.
        progress: optional ``(done, steps)`` callback.
    Raises:
        ParameterError: no reference, or fewer than 1 step.
    """
    if steps < 1:
        raise ParameterError(f"method optimize: expected at least 1 step, found {steps}")
    if intent.reference is None:
        raise ParameterError("method optimize: expected a reference mix to optimise toward, found none; fix: add "
                             "--reference REF.wav (or use --method dmc)")
    model = model or shipped_model()
    rate = model.config.sample_rate
    heard = listen(session, analysis, intent, rate)
    track_norm, return_norm, trims = estimate(model, heard.windows, heard.roles, heard.references)
    track_norm, read = follow_heard_reference(heard, track_norm, return_norm, trims, rate)
    track_norm, return_norm, cycles = optimize(heard.windows, heard.names, heard.roles, trims, track_norm,
                                               return_norm, heard.references, rate, steps, read["same_music"],
                                               progress)
    if read["same_music"]:  # the tone has moved: read the balance again
        track_norm, read = follow_heard_reference(heard, track_norm, return_norm, trims, rate)
    report = {"steps": steps, "loss_per_cycle": [round(x, 4) for x in cycles]}
    return finish_recipe(heard, session, analysis, recipe_dir, seed, track_norm, return_norm, trims,
                         {"reference": {"file": Path(intent.reference).name, **read}, "optimize": report})
