"""The DMC controller: shapes and ranges, permutation equivariance, padding that changes nothing, a reference
that does, and a size that ships."""

import pytest
import torch

from mixdown.errors import ParameterError
from mixdown.methods.dmc.model import DmcConfig, DmcModel, mel_filterbank
from mixdown.methods.dmc.space import SPACE

SR = 44100


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DmcModel().eval()


def _inputs(batch=2, tracks=4, seconds=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    stems = 0.1 * torch.randn(batch, tracks, 2, int(SR * seconds), generator=g)
    roles = torch.randint(0, 10, (batch, tracks), generator=g)
    return stems, torch.ones(batch, tracks, dtype=torch.bool), roles


def test_outputs_are_normalised_parameters_per_track_and_for_the_return(model):
    stems, mask, roles = _inputs()
    with torch.no_grad():
        tracks, ret = model(stems, mask, roles)
    assert tracks.shape == (2, 4, SPACE.track_size) and ret.shape == (2, len(SPACE.ret))
    assert float(tracks.min()) > 0 and float(tracks.max()) < 1


def test_permuting_tracks_permutes_outputs_and_padding_changes_nothing(model):
    stems, mask, roles = _inputs(batch=1, tracks=4)
    order = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        tracks, ret = model(stems, mask, roles)
        permuted, ret_permuted = model(stems[:, order], mask[:, order], roles[:, order])
        padded_stems = torch.cat([stems, torch.randn(1, 2, *stems.shape[2:])], 1)
        padded, ret_padded = model(padded_stems, torch.tensor([[True] * 4 + [False] * 2]),
                                   torch.cat([roles, torch.zeros(1, 2, dtype=torch.long)], 1))
    assert torch.allclose(permuted, tracks[:, order], atol=1e-5) and torch.allclose(ret_permuted, ret, atol=1e-5)
    assert torch.allclose(padded[:, :4], tracks, atol=1e-5) and torch.allclose(ret_padded, ret, atol=1e-5)


def test_a_reference_changes_the_prediction_and_gradients_reach_every_weight():
    torch.manual_seed(1)
    model = DmcModel(DmcConfig(layers=1))
    stems, mask, roles = _inputs(batch=1, tracks=3, seconds=0.5)
    tracks, _ = model(stems, mask, roles)
    with_reference, ret = model(stems, mask, roles, reference=0.2 * torch.randn(1, 2, SR // 2))
    assert not torch.allclose(tracks, with_reference, atol=1e-4)
    (with_reference.sum() + ret.sum()).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert missing == []


def test_size_and_bad_inputs():
    model = DmcModel()
    assert sum(p.numel() for p in model.parameters()) * 4 < 20e6  # ships as float32 safetensors under 20 MB
    stems, mask, roles = _inputs(batch=1, tracks=2, seconds=0.2)
    with pytest.raises(ParameterError, match="at least one real track"):
        model(stems, torch.zeros_like(mask), roles)
    with pytest.raises(ParameterError, match="expected stems"):
        model(stems[:, :, :1], mask, roles)


def test_mel_filterbank_reads_a_flat_spectrum_flat():
    bank = mel_filterbank(2048, 64, SR)
    assert bank.shape == (1025, 64)
    assert torch.allclose(torch.ones(1025) @ bank, torch.ones(64), atol=1e-6)
    centres = bank.argmax(0)
    assert bool((centres[1:] >= centres[:-1]).all())  # bands rise in frequency
