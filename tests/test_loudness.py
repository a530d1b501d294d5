"""Loudness meter: BS.1770-4 filter coefficients, EBU Tech 3341 / 3342 conformance on synthesised signals,
agreement with pyloudnorm, sample rates, batch == singles, silence and errors."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import sosfreqz

from mixdown.analysis import LoudnessReport, block_energies, k_weighting_sos, measure_loudness
from mixdown.errors import AudioInputError, ParameterError

FS = 48000
STEMS = Path("/work/shared/data/demo/saber-finalstep/stems")


def tone_steps(steps, sample_rate=FS, frequency_hz=1000.0, repeats=1, phase=0.0, fade_s=0.0):
    """Stereo sine (same in both channels) with continuous phase whose peak level follows ``steps``.

    Args:
        steps: ``[(level_dbfs, seconds), ...]`` played in order, ``repeats`` times.
    Returns:
        float64 ``(2, samples)``.
    """
    envelope = np.concatenate(
        [np.full(round(seconds * sample_rate), 10.0 ** (level / 20.0)) for level, seconds in steps] * repeats
    )
    t = np.arange(envelope.size) / sample_rate
    if fade_s:  # raised-cosine fade in and out, so an abrupt start does not ring over the steady peak
        ramp = np.sin(np.linspace(0.0, np.pi / 2, round(fade_s * sample_rate))) ** 2
        envelope[: ramp.size] *= ramp
        envelope[-ramp.size :] *= ramp[::-1]
    y = envelope * np.sin(2 * np.pi * frequency_hz * t + phase)
    return np.stack([y, y])


def pyloudnorm_meter(sample_rate, filter_class="K-weighting"):
    pyln = pytest.importorskip("pyloudnorm")
    return pyln.Meter(sample_rate, filter_class=filter_class)


# --- K-weighting design ------------------------------------------------------------------------------------------


def test_k_weighting_reproduces_bs1770_coefficients_at_48k():
    table = np.array(
        [
            [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585],
            [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
        ]
    )
    np.testing.assert_allclose(k_weighting_sos(48000), table, rtol=0, atol=1e-6)


@pytest.mark.parametrize("sample_rate", [44100, 96000])
def test_k_weighting_response_is_the_same_curve_at_other_rates(sample_rate):
    freqs = np.array([20.0, 38.0, 100.0, 1000.0, 1682.0, 4000.0, 10000.0])
    _, h48 = sosfreqz(k_weighting_sos(48000), worN=freqs, fs=48000)
    _, h = sosfreqz(k_weighting_sos(sample_rate), worN=freqs, fs=sample_rate)
    # 0.03 dB: the RLB numerator [1, -2, 1] (as in the standard's table and libebur128) leaves a passband gain
    # 1 + K/Q + K^2 that depends on the rate (+0.043 dB at 48 kHz, +0.022 dB at 96 kHz)
    np.testing.assert_allclose(20 * np.log10(abs(h)), 20 * np.log10(abs(h48)), atol=0.03)
    # +4 dB shelf above ~2 kHz, -inf at DC, about +0.69 dB at 1 kHz (hence BS.1770's -0.691 offset)
    assert 20 * np.log10(abs(h[3])) == pytest.approx(0.691, abs=0.02)


# --- EBU Tech 3341 -----------------------------------------------------------------------------------------------


def test_tech3341_cases_1_2_steady_sines_read_their_level_everywhere():
    x = np.stack([tone_steps([(-23.0, 20.0)]), tone_steps([(-33.0, 20.0)])])  # one batch, two cases
    case1, case2 = measure_loudness(x, FS)
    for report, level in ((case1, -23.0), (case2, -33.0)):
        assert report.integrated_lufs == pytest.approx(level, abs=0.1)
        np.testing.assert_allclose(report.momentary_lufs, level, atol=0.1)
        np.testing.assert_allclose(report.short_term_lufs, level, atol=0.1)
        assert report.momentary_lufs.shape == (197,) and report.short_term_lufs.shape == (171,)  # 10 Hz
        assert report.loudness_range_lu == pytest.approx(0.0, abs=0.01)


@pytest.mark.parametrize(
    "steps",
    [
        [(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)],  # case 3: relative gate
        [(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)],  # case 4: absolute gate
        [(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)],  # case 5: gating on a level between
    ],
    ids=["case3", "case4", "case5"],
)
def test_tech3341_gated_integrated_loudness(steps):
    x = torch.from_numpy(tone_steps(steps)).float()
    assert measure_loudness(x, FS).integrated_lufs == pytest.approx(-23.0, abs=0.1)


def test_tech3341_case9_short_term_constant():
    # -20 dBFS for 1.34 s then -30 dBFS for 1.66 s: every 3 s window holds the same energy
    report = measure_loudness(tone_steps([(-20.0, 1.34), (-30.0, 1.66)], repeats=7), FS)
    np.testing.assert_allclose(report.short_term_lufs, -23.0, atol=0.1)


def test_tech3341_case12_momentary_constant():
    # -20 dBFS for 0.18 s then -30 dBFS for 0.22 s: every 400 ms window holds the same energy
    report = measure_loudness(tone_steps([(-20.0, 0.18), (-30.0, 0.22)], repeats=50), FS)
    np.testing.assert_allclose(report.momentary_lufs, -23.0, atol=0.1)


@pytest.mark.parametrize(
    "divisor, phase_deg, sample_peak_db",
    [(4, 0.0, -6.0), (4, 45.0, -9.01), (6, 60.0, -7.25), (8, 67.5, -6.69)],
    ids=["case15", "case16", "case17", "case18"],
)
def test_tech3341_true_peak_of_sines_between_samples(divisor, phase_deg, sample_peak_db):
    # -6 dBFS sines at fs/4, fs/6, fs/8 sampled off their crests: true peak -6.0 dBTP (Tech 3341: +0.2 / -0.4).
    # Faded in and out over 20 ms: the meter counts the reconstruction's ringing at an abrupt start (up to +0.7 dB).
    x = tone_steps([(-6.0, 1.0)], frequency_hz=FS / divisor, phase=np.deg2rad(phase_deg), fade_s=0.02)
    report = measure_loudness(x, FS)
    assert report.true_peak_db == pytest.approx(-6.0, abs=0.2)
    assert report.sample_peak_db == pytest.approx(sample_peak_db, abs=0.01)


@pytest.mark.parametrize("sample_rate", [44100, 48000])
def test_full_scale_samples_with_true_peak_3db_over(sample_rate):
    # fs/4 at 45 deg: every sample is +-1 (0 dBFS) and the crests between them reach +3.01 dBTP
    x = tone_steps([(3.0103, 1.0)], sample_rate, frequency_hz=sample_rate / 4, phase=np.pi / 4, fade_s=0.02)
    report = measure_loudness(x, sample_rate)
    assert report.sample_peak_db == pytest.approx(0.0, abs=1e-6)
    assert report.true_peak_db == pytest.approx(3.01, abs=0.2)
    assert report.plr_db == pytest.approx(report.true_peak_db - report.integrated_lufs, abs=1e-9)


# --- EBU Tech 3342 -----------------------------------------------------------------------------------------------


def test_tech3342_cases_1_to_3_loudness_range():
    cases = [((-20.0, -30.0), 10.0), ((-20.0, -15.0), 5.0), ((-40.0, -20.0), 20.0)]
    x = np.stack([tone_steps([(a, 20.0), (b, 20.0)]) for (a, b), _ in cases])
    reports = measure_loudness(x, FS)
    for report, (_, expected) in zip(reports, cases):
        assert report.loudness_range_lu == pytest.approx(expected, abs=1.0)


def test_tech3342_case4_five_steps():
    x = tone_steps([(-50.0, 20.0), (-35.0, 20.0), (-20.0, 20.0), (-35.0, 20.0), (-50.0, 20.0)])
    assert measure_loudness(x, FS).loudness_range_lu == pytest.approx(15.0, abs=1.0)


# --- against pyloudnorm ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sample_rate", [44100, 48000, 96000])
def test_integrated_matches_pyloudnorm_on_noise(sample_rate):
    rng = np.random.default_rng(sample_rate)
    x = rng.standard_normal((2, 10 * sample_rate)) * np.array([[0.1], [0.05]])
    ours = measure_loudness(x, sample_rate).integrated_lufs
    # Same filter design (pyloudnorm's "DeMan" = libebur128's): only summation order differs.
    assert ours == pytest.approx(pyloudnorm_meter(sample_rate, "DeMan").integrated_loudness(x.T), abs=1e-3)
    # pyloudnorm's default designs the filters from RBJ cookbook approximations: close, not equal.
    assert ours == pytest.approx(pyloudnorm_meter(sample_rate).integrated_loudness(x.T), abs=0.05)


@pytest.mark.skipif(not STEMS.is_dir(), reason="demo stems not present")
def test_integrated_matches_pyloudnorm_on_demo_stems():
    from mixdown.audio.io import read_audio

    for path in sorted(STEMS.glob("*.flac")):
        audio, sample_rate = read_audio(path)
        ours = measure_loudness(audio, sample_rate).integrated_lufs
        theirs = pyloudnorm_meter(sample_rate).integrated_loudness(audio.T.astype(np.float64))
        assert ours == pytest.approx(theirs, abs=0.05), path.name


# --- rates, batching, edges, errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("sample_rate", [44100, 48000, 96000])
def test_sine_reads_its_level_at_every_rate(sample_rate):
    report = measure_loudness(tone_steps([(-23.0, 5.0)], sample_rate), sample_rate)
    assert report.integrated_lufs == pytest.approx(-23.0, abs=0.1)
    assert report.momentary_lufs.size == 47  # 10 Hz regardless of rate


def test_mono_sine_reads_3db_below_the_same_stereo_sine():
    stereo = tone_steps([(-23.0, 5.0)])
    mono, both = measure_loudness(stereo[:1], FS), measure_loudness(stereo, FS)
    assert both.integrated_lufs - mono.integrated_lufs == pytest.approx(10 * np.log10(2), abs=1e-6)


def test_batch_equals_singles():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 2, 4 * FS)) * np.array([0.3, 0.01, 0.0003])[:, None, None]
    x[2, :, : FS // 2] = 0.0  # a gap the gates must handle per track
    batch = measure_loudness(torch.from_numpy(x), FS)
    for b in range(3):
        single = measure_loudness(x[b], FS)
        for name, value in single.to_dict().items():
            np.testing.assert_allclose(getattr(batch[b], name), value, rtol=0, atol=1e-9, err_msg=name)


def test_float32_and_float64_agree():
    x = np.random.default_rng(5).standard_normal((2, 3 * FS)) * 0.1
    r64, r32 = measure_loudness(x, FS), measure_loudness(x.astype(np.float32), FS)
    assert r32.integrated_lufs == pytest.approx(r64.integrated_lufs, abs=1e-4)
    np.testing.assert_allclose(r32.momentary_lufs, r64.momentary_lufs, atol=1e-4)


def test_silence_reads_minus_inf_without_warnings_or_nan():
    x = np.zeros((2, 2, 4 * FS))
    x[1, 0, FS] = 1e-6  # one tiny click: peaks but no gated loudness
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        silent, click = measure_loudness(x, FS)
    assert silent.integrated_lufs == -np.inf and silent.loudness_range_lu == 0.0 and silent.plr_db == 0.0
    assert silent.sample_peak_db == -np.inf and silent.true_peak_db == -np.inf
    assert np.all(silent.momentary_lufs == -np.inf) and np.all(silent.short_term_lufs == -np.inf)
    assert click.integrated_lufs == -np.inf and click.plr_db == np.inf
    assert click.sample_peak_db == pytest.approx(-120.0, abs=1e-9)
    for report in (silent, click):
        values = np.concatenate([np.atleast_1d(v) for v in report.to_dict().values()])
        assert not np.isnan(values).any()


def test_shortest_signal_is_400_ms():
    report = measure_loudness(np.full((1, 17640), 0.1), 44100)  # exactly one block
    assert report.momentary_lufs.shape == (1,) and report.short_term_lufs.shape == (0,)
    assert report.loudness_range_lu == 0.0
    with pytest.raises(AudioInputError, match=r"at least 400 ms of audio \(17640 samples"):
        measure_loudness(np.full((1, 17639), 0.1), 44100)


def test_bad_inputs_raise():
    with pytest.raises(AudioInputError, match="expected 1 or 2 channels"):
        measure_loudness(np.zeros((6, FS)), FS)
    with pytest.raises(AudioInputError, match="float"):
        measure_loudness(np.zeros((2, FS), dtype=np.int16), FS)
    with pytest.raises(AudioInputError):
        measure_loudness(np.zeros(FS), FS)
    with pytest.raises(ParameterError, match="sample_rate"):
        measure_loudness(np.zeros((2, FS)), 0)


def test_report_to_dict_is_json_ready():
    report = measure_loudness(tone_steps([(-23.0, 4.0)]), FS)
    assert isinstance(report, LoudnessReport)
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) == {
        "integrated_lufs",
        "short_term_lufs",
        "momentary_lufs",
        "loudness_range_lu",
        "sample_peak_db",
        "true_peak_db",
        "plr_db",
    }
    assert len(data["short_term_lufs"]) == 11


def test_block_energies_equal_a_plain_reference():
    from scipy.signal import sosfilt as scipy_sosfilt

    x = np.random.default_rng(9).standard_normal((1, 2, 44100)) * 0.2
    momentary, short_term = block_energies(torch.from_numpy(x), 44100)
    y = scipy_sosfilt(k_weighting_sos(44100), x[0], axis=-1)
    expected = [np.sum(np.mean(y[:, k * 4410 : k * 4410 + 17640] ** 2, axis=1)) for k in range(7)]
    np.testing.assert_allclose(momentary[0].numpy(), expected, rtol=1e-10)
    assert short_term.shape == (1, 0)
