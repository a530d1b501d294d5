"""The mix report: one self-contained HTML page that explains a mix (``OUT/report.html``).

What was decided and why (every recipe step with its reason), what it measured before and after (loudness per
track, masking, spectra, stereo image) and whether the master meets its target. The page needs nothing else:
CSS inline, figures inline as base64 PNG, no script, no link to a file or the network; every string that comes
from the user (track names come from file names) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy as np

from mixdown.analysis.report import SessionAnalysis
from mixdown.analysis.spectral import average_spectrum
from mixdown.analysis.stereo import PANNING_BANDS_HZ, stereo_features
from mixdown.console.recipe import MASTER, Recipe, Step, Strip
from mixdown.dsp.registry import PROCESSORS
from mixdown.errors import ParameterError
from mixdown.export import plots
from mixdown.export.files import write_text_atomic

__all__ = ["MixMeasures", "build_report", "describe_step", "measure_mix", "write_report"]

LUFS_TOLERANCE_LU = 0.5  # integrated loudness this close to the target passes (the services' own tolerance is ~1 LU)
PEAK_TOLERANCE_DB = 0.05  # true peak this far over the ceiling still passes: the meter's 4x interpolation error
_EQ_TYPES = ("highpass", "lowpass", "parametric_eq")
_DYNAMICS_TYPES = ("compressor", "expander")
_STRIP_COLUMNS = ("gain", "pan", *_EQ_TYPES, *_DYNAMICS_TYPES)  # the types the track table has a column for
_EQ_BAND_LABELS = {"low_shelf": "LS", "high_shelf": "HS"}


@dataclass
class MixMeasures:
    """The measurements of the mastered mix the report shows.

    Attributes:
        sample_rate: Hz.
        duration_s: seconds of the mastered mix.
        integrated_lufs, true_peak_db, loudness_range_lu: of the mastered mix (LUFS, dBTP, LU).
        premaster_lufs: integrated loudness of the mix before mastering.
        target_name: the loudness target's name (``spotify``, ``-12 LUFS`` ...).
        target_lufs: the loudness aimed at; None when the level was kept.
        ceiling_db: the true-peak ceiling, dBTP.
        clipped_samples: samples clipped when the file was written (0 for float files).
        spectrum_hz, spectrum_db: ``(bands,)`` 1/3-octave centres (Hz) and levels (dB re FS) of the mastered mix.
        spi_rms, spi_mean: ``(4,)`` spectral panning index of the mix per band of
            :data:`mixdown.analysis.stereo.PANNING_BANDS_HZ` (RMS 0..1, signed mean -1..1).
        width_db: side/mid energy ratio of the mix, dB (-inf for mono).
        correlation: L/R correlation of the mix, -1..1.
        reference_spectrum_db: ``(bands,)`` the reference's tonal balance on the same bands, level-matched to the
            mix (its mean over the bands both have equals the mix's), NaN outside its 40 Hz..16 kHz; or None.
        reference_name: the reference's name (its file name), or None.
    """

    sample_rate: int
    duration_s: float
    integrated_lufs: float
    true_peak_db: float
    loudness_range_lu: float
    premaster_lufs: float
    target_name: str
    target_lufs: float | None
    ceiling_db: float
    clipped_samples: int
    spectrum_hz: np.ndarray
    spectrum_db: np.ndarray
    spi_rms: np.ndarray
    spi_mean: np.ndarray
    width_db: float
    correlation: float
    reference_spectrum_db: np.ndarray | None = None
    reference_name: str | None = None


def measure_mix(audio, sample_rate: int, master, target, clipped_samples: int = 0) -> MixMeasures:
    """Measure a mastered mix for the report.

    Args:
        audio: the mastered mix ``(2, samples)`` (tensor or array), at least 16384 samples.
        sample_rate: Hz.
        master: the :class:`mixdown.mastering.master.MasterResult` that made it (its loudness figures and
            reference are used as they are, not measured again).
        target: the :class:`mixdown.mastering.LoudnessTarget` it was mastered to.
        clipped_samples: what the file writer reported.
    Returns:
        :class:`MixMeasures`.
    """
    x = audio.detach().cpu().numpy() if hasattr(audio, "detach") else np.asarray(audio)
    centres, level = average_spectrum(x, sample_rate, fmax=min(20000.0, sample_rate / 2.0))
    stereo = stereo_features(x, sample_rate)
    reference = master.reference
    return MixMeasures(
        sample_rate, x.shape[-1] / sample_rate, master.integrated_lufs, master.true_peak_db,
        master.loudness_range_lu, master.premaster_lufs, target.name, master.target_lufs, target.true_peak_db,
        int(clipped_samples), centres, level, np.asarray(stereo["spi_rms"]), np.asarray(stereo["spi_mean"]),
        float(stereo["width_db"]), float(stereo["correlation"]),
        None if reference is None else _matched_shape(centres, level, reference.centres_hz, reference.tone_db),
        None if reference is None else reference.source,
    )


def _matched_shape(centres: np.ndarray, level: np.ndarray, shape_hz: np.ndarray, shape_db: np.ndarray) -> np.ndarray:
    """A zero-mean tonal shape on ``shape_hz`` moved onto ``centres`` with the mix's mean level there (NaN
    outside the shape's range), so the two curves compare in shape, not in loudness."""
    inside = (centres >= shape_hz[0] * 0.99) & (centres <= shape_hz[-1] * 1.01)
    curve = np.full(centres.shape, np.nan)
    curve[inside] = np.interp(np.log2(centres[inside]), np.log2(shape_hz), shape_db)
    both = inside & np.isfinite(level)
    return curve + (level[both].mean() - curve[both].mean() if both.any() else 0.0)


def write_report(path: str | os.PathLike, recipe: Recipe, before: SessionAnalysis, after: SessionAnalysis | None,
                 mix: MixMeasures, warnings: Sequence = (), title: str | None = None) -> Path:
    """Write :func:`build_report` to ``path`` atomically (a temp file renamed over it); returns the path."""
    return write_text_atomic(path, build_report(recipe, before, after, mix, warnings, title))


def build_report(recipe: Recipe, before: SessionAnalysis, after: SessionAnalysis | None, mix: MixMeasures,
                 warnings: Sequence = (), title: str | None = None) -> str:
    """The mix report as one self-contained HTML page.

    Args:
        recipe: the mix (its master chain filled in by mastering).
        before: :func:`mixdown.analysis.analyze_session` of the raw tracks.
        after: the same analysis of the processed tracks (each after its channel strip), or None. Loudness, spectra
            and masking are read from it; a track without ``stereo`` balance or ``descriptors`` centroid (a
            streamed measurement) puts the raw tracks on the stage plot instead.
        mix: :func:`measure_mix` of the mastered mix.
        warnings: the :class:`mixdown.audio.LoadWarning` list loading raised.
        title: the song's name; None takes the folder of the tracks' sources.
    Returns:
        the HTML text.
    Raises:
        ParameterError: an analysis that does not hold every recipe track.
    """
    before_by_name = _by_name(before, recipe, "before")
    after_by_name = _by_name(after, recipe, "after") if after is not None else None
    title = title or _song_name(recipe)
    parts = [
        _header(recipe, before, mix, title),
        _master_section(recipe, mix),
        _tracks_section(recipe, before_by_name, after_by_name),
        _buses_section(recipe),
        _figures_section(before, after, mix),
        _warnings_section(warnings),
        _speakers_section(recipe, mix.duration_s),
    ]
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Mix report: {_e(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(p for p in parts if p) + "\n</body></html>\n")


# --- what a step does, in a few words ----------------------------------------------------------------------------


def describe_step(step: Step) -> str:
    """A compact description of a step's settings, e.g. ``HP 80 Hz 12 dB/oct``, ``compressor -18 dB 3:1 10/100
    ms`` or ``LS -1.9 dB @ 150 Hz, +2.3 dB @ 198 Hz`` (EQ bands with a nonzero gain)."""
    p = {**PROCESSORS[step.type].table.defaults(), **step.params}
    if step.type == "gain":
        return f"{p['gain_db']:+.1f} dB"
    if step.type == "pan":
        return _pan(p["pan"])
    if step.type in ("highpass", "lowpass"):
        return f"{'HP' if step.type == 'highpass' else 'LP'} {_hz(p['cutoff_hz'])} {p['slope_db_per_octave']} dB/oct"
    if step.type == "parametric_eq":
        bands = [key.removesuffix("_gain_db") for key in PROCESSORS["parametric_eq"].table.entries
                 if key.endswith("_gain_db") and p[key] != 0.0]
        return ", ".join(f"{_EQ_BAND_LABELS.get(b, '')}{' ' if b in _EQ_BAND_LABELS else ''}"
                         f"{p[b + '_gain_db']:+.1f} dB @ {_hz(p[b + '_freq_hz'])}" for b in bands) or "flat"
    if step.type in _DYNAMICS_TYPES:
        text = f"{step.type} {p['threshold_db']:g} dB {p['ratio']:g}:1 {p['attack_ms']:g}/{p['release_ms']:g} ms"
        return text + (f" +{p['makeup_db']:g} dB" if p.get("makeup_db") else "")
    if step.type == "limiter":
        return f"ceiling {p['ceiling_db']:g} dBTP, release {p['release_ms']:g} ms"
    settings = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in step.params.items())
    return f"{step.type} {settings}".strip()


def _pan(pan: float) -> str:
    return "C" if abs(pan) < 0.005 else f"{'L' if pan < 0 else 'R'}{abs(pan) * 100:.0f}"


def _hz(hz: float) -> str:
    return f"{hz:.0f} Hz" if hz < 1000.0 else f"{hz / 1000.0:.1f} kHz"


def _lufs(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "silent"


def _e(value) -> str:
    return html.escape(str(value), quote=True)


# --- sections ------------------------------------------------------------------------------------------------------


def _by_name(analysis: SessionAnalysis, recipe: Recipe, which: str) -> dict:
    tracks = {t.name: t for t in analysis.tracks}
    missing = [s.name for s in recipe.tracks if s.name not in tracks]
    if missing:
        raise ParameterError(f"report: expected the {which} analysis to hold every recipe track, found no "
                             f"{missing[:3]}; fix: analyse the session the recipe mixes")
    return tracks


def _song_name(recipe: Recipe) -> str:
    folders = {PurePath(s.source).parent.name for s in recipe.tracks if s.source}
    return folders.pop() if len(folders) == 1 and "" not in folders else "mix"


def _mark(ok: bool) -> str:
    return '<span class="pass">&#10003; pass</span>' if ok else '<span class="fail">&#10007; fail</span>'


def _header(recipe: Recipe, before: SessionAnalysis, mix: MixMeasures, title: str) -> str:
    notes = recipe.notes
    facts = [("tracks", len(recipe.tracks)), ("duration", f"{mix.duration_s:.1f} s"),
             ("sample rate", f"{mix.sample_rate} Hz"), ("method", notes.get("method", "n/a")),
             ("genre", notes.get("genre") or "not set"), ("target", mix.target_name)]
    preview = notes.get("preview")
    if isinstance(preview, dict):
        facts.append(("preview", f"{preview.get('seconds', 0):.1f} s from {preview.get('start_s', 0):.1f} s"))
    items = "".join(f"<span><b>{_e(k)}</b> {_e(v)}</span>" for k, v in facts)
    return f"<header><h1>Mix report: {_e(title)}</h1><p class=\"facts\">{items}</p></header>"


def _master_section(recipe: Recipe, mix: MixMeasures) -> str:
    if mix.target_lufs is None:
        loudness = ("level kept", '<span class="info">no loudness target</span>')
    else:
        loudness = (f"{mix.target_lufs:.1f} LUFS",
                    _mark(math.isfinite(mix.integrated_lufs)
                          and abs(mix.integrated_lufs - mix.target_lufs) <= LUFS_TOLERANCE_LU))
    rows = [
        ("Integrated loudness", f"{_lufs(mix.integrated_lufs)} LUFS", "master-lufs", *loudness),
        ("True peak", f"{mix.true_peak_db:.2f} dBTP", "master-peak", f"&le; {mix.ceiling_db:g} dBTP",
         _mark(mix.true_peak_db <= mix.ceiling_db + PEAK_TOLERANCE_DB)),
        ("Loudness range", f"{mix.loudness_range_lu:.1f} LU", "master-lra", "", ""),
        ("Premaster loudness", f"{_lufs(mix.premaster_lufs)} LUFS", "master-premaster", "", ""),
        ("Clipped samples", f"{mix.clipped_samples}", "master-clipped", "0", _mark(mix.clipped_samples == 0)),
        ("Width (side/mid)", f"{mix.width_db:.1f} dB" if math.isfinite(mix.width_db) else "mono", "master-width",
         "", ""),
        ("L/R correlation", f"{mix.correlation:.2f}", "master-correlation", "", ""),
    ]
    body = "".join(f"<tr><th>{name}</th><td class=\"{cls}\">{_e(value)}</td><td>{target}</td><td>{mark}</td></tr>"
                   for name, value, cls, target, mark in rows)
    return (f"<section><h2>Master</h2><table class=\"master\"><tr><th></th><th>measured</th><th>target</th><th></th>"
            f"</tr>{body}</table><h3>Master chain</h3>{_chain_table(recipe.master)}</section>")


def _chain_table(chain: list[Step]) -> str:
    if not chain:
        return "<p class=\"muted-note\">no processing</p>"
    rows = "".join((f'<tr class="bypassed"><td>{_e(s.type)} (bypassed)</td>' if s.bypass
                    else f"<tr><td>{_e(s.type)}</td>")
                   + f"<td>{_e(describe_step(s))}</td><td class=\"reason\">{_e(s.reason)}</td></tr>" for s in chain)
    return f"<table class=\"chain\"><tr><th>step</th><th>settings</th><th>why</th></tr>{rows}</table>"


def _unprocessed(strip: Strip) -> bool:
    """Nothing in the chain changes the sound (no step, or only 0 dB gains): the track plays as it is."""
    return all(s.type == "gain" and s.params.get("gain_db", 0.0) == 0.0 for s in strip.active_steps())


_TRACK_HEADER = ("Track", "Role", "Route", "Gain", "Pan", "EQ", "Dynamics", "Other", "Sends", "LUFS before",
                 "LUFS after", "&Delta; LU")


def _tracks_section(recipe: Recipe, before: dict, after: dict | None) -> str:
    rows = "".join(_track_rows(i, strip, before[strip.name], after[strip.name] if after is not None else None)
                   for i, strip in enumerate(recipe.tracks))
    head = "".join(f"<th>{h}</th>" for h in _TRACK_HEADER)
    note = "" if after is not None else "<p class=\"muted-note\">no analysis of the processed tracks: after = n/a</p>"
    return f"<section><h2>Tracks</h2>{note}<table class=\"tracks\"><tr>{head}</tr>{rows}</table></section>"


def _track_rows(i: int, strip: Strip, before, after) -> str:
    """A track's settings row and its folded row of reasons (``before`` / ``after``: its TrackAnalysis)."""
    steps = strip.active_steps()
    guess = before.role
    role = strip.role or guess.role
    confidence = f" ({guess.confidence:.2f})" if role == guess.role else " (set)"
    gain = sum(s.params.get("gain_db", 0.0) for s in steps if s.type == "gain")
    pick = lambda keep: _e("; ".join(describe_step(s) for s in steps if keep(s.type))) or "&mdash;"
    sends = ", ".join(f"{_e(send.to)} {send.level_db:g} dB" for send in strip.sends) or "&mdash;"
    lufs_before = before.loudness.integrated_lufs
    lufs_after = after.loudness.integrated_lufs if after is not None else None
    delta = (f"{lufs_after - lufs_before:+.1f}" if lufs_after is not None and math.isfinite(lufs_after)
             and math.isfinite(lufs_before) else "n/a")
    flags = [name for name, on in (("muted", strip.mute), ("as is", _unprocessed(strip))) if on]
    tags = "".join(f"<span class=\"tag\">{f}</span>" for f in flags)
    cells = [
        f"<td class=\"name\"><span class=\"track-name\">{_e(strip.name)}</span>{tags}</td>",
        f"<td>{_e(role)}{confidence}</td>",
        f"<td>{_e(strip.route)}</td>",
        f"<td class=\"num gain\">{gain:+.1f} dB</td>",
        f"<td class=\"num pan\">{pick(lambda t: t == 'pan')}</td>",
        f"<td class=\"eq\">{pick(lambda t: t in _EQ_TYPES)}</td>",
        f"<td class=\"dynamics\">{pick(lambda t: t in _DYNAMICS_TYPES)}</td>",
        f"<td>{pick(lambda t: t not in _STRIP_COLUMNS)}</td>",
        f"<td>{sends}</td>",
        f"<td class=\"num lufs-before\">{_lufs(lufs_before)}</td>",
        f"<td class=\"num lufs-after\">{'n/a' if lufs_after is None else _lufs(lufs_after)}</td>",
        f"<td class=\"num delta\">{delta}</td>",
    ]
    reasons = [f"<li><b>role</b>: {_e(guess.reason)}</li>"] + \
              [f"<li><b>{_e(s.type)}</b>: {_e(s.reason or 'no reason given')}</li>" for s in steps] + \
              [f"<li><b>send to {_e(s.to)}</b>: {_e(s.reason or 'no reason given')}</li>" for s in strip.sends]
    classes = " ".join(f.replace(" ", "") for f in flags)
    return (f"<tr id=\"track-{i}\" class=\"{classes}\">{''.join(cells)}</tr>"
            f"<tr class=\"why\"><td colspan=\"{len(_TRACK_HEADER)}\"><details><summary>why</summary>"
            f"<ul>{''.join(reasons)}</ul></details></td></tr>")


def _buses_section(recipe: Recipe) -> str:
    blocks = []
    for bus in recipe.buses:
        members = [t.name for t in recipe.tracks if t.route == bus.name]
        sends = ", ".join(f"{_e(s.to)} {s.level_db:g} dB" for s in bus.sends)
        blocks.append(f"<h3>Bus {_e(bus.name)} &rarr; {MASTER}</h3><p>{len(members)} track(s): "
                      f"{_e(', '.join(members)) or 'none'}{f'; sends {sends}' if sends else ''}</p>"
                      f"{_chain_table(bus.chain)}")
    for ret in recipe.returns:
        senders = [f"{s.name} {send.level_db:g} dB" for s in (*recipe.tracks, *recipe.buses)
                   for send in s.sends if send.to == ret.name]
        blocks.append(f"<h3>Return {_e(ret.name)} &rarr; {MASTER}</h3><p>fed by: {_e(', '.join(senders)) or 'none'}"
                      f"</p>{_chain_table(ret.chain)}")
    sharing = recipe.gain_sharing
    if sharing is not None:
        blocks.append(f"<h3>Gain sharing (automixer)</h3><p>over {_e(', '.join(sharing.tracks))}; "
                      f"{_e(sharing.reason or 'no reason given')}</p>")
    return f"<section><h2>Buses and returns</h2>{''.join(blocks)}</section>" if blocks else ""


def _figure(figure, alt: str, caption: str) -> str:
    data = base64.b64encode(plots.figure_bytes(figure, "png")).decode("ascii")
    return (f"<figure><img alt=\"{_e(alt)}\" src=\"data:image/png;base64,{data}\">"
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _figures_section(before: SessionAnalysis, after: SessionAnalysis | None, mix: MixMeasures) -> str:
    heard, state = (after, "processed") if after is not None else (before, "raw (no analysis of the processed tracks)")
    # a streamed "after" may hold loudness, spectra and masking only: then the stage shows the raw tracks
    placed, where = (heard, state) if all("balance" in t.stereo and "centroid" in t.descriptors
                                          for t in heard.tracks) else \
        (before, "raw (no stereo measurements of the processed tracks)")
    figures = [
        _figure(plots.mix_spectrum_figure(mix.spectrum_hz, mix.spectrum_db, mix.reference_spectrum_db,
                                          f"{mix.reference_name} (shape, level-matched)"),
                "mix spectrum", "The mastered mix per 1/3 octave"
                + (f", with the tonal shape of {mix.reference_name}" if mix.reference_name else "") + "."),
        _figure(plots.track_spectra_figure(heard, f"Track spectra, {state} (1/3 octave)"), "track spectra",
                f"Each track's spectrum ({state}); colour is the band level, 60 dB of range."),
        _figure(plots.stage_figure(placed, mix.spi_rms, mix.spi_mean, mix.sample_rate), "stereo image",
                f"Stage, {where} tracks: balance vs spectral centroid, size by loudness, bar = side share. "
                f"Right: the mix's panning index per band ({_bands(mix.sample_rate)})."),
    ]
    if before.masking is not None and (after is None or after.masking is not None):
        figures.append(_figure(plots.masking_pair_figure(before, after), "masking before and after",
                               "Mean masking of each target (column) by each masker (row), dB, one colour scale."))
    return f"<section><h2>Figures</h2>{''.join(figures)}</section>"


def _bands(sample_rate: int) -> str:
    return ", ".join(f"{lo / 1000:g}-{min(hi, sample_rate / 2) / 1000:g} kHz" for lo, hi in PANNING_BANDS_HZ)


def _warnings_section(warnings: Sequence) -> str:
    if not warnings:
        return "<section><h2>Load warnings</h2><p>none</p></section>"
    rows = "".join(f"<tr><td>{_e(w.code)}</td><td>{_e(w.track)}</td><td>{_e(w.message)}</td></tr>" for w in warnings)
    return (f"<section><h2>Load warnings</h2><table class=\"warnings\"><tr><th>code</th><th>track</th>"
            f"<th>message</th></tr>{rows}</table></section>")


def _speakers_section(recipe: Recipe, duration_s: float) -> str:
    speakers = recipe.notes.get("speakers")
    if not speakers:
        return ""
    names = [t.name for t in recipe.tracks]
    talk: dict[str, list[float]] = {}
    for s in speakers:
        talk.setdefault(s["track"], []).append(s["end_s"] - s["start_s"])
    total = sum(sum(v) for v in talk.values())
    order = [n for n in names if n in talk] + [n for n in talk if n not in names]
    rows = "".join(f"<tr><td>{_e(n)}</td><td class=\"num talk\">{sum(talk[n]):.1f}</td>"
                   f"<td class=\"num\">{100.0 * sum(talk[n]) / total if total > 0 else 0.0:.0f} %</td>"
                   f"<td class=\"num\">{len(talk[n])}</td></tr>" for n in order)
    figure = _figure(plots.speakers_figure(speakers, order, duration_s), "who spoke when",
                     "Who spoke when, as the speech mode detected it.")
    return (f"<section id=\"speakers\"><h2>Speakers</h2>{figure}<table class=\"speakers\"><tr><th>track</th>"
            f"<th>talk time (s)</th><th>share</th><th>turns</th></tr>{rows}</table></section>")


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;margin:1.5em auto;max-width:1200px;
padding:0 1em}h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
h3{font-size:1em;margin:1em 0 .3em}.facts span{margin-right:1.2em;white-space:nowrap}
table{border-collapse:collapse;margin:.4em 0;font-size:13px}th,td{border-bottom:1px solid #e4e4e4;
padding:3px 6px;text-align:left;vertical-align:top}th{background:#f4f4f4}.num{text-align:right;
font-variant-numeric:tabular-nums;white-space:nowrap}.reason{color:#555}.pass{color:#17803d;font-weight:600}
.fail{color:#b42318;font-weight:600}.info{color:#555}tr.muted td{color:#999}tr.why td{border-bottom:1px solid
#ccc;padding-top:0;font-size:12px;color:#555}tr.why ul{margin:.2em 0 .4em 1.2em;padding:0}summary{cursor:pointer;
color:#555}.tag{font-size:11px;background:#eee;border-radius:3px;padding:0 4px;margin-left:4px;color:#555}
figure{margin:1em 0}figure img{max-width:100%}figcaption{font-size:12px;color:#555}.muted-note{color:#777}
tr.bypassed td{color:#999;text-decoration:line-through}
"""
