"""Listening-test stimuli and statistics against closed forms and scipy."""

import csv
import io

import numpy as np
import pyloudnorm
import pytest
import scipy.stats
import soundfile as sf

from mixdown.errors import ParameterError
from mixdown.evaluate.listening import (
    ANCHOR_CUTOFF_HZ,
    STIMULUS_LUFS,
    anchor,
    excerpt,
    loudest_start,
    ratings_csv,
    results_figure,
    summarize,
)

SR = 44100


def _song(path, seconds=12.0, loud_from=6.0, rate=SR):
    t = np.arange(int(seconds * rate)) / rate
    x = 0.05 * np.sin(2 * np.pi * 440 * t)
    x[t >= loud_from] *= 10  # the last part is 20 dB louder
    sf.write(path, x, rate)
    return path


def test_excerpts_are_cut_stereo_and_loudness_matched(tmp_path):
    path = _song(tmp_path / "a.wav", rate=48000)
    x = excerpt(path, 2.0, 3.0, SR)
    assert x.shape == (2, 3 * SR) and x.dtype == np.float32
    assert pyloudnorm.Meter(SR).integrated_loudness(x.T.astype(np.float64)) == pytest.approx(STIMULUS_LUFS, abs=0.05)
    assert abs(x[0, 0]) < 1e-6 and abs(x[0, -1]) < 1e-3  # faded in and out
    with pytest.raises(ParameterError, match="expected an excerpt inside the file"):
        excerpt(path, 20.0, 3.0)


def test_loudest_start_finds_the_loud_part(tmp_path):
    assert loudest_start(_song(tmp_path / "a.wav"), 4.0) == pytest.approx(6.0, abs=0.5)
    assert loudest_start(_song(tmp_path / "b.wav", seconds=3.0), 4.0) == 0.0  # shorter than the excerpt


def test_anchor_is_low_passed_at_3_5_khz_and_at_the_same_loudness():
    rng = np.random.default_rng(0)
    noise = (0.1 * rng.standard_normal((2, 4 * SR))).astype(np.float32)
    low = anchor(noise, SR)
    spectrum = lambda x: np.abs(np.fft.rfft(x[0].astype(np.float64))) ** 2
    hz = np.fft.rfftfreq(noise.shape[1], 1 / SR)
    ratio = lambda band: spectrum(low)[band].sum() / spectrum(noise)[band].sum()
    assert 10 * np.log10(ratio((hz > 6000) & (hz < 10000))) < -40  # 8th order: > 40 dB down an octave above
    passband = 10 * np.log10(ratio((hz > 200) & (hz < 2000)))
    stopband = 10 * np.log10(ratio(hz > 2 * ANCHOR_CUTOFF_HZ))
    assert stopband < passband - 40
    assert pyloudnorm.Meter(SR).integrated_loudness(low.T.astype(np.float64)) == pytest.approx(STIMULUS_LUFS, abs=0.05)


def test_summary_means_and_t_intervals():
    values = {"rules": [70, 80, 75, 90], "raw sum": [30, 45], "anchor": [10]}
    ratings = [("clarity", c, v) for c, vs in values.items() for v in vs] + [("excitement", "rules", 60.0)]
    rows = {(s.criterion, s.condition): s for s in summarize(ratings, ("clarity", "excitement"))}
    rules = rows[("clarity", "rules")]
    x = np.array(values["rules"], dtype=float)
    low, high = scipy.stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=scipy.stats.sem(x))
    assert (rules.count, rules.mean) == (4, pytest.approx(78.75))
    assert (rules.ci_low, rules.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert rows[("clarity", "anchor")].ci_low is None  # one rating: no interval
    assert rows[("excitement", "rules")].to_dict() == {"criterion": "excitement", "condition": "rules", "count": 1,
                                                        "mean": 60.0, "ci95": None}
    assert [s.condition for s in summarize(ratings, ("clarity",))] == ["rules", "raw sum", "anchor"]


def test_csv_and_figure(tmp_path):
    rows = [{"participant": "p1", "condition": "rules", "criterion": "clarity", "rating": 70.0},
            {"participant": "p2", "condition": "rules", "criterion": "clarity", "rating": 80.0}]
    parsed = list(csv.DictReader(io.StringIO(ratings_csv(rows))))
    assert [float(r["rating"]) for r in parsed] == [70.0, 80.0] and parsed[0]["participant"] == "p1"
    assert ratings_csv([]) == ""
    path = results_figure(summarize([("clarity", c, v) for c, v in (("rules", 70), ("rules", 80), ("raw", 20))]),
                          tmp_path / "r.png", "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
