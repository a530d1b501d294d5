"""A reference master to move toward: its tonal balance, width and loudness, and how far to move (amounts).

Width is the side/mid energy ratio ``10 log10(sum S^2 / sum M^2)`` in dB with ``M = (L + R) / 2`` and
``S = (L - R) / 2``: -inf dB for mono, 0 dB for uncorrelated channels. The widener scales S by ``width``, so it
moves this ratio by exactly ``20 log10(width)`` dB.

Amounts say how far the master moves toward the reference, each 0 (not at all) .. 1 (all the way):

==========  =======  ==========================================================================================
key         default  what moves
==========  =======  ==========================================================================================
tone        0.7      the EQ corrects this share of the tonal difference (shelves + one peak, each within 4 dB)
width       0.5      the side/mid ratio moves this share of its dB difference (widener 0.5..1.5)
loudness    1.0      the loudness target moves this share of the way to the reference's integrated loudness
==========  =======  ==========================================================================================
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mixdown.analysis.loudness import measure_loudness
from mixdown.audio import read_audio, resample
from mixdown.console.amount import parse_numbers
from mixdown.errors import AudioInputError, ParameterError
from mixdown.mastering.tone import tonal_balance

__all__ = ["DEFAULT_AMOUNTS", "MONO_SIDE_MID_DB", "Reference", "check_amounts", "load_reference", "measure_reference",
           "parse_amounts", "side_mid_db"]

DEFAULT_AMOUNTS = {"tone": 0.7, "width": 0.5, "loudness": 1.0}
MONO_SIDE_MID_DB = -60.0  # the side/mid ratio of a mono signal (its -inf is floored so differences stay finite)


@dataclass(frozen=True)
class Reference:
    """What a master is compared with.

    Attributes:
        centres_hz: ``(bands,)`` third-octave centres, 40 Hz .. 16 kHz.
        tone_db: ``(bands,)`` level-normalised tonal balance (see :mod:`mixdown.mastering.tone`).
        side_mid_db: width as the side/mid energy ratio, dB.
        integrated_lufs: integrated loudness, LUFS.
        true_peak_db: true peak, dBTP.
        source: a name for messages and reasons (the file name).
    """

    centres_hz: np.ndarray
    tone_db: np.ndarray
    side_mid_db: float
    integrated_lufs: float
    true_peak_db: float
    source: str = "reference"


def side_mid_db(x: torch.Tensor) -> float:
    """Side/mid energy ratio in dB of ``(2, samples)``; a mono signal reads -60 dB."""
    mid = float(torch.linalg.vector_norm(x[0] + x[1]))  # the /2 of M and S cancels in the ratio
    side = float(torch.linalg.vector_norm(x[0] - x[1]))
    ratio = (side / mid) ** 2 if mid > 0 else 0.0
    return max(10.0 * math.log10(ratio), MONO_SIDE_MID_DB) if ratio > 0 else MONO_SIDE_MID_DB


def measure_reference(audio, sample_rate: int, source: str = "reference") -> Reference:
    """Measure a reference master.

    Args:
        audio: ``(channels, samples)`` numpy array or tensor, 1 or 2 channels (mono is taken as centred
            stereo), at least 16384 samples.
        sample_rate: Hz.
        source: its name in reasons.
    Returns:
        :class:`Reference`.
    Raises:
        AudioInputError: wrong shape, too short, or silent.
    """
    x = torch.as_tensor(np.asarray(audio) if not torch.is_tensor(audio) else audio, dtype=torch.float32)
    if x.ndim != 2 or x.shape[0] not in (1, 2):
        raise AudioInputError(f"{source}: expected (channels, samples) with 1 or 2 channels, found shape "
                              f"{tuple(x.shape)}; fix: pass one stereo or mono signal")
    x = x.expand(2, -1) if x.shape[0] == 1 else x
    loudness = measure_loudness(x, sample_rate)
    if not math.isfinite(loudness.integrated_lufs):
        raise AudioInputError(f"{source}: expected audible audio, found silence (integrated loudness "
                              f"{loudness.integrated_lufs} LUFS); fix: choose another reference")
    centres, tone = tonal_balance(x, sample_rate)
    return Reference(centres, tone, side_mid_db(x), loudness.integrated_lufs, loudness.true_peak_db, source)


def load_reference(path: str | os.PathLike, sample_rate: int) -> Reference:
    """Read a reference file (read-only), resample it to ``sample_rate`` (soxr) and measure it."""
    audio, rate = read_audio(path)
    return measure_reference(resample(audio, rate, sample_rate), sample_rate, Path(path).name)


def check_amounts(amounts: dict[str, float] | None) -> dict[str, float]:
    """``DEFAULT_AMOUNTS`` updated with ``amounts``; each key must be tone/width/loudness, each value 0..1.

    Raises:
        ParameterError: naming the unknown key or the value out of range.
    """
    out = dict(DEFAULT_AMOUNTS)
    for key, value in (amounts or {}).items():
        if key not in DEFAULT_AMOUNTS:
            raise ParameterError(f"reference amounts: expected keys {', '.join(DEFAULT_AMOUNTS)}, found {key!r}; "
                                 "fix: e.g. tone=0.7,width=0.5,loudness=1")
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0
        if not ok:
            raise ParameterError(f"reference amounts.{key}: expected a number from 0 to 1, found {value!r}; "
                                 f"fix: e.g. {key}={DEFAULT_AMOUNTS[key]:g}")
        out[key] = float(value)
    return out


def parse_amounts(text: str) -> dict[str, float]:
    """``"tone=0.7,width=0.5"`` -> checked amounts (the CLI's ``--reference-amount``); unnamed keys keep defaults."""
    return check_amounts(parse_numbers(text, "--reference-amount", "tone=0.7"))
