"""The bad-input corpus, audio side: stems handed to ``mix`` and ``analyze`` (see tests/bad_input.py)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import soundfile as sf

from tests.bad_input import RATE, Case, band, mix_args, run_case, stem, tone

# --- building broken inputs ------------------------------------------------------------------------------------


def _with(make_extra, count: int = 2, rate: int = RATE, seconds: float = 2.0, extra_args=()):
    """A case builder: ``count`` good stems in ``in/`` plus what ``make_extra(in_folder)`` adds; ``mix IN -o OUT``."""

    def make(folder):
        band(folder / "in", count, rate, seconds)
        make_extra(folder / "in")
        return mix_args(folder, *extra_args)

    return make


def _zero_bytes(name):
    return _with(lambda d: (d / name).write_bytes(b""))


def _cut(name, keep=0.5, **kwargs):
    """A 2 s stem written whole, then cut to ``keep`` of its bytes (a copy or a download that stopped)."""

    def extra(d):
        path = stem(d, name, **kwargs)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])

    return _with(extra)


def _corrupt(name):
    """A stem with 3000 random bytes a third of the way in (a bad sector, a bad download)."""

    def extra(d):
        path = stem(d, name)
        data = bytearray(path.read_bytes())
        at = len(data) // 3
        data[at:at + 3000] = np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes()
        path.write_bytes(bytes(data))

    return _with(extra)


def _garbage(name):
    return _with(lambda d: (d / name).write_bytes(
        np.random.default_rng(2).integers(0, 256, 50000, dtype=np.uint8).tobytes()))


def _header_only_wav(d):
    path = stem(d, "header.wav")
    path.write_bytes(path.read_bytes()[:44])


def _streamed_wav(d):
    """A WAV whose sizes say 0xFFFFFFFF ("until the end"), as a recorder writing a stream leaves them."""
    path = stem(d, "stream.wav", subtype="PCM_16")
    data = bytearray(path.read_bytes())
    at = data.find(b"data")
    data[4:8] = data[at + 4:at + 8] = struct.pack("<I", 0xFFFFFFFF)
    path.write_bytes(bytes(data))


def _nonfinite(value, subtype):
    def extra(d):
        audio = tone()
        audio[1000] = value
        stem(d, "bad.wav", audio, subtype=subtype)

    return extra


def _all_silent(folder):
    stem(folder / "in", "a.wav", np.zeros((2 * RATE, 1)))
    stem(folder / "in", "b.wav", np.zeros((2 * RATE, 2)))
    return mix_args(folder)


def _silent_mix(folder, output):
    audio, _ = sf.read(folder / "out" / "mix.wav")
    assert np.all(np.isfinite(audio)) and np.abs(audio).max() == 0.0, "a silent session mixes to silence"


def _only_one_sample(folder):
    stem(folder / "in", "one.wav", tone(1 / RATE))
    return mix_args(folder)


def _rate(rate, seconds=2.0):
    def make(folder):
        band(folder / "in", 3, rate, seconds)
        return mix_args(folder)

    return make


def _mix_at(rate):
    def check(folder, output):
        audio, written = sf.read(folder / "out" / "mix.wav")
        assert written == rate and np.all(np.isfinite(audio)) and np.abs(audio).max() > 0.01
        recipe = json.loads((folder / "out" / "recipe.json").read_text())
        for strip in recipe["tracks"] + recipe["buses"] + recipe["returns"] + [recipe["master"]]:
            for step in strip["chain"]:
                for name, value in step["params"].items():
                    if name.endswith("_hz"):
                        assert value < rate / 2, f"{strip.get('name', 'master')}: {name} = {value} Hz"

    return check


def _header_rate(rate):
    return _with(lambda d: stem(d, "odd.wav", tone(3.0, rate=max(rate, 1)), rate))


def _names(*names):
    def extra(d):
        for i, name in enumerate(names):
            stem(d, name, tone(seed=10 + i, frequency_hz=300.0 * (i + 1)))

    return extra


def _tracks_named(*names):
    def check(folder, output):
        recipe = json.loads((folder / "out" / "recipe.json").read_text())
        tracks = {t["name"] for t in recipe["tracks"]}
        assert set(names) <= tracks, f"{names} not all in {tracks}"
        assert "UserWarning" not in output and "Glyph" not in output, output

    return check


def _no_track(*names):
    def check(folder, output):
        tracks = {t["name"] for t in json.loads((folder / "out" / "recipe.json").read_text())["tracks"]}
        assert not tracks & set(names), f"{tracks & set(names)} mixed in as tracks"

    return check


def _unicode_analyze(folder):
    band(folder / "in", 2)
    stem(folder / "in", "ボーカル 🎤.wav")
    return ["analyze", str(folder / "in"), "--plot", str(folder / "plots")]


def _quiet_plots(folder, output):
    assert "Glyph" not in output and "UserWarning" not in output, output
    assert len(list((folder / "plots").glob("*.png"))) == 4


def _link(target_of):
    def extra(d):
        (d / "link.wav").symlink_to(target_of(d))

    return extra


def _output_is_a_file(folder):
    band(folder / "in", 2)
    (folder / "out").write_text("my notes")
    return mix_args(folder)


def _output_under_a_file(folder):
    band(folder / "in", 2)
    (folder / "notes").write_text("my notes")
    return ["mix", str(folder / "in"), "-o", str(folder / "notes" / "out")]


def _notes_unchanged(folder, output):
    name = "out" if (folder / "out").is_file() else "notes"
    assert (folder / name).read_text() == "my notes"


def _output_is_the_stems(folder):
    band(folder / "in", 2)
    return ["mix", str(folder / "in"), "-o", str(folder / "in")]


def _processed_stems_into_the_stems(folder):
    """``--stems`` writes OUT/stems/: with the stems folder called ``stems`` and -o its parent, that is the input."""
    band(folder / "in" / "stems", 2)
    return ["mix", str(folder / "in" / "stems"), "-o", str(folder / "in"), "--stems"]


def _earlier_mix_in_the_stems(folder):
    """The stems folder holds what an earlier ``mixdown mix S -o S`` (of an older version) wrote."""
    band(folder / "in", 2)
    stem(folder / "in", "mix.wav", tone(channels=2))
    (folder / "in" / "recipe.json").write_text("{}")
    (folder / "in" / "report.html").write_text("<html></html>")
    return mix_args(folder)


def _intent_names_master(folder):
    """A track really called "Master" (a mastering-grade synth, a studio upload): the intent naming it keeps it."""
    band(folder / "in", 2)
    stem(folder / "in", "Master.wav", tone(frequency_hz=500.0))
    (folder / "intent.yaml").write_text("tracks:\n  Master: {priority: lead}\n")
    return mix_args(folder, "--intent", str(folder / "intent.yaml"))


def _broken_stem_and(*extra_args):
    """A stem that only a full decode finds broken (NaN), so a refusal must come from the cheaper check first."""

    def make(folder):
        band(folder / "in", 2)
        _nonfinite(np.nan, "FLOAT")(folder / "in")
        return mix_args(folder, *extra_args)

    return make


def _stale_temp(folder):
    """A killed run left ``out/.mix.wav.<dead pid>.<rand>.tmp``; this run writes mix.wav and removes it."""
    band(folder / "in", 2)
    (folder / "out").mkdir()
    (folder / "out" / ".mix.wav.999999999.0badc0de.tmp").write_bytes(b"RIFF half a file")
    return mix_args(folder)


def _empty_folder(folder):
    (folder / "in").mkdir()
    return mix_args(folder)


def _missing_folder(folder):
    return mix_args(folder)


def _analyze_a_folder_named_wav(folder):
    (folder / "in" / "x.wav").mkdir(parents=True)
    return ["analyze", str(folder / "in" / "x.wav")]


NO_OUT = ("out",)

CASES = [
    # the folder itself
    Case("empty stems folder", _empty_folder, 2, r"in: expected audio files.*fix", absent=NO_OUT),
    Case("stems folder missing", _missing_folder, 2, r"in.*fix", absent=NO_OUT),
    Case("a folder named x.wav", _analyze_a_folder_named_wav, 2, r"x\.wav.*fix"),
    # zero-byte, corrupt and truncated files of every format
    Case("zero-byte WAV among stems", _zero_bytes("broken.wav"), 2, r"broken\.wav.*empty file.*fix", absent=NO_OUT),
    Case("zero-byte FLAC", _zero_bytes("broken.flac"), 2, r"broken\.flac.*empty file.*fix", absent=NO_OUT),
    Case("zero-byte AIFF", _zero_bytes("broken.aiff"), 2, r"broken\.aiff.*empty file.*fix", absent=NO_OUT),
    Case("zero-byte OGG", _zero_bytes("broken.ogg"), 2, r"broken\.ogg.*empty file.*fix", absent=NO_OUT),
    Case("zero-byte MP3", _zero_bytes("broken.mp3"), 2, r"broken\.mp3.*empty file.*fix", absent=NO_OUT),
    Case("random bytes named .wav", _garbage("g.wav"), 2, r"g\.wav.*cannot read.*fix: convert", absent=NO_OUT),
    Case("random bytes named .mp3", _garbage("g.mp3"), 2, r"g\.mp3.*cannot read.*no MP3 stream found.*fix",
         absent=NO_OUT),
    Case("random bytes named .ogg", _garbage("g.ogg"), 2, r"g\.ogg.*cannot read.*fix", absent=NO_OUT),
    Case("random bytes named .aiff", _garbage("g.aiff"), 2, r"g\.aiff.*cannot read.*fix", absent=NO_OUT),
    Case("WAV header without data", _with(_header_only_wav), 2, r"header\.wav.*0 frames.*fix", absent=NO_OUT),
    Case("truncated WAV", _cut("cut.wav"), 2,
         r"cut\.wav: expected 88200 frames.*truncated \(\d+ of 88200 frames\).*fix: export or copy it again",
         absent=NO_OUT),
    Case("truncated 24-bit WAV, cut mid-frame", _cut("odd.wav", keep=0.7, subtype="PCM_24"), 2,
         r"odd\.wav.*truncated \(\d+ of 88200 frames\).*fix", absent=NO_OUT),
    Case("truncated AIFF", _cut("cut.aiff"), 2, r"cut\.aiff.*truncated \(\d+ of 88200 frames\).*fix",
         absent=NO_OUT),
    Case("truncated FLAC", _cut("cut.flac"), 2,
         r"cut\.flac: expected 88200 frames.*decoding error after \d+ .*truncated or corrupt.*fix", absent=NO_OUT),
    Case("corrupt FLAC (bytes overwritten)", _corrupt("x.flac"), 2, r"x\.flac.*truncated or corrupt.*fix",
         absent=NO_OUT),
    Case("corrupt MP3", _corrupt("x.mp3"), 2, r"x\.mp3: expected 88200 frames.*truncated or corrupt.*fix",
         absent=NO_OUT),
    Case("corrupt OGG (mixed what decodes, warned)", _corrupt("x.ogg"), 0,
         r"x: truncated: decodes to .* of the 2\.000 s its last page counts", outputs=("out/mix.wav",)),
    Case("corrupt PCM in a WAV (no checksum to tell: mixed)", _corrupt("x.wav"), 0, r"mixed 3 tracks",
         outputs=("out/mix.wav",)),
    Case("truncated MP3 (mixed, warned)", _cut("cut.mp3"), 0,
         r"cut: truncated: decodes to .* of the 2\.000 s its header says.*export or copy it again",
         outputs=("out/mix.wav",)),
    Case("truncated OGG (mixed what decodes, warned)", _cut("cut.ogg"), 0,
         r"cut: truncated: decodes to .* its last page counts.*export or copy it again", outputs=("out/mix.wav",)),
    Case("WAV written as a stream (sizes 0xFFFFFFFF)", _with(_streamed_wav), 0, r"mixed 3 tracks",
         outputs=("out/mix.wav",)),
    # sample values
    Case("NaN in a float WAV", _with(_nonfinite(np.nan, "FLOAT")), 2,
         r"bad\.wav: expected finite samples.*first at sample 1000.*fix", absent=NO_OUT),
    Case("inf in a 64-bit float WAV", _with(_nonfinite(np.inf, "DOUBLE")), 2,
         r"bad\.wav: expected finite samples.*fix", absent=NO_OUT),
    Case("every stem silent", _all_silent, 0, r"a: silent.*b: silent", outputs=("out/mix.wav",),
         check=_silent_mix),
    Case("a 1-sample stem among others", _with(lambda d: stem(d, "one.wav", tone(1 / RATE))), 0,
         r"one: length_mismatch", outputs=("out/mix.wav",)),
    Case("only a 1-sample stem", _only_one_sample, 2, r"at least 0\.5 s.*one.*fix", absent=NO_OUT),
    Case("6-channel file", _with(lambda d: stem(d, "surround.wav", tone(channels=6))), 2,
         r"surround\.wav: expected a mono or stereo file, found 6 channels; fix: split", absent=NO_OUT),
    Case("8-bit PCM WAV", _with(lambda d: stem(d, "u8.wav", subtype="PCM_U8")), 0, r"mixed 3 tracks",
         outputs=("out/mix.wav",)),
    Case("64-bit float WAV", _with(lambda d: stem(d, "f64.wav", subtype="DOUBLE")), 0, r"mixed 3 tracks",
         outputs=("out/mix.wav",)),
    # sample rates and lengths
    Case("8 kHz session", _rate(8000, 3.0), 0, r"mixed 3 tracks, 3\.0 s at 8000 Hz", check=_mix_at(8000)),
    Case("8 kHz session too short to analyse", _rate(8000, 2.0), 2,
         r"expected at least 2\.048 s of audio at 8000 Hz.*fix", absent=NO_OUT),
    Case("192 kHz session", _rate(192000, 0.6), 0, r"at 192000 Hz", check=_mix_at(192000)),
    Case("header claims 1 Hz", _header_rate(1), 2,
         r"odd\.wav: expected a sample rate of 8000\.\.384000 Hz, found 1 Hz.*fix", absent=NO_OUT),
    Case("header claims 768 kHz", _header_rate(768000), 2, r"odd\.wav.*found 768000 Hz.*fix", absent=NO_OUT),
    Case("mixed rates", _with(lambda d: stem(d, "hi.wav", tone(2.0, 48000), 48000)), 0,
         r"hi: rate_mismatch: 48000 Hz file resampled", outputs=("out/mix.wav",)),
    Case("mixed lengths", _with(lambda d: stem(d, "short.wav", tone(0.7))), 0, r"short: length_mismatch",
         outputs=("out/mix.wav",)),
    # names
    Case("names with spaces and quotes", _with(_names("lead 'vox' take 2.wav", 'pad "wide".wav')), 0,
         r"mixed 4 tracks", check=_tracks_named("lead 'vox' take 2", 'pad "wide"')),
    Case("unicode names (mix: no glyph warnings)", _with(_names("ボーカル 🎤.wav", "Gitarre Ü.flac")), 0,
         r"mixed 4 tracks", check=_tracks_named("ボーカル 🎤", "Gitarre Ü")),
    Case("unicode names (analyze --plot: no glyph warnings)", _unicode_analyze, 0, r"wrote .*masking\.png",
         check=_quiet_plots),
    Case("a leading dash (-x.wav)", _with(_names("-x.wav")), 0, r"mixed 3 tracks", check=_tracks_named("-x")),
    Case("a leading dash in a refused file: the fix quotes it",
         _with(lambda d: stem(d, "-surround.wav", tone(channels=6))), 2, r"ffmpeg -i \./-surround\.wav",
         absent=NO_OUT),
    Case("a folder named x.wav among stems (skipped, warned)", _with(lambda d: (d / "x.wav").mkdir()), 0,
         r"x\.wav: skipped: a folder.*mixed 2 tracks", outputs=("out/mix.wav",)),
    Case("dangling symlink", _with(_link(lambda d: d.parent / "gone.wav")), 2,
         r"link\.wav: expected an audio file, found a symbolic link to .*gone\.wav, which does not exist; fix",
         absent=NO_OUT),
    Case("symlink loop", _with(_link(lambda d: d / "link.wav")), 2,
         r"link\.wav: expected an audio file, found a symbolic link that loops.*fix", absent=NO_OUT),
    Case("symlink to a stem elsewhere", _with(_link(lambda d: stem(d.parent / "elsewhere", "far.wav"))), 0,
         r"mixed 3 tracks", check=_tracks_named("link")),
    # where outputs go
    Case("-o is an existing file", _output_is_a_file, 2, r"out: cannot create the output folder: a file.*fix",
         check=_notes_unchanged),
    Case("-o under a file", _output_under_a_file, 2, r"notes/out: cannot create .*notes is a file.*fix",
         check=_notes_unchanged),
    Case("-o is the stems folder", _output_is_the_stems, 2,
         r"in: expected an output folder apart from the stems.*fix: choose another folder with -o",
         absent=("in/mix.wav", "in/recipe.json")),
    Case("--stems into the stems folder (-o its parent)", _processed_stems_into_the_stems, 2,
         r"in/stems: expected an output folder apart from the stems.*fix", absent=("in/mix.wav",)),
    Case("an earlier mix.wav among the stems (skipped, warned)", _earlier_mix_in_the_stems, 0,
         r"mix\.wav: skipped: named like a whole mix.*rename it .*or name it in the intent.*mixed 2 tracks",
         check=_no_track("mix")),
    Case("a dataset's mixture.flac beside its stems", _with(lambda d: stem(d, "mixture.flac", tone(channels=2))), 0,
         r"mixture\.flac: skipped.*mixed 2 tracks", check=_no_track("mixture")),
    Case("a track named Master that the intent names (kept)", _intent_names_master, 0, r"mixed 3 tracks",
         check=_tracks_named("Master")),
    Case("a stale temp file of a killed run", _stale_temp, 0, r"mixed 2 tracks", outputs=("out/mix.wav",)),
    # cheap checks come first: nothing decoded, no folder made
    Case("--format mp3", _broken_stem_and("--format", "mp3"), 2,
         r"format: expected one of wav24, wav16, float32, flac, found 'mp3'; fix", absent=NO_OUT),
    Case("--method unknown", _broken_stem_and("--method", "magic"), 2, r"method: expected one of .*fix",
         absent=NO_OUT),
    Case("--target unknown", _broken_stem_and("--target", "vinyl"), 2, r"vinyl", absent=NO_OUT),
    Case("--reference missing", _broken_stem_and("--reference", "/nonexistent/ref.wav"), 2,
         r"ref\.wav.*fix", absent=NO_OUT),
    Case("a stem broken inside (found while analysing): no folder left", _broken_stem_and(), 2,
         r"bad\.wav: expected finite samples", absent=NO_OUT),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_audio_input(case, tmp_path):
    run_case(case, tmp_path)


def test_case_names_are_unique():
    assert len({c.name for c in CASES}) == len(CASES)
