"""Figures of an analysis: spectra, loudness over time, stereo image and masking, as PNG or SVG files.

matplotlib with its non-interactive Agg backend (no display needed); every figure is written atomically.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import numpy as np

from mixdown.analysis.loudness import measure_loudness
from mixdown.analysis.report import SessionAnalysis
from mixdown.analysis.spectral import average_spectrum
from mixdown.analysis.stereo import PANNING_BANDS_HZ, stereo_features
from mixdown.errors import OutputError
from mixdown.export.files import atomic_path

__all__ = [
    "FIGURES",
    "PLOT_FORMATS",
    "figure_bytes",
    "masking_pair_figure",
    "mix_spectrum_figure",
    "plot_analysis",
    "plot_comparison",
    "plot_training",
    "speakers_figure",
    "stage_figure",
    "track_spectra_figure",
]

PLOT_FORMATS = ("png", "svg")
FIGURES = ("spectra", "loudness", "stereo", "masking")
"""File stems :func:`plot_analysis` writes (masking only for two or more tracks)."""
_DPI = 120
_MAX_LABELLED = 24  # more tracks than this: no legend, it would hide the data
_FLOOR_WIDTH_DB = -40.0  # narrower stereo tracks are drawn at this width
_SPECTRUM_RANGE_DB = 90.0  # the spectra show this far below their loudest band
_LOUDNESS_RANGE_LU = 50.0  # the loudness plot shows this far below its loudest value (and not below -70 LUFS)
_HEAT_RANGE_DB = 60.0  # the per-track spectrum heat map shows this far below its loudest cell
_STAGE_SIZE = (20.0, 400.0)  # marker areas (points^2) of the quietest and the loudest track on the stage plot
_STAGE_FLOOR_HZ = 20.0  # a silent track's centroid (0 Hz) is drawn at the bottom of the stage


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


def plot_training(metrics_csv: str | os.PathLike, path: str | os.PathLike, smooth: int = 20) -> Path:
    """Loss curves of a training run (Lightning's ``metrics.csv``): each ``train/`` term smoothed by a running
    mean over ``smooth`` logged values, with the ``val/`` points; one panel per term. PNG or SVG by suffix."""
    import csv

    path = Path(path)
    format = path.suffix.lstrip(".") or "png"
    _prepare(path.parent, format)
    try:
        with open(metrics_csv, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise OutputError(f"{metrics_csv}: cannot read the training metrics ({e.strerror}); fix: point at a run's "
                          "metrics.csv") from None
    terms = sorted({k.split("/", 1)[1] for k in (rows[0] if rows else {}) if k.startswith(("train/", "val/"))})
    if not terms:
        raise OutputError(f"{metrics_csv}: expected train/ and val/ columns, found none; fix: point at a run's "
                          "metrics.csv")
    figure, axes = _figure(1, len(terms), size=(4.0 * len(terms), 3.5))
    for axis, term in zip(axes.flat, terms):
        for kind, style in (("train", "-"), ("val", "o-")):
            points = [(int(r["step"]), float(r[f"{kind}/{term}"])) for r in rows if r.get(f"{kind}/{term}")]
            if not points:
                continue
            steps, values = np.array(points).T
            if kind == "train" and values.size >= smooth:
                values = np.convolve(values, np.ones(smooth) / smooth, "valid")
                steps = steps[smooth - 1 :]
            axis.plot(steps, values, style, label=kind, markersize=3)
        axis.set_title(term)
        axis.set_xlabel("step")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize="small")
    return _save(figure, path, format)


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

    with atomic_path(path) as tmp, _missing_glyphs_quiet():
        figure.savefig(tmp, format=format, dpi=_DPI, bbox_inches="tight")
    plt.close(figure)
    return path


@contextlib.contextmanager
def _missing_glyphs_quiet():
    """Drawing without matplotlib's "Glyph N missing from font(s)" warnings.

    Track names come from file names and may hold characters the installed fonts lack (CJK, emoji, on a
    system with DejaVu only); matplotlib then draws a blank box and warns once per glyph, straight into the
    terminal of a command whose output is a mix. The names are written in full where it matters (the report's
    tables, the recipe, the JSON), so the warning is noise here; every other warning still shows.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        yield


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


# --- figures of the mix report (mixdown.export.report_html): drawn and returned, the caller encodes them ---------


def figure_bytes(figure, format: str = "png", dpi: int = 100) -> bytes:
    """Encode a figure (``png`` or ``svg``) and close it."""
    import io

    import matplotlib.pyplot as plt

    if format not in PLOT_FORMATS:
        raise OutputError(f"plot: expected a format in {PLOT_FORMATS}, found {format!r}; fix: use png or svg")
    buffer = io.BytesIO()
    with _missing_glyphs_quiet():
        figure.savefig(buffer, format=format, dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _agg() -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), values, np.nan)


def mix_spectrum_figure(centres_hz: np.ndarray, level_db: np.ndarray, reference_db: np.ndarray | None = None,
                        reference_name: str = "reference"):
    """The mix's 1/3-octave spectrum (dB re FS), with a reference's curve on the same bands when given.

    Args:
        centres_hz, level_db: ``(bands,)`` band centres and levels; ``-inf`` (silent) bands are not drawn.
        reference_db: ``(bands,)`` or None; NaN where the reference has no value.
        reference_name: its legend label.
    Returns:
        a matplotlib figure.
    """
    _agg()
    figure, axes = _figure(size=(9.0, 3.6))
    axis = axes[0, 0]
    axis.semilogx(centres_hz, _finite(level_db), label="mix", color="black", linewidth=1.6)
    if reference_db is not None:
        axis.semilogx(centres_hz, _finite(reference_db), label=reference_name, color="tab:orange", linewidth=1.2,
                      linestyle="--")
        axis.legend(fontsize="small")
    if np.isfinite(level_db).any():
        top = float(np.nanmax(_finite(level_db)))
        axis.set_ylim(top - _SPECTRUM_RANGE_DB, top + 3.0)
    axis.set(title="Mix: long-term spectrum (1/3 octave)", xlabel="frequency (Hz)", ylabel="band level (dB re FS)")
    axis.grid(True, which="both", alpha=0.3)
    return figure


def track_spectra_figure(analysis: SessionAnalysis, title: str = "Track spectra (1/3 octave)"):
    """Heat map of every track's 1/3-octave spectrum: one row per track, colour = band level (dB re FS), the
    scale spanning the loudest cell and 60 dB below it (quieter and silent cells at the bottom colour)."""
    _agg()
    n = len(analysis.tracks)
    levels = _finite(np.stack([t.spectrum_db for t in analysis.tracks]))
    top = float(np.nanmax(levels)) if np.isfinite(levels).any() else 0.0
    figure, axes = _figure(size=(9.0, 1.2 + 0.28 * n))
    axis = axes[0, 0]
    centres = analysis.spectrum_hz
    edges = np.concatenate([[centres[0] / 2 ** (1 / 6)], centres * 2 ** (1 / 6)])
    shown = axis.pcolormesh(edges, np.arange(n + 1), np.nan_to_num(levels, nan=top - _HEAT_RANGE_DB),
                            cmap="viridis", vmin=top - _HEAT_RANGE_DB, vmax=top, shading="flat")
    axis.set_xscale("log")
    axis.set(title=title, xlabel="frequency (Hz)", yticks=np.arange(n) + 0.5, ylim=(n, 0))
    axis.set_yticklabels([t.name for t in analysis.tracks], fontsize="small")
    figure.colorbar(shown, ax=axis, label="dB re FS", pad=0.01)
    return figure


def stage_figure(analysis: SessionAnalysis, mix_spi_rms, mix_spi_mean, sample_rate: int):
    """The stereo image: a stage plot of the tracks and the mix's spectral panning index per band.

    Left: one marker per track at its measured balance (x, -1 left .. +1 right) and mean spectral centroid (y, log
    Hz), its area growing with integrated loudness; the horizontal bar's half-length is the side share of the
    track's energy ``E[S^2] / (E[M^2] + E[S^2])`` (0 for a mono/centred source, 0.5 for uncorrelated channels).
    Right: the mix's RMS spectral panning index per band (bars, 0 centred .. 1 one side) and its signed
    energy-weighted mean (dots, -1 left .. +1 right).

    Args:
        analysis: the tracks as they sound in the mix (after their channel strips).
        mix_spi_rms, mix_spi_mean: ``(4,)`` per band of :data:`PANNING_BANDS_HZ`.
        sample_rate: Hz (the top band ends at Nyquist).
    Returns:
        a matplotlib figure.
    """
    _agg()
    figure, axes = _figure(1, 2, (11.0, 4.2))
    stage, bands = axes[0]
    loudness = np.array([t.loudness.integrated_lufs for t in analysis.tracks], dtype=float)
    audible = np.isfinite(loudness)
    low, high = (loudness[audible].min(), loudness[audible].max()) if audible.any() else (0.0, 0.0)
    for track, lufs in zip(analysis.tracks, loudness):
        if not np.isfinite(lufs):
            continue  # a muted or silent track has no place on the stage
        width = track.stereo["width"]
        share = 1.0 if np.isinf(width) else width / (1.0 + width)  # inf: the channels cancel (L = -R)
        x, y = track.stereo["balance"], max(track.descriptors["centroid"], _STAGE_FLOOR_HZ)
        size = _STAGE_SIZE[0] + (_STAGE_SIZE[1] - _STAGE_SIZE[0]) * ((lufs - low) / (high - low) if high > low else 1.0)
        line = stage.plot([x - share, x + share], [y, y], linewidth=1.0, alpha=0.6)[0]
        stage.scatter([x], [y], s=size, color=line.get_color(), alpha=0.8, edgecolors="black", linewidths=0.5)
        stage.annotate(track.name, (x, y), fontsize="x-small", xytext=(4, 4), textcoords="offset points")
    stage.set_yscale("log")
    stage.set(title="Stage: tracks in the mix (size = loudness)", xlabel="balance (-1 left .. +1 right)",
              ylabel="spectral centroid (Hz)", xlim=(-1.1, 1.1))
    stage.axvline(0.0, color="grey", linewidth=0.8)
    stage.grid(True, which="both", alpha=0.3)
    names = [f"{lo / 1000:g}-{min(hi, sample_rate / 2) / 1000:g} kHz" for lo, hi in PANNING_BANDS_HZ]
    positions = np.arange(len(names))
    bands.bar(positions, mix_spi_rms, 0.6, color="tab:blue", label="SPI RMS (spread)")
    bands.scatter(positions, mix_spi_mean, color="black", zorder=3, label="SPI mean (side)")
    bands.axhline(0.0, color="grey", linewidth=0.8)
    bands.set(title="Mix: spectral panning index per band", xticks=positions, xticklabels=names,
              ylabel="SPI", ylim=(-1.0, 1.0))
    bands.legend(fontsize="small", loc="lower right")
    bands.grid(True, axis="y", alpha=0.3)
    return figure


def masking_pair_figure(before: SessionAnalysis, after: SessionAnalysis | None):
    """Masking before and after processing side by side (mean dB of target by masker), one colour scale.

    Args:
        before: the raw tracks' analysis (with masking: two or more tracks).
        after: the processed tracks' analysis, or None (then only ``before`` is drawn).
    Returns:
        a matplotlib figure.
    """
    _agg()
    pairs = [("before processing", before)] + ([("after processing", after)] if after is not None else [])
    n = len(before.tracks)
    top = max(float(a.masking.mean_db.max()) for _, a in pairs)
    figure, axes = _figure(1, len(pairs), (len(pairs) * (2.6 + 0.4 * n) + 1.0, 2.2 + 0.4 * n))
    names = [t.name for t in before.tracks]
    for axis, (label, analysis) in zip(axes[0], pairs):
        shown = axis.imshow(analysis.masking.mean_db, cmap="magma", origin="upper", vmin=0.0, vmax=max(top, 1e-6))
        axis.set(title=f"Masking {label} (mean dB)", xlabel="target", ylabel="masker", xticks=range(n),
                 yticks=range(n))
        axis.set_xticklabels(names, rotation=60, ha="right", fontsize="x-small")
        axis.set_yticklabels(names, fontsize="x-small")
    figure.colorbar(shown, ax=list(axes[0]), label="dB", shrink=0.8)
    return figure


def speakers_figure(speakers: list[dict], track_names: list[str], duration_s: float):
    """Who spoke when: one row per track, a bar per ``{"track", "start_s", "end_s"}`` segment."""
    _agg()
    order = [name for name in track_names if any(s["track"] == name for s in speakers)]
    figure, axes = _figure(size=(10.0, 1.0 + 0.35 * max(1, len(order))))
    axis = axes[0, 0]
    import matplotlib.pyplot as plt

    colours = plt.get_cmap("tab20").colors  # pairs of a strong and a pale shade: the strong ones first
    for row, name in enumerate(order):
        spans = [(s["start_s"], s["end_s"] - s["start_s"]) for s in speakers if s["track"] == name]
        axis.broken_barh(spans, (row + 0.1, 0.8), color=colours[(2 * row + row // 10) % len(colours)])
    axis.set(title="Who spoke when", xlabel="time (s)", yticks=np.arange(len(order)) + 0.5,
             xlim=(0.0, duration_s), ylim=(len(order), 0))
    axis.set_yticklabels(order, fontsize="small")
    axis.grid(True, axis="x", alpha=0.3)
    return figure
