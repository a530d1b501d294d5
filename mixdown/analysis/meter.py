"""Measure signals that arrive in blocks: loudness, long-term spectrum and masking excitation per track.

The automatic mixer renders a long session block by block and never holds its processed stems; this meter
takes each block as it comes and keeps only small running results (100 ms loudness energies, Welch power sums,
one excitation column per 100 ms), so measuring "after" costs no second pass and no memory that grows with
the tracks' size. Its figures equal the offline measurements (:func:`measure_loudness`, :func:`average_spectrum`,
:func:`masking_excitation`) on the concatenated signal: the same filters with carried state, the same frames.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mixdown.analysis.kernels import filtered_segment_energy
from mixdown.analysis.loudness import (
    LoudnessReport,
    k_weighting_sos,
    loudness_reports,
    windowed_energies,
)
from mixdown.analysis.masking import ExcitationBands, window_length
from mixdown.analysis.spectral import (
    WELCH_HOP,
    WELCH_N_FFT,
    mono,
    power,
    stft_chunks,
    welch_bands,
)
from mixdown.dsp.limiter import true_peak_db
from mixdown.errors import AudioInputError

__all__ = ["StreamMeasures", "StreamMeter"]

_MASKING_HOP_S = 0.1  # as analyze_session's masking


class _Frames:
    """Frames of ``length`` samples every ``hop`` from a stream of ``(tracks, n)`` blocks, as one-sided spectra;
    ``center`` reflect-pads half a frame at both ends like ``torch.stft(center=True)``."""

    def __init__(self, length: int, hop: int, center: bool):
        self.length, self.hop, self.center = length, hop, center
        self.buffer: torch.Tensor | None = None  # samples from the next frame's start on
        self.skip = 0  # samples still to drop before the next frame starts (the hop may exceed the frame)
        self.tail: torch.Tensor | None = None  # the stream's last half frame + 1 samples (end reflection)

    def add(self, x: torch.Tensor):
        half = self.length // 2
        if self.center:
            if self.buffer is None:
                if x.shape[-1] <= half:
                    raise AudioInputError(f"StreamMeter: expected a first block longer than {half} samples, found "
                                          f"{x.shape[-1]}; fix: feed larger blocks")
                x = torch.cat([x[:, 1:half + 1].flip(-1), x], -1)
            self.tail = (x if self.tail is None else torch.cat([self.tail, x], -1))[:, -(half + 1):]
        yield from self._append(x)

    def finish(self):
        if self.center and self.tail is not None:
            yield from self._append(self.tail[:, :-1].flip(-1)[:, :self.length // 2])

    def _append(self, x: torch.Tensor):
        dropped = min(self.skip, x.shape[-1])
        self.skip -= dropped
        x = x[:, dropped:]
        self.buffer = x if self.buffer is None else torch.cat([self.buffer, x], -1)
        count = (self.buffer.shape[-1] - self.length) // self.hop + 1 if self.buffer.shape[-1] >= self.length else 0
        if count:
            used = (count - 1) * self.hop + self.length
            for _, spectrum in stft_chunks(self.buffer[:, :used], self.length, self.hop, center=False):
                yield spectrum
            self.skip = max(0, count * self.hop - self.buffer.shape[-1])
            self.buffer = self.buffer[:, count * self.hop:].clone()


class StreamMeasures:
    """What :class:`StreamMeter` measured, per track.

    Attributes:
        loudness: one :class:`LoudnessReport` per track.
        spectrum_hz, spectrum_db: ``(bands,)`` 1/3-octave centres and ``(tracks, bands)`` levels (dB).
        excitation: ``(tracks, bands, frames)`` masking excitation (see ``masking_from_excitation``).
        masking_centres_hz: ``(bands,)``; masking_hop_s: seconds between its frames.
    """

    def __init__(self, loudness, spectrum_hz, spectrum_db, excitation, masking_centres_hz, masking_hop_s):
        self.loudness: list[LoudnessReport] = loudness
        self.spectrum_hz, self.spectrum_db = spectrum_hz, spectrum_db
        self.excitation, self.masking_centres_hz, self.masking_hop_s = excitation, masking_centres_hz, masking_hop_s


class StreamMeter:
    """Running per-track measurements of ``(tracks, channels, n)`` blocks.

    Args:
        tracks: number of signals measured together.
        sample_rate: Hz.
        true_peak: measure the true peak (4x oversampling, a fifth of the meter's cost); False reports NaN.

    Call :meth:`add` for each block in order, then :meth:`finish`. The true peak is measured block by block
    (4x oversampling restarts at each block edge: an inter-sample peak exactly at an edge may read up to a few
    hundredths of a dB low); everything else equals the offline measurements.
    """

    def __init__(self, tracks: int, sample_rate: int, true_peak: bool = True):
        self.sample_rate = sample_rate
        self.measure_true_peak = true_peak
        self.segment = round(sample_rate / 10)  # BS.1770's 100 ms step
        self.sos = k_weighting_sos(sample_rate)
        self.k_state = None
        self.partial = torch.zeros(tracks, dtype=torch.float64)  # energy of the unfinished segment
        self.partial_n = 0
        self.segments: list[torch.Tensor] = []
        self.sample_peak = torch.zeros(tracks, dtype=torch.float64)
        self.true_peak = torch.full((tracks,), -math.inf, dtype=torch.float64)
        self.welch = _Frames(WELCH_N_FFT, WELCH_HOP, center=False)
        self.power_sum = torch.zeros(tracks, WELCH_N_FFT // 2 + 1, dtype=torch.float64)
        self.welch_frames = 0
        self.bands = ExcitationBands(window_length(sample_rate), sample_rate)
        self.masking = _Frames(self.bands.n_fft, round(_MASKING_HOP_S * sample_rate), center=True)
        self.excitation: list[torch.Tensor] = []
        self.samples = 0

    @torch.no_grad()
    def add(self, x: torch.Tensor) -> None:
        """Measure the next block ``(tracks, channels, n)`` (1 or 2 channels, float32)."""
        self._segments(x)
        self.sample_peak = torch.maximum(self.sample_peak, x.abs().amax((1, 2)).to(torch.float64))
        if self.measure_true_peak:
            self.true_peak = torch.maximum(self.true_peak, true_peak_db(x, self.sample_rate).to(torch.float64))
        m = mono(x)
        for spectrum in self.welch.add(m):
            self.power_sum += power(spectrum).sum(1).to(torch.float64)
            self.welch_frames += spectrum.shape[1]
        self.excitation += [self.bands(spectrum) for spectrum in self.masking.add(m)]
        self.samples += x.shape[-1]

    def _segments(self, x: torch.Tensor) -> None:
        """K-weight ``x`` ``(tracks, channels, n)`` (state carried) into channel-summed 100 ms segment energies:
        the first segment completes the one the last block left unfinished, the last may stay unfinished."""
        n = x.shape[-1]
        first = min(self.segment - self.partial_n, n)
        ends = np.unique(np.concatenate([[first], np.arange(first + self.segment, n, self.segment), [n]]))
        ends = ends[ends > 0]
        energy, self.k_state = filtered_segment_energy(x.reshape(-1, n), self.sos, ends, self.k_state)
        energy = torch.from_numpy(energy).reshape(x.shape[0], x.shape[1], -1).sum(1)
        lengths = np.diff(np.concatenate([[0], ends]))
        lengths[0] += self.partial_n
        energy[:, 0] += self.partial
        complete = lengths == self.segment
        if complete.any():
            self.segments.append(energy[:, torch.from_numpy(complete)])
        self.partial = energy[:, -1].clone() if not complete[-1] else torch.zeros_like(self.partial)
        self.partial_n = int(lengths[-1]) if not complete[-1] else 0

    def finish(self) -> StreamMeasures:
        """The measurements of everything added."""
        self.excitation += [self.bands(spectrum) for spectrum in self.masking.finish()]
        segments = torch.cat(self.segments, -1) if self.segments else self.partial[:, :0]
        momentary, short_term = windowed_energies(segments, self.segment)
        true_peak = self.true_peak if self.measure_true_peak else torch.full_like(self.true_peak, math.nan)
        reports = loudness_reports(momentary, short_term, self.sample_peak, true_peak)
        centres, levels = welch_bands(self.power_sum, self.welch_frames, self.sample_rate,
                                      fmax=min(20000.0, self.sample_rate / 2.0))
        excitation = torch.cat(self.excitation, -1) if self.excitation else torch.zeros(len(reports), 0, 0)
        return StreamMeasures(reports, centres, levels, excitation, self.bands.centres_hz,
                              self.masking.hop / self.sample_rate)
