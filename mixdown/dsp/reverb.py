"""Convolution reverb for the shared reverb return: seeded noise, four decaying bands, partitioned FFT convolution.

The reverb feeds the average of the input's channels through a stereo impulse response and returns two channels.
Each output channel's response (left and right use different noise, so they are decorrelated) is

    h(t) = w(tau) * sum_b n_b(t) * 10 ** (-3 tau / (T_b * sample_rate)),    tau = t - d,    b = 4 bands

for ``t = 0, 1, ...`` samples, with ``d = pre_delay_ms * sample_rate / 1000`` (fractional) and ``tau`` the time
since the onset:

* ``n_b`` is one band of a seeded white noise, split in the frequency domain by complementary masks: raised
  cosines one octave wide around 250 Hz, 1 kHz and 4 kHz, so the four bands add up to the noise exactly (flat).
  The noise is drawn with a ``torch.Generator`` on the CPU in float64, over a length fixed by the sample rate
  alone (longer than any response the table allows), and cut to the response's length: every response, whatever
  its decays or its batch, reads the same noise.
* ``10 ** (-3 tau / T_b)`` falls by 60 dB after ``T_b`` seconds: band ``b`` decays in ``T_b``. Gradients reach
  every decay time through these envelopes.
* ``w`` is zero before the onset, fades in over 1 ms, and fades out over the last 5 % of the slowest decay (from
  about -57 to -60 dB), ending at ``tau = max_b T_b * sample_rate``: a response has
  ``ceil(d + max_b T_b * sample_rate)`` samples. Both fades are smooth, so ``h`` is continuous and
  differentiable in the pre-delay and in the decays.
* Each channel's response is scaled to unit energy, so a steady input comes back at the same level whatever the
  decay and ``mix`` alone sets the wet level.

The pre-delay moves the onset, the envelopes and the fades by ``d`` (exactly, fractional ``d`` included) over the
fixed noise, rather than delaying the noise too with a band-limited linear phase. For a noise reverb both sound the
same (a gap of ``d``, then the same decay), but this costs no FFT per batch item, stays exact (no band-limited
interpolation whose sinc tails would need cutting), and gives ``pre_delay_ms`` a gradient that follows the energy
onset instead of the noise's phase, which oscillates with ``d`` at every frequency.

Because the noise is fixed and every item's response is built from its own parameters only, an item renders the
same bits alone or in any batch, and the same seed renders the same bits on every call.

The convolution is exact (linear, no wrap-around): uniformly partitioned overlap-save, whose block is fixed when a
stream starts (the first block's size, at least 64 samples and at most the response length, rounded up to a power
of two). Each input block costs one FFT of two blocks and one inverse FFT, plus a product with every stored
partition of the response, so small streaming blocks stay cheap and one call over a whole signal runs as a few
large FFTs. The offline :func:`reverb` is :func:`reverb_step` from silence, the tail past the input dropped.

References:
    J. A. Moorer, "About this reverberation business", Computer Music Journal 3(2), 1979 (exponentially
    decaying noise as a reverb impulse response).
    M. R. Schroeder, "New method of measuring reverberation time", JASA 37(3), 1965 (used by the tests).
    F. Wefers, "Partitioned convolution algorithms for real-time auralization", PhD thesis, RWTH Aachen, 2015
    (uniformly partitioned overlap-save convolution).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from mixdown.dsp.params import Param, ParamTable
from mixdown.dsp.registry import Processor, register
from mixdown.dsp.signal import check_signal
from mixdown.errors import ParameterError

__all__ = ["CROSSOVERS_HZ", "REVERB_PARAMS", "reverb", "reverb_impulse_response", "reverb_step"]

REVERB_PARAMS = ParamTable(
    "reverb",
    Param("decay_low_s", "s", 0.1, 10.0, 1.8, scale="log", description="time to fall by 60 dB below 250 Hz"),
    Param("decay_lowmid_s", "s", 0.1, 10.0, 1.6, scale="log", description="time to fall by 60 dB, 250 Hz-1 kHz"),
    Param("decay_highmid_s", "s", 0.1, 10.0, 1.3, scale="log", description="time to fall by 60 dB, 1-4 kHz"),
    Param("decay_high_s", "s", 0.1, 10.0, 0.9, scale="log", description="time to fall by 60 dB above 4 kHz"),
    Param("pre_delay_ms", "ms", 0.0, 200.0, 20.0, description="gap before the reverb starts (fractional samples)"),
    Param(
        "mix", "", 0.0, 1.0, 1.0,
        description="wet share: y = (1 - mix) dry + mix wet; 1 (all wet) because the reverb sits on a send return",
    ),
    Param(
        "seed", "", 0.0, float(2**24 - 1), 0.0, differentiable=False,
        description="noise seed (an integer; 2**24 - 1 at most so float32 holds every seed exactly)",
    ),
)

CROSSOVERS_HZ = (250.0, 1000.0, 4000.0)

_DECAYS = ("decay_low_s", "decay_lowmid_s", "decay_highmid_s", "decay_high_s")
_FADE_IN_S = 1e-3  # onset fade: keeps h continuous in the pre-delay
_FADE_OUT = 0.05  # share of the slowest decay faded out at the end (its last 3 dB above -60 dB)
_MIN_BLOCK = 64
# Largest partition: 2^16-sample partitions (2^17-point FFTs, cache-sized) convolve a 6 s signal with a 3 s
# response 1.4x faster than one 2^19-point FFT of the whole.
_MAX_BLOCK = 1 << 16


def _band_masks(frequency_hz: torch.Tensor) -> torch.Tensor:
    """Four complementary amplitude masks ``(4, bins)`` that sum to one at every frequency.

    Each crossover is a raised-cosine low-pass weight falling from 1 to 0 over one octave centred on it
    (0.5 at the crossover); the bands are differences of consecutive weights, so they telescope to 1.
    """
    lows = []
    for crossover in CROSSOVERS_HZ:
        position = (torch.log2(frequency_hz / crossover) + 0.5).clamp(0.0, 1.0)  # log2(0) = -inf -> 0 at DC
        lows.append(torch.cos(0.5 * math.pi * position) ** 2)
    ones = torch.ones_like(frequency_hz)
    return torch.stack([lows[0], lows[1] - lows[0], lows[2] - lows[1], ones - lows[2]])


def _noise_period(sample_rate: float) -> int:
    """Samples of seeded noise: a power of two no shorter than the longest response the table allows."""
    longest = max(REVERB_PARAMS[name].max for name in _DECAYS) + REVERB_PARAMS["pre_delay_ms"].max / 1000.0
    return 1 << (math.ceil(longest * sample_rate) - 1).bit_length()


@functools.lru_cache(maxsize=2)
def _band_noise(seed: int, sample_rate: float) -> torch.Tensor:
    """The seeded noise split into bands, ``(2, 4, period)`` float64 on the CPU: one row of bands per output
    channel. Drawn once per seed and sample rate (cached), whatever the decays, so every response is cut from the
    same noise."""
    period = _noise_period(sample_rate)
    generator = torch.Generator().manual_seed(seed)
    spectrum = torch.fft.rfft(torch.randn(2, period, generator=generator, dtype=torch.float64))
    masks = _band_masks(torch.fft.rfftfreq(period, 1.0 / sample_rate, dtype=torch.float64))
    return torch.fft.irfft(spectrum[:, None, :] * masks, n=period)


def _seed_values(seed, batch: int) -> list[int]:
    """Integer seeds per item. Values go through float32 before rounding, so a float32 and a float64 render of
    the same (possibly non-integer) seed pick the same noise."""
    values = torch.as_tensor(seed).detach().to("cpu", torch.float32).round().to(torch.int64)
    return values.expand(batch).tolist()


def _check_sample_rate(sample_rate: float) -> None:
    if not (isinstance(sample_rate, (int, float)) and math.isfinite(sample_rate) and sample_rate > 0):
        raise ParameterError(
            f"reverb: expected a sample rate above 0 Hz, found {sample_rate!r}; fix: pass the signal's sample rate"
        )


def _window(tau: torch.Tensor, end: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """Smooth fade-in over 1 ms after the onset and fade-out ending at ``end`` samples; zero outside.

    Args:
        tau: ``(batch, length)`` samples since the onset. end: ``(batch,)`` samples.
    """
    rise = (tau / (_FADE_IN_S * sample_rate)).clamp(0.0, 1.0)
    fall = ((end[:, None] - tau) / (_FADE_OUT * end[:, None])).clamp(0.0, 1.0)
    return torch.sin(0.5 * math.pi * rise) ** 2 * torch.sin(0.5 * math.pi * fall) ** 2


def _impulse_response(p: dict, seeds: list[int], sample_rate: float) -> torch.Tensor:
    """The unit-energy responses ``(batch, 2, length)`` in float64 on the parameters' device (see module doc)."""
    device = p["mix"].device
    decays = torch.stack([p[name] for name in _DECAYS], -1).to(torch.float64)  # (batch, 4) s
    onset = p["pre_delay_ms"].to(torch.float64) * (sample_rate / 1000.0)  # (batch,) samples
    end = decays.amax(-1) * sample_rate  # (batch,) samples after the onset
    length = math.ceil(float((onset + end).detach().max()))  # a shape: from detached values
    tau = torch.arange(length, dtype=torch.float64, device=device) - onset[:, None]  # (batch, length)
    since_onset = tau.clamp(min=0.0)  # before the onset the window is 0; this keeps the envelope <= 1 there
    rate = 3.0 * math.log(10.0) / (decays * sample_rate)  # (batch, 4) nepers per sample: -60 dB after T_b
    envelopes = torch.exp(-since_onset[:, None, :] * rate[..., None]) * _window(tau, end, sample_rate)[:, None, :]
    unique = sorted(set(seeds))
    noise = torch.stack([_band_noise(s, float(sample_rate))[..., :length] for s in unique]).to(device)
    if len(unique) > 1:  # one seed (the usual case) broadcasts over the batch without copies
        noise = noise[torch.tensor([unique.index(s) for s in seeds], device=device)]
    h = sum(noise[:, :, band] * envelopes[:, None, band] for band in range(len(_DECAYS)))  # (batch, 2, length)
    return h / h.square().sum(-1, keepdim=True).sqrt()


def _ir_key(p: dict, seeds: list[int], sample_rate: float) -> torch.Tensor:
    """What the stored response was made from ``(batch, 7)``: four decays, pre-delay, seed, sample rate."""
    values = torch.stack([p[name].detach().to("cpu", torch.float64) for name in (*_DECAYS, "pre_delay_ms")], -1)
    extra = torch.tensor([[float(s), float(sample_rate)] for s in seeds], dtype=torch.float64)
    return torch.cat([values, extra], -1)


def _silent_state(h: torch.Tensor, first_block: int, key: torch.Tensor) -> dict:
    """A stream from silence: the response cut into partitions of ``block`` samples, their spectra stored.

    Returns:
        ``{"spectrum": (batch, 2, parts, block + 1) complex, "history": (batch, 1, parts - 1, block + 1)
        complex (spectra of the last complete input windows, oldest first), "previous": (batch, 1, block) (the
        last complete input block), "pending": (batch, 1, < block) (input of the block being filled),
        "key": (batch, 7)}``.
    """
    batch, _, length = h.shape
    block = 1 << (max(_MIN_BLOCK, min(first_block, length, _MAX_BLOCK)) - 1).bit_length()
    parts = max(1, -(-length // block))  # one partition even for an empty response (a 0-sample input)
    pieces = F.pad(h, (0, parts * block - length)).reshape(batch, 2, parts, block)
    spectrum = torch.fft.rfft(pieces, n=2 * block)
    history = torch.zeros(batch, 1, parts - 1, block + 1, dtype=spectrum.dtype, device=h.device)
    previous = torch.zeros(batch, 1, block, dtype=h.dtype, device=h.device)
    return {"spectrum": spectrum, "history": history, "previous": previous, "pending": previous[..., :0],
            "key": key}


def _accumulate(windows: torch.Tensor, spectrum: torch.Tensor, count: int) -> torch.Tensor:
    """Output spectra ``Y_j = sum_k windows[parts - 1 + j - k] * spectrum[k]`` for ``j < count``.

    Loops over whichever is shorter, the new windows or the response partitions, so both a long offline call
    (few partitions) and a small streaming block (one window) take few steps.
    """
    parts = spectrum.shape[-2]
    if count <= parts:
        reversed_spectrum = spectrum.flip(-2)
        return torch.stack([(windows[..., j : j + parts, :] * reversed_spectrum).sum(-2) for j in range(count)], -2)
    return sum(windows[..., parts - 1 - k : parts - 1 - k + count, :] * spectrum[..., k : k + 1, :]
               for k in range(parts))


def _convolve(u: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
    """Exact linear convolution of the mono block ``u`` ``(batch, 1, n)`` with the stored stereo response.

    Uniformly partitioned overlap-save: window ``j`` holds input blocks ``j - 1`` and ``j`` (the current one
    zero-padded while it fills), and the last ``block`` samples of ``irfft(Y_j)`` are output block ``j``.
    """
    spectrum, previous = state["spectrum"], state["previous"]
    batch, block, parts = u.shape[0], previous.shape[-1], spectrum.shape[-2]
    start = state["pending"].shape[-1]
    joined = torch.cat([state["pending"], u], -1)  # the block being filled, then any further input
    total = joined.shape[-1]
    count = max(1, -(-total // block))
    padded = F.pad(torch.cat([previous, joined], -1), (0, count * block - total))
    windows = torch.fft.rfft(padded.unfold(-1, 2 * block, block), n=2 * block)  # (batch, 1, count, block + 1)
    sequence = torch.cat([state["history"], windows], -2)
    products = _accumulate(sequence, spectrum, count)  # (batch, 2, count, block + 1)
    wet = torch.fft.irfft(products, n=2 * block)[..., block:].reshape(batch, 2, count * block)
    complete = total // block
    new_state = {
        "spectrum": spectrum,
        "history": sequence[..., complete : complete + parts - 1, :],
        "previous": joined[..., (complete - 1) * block : complete * block] if complete else previous,
        "pending": joined[..., complete * block :],
        "key": state["key"],
    }
    return wet[..., start : start + u.shape[-1]], new_state


def _render(x: torch.Tensor, sample_rate: float, state: dict | None, given: dict, horizon: int | None):
    """:func:`reverb_step`; ``horizon`` (offline only) keeps only the response samples that can reach the output."""
    check_signal(x, "reverb", channels=(1, 2))
    _check_sample_rate(sample_rate)
    p = REVERB_PARAMS.resolve(x, **given)
    seeds = _seed_values(given["seed"], x.shape[0])
    key = _ir_key(p, seeds, sample_rate)
    if state is None:
        h = _impulse_response(p, seeds, sample_rate)[..., :horizon]
        state = _silent_state(h.to(x.dtype), x.shape[-1], key)
    elif not torch.equal(state["key"], key):
        raise ParameterError(
            "reverb_step: expected the decays, pre_delay_ms, seed and sample rate the stream started with, found "
            "different values; fix: pass the same values on every block, or start a new stream with state=None"
        )
    wet, state = _convolve(x.mean(1, keepdim=True), state)
    wet_share = p["mix"][:, None, None]
    return (1.0 - wet_share) * x.expand(-1, 2, -1) + wet_share * wet, state


def reverb_step(
    x: torch.Tensor,
    sample_rate: float,
    state: dict | None = None,
    decay_low_s=1.8,
    decay_lowmid_s=1.6,
    decay_highmid_s=1.3,
    decay_high_s=0.9,
    pre_delay_ms=20.0,
    mix=1.0,
    seed=0,
) -> tuple[torch.Tensor, dict]:
    """Reverberate one block, carrying the response and the input history from the previous block.

    Args:
        x: block, ``(batch, channels, samples)`` with 1 or 2 channels; the reverb is fed their average.
        sample_rate: Hz.
        state: the dict returned by the previous call (see ``_silent_state``), or ``None`` to start from
            silence. The response is synthesised once, on the first call, from that call's decays, pre-delay and
            seed; later calls must pass the same values (``mix`` may change from block to block).
        decay_low_s, decay_lowmid_s, decay_highmid_s, decay_high_s: ``(batch,)`` or numbers, 0.1 to 10 s, the
            time each band (below 250 Hz, 250 Hz-1 kHz, 1-4 kHz, above 4 kHz) takes to fall by 60 dB.
        pre_delay_ms: ``(batch,)`` or a number, 0 to 200 ms before the reverb starts (fractional samples).
        mix: ``(batch,)`` or a number in [0, 1]: ``y = (1 - mix) * dry + mix * wet``.
        seed: an integer or ``(batch,)`` integers in [0, 2**24 - 1]: picks the noise (non-integers round).
    Returns:
        ``(y, state)``: ``y`` ``(batch, 2, samples)`` (a mono dry signal is duplicated); the new state.

    Properties: differentiable in ``x``, every decay, ``pre_delay_ms`` and ``mix`` (gradients to the response
    parameters come through the call that made the state); batched (items independent); streaming: blocks of
    any size give the offline result; deterministic.

    Raises:
        ParameterError: a parameter is out of range, or differs from the one the state's response was made with.
    """
    given = dict(decay_low_s=decay_low_s, decay_lowmid_s=decay_lowmid_s, decay_highmid_s=decay_highmid_s,
                 decay_high_s=decay_high_s, pre_delay_ms=pre_delay_ms, mix=mix, seed=seed)
    return _render(x, sample_rate, state, given, None)


def reverb(
    x: torch.Tensor,
    sample_rate: float,
    decay_low_s=1.8,
    decay_lowmid_s=1.6,
    decay_highmid_s=1.3,
    decay_high_s=0.9,
    pre_delay_ms=20.0,
    mix=1.0,
    seed=0,
) -> torch.Tensor:
    """Stereo convolution reverb with four decay bands, a fractional pre-delay and a seeded, decorrelated L/R tail.

    Args:
        x: signal, ``(batch, channels, samples)`` with 1 or 2 channels; the reverb is fed their average.
        sample_rate: Hz.
        decay_low_s, decay_lowmid_s, decay_highmid_s, decay_high_s: ``(batch,)`` or numbers, 0.1 to 10 s (log
            scale), the 60 dB decay time below 250 Hz, 250 Hz-1 kHz, 1-4 kHz and above 4 kHz.
        pre_delay_ms: ``(batch,)`` or a number, 0 to 200 ms.
        mix: ``(batch,)`` or a number in [0, 1]; the default 1 is all wet, as a send return wants. The response
            has unit energy, so ``mix`` sets the wet level whatever the decay.
        seed: an integer or ``(batch,)`` integers in [0, 2**24 - 1]; not differentiable.
    Returns:
        ``(batch, 2, samples)``; the tail past the end of ``x`` is cut (stream with :func:`reverb_step`).

    Properties: differentiable in ``x``, every decay, ``pre_delay_ms`` and ``mix``; batched; deterministic (same
    seed, same bits); equals :func:`reverb_step` from silence (it skips storing the part of the response that
    cannot reach the output); exact linear convolution with :func:`reverb_impulse_response`.

    Example:
        >>> y = reverb(torch.randn(1, 2, 44100), 44100, decay_low_s=2.5, decay_high_s=0.8, mix=0.3)  # (1, 2, 44100)
    """
    given = dict(decay_low_s=decay_low_s, decay_lowmid_s=decay_lowmid_s, decay_highmid_s=decay_highmid_s,
                 decay_high_s=decay_high_s, pre_delay_ms=pre_delay_ms, mix=mix, seed=seed)
    return _render(x, sample_rate, None, given, x.shape[-1])[0]


def reverb_impulse_response(
    sample_rate: float,
    length: int | None = None,
    decay_low_s=1.8,
    decay_lowmid_s=1.6,
    decay_highmid_s=1.3,
    decay_high_s=0.9,
    pre_delay_ms=20.0,
    seed=0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The stereo impulse response :func:`reverb` convolves with (its wet path, before ``mix``).

    Args:
        sample_rate: Hz.
        length: samples to return; ``None`` gives the whole response, ``ceil(d + max decay * sample_rate)``
            samples over the batch (``d`` the pre-delay in samples); longer pads with zeros, shorter cuts the tail.
        decay_low_s, decay_lowmid_s, decay_highmid_s, decay_high_s, pre_delay_ms, seed: as in :func:`reverb`;
            numbers or ``(batch,)`` tensors.
        dtype, device: of the result.
    Returns:
        ``(batch, 2, length)``: left and right responses, each of unit energy (before any cut).

    Properties: differentiable in the decays and ``pre_delay_ms``; batched; deterministic.
    """
    _check_sample_rate(sample_rate)
    given = dict(decay_low_s=decay_low_s, decay_lowmid_s=decay_lowmid_s, decay_highmid_s=decay_highmid_s,
                 decay_high_s=decay_high_s, pre_delay_ms=pre_delay_ms, seed=seed)
    batch = max(torch.as_tensor(v).numel() for v in given.values())
    p = REVERB_PARAMS.resolve(torch.empty(batch, 1, 0, dtype=dtype, device=device), **given)
    h = _impulse_response(p, _seed_values(seed, batch), sample_rate).to(dtype)
    return h if length is None else F.pad(h, (0, length - h.shape[-1]))


register(Processor("reverb", reverb, REVERB_PARAMS, step=reverb_step, output_channels=2))
