"""Figures of an analysis: spectra, loudness over time, stereo image and masking, as PNG or SVG files.

matplotlib with its non-interactive Agg backend (no display needed); every figure is written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mixdown.analysis.loudness import measure_loudness
from mixdown.analysis.report import SessionAnalysis
from mixdown.analysis.spectral import average_spectrum
from mixdown.analysis.stereo import PANNING_BANDS_HZ, stereo_features
from mixdown.errors import OutputError
from mixdown.export.files import atomic_path

__all__ = ["FIGURES", "PLOT_FORMATS", "plot_analysis", "plot_comparison"]

PLOT_FORMATS = ("png", "svg")
FIGURES = ("spectra", "loudness", "stereo", "masking")
"""File stems :func:`plot_analysis` writes (masking only for two or more tracks)."""
_DPI = 120
_MAX_LABELLED = 24  # more tracks than this: no legend, it would hide the data
_FLOOR_WIDTH_DB = -40.0  # narrower stereo tracks are drawn at this width
_SPECTRUM_RANGE_DB = 90.0  # the spectra show this far below their loudest band
_LOUDNESS_RANGE_LU = 50.0  # the loudness plot shows this far below its loudest value (and not below -70 LUFS)


def plot_analysis(analysis: SessionAnalysis, directory: str | os.PathLike, format: str = "png") -> list[Path]:
    """Draw the analysis of a session into ``directory``.

    Figures: ``spectra`` (1/3-octave level of every track), ``loudness`` (short-term loudness over time, with
    each track's integrated loudness in the legend), ``stereo`` (width against balance per track, and the RMS
    spectral panning index per band), ``masking`` (mean masking of each target by each masker, dB; for two or
    more tracks).

    Args:
        analysis: from :func:`mixdown.analysis.analyze_session`.
        directory: an existing or creatable folder; files in it with the same names are replaced.
        format: ``"png"`` or ``"svg"``.
    Returns:
        the written paths, in the order of :data:`FIGURES`.
    Raises:
        OutputError: unknown format, or the folder cannot be created.
    """
    directory = _prepare(directory, format)
    drawings = [("spectra", _spectra), ("loudness", _loudness), ("stereo", _stereo)]
    if analysis.masking is not None:
        drawings.append(("masking", _masking))
    return [_save(draw(analysis), directory / f"{name}.{format}", format) for name, draw in drawings]


def plot_comparison(mix, reference, sample_rate: int, loudness_match_db: float, directory: str | os.PathLike,
                    format: str = "png", names: tuple[str, str] = ("mix", "reference")) -> Path:
    """Draw a mix against its reference into ``directory/comparison.<format>``: their 1/3-octave spectra with
    the mix brought to the reference's loudness, the difference per band (what an EQ would change), short-term
    loudness over time, and the spectral panning index per band.

    Args:
        mix, reference: ``(channels, samples)`` float arrays at ``sample_rate`` (1 or 2 channels).
        sample_rate: Hz.
        loudness_match_db: gain that brings the mix to the reference's integrated loudness
            (``Comparison.loudness_match_db``).
        directory: an existing or creatable folder.
        format: ``"png"`` or ``"svg"``.
        names: legend labels of the mix and the reference.
    Returns:
        the written path.
    Raises:
        OutputError: unknown format, or the folder cannot be created.
    """
    directory = _prepare(directory, format)
    fmax = min(20000.0, sample_rate / 2.0)
    centres, levels = zip(*(average_spectrum(x, sample_rate, fmax=fmax) for x in (mix, reference)))
    mix_level, reference_level = levels[0] + loudness_match_db, levels[1]
    figure, axes = _figure(2, 2, (12.0, 8.0))
    spectra, difference, loudness, panning = axes.flat
    for level, name in ((mix_level, f"{names[0]} ({loudness_match_db:+.1f} dB to match loudness)"),
                        (reference_level, names[1])):
        spectra.semilogx(centres[0], np.where(np.isfinite(level), level, np.nan), label=name)
    spectra.set(title="Long-term spectrum (1/3 octave), loudness-matched", xlabel="frequency (Hz)",
                ylabel="band level (dB re FS)")
    spectra.legend(fontsize="small")
    with np.errstate(invalid="ignore"):
        delta = np.where(np.isfinite(mix_level) & np.isfinite(reference_level), mix_level - reference_level, np.nan)
    difference.semilogx(centres[0], delta, color="black")
    difference.axhline(0.0, color="grey", linewidth=0.8)
    difference.set(title=f"{names[0]} minus {names[1]} per band", xlabel="frequency (Hz)", ylabel="dB")
    for x, name in ((mix, names[0]), (reference, names[1])):
        report = measure_loudness(x, sample_rate)
        series = report.short_term_lufs
        loudness.plot(3.0 + np.arange(series.size) / 10.0, np.where(np.isfinite(series), series, np.nan),
                      label=f"{name} ({report.integrated_lufs:.1f} LUFS, LRA {report.loudness_range_lu:.1f} LU)")
    loudness.set(title="Short-term loudness (3 s)", xlabel="time (s)", ylabel="LUFS")
    loudness.legend(fontsize="small")
    bands = [f"{lo / 1000:g}-{min(hi, sample_rate / 2) / 1000:g} kHz" for lo, hi in PANNING_BANDS_HZ]
    for i, (x, name) in enumerate(((mix, names[0]), (reference, names[1]))):
        features = stereo_features(x, sample_rate)
        panning.bar(np.arange(len(bands)) + 0.4 * i - 0.4, features["spi_rms"], 0.4, align="edge",
                    label=f"{name} (width {features['width_db']:.1f} dB)")
    panning.set(title="Spectral panning index (RMS per frame)", xticks=np.arange(len(bands)), xticklabels=bands,
                ylabel="SPI RMS")
    panning.legend(fontsize="small")
    for axis in axes.flat:
        axis.grid(True, which="both", alpha=0.3)
    return _save(figure, directory / f"comparison.{format}", format)


def _prepare(directory: str | os.PathLike, format: str) -> Path:
    """Check the format, create the folder, select the file-only backend."""
    if format not in PLOT_FORMATS:
        raise OutputError(f"plot: expected a format in {PLOT_FORMATS}, found {format!r}; fix: use png or svg")
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{directory}: cannot create the folder ({e.strerror}); fix: choose another") from None
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    return directory


def _save(figure, path: Path, format: str) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=format, dpi=_DPI, bbox_inches="tight")
    plt.close(figure)
    return path


def _figure(rows: int = 1, columns: int = 1, size=(10.0, 5.0)):
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(rows, columns, figsize=size, squeeze=False, layout="constrained")
    for axis in axes.flat:  # 20 distinct colours: tracks of a session rarely share one
        axis.set_prop_cycle(color=plt.get_cmap("tab20").colors)
    return figure, axes


def _legend(axis, n: int) -> None:
    if n <= _MAX_LABELLED:
        axis.legend(fontsize="small", ncols=2 if n > 8 else 1, loc="best")


def _spectra(analysis: SessionAnalysis):
    figure, axes = _figure()
    axis = axes[0, 0]
    for track in analysis.tracks:
        axis.semilogx(analysis.spectrum_hz, np.where(np.isfinite(track.spectrum_db), track.spectrum_db, np.nan),
                      label=track.name, linewidth=1.2)
    axis.set(title="Long-term spectrum (1/3 octave)", xlabel="frequency (Hz)", ylabel="band level (dB re FS)")
    levels = np.concatenate([t.spectrum_db for t in analysis.tracks])
    if np.isfinite(levels).any():
        top = float(np.nanmax(np.where(np.isfinite(levels), levels, np.nan)))
        axis.set_ylim(top - _SPECTRUM_RANGE_DB, top + 3.0)
    axis.grid(True, which="both", alpha=0.3)
    _legend(axis, len(analysis.tracks))
    return figure


def _loudness(analysis: SessionAnalysis):
    figure, axes = _figure()
    axis = axes[0, 0]
    for track in analysis.tracks:
        series = track.loudness.short_term_lufs
        times = 3.0 + np.arange(series.size) / 10.0  # value k covers [k / 10, k / 10 + 3) s: plot at its end
        label = f"{track.name} ({track.loudness.integrated_lufs:.1f} LUFS)"
        axis.plot(times, np.where(np.isfinite(series), series, np.nan), label=label, linewidth=1.0)
    axis.set(title="Short-term loudness (3 s, EBU R128)", xlabel="time (s)", ylabel="LUFS")
    finite = [v for t in analysis.tracks for v in t.loudness.short_term_lufs if np.isfinite(v)]
    if finite:
        top = max(finite)
        axis.set_ylim(max(top - _LOUDNESS_RANGE_LU, -70.0, min(finite) - 1.0), top + 2.0)
    axis.grid(True, alpha=0.3)
    _legend(axis, len(analysis.tracks))
    return figure


def _stereo(analysis: SessionAnalysis):
    figure, axes = _figure(1, 2, (12.0, 5.0))
    image, bands = axes[0]
    stereo = [t for t in analysis.tracks if t.channels == 2]
    for track in stereo:
        width_db = track.stereo["width_db"]
        width_db = _FLOOR_WIDTH_DB if width_db is None or not np.isfinite(width_db) else max(width_db, _FLOOR_WIDTH_DB)
        image.scatter(track.stereo["balance"], width_db, s=30)
        image.annotate(track.name, (track.stereo["balance"], width_db), fontsize="x-small",
                       xytext=(3, 3), textcoords="offset points")
    mono = [t.name for t in analysis.tracks if t.channels == 1]
    if mono:  # a mono track has no image: name them instead of stacking dots at one point
        image.text(0.01, 0.01, "mono: " + ", ".join(mono), transform=image.transAxes, fontsize="x-small",
                   va="bottom")
    image.set(title="Stereo image of the stereo tracks", xlabel="balance (-1 left .. +1 right)",
              ylabel="width: side / mid energy (dB)", xlim=(-1.05, 1.05))
    image.grid(True, alpha=0.3)
    names = [f"{lo / 1000:g}-{min(hi, analysis.sample_rate / 2) / 1000:g} kHz" for lo, hi in PANNING_BANDS_HZ]
    step = 0.8 / max(1, len(stereo))
    for i, track in enumerate(stereo):
        bands.bar(np.arange(len(names)) + i * step - 0.4, track.stereo["spi_rms"], step, align="edge",
                  label=track.name)
    bands.set(title="Spectral panning index (RMS per frame)", xticks=np.arange(len(names)), xticklabels=names,
              ylabel="SPI RMS (0 centred .. 1 one side)")
    bands.grid(True, axis="y", alpha=0.3)
    if stereo:
        _legend(bands, len(stereo))
    return figure


def _masking(analysis: SessionAnalysis):
    n = len(analysis.tracks)
    figure, axes = _figure(size=(3.0 + 0.45 * n, 2.0 + 0.45 * n))
    axis = axes[0, 0]
    shown = axis.imshow(analysis.masking.mean_db, cmap="magma", origin="upper")
    names = [t.name for t in analysis.tracks]
    axis.set(title="Masking of target by masker (mean dB)", xlabel="target", ylabel="masker",
             xticks=range(n), yticks=range(n))
    axis.set_xticklabels(names, rotation=60, ha="right", fontsize="small")
    axis.set_yticklabels(names, fontsize="small")
    figure.colorbar(shown, ax=axis, label="dB")
    return figure
