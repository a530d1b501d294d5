"""Faders and pans read off a reference by least squares: all of the balance from a mix of the same stems (a
rough mix), the pans from the stereo image of other music.

A mix is a sum of the tracks' strip outputs and the reverb return, each scaled per side by its fader and pan. Given
the other knobs, each track's strip output at fader 0 dB and centre pan is known, so the mix's left samples are
``sum_i l_i s_iL`` plus the return, and its right ``sum_i r_i s_iR``: non-negative least squares on every sample
finds the side gains ``l_i``, ``r_i`` exactly (the other knobs' errors aside), and the pan law turns each pair
into a fader and a pan. The share of the mix the fit explains says whether the reference is these stems at all.

Of other music (another section of the song, another song) only the sound is shared. Its stereo image still says
where things are: in each frequency bin, the share of the reference's power on the left is the sum of each
track's share of that bin times the share of the track sent left, which its pan sets. Bounded least squares over
the bins (:func:`reference_pans`) finds the tracks' left shares, and the pan law turns them into pans. Levels
cannot be read that way: a fit on average band powers recovered fewer faders than the DMC itself, since the
spectrum cannot tell tracks that sound alike apart; they stay the DMC's and the optimiser's.
"""

from __future__ import annotations

import math

import torch
from scipy.optimize import lsq_linear, nnls

from mixdown.analysis.spectral import power
from mixdown.methods.dmc.mixer import dmc_console
from mixdown.methods.dmc.space import FADER, PAN, SPACE

__all__ = ["SAME_MUSIC_SHARE", "follow_reference", "match_balance", "reference_pans"]

SAME_MUSIC_SHARE = 0.5
"""Below this share of the reference's energy explained, the reference is not a mix of these stems."""
_AUDIBLE = 1e-4  # a track whose power comes out 40 dB below the loudest's is silenced by the fit: it keeps its start
_IMAGE_FFT = 4096  # 11 Hz bins at 44.1 kHz: fine enough to tell instruments apart by the notes they play
_IMAGE_FLOOR = 1e-6  # bins 60 dB below the reference's loudest carry no image
_IMAGE_WEIGHT = 0.25  # bins weigh by power ** this: loud bins count more, quiet ones still count


def _strips(inputs: list[torch.Tensor], names: list[str], roles: list[str | None], trims_db: list[float],
            track_norm: torch.Tensor, return_norm: torch.Tensor, sample_rate: int,
            keep_faders: bool = False) -> torch.Tensor:
    """``(tracks + 1, 2, n)``: each track's strip output at centre pan and fader 0 dB (``keep_faders``: at its
    fader), then the reverb return's output, for one window at the other knobs given (aligned with a
    latency-compensated render)."""
    flat = track_norm.detach().double().clone()
    if not keep_faders:
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


def _power_spectrum(x: torch.Tensor) -> torch.Tensor:
    """``(..., n)`` -> ``(..., bins)``: mean power per bin over Hann frames of :data:`_IMAGE_FFT` (hop a quarter)."""
    window = torch.hann_window(_IMAGE_FFT, dtype=x.dtype)
    flat = torch.nn.functional.pad(x.reshape(-1, x.shape[-1]), (0, max(0, _IMAGE_FFT - x.shape[-1])))
    spectra = torch.stft(flat, _IMAGE_FFT, _IMAGE_FFT // 4, window=window, return_complex=True)
    return power(spectra).mean(-1).reshape(*x.shape[:-1], -1)


def _pan_from_left_share(left: torch.Tensor, mono: torch.Tensor) -> torch.Tensor:
    """A centred source's share of power on the left after panning -> its pan, the -3 dB law of
    :func:`mixdown.dsp.stereo.pan` inverted: mono ``cos^2 : sin^2`` of ``theta = (pan + 1) pi / 4``; stereo
    keeps its nearer side and scales the other by ``2 sin^2`` (panned left) or ``2 cos^2`` (right)."""
    left = left.clamp(1e-6, 1 - 1e-6)
    theta_mono = torch.acos(left.sqrt())
    # stereo: left share 1 / (1 + 2 sin^2) when panned left, 2 cos^2 / (2 cos^2 + 1) when right
    theta_left = torch.asin(((1 / left - 1) / 2).clamp(0, 1).sqrt())
    theta_right = torch.acos((left / (2 * (1 - left))).clamp(0, 1).sqrt())
    theta = torch.where(mono, theta_mono, torch.where(left >= 0.5, theta_left, theta_right))
    return (4 * theta / math.pi - 1).clamp(-1, 1)


def reference_pans(windows: list[list[torch.Tensor]], names: list[str], roles: list[str | None],
                   trims_db: list[float], track_norm: torch.Tensor, return_norm: torch.Tensor,
                   references: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Pans that give the mix the stereo image of the references, other music (see the module's description).

    Per frequency bin ``k`` of the summed windows, the reference's left share ``f_k = L_k / (L_k + R_k)`` is
    modelled as ``sum_i s_ik c_i``, where ``s_ik`` is track ``i``'s share of the bin's power (its strip output at
    the given faders and centre pan, both sides) and ``c_i`` in ``[0, 1]`` the share of track ``i`` sent left; the
    reverb return is one more term (its sends follow the pans, so its image is unknown too). Bins weigh by the
    reference's power to the :data:`_IMAGE_WEIGHT`; bins :data:`_IMAGE_FLOOR` below its loudest are left out.

    Args:
        windows, names, roles, trims_db, track_norm, return_norm, sample_rate: as :func:`match_balance`.
        references: ``(windows, 2, n')``, any music (any level).
    Returns:
        ``track_norm`` with the pan column replaced (tracks silent in every window keep theirs).
    """
    tracks = len(names)
    shares, image = 0.0, 0.0
    for inputs, reference in zip(windows, references):
        window = _strips(inputs, names, roles, trims_db, track_norm, return_norm, sample_rate, keep_faders=True)
        shares = shares + _power_spectrum(window).sum(1)  # (tracks + 1, bins): power of both sides
        image = image + _power_spectrum(reference.double())  # (2, bins)
    total = image.sum(0)
    keep = total > total.max() * _IMAGE_FLOOR
    mixture = shares[:, keep] / shares[:, keep].sum(0).clamp_min(1e-30)
    left = image[0, keep] / total[keep]
    weight = total[keep] ** (_IMAGE_WEIGHT / 2)  # least squares on rows scaled by the square root of the weight
    fit = lsq_linear((mixture.T * weight[:, None]).numpy(), (left * weight).numpy(), bounds=(0.0, 1.0))
    mono = torch.tensor([x.shape[0] == 1 for x in windows[0]])
    pans = _pan_from_left_share(torch.from_numpy(fit.x[:tracks]), mono)
    heard = shares[:tracks].sum(1) > 0
    pan = SPACE.track[PAN][1]
    out = track_norm.detach().clone()
    out[:, PAN] = torch.where(heard, pan.normalize(pans), out[:, PAN].double()).to(out.dtype)
    return out


def follow_reference(windows: list[list[torch.Tensor]], names: list[str], roles: list[str | None],
                     trims_db: list[float], track_norm: torch.Tensor, return_norm: torch.Tensor,
                     references: torch.Tensor, aligned: bool, sample_rate: int) -> tuple[torch.Tensor, dict]:
    """What the learned methods read off a reference besides what the network heard: when it is ``aligned``
    (as long as the song, its windows cut where the song's are) and :func:`match_balance` explains at least
    :data:`SAME_MUSIC_SHARE` of it, a mix of these very stems, all its faders and pans; otherwise the pans of its
    stereo image (:func:`reference_pans`).

    Returns:
        ``(track_norm, note)``: the knobs, and ``{"same_music": bool, "explained_share": float (aligned only),
        "read": "balance" | "pans"}`` for the recipe's notes.
    """
    note = {"same_music": False}
    if aligned:
        matched, explained = match_balance(windows, names, roles, trims_db, track_norm, return_norm, references,
                                           sample_rate)
        note = {"same_music": explained >= SAME_MUSIC_SHARE, "explained_share": round(explained, 3)}
        if note["same_music"]:
            return matched, {**note, "read": "balance"}
    return reference_pans(windows, names, roles, trims_db, track_norm, return_norm, references, sample_rate), \
        {**note, "read": "pans"}
