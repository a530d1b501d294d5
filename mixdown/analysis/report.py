"""Every measurement of a session in one call: what ``mixdown analyze`` shows and what the mixers read.

Tracks are measured in batches of equal channel count (mono stems stay mono: BS.1770 weighs a mono file as one
channel, so duplicating it to stereo would read 3 dB louder). Each measurement runs once per batch, so a
16-track session costs a handful of batched passes, not 16 x 6 calls.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from mixdown.analysis.dynamics import dynamics_features
from mixdown.analysis.loudness import LoudnessReport, measure_loudness
from mixdown.analysis.masking import MaskingReport, masking_excitation, masking_from_excitation
from mixdown.analysis.roles import RoleGuess, check_overrides, detect_roles
from mixdown.analysis.spectral import average_spectrum, frame_descriptors
from mixdown.analysis.stereo import PANNING_BANDS_HZ, stereo_features
from mixdown.errors import AudioInputError

__all__ = ["STAGES", "SessionAnalysis", "TrackAnalysis", "analyze_files", "analyze_session", "check_duration"]

STAGES = ("loudness", "spectrum", "descriptors", "stereo", "dynamics", "roles", "masking")
"""The stages of :func:`analyze_session`, in order, as reported to its ``progress`` callback."""
_MIN_SECONDS = 0.5  # and at least the longest window any stage needs: 16384 samples (0.37 s at 44.1 kHz,
_MIN_SAMPLES = 16384  # 2.05 s at 8 kHz)

# progress(done, total, stage): stages finished so far, of how many, and the one that just finished
Progress = Callable[[int, int, str], None]


@dataclasses.dataclass
class TrackAnalysis:
    """The measurements of one track.

    Attributes:
        name: the track's name.
        channels: 1 or 2.
        role: detected (or user-set) role with its confidence and reason.
        loudness: BS.1770 / EBU R128 figures and the short-term series.
        spectrum_db: ``(bands,)`` 1/3-octave levels in dB (centres in :attr:`SessionAnalysis.spectrum_hz`).
        descriptors: mean over active frames of centroid, bandwidth, rolloff (Hz), flatness and contrast (dB).
        stereo: correlation, width_db, balance, and ``spi_rms`` per panning band (see ``stereo_features``).
        dynamics: crest_db, dynamic_spread_db, compression_mean_db / std_db, onset_count, active_share,
            hit_peak_db.
    """

    name: str
    channels: int
    role: RoleGuess
    loudness: LoudnessReport
    spectrum_db: np.ndarray
    descriptors: dict[str, float]
    stereo: dict
    dynamics: dict[str, float]

    def to_dict(self) -> dict:
        """Plain JSON types; ``-inf`` / ``inf`` / NaN become None."""
        return _plain({
            "name": self.name, "channels": self.channels,
            "role": {"role": self.role.role, "confidence": self.role.confidence, "reason": self.role.reason},
            "loudness": self.loudness.to_dict(), "spectrum_db": self.spectrum_db,
            "descriptors": self.descriptors, "stereo": self.stereo, "dynamics": self.dynamics,
        })


@dataclasses.dataclass
class SessionAnalysis:
    """The measurements of a session.

    Attributes:
        sample_rate: Hz.
        duration_s: seconds.
        tracks: one :class:`TrackAnalysis` per track, in session order.
        spectrum_hz: ``(bands,)`` centres of the 1/3-octave bands.
        masking: pairwise masking between the tracks (None for a single track).
    """

    sample_rate: int
    duration_s: float
    tracks: list[TrackAnalysis]
    spectrum_hz: np.ndarray
    masking: MaskingReport | None

    def worst_masking(self, count: int = 5) -> list[tuple[str, str, float]]:
        """The ``count`` strongest (masker, target, mean dB) pairs, strongest first; empty for one track."""
        if self.masking is None:
            return []
        mean = self.masking.mean_db
        order = np.argsort(-mean, axis=None, kind="stable")[:count]
        names = [t.name for t in self.tracks]
        return [(names[i], names[j], float(mean[i, j])) for i, j in zip(*np.unravel_index(order, mean.shape))
                if i != j and mean[i, j] > 0.0]

    def to_dict(self) -> dict:
        """The whole analysis as plain JSON types (short-term series included, masking as a matrix)."""
        out = {
            "sample_rate": self.sample_rate, "duration_s": self.duration_s,
            "spectrum_hz": self.spectrum_hz, "panning_bands_hz": PANNING_BANDS_HZ,
            "tracks": [t.to_dict() for t in self.tracks],
        }
        if self.masking is not None:
            out["masking"] = {"mean_db": self.masking.mean_db, "band_db": self.masking.band_db,
                              "centres_hz": self.masking.centres_hz,
                              "worst": [list(pair) for pair in self.worst_masking()]}
        return _plain(out)


def analyze_session(session, overrides: dict[str, str] | None = None,
                    progress: Progress | None = None) -> SessionAnalysis:
    """Measure every track of a session: loudness, spectrum, descriptors, stereo, dynamics, masking and role.

    Args:
        session: a :class:`mixdown.audio.Session` (any mix of mono and stereo tracks, one length).
        overrides: ``{track name: role}`` the user set (see :func:`mixdown.analysis.detect_roles`).
        progress: optional ``progress(done, total, stage)`` after each stage of :data:`STAGES`.
    Returns:
        :class:`SessionAnalysis`.
    Raises:
        AudioInputError: an empty session or one shorter than half a second.
        ParameterError: a bad override (see ``detect_roles``).

    Properties: not differentiable; deterministic; every stage batched over the tracks of equal channel count.
    """
    _check_session(session)
    measured, spectrum_hz, excitation, centres, hop = _measure(session, overrides, progress)
    masking = masking_from_excitation(excitation, centres, hop / session.sample_rate) \
        if len(session.tracks) > 1 else None
    if progress is not None:
        progress(STAGES.index("masking") + 1, len(STAGES), "masking")
    return SessionAnalysis(session.sample_rate, session.duration_s, measured, spectrum_hz, masking)


def analyze_files(plan, overrides: dict[str, str] | None = None, progress: Progress | None = None,
                  batch_bytes: int = 256 << 20, true_peak: bool = True) -> tuple[SessionAnalysis, list]:
    """:func:`analyze_session` of a session on disk, read a few tracks at a time so memory stays bounded.

    Args:
        plan: a :class:`mixdown.audio.SessionPlan` (from ``plan_session``).
        overrides: ``{track name: role}`` the user set.
        progress: optional ``progress(done, total, stage)``: tracks measured so far, of all.
        batch_bytes: audio loaded at once (float32 at the session rate); at least one track per batch.
        true_peak: measure each track's true peak (False: NaN, a tenth of the time saved; the mixers do not
            use it).
    Returns:
        ``(analysis, warnings)``: the same :class:`SessionAnalysis` ``analyze_session`` gives for the whole
        session at once, and the load warnings of every track.
    """
    from mixdown.audio.session import load_tracks

    names = plan.names
    overrides = dict(overrides or {})
    check_overrides(names, overrides)
    tracks, excitations, warnings = [], [], []
    if progress is not None:
        progress(0, len(names), "reading")
    batches = _batches([plan.track_bytes(i) for i in range(len(names))], batch_bytes)
    # Read the next batch (decoding releases the GIL) while this one is measured: two batches in memory at most.
    with ThreadPoolExecutor(1) as pool:
        loading = pool.submit(load_tracks, plan, batches[0])
        for following in batches[1:] + [None]:
            session = loading.result()
            if following is not None:
                loading = pool.submit(load_tracks, plan, following)
            _check_session(session)
            measured, spectrum_hz, excitation, centres, hop = _measure(
                session, {n: r for n, r in overrides.items() if n in session.names()}, None, true_peak)
            tracks += measured
            excitations.append(excitation)
            warnings += session.warnings
            del session
            if progress is not None:
                progress(len(tracks), len(names), f"measured {tracks[-1].name}")
    masking = masking_from_excitation(torch.cat(excitations), centres, hop / plan.sample_rate) \
        if len(tracks) > 1 else None
    return SessionAnalysis(plan.sample_rate, plan.duration_s, tracks, spectrum_hz, masking), warnings


def _batches(sizes: list[int], budget: int) -> list[list[int]]:
    """Consecutive indices grouped so that each group's total size stays within ``budget`` (one item at least)."""
    batches, current, used = [], [], 0
    for i, size in enumerate(sizes):
        if current and used + size > budget:
            batches.append(current)
            current, used = [], 0
        current.append(i)
        used += size
    return batches + ([current] if current else [])


def _check_session(session) -> None:
    if not session.tracks:
        raise AudioInputError("analyze: expected at least one track, found none; fix: point at a folder of stems")
    check_duration(session.samples, session.sample_rate, session.names())


def check_duration(samples: int, sample_rate: int, names: list[str]) -> None:
    """Refuse a session too short to measure: under 0.5 s, or under the 16384 samples of the longest analysis
    window (2.05 s at 8 kHz). ``samples`` is the session's length (its longest track's) at ``sample_rate``.

    Raises:
        AudioInputError: naming the tracks, the length needed at this rate and the fix.
    """
    needed = max(math.ceil(_MIN_SECONDS * sample_rate), _MIN_SAMPLES)
    if samples < needed:
        shown = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
        raise AudioInputError(
            f"analyze: expected at least {needed / sample_rate:.4g} s of audio at {sample_rate} Hz ({needed} "
            f"samples: 0.5 s, and one {_MIN_SAMPLES}-sample analysis window), found {samples / sample_rate:.3f} s in "
            f"the longest of the tracks {shown}; fix: use longer files (or pad them with silence)")


def _measure(session, overrides, progress, true_peak: bool = True):
    """Every per-track measurement of a session in memory: ``(tracks, spectrum_hz, excitation, masking centres,
    hop)`` (the last three for :func:`masking_from_excitation`)."""
    rate = session.sample_rate
    groups = _channel_groups(session)
    # The spectral measurements all read the mono mix (L + R) / 2: make it once per group, not once per stage.
    mono_groups = [(index, audio.mean(1, keepdim=True) if audio.shape[1] == 2 else audio) for index, audio in groups]
    n_tracks = len(session.tracks)
    centres_hz = []

    def finished(stage: str) -> None:
        if progress is not None:
            progress(STAGES.index(stage) + 1, len(STAGES), stage)

    def spectrum(x: torch.Tensor) -> np.ndarray:
        centres, levels = average_spectrum(x, rate, fmax=min(20000.0, rate / 2.0))
        centres_hz[:] = centres
        return levels

    measured = {}
    for stage, measure in (
        ("loudness", lambda x: measure_loudness(x, rate, true_peak)),
        ("spectrum", spectrum),
        ("descriptors", lambda x: _descriptor_means(x, rate)),
        ("stereo", lambda x: _split(stereo_features(x, rate))),
        ("dynamics", lambda x: _split({k: v for k, v in dynamics_features(x, rate).items() if k != "rms_db"})),
    ):
        measured[stage] = _per_track(mono_groups if stage in ("spectrum", "descriptors") else groups, n_tracks,
                                     measure)
        finished(stage)
    excitation, masking_centres, hop = masking_excitation(_in_session_order(mono_groups, n_tracks), rate)
    roles = detect_roles(session, overrides)
    finished("roles")
    tracks = [
        TrackAnalysis(t.name, t.audio.shape[0], roles[t.name], *(measured[stage][i] for stage in STAGES[:5]))
        for i, t in enumerate(session.tracks)
    ]
    return tracks, np.asarray(centres_hz), excitation, masking_centres, hop


def _channel_groups(session) -> list[tuple[list[int], torch.Tensor]]:
    """Track indices and their stacked audio ``(tracks, channels, samples)``, one group per channel count."""
    groups = []
    for channels in (1, 2):
        index = [i for i, t in enumerate(session.tracks) if t.audio.shape[0] == channels]
        if index:
            groups.append((index, _stack([session.tracks[i].audio for i in index])))
    return groups


def _per_track(groups, n_tracks: int, measure: Callable) -> list:
    """Run a batched ``measure`` (returning one item per batch row) on each group, in session order."""
    out = [None] * n_tracks
    for index, audio in groups:
        for i, value in zip(index, measure(audio)):
            out[i] = value
    return out


def _split(features: dict) -> list[dict]:
    """``{name: (batch, ...) array}`` -> one ``{name: float or list}`` per batch row."""
    batch = len(next(iter(features.values())))
    return [{k: (float(v[b]) if np.ndim(v[b]) == 0 else np.asarray(v[b]).tolist()) for k, v in features.items()}
            for b in range(batch)]


def _descriptor_means(x: torch.Tensor, sample_rate: float) -> list[dict]:
    """Per track, the mean of each frame descriptor over its non-silent frames (all frames when none is)."""
    frames = frame_descriptors(x, sample_rate)
    sounding = frames["centroid"] > 0  # silent frames read 0 Hz
    out = []
    for b in range(x.shape[0]):
        keep = sounding[b] if sounding[b].any() else np.ones_like(sounding[b])
        out.append({name: float(frames[name][b][keep].mean())
                    for name in ("centroid", "bandwidth", "rolloff", "flatness", "contrast")})
    return out


def _in_session_order(groups, n_tracks: int) -> torch.Tensor:
    """The groups' ``(tracks, channels, samples)`` audio (one channel count) restacked in session order."""
    if len(groups) == 1:  # one group holds every track, in order
        return groups[0][1]
    tracks = [None] * n_tracks
    for index, audio in groups:
        for i, track in zip(index, audio):
            tracks[i] = track
    return _stack(tracks)


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """``torch.stack`` into memory numpy allocates: numpy asks the kernel for transparent huge pages on large
    arrays (madvise) and torch's CPU allocator does not; on 4 KB pages the compiled kernels, which walk many
    tracks at once, run 2-3x slower on a long session (TLB misses)."""
    out = np.empty((len(tensors), *tensors[0].shape), dtype=np.float32)
    for row, tensor in zip(out, tensors):
        row[...] = tensor.numpy()
    return torch.from_numpy(out)


def _plain(value):
    """numpy / torch values to JSON types; non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return _plain(np.asarray(value).tolist())
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
