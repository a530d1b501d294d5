"""The kernels' plain-torch paths (what CUDA runs) against the compiled CPU kernels."""

import pytest
import torch

from mixdown.dsp.kernels import envelope
from mixdown.dsp.kernels.envelope import smooth_gain, time_to_coefficient

SR = 8000.0


def _target(seed: int, samples: int = 6000) -> torch.Tensor:
    """A compressor-like target gain: bursts that decay, so attack and release both act often."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 2, samples, generator=g, dtype=torch.float64) * torch.exp(-(torch.arange(samples) % 900) / 250.0)
    level = 20 * torch.log10(x.abs().clamp_min(1e-6))
    return torch.where(level > -20, -(level + 20) * 0.75, torch.zeros_like(level))


@pytest.mark.parametrize("attack_ms,release_ms", [(5.0, 100.0), (0.0, 40.0), (30.0, 1000.0), (1.0, 1.0)])
def test_parallel_scan_equals_the_compiled_recursion(attack_ms, release_ms):
    target = _target(0)
    down = time_to_coefficient(torch.tensor([attack_ms, attack_ms, 2 * attack_ms], dtype=torch.float64), SR)
    up = time_to_coefficient(torch.tensor([release_ms, 3 * release_ms, release_ms], dtype=torch.float64), SR)
    state = torch.tensor([[0.0, -3.0], [-10.0, 0.0], [-1.0, -2.0]], dtype=torch.float64)
    compiled, end = smooth_gain(target, down, up, state)
    scanned, end_scan = envelope._torch_smooth(target, down, up, state)
    assert (compiled - scanned).abs().max() < 1e-9 and (end - end_scan).abs().max() < 1e-9


def test_parallel_scan_gradients_match_the_analytic_backward():
    target = _target(1, 2000).requires_grad_()
    down = time_to_coefficient(torch.tensor([2.0, 4.0, 0.0], dtype=torch.float64), SR).requires_grad_()
    up = time_to_coefficient(torch.tensor([50.0, 20.0, 80.0], dtype=torch.float64), SR).requires_grad_()
    weights = torch.randn(target.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    analytic = torch.autograd.grad((smooth_gain(target, down, up)[0] * weights).sum(), (target, down, up))
    zero = torch.zeros(3, 2, dtype=torch.float64)
    scanned = torch.autograd.grad((envelope._torch_smooth(target, down, up, zero)[0] * weights).sum(), (target, down, up))
    for a, b in zip(analytic, scanned):
        assert torch.allclose(a, b, rtol=1e-7, atol=1e-9)


def test_unsettled_branches_fall_back_to_the_exact_sequential_loop(monkeypatch):
    calls = []
    sequential = envelope._sequential_smooth
    monkeypatch.setattr(envelope, "_sequential_smooth", lambda *a: calls.append(1) or sequential(*a))
    target = _target(3, 500)
    down = time_to_coefficient(torch.full((3,), 1.0, dtype=torch.float64), SR)
    up = time_to_coefficient(torch.full((3,), 30.0, dtype=torch.float64), SR)
    zero = torch.zeros(3, 2, dtype=torch.float64)
    expected, _ = smooth_gain(target, down, up)
    fallback, _ = envelope._torch_smooth(target, down, up, zero, max_rounds=1)
    assert calls == [1] and (expected - fallback).abs().max() < 1e-12


def test_the_sequential_fallback_keeps_the_gradients():
    """The fallback once ran inside the fixed point's no_grad block: its result carried no graph, so every
    gradient through a recursion that did not settle (a gate with a 2 s release) came back as zero."""
    target = _target(4, 300).requires_grad_()
    down = time_to_coefficient(torch.full((3,), 1.0, dtype=torch.float64), SR).requires_grad_()
    up = time_to_coefficient(torch.full((3,), 30.0, dtype=torch.float64), SR).requires_grad_()
    weights = torch.randn(target.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    analytic = torch.autograd.grad((smooth_gain(target, down, up)[0] * weights).sum(), (target, down, up))
    zero = torch.zeros(3, 2, dtype=torch.float64)
    fallback = torch.autograd.grad((envelope._torch_smooth(target, down, up, zero, max_rounds=1)[0] * weights).sum(),
                                   (target, down, up))
    for a, b in zip(analytic, fallback):
        assert float(a.abs().max()) > 0 and torch.allclose(a, b, rtol=1e-9, atol=1e-12)
