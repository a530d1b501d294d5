"""The speech mixer: Dugan gain sharing (closed forms, hold, streaming), its recipe section and console path, the
dugan method's recipe, and the who-spoke-when report."""

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from mixdown.analysis import analyze_session
from mixdown.api import mix_folder
from mixdown.audio import Session, Track
from mixdown.console import Console, Recipe
from mixdown.console.recipe import GainSharing
from mixdown.dsp.gain_sharing import gain_sharing, gain_sharing_step
from mixdown.errors import ParameterError, RecipeError
from mixdown.methods import Intent
from mixdown.methods.dugan import SPEECH_LUFS, VOICES_BUS, SpeechActivity, dugan_recipe

SR = 16000
FLOOR = 10.0 ** (-40.0 / 10.0)  # the default floor_db as a power share


def _noise(mics, seconds, seed=0, channels=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(mics, channels, int(seconds * SR), generator=g, dtype=torch.float64)


def _db(x):
    return 10.0 * math.log10(float(x.square().mean()))


def test_total_power_gain_is_one_at_every_sample():
    x = _noise(4, 2.0) * torch.tensor([0.1, 0.03, 0.2, 0.001], dtype=torch.float64)[:, None, None]
    x[1, :, SR // 2:] *= 10.0  # talkers change: the shares move
    gains = gain_sharing(x, SR, weights_db=torch.tensor([0.0, 3.0, -2.0, 0.0]), hold_ms=100.0)
    assert gains.shape == (4, 2 * SR) and float(gains.min()) >= 0.0 and float(gains.max()) <= 1.0
    assert float((gains.square().sum(0) - 1.0).abs().max()) < 1e-6


def test_one_talker_gets_full_gain_and_silent_mics_sit_on_the_floor():
    x = torch.zeros(4, 1, SR, dtype=torch.float64)
    x[2] = 0.1 * _noise(1, 1.0)[0]
    gains = gain_sharing(x, SR)
    # closed form: power shares [f, f, 1, f] renormalised
    assert abs(float(gains[2, -1]) - 1.0 / math.sqrt(1.0 + 3.0 * FLOOR)) < 1e-6
    assert float((gains[[0, 1, 3], -1] - math.sqrt(FLOOR / (1.0 + 3.0 * FLOOR))).abs().max()) < 1e-6


def test_equal_talkers_share_at_minus_3_db_and_a_quieter_mic_drops_by_its_difference():
    s = 0.1 * _noise(1, 1.0)[0]
    gains = gain_sharing(torch.stack([s, s]), SR)
    assert float((20.0 * torch.log10(gains[:, SR // 2:]) + 10.0 * math.log10(2.0)).abs().max()) < 1e-6
    gains = gain_sharing(torch.stack([s, 0.5 * s]), SR)  # 6.02 dB quieter: power shares 0.8 and 0.2
    expected = 20.0 * math.log10(0.5)
    assert float((20.0 * torch.log10(gains[1, SR // 2:] / gains[0, SR // 2:]) - expected).abs().max()) < 1e-6


def test_weights_bias_the_sharing_by_their_db():
    s = 0.1 * _noise(1, 1.0)[0]
    gains = gain_sharing(torch.stack([s, 0.5 * s]), SR, weights_db=torch.tensor([0.0, 20.0 * math.log10(2.0)]))
    assert float((gains[:, SR // 2:] - math.sqrt(0.5)).abs().max()) < 1e-6  # the weight undoes the 6 dB


@pytest.mark.parametrize("extra", [1, 3, 7])
def test_nom_adding_silent_mics_leaves_the_output_level(extra):
    talker = 0.1 * _noise(1, 1.0, seed=1)[0]
    def out_db(mics):
        x = torch.cat([talker[None], 1e-5 * _noise(mics - 1, 1.0, seed=2)])
        return _db((gain_sharing(x, SR)[:, None] * x).sum(0)[:, SR // 2:])
    assert abs(out_db(1 + extra) - out_db(1)) < 0.01


@pytest.mark.parametrize("mics", [2, 4, 8])
def test_nom_room_noise_of_many_open_mics_sums_to_one_mic(mics):
    x = 0.01 * _noise(mics, 2.0, seed=3)  # nobody talks, equal noise on every mic: all share it
    y = (gain_sharing(x, SR, threshold_db=-20.0)[:, None] * x).sum(0)
    assert abs(_db(y[:, SR:]) - _db(x[0, :, SR:])) < 0.2  # a plain sum would be 10 log10(mics) dB louder


def _talk_then_pause(pause_s):
    """Mic 0 talks for 1 s, then both mics carry room noise only for ``pause_s``."""
    x = 1e-4 * _noise(2, 1.0 + pause_s, seed=4)
    x[0, :, :SR] += 0.1 * _noise(1, 1.0, seed=5)[0]
    return x


def test_last_mic_hold_keeps_the_talker_open_through_a_pause_then_releases():
    x = _talk_then_pause(2.5)
    fast = {"release_ms": 20.0}  # the talker's level falls 60 dB to the room noise in 0.28 s
    gains = gain_sharing(x, SR, hold_ms=1000.0, **fast)
    talking = float(gains[0, SR - 100])
    during = gains[0, SR + int(0.3 * SR): SR + int(0.9 * SR)]  # the pause, inside the 1 s hold
    assert float((20.0 * torch.log10(during / talking)).abs().max()) < 0.1
    after = gains[0, SR + int(1.5 * SR):]  # beyond the hold: equal shares of equal noise, -3 dB
    assert abs(float(20.0 * torch.log10(after.mean())) + 3.01) < 0.5
    no_hold = gain_sharing(x, SR, hold_ms=0.0, **fast)[0, SR + int(0.3 * SR): SR + int(0.9 * SR)]
    assert float(20.0 * torch.log10(no_hold.mean())) < -2.0  # without it, the shares drift at once


def test_streaming_equals_offline_for_odd_blocks():
    x = 0.05 * _noise(3, 0.3, seed=6, channels=2)
    x[1, :, 1500:] *= 20.0
    x[:, :, 3000:] *= 1e-3  # a pause: the hold runs across block edges
    params = {"hold_ms": 50.0, "threshold_db": -40.0, "attack_ms": 2.0, "release_ms": 80.0, "fade_ms": 5.0}
    weights = torch.tensor([1.0, -2.0, 0.5])
    offline = gain_sharing(x, SR, weights_db=weights, **params)
    for block in (1, 65, 4097):
        state, out = None, []
        for i in range(0, x.shape[-1], block):
            g, state = gain_sharing_step(x[..., i:i + block], SR, state, weights, **params)
            out.append(g)
        assert float((torch.cat(out, -1) - offline).abs().max()) < 1e-6


def test_bad_parameters_and_weights_raise():
    x = _noise(2, 0.01)
    with pytest.raises(ParameterError, match="hold_ms"):
        gain_sharing(x, SR, hold_ms=-1.0)
    with pytest.raises(ParameterError, match="unknown"):
        gain_sharing(x, SR, knee_db=3.0)
    with pytest.raises(ParameterError, match="weights_db"):
        gain_sharing(x, SR, weights_db=torch.tensor([0.0, 99.0]))
    with pytest.raises(ParameterError, match=r"shaped \(2,\)"):
        gain_sharing(x, SR, weights_db=torch.tensor([0.0]))


# --- the recipe section and the console --------------------------------------------------------------------


def _sharing_recipe(mute_c=False):
    return Recipe.from_dict({
        "tracks": [
            {"name": "a", "route": "voices", "chain": [{"type": "gain", "params": {"gain_db": 2.0}}]},
            {"name": "b", "route": "voices", "chain": [{"type": "highpass", "params": {"cutoff_hz": 90.0}}]},
            {"name": "c", "route": "voices", "mute": mute_c, "chain": [{"type": "pan", "params": {"pan": 0.3}}]},
            {"name": "music", "chain": [{"type": "gain", "params": {"gain_db": -6.0}}]},
        ],
        "buses": [{"name": "voices", "chain": [{"type": "compressor", "params": {"ratio": 2.0}}]}],
        "gain_sharing": {"tracks": ["a", "b", "c"], "params": {"hold_ms": 200.0, "threshold_db": -45.0},
                         "weights_db": {"b": 3.0}, "reason": "three talkers"},
    })


def _talkers(samples=12000):
    x = 0.01 * _noise(4, samples / SR, seed=7)
    x[0, :, :4000] *= 20.0
    x[1, :, 4000:8000] *= 20.0
    x[2, :, 7000:] *= 20.0
    return [x[0], torch.cat([x[1], 0.9 * x[1]]), x[2], x[3]]  # b is a stereo mic, the others mono


def test_recipe_round_trip_keeps_gain_sharing():
    recipe = _sharing_recipe()
    again = Recipe.from_dict(recipe.to_dict())
    assert again == recipe and again.gain_sharing == GainSharing(
        ["a", "b", "c"], {"hold_ms": 200.0, "threshold_db": -45.0}, {"b": 3.0}, "three talkers")
    assert Recipe.from_dict({"tracks": [{"name": "a"}]}).gain_sharing is None
    assert "gain_sharing" not in Recipe.from_dict({"tracks": [{"name": "a"}]}).to_dict()


@pytest.mark.parametrize("edit, field", [
    (lambda g: g.update(tracks=["a", "nobody"]), r"gain_sharing.tracks\[1\]"),
    (lambda g: g.update(tracks=["a", "a"]), r"gain_sharing.tracks\[1\]: expected unique"),
    (lambda g: g.update(tracks=[]), "gain_sharing.tracks: expected at least one"),
    (lambda g: g["params"].update(hold_ms=-5.0), "gain_sharing.params.hold_ms"),
    (lambda g: g["params"].update(knee_db=3.0), "gain_sharing.params.knee_db: .*unknown parameter.*fix"),
    (lambda g: g["params"].update(hold_ms="long"), "gain_sharing.params.hold_ms: expected a number"),
    (lambda g: g["weights_db"].update(b=60.0), "gain_sharing.weights_db.b"),
    (lambda g: g["weights_db"].update(music=1.0), "gain_sharing.weights_db.music"),
    (lambda g: g.update(gate=True), "gain_sharing: .*unknown field.*gate.*fix"),
    (lambda g: g.pop("tracks"), "gain_sharing.tracks: required"),
])
def test_recipe_validation_names_the_gain_sharing_field(edit, field):
    data = _sharing_recipe().to_dict()
    edit(data["gain_sharing"])
    with pytest.raises(RecipeError, match=field):
        Recipe.from_dict(data)


@pytest.mark.parametrize("block", [65, 4097])
def test_console_applies_the_gains_before_the_strips_and_streams_like_one_shot(block):
    recipe, tracks = _sharing_recipe(mute_c=True), _talkers()
    console = Console(recipe, SR, [t.shape[0] for t in tracks], dtype=torch.float64)
    with torch.no_grad():
        offline = console.render(tracks)
        blocks = [[t[:, i:i + block] for t in tracks] for i in range(0, tracks[0].shape[-1], block)]
        streamed = torch.cat(list(console.render_blocks(blocks)), -1)
    assert float((streamed - offline).abs().max()) < 1e-6
    # by hand: the unmuted shared mics (a, b; b's level the mean of its two channels) pre-scaled, no sharing
    shared = torch.stack([tracks[0].expand(2, -1), tracks[1]])
    gains = gain_sharing(shared, SR, weights_db=torch.tensor([0.0, 3.0]), hold_ms=200.0, threshold_db=-45.0)
    plain = _sharing_recipe(mute_c=True)
    plain.gain_sharing = None
    expected = Console(plain, SR, [1, 2, 1, 1], dtype=torch.float64).render(
        [tracks[0] * gains[0], tracks[1] * gains[1], tracks[2], tracks[3]])
    assert float((offline - expected).abs().max()) < 1e-9
    assert float(gains[0, 3000]) > 0.99 and float(gains[1, 7000]) > 0.99  # the talker's mic is open


# --- who spoke when ------------------------------------------------------------------------------------------

TURNS = [("ann", 0.5, 2.5), ("bob", 3.0, 5.0), ("cat", 5.5, 7.0), ("ann", 7.5, 9.0)]


def _conversation():
    """Three mics: each talker's syllables (4 per second) with -20 dB bleed into the other mics, room noise,
    a 0.2 s pause inside bob's turn, and a 0.1 s cough on ann between bob's and cat's turns."""
    t = torch.arange(int(9.5 * SR), dtype=torch.float64) / SR
    names = ["ann", "bob", "cat"]
    voices = torch.zeros(3, t.numel(), dtype=torch.float64)
    g = torch.Generator().manual_seed(8)
    for name, start, end in TURNS:
        inside = (t >= start) & (t < end)
        envelope = torch.abs(torch.sin(4.0 * math.pi * (t - start))) * inside
        voices[names.index(name)] += 0.1 * envelope * torch.randn(t.numel(), generator=g, dtype=torch.float64)
    voices[1, (t >= 4.0) & (t < 4.2)] = 0.0
    cough = (t >= 5.15) & (t < 5.25)
    voices[0, cough] = 0.1 * torch.randn(int(cough.sum()), generator=g, dtype=torch.float64)
    bleed = 0.1 * (voices.sum(0, keepdim=True) - voices)  # -20 dB of the others
    mics = voices + bleed + 1e-4 * torch.randn(3, t.numel(), generator=g, dtype=torch.float64)
    return names, mics[:, None].expand(3, 2, -1)


def test_speech_activity_finds_who_spoke_when():
    names, stems = _conversation()
    activity = SpeechActivity(names, SR)
    for i in range(0, stems.shape[-1], 999):  # odd blocks: frames straddle them
        activity.add(stems[..., i:i + 999])
    segments = activity.segments()
    assert [s["track"] for s in segments] == [name for name, _, _ in TURNS]
    for s, (_, start, end) in zip(segments, TURNS):
        assert abs(s["start_s"] - start) < 0.1 and abs(s["end_s"] - end) < 0.1
    summary = activity.summary()
    assert abs(summary["ann"] - 3.5) < 0.2 and abs(summary["bob"] - 2.0) < 0.2 and abs(summary["cat"] - 1.5) < 0.2


# --- the dugan method -----------------------------------------------------------------------------------------


def test_dugan_recipe_shares_every_voice_and_levels_them(tmp_path):
    names, stems = _conversation()
    mics = stems[:, :1].to(torch.float32).clone()
    mics[1] *= 10.0 ** (10.0 / 20.0)  # bob's mic recorded 10 dB hotter
    t = torch.arange(mics.shape[-1]) / SR
    mics[2] += 0.01 * torch.sin(2 * math.pi * 50.0 * t)  # cat's mic hums
    audio = list(mics) + [torch.zeros(1, mics.shape[-1]), 0.05 * mics[0]]
    names = names + ["empty", "bed"]
    tracks = []
    for name, a in zip(names, audio):
        sf.write(tmp_path / f"{name}.wav", a[0].numpy(), SR)
        tracks.append(Track(name, tmp_path / f"{name}.wav", a, SR))
    session = Session(tracks, SR)
    analysis = analyze_session(session)
    intent = Intent.from_dict({"tracks": {"bed": {"keep": True}, "cat": {"priority": "lead", "pan": "left"}}})
    recipe = dugan_recipe(session, analysis, intent, tmp_path)
    sharing = recipe.gain_sharing
    assert sharing.tracks == ["ann", "bob", "cat"]  # not the silent one, not the kept one
    assert recipe.strip("empty").mute and recipe.strip("bed").route == "master"
    gain = {n: recipe.strip(n).chain[0].params["gain_db"] for n in ("ann", "bob", "cat")}
    assert abs(gain["bob"] - gain["ann"] + 10.0) < 0.5  # the hot mic comes down by its extra 10 dB
    assert abs(analysis.tracks[0].loudness.integrated_lufs + gain["ann"] - SPEECH_LUFS) < 1.0
    assert sharing.weights_db["ann"] == gain["ann"] and sharing.weights_db["bob"] == gain["bob"]
    assert abs(sharing.weights_db["cat"] - gain["cat"] - 3.0) < 1e-9  # lead priority: +3 dB in the sharing
    assert recipe.strip("cat").chain[1].params["cutoff_hz"] == 100.0  # the hum calls for the steeper high-pass
    assert recipe.strip("ann").chain[1].params["cutoff_hz"] == 80.0  # noqa: B005 (Recipe.strip: a track by name)
    assert [s.params["pan"] for s in recipe.strip("cat").chain if s.type == "pan"] == [-0.4]
    assert [b.name for b in recipe.buses] == [VOICES_BUS] and not recipe.returns and not recipe.master
    assert all(s.reason for t in recipe.tracks for s in t.chain) and sharing.reason
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    # rendered in blocks, the processed stems say who spoke when (the kept bed and the silent track are no speakers)
    console = Console(recipe, SR, session.channel_counts())
    activity = SpeechActivity.for_recipe(recipe, SR)
    blocks = [[t.audio[:, i:i + 4096] for t in session.tracks] for i in range(0, session.samples, 4096)]
    with torch.no_grad():
        for _, stems in console.render_blocks(blocks, stems=True):
            activity.add(stems)
    segments = activity.segments()
    assert [s["track"] for s in segments] == [name for name, _, _ in TURNS] and activity.names == names[:3]
    for s, (_, start, end) in zip(segments, TURNS):
        assert abs(s["start_s"] - start) < 0.1 and abs(s["end_s"] - end) < 0.1


# --- microphones without a talker of their own ------------------------------------------------------------------

PANEL_TURNS = [("ann", 0.5, 2.5), ("bob", 3.0, 5.0), ("ann", 5.5, 7.0), ("bob", 7.5, 9.0)]
PANEL_TALK_S = {"ann": 3.5, "bob": 3.5}
PANEL_LEVEL = 0.25  # the talkers recorded 12 dB under the speech level: their faders lift them about 10 dB


def _panel(extra=None):
    """Two talkers taking turns (syllables at 4 per second, -20 dB crosstalk into each other's microphone, room
    noise at -92 dBFS), plus ``extra``: None, ``"idle"`` (a third microphone carrying only -60 dBFS noise),
    ``"crosstalk"`` (only the two talkers 20 dB down, and its own room noise) or ``"hum"`` (-40 dBFS of 60 Hz hum
    with hiss 10 dB under it). Returns the names and the ``(1, samples)`` signals."""
    t = torch.arange(int(9.5 * SR), dtype=torch.float64) / SR
    g = torch.Generator().manual_seed(9)
    voices = torch.zeros(2, t.numel(), dtype=torch.float64)
    for name, start, end in PANEL_TURNS:
        envelope = torch.abs(torch.sin(4.0 * math.pi * (t - start))) * ((t >= start) & (t < end))
        voices[["ann", "bob"].index(name)] += 0.1 * envelope * torch.randn(t.numel(), generator=g,
                                                                           dtype=torch.float64)
    mics = PANEL_LEVEL * (voices + 0.1 * voices.flip(0) + 1e-4 * torch.randn(2, t.numel(), generator=g,
                                                                               dtype=torch.float64))
    names, audio = ["ann", "bob"], list(mics)
    noise = torch.randn(t.numel(), generator=g, dtype=torch.float64)
    if extra == "idle":
        audio.append(10.0 ** (-60.0 / 20.0) * noise)
    elif extra == "crosstalk":
        audio.append(PANEL_LEVEL * (0.1 * voices.sum(0) + 1e-4 * noise))
    elif extra == "hum":
        audio.append(10.0 ** (-40.0 / 20.0) * (math.sqrt(2.0) * torch.sin(2.0 * math.pi * 60.0 * t)
                                               + 10.0 ** (-10.0 / 20.0) * noise))
    if extra is not None:
        names.append(f"mic3_{extra}")
    return names, [a[None] for a in audio]


def _mix_panel(folder, extra=None):
    """``mixdown mix`` (the API) of :func:`_panel`: the recipe and the speaking time per microphone."""
    names, audio = _panel(extra)
    (folder / "stems").mkdir(parents=True)
    for name, a in zip(names, audio):
        sf.write(folder / "stems" / f"{name}.wav", a[0].numpy().astype(np.float32), SR)
    result = mix_folder(folder / "stems", folder / "out", method="dugan", report=False)
    return Recipe.load(result.recipe_path), result.speaking_s


@pytest.fixture(scope="module")
def panel_alone(tmp_path_factory):
    return _mix_panel(tmp_path_factory.mktemp("panel"))


@pytest.mark.parametrize("extra, why", [("idle", "noise only"), ("crosstalk", "only the others' crosstalk"),
                                        ("hum", "noise only")])
def test_a_microphone_without_a_talker_stays_down_and_never_speaks(tmp_path, panel_alone, extra, why):
    alone, alone_speaking = panel_alone
    recipe, speaking = _mix_panel(tmp_path, extra)
    mic = f"mic3_{extra}"
    gain = {t.name: t.chain[0].params["gain_db"] for t in recipe.tracks}
    talkers = {n: alone.strip(n).chain[0].params["gain_db"] for n in ("ann", "bob")}
    assert min(talkers.values()) > 8.0  # the talkers are lifted toward the speech level ...
    assert gain[mic] <= 0.0 and gain[mic] <= min(talkers.values()) - 10.0  # ... the extra microphone is not
    fader = recipe.strip(mic).chain[0]
    assert "no speech of its own" in fader.reason and why in fader.reason
    assert [s.type for s in recipe.strip(mic).chain] == ["gain", "highpass"]  # no voice EQ or compression
    assert recipe.notes["held_down"] == [mic] and "held_down" not in alone.notes
    assert recipe.gain_sharing.tracks == ["ann", "bob", mic]  # it still takes part in the sharing
    assert recipe.gain_sharing.weights_db[mic] == gain[mic]
    for name in ("ann", "bob"):  # the talkers are measured and mixed as without it
        assert abs(gain[name] - talkers[name]) < 0.5
        assert recipe.strip(name).chain[0].reason == alone.strip(name).chain[0].reason
        assert abs(speaking[name] - PANEL_TALK_S[name]) < 0.3 and abs(alone_speaking[name] - PANEL_TALK_S[name]) < 0.3
    assert speaking[mic] < 0.5  # listed (the sharing follows it) but never a speaker
    assert [s["track"] for s in recipe.notes["speakers"]] == [name for name, _, _ in PANEL_TURNS]
