"""The bad-input corpus, recipe side: recipes handed to ``render``, mixes to ``compare`` and intents to ``mix``
(see tests/bad_input.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.bad_input import RATE, Case, band, run_case, stem, tone

# --- recipes ---------------------------------------------------------------------------------------------------


def _good_recipe(sources=("stems/kick.wav", "stems/bass.wav")) -> dict:
    return {"schema": "mixdown.recipe", "version": 1,
            "tracks": [{"name": Path(s).stem or f"t{i}", "source": s,
                        "chain": [{"type": "gain", "params": {"gain_db": -6.0}}]} for i, s in enumerate(sources)],
            "master": {"chain": []}}


def _recipe_case(content, stems: bool = True, extra: tuple[str, ...] = ()):
    """``make`` for a case: ``in/stems`` (kick, bass), ``in/recipe.json`` holding ``content`` (a dict is dumped
    as JSON, str / bytes written as they are), and ``render in/recipe.json -o out/mix.wav``."""

    def make(folder: Path) -> list[str]:
        inputs = folder / "in"
        inputs.mkdir(parents=True)
        if stems:
            band(inputs / "stems", 2)
        data = content(folder) if callable(content) else content
        path = inputs / "recipe.json"
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
        return ["render", str(path), "-o", str(folder / "out" / "mix.wav"), *extra]

    return make


def _edit(change) -> dict:
    data = _good_recipe()
    change(data)
    return data


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _huge_recipe(folder: Path) -> list[str]:
    inputs = folder / "in"
    inputs.mkdir(parents=True)
    path = inputs / "recipe.json"
    with open(path, "wb") as f:  # sparse: the size is read before any byte
        f.truncate((64 << 20) + 1)
    return ["render", str(path), "-o", str(folder / "out" / "mix.wav")]


def _recipe_is_a_folder(folder: Path) -> list[str]:
    (folder / "in" / "recipe.json").mkdir(parents=True)
    return ["render", str(folder / "in" / "recipe.json"), "-o", str(folder / "out" / "mix.wav")]


def _source_is(source: str | None, setup=None):
    """A good recipe whose first track's source is ``source`` (``setup(folder)`` makes what it names)."""

    def content(folder: Path):
        if setup is not None:
            setup(folder)
        data = _good_recipe()
        if source is None:
            del data["tracks"][0]["source"]
        else:
            data["tracks"][0]["source"] = source.replace("{folder}", str(folder))
        return data

    return content


def _sibling_stems(folder: Path):
    """The layout ``Recipe.save`` writes for an edited copy: ``in/edits/recipe.json`` naming ``../stems/...``."""
    inputs = folder / "in"
    band(inputs / "stems", 2)
    (inputs / "edits").mkdir()
    path = inputs / "edits" / "recipe.json"
    path.write_text(json.dumps(_good_recipe(("../stems/kick.wav", "../stems/bass.wav"))))
    return ["render", str(path), "-o", str(folder / "out" / "mix.wav")]


def _output_under_a_file(folder: Path):
    args = _recipe_case(_good_recipe())(folder)
    (folder / "in" / "notes.txt").write_text("a file, not a folder")
    return [*args[:-1], str(folder / "in" / "notes.txt" / "mix.wav")]


def _output_under_a_file_remaster(folder: Path):
    return [*_output_under_a_file(folder), "--remaster"]


def _output_is_a_source(folder: Path):
    args = _recipe_case(_good_recipe())(folder)
    return [*args[:-1], str(folder / "in" / "stems" / "kick.wav")]


def _output_is_a_link_loop(folder: Path):
    args = _recipe_case(_good_recipe())(folder)
    (folder / "out").mkdir()
    (folder / "out" / "mix.wav").symlink_to(folder / "out" / "mix.wav")
    return args


def _remaster_over_the_input_recipe(folder: Path):
    _recipe_case(_good_recipe())(folder)
    recipe = folder / "in" / "recipe.json"
    moved = recipe.with_name("mix.recipe.json")  # the recipe --remaster writes beside mix.wav
    recipe.rename(moved)
    return ["render", str(moved), "-o", str(folder / "in" / "mix.wav"), "--remaster"]


def _lufs(path: Path) -> float:
    import pyloudnorm

    audio, rate = sf.read(path, always_2d=True)
    return pyloudnorm.Meter(rate).integrated_loudness(audio)


def _remastered_with_amounts(folder: Path, output: str) -> None:
    from mixdown.console import Recipe

    written = Recipe.load(folder / "out" / "mix.recipe.json")
    assert written.notes["amounts"] == {"eq": 0.0, "dynamics": 0.5}, written.notes
    assert written.tracks[0].chain[1].params["peak1_gain_db"] == 0.0  # the amount is in the recipe written
    assert abs(_lufs(folder / "out" / "mix.wav") + 14.0) < 0.3, _lufs(folder / "out" / "mix.wav")


def _eq_recipe() -> dict:
    data = _good_recipe()
    for t in data["tracks"]:
        t["chain"] += [{"type": "parametric_eq", "params": {"peak1_gain_db": 9.0, "peak1_freq_hz": 200.0}},
                       {"type": "compressor", "params": {"threshold_db": -30.0, "ratio": 8.0}}]
    data["master"]["chain"] = [{"type": "gain", "params": {"gain_db": 3.0}}, {"type": "limiter", "params": {}}]
    data["notes"] = {"target": "spotify"}
    return data


def _symlink_loop(folder: Path) -> None:
    (folder / "in" / "stems" / "loop.wav").symlink_to("loop.wav")


def _deep_notes(folder: Path) -> dict:
    data = _good_recipe()
    notes: dict = {}
    inner = notes
    for _ in range(500):  # parses (JSON's limit is ~1000), but copying or saving it would recurse too deep
        inner["n"] = {}
        inner = inner["n"]
    data["notes"] = notes
    return data


def _two_tracks_one_file() -> dict:
    data = _good_recipe(("stems/kick.wav", "stems/kick.wav"))
    data["tracks"][1]["name"] = "kick copy"
    return data


RECIPES = [
    Case("recipe: malformed JSON", _recipe_case('{"tracks": [}'), 2, r"recipe\.json: not valid JSON \(line 1.*fix",
         absent=("out/mix.wav",)),
    Case("recipe: empty file", _recipe_case(""), 2, r"recipe\.json: not valid JSON.*fix", absent=("out/mix.wav",)),
    Case("recipe: not UTF-8", _recipe_case(b'{"tracks": "\xff"}'), 2, r"recipe\.json: expected UTF-8.*fix"),
    Case("recipe: over 64 MB", _huge_recipe, 2, r"recipe\.json: expected a recipe of at most 64 MB.*fix",
         absent=("out/mix.wav",)),
    Case("recipe: a folder", _recipe_is_a_folder, 2, r"recipe\.json: expected a recipe file, found a folder.*fix"),
    Case("recipe: 100,000 nested brackets", _recipe_case(_deep(100_000)), 2,
         r"recipe\.json: expected a recipe, found JSON nested too deeply.*fix"),
    Case("recipe: notes nested 500 deep (with --amount)", _recipe_case(_deep_notes, extra=("--amount", "eq=0.5")), 2,
         r"recipe\.json: notes.*nested.*deep.*fix", absent=("out/mix.wav",)),
    Case("recipe: a JSON array", _recipe_case("[1, 2]"), 2,
         r"recipe\.json: recipe: expected an object.*found a list.*fix"),
    Case("recipe: a JSON string", _recipe_case('"tracks"'), 2,
         r"recipe\.json: recipe: expected an object.*found text.*fix"),
    Case("recipe: version 2", _recipe_case(_edit(lambda d: d.update(version=2))), 2,
         r"recipe\.json: version: expected 1 .*found 2; fix"),
    Case("recipe: another schema", _recipe_case(_edit(lambda d: d.update(schema="daw.session"))), 2,
         r"recipe\.json: schema: expected 'mixdown\.recipe'.*fix"),
    Case("recipe: unknown processor", _recipe_case(_edit(lambda d: d["tracks"][0]["chain"].append(
        {"type": "fuzzbox"}))), 2, r"tracks\[0\]\.chain\[1\]\.type: expected one of compressor, delay.*widener, "
        r"found 'fuzzbox'; fix"),
    Case("recipe: NaN parameter", _recipe_case('{"tracks": [{"name": "kick", "source": "stems/kick.wav", "chain": '
                                               '[{"type": "gain", "params": {"gain_db": NaN}}]}]}'), 2,
         r"tracks\[0\]\.chain\[0\]\.params\.gain_db: expected a finite number, found NaN; fix"),
    Case("recipe: Infinity send level", _recipe_case('{"tracks": [{"name": "kick", "source": "stems/kick.wav", '
                                                     '"sends": [{"to": "r", "level_db": -Infinity}]}], '
                                                     '"returns": [{"name": "r"}]}'), 2,
         r"tracks\[0\]\.sends\[0\]\.level_db: expected a finite number, found -Infinity; fix"),
    Case("recipe: NaN in notes", _recipe_case('{"tracks": [{"name": "kick", "source": "stems/kick.wav"}], '
                                              '"notes": {"target_lufs": NaN}}'), 2,
         r"notes\.target_lufs: expected a finite number, found NaN; fix"),
    Case("recipe: huge parameter", _recipe_case(_edit(lambda d: d["tracks"][0]["chain"][0]["params"].update(
        gain_db=1e308))), 2, r"tracks\[0\]\.chain\[0\]\.params\.gain_db: .*expected -60.0 to 24.0 dB.*fix"),
    Case("recipe: negative attack", _recipe_case(_edit(lambda d: d["tracks"][0]["chain"].append(
        {"type": "compressor", "params": {"attack_ms": -5}}))), 2,
         r"tracks\[0\]\.chain\[1\]\.params\.attack_ms: .*found -5.*fix"),
    Case("recipe: a number as text", _recipe_case(_edit(lambda d: d["tracks"][0]["chain"][0]["params"].update(
        gain_db="-6"))), 2, r"tracks\[0\]\.chain\[0\]\.params\.gain_db: expected a number.*found '-6'.*fix"),
    Case("recipe: tracks not a list", _recipe_case(_edit(lambda d: d.update(tracks={"kick": {}}))), 2,
         r"tracks: expected a list, found an object.*fix"),
    Case("recipe: a reason that is not text", _recipe_case(_edit(lambda d: d["tracks"][0]["chain"][0].update(
        reason=["why"]))), 2, r"tracks\[0\]\.chain\[0\]\.reason: expected text.*fix"),
    Case("recipe: sample rate as text", _recipe_case(_edit(lambda d: d.update(sample_rate="44100"))), 2,
         r"sample_rate: expected an integer from 8000 to 384000 Hz, found '44100'.*fix"),
    Case("recipe: duplicate track names", _recipe_case(_edit(lambda d: d["tracks"][1].update(name="kick"))), 2,
         r"tracks\[1\]\.name: expected unique names, found 'kick' twice; fix"),
    Case("recipe: no tracks", _recipe_case(_edit(lambda d: d.update(tracks=[]))), 2,
         r"tracks: expected at least one track.*fix"),
    Case("recipe: route to a missing bus", _recipe_case(_edit(lambda d: d["tracks"][0].update(route="drums"))), 2,
         r"tracks\[0\]\.route: expected 'master' or one of the buses.*found 'drums'; fix"),
    Case("recipe: track without a source", _recipe_case(_source_is(None)), 2,
         r"tracks\[0\]\.source: expected the audio file of track 'kick'.*fix"),
    Case("recipe: source missing", _recipe_case(_source_is("stems/snare.wav")), 2,
         r"recipe\.json: tracks\[0\]\.source 'stems/snare\.wav': expected an audio file, found nothing at .*"
         r"snare\.wav; fix", absent=("out/mix.wav",)),
    Case("recipe: source ../../etc/passwd", _recipe_case(_source_is("../" * 30 + "etc/passwd")), 2,
         r"tracks\[0\]\.source '(\.\./)+\.\.\.': /etc/passwd: expected an audio file libsndfile can decode"
         r".*fix", absent=("out/mix.wav",)),
    Case("recipe: absolute source, not audio", _recipe_case(_source_is("{folder}/in/recipe.json")), 2,
         r"tracks\[0\]\.source .*recipe\.json: expected an audio file libsndfile can decode.*fix"),
    Case("recipe: source is a folder", _recipe_case(_source_is("stems")), 2,
         r"tracks\[0\]\.source 'stems': expected an audio file, found a folder.*fix"),
    Case("recipe: source is a device", _recipe_case(_source_is("/dev/zero")), 2,
         r"tracks\[0\]\.source '/dev/zero': expected an audio file, found a device.*fix"),
    Case("recipe: source is a link to itself", _recipe_case(_source_is("stems/loop.wav", _symlink_loop)), 2,
         r"tracks\[0\]\.source 'stems/loop\.wav': expected an audio file, found a link that leads nowhere.*fix"),
    Case("recipe: source with a NUL byte", _recipe_case(_source_is("stems/kick\u0000.wav")), 2,
         r"tracks\[0\]\.source: expected a file path, found one with a NUL character.*fix"),
    Case("recipe: source path too long", _recipe_case(_source_is("x" * 5000 + ".wav")), 2,
         r"tracks\[0\]\.source 'x+\.\.\.': expected an audio file, found a path the system refuses \(File name "
         r"too long\).*fix"),
    Case("recipe: stems in a sibling folder (allowed)", _sibling_stems, 0, r"wrote .*2 tracks",
         outputs=("out/mix.wav",)),
    Case("recipe: two tracks read one file (allowed)", _recipe_case(_two_tracks_one_file()), 0,
         r"wrote .*2 tracks", outputs=("out/mix.wav",)),
    Case("render -o under a file", _output_under_a_file, 2,
         r"notes\.txt: cannot create the output folder: a file has this name; fix"),
    Case("render --remaster -o under a file", _output_under_a_file_remaster, 2,
         r"notes\.txt: cannot create the output folder: a file has this name; fix", absent=("out",)),
    Case("render -o one of the sources", _output_is_a_source, 2,
         r"kick\.wav: expected an output path, found one of the session's input files.*fix"),
    Case("render -o a link that loops", _output_is_a_link_loop, 2,
         r"mix\.wav: expected a file path, found a link that leads nowhere; fix"),
    Case("render --remaster over the input recipe", _remaster_over_the_input_recipe, 2,
         r"mix\.recipe\.json: expected a new file for the remastered recipe, found the recipe being rendered.*fix",
         absent=("in/mix.wav",)),
    Case("render --remaster --amount", _recipe_case(_eq_recipe(), extra=("--remaster", "--amount",
                                                                         "eq=0,dynamics=0.5")), 0,
         r"wrote .*mix\.wav.*mastered again", outputs=("out/mix.wav", "out/mix.recipe.json"),
         check=_remastered_with_amounts),
    Case("render --amount eq=nan", _recipe_case(_good_recipe(), extra=("--amount", "eq=nan")), 2,
         r"amount eq: expected a number in 0\.\.4.*found nan.*fix"),
]

# --- compare ---------------------------------------------------------------------------------------------------


def _compare_case(mix, reference, *extra: str, subtype: str = "PCM_24"):
    """``compare in/mix.wav in/ref.wav``: each a ``(samples, channels)`` array or a callable of the folder."""

    def make(folder: Path) -> list[str]:
        inputs = folder / "in"
        for name, audio in (("mix.wav", mix), ("ref.wav", reference)):
            stem(inputs, name, audio() if callable(audio) else audio, subtype=subtype)
        return ["compare", str(inputs / "mix.wav"), str(inputs / "ref.wav"), *extra]

    return make


def _music(seconds: float = 3.0, channels: int = 2) -> np.ndarray:
    return np.concatenate([tone(seconds, channels=1, frequency_hz=f, seed=k) for k, f in enumerate((110, 440))][
        :channels], axis=1) if channels == 2 else tone(seconds, channels=1)


def _with_nan() -> np.ndarray:
    audio = _music()
    audio[1000, 0] = np.nan
    return audio


COMPARE = [
    Case("compare: silent reference", _compare_case(_music(), np.zeros((3 * RATE, 2))), 2,
         r"ref\.wav: expected audible sound to compare with, found silence.*fix"),
    Case("compare: silent mix", _compare_case(np.zeros((3 * RATE, 2)), _music()), 2,
         r"mix\.wav: expected audible sound to compare with, found silence.*fix"),
    Case("compare: near-silent reference (-67 LUFS)", _compare_case(_music(), _music() * 10 ** (-55 / 20)), 2,
         r"ref\.wav: expected audible sound .*found near-silence \(-66\.6 LUFS integrated\).*fix"),
    Case("compare: reference shorter than 1 s", _compare_case(_music(), _music(0.5)), 2,
         r"ref\.wav: expected at least 1 s.*found 0\.5.*fix"),
    Case("compare: NaN samples", _compare_case(_music(), _with_nan, subtype="FLOAT"), 2,
         r"ref\.wav: expected finite samples, found 1 NaN.*fix"),
    Case("compare: mono mix, stereo reference", _compare_case(_music(channels=1), _music()), 0,
         r"warning: .*mix\.wav is mono.*loudness match"),
    Case("compare: a mix with itself", _compare_case(_music(), _music()), 0,
         r"correlation 1\.000.*loudness match \+0\.00 dB"),
]

# --- intents ---------------------------------------------------------------------------------------------------


def _intent_case(content, name: str = "intent.yaml"):
    """``mix in/stems --intent in/NAME -o out`` with three ordinary stems; ``content`` str / bytes / callable."""

    def make(folder: Path) -> list[str]:
        inputs = folder / "in"
        band(inputs / "stems", 3)
        data = content(inputs) if callable(content) else content
        path = inputs / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        elif data is not None:
            path.write_text(data, encoding="utf-8")
        return ["mix", str(inputs / "stems"), "--intent", str(path), "-o", str(folder / "out")]

    return make


def _big_intent(inputs: Path) -> str:
    return "tracks:\n" + "".join(f"  track{i}: {{priority: lead}}\n" for i in range(300_000))


def _alias_bomb(inputs: Path) -> str:
    """Ten anchors, each a list of nine of the one before: 9**10 leaves when written out, 100 nodes when not."""
    items = ["&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    items += [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return f"genre: [{', '.join(items)}]\n"


INTENTS = [
    Case("intent: malformed YAML", _intent_case("tracks:\n  kick: {priority: lead\n"), 2,
         r"intent\.yaml: expected valid YAML, found an error at line \d+.*fix", absent=("out/mix.wav",)),
    Case("intent: malformed JSON", _intent_case('{"genre": "rock",}', "intent.json"), 2,
         r"intent\.json: expected valid JSON, found an error at line 1.*fix"),
    Case("intent: 100,000 nested brackets (YAML)", _intent_case(_deep(100_000)), 2,
         r"intent\.yaml: expected an intent, found values nested too deeply.*fix"),
    Case("intent: 100,000 nested brackets (JSON)", _intent_case(_deep(100_000), "intent.json"), 2,
         r"intent\.json: expected an intent, found values nested too deeply.*fix"),
    Case("intent: over 4 MB", _intent_case(_big_intent), 2, r"intent\.yaml: expected an intent of at most 4 MB.*fix"),
    Case("intent: YAML alias bomb", _intent_case(_alias_bomb), 2,
         r"intent\.yaml: genre: expected one of pop, rock.*found \[\[.*\(a list\); fix"),
    Case("intent: a list", _intent_case("- genre: rock\n"), 2, r"intent\.yaml: top level: expected a mapping.*fix"),
    Case("intent: unknown key", _intent_case("genere: rock\n"), 2,
         r"intent\.yaml: genere: expected one of the keys .*did you mean 'genre'.*fix: rename it to genre"),
    Case("intent: wrong type", _intent_case("tracks:\n  kick0: {keep: maybe}\n"), 2,
         r"intent\.yaml: tracks\.\"kick0\"\.keep: expected true or false.*fix"),
    Case("intent: NaN target", _intent_case("target: .nan\n"), 2,
         r"intent\.yaml: target: expected a preset .*found nan.*fix"),
    Case("intent: NaN target (JSON)", _intent_case('{"target": {"integrated_lufs": NaN}}', "intent.json"), 2,
         r"intent\.json: target\.integrated_lufs: expected a number from -40 to -5 LUFS, found nan.*"),
    Case("intent: unknown track", _intent_case("tracks:\n  kik: {priority: lead}\n"), 2,
         r"intent\.yaml: tracks\.\"kik\": expected the name of a track.*did you mean 'kick'.*fix"),
    Case("intent: a folder", _intent_case(lambda inputs: (inputs / "intent.yaml").mkdir() and None), 2,
         r"intent\.yaml: expected a readable intent file.*fix"),
    Case("intent: not UTF-8", _intent_case(b"genre: r\xf6ck\n"), 2, r"intent\.yaml: expected UTF-8 text.*fix"),
]

CASES = RECIPES + COMPARE + INTENTS


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_recipe_compare_and_intent_input(case, tmp_path):
    run_case(case, tmp_path)

