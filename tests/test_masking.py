"""Inter-track masking matrix: level differences of sines in one Bark band, octave separation, gain, silence, shape."""

import numpy as np
import pytest
import torch

from mixdown.analysis.masking import bark, masking_matrix
from mixdown.errors import AudioInputError, ParameterError

FS = 44100
SECONDS = 2.0


def tone(frequency_hz, amplitude):
    """Sine with 50 ms raised-cosine fades (no onset clicks to splatter across bands), ``(1, samples)``."""
    t = np.arange(round(SECONDS * FS)) / FS
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.05)
    return (amplitude * np.sin(2 * np.pi * frequency_hz * t) * (0.5 - 0.5 * np.cos(np.pi * ramp)))[None]


def band_of(report, frequency_hz):
    """Index of the equal-Bark band that holds ``frequency_hz`` (centres are Bark midpoints)."""
    return int(np.argmin(np.abs(bark(report.centres_hz) - bark(frequency_hz))))


def test_same_band_masks_by_the_level_difference_and_only_downwards():
    # 940 and 980 Hz share the ~880..1045 Hz band; the masker is 20 log10(0.5 / 0.1) = 13.98 dB louder.
    report = masking_matrix(np.stack([tone(940.0, 0.5), tone(980.0, 0.1)]), FS)
    assert report.mean_db[0, 1] == pytest.approx(13.98, abs=0.1)
    assert report.mean_db[1, 0] == pytest.approx(0.0, abs=1e-6)  # a quieter masker hides nothing
    np.testing.assert_array_equal(np.diag(report.mean_db), 0.0)
    np.testing.assert_array_equal(report.band_db[[0, 1], [0, 1]], 0.0)


def test_four_octaves_apart_barely_mask():
    for low, high in ((0.5, 0.1), (0.1, 0.5)):
        report = masking_matrix(np.stack([tone(250.0, low), tone(4000.0, high)]), FS)
        assert np.abs(report.mean_db).max() < 1.0


def test_six_db_more_masker_gain_gives_six_db_more_masking_in_its_band():
    x = np.stack([tone(940.0, 0.25), tone(980.0, 0.1)])
    before = masking_matrix(x, FS)
    x[0] *= 10 ** (6.0 / 20)
    after = masking_matrix(x, FS)
    band = band_of(before, 960.0)
    assert after.band_db[0, 1, band] - before.band_db[0, 1, band] == pytest.approx(6.0, abs=0.05)


def test_silent_track_neither_masks_nor_is_masked():
    x = np.stack([tone(940.0, 0.5), tone(980.0, 0.1), np.zeros((1, round(SECONDS * FS)))])
    report = masking_matrix(torch.from_numpy(x), FS)
    np.testing.assert_array_equal(report.mean_db[2], 0.0)
    np.testing.assert_array_equal(report.mean_db[:, 2], 0.0)
    np.testing.assert_array_equal(report.band_db[2], 0.0)
    np.testing.assert_array_equal(report.band_db[:, 2], 0.0)
    assert report.mean_db[0, 1] == pytest.approx(13.98, abs=0.1)  # the others are unaffected
    assert (report.excitation_db[2] == report.floor_db).all()


def test_masking_peaks_in_the_band_of_the_masking_sine():
    # Target: white noise at -30 dB RMS, flat on every band; masker: a loud 2 kHz sine, whose excitation falls
    # by 10 dB (above) and 25 dB (below) per Bark, so the excess is largest in the sine's own band.
    noise = 0.03 * np.random.default_rng(7).standard_normal((1, round(SECONDS * FS)))
    report = masking_matrix(np.stack([tone(2000.0, 0.5), noise]), FS)
    assert int(np.argmax(report.band_db[0, 1])) == band_of(report, 2000.0)
    assert report.band_db[0, 1].max() > 10.0
    centres_bark = bark(report.centres_hz)
    assert abs(centres_bark[np.argmax(report.band_db[0, 1])] - bark(2000.0)) < 0.51  # half a band


def test_shapes_axes_and_band_layout():
    x = np.stack([tone(300.0, 0.3), tone(1000.0, 0.3), tone(5000.0, 0.3)]).repeat(2, axis=1)  # stereo
    report = masking_matrix(x.astype(np.float32), FS, n_bands=20, hop_s=0.05)
    assert report.band_db.shape == (3, 3, 20)
    assert report.mean_db.shape == (3, 3)
    assert report.centres_hz.shape == (20,)
    assert report.excitation_db.shape == (3, 20, report.times_s.size)
    assert report.times_s.size == 1 + x.shape[-1] // round(0.05 * FS)
    assert report.times_s[1] == pytest.approx(0.05)
    widths = np.diff(bark(report.centres_hz))
    np.testing.assert_allclose(widths, (bark(20000.0) - bark(20.0)) / 20, rtol=1e-9)  # equal Bark widths
    assert (report.band_db >= 0).all()


def test_bad_inputs_raise():
    with pytest.raises(AudioInputError):
        masking_matrix(tone(1000.0, 0.5), FS)  # 2-D: no track axis
    with pytest.raises(AudioInputError):
        masking_matrix(np.zeros((2, 3, FS)), FS)  # 3 channels
    with pytest.raises(AudioInputError):
        masking_matrix(np.zeros((2, 1, 1000)), FS)  # shorter than one window
    with pytest.raises(AudioInputError):
        masking_matrix(np.zeros((2, 1, FS), dtype=np.int16), FS)
    with pytest.raises(AudioInputError):
        masking_matrix([[0.0] * FS], FS)
    with pytest.raises(ParameterError):
        masking_matrix(np.zeros((2, 1, FS)), 1000.0)
    with pytest.raises(ParameterError):
        masking_matrix(np.zeros((2, 1, FS)), FS, n_bands=0)
    with pytest.raises(ParameterError):
        masking_matrix(np.zeros((2, 1, FS)), FS, hop_s=0.0)


def test_chunked_pair_means_equal_a_per_pair_reference(monkeypatch):
    from mixdown.analysis import masking

    monkeypatch.setattr(masking, "_PAIR_CHUNK_ELEMENTS", 3 * 3 * 24 * 4)  # chunks of 4 frames, 21 frames in all
    rng = np.random.default_rng(3)
    x = np.stack([tone(300.0, 0.4), tone(700.0, 0.2) + 0.01 * rng.standard_normal((1, round(SECONDS * FS))),
                  tone(330.0, 0.05)])
    report = masking.masking_matrix(x, FS)
    e = report.excitation_db.astype(np.float64)
    audible = e > report.floor_db
    for i in range(3):
        for j in range(3):
            excess = np.where(audible[j], np.maximum(0.0, e[i] - e[j]), 0.0)
            counts = audible[j].sum(-1)
            expected = np.where(counts > 0, excess.sum(-1) / np.maximum(counts, 1), 0.0)
            np.testing.assert_allclose(report.band_db[i, j], expected, atol=1e-4)
            assert report.mean_db[i, j] == pytest.approx(excess.sum() / audible[j].sum(), abs=1e-4)
