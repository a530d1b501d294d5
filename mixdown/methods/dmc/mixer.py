"""From the DMC's predictions to a mix: the console compiled for the tracks, the predictions bound to it, the
render normalised to the loudness random mixes have, so a training loss compares balance and tone, not level."""

from __future__ import annotations

import torch

from mixdown.console.render import Console
from mixdown.data.random_mix import normalising_gain_db, trim_db
from mixdown.dsp.gain import db_to_amplitude
from mixdown.methods.dmc.space import SPACE, DmcSpace

__all__ = ["dmc_console", "model_inputs", "render_prediction"]


def model_inputs(inputs: list[torch.Tensor]) -> tuple[torch.Tensor, list[float]]:
    """The model's view of console inputs: each trimmed to -20 dBFS RMS and made stereo.

    Args:
        inputs: per track ``(1 or 2, n)`` (:func:`mixdown.data.random_mix.console_inputs`).
    Returns:
        ``(stems, trims_db)``: ``(tracks, 2, n)`` and the trim of each track in dB.
    """
    trims = [trim_db(x) for x in inputs]
    stems = torch.stack([(x * 10 ** (t / 20)).expand(2, -1) for x, t in zip(inputs, trims)])
    return stems, trims


def dmc_console(inputs: list[torch.Tensor], names: list[str], roles: list[str | None], trims_db: list[float],
                sample_rate: int, dtype: torch.dtype = torch.float32, space: DmcSpace = SPACE) -> Console:
    """The DMC's console compiled for these tracks (``inputs`` per track ``(1 or 2, n)``) with their trims set;
    :meth:`DmcSpace.bind` then sets the predicted knobs."""
    console = Console(space.skeleton(names, roles, sample_rate), sample_rate, [x.shape[0] for x in inputs],
                      dtype=dtype)
    console.set_parameters("tracks", {(0, "gain_db"): torch.tensor(trims_db, dtype=dtype)})
    return console


def render_prediction(inputs: list[torch.Tensor], names: list[str], roles: list[str | None], trims_db: list[float],
                      track_norm: torch.Tensor, return_norm: torch.Tensor, sample_rate: int,
                      space: DmcSpace = SPACE) -> torch.Tensor:
    """Render predicted parameters through the console: ``(2, n)`` at -23 LUFS, differentiable in the
    predictions and, like the normalisation, invariant to the mix's overall level (a common fader offset has no
    gradient).

    Args:
        inputs: per track ``(1 or 2, n)`` console inputs; ``names``, ``roles``, ``trims_db`` per track.
        track_norm: ``(tracks, space.track_size)``; ``return_norm`` ``(len(space.ret),)``; both in ``[0, 1]``.
        sample_rate: Hz.
    """
    console = dmc_console(inputs, names, roles, trims_db, sample_rate, track_norm.dtype, space)
    space.bind(console, track_norm, return_norm)
    mix = console.render([x.to(track_norm.dtype) for x in inputs])
    gain_db, _ = normalising_gain_db(mix, sample_rate)
    # x rms.detach() / rms is 1 in value, but makes the gradient blind to the mix's overall scale, as the
    # normalisation is: without it the losses pull every fader down together, with no sound to stop them
    rms = mix.square().mean().clamp_min(1e-20).sqrt()
    return mix * db_to_amplitude(torch.tensor(gain_db, dtype=mix.dtype)) * (rms.detach() / rms)
