"""Reading a reference: least squares on the samples recovers a rough mix's faders and pans exactly when the
other knobs are right and says how much of the reference it explains (near 0 for other music); the pans of other
music are read off its stereo image; ``--method dmc --reference ROUGH`` with a rough mix of the very stems follows
its balance."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from mixdown import api
from mixdown.console.recipe import Recipe
from mixdown.methods.dmc.balance import (
    SAME_MUSIC_SHARE,
    follow_reference,
    match_balance,
)
from mixdown.methods.dmc.mixer import render_prediction
from mixdown.methods.dmc.space import FADER, PAN, SPACE

RATE = 44100


def _tracks(seconds=1.5):
    g = torch.Generator().manual_seed(3)
    n = int(seconds * RATE)
    t = torch.arange(n) / RATE
    bass = 0.2 * torch.sin(2 * torch.pi * 70 * t)[None]
    lead = 0.1 * torch.sin(2 * torch.pi * 440 * t + 3 * torch.sin(2 * torch.pi * 3 * t))[None]
    pad = 0.05 * torch.randn(2, n, generator=g)  # stereo: panned by balance, not by the mono law
    return [bass, lead, pad], ["bass", "lead", "pad"], ["bass", "lead_vocal", "synth_pad"]


def _knobs(faders_db, pans):
    g = torch.Generator().manual_seed(1)
    track_norm = 0.3 + 0.4 * torch.rand(3, SPACE.track_size, generator=g, dtype=torch.float64)  # EQ, comp, sends
    fader, pan = SPACE.track[FADER][1], SPACE.track[PAN][1]
    track_norm[:, FADER] = fader.normalize(torch.tensor(faders_db, dtype=torch.float64))
    track_norm[:, PAN] = pan.normalize(torch.tensor(pans, dtype=torch.float64))
    return track_norm, torch.full((len(SPACE.ret),), 0.4, dtype=torch.float64)


def test_a_mix_of_the_same_tracks_gives_back_its_faders_and_pans():
    tracks, names, roles = _tracks()
    truth, ret = _knobs([-6.0, 2.0, -1.0], [-0.5, 0.3, 0.6])
    with torch.no_grad():
        rough = render_prediction(tracks, names, roles, [0.0] * 3, truth, ret, RATE)  # at -23 LUFS: level is lost
    start, _ = _knobs([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    start[:, :FADER] = truth[:, :FADER]  # the other knobs right, the balance flat
    found, explained = match_balance([tracks], names, roles, [0.0] * 3, start, ret, rough[None], RATE)
    fader, pan = SPACE.track[FADER][1], SPACE.track[PAN][1]
    got_db = fader.denormalize(found[:, FADER])
    assert explained > 0.999
    assert (got_db - got_db[0]).tolist() == pytest.approx([0.0, 8.0, 5.0], abs=0.05)  # differences exact
    assert float(got_db.median()) == pytest.approx(0.0, abs=1e-6)  # the start's median kept
    assert pan.denormalize(found[:, PAN]).tolist() == pytest.approx([-0.5, 0.3, 0.6], abs=0.01)
    assert torch.equal(found[:, :FADER], start[:, :FADER])  # nothing else moves


def test_other_music_explains_nothing():
    tracks, names, roles = _tracks()
    start, ret = _knobs([0.0, -3.0, 1.0], [0.1, -0.2, 0.0])
    g = torch.Generator().manual_seed(9)
    other = 0.1 * torch.randn(1, 2, tracks[0].shape[-1], generator=g, dtype=torch.float64)
    _, explained = match_balance([tracks], names, roles, [0.0] * 3, start, ret, other, RATE)
    assert explained < 0.05 < SAME_MUSIC_SHARE


@pytest.mark.parametrize("pans", [[-0.5, 0.3, 0.6], [0.8, -0.7, -0.2]])
def test_the_pans_of_other_music_come_from_its_stereo_image(pans):
    tracks, names, roles = _tracks(3.0)
    half = tracks[0].shape[-1] // 2
    song, other = [x[:, :half] for x in tracks], [x[:, half:] for x in tracks]  # another section, other notes
    truth, ret = _knobs([-6.0, 2.0, -1.0], pans)
    with torch.no_grad():
        reference = render_prediction(other, names, roles, [0.0] * 3, truth, ret, RATE)
    start = truth.clone()
    start[:, PAN] = 0.5  # everything else right, every track centred
    found, note = follow_reference([song], names, roles, [0.0] * 3, start, ret, reference[None], False, RATE)
    assert note == {"same_music": False, "read": "pans"}
    assert SPACE.track[PAN][1].denormalize(found[:, PAN]).tolist() == pytest.approx(pans, abs=0.05)
    assert torch.equal(found[:, :PAN], start[:, :PAN])  # nothing else moves


def _levels_db(recipe_path, folder) -> dict[str, float]:
    """Each track's level in a recipe's mix: the RMS of the recipe rendered with only that track playing, dry
    (the reverb sends are the DMC's, and differ between the two recipes)."""
    recipe = Recipe.load(recipe_path)
    levels = {}
    for solo in recipe.tracks:
        for strip in recipe.tracks:
            strip.mute, strip.sends = strip is not solo, []
        path = folder / f"solo-{solo.name}.json"
        recipe.save(path)
        audio, _ = sf.read(api.render_recipe(path, folder / f"solo-{solo.name}.wav", format="float32").path)
        levels[solo.name] = 10 * np.log10(np.mean(audio ** 2))
    return levels


def test_dmc_follows_a_rough_mix_of_the_same_stems(tmp_path):
    t = np.arange(8 * RATE) / RATE
    rng = np.random.default_rng(0)
    stems = {"bass": 0.3 * np.sin(2 * np.pi * 55 * t)[None],
             "lead vox": 0.2 * np.sin(2 * np.pi * 440 * t + 2 * np.sin(2 * np.pi * 5 * t))[None],
             "pad": 0.05 * rng.standard_normal((2, t.size))}
    song = tmp_path / "song"
    song.mkdir()
    for name, audio in stems.items():
        sf.write(song / f"{name}.wav", audio.T.astype(np.float32), RATE, subtype="FLOAT")
    first = api.mix_folder(song, tmp_path / "first", method="dmc", report=False)
    rough = Recipe.load(first.recipe_path)  # the DMC's own recipe, rebalanced and unmastered: a rough mix
    rough.master = []
    wanted = {"bass": (-9.0, -0.4), "lead vox": (3.0, 0.5), "pad": (-2.0, 0.0)}
    for strip in rough.tracks:
        strip.chain[4].params["gain_db"], strip.chain[5].params["pan"] = wanted[strip.name]
    rough_path = tmp_path / "first" / "rough.json"
    rough.save(rough_path)
    api.render_recipe(rough_path, tmp_path / "rough.wav", format="float32")
    result = api.mix_folder(song, tmp_path / "out", method="dmc", reference=tmp_path / "rough.wav", report=False)
    recipe = json.loads(result.recipe_path.read_text())
    note = recipe["notes"]["dmc"]["reference"]
    assert note["same_music"] and note["explained_share"] > 0.9
    pans = {s["name"]: s["chain"][5]["params"]["pan"] for s in recipe["tracks"]}
    assert [pans[n] for n in wanted] == pytest.approx([p for _, p in wanted.values()], abs=0.05)
    # the DMC heard the rough mix, so its EQ and compressor differ from the rough mix's and so do its faders;
    # each track's level in the mix follows the rough mix all the same (the flat start is far off: 12 dB)
    want, got = _levels_db(rough_path, tmp_path / "first"), _levels_db(result.recipe_path, tmp_path / "out")
    assert [got[n] - got["bass"] for n in wanted] == pytest.approx([want[n] - want["bass"] for n in wanted], abs=1.0)
