"""Training the DMC through the console: a tiny run overfits its examples (the loss falls), weights round-trip
through safetensors, bad weight files are named."""

import pytest
import torch

pytest.importorskip("lightning")
import lightning as L

from mixdown.data.pipeline import RandomMixDataset, SyntheticSource, make_loader
from mixdown.errors import ParameterError
from mixdown.methods.dmc.model import DmcConfig
from mixdown.train.dmc import DmcTask, _losses, load_dmc, prepare_batch, save_dmc
from mixdown.train.losses import LossWeights

SR = 44100
SMALL = DmcConfig(channels=(8, 16), width=32, heads=2, layers=1, feedforward=64)


def _loader(length=4):
    data = RandomMixDataset(SyntheticSource(min_tracks=2), tracks=3, seconds=0.5, sample_rate=SR, length=length,
                            seed=0, drum_bus_probability=0.0)
    return make_loader(data, batch_size=2, workers=0)


def test_prepared_batches_hold_trimmed_stems_and_the_recipes_values():
    batch = next(iter(_loader()))
    prepared = prepare_batch(batch)
    assert prepared.stems.shape == (2, 3, 2, SR // 2) and prepared.target_tracks.shape == (2, 3, 28)
    for i, inputs in enumerate(prepared.inputs):
        count = len(inputs)
        assert bool(prepared.mask[i, :count].all()) and not bool(prepared.mask[i, count:].any())
        rms_db = 10 * torch.log10(prepared.stems[i, :count].square().mean((1, 2)))
        audible = torch.isfinite(rms_db)  # a silent synthetic voice keeps its 0 dB trim
        assert bool(audible.any()) and torch.allclose(rms_db[audible], torch.tensor(-20.0), atol=0.05)
        assert float(prepared.target_tracks[i, :count].min()) >= 0 and float(prepared.target_tracks[i].max()) <= 1


def test_a_tiny_run_overfits_and_its_weights_round_trip(tmp_path):
    torch.manual_seed(0)
    task = DmcTask(SMALL, LossWeights(mrstft=1.0, af=1.0, params=1.0), learning_rate=3e-3, sample_rate=SR,
                   max_steps=40, warmup_steps=0)
    batch = next(iter(_loader(length=2)))
    with torch.no_grad():
        before = float(_losses(task.model, prepare_batch(batch), task.weights, SR)["total"])
    trainer = L.Trainer(max_steps=40, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(task, _loader(length=2))
    with torch.no_grad():
        after = float(_losses(task.model, prepare_batch(batch), task.weights, SR)["total"])
    assert after < 0.8 * before, (before, after)
    path = save_dmc(task.model, tmp_path / "dmc.safetensors")
    loaded = load_dmc(path)
    assert loaded.config == SMALL and not loaded.training
    prepared = prepare_batch(batch)
    with torch.no_grad():
        a = task.model.eval()(prepared.stems, prepared.mask, prepared.roles)[0]
        b = loaded(prepared.stems, prepared.mask, prepared.roles)[0]
    assert torch.equal(a, b)
    (tmp_path / "bad.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ParameterError, match="bad.safetensors: expected DMC weights"):
        load_dmc(tmp_path / "bad.safetensors")


def test_a_configured_run_writes_weights_and_metrics_and_resumes(tmp_path):
    from mixdown.train.dmc import TrainConfig, train_dmc

    config_file = tmp_path / "run.yaml"
    config_file.write_text(f"""
out: {tmp_path / 'run'}
tracks: 3
seconds: 0.5
batch_size: 2
workers: 0
max_steps: 3
examples_per_epoch: 4
val_examples: 2
model: {{channels: [8, 16], width: 32, heads: 2, layers: 1, feedforward: 64}}
""")
    config = TrainConfig.from_file(config_file)
    weights = train_dmc(config)
    assert load_dmc(weights).config.width == 32
    assert (tmp_path / "run" / "last.ckpt").is_file() and (tmp_path / "run" / "metrics.csv").is_file()
    from mixdown.export.plots import plot_training

    curve = plot_training(tmp_path / "run" / "metrics.csv", tmp_path / "curve.png", smooth=1)
    assert curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config.max_steps = 5  # resumes from last.ckpt at step 3
    train_dmc(config)
    state = torch.load(tmp_path / "run" / "last.ckpt", weights_only=False)
    assert state["global_step"] == 5
    config_file.write_text("out: x\nbatch: 3\n")
    with pytest.raises(ParameterError, match="unknown key"):
        TrainConfig.from_file(config_file)


def test_style_batches_carry_their_reference_and_the_schedule_warms_up_then_decays():
    from mixdown.data.pipeline import StyleTransferDataset

    data = StyleTransferDataset(SyntheticSource(min_tracks=2), tracks=3, seconds=0.5, sample_rate=SR, length=2,
                                seed=0, drum_bus_probability=0.0)
    prepared = prepare_batch(next(iter(make_loader(data, batch_size=2, workers=0))))
    assert prepared.reference.shape == (2, 2, SR // 2)
    task = DmcTask(SMALL, max_steps=1200, warmup_steps=200)
    with torch.no_grad():
        with_reference = _losses(task.model, prepared, task.weights, SR)["total"]
        prepared.reference = None
        without = _losses(task.model, prepared, task.weights, SR)["total"]
    assert float(with_reference) != float(without)  # the reference token reaches the predictions
    rates = [task._schedule(s) for s in (0, 99, 199, 700, 1200, 5000)]
    assert rates[0] == pytest.approx(1 / 200) and rates[1] == pytest.approx(0.5) and rates[2] == pytest.approx(1.0)
    assert rates[3] == pytest.approx(0.55) and rates[4] == pytest.approx(0.1) and rates[5] == pytest.approx(0.1)


def test_recovery_scores_a_perfect_and_a_flat_guess():
    from mixdown.data.pipeline import StyleTransferDataset, collate
    from mixdown.train.evaluation import parameter_recovery

    data = StyleTransferDataset(SyntheticSource(min_tracks=3), tracks=4, seconds=0.5, sample_rate=SR, length=3,
                                seed=0, drum_bus_probability=0.0)
    examples = [collate([data[i]]) for i in range(3)]

    class Oracle(torch.nn.Module):
        config = DmcConfig()

        def __init__(self, offset=0.0):
            super().__init__()
            self.offset, self.calls = offset, 0

        def forward(self, stems, mask, roles, reference=None):
            truth = prepare_batch(examples[self.calls % 3]).target_tracks
            self.calls += 1
            return (truth + self.offset).clamp(0, 1), torch.full((1, 5), 0.5)

    perfect = parameter_recovery(Oracle(), examples, reference="none")
    assert all(v == 1.0 for v in perfect.within.values()), perfect.within
    imaged = parameter_recovery(Oracle(), examples)  # pans read off the other section's stereo image instead
    assert imaged.within["gain"] == imaged.within["eq_gain"] == 1.0
    assert imaged.within["pan"] >= 0.7 and imaged.median_error["pan"] < 0.1, imaged.errors["pan"]
    shifted = parameter_recovery(Oracle(0.05), examples, reference="none")  # every value up 0.05 of its range
    # every fader 4.2 dB and make-up 1.2 dB up: not heard through the loudness normalisation
    assert shifted.within["gain"] == shifted.within["fader"] == 1.0
    assert shifted.median_error["pan"] == pytest.approx(0.1, abs=0.01)  # 0.05 of pan's range of 2
    assert shifted.median_error["eq_gain"] == pytest.approx(0.05 * 2 * 18.0, abs=0.01)  # 0.05 of -18..+18 dB


def test_tone_error_ignores_the_song_level_and_quiet_bands():
    from mixdown.train.evaluation import _tone_errors

    truth = torch.tensor([[1.0, 1.0, 1e-6], [1.0, 0.5, 0.5]], dtype=torch.float64)
    louder = truth * 10.0  # the whole song 10 dB up: heard the same after loudness normalisation
    assert _tone_errors(louder, truth) == pytest.approx([0.0, 0.0], abs=1e-9)
    bright = louder.clone()
    bright[0, 1] *= 10 ** 0.2  # track 0's second band 2 dB up
    bright[0, 2] *= 100.0  # and a band 60 dB below its loudest, not heard: ignored
    # the song's level error is the (lower) median track's, track 1's 10 dB: track 0's band is then 2 dB off
    assert _tone_errors(bright, truth) == pytest.approx([2.0, 0.0], abs=1e-6)


def _songs_with_mixes(folder, count=2, seconds=1.0):
    """Songs of two tones and a person's mix of them (the bass 6 dB down)."""
    import numpy as np
    import soundfile as sf

    from mixdown.data.item import Song, TrackFile

    t = np.arange(int(seconds * SR)) / SR
    songs = []
    for k in range(count):
        bass, lead = 0.3 * np.sin(2 * np.pi * (60 + k) * t), 0.2 * np.sin(2 * np.pi * 440 * t)
        tracks = []
        for name, role, audio in (("bass", "bass", bass), ("lead", "lead_vocal", lead)):
            sf.write(folder / f"{k}-{name}.wav", audio.astype(np.float32), SR, subtype="FLOAT")
            tracks.append(TrackFile(name, folder / f"{k}-{name}.wav", role))
        sf.write(folder / f"{k}-mix.wav", np.stack([0.5 * bass + lead] * 2, 1).astype(np.float32), SR, subtype="FLOAT")
        songs.append(Song("people", f"song{k}", tracks, mix=folder / f"{k}-mix.wav"))
    return songs


def test_automix_batches_target_the_peoples_mix_without_a_parameter_loss(tmp_path):
    from mixdown.data.pipeline import HumanMixDataset
    from mixdown.data.random_mix import normalising_gain_db

    songs = _songs_with_mixes(tmp_path)
    data = HumanMixDataset(songs + [songs[0].__class__("people", "no mix", songs[0].tracks)], tracks=3,
                           seconds=0.5, sample_rate=SR, length=2, seed=0)
    assert len(data.source) == 2  # the song without a mix is left out
    prepared = prepare_batch(next(iter(make_loader(data, batch_size=2, workers=0))))
    assert prepared.known == [False, False] and prepared.target_mix.shape == (2, 2, SR // 2)
    assert normalising_gain_db(prepared.target_mix[0], SR)[0] == pytest.approx(0.0, abs=0.05)  # at -23 LUFS
    # the people's mix has the bass 6 dB under the lead: stems trimmed alike, so the mix is no stem sum
    task = DmcTask(SMALL, LossWeights(mrstft=1.0, af=1.0, params=1.0))
    with torch.no_grad():
        terms = _losses(task.model, prepared, task.weights, SR)
    assert float(terms["params"]) == 0.0 and float(terms["total"]) == pytest.approx(
        float(terms["mrstft"] + terms["af"]))
    with pytest.raises(ParameterError, match="songs with a mix of at most 1 tracks"):
        HumanMixDataset(songs, tracks=1, seconds=0.5, sample_rate=SR)


def test_two_process_ddp_trains_on_cpu(tmp_path):
    from mixdown.train.dmc import TrainConfig, train_dmc

    config = TrainConfig(out=str(tmp_path / "run"), tracks=3, seconds=0.5, batch_size=1, workers=0, max_steps=3,
                         examples_per_epoch=4, val_examples=2, devices=2, strategy="ddp_spawn",
                         model={"channels": [8, 16], "width": 32, "heads": 2, "layers": 1, "feedforward": 64})
    weights = train_dmc(config)
    trained = load_dmc(weights)
    state = torch.load(tmp_path / "run" / "last.ckpt", weights_only=False)
    # each process takes half of every epoch, so step 3 is in the third epoch (one process alone: the second)
    assert state["global_step"] == 3 and state["epoch"] == 2 and trained.config.width == 32
