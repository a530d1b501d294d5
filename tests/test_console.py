"""The console: recipe validation, batched rendering against hand-composed processors, streaming, gradients."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

import mixdown.dsp  # noqa: F401
from mixdown.console import Console, Recipe, render
from mixdown.console.recipe import Send, Step
from mixdown.dsp.filters import highpass, lowpass, parametric_eq
from mixdown.dsp.gain import gain
from mixdown.dsp.registry import PROCESSORS
from mixdown.dsp.stereo import pan, widener
from mixdown.errors import RecipeError

SR = 22050


def _tracks(n=3, samples=12000, seed=0):
    g = torch.Generator().manual_seed(seed)
    channels = [1, 1, 2, 2, 1][:n]
    return [0.3 * torch.randn(c, samples, generator=g, dtype=torch.float64) for c in channels]


def _simple_recipe():
    return Recipe.from_dict({
        "tracks": [
            {"name": "a", "route": "grp", "chain": [{"type": "gain", "params": {"gain_db": -3}}, {"type": "parametric_eq", "params": {"peak1_gain_db": 4}}, {"type": "pan", "params": {"pan": -0.5}}], "sends": [{"to": "fx", "level_db": -10}]},
            {"name": "b", "chain": [{"type": "gain", "params": {"gain_db": 2}}, {"type": "parametric_eq"}, {"type": "pan", "params": {"pan": 0.5}}]},
            {"name": "c", "chain": [{"type": "highpass", "params": {"cutoff_hz": 200}}], "sends": [{"to": "fx", "level_db": -6}]},
        ],
        "buses": [{"name": "grp", "chain": [{"type": "widener", "params": {"width": 1.5}}]}],
        "returns": [{"name": "fx", "chain": [{"type": "lowpass", "params": {"cutoff_hz": 2000}}]}],
        "master": {"chain": [{"type": "parametric_eq", "params": {"high_shelf_gain_db": 2}}]},
    })


def test_render_equals_the_processors_composed_by_hand():
    tracks = _tracks()
    mix = render(tracks, _simple_recipe(), SR, dtype=torch.float64)
    a = pan(parametric_eq(gain(tracks[0][None], SR, -3.0), SR, peak1_gain_db=4.0), SR, -0.5)
    b = pan(parametric_eq(gain(tracks[1][None], SR, 2.0), SR), SR, 0.5)
    c = highpass(tracks[2][None], SR, 200.0)
    bus = widener(a, SR, 1.5)
    fx = lowpass(a * 10 ** (-10 / 20) + c * 10 ** (-6 / 20), SR, 2000.0)
    expected = parametric_eq(bus + b + c + fx, SR, high_shelf_gain_db=2.0)[0]
    assert (mix - expected).abs().max() < 1e-10


def test_tracks_with_the_same_chain_render_in_one_call():
    calls = []
    proc = PROCESSORS["parametric_eq"]
    original = proc.step

    def counting(x, *args, **kwargs):
        calls.append(x.shape[0])
        return original(x, *args, **kwargs)

    object.__setattr__(proc, "step", counting)  # Processor is frozen: patch and restore by hand
    try:
        render(_tracks(), _simple_recipe(), SR)
    finally:
        object.__setattr__(proc, "step", original)
    # tracks a and b share one call (batch 2); the master EQ is the other
    assert sorted(calls) == [1, 2]


def _full_recipe(limiter_on_track=True):
    track_chain = [
        {"type": "gain", "params": {"gain_db": -2}},
        {"type": "parametric_eq", "params": {"peak2_gain_db": 3}},
        {"type": "compressor", "params": {"threshold_db": -25, "ratio": 4, "attack_ms": 3, "release_ms": 60}},
        {"type": "distortion", "params": {"drive_db": 6, "mix": 0.3}},
    ]
    return Recipe.from_dict({
        "tracks": [
            {"name": "a", "route": "drums", "chain": track_chain + [{"type": "pan", "params": {"pan": -0.3}}], "sends": [{"to": "verb", "level_db": -12}]},
            {"name": "b", "route": "drums", "chain": track_chain + [{"type": "pan", "params": {"pan": 0.4}}], "sends": [{"to": "echo", "level_db": -9}]},
            {"name": "c", "chain": [{"type": "expander", "params": {"threshold_db": -30}}]
             + ([{"type": "limiter", "params": {"ceiling_db": -6, "lookahead_ms": 3}}] if limiter_on_track else []),
             "sends": [{"to": "verb", "level_db": -6}]},
        ],
        "buses": [{"name": "drums", "chain": [{"type": "compressor", "params": {"threshold_db": -18, "ratio": 2}}], "sends": [{"to": "verb", "level_db": -20}]}],
        "returns": [
            {"name": "verb", "chain": [{"type": "reverb", "params": {"decay_low_s": 0.4, "decay_lowmid_s": 0.3, "decay_highmid_s": 0.25, "decay_high_s": 0.2}}]},
            {"name": "echo", "chain": [{"type": "delay", "params": {"time_ms": 37.3, "feedback": 0.4, "mix": 1.0}}]},
        ],
        "master": {"chain": [{"type": "compressor", "params": {"threshold_db": -10}}, {"type": "limiter", "params": {"ceiling_db": -1}}]},
    })


@pytest.mark.parametrize("block", [65, 4097, 5000])
def test_streaming_render_equals_one_shot_render(block):
    tracks = _tracks(3, samples=15000)
    recipe = _full_recipe()
    console = Console(recipe, SR, [t.shape[0] for t in tracks], dtype=torch.float64)
    assert console.latency > 0  # the limiters' look-ahead is compensated
    with torch.no_grad():
        offline = console.render(tracks)
        blocks = [[t[:, i:i + block] for t in tracks] for i in range(0, 15000, block)]
        streamed = torch.cat(list(console.render_blocks(blocks)), -1)
    assert streamed.shape == offline.shape == (2, 15000)
    assert (streamed - offline).abs().max() < 1e-5


@pytest.mark.parametrize("block", [65, 5000])
def test_stems_stream_with_the_mix_and_are_each_tracks_strip_output(block):
    tracks = _tracks(3, samples=15000)
    recipe = _full_recipe()
    recipe.tracks[1].mute = True
    console = Console(recipe, SR, [t.shape[0] for t in tracks], dtype=torch.float64)
    with torch.no_grad():
        offline = console.render(tracks)
        blocks = [[t[:, i:i + block] for t in tracks] for i in range(0, 15000, block)]
        pairs = list(console.render_blocks(blocks, stems=True))
    mix = torch.cat([m for m, _ in pairs], -1)
    stems = torch.cat([s for _, s in pairs], -1)
    assert (mix - offline).abs().max() < 1e-5 and stems.shape == (3, 2, 15000)
    # a stem is its track through its own chain alone, aligned with the inputs despite track c's look-ahead
    alone = Recipe.from_dict({"tracks": [recipe.tracks[0].to_dict("tracks") | {"route": "master", "sends": []}]})
    with torch.no_grad():
        expected = Console(alone, SR, [1], dtype=torch.float64).render([tracks[0]])
    assert (stems[0] - expected).abs().max() < 1e-9
    assert stems[1].abs().max() == 0.0  # muted
    assert stems[2].abs().max() > 0.01


def test_latency_is_compensated_so_a_delayed_track_stays_aligned():
    impulse = torch.zeros(1, 4000, dtype=torch.float64)
    impulse[0, 1000] = 0.1
    recipe = Recipe.from_dict({"tracks": [
        {"name": "plain", "chain": [{"type": "pan", "params": {"pan": -1}}]},
        {"name": "limited", "chain": [{"type": "limiter", "params": {"lookahead_ms": 5}}, {"type": "pan", "params": {"pan": 1}}]},
    ]})
    mix = render([impulse, impulse], recipe, SR, dtype=torch.float64)
    assert int(mix[0].abs().argmax()) == 1000 and int(mix[1].abs().argmax()) == 1000


def test_render_is_deterministic_and_float32_matches_float64():
    tracks = _tracks()
    recipe = _full_recipe(limiter_on_track=False)
    a = render([t.float() for t in tracks], recipe, SR)
    b = render([t.float() for t in tracks], recipe, SR)
    assert torch.equal(a, b)
    c = render(tracks, recipe, SR, dtype=torch.float64)
    assert (a.double() - c).abs().max() < 1e-4


def test_gradients_reach_every_console_parameter_and_match_finite_differences():
    tracks = _tracks(3, samples=3000)
    recipe = _full_recipe(limiter_on_track=False)
    console = Console(recipe, SR, [t.shape[0] for t in tracks], dtype=torch.float64)
    params = list(console.parameters())
    for p in params:
        p.requires_grad_()
    loss = console.render(tracks).square().mean()
    loss.backward()
    # The frequency and Q of a band at 0 dB shape nothing: their gradient is 0 up to rounding (noise of 1e-21
    # once passed here as "reached"). Every other parameter must move the loss.
    flat = []
    for g in console.track_groups:
        for s in g.steps:
            if s.processor.name == "parametric_eq":
                flat += [s.numeric[f"{band}_{k}"] for band in ("low_shelf", "peak1", "peak3", "peak4", "high_shelf")
                         for k in ("freq_hz", "q") if not bool(s.numeric[f"{band}_gain_db"].any())]
    assert len(flat) == 10 and all(float(p.grad.abs().max()) < 1e-15 for p in flat)
    acting = [p for p in params if all(p is not q for q in flat)]
    untouched = sum(int(p.grad is None or float(p.grad.abs().max()) < 1e-12) for p in acting)
    assert untouched <= 2  # e.g. the gate's knee at 0 dB, a limiter ceiling never reached
    # finite difference on the bus compressor threshold
    bus_threshold = console.bus_groups[0].steps[0].numeric["threshold_db"]
    analytic = bus_threshold.grad.item()
    with torch.no_grad():
        bus_threshold += 1e-4
        up = console.render(tracks).square().mean()
        bus_threshold -= 2e-4
        down = console.render(tracks).square().mean()
        bus_threshold += 1e-4
    assert analytic == pytest.approx(((up - down) / 2e-4).item(), rel=1e-3, abs=1e-9)


def test_set_parameters_renders_like_the_recipe_with_those_values_and_passes_gradients():
    # tracks a and b are mono, c stereo: two groups, so values must land on the right members
    tracks = _tracks(3, samples=3000)
    recipe = _simple_recipe()
    recipe.tracks[2].chain = [Step("gain", {"gain_db": 0.0}), Step("parametric_eq", {}), Step("pan", {})]
    recipe.tracks[2].sends = [Send("fx", -6.0)]
    console = Console(recipe, SR, [t.shape[0] for t in tracks], dtype=torch.float64)
    gains = torch.tensor([-6.0, 3.0, -1.0], dtype=torch.float64, requires_grad=True)
    peaks = torch.tensor([2.0, -4.0, 5.0], dtype=torch.float64)
    console.set_parameters("tracks", {(0, "gain_db"): gains, (1, "peak1_gain_db"): peaks})
    sends = torch.tensor([[-10.0, -30.0, -6.0]], dtype=torch.float64, requires_grad=True)
    console.set_send_levels("tracks", sends)
    mix = console.render(tracks)
    expected = Recipe.from_dict(json.loads(recipe.to_json()))
    for strip, g, p, level in zip(expected.tracks, gains.tolist(), peaks.tolist(), sends[0].tolist()):
        strip.chain[0].params["gain_db"] = g
        strip.chain[1].params["peak1_gain_db"] = p
        strip.sends = [Send("fx", level)]
    assert torch.allclose(mix, render(tracks, expected, SR, dtype=torch.float64), atol=1e-12)
    mix.square().mean().backward()
    assert gains.grad.abs().min() > 0 and sends.grad.abs().min() > 0
    with pytest.raises(RecipeError, match="expected \\(3,\\) values"):
        console.set_parameters("tracks", {(0, "gain_db"): torch.zeros(2)})
    with pytest.raises(RecipeError, match="'ratio'"):
        console.set_parameters("tracks", {(0, "ratio"): torch.zeros(3)})


def test_recipe_round_trips_through_json(tmp_path):
    recipe = _full_recipe()
    path = recipe.save(tmp_path / "r.json")
    again = Recipe.load(path)
    assert again.to_dict() == recipe.to_dict()
    assert json.loads(path.read_text())["version"] == 1


@pytest.mark.parametrize("edit,field", [
    (lambda d: d["tracks"][0]["chain"].append({"type": "fuzzbox"}), "tracks[0].chain[5].type"),
    (lambda d: d["tracks"][1]["chain"][2]["params"].update(ratio=50), "tracks[1].chain[2].params.ratio"),
    (lambda d: d["tracks"][1]["chain"][2]["params"].update(ratoi=2), "tracks[1].chain[2].params.ratoi"),
    (lambda d: d["tracks"][0].update(route="strings"), "tracks[0].route"),
    (lambda d: d["tracks"][0]["sends"][0].update(to="plate"), "tracks[0].sends[0].to"),
    (lambda d: d["tracks"][1].update(name="a"), "tracks[1].name"),
    (lambda d: d.update(version=7), "version"),
    (lambda d: d["tracks"][0].update(volume=3), "tracks[0]"),
    (lambda d: d["tracks"][0].update(mute="yes"), "tracks[0].mute"),
    (lambda d: d["tracks"][0]["sends"][0].update(level_db="loud"), "tracks[0].sends[0].level_db"),
])
def test_invalid_recipes_name_the_offending_field(edit, field):
    data = _full_recipe().to_dict()
    edit(data)
    with pytest.raises(RecipeError) as err:
        Recipe.from_dict(data)
    assert str(err.value).startswith(field + ":"), str(err.value)


def test_broken_recipe_file_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"tracks": [}')
    with pytest.raises(RecipeError, match="broken.json.*line 1"):
        Recipe.load(path)


def test_demo_recipe_renders_to_a_file_with_sane_loudness(tmp_path):
    from mixdown import api

    out = tmp_path / "demo.wav"
    result = api.render_recipe(api.demo_recipe_path(), out)
    audio, rate = sf.read(out, always_2d=True)
    assert rate == 44100 and audio.shape == (15 * 44100, 2)
    assert result.loudness_lufs == pytest.approx(-14.0, abs=2.0)
    assert result.sample_peak_db <= -0.9  # the master limiter's ceiling is -1 dBTP
    assert np.isfinite(audio).all()


def test_cli_renders_the_demo_and_reports_errors_clearly(tmp_path):
    from typer.testing import CliRunner

    from mixdown.cli import app

    runner = CliRunner()
    out = tmp_path / "sub" / "mix.flac"
    result = runner.invoke(app, ["render", "--demo", "-o", str(out), "--format", "flac"])
    assert result.exit_code == 0, result.output
    assert sf.info(out).samplerate == 44100
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tracks": [{"name": "x", "source": "missing.wav"}]}))
    result = runner.invoke(app, ["render", str(bad), "-o", str(tmp_path / "m.wav")])
    assert result.exit_code == 2
    assert "tracks[0].source" in result.output and "missing.wav" in result.output


def test_the_pure_torch_path_renders_the_same_mix_and_gradients():
    """What runs on CUDA (every kernel's plain-torch path) equals the compiled CPU kernels."""
    from mixdown.dsp.kernels import torch_path_only

    tracks = _tracks(3, samples=2500)
    results = []
    for forced in (False, True):
        console = Console(_full_recipe(), SR, [t.shape[0] for t in tracks], dtype=torch.float64)
        params = list(console.parameters())
        for p in params:
            p.requires_grad_()
        if forced:
            with torch_path_only():
                mix = console.render(tracks)
                mix.square().mean().backward()
        else:
            mix = console.render(tracks)
            mix.square().mean().backward()
        results.append((mix.detach(), [p.grad for p in params]))
    (mix_a, grads_a), (mix_b, grads_b) = results
    assert (mix_a - mix_b).abs().max() < 1e-9
    for a, b in zip(grads_a, grads_b):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-9)


def test_a_recipe_saved_in_another_folder_still_names_its_audio(tmp_path):
    (tmp_path / "song").mkdir()
    sf.write(tmp_path / "song" / "a.wav", np.zeros((100, 1)), SR)
    (tmp_path / "shared.wav").symlink_to(tmp_path / "song" / "a.wav")
    recipe = Recipe.from_dict({"tracks": [{"name": "a", "source": "a.wav"}, {"name": "b", "source": "../shared.wav"},
                                          {"name": "c", "source": str(tmp_path / "song" / "a.wav")}]})
    first = recipe.save(tmp_path / "song" / "recipe.json")  # read from nowhere: sources kept as written
    assert [t.source for t in Recipe.load(first).tracks] == ["a.wav", "../shared.wav", str(tmp_path / "song" / "a.wav")]
    (tmp_path / "out" / "deeper").mkdir(parents=True)
    moved = Recipe.load(first).save(tmp_path / "out" / "deeper" / "edited.json")
    sources = [t.source for t in Recipe.load(moved).tracks]
    assert sources == ["../../song/a.wav", "../../shared.wav", str(tmp_path / "song" / "a.wav")]  # links stay links
    assert all((moved.parent / s).is_file() for s in sources)


def test_remastering_an_edited_recipe_brings_it_back_to_its_target(tmp_path):
    from typer.testing import CliRunner

    from mixdown import api
    from mixdown.cli import app

    edited = Recipe.load(api.demo_recipe_path())
    for strip in edited.tracks:  # every fader up 6 dB: the fixed master chain now misses -14 LUFS
        next(s for s in strip.chain if s.type == "gain").params["gain_db"] += 6.0
    (tmp_path / "edit").mkdir()
    edited_path = edited.save(tmp_path / "edit" / "edited.json")
    plain = api.render_recipe(edited_path, tmp_path / "plain.wav")
    assert abs(plain.loudness_lufs + 14.0) > 0.3
    again = api.remaster_recipe(edited_path, target="apple")
    assert [s.type for s in again.master][-2:] == ["gain", "limiter"] and again.notes["target"] == "apple"
    assert Recipe.load(edited_path).to_dict() == edited.to_dict()  # the input recipe is untouched
    from mixdown.errors import ParameterError

    with pytest.raises(ParameterError, match="polka"):
        api.remaster_recipe(edited_path, genre="polka")
    result = api.render_recipe(again, tmp_path / "again.wav")
    assert result.loudness_lufs == pytest.approx(-16.0, abs=0.1)
    assert result.sample_peak_db <= -0.95
    out = tmp_path / "cli" / "mix.wav"
    runner = CliRunner()
    done = runner.invoke(app, ["render", str(edited_path), "-o", str(out), "--remaster", "--target", "-12"])
    assert done.exit_code == 0, done.output
    written = Recipe.load(out.with_name("mix.recipe.json"))  # beside the mix, naming the same stems
    assert written.notes["target"] == "-12 LUFS"
    assert api.render_recipe(written, tmp_path / "re.wav").loudness_lufs == pytest.approx(-12.0, abs=0.1)
    refused = runner.invoke(app, ["render", str(edited_path), "-o", str(out), "--target", "-12"])
    assert refused.exit_code == 2 and "add --remaster" in refused.output


def test_many_tracks_stream_from_disk_in_short_blocks_and_the_mix_is_their_sum(tmp_path, monkeypatch):
    """200 tracks get blocks shortened to the block budget (bounded memory whatever the track count), and the mix
    streamed from the files is still the plain sum of each track gained and panned (constant power)."""
    import importlib

    from mixdown import api

    render_module = importlib.import_module("mixdown.console.render")  # (the package's ``render`` is the function)

    monkeypatch.setattr(render_module, "STREAM_BLOCK_SAMPLES", 1 << 16)  # 200 tracks: 327 frames, so the minimum
    assert render_module.block_frames(10.0, SR, [1] * 200) == render_module.MIN_BLOCK_FRAMES
    blocks = []
    process = Console._process
    monkeypatch.setattr(Console, "_process", lambda self, tracks, *a: blocks.append(len(tracks)) or
                        process(self, tracks, *a))
    n, frames = 200, 10000
    rng = np.random.default_rng(3)
    gains_db, pans = rng.uniform(-30.0, 0.0, n).round(2), rng.uniform(-1.0, 1.0, n).round(3)
    (tmp_path / "stems").mkdir()
    signals = (0.1 * rng.standard_normal((n, frames))).astype(np.float32)
    for i in range(n):
        sf.write(tmp_path / "stems" / f"t{i}.wav", signals[i], SR, subtype="FLOAT")
    recipe = {"sample_rate": SR, "tracks": [
        {"name": f"t{i}", "source": f"stems/t{i}.wav", "chain": [{"type": "gain", "params": {"gain_db": gains_db[i]}},
                                                                 {"type": "pan", "params": {"pan": pans[i]}}]}
        for i in range(n)]}
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    result = api.render_recipe(tmp_path / "recipe.json", tmp_path / "mix.wav", format="float32")
    assert result.tracks == n and len(blocks) == -(-frames // render_module.MIN_BLOCK_FRAMES)
    mix, rate = sf.read(tmp_path / "mix.wav", always_2d=True, dtype="float64")
    theta = (pans + 1.0) * np.pi / 4.0
    weights = 10.0 ** (gains_db / 20.0) * np.stack([np.cos(theta), np.sin(theta)])  # (2, tracks)
    expected = weights @ signals.astype(np.float64)
    assert rate == SR and mix.shape == (frames, 2)
    np.testing.assert_allclose(mix.T, expected, atol=2e-6)


def test_a_render_raises_the_open_file_limit_it_needs_or_says_how(monkeypatch):
    """A render keeps every source open: a soft limit of 1,024 files is raised toward the hard limit (a 3,000-track
    recipe crashed with "Error opening ..."), and a hard limit too low is a clear error."""
    import resource

    from mixdown.console.session_render import allow_open_files
    from mixdown.errors import OutputError

    calls = []
    monkeypatch.setattr(resource, "setrlimit", lambda which, limits: calls.append(limits))
    monkeypatch.setattr(resource, "getrlimit", lambda which: (1024, 1 << 20))
    allow_open_files(500)
    assert calls == []
    allow_open_files(3000)
    assert calls == [(3256, 1 << 20)]
    monkeypatch.setattr(resource, "getrlimit", lambda which: (1024, 2048))
    with pytest.raises(OutputError, match=r"3000 source files: .*lets a process open 2048 files; fix: raise the limit"):
        allow_open_files(3000)
