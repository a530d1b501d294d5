"""mixdown.evaluate: compare(x, x) is 0, each known change moves its own metric group, alignment is exact,
the AF features and the MR-STFT distance are differentiable (also on silence), bad input is refused."""

import json

import numpy as np
import pytest
import torch

from mixdown.analysis.loudness import measure_loudness
from mixdown.dsp.dynamics import compressor
from mixdown.dsp.filters import parametric_eq
from mixdown.errors import AudioInputError, ParameterError
from mixdown.evaluate import (
    AF_WEIGHTS,
    GROUPS,
    align,
    audio_feature_distances,
    audio_feature_loss,
    audio_features,
    compare,
    mrstft_distance,
)

FS = 44100
PANS = (0.0, -0.5, 0.4, 0.1, -0.3)  # bass, pad, lead, drums, hi-hat


def sources(seconds=10.0, seed=0):
    """Mono sources ``(5, samples)``: a bass line, a pad chord, a lead with vibrato, drum hits, hi-hat ticks."""
    rng = np.random.default_rng(seed)
    n = round(seconds * FS)
    t = np.arange(n) / FS

    def harmonic(f0, partials=6):
        return sum(np.sin(2 * np.pi * k * f0 * t + k) / k for k in range(1, partials + 1))

    notes = np.repeat(rng.choice([55.0, 65.4, 73.4, 82.4], size=int(seconds * 2) + 1), FS // 2)[:n]
    phase = 2 * np.pi * np.cumsum(notes) / FS
    bass = (np.sin(phase) + 0.3 * np.sin(2 * phase)) * (0.5 + 0.5 * np.exp(-(t % 0.5) * 6))
    pad = (harmonic(220.0) + harmonic(277.2) + harmonic(329.6)) / 3 * (0.6 + 0.4 * np.sin(2 * np.pi * 0.2 * t))
    lead = harmonic(880.0 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t)), 4) * (np.sin(2 * np.pi * 0.7 * t) > -0.3)
    drums = np.zeros(n)
    hit = rng.standard_normal(6000) * np.exp(-np.arange(6000) / 900)
    for start in range(0, n - 6000, FS // 4):
        drums[start:start + 6000] += 10 ** (rng.uniform(-20, 0) / 20) * hit
    hat = np.diff(rng.standard_normal(n + 1)) * np.exp(-(t % 0.125) * 60)
    return np.stack([0.5 * bass, 0.25 * pad, 0.15 * lead, 0.35 * drums, 0.1 * hat])


def pan_mix(srcs, pans):
    """Constant-power panning (cos, sin) of mono sources, summed: float32 ``(2, samples)``."""
    theta = (np.asarray(pans) + 1) * np.pi / 4
    return np.stack([(np.cos(theta)[:, None] * srcs).sum(0), (np.sin(theta)[:, None] * srcs).sum(0)]).astype(
        np.float32)


def loudness_matched(y, reference):
    """``y`` scaled to the integrated loudness of ``reference`` (what a fair A/B does)."""
    gain_db = measure_loudness(reference, FS).integrated_lufs - measure_loudness(y, FS).integrated_lufs
    return (y * 10 ** (gain_db / 20)).astype(np.float32)


@pytest.fixture(scope="module")
def srcs():
    return sources()


@pytest.fixture(scope="module")
def x(srcs):
    return pan_mix(srcs, PANS)


def distances(c):
    """Every number of a Comparison that must be 0 for identical signals."""
    yield from (v for group in c.fxnorm.values() for v in group.values())
    yield from c.fxnorm_means.values()
    yield from (v["distance"] for v in c.audio_features.values())
    yield c.audio_feature_loss
    yield from c.mrstft.values()


def test_identical_signals_compare_to_zero_everywhere(x):
    c = compare(x, x, FS)
    assert set(c.fxnorm) == set(GROUPS) and set(c.audio_features) == set(AF_WEIGHTS)
    assert all(v == 0.0 for v in distances(c))
    assert c.alignment.lag_samples == 0 and c.alignment.correlation == pytest.approx(1.0, abs=1e-6)
    assert c.loudness_match_db == 0.0
    json.dumps(c.to_dict(), allow_nan=False)  # plain floats, lists and dicts only


def test_mono_and_its_duplicated_stereo_are_the_same_mix(x):
    mono = x[:1]
    c = compare(mono, np.concatenate([mono, mono]), FS, align=False)
    assert all(v == 0.0 for v in distances(c))


def test_gain_moves_only_loudness(x):
    c = compare(x * 10 ** (6 / 20), x, FS)
    # linear amplitudes: +6 dB reads 10^(6/20) - 1 = 99.5 % on loudness and on true peak
    assert c.fxnorm["loudness"]["integrated_loudness"] == pytest.approx(99.53, abs=0.05)
    assert c.fxnorm["loudness"]["peak"] == pytest.approx(99.53, abs=0.05)
    # the other groups are peak-normalised and MR-STFT loudness-matched: only float32 rounding is left
    assert max(c.fxnorm_means[g] for g in ("spectral", "panning", "dynamics")) < 1e-3
    assert c.mrstft["total"] < 1e-4 and c.loudness_match_db == pytest.approx(-6.0, abs=1e-3)
    assert c.audio_features["rms_db"]["distance"] == pytest.approx(6.0, abs=1e-3)
    assert c.audio_features["width"]["distance"] < 1e-6 and c.audio_features["crest_db"]["distance"] < 1e-3


def test_pan_change_moves_panning_and_imbalance(srcs, x):
    moved = pan_mix(srcs, (0.0, -0.5, 0.8, 0.1, -0.3))  # the lead from 0.4 to 0.8 right
    c = compare(moved, x, FS)
    means = c.fxnorm_means
    # measured: panning 57.6 %, spectral 1.5 %, dynamics 0.8 %, loudness 0.7 %. Constant-power panning keeps each
    # source's energy (dynamics) and changes its mono-sum level by only 1.4 dB (spectral); both stay under 5 %.
    assert means["panning"] > 20.0
    assert max(means["spectral"], means["dynamics"], means["loudness"]) < 5.0
    assert means["panning"] > 10 * max(means["spectral"], means["dynamics"], means["loudness"])
    imbalance = c.audio_features["imbalance"]
    assert imbalance["mix"] > imbalance["reference"] + 0.02 and imbalance["distance"] > 0.02
    assert c.mrstft["difference"] > 5 * c.mrstft["sum"]  # the side signal changes, the mid hardly


def test_eq_change_moves_spectral_most(x):
    shelf = parametric_eq(torch.from_numpy(x)[None], FS, high_shelf_gain_db=6.0, high_shelf_freq_hz=4000.0)
    c = compare(loudness_matched(shelf[0].numpy(), x), x, FS)
    means = c.fxnorm_means
    # measured: spectral 40.7 %, loudness 23 % (true peak +45 %, integrated 0), dynamics 23 %, panning 0.06 %.
    # A brighter mix has sharper peaks, so after FxNorm's peak normalisation the dynamics move too; the spectral
    # group still moves most (centroid +29 %, roll-off +17 %), and a shelf on both channels leaves the pan alone.
    assert means["spectral"] > 25.0
    assert means["spectral"] > 1.4 * max(means["dynamics"], means["loudness"])
    assert means["panning"] < 1.0
    assert c.fxnorm["loudness"]["integrated_loudness"] < 0.1  # the test matched the loudness back
    assert c.fxnorm["spectral"]["centroid"] > 15.0


def test_compression_moves_dynamics_most(x):
    squashed = compressor(torch.from_numpy(x)[None], FS, threshold_db=-25.0, ratio=4.0, attack_ms=0.0,
                          release_ms=100.0)
    c = compare(loudness_matched(squashed[0].numpy(), x), x, FS)
    means = c.fxnorm_means
    # measured: dynamics 50 % (frame RMS re peak +88 %, spread 42 %, crest 21 %), loudness 20 % (true peak),
    # spectral 6 %, panning 2.1 %. Linked gain is common to both channels: SPI moves only where the gain's
    # modulation smears sources of different pans into each other's bins.
    assert means["dynamics"] > 30.0
    assert means["dynamics"] > 2 * max(means["loudness"], means["spectral"], means["panning"])
    assert means["panning"] < 5.0
    assert c.fxnorm["dynamics"]["dynamic_spread"] > 20.0
    assert c.audio_features["crest_db"]["mix"] < c.audio_features["crest_db"]["reference"] - 3.0


def test_alignment_recovers_a_delay_exactly(x):
    delayed = np.concatenate([np.zeros((2, 1234), np.float32), x], 1)
    mix_a, reference_a, info = align(delayed, x, FS)
    assert (info.lag_samples, info.mix_start, info.reference_start) == (1234, 1234, 0)
    assert info.lag_s == pytest.approx(1234 / FS) and info.overlap_samples == x.shape[1]
    assert torch.equal(mix_a, reference_a)
    c = compare(delayed, x, FS)
    assert c.alignment.lag_samples == 1234 and all(v < 1e-9 for v in distances(c))
    # the reference late instead, and a lag beyond max_lag_s is not searched
    assert align(x[:, 500:], x, FS)[2].lag_samples == -500
    assert align(delayed, x, FS, max_lag_s=0.01)[2].lag_samples != 1234


def test_gradcheck_audio_features_and_loss():
    torch.manual_seed(0)
    y = (0.3 * torch.randn(1, 2, 128, dtype=torch.float64)).requires_grad_()
    y_ref = (0.3 * torch.randn(1, 2, 128, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: tuple(audio_features(v, 16000, n_fft=64).values()), (y,))
    assert torch.autograd.gradcheck(lambda a, b: audio_feature_loss(a, b, 16000, n_fft=64), (y, y_ref))


def test_gradcheck_mrstft_distance():
    torch.manual_seed(1)
    y = (0.3 * torch.randn(1, 2, 128, dtype=torch.float64)).requires_grad_()
    y_ref = (0.3 * torch.randn(1, 2, 128, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: tuple(mrstft_distance(a, b, (64, 32, 16)).values()), (y, y_ref))


def test_silence_gives_finite_values_and_gradients():
    silence = torch.zeros(1, 2, 4096, dtype=torch.float64, requires_grad=True)
    signal = 0.1 * torch.randn(1, 2, 4096, dtype=torch.float64)
    features = audio_features(silence, FS)
    assert features["rms_db"].item() == pytest.approx(-100.0) and features["crest_db"].item() == 0.0
    assert features["width"].item() == 0.0 and features["imbalance"].item() == 0.0
    for total in (sum(f.sum() for f in features.values()), audio_feature_loss(silence, signal, FS),
                  mrstft_distance(silence, torch.zeros_like(signal))["total"].sum(),
                  mrstft_distance(silence, signal)["total"].sum()):
        grad, = torch.autograd.grad(total, silence)
        assert torch.isfinite(total) and torch.isfinite(grad).all()
    assert mrstft_distance(silence, torch.zeros_like(signal))["total"].item() == 0.0
    assert all(d.item() == 0.0 for d in audio_feature_distances(silence, torch.zeros_like(signal), FS).values())
    # compare refuses silence, naming the signal: its relative errors would divide by nothing (5,455,343 %)
    noise = 0.1 * np.random.default_rng(2).standard_normal((2, FS))
    for mix, reference, name in ((np.zeros((2, FS)), noise, "compare.mix"), (noise, np.zeros((2, FS)), "ref.wav"),
                                 (noise, noise * 10 ** (-70 / 20), "ref.wav")):
        with pytest.raises(AudioInputError, match=rf"^{name}: expected audible sound.*fix"):
            compare(mix, reference, FS, names=("compare.mix", name))


@pytest.mark.parametrize("mix, error, words", [
    (np.zeros((1, 2, FS)), AudioInputError, "(channels, samples)"),
    (np.zeros((3, FS)), AudioInputError, "x.T"),
    (np.zeros((2, FS // 2)), AudioInputError, "longer"),
    (np.full((2, FS), np.nan), AudioInputError, "NaN"),
    (np.zeros((2, FS), dtype=np.int16), AudioInputError, "float"),
])
def test_bad_input_is_refused_with_a_fix(mix, error, words):
    with pytest.raises(error, match="fix") as caught:
        compare(mix, np.zeros((2, FS)), FS)
    assert words in str(caught.value)


def test_bad_parameters_are_refused():
    with pytest.raises(ParameterError, match="sample_rate"):
        compare(np.zeros((2, 2000)), np.zeros((2, 2000)), 2000)
    with pytest.raises(ParameterError, match="max_lag_s"):
        compare(np.zeros((2, FS)), np.zeros((2, FS)), FS, max_lag_s=-1.0)
    noise = np.random.default_rng(3).standard_normal((2, 5 * FS // 2)).astype(np.float32)
    with pytest.raises(AudioInputError, match="overlap"):  # found at lag 1 s, leaving 0.5 s in common
        compare(noise[:, : 3 * FS // 2], noise[:, FS:], FS)
    with pytest.raises(AudioInputError, match="expand"):
        audio_features(torch.zeros(1, 1, 4096), FS)
    with pytest.raises(AudioInputError, match="same shape|one shape"):
        mrstft_distance(torch.zeros(1, 2, 8192), torch.zeros(1, 2, 4096))
    with pytest.raises(ParameterError, match="fft_sizes"):
        mrstft_distance(torch.zeros(1, 2, 8192), torch.zeros(1, 2, 8192), (30,))
