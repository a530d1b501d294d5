"""The mix report: a self-contained HTML page whose numbers are the analysis's and whose names are escaped."""

from __future__ import annotations

import base64
import copy
import dataclasses
from html.parser import HTMLParser

import numpy as np
import pytest
import torch

from mixdown.analysis import analyze_session, measure_loudness
from mixdown.api import demo_stems_path
from mixdown.audio import LoadWarning, load_session
from mixdown.audio.session import Session, Track
from mixdown.console import Console
from mixdown.console.recipe import Step
from mixdown.errors import ParameterError
from mixdown.export.plots import figure_bytes, mix_spectrum_figure
from mixdown.export.report_html import (
    build_report,
    describe_step,
    measure_mix,
    write_report,
)
from mixdown.mastering import loudness_target
from mixdown.mastering.master import master_to_target
from mixdown.mastering.reference import measure_reference
from mixdown.methods.intent import Intent
from mixdown.methods.rules import rules_recipe

SECONDS = 6.0  # of the 15 s demo: every track already plays, and the module stays well under 30 s
ODD_NAME = "11_lead <b>&"  # a file name that is also markup


class _Page(HTMLParser):
    """Tags with their attributes, and the text of every element with an id or a class, by that id / class."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: dict[str, list[str]] = {}
        self._open: list[list] = []  # [tag, keys, collected text] of the open elements

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag in ("img", "meta", "br"):
            return
        keys = ([attrs["id"]] if "id" in attrs else []) + (attrs.get("class") or "").split()
        self._open.append([tag, keys, []])

    def handle_endtag(self, tag):
        while self._open:
            open_tag, keys, text = self._open.pop()
            for key in keys:
                self.text.setdefault(key, []).append("".join(text).strip())
            if self._open:
                self._open[-1][2].extend(text)
            if open_tag == tag:
                return

    def handle_data(self, data):
        if self._open:
            self._open[-1][2].append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """The demo song (first 6 s, one track renamed to markup) analysed, mixed by rules, rendered, re-analysed
    per processed stem and mastered to Spotify's target."""
    demo = load_session(demo_stems_path())
    n = int(SECONDS * demo.sample_rate)
    tracks = [Track(ODD_NAME if t.name.startswith("11_") else t.name, t.path, t.audio[:, :n], demo.sample_rate)
              for t in demo.tracks]
    session = Session(tracks, demo.sample_rate)
    before = analyze_session(session)
    recipe = rules_recipe(session, before, Intent(), tmp_path_factory.mktemp("recipe"))
    with torch.no_grad():
        blocks = list(Console(recipe, session.sample_rate, session.channel_counts())
                      .render_blocks([[t.audio for t in session.tracks]], stems=True))
    mix, stems = (torch.cat(parts, -1) for parts in zip(*blocks))
    after = analyze_session(Session([Track(t.name, t.path, stems[i], session.sample_rate)
                                     for i, t in enumerate(session.tracks)], session.sample_rate))
    target = loudness_target("spotify")
    master = master_to_target(mix, session.sample_rate, target)
    recipe.master = master.steps
    measures = measure_mix(master.audio, session.sample_rate, master, target)
    page = build_report(recipe, before, after, measures)
    return {"recipe": recipe, "before": before, "after": after, "master": master, "mix": measures,
            "page": page, "parsed": _parse(page)}


def test_the_page_is_self_contained(mixed):
    parsed, page = mixed["parsed"], mixed["page"]
    images = [attrs for tag, attrs in parsed.tags if tag == "img"]
    assert len(images) >= 4  # mix spectrum, track spectra, stage, masking
    for attrs in images:
        assert attrs["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(attrs["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    links = [(tag, key, value) for tag, attrs in parsed.tags for key, value in attrs.items()
             if key in ("src", "href", "action", "data") and not value.startswith("data:")]
    assert links == []
    assert not {tag for tag, _ in parsed.tags} & {"script", "link", "iframe", "object", "embed"}
    assert "url(" not in page and "@import" not in page
    assert len(page.encode()) < 3_000_000


def test_every_track_name_is_escaped(mixed):
    page, parsed = mixed["page"], mixed["parsed"]
    assert "11_lead <b>&" not in page and "11_lead &lt;b&gt;&amp;" in page
    # the parsed text of each name cell is the name itself, not markup
    assert parsed.text["track-name"] == [t.name for t in mixed["recipe"].tracks]


def test_track_numbers_are_the_analysis_values(mixed):
    parsed, recipe, before, after = mixed["parsed"], mixed["recipe"], mixed["before"], mixed["after"]
    assert parsed.text["lufs-before"] == [f"{t.loudness.integrated_lufs:.1f}" for t in before.tracks]
    assert parsed.text["lufs-after"] == [f"{t.loudness.integrated_lufs:.1f}" for t in after.tracks]
    gains = [sum(s.params["gain_db"] for s in strip.chain if s.type == "gain") for strip in recipe.tracks]
    assert parsed.text["gain"] == [f"{g:+.1f} dB" for g in gains]
    change = [a.loudness.integrated_lufs - b.loudness.integrated_lufs for a, b in zip(after.tracks, before.tracks)]
    assert parsed.text["delta"] == [f"{d:+.1f}" for d in change]
    # the processed stems are mostly as loud as their faders say (EQ, high-pass and compression move a few tracks)
    assert np.median(np.abs(np.array(change) - gains)) < 2.0


def test_master_figures_are_measured_and_marked(mixed):
    parsed, mix, master = mixed["parsed"], mixed["mix"], mixed["master"]
    measured = measure_loudness(master.audio, mix.sample_rate)
    assert abs(mix.integrated_lufs - measured.integrated_lufs) < 0.01 and abs(mix.integrated_lufs + 14.0) < 0.1
    assert abs(mix.true_peak_db - measured.true_peak_db) < 0.01 and mix.true_peak_db <= -1.0 + 1e-3
    assert parsed.text["master-lufs"] == [f"{measured.integrated_lufs:.1f} LUFS"]
    assert parsed.text["master-peak"] == [f"{measured.true_peak_db:.2f} dBTP"]
    assert parsed.text["master-lra"] == [f"{measured.loudness_range_lu:.1f} LU"]
    assert parsed.text["pass"] == ["\u2713 pass"] * 3 and "fail" not in parsed.text
    # the master chain's reasons are in the page
    assert all(s.reason.replace("'", "&#x27;") in mixed["page"] for s in master.steps)
    # the mix spectrum is the mastered audio's; it sits where the analysis's bands are
    assert np.array_equal(mix.spectrum_hz, mixed["before"].spectrum_hz)
    level = 10.0 * np.log10(np.sum(10.0 ** (mix.spectrum_db[np.isfinite(mix.spectrum_db)] / 10.0)))
    mean_square = 10.0 * np.log10(np.mean(master.audio.double().mean(0).numpy() ** 2))
    assert abs(level - mean_square) < 0.5  # the bands hold the mono mix's power (20 Hz-20 kHz of it)


def test_masking_figures_and_no_speakers_by_default(mixed):
    parsed = mixed["parsed"]
    alts = [attrs.get("alt") for tag, attrs in parsed.tags if tag == "img"]
    assert "masking before and after" in alts and "who spoke when" not in alts
    assert "speakers" not in parsed.text


def test_variants_speakers_warnings_marks_and_no_after(mixed):
    recipe = copy.deepcopy(mixed["recipe"])
    recipe.tracks[0].mute = True
    recipe.tracks[1].chain = [Step("gain", {"gain_db": 0.0}, "keep as is (intent): no processing")]
    recipe.notes["speakers"] = [{"track": recipe.tracks[0].name, "start_s": 0.5, "end_s": 2.0},
                                {"track": ODD_NAME, "start_s": 2.5, "end_s": 3.0},
                                {"track": recipe.tracks[0].name, "start_s": 4.0, "end_s": 4.5}]
    loud = dataclasses.replace(mixed["mix"], integrated_lufs=-11.0, clipped_samples=3)
    warning = LoadWarning("clipped", ODD_NAME, "12 samples at full scale <here>")
    page = build_report(recipe, mixed["before"], None, loud, [warning])
    parsed = _parse(page)
    assert parsed.text["lufs-after"] == ["n/a"] * len(recipe.tracks)
    assert parsed.text["fail"] == ["\u2717 fail"] * 2  # loudness 3 LU over the target, and clipped samples
    assert parsed.text["talk"] == ["2.0", "0.5"]  # seconds per speaker, in track order
    assert "speakers" in parsed.text and "who spoke when" in [a.get("alt") for t, a in parsed.tags if t == "img"]
    assert "masking before and after" in [a.get("alt") for t, a in parsed.tags if t == "img"]
    assert "12 samples at full scale &lt;here&gt;" in page
    assert "muted" in parsed.text["track-0"][0] and "as is" in parsed.text["track-1"][0]


def test_an_analysis_without_a_recipe_track_is_refused(mixed):
    recipe = copy.deepcopy(mixed["recipe"])
    recipe.tracks[2].name = "not analysed"
    with pytest.raises(ParameterError, match="not analysed"):
        build_report(recipe, mixed["before"], mixed["after"], mixed["mix"])


def test_write_report_replaces_atomically(mixed, tmp_path):
    path = tmp_path / "report.html"
    path.write_text("old report")
    # an "after" measured while streaming has no stereo image: the stage falls back to the raw tracks
    streamed = dataclasses.replace(mixed["after"], tracks=[dataclasses.replace(t, stereo={}, descriptors={})
                                                           for t in mixed["after"].tracks])
    assert write_report(path, mixed["recipe"], mixed["before"], streamed, mixed["mix"]) == path
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "old report" not in text
    assert "Stage, raw (no stereo measurements of the processed tracks) tracks" in text
    assert "Stage, processed tracks" in mixed["page"]
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temp file left


def test_a_reference_is_drawn_as_its_shape_at_the_mix_level(mixed):
    master, rate = mixed["master"], mixed["mix"].sample_rate
    # the mix as its own reference: its shape put back at the mix's mean level is the mix's own spectrum
    itself = dataclasses.replace(master, reference=measure_reference(master.audio, rate, "ref <1>.wav"))
    measures = measure_mix(master.audio, rate, itself, loudness_target("spotify"))
    inside = (measures.spectrum_hz > 39.0) & (measures.spectrum_hz < 16500.0)
    assert np.allclose(measures.reference_spectrum_db[inside], measures.spectrum_db[inside], atol=1e-6)
    assert np.isnan(measures.reference_spectrum_db[~inside]).all() and measures.reference_name == "ref <1>.wav"
    figure = mix_spectrum_figure(measures.spectrum_hz, measures.spectrum_db, measures.reference_spectrum_db)
    assert figure_bytes(figure)[:4] == b"\x89PNG"


def test_describe_step_summarises_settings():
    eq = Step("parametric_eq", {"low_shelf_gain_db": -1.9, "low_shelf_freq_hz": 150.0, "peak2_gain_db": 2.3,
                                "peak2_freq_hz": 2519.8, "peak3_gain_db": 0.0})
    assert describe_step(eq) == "LS -1.9 dB @ 150 Hz, +2.3 dB @ 2.5 kHz"
    assert describe_step(Step("parametric_eq", {})) == "flat"
    assert describe_step(Step("highpass", {"cutoff_hz": 80.0, "slope_db_per_octave": "24"})) == "HP 80 Hz 24 dB/oct"
    assert describe_step(Step("compressor", {"threshold_db": -18.0, "ratio": 3.0})) == \
        "compressor -18 dB 3:1 10/100 ms"  # defaults filled in from the parameter table
    assert describe_step(Step("pan", {"pan": -0.38})) == "L38" and describe_step(Step("pan", {})) == "C"
    assert describe_step(Step("widener", {"width": 1.2})) == "widener width 1.2"
