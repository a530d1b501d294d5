"""Block-by-block reading from disk: aligned, resampled, padded, and equal to loading whole files."""

import numpy as np
import pytest
import soundfile as sf
import torch

from mixdown.audio import BlockReader, load_session
from mixdown.errors import AudioInputError


def _write(path, seconds, rate, channels, freq, seed):
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    audio = 0.3 * np.sin(2 * np.pi * freq * t)[:, None] + 0.01 * rng.standard_normal((len(t), channels))
    sf.write(path, audio.astype(np.float32), rate, subtype="FLOAT")
    return path


def test_blocks_match_whole_file_loading_for_equal_rates(tmp_path):
    paths = [_write(tmp_path / "a.wav", 1.0, 44100, 1, 220, 0), _write(tmp_path / "b.wav", 0.7, 44100, 2, 330, 1)]
    session = load_session(paths)
    with BlockReader(paths, block_frames=4097) as reader:
        assert reader.channel_counts == [1, 2] and reader.frames == 44100
        blocks = list(reader)
    assert [b[0].shape[-1] for b in blocks] == [4097] * 10 + [44100 - 40970]
    for i, track in enumerate(session.tracks):
        joined = torch.cat([b[i] for b in blocks], -1)
        assert torch.equal(joined, track.audio)  # same samples, shorter file padded with zeros


def test_resampled_blocks_keep_length_and_pitch(tmp_path):
    paths = [_write(tmp_path / "a.wav", 2.0, 44100, 1, 440, 0), _write(tmp_path / "b.wav", 2.0, 48000, 1, 1000, 1),
             _write(tmp_path / "c.wav", 2.0, 44100, 2, 100, 2)]
    with BlockReader(paths, block_frames=10000) as reader:
        assert reader.sample_rate == 44100  # the most common rate
        resampled = torch.cat([b[1] for b in reader], -1)[0].numpy()
    assert resampled.shape == (88200,)
    spectrum = np.abs(np.fft.rfft(resampled[4410:-4410]))
    assert np.fft.rfftfreq(88200 - 8820, 1 / 44100)[spectrum.argmax()] == pytest.approx(1000, abs=1)
    whole = load_session(paths).tracks[1].audio[0].numpy()
    # streaming and one-shot soxr agree away from the edges
    assert np.abs(resampled[1000:-1000] - whole[1000:-1000]).max() < 1e-3


def test_inputs_are_read_only_and_bad_files_are_named(tmp_path):
    good = _write(tmp_path / "good.wav", 0.2, 44100, 1, 440, 0)
    before = good.read_bytes()
    with BlockReader([good]) as reader:
        list(reader)
    assert good.read_bytes() == before
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(AudioInputError, match="broken.wav"):
        BlockReader([good, bad])
