"""Listening tests: stimuli and statistics for multi-stimulus ratings (MUSHRA-style, ITU-R BS.1534-3).

A test has trials (one per song); in each, every condition (a method's mix, optionally a hidden copy of the
reference and a low-pass anchor) is the same excerpt, loudness-normalised so that level does not decide the
ratings. Listeners rate each stimulus 0-100 on each criterion (production value, clarity and excitement are the
field's usual scales). The studio (``mixdown serve``) runs tests on these functions.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyloudnorm
import scipy.signal
import scipy.stats

from mixdown.audio import read_audio, resample
from mixdown.errors import ParameterError

__all__ = ["ANCHOR_CUTOFF_HZ", "CRITERIA", "STIMULUS_LUFS", "ConditionSummary", "anchor", "excerpt",
           "loudest_start", "ratings_csv", "results_figure", "summarize"]

CRITERIA = ("production value", "clarity", "excitement")
STIMULUS_LUFS = -23.0
ANCHOR_CUTOFF_HZ = 3500.0  # BS.1534-3's low anchor: the reference low-passed at 3.5 kHz
_FADE_S = 0.05


def loudest_start(path: str | Path, seconds: float) -> float:
    """Where the loudest ``seconds`` of a file start (RMS over windows on a 0.5 s grid), in seconds."""
    audio, rate = read_audio(path)
    power = np.square(audio, dtype=np.float64).mean(0)
    length = int(seconds * rate)
    if power.size <= length:
        return 0.0
    cumulative = np.concatenate([[0.0], np.cumsum(power)])
    starts = np.arange(0, power.size - length + 1, rate // 2)
    return float(starts[np.argmax(cumulative[starts + length] - cumulative[starts])] / rate)


def excerpt(path: str | Path, start_s: float, seconds: float, sample_rate: int = 44100,
            loudness_lufs: float = STIMULUS_LUFS) -> np.ndarray:
    """``(2, frames)`` float32: ``seconds`` of a file from ``start_s``, stereo, at ``sample_rate``, with 50 ms
    fades, at ``loudness_lufs`` integrated (a silent excerpt stays silent).

    Raises:
        AudioInputError: as :func:`mixdown.audio.read_audio`; ParameterError: an excerpt outside the file.
    """
    audio, rate = read_audio(path)
    audio = resample(audio, rate, sample_rate) if rate != sample_rate else audio
    first, count = round(start_s * sample_rate), round(seconds * sample_rate)
    if start_s < 0 or seconds <= 0 or first >= audio.shape[1]:
        raise ParameterError(f"{path}: expected an excerpt inside the file's {audio.shape[1] / sample_rate:.1f} s, "
                             f"found {start_s:.1f} s + {seconds:.1f} s; fix: choose an earlier start")
    cut = np.array(np.broadcast_to(audio[:, first:first + count], (2, min(count, audio.shape[1] - first))),
                   dtype=np.float64)
    fade = min(int(_FADE_S * sample_rate), cut.shape[1] // 2)
    if fade:
        ramp = np.sin(np.linspace(0, np.pi / 2, fade)) ** 2
        cut[:, :fade] *= ramp
        cut[:, -fade:] *= ramp[::-1]
    measured = pyloudnorm.Meter(sample_rate).integrated_loudness(cut.T)
    if math.isfinite(measured):
        cut *= 10 ** ((loudness_lufs - measured) / 20)
    return cut.astype(np.float32)


def anchor(audio: np.ndarray, sample_rate: int, loudness_lufs: float = STIMULUS_LUFS) -> np.ndarray:
    """The low anchor of ``audio`` ``(channels, frames)``: low-passed at 3.5 kHz (8th-order Butterworth, zero
    phase) and brought back to ``loudness_lufs``."""
    sos = scipy.signal.butter(8, ANCHOR_CUTOFF_HZ, "low", fs=sample_rate, output="sos")
    low = scipy.signal.sosfiltfilt(sos, audio.astype(np.float64), axis=-1)
    measured = pyloudnorm.Meter(sample_rate).integrated_loudness(low.T)
    if math.isfinite(measured):
        low *= 10 ** ((loudness_lufs - measured) / 20)
    return low.astype(np.float32)


@dataclass(frozen=True)
class ConditionSummary:
    """One condition's ratings on one criterion: how many, their mean, and the 95 % confidence interval of the
    mean (Student's t; None with fewer than two ratings)."""

    criterion: str
    condition: str
    count: int
    mean: float
    ci_low: float | None
    ci_high: float | None

    def to_dict(self) -> dict:
        return {"criterion": self.criterion, "condition": self.condition, "count": self.count,
                "mean": self.mean, "ci95": None if self.ci_low is None else [self.ci_low, self.ci_high]}


def summarize(ratings: Iterable[tuple[str, str, float]], criteria: Sequence[str] = CRITERIA) -> list[ConditionSummary]:
    """Per criterion and condition: count, mean and 95 % confidence interval of ``(criterion, condition, value)``
    ratings; conditions in order of first appearance."""
    grouped: dict[tuple[str, str], list[float]] = {}
    for criterion, condition, value in ratings:
        grouped.setdefault((criterion, condition), []).append(float(value))
    rows = []
    for criterion in criteria:
        for (c, condition), values in grouped.items():
            if c != criterion:
                continue
            x = np.array(values)
            mean = float(x.mean())
            if x.size >= 2:
                half = float(scipy.stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
                rows.append(ConditionSummary(criterion, condition, x.size, mean, mean - half, mean + half))
            else:
                rows.append(ConditionSummary(criterion, condition, x.size, mean, None, None))
    return rows


def ratings_csv(rows: Iterable[dict]) -> str:
    """CSV of rating rows (dicts with the same keys), header first."""
    rows = list(rows)
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def results_figure(summary: Sequence[ConditionSummary], path: str | Path, title: str = "") -> Path:
    """Bars of each condition's mean with its 95 % interval, one panel per criterion; written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mixdown.export.files import atomic_path

    criteria = list(dict.fromkeys(s.criterion for s in summary)) or list(CRITERIA)
    fig, axes = plt.subplots(1, len(criteria), figsize=(4.2 * len(criteria), 3.6), sharey=True, squeeze=False)
    for ax, criterion in zip(axes[0], criteria):
        rows = [s for s in summary if s.criterion == criterion]
        x = np.arange(len(rows))
        errors = np.array([[s.mean - s.ci_low, s.ci_high - s.mean] if s.ci_low is not None else [0, 0]
                           for s in rows]).T.reshape(2, -1)
        ax.bar(x, [s.mean for s in rows], yerr=errors, capsize=4, color="#4fb0ff", edgecolor="#1d5f91")
        ax.set_xticks(x, [f"{s.condition}\n(n={s.count})" for s in rows], fontsize=8)
        ax.set_title(criterion)
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("rating (mean, 95 % CI)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)
