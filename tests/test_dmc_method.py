"""``--method dmc``: windows where the tracks play, median aggregation of per-window predictions (with the trim
and fader combined), the intent honoured, and a mix from the shipped weights that its recipe re-renders."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from mixdown import api
from mixdown.analysis import analyze_files
from mixdown.audio import plan_session
from mixdown.console.recipe import Recipe
from mixdown.methods.dmc.method import estimate, shipped_model, window_starts
from mixdown.methods.dmc.model import DmcConfig
from mixdown.methods.dmc.space import FADER, PAN, SPACE
from mixdown.methods.intent import Intent

RATE = 44100


def _song(folder: Path, seconds: float = 12.0) -> Path:
    """A bass playing throughout, a lead entering at 6 s (silent before), a stereo pad; float WAV."""
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(0)
    bass = 0.3 * np.sin(2 * np.pi * 55 * t) * (0.5 + 0.5 * np.exp(-8 * (t % 0.5)))
    lead = np.where(t >= 6.0, 0.2 * np.sin(2 * np.pi * 440 * t + 2 * np.sin(2 * np.pi * 5 * t)), 0.0)
    pad = 0.05 * rng.standard_normal((2, t.size)) + 0.1 * np.sin(2 * np.pi * 220 * t)
    folder.mkdir(parents=True, exist_ok=True)
    for name, audio in {"bass": bass[None], "lead vox": lead[None], "pad": pad}.items():
        sf.write(folder / f"{name}.wav", audio.T.astype(np.float32), RATE, subtype="FLOAT")
    return folder


def test_windows_go_where_most_tracks_play(tmp_path):
    plan = plan_session(_song(tmp_path / "song"))
    analysis, _ = analyze_files(plan, None, true_peak=False)
    starts = window_starts(analysis, RATE, count=2)
    assert len(starts) == 2 and starts[0] < starts[1]
    # each half of the song gives the window that hears the lead too (it enters at 6 s: the first half's window
    # reaches past it), and the louder of those
    assert 3.0 * RATE < starts[0] < 6.0 * RATE and starts[1] >= 6.0 * RATE
    assert window_starts(analysis, RATE, count=100) == sorted(set(window_starts(analysis, RATE, count=100)))
    assert len(window_starts(analysis, RATE, count=100)) <= 4  # ... and a 12 s song holds at most 4 windows of 3 s


class _Scripted(torch.nn.Module):
    """A stand-in model whose prediction for window w is w / 10 everywhere (fader: see the test)."""

    config = DmcConfig()

    def forward(self, stems, mask, roles, reference=None):
        windows, tracks = mask.shape
        values = torch.arange(windows, dtype=torch.float32)[:, None, None].expand(windows, tracks,
                                                                                  SPACE.track_size) / 10
        return values.clone(), torch.full((windows, len(SPACE.ret)), 0.5)


def test_estimates_are_medians_over_the_windows_where_a_track_plays():
    n = RATE // 2
    loud, quiet, silent = torch.full((1, n), 0.1), torch.full((1, n), 0.01), torch.zeros(1, n)
    # track 0 plays in windows 0, 1, 2 at two levels; track 1 only in window 3
    windows = [[loud, silent], [quiet, silent], [loud, silent], [silent, loud]]
    track_norm, ret, trims = estimate(_Scripted(), windows, ["bass", "lead_vocal"])
    assert torch.allclose(track_norm[0, PAN], torch.tensor(0.1))  # median of 0.0, 0.1, 0.2
    assert torch.allclose(track_norm[1, PAN], torch.tensor(0.3))  # window 3 alone
    assert trims == pytest.approx([0.0, 0.0], abs=1e-4) and torch.allclose(ret, torch.tensor(0.5))
    # the fader: median of (trim + fader) over windows 0-2, less the median trim (0 dB: -20 dBFS is the loud
    # level); then both faders move together so that their median is that of the role priors (bass 0, lead +2)
    fader = SPACE.track[FADER][1]
    levels = [0.0 + fader.denormalize(torch.tensor(0.0)), 20.0 + fader.denormalize(torch.tensor(0.1)),
              0.0 + fader.denormalize(torch.tensor(0.2))]
    expected = float(np.median([float(v) for v in levels])) - float(fader.denormalize(torch.tensor(0.3)))
    got = fader.denormalize(track_norm[:, FADER])
    assert float(got[0] - got[1]) == pytest.approx(expected, abs=1e-3)
    assert float(got.mean()) == pytest.approx(1.0, abs=1e-3)


@pytest.fixture(scope="module")
def dmc_mix(tmp_path_factory):
    root = tmp_path_factory.mktemp("dmc")
    song = _song(root / "song")
    intent = Intent.from_dict({"tracks": {"pad": {"keep": True}, "bass": {"pan": "left"}}})
    return api.mix_folder(song, root / "out", intent=intent, method="dmc", report=False), root


def test_the_shipped_weights_mix_a_song_into_an_editable_recipe(dmc_mix):
    result, root = dmc_mix
    assert shipped_model().config.sample_rate == RATE
    assert result.mix_path.is_file() and abs(result.integrated_lufs + 14.0) < 0.5
    recipe = Recipe.load(result.recipe_path)
    strips = {t.name: t for t in recipe.tracks}
    assert [s.type for s in strips["pad"].chain] == ["gain"] and strips["pad"].sends == []  # keep
    assert [s.type for s in strips["lead vox"].chain] == ["gain", "highpass", "parametric_eq", "compressor",
                                                           "gain", "pan"]
    assert strips["bass"].chain[5].params["pan"] == -0.6  # the intent's side
    assert recipe.notes["dmc"]["window_s"] == 3.0 and len(recipe.notes["dmc"]["windows_s"]) == 4
    rendered = api.render_recipe(result.recipe_path, root / "again.wav", format="float32")  # re-renders
    assert rendered.frames == round(12.0 * RATE) and np.isfinite(rendered.loudness_lufs)


def test_a_reference_changes_the_dmc_mix(dmc_mix, tmp_path):
    result, root = dmc_mix
    t = np.arange(6 * RATE) / RATE  # a bright, wide reference
    reference = np.stack([np.sin(2 * np.pi * 3000 * t), np.cos(2 * np.pi * 3500 * t)]) * 0.3
    sf.write(tmp_path / "ref.wav", reference.T.astype(np.float32), RATE, subtype="FLOAT")
    steered = api.mix_folder(root / "song", tmp_path / "out", method="dmc", reference=tmp_path / "ref.wav",
                             report=False)
    before = json.loads(Path(result.recipe_path).read_text())["tracks"][1]["chain"]
    after = json.loads(Path(steered.recipe_path).read_text())["tracks"][1]["chain"]
    note = Recipe.load(steered.recipe_path).notes["dmc"]["reference"]
    assert before != after and note["file"] == "ref.wav" and not note["same_music"]  # 6 s: not this 12 s song
