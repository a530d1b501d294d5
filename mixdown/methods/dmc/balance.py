"""Faders and pans read off a mix of the same stems by least squares (recovering a rough mix's balance).

A mix is a sum of the tracks' strip outputs and the reverb return, each scaled per side by its fader and pan. Given
the other knobs, each track's strip output at fader 0 dB and centre pan is known, so the mix's left samples are
``sum_i l_i s_iL`` plus the return, and its right ``sum_i r_i s_iR``: non-negative least squares on every sample
finds the side gains ``l_i``, ``r_i`` exactly (the other knobs' errors aside), and the pan law turns each pair
into a fader and a pan. The share of the mix the fit explains says whether the reference is these stems at all.
Of other music only the tone is shared, and the spectrum cannot tell tracks that sound alike apart (a fit on
average band powers recovered fewer faders than the DMC itself): that case is the DMC's and the optimiser's.
"""

from __future__ import annotations

import math

import torch
from scipy.optimize import nnls

from mixdown.methods.dmc.mixer import dmc_console
from mixdown.methods.dmc.space import FADER, PAN, SPACE

__all__ = ["SAME_MUSIC_SHARE", "match_balance"]

SAME_MUSIC_SHARE = 0.5
"""Below this share of the reference's energy explained, the reference is not a mix of these stems."""
_AUDIBLE = 1e-4  # a track whose power comes out 40 dB below the loudest's is silenced by the fit: it keeps its start


def _strips(inputs: list[torch.Tensor], names: list[str], roles: list[str | None], trims_db: list[float],
            track_norm: torch.Tensor, return_norm: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """``(tracks + 1, 2, n)``: each track's strip output at fader 0 dB and centre pan, then the reverb return's
    output, for one window at the other knobs given (aligned with a latency-compensated render)."""
    flat = track_norm.detach().double().clone()
    flat[:, FADER] = SPACE.track[FADER][1].normalize(torch.tensor(0.0))
    flat[:, PAN] = 0.5
    console = dmc_console(inputs, names, roles, trims_db, sample_rate, torch.float64)
    with torch.no_grad():
        SPACE.bind(console, flat, return_norm.detach().double())
        mix, stems, _ = console.process_stems([x.double() for x in inputs])
    out = torch.cat([stems, (mix - stems.sum(0))[None]])
    return out[..., console.latency:] if console.latency else out


def _fader_and_pan(side: torch.Tensor, mono: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared side gains relative to centre pan ``(tracks, 2)`` -> ``(faders_db, pans)``, the -3 dB law of
    :func:`mixdown.dsp.stereo.pan` inverted: a mono source gets ``2 cos^2`` and ``2 sin^2`` of
    ``theta = (pan + 1) pi / 4``; a stereo one keeps its nearer side and scales the other by ``2 cos^2`` (or
    ``2 sin^2``)."""
    power = torch.where(mono, side.mean(1), side.amax(1))
    far = (side.amin(1) / (2 * power.clamp_min(1e-30))).clamp(0, 1).sqrt()
    theta = torch.where(mono, torch.atan2(side[:, 1].sqrt(), side[:, 0].sqrt()),
                        torch.where(side[:, 0] <= side[:, 1], torch.acos(far), torch.asin(far)))
    return 10 * power.clamp_min(1e-30).log10(), 4 * theta / math.pi - 1


def match_balance(windows: list[list[torch.Tensor]], names: list[str], roles: list[str | None],
                  trims_db: list[float], track_norm: torch.Tensor, return_norm: torch.Tensor,
                  references: torch.Tensor, sample_rate: int) -> tuple[torch.Tensor, float]:
    """Faders and pans that sum the processed tracks into the references, mixes of these very windows.

    Args:
        windows: per window, per track console inputs ``(1 or 2, n)``; ``names``, ``roles``, ``trims_db`` per
            track.
        track_norm, return_norm: the start, normalised; the other knobs (EQ, compressor, sends, reverb) shape
            what each track sounds like and are kept.
        references: ``(windows, 2, n')``: window ``w`` a mix of song window ``w``, aligned (any level).
    Returns:
        ``(track_norm, explained)``: the start with the fader and pan columns replaced (the faders keep the
        start's median: a mix is heard at one loudness, so only their differences are found; a track the fit
        silences keeps its start), and the share of the references' energy the fit explains (near 1 for a mix
        of these stems, near 0 for other music: compare with :data:`SAME_MUSIC_SHARE`).
    """
    columns, targets = [], []
    for inputs, reference in zip(windows, references):
        window = _strips(inputs, names, roles, trims_db, track_norm, return_norm, sample_rate)
        length = min(window.shape[-1], reference.shape[-1])
        columns.append(window[..., :length])
        targets.append(reference[..., :length].double())
    columns, target = torch.cat(columns, -1), torch.cat(targets, -1)
    side, residual = [], 0.0
    for c in (0, 1):
        gains, miss = nnls(columns[:, c].T.numpy(), target[c].numpy(), maxiter=50 * len(columns))
        side.append(torch.from_numpy(gains[:-1]) ** 2)
        residual += miss ** 2
    explained = 1.0 - residual / max(float(target.square().sum()), 1e-30)
    faders_db, pans = _fader_and_pan(torch.stack(side, 1), torch.tensor([x.shape[0] == 1 for x in windows[0]]))
    fader, pan = SPACE.track[FADER][1], SPACE.track[PAN][1]
    start_db, start_pan = fader.denormalize(track_norm[:, FADER].double()), pan.denormalize(track_norm[:, PAN].double())
    found = faders_db > faders_db.max() + 10 * math.log10(_AUDIBLE)
    faders_db = torch.where(found, faders_db - faders_db[found].median() + start_db.median(), start_db)
    out = track_norm.detach().clone()
    out[:, FADER] = fader.normalize(faders_db.clamp(fader.min, fader.max)).to(out.dtype)
    out[:, PAN] = pan.normalize(torch.where(found, pans, start_pan).clamp(-1, 1)).to(out.dtype)
    return out, explained
