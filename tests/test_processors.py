"""Properties every registered processor must have: the harness runs over the whole registry."""

import pytest
import torch

import mixdown.dsp  # noqa: F401  (registers every processor)
from mixdown.dsp.registry import PROCESSORS
from mixdown.errors import ParameterError
from tests.harness import assert_streaming_equals_offline, interior_params, random_params, settings, signal

NAMES = sorted(PROCESSORS)


def test_registry_holds_the_issue_processors():
    expected = {"gain", "polarity", "highpass", "lowpass", "parametric_eq", "compressor", "expander", "distortion",
                "pan", "widener", "delay", "reverb", "limiter"}
    assert expected <= set(PROCESSORS)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_table_round_trips_normalisation(name):
    for p in PROCESSORS[name].table.numeric:
        for value in (p.min, p.default, p.max):
            assert p.denormalize(p.normalize(value)) == pytest.approx(value, rel=1e-9, abs=1e-9)
        assert p.normalize(p.min) == pytest.approx(0.0, abs=1e-12) and p.normalize(p.max) == pytest.approx(1.0)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_every_parameter(name):
    proc = PROCESSORS[name]
    cfg = settings(proc)
    g = torch.Generator().manual_seed(1)
    x = signal(1, cfg["channels"], 96, g).requires_grad_()
    params = {k: v.requires_grad_() for k, v in interior_params(proc, g).items()
              if proc.table[k].differentiable}
    fixed = {k: v for k, v in interior_params(proc, torch.Generator().manual_seed(1)).items() if k not in params}
    names = list(params)

    def f(x, *values):
        return proc.fn(x, cfg["sample_rate"], **dict(zip(names, values)), **fixed)

    assert torch.autograd.gradcheck(f, (x, *params.values()), eps=1e-6, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_a_thousand_draws_with_range_edges_stay_finite(name):
    proc = PROCESSORS[name]
    cfg = settings(proc)
    g = torch.Generator().manual_seed(2)
    for _ in range(4):  # 4 x 250 draws: bounded memory for processors with long impulse responses
        params = {k: (v.requires_grad_() if proc.table[k].differentiable else v)
                  for k, v in random_params(proc, 250, g).items()}
        x = signal(250, cfg["channels"], 256, g).requires_grad_()
        y = proc.fn(x, cfg["sample_rate"], **params)
        assert torch.isfinite(y).all()
        y.square().sum().backward()
        for k, v in params.items():
            if v.requires_grad:
                assert torch.isfinite(v.grad).all(), f"{name}.{k}: non-finite gradient"
        assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", NAMES)
def test_batch_items_are_independent(name):
    proc = PROCESSORS[name]
    cfg = settings(proc)
    g = torch.Generator().manual_seed(3)
    params = random_params(proc, 3, g, edges=False)
    x = signal(3, cfg["channels"], 300, g)
    batched = proc.fn(x, cfg["sample_rate"], **params)
    for i in range(3):
        single = proc.fn(x[i:i + 1], cfg["sample_rate"], **{k: v[i:i + 1] for k, v in params.items()})
        assert torch.allclose(batched[i:i + 1], single, atol=1e-12), f"{name}: item {i} depends on the batch"


@pytest.mark.parametrize("name", [n for n in NAMES if PROCESSORS[n].step is not None])
@pytest.mark.parametrize("block", [1, 65, 4097])
def test_streaming_equals_offline(name, block):
    proc = PROCESSORS[name]
    cfg = settings(proc)
    g = torch.Generator().manual_seed(4)
    samples = 600 if block == 1 else 9000
    x = signal(2, cfg["channels"], samples, g)
    params = random_params(proc, 2, g, edges=False)
    assert_streaming_equals_offline(proc, x, cfg["sample_rate"], params, block, tol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_out_of_range_parameters_are_refused_by_name(name):
    proc = PROCESSORS[name]
    cfg = settings(proc)
    x = torch.zeros(1, cfg["channels"], 16, dtype=torch.float64)
    for p in proc.table.numeric:
        with pytest.raises(ParameterError, match=p.name):
            proc.fn(x, cfg["sample_rate"], **{p.name: p.max + abs(p.max - p.min) + 1.0})
    # explicit keyword signatures refuse unknown names themselves (TypeError); **params ones via the table
    with pytest.raises((ParameterError, TypeError), match="not_a_parameter"):
        proc.fn(x, cfg["sample_rate"], not_a_parameter=1.0)


@pytest.mark.parametrize("name", NAMES)
def test_float32_and_float64_agree(name):
    proc = PROCESSORS[name]
    cfg = settings(proc)
    g = torch.Generator().manual_seed(5)
    params = random_params(proc, 2, g, edges=False)
    x = signal(2, cfg["channels"], 2000, g)
    y64 = proc.fn(x, cfg["sample_rate"], **params)
    y32 = proc.fn(x.float(), cfg["sample_rate"], **{k: v.float() for k, v in params.items()})
    assert y32.dtype == torch.float32
    assert (y32.double() - y64).abs().max() <= 1e-3 * max(1.0, y64.abs().max().item())
