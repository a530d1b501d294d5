"""Audio I/O and Session loading, on files the tests write into tmp_path."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import mixdown.audio.io as audio_io
from mixdown.audio import load_session, read_audio, write_audio
from mixdown.audio.session import Session, Track
from mixdown.errors import AudioInputError, OutputError, ParameterError

RATE = 44100
DEMO = Path("/work/shared/data/demo/saber-finalstep/stems")


def sine(frequency_hz, seconds=0.5, rate=RATE, amplitude=0.5, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    x = (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)
    return np.tile(x, (channels, 1))


def put(folder: Path, name: str, audio: np.ndarray, rate=RATE, **kwargs) -> Path:
    """Write channels-first ``audio`` with soundfile (24-bit WAV unless told otherwise)."""
    path = folder / name
    kwargs.setdefault("subtype", "PCM_24" if path.suffix == ".wav" else None)
    sf.write(path, np.ascontiguousarray(audio.T), rate, **kwargs)
    return path


# --- read_audio -------------------------------------------------------------------------------------------------


def test_read_is_channels_first_float32(tmp_path):
    stereo = np.stack([sine(440)[0], -0.25 * np.ones(int(0.5 * RATE), np.float32)])
    path = put(tmp_path, "st.wav", stereo, subtype="FLOAT")
    audio, rate = read_audio(path)
    assert rate == RATE and audio.dtype == np.float32 and audio.shape == stereo.shape
    np.testing.assert_array_equal(audio, stereo)


@pytest.mark.parametrize("case", ["missing", "garbage", "empty_bytes", "zero_frames", "three_channels", "nan", "m4a"])
def test_read_errors_name_the_file(tmp_path, case):
    path = tmp_path / f"bad_{case}.wav"
    if case == "garbage":
        path.write_bytes(b"this is not audio at all" * 10)
    elif case == "empty_bytes":
        path.write_bytes(b"")
    elif case == "zero_frames":
        sf.write(path, np.zeros((0, 1)), RATE)
    elif case == "three_channels":
        put(tmp_path, path.name, sine(100, channels=3))
    elif case == "nan":
        x = sine(100)
        x[0, 10] = np.nan
        put(tmp_path, path.name, x, subtype="FLOAT")
    elif case == "m4a":
        path = tmp_path / "bad_m4a.m4a"
        path.write_bytes(b"\x00\x00\x00\x20ftypM4A ")
    with pytest.raises(AudioInputError) as info:
        read_audio(path)
    message = str(info.value)
    assert path.name in message and "expected" in message and "fix" in message
    expected_words = {
        "garbage": "FLAC", "empty_bytes": "0 bytes", "zero_frames": "0 frames", "three_channels": "3 channels",
        "nan": "NaN", "m4a": "convert", "missing": "nothing",
    }
    assert expected_words[case] in message


# --- write_audio ------------------------------------------------------------------------------------------------


def test_wav24_and_flac_round_trip_within_half_an_lsb(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (2, 20000))
    x[:, :4] = [[1.0, -1.0, 0.0, 2**-24], [0.5, -0.5, 2**-23, -(2**-23)]]
    for name, fmt in [("a.wav", "wav24"), ("a.flac", "flac")]:
        report = write_audio(tmp_path / name, x, RATE, format=fmt)
        y, rate = read_audio(tmp_path / name)
        info = sf.info(tmp_path / name)
        assert rate == RATE and info.subtype == "PCM_24" and report.frames == 20000 and report.clipped_samples == 0
        error = np.abs(y - x)
        error[0, 0] -= 2**-23  # +1.0 maps to the largest code, one LSB below
        assert error.max() <= 2**-24 + 1e-12


def test_float32_is_exact_and_never_clipped(tmp_path):
    x = np.random.default_rng(2).normal(0, 1.5, (2, 5000)).astype(np.float32)
    report = write_audio(tmp_path / "f.wav", torch.from_numpy(x), RATE, format="float32")
    y, _ = read_audio(tmp_path / "f.wav")
    np.testing.assert_array_equal(y, x)
    assert report.clipped_samples == 0 and report.peak == pytest.approx(np.abs(x).max()) and report.peak > 1
    # no PEAK chunk: libsndfile stamps it with the time of writing, so the same audio would differ in its bytes
    assert b"PEAK" not in (tmp_path / "f.wav").read_bytes()


def test_wav16_tpdf_dither_error_is_unbiased_with_the_tpdf_level(tmp_path):
    lsb = 2.0**-15
    n = 1 << 18
    x = sine(997, seconds=n / RATE, amplitude=0.5, channels=2).astype(np.float64)
    write_audio(tmp_path / "d.wav", x, RATE, format="wav16")
    y, _ = read_audio(tmp_path / "d.wav")
    assert sf.info(tmp_path / "d.wav").subtype == "PCM_16"
    error = (y - x) / lsb
    # Rounding (variance 1/12) plus triangular dither (variance 1/6): total RMS 1/2 LSB, zero mean.
    assert np.sqrt(np.mean(error**2)) == pytest.approx(0.5, rel=0.02)
    assert abs(error.mean()) < 4 * 0.5 / np.sqrt(error.size)
    assert np.abs(error).max() <= 1.5 + 1e-9


def test_wav16_dither_linearises_a_level_below_one_lsb(tmp_path):
    lsb = 2.0**-15
    x = np.full((1, 100000), 0.3 * lsb)
    write_audio(tmp_path / "small.wav", x, RATE, format="wav16")
    y, _ = read_audio(tmp_path / "small.wav")
    assert y.mean() / lsb == pytest.approx(0.3, abs=0.01)  # rounding without dither would give exactly 0


def test_wav16_is_deterministic_per_seed(tmp_path):
    x = sine(300, channels=2)
    write_audio(tmp_path / "a.wav", x, RATE, format="wav16")
    write_audio(tmp_path / "b.wav", x, RATE, format="wav16")
    write_audio(tmp_path / "c.wav", x, RATE, format="wav16", seed=7)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    assert (tmp_path / "a.wav").read_bytes() != (tmp_path / "c.wav").read_bytes()


def test_pcm_saturates_and_counts_clipped_samples(tmp_path):
    x = np.array([[0.5, 1.5, -2.0, 1.0, -1.0, 1.0001]])
    report = write_audio(tmp_path / "c.wav", x, RATE)
    y, _ = sf.read(tmp_path / "c.wav", dtype="int32", always_2d=True)
    assert report.clipped_samples == 3 and report.peak == 2.0
    assert (y[:, 0] >> 8).tolist() == [2**22, 2**23 - 1, -(2**23), 2**23 - 1, -(2**23), 2**23 - 1]


def test_write_keeps_umask_permissions_and_leaves_no_temp(tmp_path):
    write_audio(tmp_path / "p.wav", sine(100), RATE)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "p.wav").stat().st_mode & 0o777 == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["p.wav"]


@pytest.mark.parametrize("existing", [True, False])
def test_failed_write_leaves_old_file_intact_and_no_temp(tmp_path, monkeypatch, existing):
    target = tmp_path / "mix.wav"
    if existing:
        write_audio(target, sine(100), RATE)
        before = target.read_bytes()
    original = sf.SoundFile.write
    calls = []

    def write_then_fail(self, data):
        calls.append(len(data))
        if len(calls) == 2:  # one block is on disk already: fail mid-file
            raise OSError(28, "No space left on device")
        return original(self, data)

    monkeypatch.setattr(audio_io, "_BLOCK_FRAMES", 1024)
    monkeypatch.setattr(sf.SoundFile, "write", write_then_fail)
    with pytest.raises(OutputError, match="mix.wav.*unchanged"):
        write_audio(target, sine(200, seconds=1.0), RATE)
    assert len(calls) == 2
    assert os.listdir(tmp_path) == (["mix.wav"] if existing else [])
    if existing:
        assert target.read_bytes() == before


def test_interrupted_write_removes_temp(tmp_path, monkeypatch):
    def interrupt(self, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(sf.SoundFile, "write", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_audio(tmp_path / "x.wav", sine(100), RATE)
    assert os.listdir(tmp_path) == []


_KILLED_WRITER = """
import sys, time
import numpy as np
from mixdown.audio.io import AudioWriter
with AudioWriter(sys.argv[1], 44100, 2) as writer:
    block = np.full((2, 4410), 0.25, np.float32)
    writer.write(block)
    print("writing", flush=True)
    while True:
        writer.write(block)
        time.sleep(0.005)
"""


@pytest.mark.parametrize("existing", [True, False])
def test_a_writer_killed_mid_file_leaves_no_partial_file_and_the_next_run_cleans_up(tmp_path, existing):
    import signal
    import subprocess
    import sys

    target = tmp_path / "mix.wav"
    if existing:
        write_audio(target, sine(100), RATE)
    before = target.read_bytes() if existing else None
    writer = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target)], stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).parent.parent)
    try:
        assert writer.stdout.readline().strip() == "writing"
        time.sleep(0.2)  # blocks keep arriving: the temp file grows
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.wait(30)
        writer.stdout.close()
    stale = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(stale) == 1 and stale[0].startswith(f".mix.wav.{writer.pid}.")  # the name carries the pid
    assert (tmp_path / stale[0]).stat().st_size > 44  # it was killed mid-file
    assert (target.read_bytes() if target.exists() else None) == before  # never half a file under the name
    write_audio(target, sine(200), RATE)  # the next run that writes mix.wav removes the dead writer's temp
    assert sorted(os.listdir(tmp_path)) == ["mix.wav"]
    assert read_audio(target)[0].shape == (1, RATE // 2)


def test_stale_temps_are_removed_but_never_a_live_writers(tmp_path):
    import subprocess
    import sys

    from mixdown.export.files import STALE_SECONDS, create_temp

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    dead = tmp_path / f".mix.wav.{int(finished.stdout)}.0badc0de.tmp"
    live = tmp_path / f".mix.wav.{os.getpid()}.1234abcd.tmp"  # this process is writing it
    legacy = tmp_path / ".mix.wav.89abcdef.tmp"  # an older writer's name without a pid: judged by age
    old_legacy = tmp_path / ".mix.wav.0123cdef.tmp"
    other = tmp_path / ".recipe.json.1.abcd0123.tmp"  # another file's temps are that file's writer's business
    for p in (dead, live, legacy, old_legacy, other):
        p.write_bytes(b"partial")
    long_ago = time.time() - STALE_SECONDS - 60
    os.utime(old_legacy, (long_ago, long_ago))
    tmp = create_temp(tmp_path / "mix.wav")
    assert tmp.name.startswith(f".mix.wav.{os.getpid()}.")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, legacy.name, other.name, tmp.name])
    os.utime(live, (long_ago, long_ago))  # nothing written to it for a day: stale even though the pid runs
    write_audio(tmp_path / "mix.wav", sine(100), RATE)
    assert not live.exists() and tmp.exists()  # a fresh temp of a running process stays


def test_protected_input_is_refused(tmp_path):
    source = put(tmp_path, "vox.wav", sine(220))
    before = source.read_bytes()
    session = load_session(tmp_path)
    (tmp_path / "sub").mkdir()
    for target in (source, tmp_path / "sub" / ".." / "vox.wav"):
        with pytest.raises(OutputError, match="vox.wav.*input"):
            write_audio(target, sine(100), RATE, protect=session.input_paths())
    link = tmp_path / "link.wav"
    link.symlink_to(source)
    with pytest.raises(OutputError, match="input"):
        write_audio(link, sine(100), RATE, protect={str(source)})
    assert source.read_bytes() == before


def test_read_only_file_is_not_replaced(tmp_path):
    target = put(tmp_path, "final.wav", sine(100))
    target.chmod(0o444)
    with pytest.raises(OutputError, match="final.wav.*read-only"):
        write_audio(target, sine(200), RATE)
    assert read_audio(target)[0].shape == (1, RATE // 2)


@pytest.mark.parametrize(
    "target, audio, kwargs, words",
    [
        ("nofolder/x.wav", np.zeros((1, 10)), {}, "nofolder"),
        ("x.wav", np.zeros((10, 2)), {}, "transpose"),
        ("x.wav", np.zeros(10), {}, "(channels, samples)"),
        ("x.wav", np.zeros((1, 10), np.int16), {}, "float"),
        ("x.wav", np.array([[0.0, np.inf]]), {}, "NaN/inf"),
        ("x.wav", np.zeros((1, 10)), {"format": "mp3"}, "format"),
        ("x.flac", np.zeros((1, 10)), {"format": "wav24"}, ".wav"),
        ("x.wav", np.zeros((1, 10)), {"sample_rate": 0}, "sample_rate"),
    ],
)
def test_write_errors(tmp_path, target, audio, kwargs, words):
    kwargs = {"sample_rate": RATE, **kwargs}
    with pytest.raises(OutputError) as info:
        write_audio(tmp_path / target, audio, **kwargs)
    assert words in str(info.value) and Path(target).name in str(info.value)
    assert os.listdir(tmp_path) == []


# --- load_session -----------------------------------------------------------------------------------------------


def warning_codes(session: Session) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for w in session.warnings:
        found.setdefault(w.track, set()).add(w.code)
    return found


def test_folder_is_sorted_naturally_and_ignores_other_files(tmp_path):
    for name in ["10_vox.wav", "2_bass.flac", "1_kick.aiff"]:
        put(tmp_path, name, sine(100), subtype="PCM_24")
    (tmp_path / "notes.txt").write_text("not audio")
    put(tmp_path, ".hidden.wav", sine(100))
    (tmp_path / "sub").mkdir()
    put(tmp_path / "sub", "0_deep.wav", sine(100))
    seen = []
    session = load_session(tmp_path, progress=lambda done, total, name: seen.append((done, total, name)))
    assert session.names() == ["1_kick", "2_bass", "10_vox"]
    assert seen == [(1, 3, "1_kick"), (2, 3, "2_bass"), (3, 3, "10_vox")]
    assert session.sample_rate == RATE and session.warnings == []
    track = session.tracks[0]
    assert track.audio.dtype == torch.float32 and track.audio.shape == (1, RATE // 2) and track.role is None
    assert track.path == tmp_path / "1_kick.aiff" and track.original_sample_rate == RATE


def test_list_of_files_keeps_order(tmp_path):
    b = put(tmp_path, "b.wav", sine(100))
    a = put(tmp_path, "a.wav", sine(200, channels=2))
    session = load_session([b, str(a)])
    assert session.names() == ["b", "a"] and session.channel_counts() == [1, 2]


def test_load_never_touches_inputs(tmp_path):
    paths = [put(tmp_path, "a.wav", sine(100)), put(tmp_path, "b.flac", sine(50, seconds=0.3), rate=48000)]
    before = [(p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_size) for p in paths]
    load_session(tmp_path)
    assert [(p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_size) for p in paths] == before
    assert sorted(os.listdir(tmp_path)) == ["a.wav", "b.flac"]


def test_resampling_keeps_length_and_frequency(tmp_path):
    put(tmp_path, "a_441.wav", sine(440, seconds=1.0))
    put(tmp_path, "b_441.wav", sine(440, seconds=1.0))
    put(tmp_path, "c_48k.wav", sine(1000, seconds=1.0, rate=48000), rate=48000)
    session = load_session(tmp_path)
    assert session.sample_rate == RATE and session.samples == RATE
    resampled = session.track("c_48k")
    assert resampled.original_sample_rate == 48000
    assert warning_codes(session) == {"c_48k": {"rate_mismatch"}}  # no length warning for equal durations
    x = resampled.audio[0].double().numpy()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    peak_hz = np.argmax(spectrum) * RATE / x.size
    assert peak_hz == pytest.approx(1000, abs=1.0)
    middle = x[RATE // 4 : 3 * RATE // 4]
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)


def test_session_rate_choice(tmp_path):
    put(tmp_path, "a.wav", sine(100, rate=48000), rate=48000)
    put(tmp_path, "b.wav", sine(100), rate=RATE)
    assert load_session(tmp_path).sample_rate == 48000  # tie: the highest
    put(tmp_path, "c.wav", sine(100), rate=RATE)
    assert load_session(tmp_path).sample_rate == RATE  # the most common
    forced = load_session(tmp_path, sample_rate=96000)
    assert forced.sample_rate == 96000 and forced.samples == 48000
    assert {w.code for w in forced.warnings} == {"rate_mismatch"} and len(forced.warnings) == 3
    with pytest.raises(ParameterError):
        load_session(tmp_path, sample_rate=44100.5)


def test_shorter_tracks_are_padded_with_silence(tmp_path):
    long = sine(100, seconds=1.0)
    put(tmp_path, "long.wav", long)
    put(tmp_path, "short.wav", np.concatenate([sine(100, seconds=0.25), sine(150, seconds=0.25)]))
    session = load_session(tmp_path)
    short = session.track("short").audio
    assert short.shape == (2, RATE)
    assert torch.all(short[:, RATE // 4 :] == 0) and torch.any(short[:, : RATE // 4] != 0)
    assert warning_codes(session) == {"short": {"length_mismatch"}}
    assert "long" in session.warnings[0].message


@pytest.mark.parametrize(
    "code, name, make",
    [
        ("silent", "quiet.wav", lambda: sine(100, amplitude=5e-5)),
        ("clipped", "hot.wav", lambda: np.clip(sine(100, amplitude=2.0), -1, 1)),
        ("dc_offset", "dc.wav", lambda: sine(100, amplitude=0.3) + 0.05),
        ("mono_as_stereo", "dual.wav", lambda: sine(100, channels=2)),
        ("lossy_source", "coded.ogg", lambda: sine(100)),
        pytest.param(
            "lossy_source", "coded.mp3", lambda: sine(100),
            marks=pytest.mark.skipif("MP3" not in sf.available_formats(), reason="libsndfile without MP3"),
        ),
    ],
)
def test_each_warning_code(tmp_path, code, name, make):
    put(tmp_path, name, make(), subtype=None)
    session = load_session(tmp_path)
    assert {w.code for w in session.warnings} == {code}
    assert session.warnings[0].track == Path(name).stem and session.warnings[0].message


def test_near_misses_do_not_warn(tmp_path):
    two_clipped = sine(100, amplitude=0.5)
    two_clipped[0, 100:102] = 1.0  # two full-scale samples are a peak, not clipping
    put(tmp_path, "peaks.wav", two_clipped, subtype="FLOAT")
    put(tmp_path, "dc.wav", sine(100, amplitude=0.3) + 0.005)
    stereo = sine(100, channels=2)
    stereo[1] *= 0.99  # channels differ by -46 dB re the peak: real stereo
    put(tmp_path, "wide.wav", stereo)
    put(tmp_path, "soft.wav", sine(100, amplitude=2e-4))  # -74 dBFS: quiet, not silent
    assert load_session(tmp_path).warnings == []


def test_folder_errors(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(AudioInputError, match=rf"{tmp_path.name}.*\.wav, \.wave, \.flac"):
        load_session(tmp_path)
    with pytest.raises(AudioInputError, match="nowhere"):
        load_session(tmp_path / "nowhere")
    with pytest.raises(AudioInputError, match="empty list"):
        load_session([])


def test_duplicate_names_are_refused(tmp_path):
    put(tmp_path, "kick.wav", sine(60))
    put(tmp_path, "Kick.flac", sine(60))
    with pytest.raises(AudioInputError, match=r"kick.*twice.*rename"):
        load_session(tmp_path)


def test_a_bad_file_in_a_folder_is_named(tmp_path):
    put(tmp_path, "good.wav", sine(100))
    (tmp_path / "phone.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A ")
    with pytest.raises(AudioInputError, match="phone.m4a"):
        load_session(tmp_path)
    (tmp_path / "phone.m4a").unlink()
    put(tmp_path, "surround.wav", sine(100, channels=6))
    with pytest.raises(AudioInputError, match="surround.wav.*6 channels"):
        load_session(tmp_path)


@pytest.mark.parametrize("name, subtype", [("cut.wav", "PCM_16"), ("cut24.wav", "PCM_24"), ("cut.aiff", "PCM_16"),
                                           ("cut.wav", "FLOAT")])
def test_a_file_whose_data_ends_before_its_header_says_is_refused(tmp_path, name, subtype):
    path = put(tmp_path, name, sine(100, seconds=1.0), subtype=subtype)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) * 3 // 4])  # a copy that stopped
    with pytest.raises(AudioInputError, match=rf"{name}: expected {RATE} frames .*truncated \(\d+ of {RATE} "
                                              r"frames\).*fix: export or copy it again"):
        read_audio(path)
    path.write_bytes(whole)  # the whole file reads (chunks after the data too: the header is read, not guessed)
    assert read_audio(path)[0].shape == (1, RATE)


def test_a_flac_that_stops_decoding_is_refused_with_how_far_it_got(tmp_path):
    path = put(tmp_path, "cut.flac", sine(100, seconds=2.0))
    path.write_bytes(path.read_bytes()[:-3000])
    with pytest.raises(AudioInputError, match=r"cut\.flac: expected 88200 frames .*decoding error after \d+ of "
                                              r"them.*truncated or corrupt; fix"):
        read_audio(path)


@pytest.mark.parametrize("suffix", [".mp3", ".ogg"])
def test_a_truncated_lossy_file_loads_with_a_warning(tmp_path, suffix):
    put(tmp_path, "a.wav", sine(100, seconds=2.0))
    noisy = sine(200, seconds=2.0) + np.random.default_rng(5).standard_normal((1, 2 * RATE)).astype(np.float32) * 0.1
    path = put(tmp_path, f"cut{suffix}", noisy)  # noise: the coded audio, not the codec's headers, fills the file
    complete = load_session(tmp_path)
    assert not {w.code for w in complete.warnings} & {"truncated", "length_mismatch"}
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    session = load_session(tmp_path)
    codes = {(w.track, w.code) for w in session.warnings}
    assert ("cut", "truncated") in codes and session.samples == 2 * RATE
    # MP3: its Xing header still counts 2 s; OGG: its last (cut) page counts further than the decoder gets
    said = {".mp3": "its header says", ".ogg": "its last page counts"}[suffix]
    assert said in next(w.message for w in session.warnings if w.code == "truncated")


@pytest.mark.parametrize("rate", [1, 4000, 7999, 384001, 768000])
def test_rates_outside_8_to_384_khz_are_refused_up_front(tmp_path, rate):
    path = put(tmp_path, "odd.wav", sine(1, seconds=max(1.0, 2.0 / rate), rate=max(rate, 1)), rate=rate)
    with pytest.raises(AudioInputError, match=rf"odd\.wav: expected a sample rate of 8000\.\.384000 Hz, found "
                                              rf"{rate} Hz.*fix"):
        audio_io.audio_info(path)


def test_folder_scan_names_what_it_leaves_out(tmp_path):
    from mixdown.audio import plan_session

    for name in ["kick.wav", "mix.wav", "Mixture.flac", "preview.wav"]:
        put(tmp_path, name, sine(100))
    (tmp_path / "x.wav").mkdir()
    plan = plan_session(tmp_path)
    assert plan.names == ["kick"]
    skipped = {w.track: w.message for w in plan.warnings}
    assert set(skipped) == {"mix.wav", "Mixture.flac", "preview.wav", "x.wav"}
    assert "rename it (e.g. mix_track.wav)" in skipped["mix.wav"] and "a folder" in skipped["x.wav"]
    assert {w.code for w in plan.warnings} == {"skipped"}
    kept = plan_session(tmp_path, keep=["MIX"])  # a track an intent names is meant as a track
    assert kept.names == ["kick", "mix"] and {w.track for w in kept.warnings} == {"Mixture.flac", "preview.wav", "x.wav"}
    alone = tmp_path / "alone"
    alone.mkdir()
    put(alone, "mix.wav", sine(100))
    assert plan_session(alone).names == ["mix"] and plan_session(alone).warnings == ()  # a mix on its own is kept


@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_a_link_that_leads_nowhere_is_refused(tmp_path, kind):
    put(tmp_path, "kick.wav", sine(100))
    (tmp_path / "bass.wav").symlink_to(tmp_path / ("bass.wav" if kind == "loop" else "gone.wav"))
    words = "link that loops back on itself" if kind == "loop" else r"link to .*gone\.wav, which does not exist"
    with pytest.raises(AudioInputError, match=rf"bass\.wav: expected an audio file, found a symbolic {words}.*fix"):
        load_session(tmp_path)


def test_stack_duplicates_mono_only_when_asked(tmp_path):
    put(tmp_path, "a_mono.wav", sine(100))
    put(tmp_path, "b_stereo.wav", np.stack([sine(100)[0], sine(200)[0]]))
    session = load_session(tmp_path)
    with pytest.raises(AudioInputError, match="channels=2"):
        session.stack()
    with pytest.raises(AudioInputError, match="b_stereo"):
        session.stack(channels=1)
    with pytest.raises(ParameterError):
        session.stack(channels=3)
    stacked = session.stack(channels=2)
    assert stacked.shape == (2, 2, session.samples)
    assert torch.equal(stacked[0, 0], stacked[0, 1]) and torch.equal(stacked[0, 0], session.tracks[0].audio[0])
    assert torch.equal(stacked[1], session.tracks[1].audio)


def test_session_refuses_inconsistent_tracks():
    one = Track("a", Path("a.wav"), torch.zeros(1, 10), RATE)
    with pytest.raises(AudioInputError, match="one length"):
        Session([one, Track("b", Path("b.wav"), torch.zeros(1, 11), RATE)], RATE)
    with pytest.raises(AudioInputError, match="twice"):
        Session([one, Track("A", Path("x/A.wav"), torch.zeros(2, 10), RATE)], RATE)
    with pytest.raises(AudioInputError, match="channels"):
        Track("c", Path("c.wav"), torch.zeros(3, 10), RATE)


@pytest.mark.skipif(not DEMO.is_dir(), reason="demo stems not present")
def test_demo_stems():
    session = load_session(DEMO)
    assert len(session.tracks) == 12 and session.sample_rate == 44100
    assert session.samples == 15 * 44100
    assert session.stack(channels=2).shape == (12, 2, 15 * 44100)
