"""Hydrogen songs as a people-corpus source: reading a .h2song, placing and rendering its notes, the pan laws, the
declared settings, and the corpus written from a tiny synthetic song and kit (no hydrogen-data needed); one test
renders a real demo song when hydrogen-data is installed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mixdown.analysis.roles import ROLE_NAMES
from mixdown.data.synth import hydrogen as h2
from mixdown.errors import DatasetError

RATE = 48000
TICK = 500  # frames per tick at 120 bpm and 48 ticks per quarter: 60 / (120 * 48) * 48000
SOFT, HARD, HAT, OPEN = 0.25, 0.5, 0.3, 0.2  # sample amplitudes


def _kit(folder: Path) -> Path:
    """A tiny drumkit: constant-valued samples (so levels read exactly), one of them stereo."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, value, frames, channels in (("soft.wav", SOFT, 200, 1), ("hard.wav", HARD, 200, 1),
                                          ("hat.wav", HAT, 100, 2), ("open.wav", OPEN, 4000, 1)):
        audio = np.full((frames, channels), value, np.float32)
        if channels == 2:
            audio[:, 1] *= 0.5  # a stereo sample: the right channel at half
        sf.write(folder / name, audio, RATE, subtype="FLOAT")
    return folder


def _layer(file: str, low: float, high: float, gain: float = 1.0) -> str:
    return (f"<layer><filename>{file}</filename><min>{low}</min><max>{high}</max><gain>{gain}</gain>"
            "<pitch>0</pitch></layer>")


def _instrument(id_: int, name: str, volume: float, pan: float, layers: str, *, gain: float = 1.0,
                muted: bool = False, mute_group: int = -1, release: float = 1000) -> str:
    return (f"<instrument><id>{id_}</id><name>{name}</name><drumkit>TinyKit</drumkit><volume>{volume}</volume>"
            f"<isMuted>{str(muted).lower()}</isMuted><pan>{pan}</pan><gain>{gain}</gain>"
            "<applyVelocity>true</applyVelocity><FX1Level>0</FX1Level><Release>"
            f"{release}</Release><pitchOffset>0</pitchOffset><muteGroup>{mute_group}</muteGroup>"
            f"<instrumentComponent><component_id>0</component_id><gain>1</gain>{layers}</instrumentComponent>"
            "</instrument>")


def _note(position: int, instrument: int, velocity: float) -> str:
    return (f"<note><position>{position}</position><leadlag>0</leadlag><velocity>{velocity}</velocity><pan>0</pan>"
            f"<pitch>0</pitch><probability>1</probability><key>C0</key><length>-1</length>"
            f"<instrument>{instrument}</instrument><note_off>false</note_off></note>")


def _song(path: Path, *, swing: float = 0.0, notes: str | None = None, law: str = "RATIO_STRAIGHT_POLYGONAL") -> Path:
    """A Hydrogen 1.2 song over the tiny kit, two bars of one pattern: kick (fader 0.5, centre, a soft and a hard
    layer, gain 2 on the hard one), closed hat (fader 1, pan -0.5, stereo sample), a crash the author muted, and
    an open hat sharing the closed hat's mute group."""
    instruments = (
        _instrument(0, "Kick", 0.5, 0, _layer("soft.wav", 0, 0.5) + _layer("hard.wav", 0.5, 1, gain=2.0), gain=0.8)
        + _instrument(1, "Hat Closed", 1.0, -0.5, _layer("hat.wav", 0, 1), mute_group=1)
        + _instrument(2, "Crash", 1.0, 0, _layer("hard.wav", 0, 1), muted=True)
        + _instrument(3, "Hat Open", 0.8, 0.25, _layer("open.wav", 0, 1), mute_group=1, release=1000))
    if notes is None:
        notes = (_note(0, 0, 0.3) + _note(96, 0, 0.9) + _note(12, 1, 1.0) + _note(24, 1, 0.5) + _note(0, 2, 1.0)
                 + _note(144, 3, 1.0) + _note(150, 1, 1.0))
    path.write_text(
        f"<?xml version='1.0' encoding='UTF-8'?><song><version>1.2.0</version><bpm>120</bpm><volume>0.7</volume>"
        f"<name>Tiny</name><author>test</author><license>CC0</license><mode>song</mode>"
        f"<pan_law_type>{law}</pan_law_type><pan_law_k_norm>1.33333</pan_law_k_norm>"
        f"<humanize_time>0.2</humanize_time><humanize_velocity>0</humanize_velocity><swing_factor>{swing}</swing_factor>"
        "<componentList><drumkitComponent><id>0</id><name>Main</name><volume>1</volume></drumkitComponent>"
        f"</componentList><instrumentList>{instruments}</instrumentList>"
        f"<patternList><pattern><name>a</name><size>192</size><denominator>4</denominator><noteList>{notes}"
        "</noteList></pattern></patternList><virtualPatternList/><patternSequence><group><patternID>a</patternID>"
        "</group><group><patternID>a</patternID></group></patternSequence><ladspa/><BPMTimeLine/></song>")
    return path


@pytest.fixture
def tiny(tmp_path) -> Path:
    """A folder holding the tiny song next to its kit's samples (as Hydrogen's kit demos sit in the kit)."""
    folder = _kit(tmp_path / "songs")
    return _song(folder / "tiny.h2song")


def test_notes_land_on_their_ticks_with_swing_on_the_offbeat_sixteenths(tmp_path):
    song = h2.read_song(_song(_kit(tmp_path) / "swung.h2song", swing=0.5))
    ticks = sorted((h.tick, h.instrument) for h in song.hits)
    assert song.length_ticks == 2 * 192 and song.tick_seconds * RATE == pytest.approx(TICK)
    # bar 2 repeats bar 1 192 ticks later; the hat at tick 12 (an off-beat 16th) is late by half a 32nd note
    assert (12 + 0.5 * 6, "1") in ticks and (192 + 12 + 3, "1") in ticks and (24, "1") in ticks
    assert (96, "0") in ticks and (150, "1") in ticks  # 96 and 150 are not off-beat 16ths: on time
    assert song.ignored["humanize_time"] == 0.2 and "humanize_velocity" not in song.ignored


def test_velocity_picks_the_layer_and_scales_it_and_each_hit_starts_on_its_frame(tiny):
    song = h2.read_song(tiny)
    frames, tracks = h2.render_tracks(song, None, RATE)
    dry, _, notes = tracks["0"]
    assert notes == 4 and dry.shape == (2, frames)
    # tick 0, velocity 0.3: the soft layer x velocity x instrument gain 0.8, for the sample's 200 frames
    np.testing.assert_allclose(dry[:, :200], SOFT * 0.3 * 0.8, rtol=1e-6)
    assert not dry[:, 200:96 * TICK].any()
    # tick 96, velocity 0.9: the hard layer with its gain 2, starting exactly on frame 96 * 500
    start = 96 * TICK
    assert not dry[:, start - 1].any()
    np.testing.assert_allclose(dry[:, start:start + 200], HARD * 2.0 * 0.9 * 0.8, rtol=1e-6)
    np.testing.assert_allclose(dry[:, (192 + 96) * TICK], HARD * 2.0 * 0.9 * 0.8, rtol=1e-6)  # bar 2
    assert "2" not in tracks  # the muted crash is left out
    assert frames == 2 * 192 * TICK  # the song's length: every sample has ended by then


def test_wet_is_dry_times_the_fader_and_the_pan_law(tiny):
    song = h2.read_song(tiny)
    _, tracks = h2.render_tracks(song, None, RATE)
    kick_dry, kick_wet, _ = tracks["0"]
    np.testing.assert_allclose(kick_wet, kick_dry * 0.5, rtol=1e-6)  # fader 0.5, centred
    hat_dry, hat_wet, _ = tracks["1"]
    np.testing.assert_allclose(hat_wet, hat_dry * np.array([[1.0], [0.5]], np.float32), rtol=1e-6)  # pan -0.5
    first = round(12 * TICK)
    np.testing.assert_allclose(hat_dry[:, first], [HAT, HAT * 0.5], rtol=1e-6)  # the stereo sample kept as it is


def test_a_mute_group_releases_the_open_hat_when_the_closed_hat_plays(tiny):
    song = h2.read_song(tiny)
    _, tracks = h2.render_tracks(song, None, RATE)
    open_dry = tracks["3"][0]
    start, cut = 144 * TICK, 150 * TICK  # the open hat's 4000-frame sample is cut 3000 frames in
    assert open_dry[0, start + 10] == pytest.approx(OPEN)
    assert open_dry[0, cut + 500] == pytest.approx(OPEN * 0.5, rel=1e-3)  # half way through the 1000-frame release
    assert not open_dry[:, cut + 1000:start + 4000].any()


@pytest.mark.parametrize(("law", "pan", "gains"), [
    ("RATIO_STRAIGHT_POLYGONAL", -0.5, (1.0, 0.5)),
    ("RATIO_STRAIGHT_POLYGONAL", 0.25, (0.75, 1.0)),
    ("RATIO_CONST_POWER", 0.0, (math.sqrt(0.5), math.sqrt(0.5))),
    ("RATIO_CONST_SUM", -1.0, (1.0, 0.0)),
    ("LINEAR_CONST_SUM", 0.5, (0.25, 0.75)),
    ("POLAR_CONST_POWER", 0.5, (math.cos(3 * math.pi / 8), math.sin(3 * math.pi / 8))),
    ("QUADRATIC_CONST_POWER", 0.5, (math.sqrt(0.25), math.sqrt(0.75))),
    ("LINEAR_STRAIGHT_POLYGONAL", 0.5, (1 / 3, 1.0)),
])
def test_pan_laws(law, pan, gains):
    assert h2.pan_gains(pan, law) == pytest.approx(gains, abs=1e-9)


def test_the_k_norm_law_with_k_2_is_the_constant_power_law():
    for pan in (-0.7, 0.0, 0.3):
        assert h2.pan_gains(pan, "POLAR_CONST_K_NORM", 2.0) == pytest.approx(h2.pan_gains(pan, "POLAR_CONST_POWER"))
    with pytest.raises(DatasetError, match="pan law"):
        h2.pan_gains(0.0, "SIDEWAYS")


def test_an_old_song_gives_pan_as_left_and_right_gains(tmp_path):
    _kit(tmp_path)
    (tmp_path / "old.h2song").write_text(
        "<song><version>0.9.3</version><bpm>120</bpm><volume>1</volume><name>Old</name><mode>song</mode>"
        "<instrumentList><instrument><id>0</id><name>Tom Low</name><volume>0.9</volume><isMuted>false</isMuted>"
        "<pan_L>1</pan_L><pan_R>0.4</pan_R><gain>1</gain><Release>1000</Release>"
        f"{_layer('soft.wav', 0, 1)}</instrument></instrumentList><patternList><pattern><name>p</name>"
        "<size>192</size><sequenceList><sequence><noteList><note><position>48</position><velocity>1</velocity>"
        "<pan_L>1</pan_L><pan_R>1</pan_R><pitch>0</pitch><length>-1</length><instrument>0</instrument></note>"
        "</noteList></sequence></sequenceList></pattern></patternList><patternSequence><group>"
        "<patternID>p</patternID></group></patternSequence></song>")
    song = h2.read_song(tmp_path / "old.h2song")
    (tom,) = song.instruments
    assert tom.pan == pytest.approx(-0.6) and tom.pan_raw == {"pan_L": 1.0, "pan_R": 0.4}
    assert [h.tick for h in song.hits] == [48] and song.pan_law == "RATIO_STRAIGHT_POLYGONAL"
    _, tracks = h2.render_tracks(song, None, RATE)
    dry, wet, _ = tracks["0"]
    np.testing.assert_allclose(dry[:, 48 * TICK], [SOFT, SOFT], rtol=1e-6)  # dry: centred, fader 1
    np.testing.assert_allclose(wet[:, 48 * TICK], np.array([1.0, 0.4]) * 0.9 * SOFT, rtol=1e-6)
    declared = h2.declared_settings(tom, song)
    assert declared["gain_db"] == pytest.approx(20 * math.log10(0.9), abs=1e-3) and declared["pan"] == -0.6
    assert declared["level_db"] == pytest.approx(20 * math.log10(0.9) + 10 * math.log10((1 + 0.16) / 2), abs=1e-3)


@pytest.mark.parametrize(("name", "sample", "role"), [
    ("Kick", "", "kick"), ("BassDrum", "", "kick"), ("Stick", "", "snare"), ("Snare Rimshot", "", "snare"),
    ("Hat Pedal", "", "hihat"), ("Closed HH", "", "hihat"), ("Floor Tom", "", "toms"), ("tomhi3", "", "toms"),
    ("Ride 2", "", "overheads_room"), ("crash20inch--2", "", "overheads_room"), ("Bell", "", "overheads_room"),
    ("Cowbell", "", "percussion"), ("Hand Clap", "", "percussion"), ("Clave", "", "percussion"),
    ("redo super opaco", "snare-opaque-2mics_normal-shot1.flac", "snare"), ("19", "", "percussion"),
])
def test_drum_roles_from_instrument_names(name, sample, role):
    assert h2.drum_role(name, sample) == role and role in ROLE_NAMES


def test_unreadable_songs_and_missing_samples_name_the_file_and_the_fix(tmp_path, monkeypatch):
    (tmp_path / "broken.h2song").write_text("<song><bpm>120</bpm>")
    with pytest.raises(DatasetError, match="broken.h2song.*unreadable"):
        h2.read_song(tmp_path / "broken.h2song")
    monkeypatch.setattr(h2, "DRUMKIT_FOLDERS", (tmp_path / "kits",))
    song = h2.read_song(_song(tmp_path / "nokit.h2song"))  # no samples beside it, no kit installed
    with pytest.raises(DatasetError, match="soft.wav.*TinyKit.*hydrogen-data"):
        h2.render_tracks(song, None, RATE)


def test_the_people_corpus_renders_a_hydrogen_song(tiny, tmp_path, monkeypatch):
    pytest.importorskip("mido")
    from mixdown.data.synth.people import is_held_out, people_corpus, render_check

    made = people_corpus(tmp_path / "out", [tiny.parent], seconds=None, sample_rate=RATE)
    assert [s["song"] for s in made] == ["h2_tiny"]
    folder = tmp_path / "out" / "h2_tiny"
    meta = json.loads((folder / "metadata.json").read_text())
    index = json.loads((tmp_path / "out" / "corpus.json").read_text())
    assert index["songs"][0]["split"] == meta["split"] == ("held_out" if is_held_out("h2_tiny") else "train")
    assert index["soundfont"] is None  # no MIDI song: fluidsynth is not needed
    stems = {e["stem"]: e for e in meta["stems"]}
    assert set(stems) == {"kick", "hat_closed", "hat_open"} and meta["muted"] == ["Crash"]
    assert [stems[s]["role"] for s in ("kick", "hat_closed", "hat_open")] == ["kick", "hihat", "hihat"]
    assert stems["kick"]["declared"]["gain_db"] == pytest.approx(20 * math.log10(0.5), abs=1e-3)
    assert stems["hat_closed"]["declared"]["pan"] == -0.5 and stems["kick"]["notes"] == 4
    assert meta["master_volume"] == 0.7 and meta["ignored"] == {"humanize_time": 0.2}
    wets = []
    for name, entry in stems.items():
        dry, _ = sf.read(folder / "dry" / f"{name}.wav", always_2d=True, dtype="float32")
        wet, rate = sf.read(folder / "wet" / f"{name}.wav", always_2d=True, dtype="float32")
        wets.append(wet)
        assert rate == RATE
        check, declared = entry["render_check"], entry["declared"]
        assert check["correlation"] == pytest.approx(1.0, abs=1e-6)
        assert check["level_db"] == pytest.approx(declared["level_db"], abs=0.05)
        assert check["pan"] == pytest.approx(declared["pan_polar"], abs=1e-3)
        assert render_check(dry.T, wet.T)["level_db"] == pytest.approx(check["level_db"], abs=0.01)
    mix, _ = sf.read(folder / "mix.wav", always_2d=True, dtype="float32")
    np.testing.assert_allclose(mix, np.sum(wets, axis=0), atol=1e-6)  # the author's mix: the wet stems summed
    peak = max(np.abs(a).max() for a in [mix, *wets])
    assert 20 * math.log10(peak) <= -1.0 + 1e-3
    monkeypatch.setattr(h2, "DEMO_FOLDER", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="hydrogen-data"):
        people_corpus(tmp_path / "out2", ["hydrogen"])


@pytest.mark.skipif(not (h2.DEMO_FOLDER / "TR808kit-demo.h2song").is_file(),
                    reason="hydrogen-data is not installed (bash scripts/install_system_deps.sh)")
def test_a_real_demo_song_renders_its_drum_tracks():
    song = h2.read_song(h2.DEMO_FOLDER / "TR808kit-demo.h2song")
    assert song.bpm == 125 and song.kits == ["TR808EmulationKit"] and song.pan_law == "RATIO_STRAIGHT_POLYGONAL"
    frames, tracks = h2.render_tracks(song, 8.0, 44100)
    assert frames == 8 * 44100
    names = {i.id: i for i in song.instruments}
    roles = {h2.drum_role(names[k].name) for k in tracks}
    assert {"kick", "snare", "hihat"} <= roles
    tom_low = next(i for i in song.instruments if i.name == "Tom Low")
    assert tom_low.pan == pytest.approx(-0.48) and h2.song_licence(song.path).startswith("GPL-2+")
    for key, (dry, wet, notes) in tracks.items():
        assert notes > 0 and np.abs(dry).max() > 1e-3, names[key].name
        left, right = h2.pan_gains(names[key].pan, song.pan_law)
        np.testing.assert_allclose(wet, dry * np.array([[left], [right]], np.float32) * names[key].volume,
                                   rtol=1e-5, atol=1e-7)
