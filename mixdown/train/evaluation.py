"""How well a DMC works, on songs it never heard: parameter recovery and style transfer (issue 6's figures).

Each held-out song gives one example of :class:`~mixdown.data.pipeline.StyleTransferDataset`: a random recipe
mixes two adjacent sections of an excerpt; the first section's mix is the reference, the second's stems are
to be mixed and its mix is the target.

* **Parameter recovery**: the DMC hears the second section's stems and the reference and sets the console as
  ``--method dmc`` does; per track we count the values within tolerance of the recipe (fader and track level
  1 dB, pan 0.1, EQ band gain 2 dB, compressor threshold 3 dB and mean gain reduction 1 dB; the gain is make-up
  plus fader, two gains in series no one can tell apart) and the sound each strip makes (its output's tone:
  every octave band it is heard in within 1 dB). A mix is normalised to -23 LUFS, so only the gains'
  differences are heard: gains, levels and tones are judged with each song's median error removed.
* **Style transfer**: each method mixes the second section toward the reference, through :func:`mix_folder`
  exactly as a user runs it (loudness target ``none``); the result and the target are brought to -23 LUFS and
  compared (:func:`mixdown.evaluate.compare`: AF distance, MR-STFT), and the AF distance to the reference itself
  (another section: what a user can check) is reported too. ``none`` is the stems summed at unity.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from mixdown.data.pipeline import StyleTransferDataset, collate
from mixdown.data.random_mix import console_inputs, normalising_gain_db
from mixdown.dsp.gain import db_to_amplitude
from mixdown.evaluate import compare
from mixdown.methods.dmc.mixer import dmc_console
from mixdown.methods.dmc.model import DmcModel
from mixdown.methods.dmc.space import FADER, PAN, SPACE, TRACK_STEPS

__all__ = ["TOLERANCES", "RecoveryResult", "evaluate", "held_out_examples", "held_out_songs", "parameter_recovery",
           "style_transfer"]

TOLERANCES = {"gain": 1.0, "fader": 1.0, "level": 1.0, "tone": 1.0, "pan": 0.1, "eq_gain": 2.0,
              "comp_threshold": 3.0, "reduction": 1.0}
"""Largest error counted as recovered, in the parameter's unit (dB, or pan position in [-1, 1])."""
_EQ_GAINS = [j for j, (k, p) in enumerate(SPACE.track) if TRACK_STEPS[k] == "parametric_eq" and p.name.endswith("gain_db")]
_THRESHOLD = next(j for j, (k, p) in enumerate(SPACE.track) if p.name == "threshold_db")
_RATIO = next(j for j, (k, p) in enumerate(SPACE.track) if p.name == "ratio")
_MAKEUP = next(j for j, (k, p) in enumerate(SPACE.track) if p.name == "makeup_db")


def held_out_examples(songs: list, tracks: int = 8, seconds: float = 3.0, sample_rate: int = 44100,
                      seed: int = 1234) -> list[dict]:
    """One style-transfer example per song (the same for a given seed): a batch of one, as the loader gives."""
    return [collate([StyleTransferDataset([song], tracks, seconds, sample_rate, 1, seed + i,
                                          drum_bus_probability=0.0)[0]]) for i, song in enumerate(songs)]


@dataclass
class RecoveryResult:
    """Shares of recovered parameters (``within``: name -> share in [0, 1]), how many were judged, and the
    median absolute errors, for one way of running the model."""

    within: dict[str, float]
    counts: dict[str, int]
    median_error: dict[str, float]
    errors: dict[str, list[float]] = field(default_factory=dict, repr=False)

    @property
    def unheard_gain_misses(self) -> float:
        """Of the tracks whose gain knob is off by more than its tolerance, the share whose output is right
        anyway (level and tone within theirs): the recipe's knobs differ, its sound does not."""
        missed = np.array(self.errors["gain"]) > TOLERANCES["gain"]
        heard_right = (np.array(self.errors["level"]) <= TOLERANCES["level"]) & \
            (np.array(self.errors["tone"]) <= TOLERANCES["tone"])
        return float(heard_right[missed].mean()) if missed.any() else math.nan


def _value(track_norm: torch.Tensor, column: int) -> torch.Tensor:
    """``(tracks,)``: one column of normalised track values in its physical unit."""
    return SPACE.track[column][1].denormalize(track_norm[:, column])


def _gain(track_norm: torch.Tensor) -> torch.Tensor:
    """``(tracks,)`` dB: the static gain after the compressor, make-up plus fader."""
    return _value(track_norm, FADER) + _value(track_norm, _MAKEUP)


def _relative(errors: torch.Tensor) -> list[float]:
    """Absolute errors after removing their median (a mix is heard at one loudness)."""
    return (errors - errors.median()).abs().tolist()


_OCTAVE_EDGES_HZ = 31.25 * 2.0 ** np.arange(11)  # ten octave bands, 31 Hz to 32 kHz
_HEARD_DB = 30.0  # a band within this of a track's loudest band counts for its tone


def _strip_bands(inputs: list[torch.Tensor], names: list[str], roles: list[str | None], trims_db: list[float],
                 track_norm: torch.Tensor, return_norm: torch.Tensor, sample_rate: int,
                 bypass_compressors: bool = False) -> torch.Tensor:
    """``(tracks, 10)``: the power of each track's output after its whole strip in ten octave bands (their sum is
    the track's level in the mix, what its fader is for). ``bypass_compressors``: at ratio 1 instead."""
    if bypass_compressors:
        track_norm = track_norm.clone()
        track_norm[:, _RATIO] = SPACE.track[_RATIO][1].normalize(torch.tensor(1.0))
    console = dmc_console(inputs, names, roles, trims_db, sample_rate, torch.float64)
    with torch.no_grad():
        SPACE.bind(console, track_norm.double(), return_norm.double())
        _, stems, _ = console.process_stems([x.double() for x in inputs])
    power = torch.fft.rfft(stems, dim=-1).abs().square().sum(1)
    hz = torch.fft.rfftfreq(stems.shape[-1], 1.0 / sample_rate, dtype=torch.float64)
    return torch.stack([power[:, (hz >= lo) & (hz < hi)].sum(1)
                        for lo, hi in pairwise(_OCTAVE_EDGES_HZ)], 1)


def _db(power: torch.Tensor) -> torch.Tensor:
    return 10 * power.clamp_min(1e-30).log10()


def _tone_errors(guess: torch.Tensor, truth: torch.Tensor) -> list[float]:
    """Per track, the largest octave-band error of its output (dB) in the bands it is heard in, after removing the
    song's median level error: 0 when a strip sounds the same whatever its knobs read."""
    shift = (_db(guess.sum(1)) - _db(truth.sum(1))).median()
    heard = _db(truth) > _db(truth.amax(1, keepdim=True)) - _HEARD_DB
    return torch.where(heard, (_db(guess) - _db(truth) - shift).abs(), 0.0).amax(1).tolist()


def parameter_recovery(model: DmcModel, examples: list[dict], reference: str = "other_section",
                       optimize_steps: int = 0) -> RecoveryResult:
    """Judge what ``mixdown mix --method dmc`` (or ``optimize``) sets against each example's recipe (see the
    module's description).

    Args:
        reference: what the DMC hears besides the stems: ``other_section`` (the reference: the same recipe on
            the section before; its pans are read off its stereo image), ``same_section`` (the target mix
            itself, as a user's rough mix of the stems: the balance is then read off it; both through
            :func:`~mixdown.methods.dmc.balance.follow_reference`) or ``none``.
        optimize_steps: then this many steps of :func:`~mixdown.methods.dmc.optimize.optimize` toward that
            reference (with the STFT distance and the balance read again for ``same_section``); 0: none.

    ``gain`` is a strip's static gain after its compressor, make-up plus fader: two gains in series that no
    listener (and no estimator) can tell apart; ``fader`` is the fader alone. A mix is heard at one loudness, so
    gains, faders and track levels (``level``: each track's RMS after its strip, which EQ and the compressor's
    gain reduction move too) are judged after removing each song's median error.
    EQ gains count every band (an unused band's target is 0 dB); thresholds count only compressing tracks
    (ratio above 1.5: below it a threshold is barely heard). ``reduction`` is each compressor's mean gain
    reduction (the track's level at ratio 1 less its level), what a static gain knob trades against when a
    level is right; ``tone`` is the largest octave-band error of a track's output (:func:`_tone_errors`): when
    it is small and the knobs miss, the knobs differ and the sound does not.
    """
    from mixdown.methods.dmc.balance import follow_reference
    from mixdown.methods.dmc.method import estimate
    from mixdown.methods.dmc.optimize import optimize
    from mixdown.train.dmc import prepare_batch

    rate = model.config.sample_rate
    errors: dict[str, list[float]] = {name: [] for name in TOLERANCES}
    for batch in examples:
        prepared = prepare_batch(batch)
        heard = {"other_section": prepared.reference, "same_section": prepared.target_mix, "none": None}[reference]
        same = reference == "same_section"
        strip = ([prepared.inputs[0]], prepared.names[0], prepared.track_roles[0])
        guess, ret, trims = estimate(model, strip[0], strip[2], heard)
        if heard is not None:
            guess, read = follow_reference(*strip, trims, guess, ret, heard, same, rate)
        if optimize_steps and heard is not None:
            guess, ret, _ = optimize(*strip, trims, guess, ret, heard, rate, optimize_steps, read["same_music"])
            if read["same_music"]:
                guess, _ = follow_reference(*strip, trims, guess, ret, heard, same, rate)
        count = int(prepared.mask[0].sum())
        guess, truth = guess.double(), prepared.target_tracks[0, :count].double()
        errors["gain"] += _relative(_gain(guess) - _gain(truth))
        errors["fader"] += _relative(_value(guess, FADER) - _value(truth, FADER))
        setting = (prepared.inputs[0], *strip[1:], prepared.trims[0])
        bands, reduced = {}, {}
        for who, norm, ret_norm in (("guess", guess, ret), ("truth", truth, prepared.target_return[0])):
            bands[who] = _strip_bands(*setting, norm, ret_norm, rate)
            reduced[who] = _db(_strip_bands(*setting, norm, ret_norm, rate, True).sum(1)) - _db(bands[who].sum(1))
        errors["level"] += _relative(_db(bands["guess"].sum(1)) - _db(bands["truth"].sum(1)))
        errors["tone"] += _tone_errors(bands["guess"], bands["truth"])
        errors["pan"] += (_value(guess, PAN) - _value(truth, PAN)).abs().tolist()
        for j in _EQ_GAINS:
            errors["eq_gain"] += (_value(guess, j) - _value(truth, j)).abs().tolist()
        compressing = _value(truth, _RATIO) > 1.5
        errors["comp_threshold"] += (_value(guess, _THRESHOLD) - _value(truth, _THRESHOLD)).abs()[compressing].tolist()
        errors["reduction"] += (reduced["guess"] - reduced["truth"]).abs().tolist()
    within = {k: float(np.mean(np.array(v) <= TOLERANCES[k])) if v else math.nan for k, v in errors.items()}
    return RecoveryResult(within, {k: len(v) for k, v in errors.items()},
                          {k: float(np.median(v)) if v else math.nan for k, v in errors.items()}, errors)


def _write(folder: Path, audio: dict[str, torch.Tensor], sample_rate: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, x in audio.items():
        sf.write(folder / f"{name}.wav", x.T.numpy(), sample_rate, subtype="FLOAT")


def _at_reference_level(x: torch.Tensor, sample_rate: int) -> torch.Tensor:
    return x * db_to_amplitude(torch.tensor(normalising_gain_db(x, sample_rate)[0]))


def style_transfer(examples: list[dict], methods: tuple[str, ...] = ("none", "rules", "dmc", "optimize"),
                   sample_rate: int = 44100, progress: Callable[[str], None] | None = None) -> dict:
    """Mix each example's second section with each method toward its reference; compare with the target.

    Returns:
        ``{method: {"af_to_target": [...], "mrstft_to_target": [...], "af_to_reference": [...]}}`` per example,
        plus ``"summary"``: ``{method: {metric: mean}}``.
    """
    from mixdown.api import mix_folder

    results = {m: {"af_to_target": [], "mrstft_to_target": [], "af_to_reference": []} for m in methods}
    for i, batch in enumerate(examples):
        count = int(batch["mask"][0].sum())
        recipe = json.loads(batch["recipe"][0])
        names = [f"{k:02d}_{t['name']}"[:40].replace("/", "_") for k, t in enumerate(recipe["tracks"])]
        stems = console_inputs(batch["stems"][0, :count])
        target, reference = batch["mix"][0], batch["reference"][0]
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            _write(tmp / "stems", dict(zip(names, stems)), sample_rate)
            _write(tmp, {"reference": reference}, sample_rate)
            for method in methods:
                if progress:
                    progress(f"song {i + 1}/{len(examples)}: {method}")
                if method == "none":
                    mix = sum(x.expand(2, -1) for x in stems)
                else:
                    out = mix_folder(tmp / "stems", tmp / method, target="none", method=method,
                                     reference=tmp / "reference.wav", report=False)
                    audio, _ = sf.read(out.mix_path, dtype="float32", always_2d=True)
                    mix = torch.from_numpy(audio.T.copy())
                mix = _at_reference_level(mix, sample_rate)
                to_target = compare(mix, target, sample_rate)
                to_reference = compare(mix, reference, sample_rate, align=False)
                results[method]["af_to_target"].append(to_target.audio_feature_loss)
                results[method]["mrstft_to_target"].append(to_target.mrstft["total"])
                results[method]["af_to_reference"].append(to_reference.audio_feature_loss)
    results["summary"] = {m: {k: float(np.mean(v)) for k, v in results[m].items()} for m in methods}
    return results


def held_out_songs(data: str, exclude: str | None = None) -> list:
    """The songs of ``data`` (``NAME:ROOT``) that share no split group (a score) or artist with ``exclude``'s
    (song ids are not compared: two corpora number their songs alike)."""
    from mixdown.data.loaders import load_dataset
    from mixdown.data.splits import group_key

    def load(spec: str) -> list:
        name, _, root = spec.partition(":")
        return load_dataset(name, root)

    songs = load(data)
    if exclude:
        seen = {key for key in map(group_key, load(exclude)) if not key.startswith("song:")}
        songs = [s for s in songs if group_key(s) not in seen]
    return songs


def evaluate(data: str, weights: str | Path | None = None, exclude: str | None = None, songs: int = 50,
             style_songs: int = 10, methods: tuple[str, ...] = ("none", "rules", "dmc", "optimize"),
             optimize_songs: int = 10, optimize_steps: int = 150,
             progress: Callable[[str], None] | None = None) -> dict:
    """Parameter recovery on ``songs`` held-out songs (the DMC hearing the other section, the same section or
    no reference; and on the first ``optimize_songs``, then ``optimize_steps`` of optimisation toward the other
    or the same section) and the style-transfer table on the first ``style_songs``; JSON-ready.
    ``weights``: None for the shipped ones."""
    import os

    from mixdown.errors import ParameterError
    from mixdown.methods.dmc.method import WEIGHTS_VARIABLE, shipped_model

    chosen = held_out_songs(data, exclude)[:songs]
    if not chosen:
        raise ParameterError(f"{data}: expected held-out songs, found none (all share a split group with {exclude})")
    previous = os.environ.get(WEIGHTS_VARIABLE)
    if weights is not None:
        os.environ[WEIGHTS_VARIABLE] = str(weights)
    try:
        model = shipped_model()
        if progress:
            progress("cutting examples")
        examples = held_out_examples(chosen, sample_rate=model.config.sample_rate)
        recovery = {}
        runs = [(mode, examples, mode, 0) for mode in ("other_section", "same_section", "none")]
        if optimize_songs > 0:
            runs += [(f"{mode}+optimize", examples[:optimize_songs], mode, optimize_steps)
                     for mode in ("other_section", "same_section")]
        for name, subset, mode, steps in runs:
            if progress:
                progress(f"recovery {name}")
            result = parameter_recovery(model, subset, mode, steps)
            recovery[name] = {"songs": len(subset), "within": result.within, "counts": result.counts,
                              "median_error": result.median_error,
                              "unheard_gain_misses": result.unheard_gain_misses}
        style = style_transfer(examples[:style_songs], methods, model.config.sample_rate, progress) \
            if style_songs > 0 else None
    finally:
        if weights is not None:
            os.environ.pop(WEIGHTS_VARIABLE) if previous is None else os.environ.update({WEIGHTS_VARIABLE: previous})
    return {"data": data, "weights": str(weights or "shipped"), "songs": len(chosen),
            "tracks": int(sum(int(b["mask"].sum()) for b in examples)), "tolerances": TOLERANCES,
            "recovery": recovery, "style_songs": min(style_songs, len(examples)), "style": style}
