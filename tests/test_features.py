"""Spectral, stereo and dynamics features: closed forms on synthetic signals, batch == singles, input errors."""

import math

import numpy as np
import pytest
import torch

from mixdown.analysis.dynamics import activity, dynamics_features
from mixdown.analysis.spectral import average_spectrum, frame_descriptors
from mixdown.analysis.stereo import stereo_features
from mixdown.dsp.dynamics import compressor
from mixdown.errors import AudioInputError, ParameterError

FS = 44100
RNG = np.random.default_rng(1234)


def sine(frequency_hz, seconds=2.0, amplitude=1.0):
    t = np.arange(round(seconds * FS)) / FS
    return amplitude * np.sin(2 * np.pi * frequency_hz * t)


def pink(seconds, rng):
    """Gaussian noise with power density proportional to 1/f (equal power per octave), unit RMS."""
    n = round(seconds * FS)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / FS)
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0
    y = np.fft.irfft(spectrum, n)
    return y / np.sqrt(np.mean(y**2))


def drums(seconds, rng):
    """Decaying noise bursts every 250 ms with peak levels spread over -30..0 dB, mono ``(1, samples)``."""
    n = round(seconds * FS)
    y = np.zeros(n)
    hit = rng.standard_normal(4000) * np.exp(-np.arange(4000) / 600)
    hit /= np.abs(hit).max()
    for start in range(0, n - 4000, FS // 4):
        y[start : start + 4000] += 10 ** (rng.uniform(-30, 0) / 20) * hit
    return y[None]


def test_sine_spectrum_peaks_in_its_band_at_its_mean_square():
    for frequency in (100.0, 1000.0, 5000.0):
        x = np.stack([sine(frequency)] * 2)
        centres, level = average_spectrum(x, FS)
        band = np.argmin(np.abs(np.log2(centres / frequency)))
        assert np.argmax(level) == band
        assert level[band] == pytest.approx(-3.0103, abs=0.05)  # mean square of a full-scale sine


def test_third_octave_centres():
    centres, _ = average_spectrum(np.zeros((1, 20000)), FS)
    assert centres[0] == pytest.approx(19.69, abs=0.01) and centres[-1] == pytest.approx(20158.7, abs=0.1)
    assert len(centres) == 31 and 1000.0 in centres


def test_pink_noise_third_octaves_are_flat():
    centres, level = average_spectrum(pink(20.0, RNG)[None], FS)
    inside = (centres >= 100) & (centres <= 10000)
    assert np.ptp(level[inside]) < 3.0
    assert np.all(np.abs(level[inside] - np.median(level[inside])) < 1.5)


def test_white_noise_levels_sum_to_its_mean_square():
    x = RNG.standard_normal((1, 10 * FS)) * 0.1
    _, level = average_spectrum(x, FS, bands_per_octave=1, fmin=1.0, fmax=FS / 2)
    assert 10 * np.log10(np.sum(10 ** (level / 10))) == pytest.approx(-20.0, abs=0.05)


def test_sine_descriptors():
    for frequency in (440.0, 3000.0):
        d = frame_descriptors(np.stack([sine(frequency)] * 2), FS)
        middle = slice(5, -5)  # away from the reflect-padded edges
        assert np.median(d["centroid"][middle]) == pytest.approx(frequency, rel=0.02)
        assert np.max(d["flatness"][middle]) < 1e-6
        assert np.median(d["rolloff"][middle]) == pytest.approx(frequency, rel=0.03)
        exact, floor = _sine_bandwidth_hz(frequency, len(d["bandwidth"]))
        assert np.median(exact[middle]) < 0.05 * frequency  # a sine is narrow: its window's leakage only
        measured = d["bandwidth"][middle]
        assert np.all(measured >= 0.98 * exact[middle])
        assert np.all(measured <= np.sqrt(exact[middle] ** 2 + floor[middle]))
        assert np.median(d["contrast"][middle]) > 20.0


def _sine_bandwidth_hz(frequency, frames, n_fft=4096, hop=1024):
    """Per frame, the bandwidth of :func:`sine` computed exactly (float64), and the most the float32 rounding
    of the analysis can add to its square, Hz^2.

    The magnitude-weighted second moment weighs every bin by ``(f - centroid)^2``, up to (22 kHz)^2, so the
    rounding floor of a float32 FFT (about 1e-6 of the peak bin, -120 dB, in every bin) is not negligible against
    the Hann window's leakage of a pure tone: it adds ``sum |N| (f - c)^2 / sum S`` to the square. With the
    standard model of rounding errors in an FFT (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed.,
    section 24.1: random errors grow as sqrt(log2 n)), each bin's error has RMS at most
    ``u sqrt(log2 n) ||x w||_2`` (u = 2^-24), which bounds its mean magnitude. How much of that margin a run
    uses depends on the FFT library's order of operations (22.1 Hz for 440 Hz with one build, 11.5 Hz exact).
    """
    padded = np.pad(sine(frequency), n_fft // 2, mode="reflect")  # as the analysis frames it (centred)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    freqs = np.fft.rfftfreq(n_fft, 1.0 / FS)
    exact, floor = np.zeros(frames), np.zeros(frames)
    for k in range(frames):
        frame = padded[k * hop : k * hop + n_fft] * window
        magnitude = np.abs(np.fft.rfft(frame))
        centroid = magnitude @ freqs / magnitude.sum()
        exact[k] = np.sqrt(magnitude @ (freqs - centroid) ** 2 / magnitude.sum())
        noise = 2.0**-24 * math.sqrt(math.log2(n_fft)) * np.linalg.norm(frame)
        floor[k] = noise * np.sum((freqs - centroid) ** 2) / magnitude.sum()
    return exact, floor


def test_white_noise_descriptors():
    d = frame_descriptors(RNG.standard_normal((1, 5 * FS)) * 0.1, FS)
    # power of complex Gaussian bins is exponential: geometric / arithmetic mean = exp(-Euler gamma)
    assert np.median(d["flatness"]) == pytest.approx(math.exp(-0.5772156649), abs=0.01)
    assert np.median(d["rolloff"]) == pytest.approx(0.85 * FS / 2, rel=0.01)
    assert np.median(d["centroid"]) == pytest.approx(FS / 4, rel=0.01)
    assert np.median(d["bandwidth"]) == pytest.approx(FS / 2 / math.sqrt(12), rel=0.02)  # uniform on [0, Nyq]
    assert d["centroid"].shape == (1 + 5 * FS // 1024,) == d["times_s"].shape


def test_silence_descriptors_are_finite():
    d = frame_descriptors(np.zeros((2, 8192)), FS)
    assert all(np.all(np.isfinite(v)) for v in d.values())
    assert np.all(d["centroid"] == 0) and np.allclose(d["flatness"], 1.0, atol=1e-5)


def test_stereo_closed_forms():
    s = sine(440.0, 1.0)
    left = stereo_features(np.stack([s, np.zeros_like(s)]), FS)
    assert left["balance"] == -1.0 and left["correlation"] == 0.0 and left["width"] == pytest.approx(1.0)
    assert np.allclose(left["spi_mean"], -1.0) and np.all(left["spi_rms"] > 0.999)
    right = stereo_features(np.stack([np.zeros_like(s), s]), FS)
    assert right["balance"] == 1.0 and np.allclose(right["spi_mean"], 1.0)
    same = stereo_features(np.stack([s, s]), FS)
    assert same["correlation"] == pytest.approx(1.0) and same["width"] == 0.0 and same["width_db"] == -math.inf
    assert np.all(same["spi_rms"] == 0.0)
    assert stereo_features(np.stack([s, -s]), FS)["correlation"] == pytest.approx(-1.0)
    mono = stereo_features(s[None], FS)
    assert (mono["correlation"], mono["width"], mono["balance"]) == (1.0, 0.0, 0.0)
    assert np.all(mono["spi_rms"] == 0)


def test_mid_side_width_and_panned_source():
    mid, side = RNG.standard_normal((2, 2 * FS))
    for side_gain in (0.25, 0.5, 1.0):
        x = np.stack([mid + side_gain * side, mid - side_gain * side])
        f = stereo_features(x, FS)
        assert f["width"] == pytest.approx(side_gain**2, rel=0.03)
        assert f["width_db"] == pytest.approx(20 * math.log10(side_gain), abs=0.15)
        assert f["correlation"] == pytest.approx((1 - side_gain**2) / (1 + side_gain**2), abs=0.02)
    # constant-power pan of one source: gains (cos, sin) -> SPI = (1 - sin 2a) * sign, balance = -cos 2a
    a = math.pi / 8
    f = stereo_features(np.stack([math.cos(a) * mid, math.sin(a) * mid]), FS)
    assert f["balance"] == pytest.approx(-math.cos(2 * a), abs=1e-9)
    assert np.allclose(f["spi_mean"], -(1 - math.sin(2 * a)), atol=1e-4)


def test_crest_factor():
    assert dynamics_features(np.stack([sine(441.0)] * 2), FS)["crest_db"] == pytest.approx(3.0103, abs=1e-3)
    square = np.sign(np.sin(2 * np.pi * 441.0 * np.arange(2 * FS) / FS + 0.1))
    assert dynamics_features(square[None], FS)["crest_db"] == pytest.approx(0.0, abs=1e-9)


def test_rms_envelope_and_spread():
    x = np.concatenate([sine(441.0, 2.0, 1.0), sine(441.0, 2.0, 0.1)])[None]
    f = dynamics_features(x, FS)
    assert f["rms_db"].shape == (1 + (x.shape[-1] - 4096) // 1024,)
    assert f["rms_db"][5] == pytest.approx(-3.0103, abs=0.01) and f["rms_db"][-5] == pytest.approx(-23.0103, abs=0.01)
    assert f["dynamic_spread_db"] == pytest.approx(10.0, abs=0.3)  # two equal halves 20 dB apart
    assert f["active_share"] == 1.0


def test_compression_raises_the_mean_onset_peak():
    dry = drums(20.0, RNG)
    wet = compressor(torch.from_numpy(dry[None]), FS, threshold_db=-30.0, ratio=10.0, attack_ms=0.0,
                     release_ms=50.0, knee_db=0.0)[0].numpy()
    f_dry, f_wet = dynamics_features(dry, FS), dynamics_features(wet, FS)
    assert f_dry["onset_count"] >= 15 and f_wet["onset_count"] >= 15
    assert f_wet["compression_mean_db"] > f_dry["compression_mean_db"] + 2.0
    assert f_wet["compression_std_db"] < f_dry["compression_std_db"]
    assert f_wet["compression_mean_db"] <= -10.0  # no onset louder than the normalised peak


def test_hit_peak_reads_the_hits_of_a_sparse_track_and_ignores_a_click():
    hits = np.zeros(8 * FS)
    burst = 0.5 * np.sin(2 * np.pi * 100.0 * np.arange(2000) / FS) * np.exp(-np.arange(2000) / FS * 50.0)
    for k in range(16):
        hits[k * FS // 2 : k * FS // 2 + 2000] = burst
    sparse = dynamics_features(hits[None], FS)
    assert sparse["hit_peak_db"] == pytest.approx(20 * math.log10(np.abs(burst).max()), abs=1e-6)
    clicked = hits.copy()
    clicked[FS // 4] = 1.0  # one click between two hits: one frame in the 90th percentile's top tenth at most
    assert dynamics_features(clicked[None], FS)["hit_peak_db"] == pytest.approx(sparse["hit_peak_db"], abs=1e-6)
    steady = dynamics_features(np.stack([sine(441.0, 4.0, 0.25)] * 2), FS)
    assert steady["hit_peak_db"] == pytest.approx(20 * math.log10(0.25), abs=0.01)
    assert dynamics_features(np.zeros((2, 2 * FS)), FS)["hit_peak_db"] == -math.inf


def test_activity_of_a_signal_silent_in_its_middle_third():
    x = RNG.standard_normal((2, 30 * FS)) * 0.1
    n = x.shape[-1]
    x[:, n // 3 : 2 * n // 3] = 0.0
    active = activity(x, FS)
    assert active.mean() == pytest.approx(2 / 3, abs=0.01)
    assert not active[len(active) // 2] and active[0] and active[-1]
    assert dynamics_features(x, FS)["active_share"] == active.mean()
    quiet = activity(x * 1e-4, FS)  # -100 dBFS noise: below the absolute floor
    assert not quiet.any()


def test_batch_equals_singles():
    tracks = np.stack([
        np.stack([sine(300.0, 1.5), 0.5 * sine(300.0, 1.5)]),
        RNG.standard_normal((2, round(1.5 * FS))) * 0.2,
        np.concatenate([drums(1.0, RNG), np.zeros((1, round(0.5 * FS)))], -1).repeat(2, 0),
    ]).astype(np.float32)
    batch = torch.from_numpy(tracks)
    for function in (frame_descriptors, stereo_features, dynamics_features):
        together = function(batch, FS)
        for i, track in enumerate(tracks):
            alone = function(track, FS)
            for name, value in alone.items():
                expected = together[name] if name == "times_s" else together[name][i]
                np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6, err_msg=f"{function.__name__} {name}")
    np.testing.assert_allclose(average_spectrum(batch, FS)[1][1], average_spectrum(tracks[1], FS)[1], rtol=1e-9)
    np.testing.assert_array_equal(activity(batch, FS)[2], activity(tracks[2], FS))


def test_bad_inputs_raise():
    with pytest.raises(AudioInputError, match="4096 samples"):
        dynamics_features(np.zeros((2, 4095)), FS)
    with pytest.raises(AudioInputError, match="2048 samples"):
        stereo_features(np.zeros((2, 100)), FS)
    with pytest.raises(AudioInputError, match="16384 samples"):
        average_spectrum(np.zeros((2, 16000)), FS)
    with pytest.raises(AudioInputError, match="channels"):
        frame_descriptors(np.zeros((3, 8192)), FS)
    with pytest.raises(AudioInputError, match="float"):
        activity(np.zeros(8192), FS)
    with pytest.raises(ParameterError, match="fmax"):
        average_spectrum(np.zeros((1, 20000)), 16000)
    with pytest.raises(ParameterError, match="threshold_db"):
        activity(np.zeros((2, 8192)), FS, threshold_db=6.0)
    with pytest.raises(ParameterError, match="sample_rate"):
        stereo_features(np.zeros((2, 8192)), 0)
