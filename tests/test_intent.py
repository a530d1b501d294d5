"""The mixing intent file and the loudness targets: every field read from YAML and JSON, round trips, defaults,
aliases, and each kind of error naming the file, the key path and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mixdown.analysis.roles import ROLE_NAMES
from mixdown.errors import ParameterError
from mixdown.mastering import TARGETS, LoudnessTarget, loudness_target
from mixdown.methods import GENRES, Intent, TrackIntent, load_intent

BAND_YAML = """\
# a band, as in docs/intent.md
genre: Rock
target: apple
reference: refs/their_mix.wav
tracks:
  Kick In: {role: kick, subgroup: drums}
  Snare: {subgroup: drums, reverb: low}
  OH L: {pan: left, subgroup: drums}
  OH R: {pan: right, subgroup: drums}
  Bass DI: {role: bass, pan: center}
  Gtr L: {pan: left, priority: background}
  Gtr R: {pan: right, priority: background}
  Vox Ld: {role: lead vocal, priority: lead, pan: centre, reverb: medium}
  BV: {keep: true, subgroup: vocals}
"""
BAND = ["Kick In", "Snare", "OH L", "OH R", "Bass DI", "Gtr L", "Gtr R", "Vox Ld", "BV"]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors(data, source="song/intent.yaml") -> str:
    with pytest.raises(ParameterError) as info:
        Intent.from_dict(data, source=source)
    return str(info.value)


# --- reading ---------------------------------------------------------------------------------------------------


def check_band(intent: Intent, folder: Path) -> None:
    assert intent.genre == "rock"
    assert intent.target is TARGETS["apple"]
    assert intent.reference == folder.absolute() / "refs" / "their_mix.wav"
    assert list(intent.tracks) == BAND
    assert intent.tracks["Kick In"] == TrackIntent(role="kick", subgroup="drums")
    assert intent.tracks["Snare"] == TrackIntent(reverb="low", subgroup="drums")
    assert (intent.tracks["OH L"].pan, intent.tracks["OH R"].pan) == ("left", "right")
    assert intent.tracks["Bass DI"] == TrackIntent(role="bass", pan="centre")
    assert intent.tracks["Gtr R"] == TrackIntent(priority="background", pan="right")
    assert intent.tracks["Vox Ld"] == TrackIntent(role="lead_vocal", priority="lead", pan="centre", reverb="medium")
    assert intent.tracks["BV"] == TrackIntent(keep=True, subgroup="vocals")
    assert intent.source.endswith("intent.yaml") or intent.source.endswith("intent.json")
    intent.check_tracks(BAND + ["Room"])


def test_load_yaml_reads_every_field(tmp_path):
    check_band(load_intent(write(tmp_path, "intent.yaml", BAND_YAML)), tmp_path)


def test_load_json_reads_every_field(tmp_path):
    data = yaml.safe_load(BAND_YAML)
    check_band(load_intent(write(tmp_path, "intent.json", json.dumps(data))), tmp_path)


def test_yml_suffix_and_absolute_reference(tmp_path):
    ref = tmp_path / "elsewhere" / "ref.flac"
    intent = load_intent(write(tmp_path, "mix.YML", f"reference: {ref}\n"))
    assert intent.reference == ref


def test_round_trip_through_dict_yaml_and_json(tmp_path):
    intent = load_intent(write(tmp_path, "intent.yaml", BAND_YAML))
    data = intent.to_dict()
    assert Intent.from_dict(data) == intent
    assert Intent.from_dict(yaml.safe_load(yaml.safe_dump(data))) == intent
    assert load_intent(write(tmp_path, "again.json", json.dumps(data))) == intent
    assert data["tracks"]["BV"] == {"keep": True, "subgroup": "vocals"}  # only what differs from the defaults
    assert data["target"] == "apple"


@pytest.mark.parametrize("target", [TARGETS["cd"], TARGETS["none"], loudness_target(-12.5),
                                    LoudnessTarget("custom", -18.0, -2.0, "custom: -18 LUFS integrated, -2 dBTP ceiling"),
                                    LoudnessTarget("custom", None, -3.0, "custom: level kept, -3 dBTP ceiling")])
def test_round_trip_of_every_kind_of_target(target):
    intent = Intent(target=target, tracks={"Pad": TrackIntent()})
    assert Intent.from_dict(json.loads(json.dumps(intent.to_dict()))) == intent


def test_defaults():
    for intent in (Intent(), Intent.from_dict({}), Intent.from_dict(None), Intent.from_dict({"tracks": None})):
        assert (intent.genre, intent.target, intent.reference, intent.tracks) == (None, TARGETS["spotify"], None, {})
    track = Intent.from_dict({"tracks": {"Vox": None}}).tracks["Vox"]
    assert track == TrackIntent() == TrackIntent(None, "normal", "any", None, False, None)
    intent = Intent.from_dict({"tracks": {"Vox": {"priority": "lead"}}})
    assert intent.for_track("Vox").priority == "lead"
    assert intent.for_track("Bass") == TrackIntent()
    intent.for_track("Bass").priority = "lead"  # a fresh default each time, not a shared one
    assert intent.for_track("Bass").priority == "normal"


def test_comment_only_file_is_all_defaults(tmp_path):
    assert load_intent(write(tmp_path, "intent.yaml", "# genre: rock\n")) == Intent()


def test_relative_reference_without_a_folder_stays_relative():
    assert Intent.from_dict({"reference": "ref.wav"}).reference == Path("ref.wav")


@pytest.mark.parametrize("written, genre", [("hip-hop", "hiphop"), ("Hip Hop", "hiphop"), ("rap", "hiphop"),
                                            ("EDM", "electronic"), ("r&b", "rnb"), ("R'n'B", "rnb"),
                                            ("heavy metal", "metal"), ("Jazz", "jazz"), (None, None)])
def test_genre_aliases(written, genre):
    assert Intent.from_dict({"genre": written}).genre == genre


def test_value_aliases_and_case():
    track = Intent.from_dict({"tracks": {"V": {"pan": "Center", "priority": "LEAD", "role": "Lead-Vocal",
                                                 "reverb": "High"}}}).tracks["V"]
    assert (track.pan, track.priority, track.role, track.reverb) == ("centre", "lead", "lead_vocal", "high")
    assert TrackIntent(pan="center").pan == "centre"
    assert Intent(genre="EDM", target="broadcast").target is TARGETS["broadcast"]
    assert set(GENRES) >= {"pop", "rock", "hiphop", "rnb", "electronic", "ambient"}
    for role in ROLE_NAMES:
        assert TrackIntent(role=role).role == role


# --- loudness targets ------------------------------------------------------------------------------------------


def test_target_presets():
    expected = {"spotify": (-14, -1), "apple": (-16, -1), "youtube": (-14, -1), "cd": (-9, -0.3),
                "broadcast": (-23, -1), "none": (None, -1)}
    assert {n: (t.integrated_lufs, t.true_peak_db) for n, t in TARGETS.items()} == expected
    for name in expected:
        assert loudness_target(name.upper()) is TARGETS[name]
        assert TARGETS[name].name == name and TARGETS[name].description
    with pytest.raises(AttributeError):
        TARGETS["cd"].integrated_lufs = -6  # frozen


@pytest.mark.parametrize("value", [-12, -12.0, "-12", -40, -5])
def test_numeric_targets(value):
    target = loudness_target(value)
    assert target.integrated_lufs == float(value) and target.true_peak_db == -1.0
    assert target.name == f"{float(value):g} LUFS"


@pytest.mark.parametrize("value", [-4.9, -41, 0, float("nan"), "tidal", True, None, [-14]])
def test_bad_targets_list_the_presets(value):
    with pytest.raises(ParameterError) as info:
        loudness_target(value)
    message = str(info.value)
    assert "spotify, apple, youtube, cd, broadcast, none" in message and "-40 to -5" in message and "fix:" in message


def test_targets_in_the_file(tmp_path):
    assert load_intent(write(tmp_path, "a.yaml", "target: -12\n")).target.integrated_lufs == -12.0
    assert load_intent(write(tmp_path, "b.yaml", "target: Spotify\n")).target is TARGETS["spotify"]
    target = load_intent(write(tmp_path, "c.yaml", "target: {integrated_lufs: -10, true_peak_db: -0.5}\n")).target
    assert (target.integrated_lufs, target.true_peak_db) == (-10.0, -0.5)
    message = errors({"target": -3})
    assert message.startswith("song/intent.yaml: target: expected a preset") and "found -3 (a number)" in message
    assert "fix: write target: spotify" in errors({"target": "spotfy"})
    assert "target.integrated_lufs: expected a number from -40 to -5 LUFS, found 2" in errors({"target": {"integrated_lufs": 2}})
    assert "target.true_peak_db: expected a number from -10 to 0 dBTP" in errors({"target": {"integrated_lufs": -14, "true_peak_db": 1}})
    assert "target.integrated_lufs" in errors({"target": {"true_peak_db": -1}})


# --- errors ----------------------------------------------------------------------------------------------------


def test_unknown_keys_get_a_suggestion(tmp_path):
    path = write(tmp_path, "intent.yaml", "tracks:\n  Vox Ld:\n    priorty: lead\n")
    with pytest.raises(ParameterError) as info:
        load_intent(path)
    message = str(info.value)
    assert message.startswith(f"{path}: tracks.\"Vox Ld\".priorty: expected one of the keys role, priority")
    assert "did you mean 'priority'?" in message and "fix: rename it to priority" in message
    message = errors({"Genre": "rock"})
    assert message.startswith("song/intent.yaml: Genre:") and "did you mean 'genre'?" in message
    message = errors({"tempo": 120})
    assert "unknown key 'tempo'" in message and "did you mean" not in message and "fix: remove it" in message


@pytest.mark.parametrize("key, value, allowed", [
    ("priority", "leed", "lead, normal, background"),
    ("pan", "middle", "left, centre, right, any"),
    ("reverb", "lots", "none, low, medium, high"),
])
def test_bad_values_list_the_allowed_ones(key, value, allowed):
    message = errors({"tracks": {"Vox Ld": {key: value}}})
    assert message.startswith(f'song/intent.yaml: tracks."Vox Ld".{key}: expected one of {allowed}, found {value!r}')
    assert "fix:" in message


def test_bad_value_suggestion_and_bad_genre():
    assert "found 'leed' (did you mean 'lead'?)" in errors({"tracks": {"V": {"priority": "leed"}}})
    message = errors({"genre": "polka"})
    assert message.startswith("song/intent.yaml: genre: expected one of pop, rock") and "'polka'" in message


def test_bad_role_lists_the_roles():
    message = errors({"tracks": {"Vox Ld": {"role": "singer"}}})
    assert message.startswith('song/intent.yaml: tracks."Vox Ld".role: expected one of lead_vocal, backing_vocal')
    assert all(role in message for role in ROLE_NAMES) and "'singer'" in message and "fix:" in message


@pytest.mark.parametrize("data, path, found", [
    ({"tracks": {"V": {"keep": "yes"}}}, 'tracks."V".keep', "'yes' (text)"),
    ({"tracks": {"V": {"reverb": False}}}, 'tracks."V".reverb', "False (true/false)"),
    ({"tracks": {"V": {"priority": 2}}}, 'tracks."V".priority', "2 (a number)"),
    ({"tracks": {"V": {"subgroup": ["a"]}}}, 'tracks."V".subgroup', "['a'] (a list)"),
    ({"tracks": {"V": "lead"}}, 'tracks."V"', "'lead' (text)"),
    ({"tracks": ["V"]}, "tracks", "['V'] (a list)"),
    ({"tracks": {1: {}}}, "tracks", "1 (a number)"),
    ({"genre": 3}, "genre", "3 (a number)"),
    ({"reference": 3}, "reference", "3 (a number)"),
    (["genre"], "top level", "['genre'] (a list)"),
])
def test_wrong_types_are_named(data, path, found):
    message = errors(data)
    assert message.startswith(f"song/intent.yaml: {path}: expected ") and f"found {found}" in message


def test_yaml_booleans_for_words_get_a_hint(tmp_path):
    path = write(tmp_path, "intent.yaml", "tracks:\n  Gtr:\n    reverb: no\n")
    with pytest.raises(ParameterError, match=r'tracks\."Gtr"\.reverb: .*YAML reads yes/no/on/off as true/false'):
        load_intent(path)


def test_keep_with_processing_settings_is_refused():
    message = errors({"tracks": {"BV": {"keep": True, "priority": "lead", "pan": "left"}}})
    assert message.startswith('song/intent.yaml: tracks."BV".keep: expected no priority, pan or reverb on a kept track')
    assert "found priority: lead, pan: left" in message and "fix: remove them, or set keep: false" in message
    with pytest.raises(ParameterError, match="TrackIntent: keep"):
        TrackIntent(keep=True, reverb="high")


def test_subgroup_master_is_refused():
    assert 'tracks."V".subgroup: expected a bus name other than' in errors({"tracks": {"V": {"subgroup": "Master"}}})


def test_direct_construction_is_validated():
    with pytest.raises(ParameterError, match="TrackIntent: priority: expected one of lead, normal, background"):
        TrackIntent(priority="loud")
    with pytest.raises(ParameterError, match="intent: genre: expected one of"):
        Intent(genre="polka")
    with pytest.raises(ParameterError, match="intent: tracks: expected a dict"):
        Intent(tracks={"V": {"priority": "lead"}})


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ParameterError) as info:
        load_intent(path)
    assert str(info.value) == f"{path}: expected a readable intent file, found No such file or directory; fix: check the path"


def test_wrong_suffix(tmp_path):
    with pytest.raises(ParameterError, match=r"intent\.txt: expected an intent file ending in \.yaml, \.yml, \.json"):
        load_intent(write(tmp_path, "intent.txt", "genre: rock\n"))


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "intent.yaml", "genre: rock\ntracks:\n  Vox Ld: {priority: lead\n")
    with pytest.raises(ParameterError) as info:
        load_intent(path)
    message = str(info.value)
    assert message.startswith(f"{path}: expected valid YAML, found an error at line ") and "fix:" in message


def test_duplicate_keys_are_refused(tmp_path):
    path = write(tmp_path, "intent.yaml", "tracks:\n  Gtr: {pan: left}\n  Gtr: {pan: right}\n")
    with pytest.raises(ParameterError, match=r"intent\.yaml: expected valid YAML, found an error at line 3.*'Gtr' appears twice"):
        load_intent(path)
    path = write(tmp_path, "intent.json", '{"genre": "rock", "genre": "pop"}')
    with pytest.raises(ParameterError, match=r"intent\.json: expected unique keys, found 'genre' twice"):
        load_intent(path)


def test_invalid_json_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "intent.json", '{"genre": "rock",\n "tracks": }')
    with pytest.raises(ParameterError, match=r"intent\.json: expected valid JSON, found an error at line 2, column"):
        load_intent(path)


def test_check_tracks_names_unknown_tracks_with_close_matches(tmp_path):
    intent = load_intent(write(tmp_path, "intent.yaml", "tracks:\n  Vox Lead: {priority: lead}\n  Tuba: {}\n"))
    with pytest.raises(ParameterError) as info:
        intent.check_tracks(BAND)
    first, second = str(info.value).splitlines()
    assert first.startswith(f'{tmp_path / "intent.yaml"}: tracks."Vox Lead": expected the name of a track in the session')
    assert "found no track named 'Vox Lead' (did you mean 'Vox Ld'?)" in first
    assert first.endswith("fix: use a track name (file stem) of the session: " + ", ".join(BAND))
    assert "no track named 'Tuba'; fix:" in second
    assert intent.check_tracks(["Vox Lead", "Tuba"]) is None
