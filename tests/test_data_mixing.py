"""Random console mixes, FX augmentation and the torch pipelines (mixdown.data.random_mix / augment / pipeline)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile
import torch

from mixdown.analysis.loudness import measure_loudness
from mixdown.console.recipe import Recipe, Step, Strip
from mixdown.console.render import Console, render
from mixdown.data.augment import (
    DEFAULT_AUGMENT,
    apply_chain,
    augment,
    contrastive_pair,
    same_fx,
    sample_chain,
)
from mixdown.data.item import Song, TrackFile
from mixdown.data.pipeline import (
    RandomMixDataset,
    StyleTransferDataset,
    SyntheticSource,
    first_tracks_excerpt,
    make_loader,
    recipe_vector,
)
from mixdown.data.random_mix import (
    ROLE_PRIORS,
    TARGET_LUFS,
    console_inputs,
    render_random_mix,
    render_recipe_mix,
    sample_recipe,
)
from mixdown.dsp.registry import PROCESSORS
from mixdown.errors import ParameterError

SR = 16000
NAMES = ["kick", "snare", "hh", "bass", "vox", "keys", "gtr", "misc"]
ROLES = ["kick", "snare", "hihat", "bass", "lead_vocal", "piano_keys", "electric_guitar", None]


def _stems(seed: int = 0, tracks: int = 8, seconds: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(tracks, 2, int(seconds * SR), generator=g)


def _in_table(step_type: str, params: dict) -> list[str]:
    """Names of parameters outside their table range (empty when all are inside)."""
    table = PROCESSORS[step_type].table
    bad = []
    for name, value in params.items():
        entry = table[name]
        if hasattr(entry, "min") and not entry.min <= value <= entry.max:
            bad.append(f"{step_type}.{name}={value}")
    return bad


def test_sampled_parameters_inside_their_tables_over_200_draws():
    rng = np.random.default_rng(0)
    bad, pans = [], {"kick": [], "electric_guitar": []}
    for _ in range(200):
        recipe = sample_recipe(NAMES, ROLES, rng, sample_rate=SR)
        for strip in (*recipe.tracks, *recipe.buses, *recipe.returns):
            for step in strip.chain:
                bad += _in_table(step.type, step.params)
            for send in strip.sends:
                assert -120.0 <= send.level_db <= 12.0
        for strip in recipe.tracks:
            if strip.role in pans:
                pans[strip.role].append(strip.chain[-1].params["pan"])
        assert all(step.params["peak4_freq_hz"] < SR / 2 for s in recipe.tracks for step in s.chain
                   if step.type == "parametric_eq")
    assert bad == []
    # kick centred (prior N(0, 0.05)), guitars spread (U(-0.8, 0.8): std 0.46)
    assert np.std(pans["kick"]) < 0.1 and np.std(pans["electric_guitar"]) > 0.3
    # about half the EQ bands in use; a drums bus about half the time, never with probability 0
    eq = [s.chain[2].params for _ in range(50) for s in sample_recipe(NAMES, ROLES, rng).tracks]
    used = np.mean([p[f"{band}_gain_db"] != 0 for p in eq for band in ("low_shelf", "peak2", "high_shelf")])
    assert 0.4 < used < 0.6
    drum_roles = ["kick", "snare", "bass"]
    buses = [bool(sample_recipe(["k", "s", "b"], drum_roles, rng).buses) for _ in range(200)]
    assert 0.35 < np.mean(buses) < 0.65
    assert not any(sample_recipe(["k", "s", "b"], drum_roles, rng, drum_bus_probability=0.0).buses
                   for _ in range(50))


def test_priors_cover_every_role_and_unknown_role_is_refused():
    from mixdown.analysis.roles import ROLE_NAMES

    assert set(ROLE_PRIORS) == set(ROLE_NAMES)
    with pytest.raises(ParameterError, match="expected a role"):
        sample_recipe(["a"], ["tuba_solo"], np.random.default_rng(0))


def test_same_seed_same_recipe_and_identical_mix_different_seed_differs():
    stems = _stems()
    mix_a, rec_a = render_random_mix(stems, SR, NAMES, ROLES, np.random.default_rng(7))
    mix_b, rec_b = render_random_mix(stems, SR, NAMES, ROLES, np.random.default_rng(7))
    mix_c, rec_c = render_random_mix(stems, SR, NAMES, ROLES, np.random.default_rng(8))
    assert rec_a.to_json() == rec_b.to_json()
    assert torch.equal(mix_a, mix_b)
    assert rec_a.to_json() != rec_c.to_json()
    assert (mix_a - mix_c).abs().max() > 1e-3


def test_rendered_mix_finite_loud_enough_and_reproduced_by_its_recipe():
    stems = _stems(1)
    mix, recipe = render_random_mix(stems, SR, NAMES, ROLES, np.random.default_rng(3))
    assert mix.shape == (2, SR) and torch.isfinite(mix).all()
    assert measure_loudness(mix, SR, true_peak=False).integrated_lufs == pytest.approx(TARGET_LUFS, abs=0.05)
    # the returned recipe alone (trims and master gain included), through JSON, renders the same mix
    again = render(console_inputs(stems), Recipe.from_dict(json.loads(recipe.to_json())), SR)
    assert (again - mix).abs().max() < 1e-6


def test_dual_mono_stems_render_as_mono_sources():
    stems = _stems(2, tracks=2)
    stems[0, 1] = stems[0, 0]
    assert [x.shape[0] for x in console_inputs(stems)] == [1, 2]


def _stereo(seed: int, n: int = SR) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / SR
    tone = torch.sin(2 * math.pi * 220 * t) * (torch.rand(n, generator=g) > 0.5)
    return torch.stack([0.3 * tone, 0.2 * tone + 0.05 * torch.randn(n, generator=g)])


def test_augment_applied_chain_reproduces_output_through_processors_and_console():
    x = _stereo(0)
    everything = DEFAULT_AUGMENT.with_probabilities(parametric_eq=1.0, compressor=1.0, widener=1.0, pan=1.0,
                                                    reverb=1.0, gain=1.0)
    y, applied = augment(x, SR, np.random.default_rng(5), everything)
    assert [a["type"] for a in applied] == ["parametric_eq", "compressor", "widener", "pan", "reverb", "gain"]
    for a in applied:
        assert _in_table(a["type"], a["params"]) == []
    y_fn = x[None]
    for a in applied:
        y_fn = PROCESSORS[a["type"]].fn(y_fn, SR, **a["params"])
    assert (y_fn[0] - y).abs().max() < 1e-6
    recipe = Recipe(tracks=[Strip("x", [Step(a["type"], a["params"]) for a in applied])])
    with torch.no_grad():
        y_console = Console(recipe, SR, [2]).render([x])
    assert (y_console - y).abs().max() < 1e-6
    assert (y - x).abs().max() > 1e-2  # the chain did something


def test_augment_probability_zero_never_one_always_and_determinism():
    x = _stereo(1)
    only_eq = DEFAULT_AUGMENT.with_probabilities(parametric_eq=1.0, compressor=0.0, widener=0.0, pan=0.0,
                                                 reverb=0.0, gain=0.0)
    none = only_eq.with_probabilities(parametric_eq=0.0)
    rng = np.random.default_rng(2)
    for _ in range(50):
        assert [a["type"] for a in sample_chain(2, SR, rng, only_eq)] == ["parametric_eq"]
        assert sample_chain(2, SR, rng, none) == []
    y, applied = augment(x, SR, np.random.default_rng(2), none)
    assert applied == [] and torch.equal(y, x)
    y1, a1 = augment(x, SR, np.random.default_rng(9))
    y2, a2 = augment(x, SR, np.random.default_rng(9))
    assert a1 == a2 and torch.equal(y1, y2)
    # the default probabilities are frequencies: EQ 0.8, compressor 0.6
    counts = {"parametric_eq": 0, "compressor": 0}
    for _ in range(400):
        for a in sample_chain(2, SR, rng):
            counts[a["type"]] = counts.get(a["type"], 0) + 1
    assert abs(counts["parametric_eq"] / 400 - 0.8) < 0.07 and abs(counts["compressor"] / 400 - 0.6) < 0.08


def test_shuffled_order_varies_and_mono_skips_the_imager():
    cfg = DEFAULT_AUGMENT.with_probabilities(parametric_eq=1.0, compressor=1.0, widener=1.0, pan=1.0, reverb=1.0,
                                             gain=1.0)
    from dataclasses import replace

    rng = np.random.default_rng(0)
    orders = {tuple(a["type"] for a in sample_chain(2, SR, rng, replace(cfg, shuffle=True))) for _ in range(20)}
    assert len(orders) > 5
    # mono: the imager comes after the pan (stereo by then) in the fixed order; with pan off it is left out
    mono_chain = sample_chain(1, SR, rng, cfg.with_probabilities(pan=0.0, reverb=0.0))
    assert "widener" not in [a["type"] for a in mono_chain]


def test_same_fx_and_contrastive_pair():
    x1, x2 = _stereo(3), _stereo(4)
    y1, y2, applied = same_fx(x1, x2, SR, np.random.default_rng(1))
    assert torch.allclose(y1, apply_chain(x1, SR, applied)) and torch.allclose(y2, apply_chain(x2, SR, applied))
    v1, a1, v2, a2 = contrastive_pair(x1, SR, np.random.default_rng(1))
    assert a1 != a2 and (v1 - v2).abs().max() > 1e-3


def _item_equal(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a)


def test_dataset_items_identical_for_same_seed_and_index_with_0_and_2_workers():
    ds = RandomMixDataset(SyntheticSource(min_tracks=2), tracks=4, seconds=0.5, sample_rate=SR, length=4, seed=3)
    serial = [b for b in make_loader(ds, batch_size=2, workers=0)]
    parallel = [b for b in make_loader(ds, batch_size=2, workers=2)]
    assert all(_item_equal(a, b) for a, b in zip(serial, parallel))
    assert serial[0]["stems"].shape == (2, 4, 2, SR // 2) and serial[0]["mix"].shape == (2, 2, SR // 2)
    assert _item_equal(ds[1], ds[1])
    assert not torch.equal(ds[0]["mix"], ds[1]["mix"])
    other_seed = RandomMixDataset(SyntheticSource(min_tracks=2), tracks=4, seconds=0.5, sample_rate=SR, length=4,
                                  seed=4)
    assert not torch.equal(ds[0]["mix"], other_seed[0]["mix"])


def test_style_transfer_items_mix_two_sections_in_one_style(tmp_path):
    rng = np.random.default_rng(1)
    tracks = []
    for name, role in [("bass", "bass"), ("vox", "lead_vocal"), ("keys", "piano_keys")]:
        path = tmp_path / f"{name}.wav"
        soundfile.write(path, (0.1 * rng.standard_normal((2 * SR, 2))).astype(np.float32), SR)
        tracks.append(TrackFile(name, path, role))
    song = Song("folder", "song1", tracks)
    ds = StyleTransferDataset([song], tracks=4, seconds=0.5, sample_rate=SR, length=2, seed=0,
                              excerpt_fn=first_tracks_excerpt)
    item = ds[0]
    assert item["stems"].shape == (4, 2, SR // 2) and item["reference"].shape == item["mix"].shape == (2, SR // 2)
    assert not torch.allclose(item["reference"], item["mix"])  # other audio ...
    again = ds[0]
    assert torch.equal(again["reference"], item["reference"]) and torch.equal(again["mix"], item["mix"])
    # ... in one style: the recipe re-renders the second section exactly, and the first with its own trims
    recipe = Recipe.from_dict(json.loads(item["recipe"]))
    draw = np.random.default_rng([0, 0])  # the item's generator: the song first, then the excerpt
    draw.integers(1)
    whole = first_tracks_excerpt(song, 1.0, SR, draw, 4)
    second = whole.audio[:3, :, SR // 2 :]
    assert torch.allclose(render(console_inputs(second), recipe, SR), item["mix"], atol=1e-5)
    reference, _ = render_recipe_mix(whole.audio[:3, :, : SR // 2], recipe, SR)
    assert torch.allclose(reference, item["reference"], atol=1e-5)


def test_mask_and_padding_for_fewer_tracks_than_max(tmp_path):
    rng = np.random.default_rng(0)
    tracks = []
    for k, (name, role) in enumerate([("bass", "bass"), ("vox", "lead_vocal"), ("gtr", None)]):
        path = tmp_path / f"{name}.wav"
        channels = 1 if k == 0 else 2
        soundfile.write(path, (0.1 * rng.standard_normal((SR, channels))).astype(np.float32), SR)
        tracks.append(TrackFile(name, path, role))
    song = Song("folder", "song1", tracks)
    ds = RandomMixDataset([song], tracks=6, seconds=0.5, sample_rate=SR, length=2, seed=0,
                          excerpt_fn=first_tracks_excerpt)
    item = ds[0]
    assert item["mask"].tolist() == [True, True, True, False, False, False]
    assert item["stems"][3:].abs().max() == 0 and item["stems"][:3].abs().amax(dim=(1, 2)).min() > 0
    assert torch.equal(item["stems"][0, 0], item["stems"][0, 1])  # mono file copied to both channels
    assert item["params"].shape[0] == 6 and item["params"][3:].abs().max() == 0
    assert 0.0 <= item["params"].min() and item["params"].max() <= 1.0
    assert item["song"] == "folder/song1" and torch.isfinite(item["mix"]).all()
    assert len(json.loads(item["recipe"])["tracks"]) == 3


def test_recipe_vector_round_trips_a_parameter():
    recipe = sample_recipe(["a", "b"], ["bass", "kick"], np.random.default_rng(0), sample_rate=SR)
    vec = recipe_vector(recipe, 3)
    pan = PROCESSORS["pan"].table["pan"]
    assert vec[1, -1].item() == pytest.approx(pan.normalize(recipe.tracks[1].chain[-1].params["pan"]), abs=1e-6)
