"""Dugan gain sharing: the automatic microphone mixer for speech (podcasts, panels, conferences).

Each microphone's power gain is its share of the total (weighted) input power:

    level_i[n]  = ballistics(mean over channels of x_i[n]^2)         (attack while rising, release while falling)
    q_i[n]      = 10^(weight_db_i / 10) level_i[n]                    (weighted power level)
    share_i[n]  = q_i[n] / sum_j q_j[n]                               (power share, sums to 1)
    gain_i[n]   = sqrt(share_i[n])                                    (amplitude gain, 0..1)

so ``sum_i gain_i^2 == 1`` at every sample: the mixer's total power gain is constant and equals that of ONE open
microphone at unity gain, whatever the number of open microphones (NOM). Room noise and reverberation picked up by
the microphones therefore sum to one microphone's worth however many are open, and the gain before feedback does
not fall as microphones are added. A talker alone gets 0 dB; two equal talkers get -3 dB each; a microphone
20 dB quieter than the talker (its crosstalk) is attenuated by a further 20 dB.

Three additions make it usable on recordings:

* **Off-attenuation floor** (``floor_db``): every power share is raised to at least ``10^(floor_db / 10)`` and
  the shares renormalised (so they still sum to 1): no microphone closes completely, and an off microphone sits
  at ``floor_db`` minus at most ``10 log10(1 + (mics - 1) 10^(floor_db / 10))`` dB.
* **Last-mic hold** (``threshold_db``, ``hold_ms``): while no weighted level reaches ``threshold_db`` (nobody
  talks), the shares stay as they were at the last sample where somebody did, for ``hold_ms``; the last talker's
  microphone stays open through pauses instead of the gains drifting to equal shares of the room noise. After
  the hold (and before anybody has talked) the shares follow the levels again, as in Dugan's original design.
* **Fade** (``fade_ms``): the shares move toward their target through one one-pole smoother, the same for every
  microphone, so their sum stays exactly 1 while switches (into and out of the hold) are click-free.

Properties: not differentiable (the hold is a decision; the parameters are marked so); batched over the
microphones; exact streaming (blocks of any size give the same samples as one block); deterministic.

References: D. Dugan, "Automatic microphone mixing", J. Audio Eng. Soc. 23(6), 442-449, 1975.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from mixdown.dsp.kernels.envelope import smooth_gain, time_to_coefficient
from mixdown.dsp.params import Param, ParamTable
from mixdown.dsp.signal import check_signal
from mixdown.errors import AudioInputError, ParameterError

__all__ = ["GAIN_SHARING_PARAMS", "WEIGHT_RANGE_DB", "check_weights", "gain_sharing", "gain_sharing_step"]

GAIN_SHARING_PARAMS = ParamTable(
    "gain_sharing",
    Param("attack_ms", "ms", 0.0, 100.0, 5.0, description="level detector time constant while the level rises",
          differentiable=False),
    Param("release_ms", "ms", 1.0, 2000.0, 50.0, "log", "level detector time constant while the level falls",
          differentiable=False),
    Param("threshold_db", "dB", -100.0, 0.0, -50.0,
          description="weighted level (dBFS power) at which a microphone counts as talking", differentiable=False),
    Param("hold_ms", "ms", 0.0, 60000.0, 1000.0,
          description="last-mic hold: how long the shares stay put after the last talking sample",
          differentiable=False),
    Param("floor_db", "dB", -100.0, -10.0, -40.0, description="off-attenuation floor of a microphone's gain",
          differentiable=False),
    Param("fade_ms", "ms", 0.0, 1000.0, 10.0, description="time constant of the shares' movement (same for all)",
          differentiable=False),
)

WEIGHT_RANGE_DB = (-40.0, 40.0)
"""Allowed per-microphone weights (the bias of each input in the sharing), dB."""


def check_weights(weights_db: torch.Tensor, mics: int, where: str = "gain_sharing.weights_db") -> None:
    """Refuse weights that are not ``(mics,)`` finite values inside :data:`WEIGHT_RANGE_DB`."""
    if weights_db.shape != (mics,):
        raise ParameterError(f"{where}: expected a tensor shaped ({mics},), found {tuple(weights_db.shape)}")
    low, high = WEIGHT_RANGE_DB
    bad = torch.isnan(weights_db) | (weights_db < low) | (weights_db > high)
    if bool(bad.any()):
        raise ParameterError(f"{where}: expected {low:g} to {high:g} dB, found {weights_db[bad][0].item()}; "
                             "fix: set each weight inside its range")


@numba.njit(cache=True)
def _share_kernel(q, threshold, hold, alpha, floor, shares, target, counter, out):  # pragma: no cover - compiled
    """Per sample: the target shares (live, or held), then the common one-pole fade toward them.

    ``q`` ``(mics, n)`` weighted power levels; ``shares``/``target`` ``(mics,)`` carried state (updated in place);
    ``counter`` samples of hold left; ``out`` ``(mics, n)`` power shares. Returns the counter after the block.
    """
    mics, n = q.shape
    for k in range(n):
        loudest = 0.0
        total = 0.0
        for i in range(mics):
            total += q[i, k]
            loudest = max(loudest, q[i, k])
        live = True
        if loudest >= threshold:  # somebody talks: the hold restarts
            counter = hold
        elif counter > 0:  # a pause inside the hold: keep the last target
            counter -= 1
            live = False
        if live:
            norm = 0.0
            for i in range(mics):
                raw = q[i, k] / total if total > 0.0 else 1.0 / mics
                target[i] = max(raw, floor)
                norm += target[i]
            for i in range(mics):
                target[i] /= norm
        norm = 0.0
        for i in range(mics):
            shares[i] = alpha * shares[i] + (1.0 - alpha) * target[i]
            norm += shares[i]
        for i in range(mics):  # keeps the sum at exactly 1 however long the signal (rounding does not drift)
            shares[i] /= norm
            out[i, k] = shares[i]
    return counter


def _scalar_params(x: torch.Tensor, params: dict) -> dict[str, float]:
    """Validated parameters as plain numbers: one value serves every microphone (the sharing couples them)."""
    resolved = GAIN_SHARING_PARAMS.resolve(x, **params)
    out = {}
    for name, value in resolved.items():
        if bool((value != value[0]).any()):
            raise ParameterError(f"gain_sharing.{name}: expected one number for every microphone, found "
                                 f"{value.tolist()}; fix: pass a single number")
        out[name] = float(value[0])
    return out


def _initial_state(mics: int) -> dict[str, torch.Tensor]:
    """Silence before the first sample: levels 0, equal shares, no hold running."""
    equal = torch.full((mics,), 1.0 / mics, dtype=torch.float64)
    return {"level": torch.zeros(mics, 1, dtype=torch.float64), "shares": equal, "target": equal.clone(),
            "hold_left": torch.tensor(0, dtype=torch.int64)}


def gain_sharing_step(
    x: torch.Tensor,
    sample_rate: float,
    state: dict[str, torch.Tensor] | None = None,
    weights_db: torch.Tensor | None = None,
    **params,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Dugan gain-sharing gains for one block of microphone signals (see the module docstring).

    Args:
        x: microphone signals, ``(mics, channels, samples)``, float32 or float64 (a stereo microphone's level is
            the mean power of its channels; give a mono one two identical channels to mix it with stereo ones).
        sample_rate: Hz.
        state: what the previous block returned, or ``None`` at the start (silence, equal shares).
        weights_db: ``(mics,)`` bias of each input in dB (:data:`WEIGHT_RANGE_DB`); +6 dB counts a microphone
            as 6 dB louder when sharing. ``None`` weighs all equally.
        **params: ``attack_ms``, ``release_ms``, ``threshold_db``, ``hold_ms``, ``floor_db``, ``fade_ms``
            (:data:`GAIN_SHARING_PARAMS`), each one number.
    Returns:
        ``(gains, state)``: ``gains`` ``(mics, samples)`` linear amplitude gains in 0..1 on ``x``'s dtype, with
        ``sum over mics of gains**2 == 1`` at every sample; ``state`` a dict of tensors for the next block.
    Raises:
        AudioInputError: ``x`` not ``(mics, channels, samples)`` floating point, or no microphone.
        ParameterError: a parameter or weight out of range, or a state for another number of microphones.

    Properties: not differentiable; batched over microphones; streaming (any block sizes give the one-block
    result); deterministic.

    Example:
        >>> x = torch.randn(3, 1, 48000) * torch.tensor([0.1, 0.01, 0.001])[:, None, None]
        >>> gains, state = gain_sharing_step(x, 48000)   # mic 0 talks: gains[0] -> ~1, the others ~0.1, ~0.01
    """
    check_signal(x, "gain_sharing")
    mics, _, n = x.shape
    if mics == 0:
        raise AudioInputError("gain_sharing: expected at least one microphone, found none")
    p = _scalar_params(x, params)
    weights = torch.zeros(mics, dtype=torch.float64) if weights_db is None else \
        torch.as_tensor(weights_db, dtype=torch.float64).detach().cpu()
    check_weights(weights, mics)
    state = _initial_state(mics) if state is None else state
    if state["shares"].shape != (mics,):
        raise ParameterError(f"gain_sharing: expected a state for {mics} microphones, found one for "
                             f"{state['shares'].shape[0]}; fix: pass None to start a new stream")
    if n == 0:
        return x.new_zeros(mics, 0), state
    rate = float(sample_rate)
    power = x.detach().cpu().to(torch.float64).square().mean(1, keepdim=True)  # (mics, 1, n)
    coefficient = lambda ms: time_to_coefficient(torch.full((mics,), ms, dtype=torch.float64), rate)
    # smooth_gain's recursion is the level detector: "down" is the release, "up" the attack
    level, level_state = smooth_gain(power, coefficient(p["release_ms"]), coefficient(p["attack_ms"]),
                                     state["level"])
    weighted = (level[:, 0] * torch.pow(10.0, weights / 10.0)[:, None]).numpy()
    shares, target = state["shares"].numpy().copy(), state["target"].numpy().copy()
    out = np.empty((mics, n))
    hold_left = _share_kernel(
        weighted, 10.0 ** (p["threshold_db"] / 10.0), round(p["hold_ms"] * rate / 1000.0),
        float(coefficient(p["fade_ms"])[0]), 10.0 ** (p["floor_db"] / 10.0), shares, target,
        int(state["hold_left"]), out)
    new_state = {"level": level_state, "shares": torch.from_numpy(shares), "target": torch.from_numpy(target),
                 "hold_left": torch.tensor(hold_left, dtype=torch.int64)}
    return torch.from_numpy(np.sqrt(out)).to(device=x.device, dtype=x.dtype), new_state


def gain_sharing(x: torch.Tensor, sample_rate: float, weights_db: torch.Tensor | None = None,
                 **params) -> torch.Tensor:
    """Offline Dugan gains of whole signals: ``gain_sharing_step(x, sample_rate, None, weights_db, **params)[0]``.

    Args and Returns as :func:`gain_sharing_step`: ``x`` ``(mics, channels, samples)`` -> ``(mics, samples)``.
    """
    return gain_sharing_step(x, sample_rate, None, weights_db, **params)[0]
