"""Shared property checks run over every registered processor (see tests/test_processors.py)."""

from __future__ import annotations

import torch

from mixdown.dsp.params import Param
from mixdown.dsp.registry import Processor

# Per-processor test settings where the defaults do not fit: the sample rate keeps reverb IRs short in
# gradcheck, channel counts follow what a processor accepts.
SETTINGS = {
    "reverb": {"sample_rate": 2000},
    "widener": {"channels": 2},
    "delay": {"sample_rate": 8000},
}


def settings(proc: Processor) -> dict:
    return {"sample_rate": 16000, "channels": 1, **SETTINGS.get(proc.name, {})}


def _sample(p: Param, u: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """Map ``u`` in [0, 1] into ``p``'s range, capped below the test's Nyquist for frequencies."""
    hi = min(p.max, 0.45 * sample_rate) if p.unit == "Hz" else p.max
    if p.scale == "log":
        return p.min * (hi / p.min) ** u
    return p.min + u * (hi - p.min)


def random_params(proc: Processor, batch: int, generator: torch.Generator, dtype=torch.float64, edges: bool = True):
    """Random parameter tensors ``(batch,)``; with ``edges`` a third of the values sit at min and a third at max."""
    sample_rate = settings(proc)["sample_rate"]
    params = {}
    for p in proc.table.numeric:
        u = torch.rand(batch, generator=generator, dtype=torch.float64)
        if edges:
            pick = torch.randint(0, 3, (batch,), generator=generator)
            u = torch.where(pick == 0, torch.zeros_like(u), torch.where(pick == 1, torch.ones_like(u), u))
        params[p.name] = _sample(p, u, sample_rate).to(dtype)
    return params


def interior_params(proc: Processor, generator: torch.Generator, dtype=torch.float64):
    """One draw away from the range edges (10 %..90 % of the normalised range), for gradcheck."""
    sample_rate = settings(proc)["sample_rate"]
    return {
        p.name: _sample(p, 0.1 + 0.8 * torch.rand(1, generator=generator, dtype=torch.float64), sample_rate).to(dtype)
        for p in proc.table.numeric
    }


def signal(batch: int, channels: int, samples: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """Decaying noise bursts: transients and quiet parts exercise envelopes and gates."""
    x = torch.randn(batch, channels, samples, generator=generator, dtype=dtype)
    envelope = torch.exp(-torch.arange(samples, dtype=dtype) % 97 / 30.0)
    return 0.5 * x * envelope


def assert_streaming_equals_offline(proc: Processor, x: torch.Tensor, sample_rate: float, params: dict, block: int, tol: float):
    """Feed ``x`` in blocks through ``proc.step``; compare with ``proc.fn`` (latency compensated)."""
    with torch.no_grad():
        offline = proc.fn(x, sample_rate, **params)
        latency = int(proc.latency(sample_rate, **params)) if proc.latency else 0
        padded = torch.nn.functional.pad(x, (0, latency))
        state, blocks = None, []
        for start in range(0, padded.shape[-1], block):
            y, state = proc.step(padded[..., start : start + block], sample_rate, state, **params)
            blocks.append(y)
        streamed = torch.cat(blocks, -1)[..., latency:]
    err = (streamed - offline).abs().max().item()
    assert err <= tol, f"{proc.name}: streaming in blocks of {block} differs from offline by {err}"
