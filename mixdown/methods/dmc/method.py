"""``mixdown mix --method dmc``: the shipped DMC sets the console from a few windows of the song.

The network was trained on 3 s excerpts, so a song is heard as up to :data:`MAX_WINDOWS` windows of that length,
one per equal stretch of the song, each where most tracks play (the analysis's short-term loudness says where).
Each window gets its own prediction (with a window of the reference, when there is one); the normalised values
are aggregated by their median over the windows where a track plays, so one odd window does not move a knob,
and the result is one static recipe (no automation), rendered by the console's streaming render like any other.
With a reference, least squares then read more off it (:func:`follow_heard_reference`): a reference as long as
the song may be a rough mix of these very stems (its windows are then cut where the song's are), and when the
fit explains it, all the faders and pans are read off it; of other music, the pans of its stereo image.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from mixdown.analysis import SessionAnalysis
from mixdown.audio import BlockReader, audio_info, read_audio, resample
from mixdown.console.recipe import Recipe, Step, source_path
from mixdown.data.random_mix import ROLE_PRIORS, console_inputs, normalising_gain_db
from mixdown.dsp.gain import db_to_amplitude
from mixdown.errors import ParameterError
from mixdown.methods.dmc.balance import follow_reference
from mixdown.methods.dmc.mixer import model_inputs
from mixdown.methods.dmc.model import DmcModel
from mixdown.methods.dmc.space import FADER, SPACE
from mixdown.methods.intent import Intent

__all__ = [
    "MAX_WINDOWS",
    "WEIGHTS",
    "WEIGHTS_VARIABLE",
    "WINDOW_S",
    "Listening",
    "dmc_recipe",
    "estimate",
    "finish_recipe",
    "follow_heard_reference",
    "listen",
    "shipped_model",
    "window_starts",
]

WEIGHTS = "assets/dmc/dmc_synth.safetensors"
"""The shipped weights (package data; how they were trained: ``docs/dmc.md``)."""
WINDOW_S = 3.0  # the training excerpts' length
MAX_WINDOWS = 8
_SILENT_DB = -60.0  # a track below this RMS in a window is not heard there
_SAME_LENGTH_S = 1.0  # a reference this close to the song's length may be a mix of its stems
_PAN_WISH = {"left": -0.6, "centre": 0.0, "right": 0.6}  # as the rules method places a requested side
_PRIORITY_DB = {"lead": 3.0, "normal": 0.0, "background": -3.0}


WEIGHTS_VARIABLE = "MIXDOWN_DMC_WEIGHTS"
"""An environment variable naming other DMC weights (your own run's) for ``--method dmc`` and ``optimize``."""


def shipped_model() -> DmcModel:
    """The DMC weights inside the package (or those ``$MIXDOWN_DMC_WEIGHTS`` names), loaded once per file."""
    custom = os.environ.get(WEIGHTS_VARIABLE)
    return _load(Path(custom) if custom else Path(str(resources.files("mixdown") / WEIGHTS)))


@lru_cache(maxsize=2)
def _load(path: Path) -> DmcModel:
    from mixdown.train.dmc import load_dmc

    if not path.is_file():
        raise ParameterError(f"{path}: expected DMC weights, found nothing; fix: reinstall mixdown (the shipped "
                             f"weights), correct ${WEIGHTS_VARIABLE}, or use --method rules")
    return load_dmc(path)


def window_starts(analysis: SessionAnalysis, sample_rate: int, count: int = MAX_WINDOWS,
                  seconds: float = WINDOW_S) -> list[int]:
    """Start frames of up to ``count`` windows of ``seconds``: the song cut into ``count`` equal stretches, in each
    the window where the most tracks play (ties: the loudest sum), from the tracks' 10 Hz short-term loudness."""
    frames = round(analysis.duration_s * sample_rate)
    length = round(seconds * sample_rate)
    levels = [t.loudness.short_term_lufs for t in analysis.tracks]
    size = min((x.size for x in levels), default=0)
    if frames <= length or size == 0:
        return [0]
    short_term = np.stack([x[:size] for x in levels])  # (tracks, windows): window k starts at k / 10 s
    playing = np.isfinite(short_term) & (short_term > _SILENT_DB)
    energy = np.where(playing, 10.0 ** (np.where(playing, short_term, 0.0) / 10.0), 0.0).sum(0)
    score = playing.sum(0) + energy / max(float(energy.max()), 1e-30)  # tracks first, then level within [0, 1]
    count = max(1, min(count, int(analysis.duration_s // seconds)))
    starts = []
    for stretch in np.array_split(np.arange(size), count):
        k = int(stretch[np.argmax(score[stretch])])
        starts.append(min(k * sample_rate // 10, frames - length))
    return sorted(set(starts))


def _read_windows(paths: list[Path], sample_rate: int, starts: list[int], length: int,
                  model_rate: int) -> list[list[torch.Tensor]]:
    """Per window, per track ``(channels, n)`` float32 at ``model_rate``."""
    windows = []
    for start in starts:
        with BlockReader(paths, sample_rate, length, start=start, frames=length) as reader:
            block = next(iter(reader))
        if sample_rate != model_rate:
            block = [torch.from_numpy(resample(x.numpy(), sample_rate, model_rate)) for x in block]
        windows.append(block)
    return windows


def _reference_windows(path: str | Path, count: int, model_rate: int, seconds: float = WINDOW_S,
                       starts_s: list[float] | None = None) -> torch.Tensor:
    """``(count, 2, n)``: the reference's loudest windows (cycled when it has fewer), or with ``starts_s`` those
    starting there (a reference as long as the song: perhaps a mix of these stems); at -23 LUFS as the
    training references were (each window, or with ``starts_s`` all of them together)."""
    audio, rate = read_audio(path)
    audio = torch.from_numpy(resample(audio, rate, model_rate)).expand(2, -1) if audio.shape[0] == 1 else \
        torch.from_numpy(resample(audio, rate, model_rate))
    length = round(seconds * model_rate)
    if starts_s is not None:  # one gain for all: the windows' levels relative to each other tell the balance
        audio = torch.nn.functional.pad(audio, (0, length))
        chosen = torch.stack([audio[:, round(s * model_rate): round(s * model_rate) + length] for s in starts_s])
        gain_db, _ = normalising_gain_db(torch.cat(list(chosen), -1), model_rate)
        return chosen * db_to_amplitude(torch.tensor(gain_db))
    if audio.shape[-1] < length:
        audio = torch.nn.functional.pad(audio, (0, length - audio.shape[-1]))
    hops = max(1, (audio.shape[-1] - length) // max(1, model_rate // 2) + 1)  # candidate windows every 0.5 s
    cuts = [audio[:, i * (model_rate // 2): i * (model_rate // 2) + length] for i in range(hops)]
    loudest = sorted(range(hops), key=lambda i: -float(cuts[i].square().mean()))[: max(1, count)]
    chosen = [cuts[loudest[i % len(loudest)]] for i in range(count)]
    return torch.stack([x * db_to_amplitude(torch.tensor(normalising_gain_db(x, model_rate)[0])) for x in chosen])


def estimate(model: DmcModel, windows: list[list[torch.Tensor]], roles: list[str | None],
             references: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """One set of normalised parameters for a song from the model's predictions on several windows.

    Args:
        model: the DMC (its ``config.sample_rate`` is the windows' rate).
        windows: per window, per track ``(1 or 2, n)`` audio; every window the same length.
        roles: per track.
        references: ``(windows, 2, n')`` reference windows at -23 LUFS, or None.
    Returns:
        ``(track_norm (tracks, SPACE.track_size), return_norm (len(SPACE.ret),), trims_db)``: medians over the
        windows where each track plays (all windows for a track silent in every one); the fader is the median
        of trim + fader (the level the track had in the mix) less the median trim, then all faders shifted
        together so that their median is the median of the tracks' role priors (a mix is heard at one
        loudness: only the faders' differences mean anything).
    """
    inputs = [console_inputs(torch.stack([x.expand(2, -1) for x in w])) for w in windows]
    prepared = [model_inputs(i) for i in inputs]
    stems = torch.stack([s for s, _ in prepared])  # (windows, tracks, 2, n)
    trims = torch.tensor([t for _, t in prepared], dtype=torch.float64)  # (windows, tracks)
    count = stems.shape[1]
    mask = torch.ones(stems.shape[:2], dtype=torch.bool)
    role_ids = torch.tensor([DmcModel.role_index(r) for r in roles]).expand(len(windows), -1)
    with torch.no_grad():
        tracks, ret = model(stems, mask, role_ids, references)
    tracks = tracks.double()
    rms_db = torch.stack([torch.stack([10 * torch.log10(x.double().square().mean().clamp_min(1e-30)) for x in i])
                          for i in inputs])
    playing = rms_db > _SILENT_DB
    playing[:, ~playing.any(0)] = True
    fader = SPACE.track[FADER][1]
    level = trims + fader.denormalize(tracks[..., FADER])  # (windows, tracks): trim + fader in dB
    track_norm, trims_out = torch.empty(count, SPACE.track_size, dtype=torch.float64), []
    for i in range(count):
        rows = playing[:, i]
        track_norm[i] = tracks[rows, i].median(0).values
        trim = float(trims[rows, i].median())
        track_norm[i, FADER] = fader.normalize(torch.clamp(level[rows, i].median() - trim, fader.min, fader.max))
        trims_out.append(trim)
    # a mix is heard at one loudness, so only the faders' differences are learned: set their median to the
    # median of the role priors the training recipes were drawn around
    faders = fader.denormalize(track_norm[:, FADER])
    centre = float(np.median([ROLE_PRIORS.get(r, ROLE_PRIORS["other"]).fader_db for r in roles]))
    shift = centre - float(np.median(faders.numpy()))
    track_norm[:, FADER] = fader.normalize(torch.clamp(faders + shift, fader.min, fader.max))
    return track_norm.float(), ret.median(0).values, trims_out


@dataclass
class Listening:
    """What the learned methods hear of a song: its windows (and the reference's) at the model's rate.

    Attributes:
        names, roles, wishes: per track (roles after the intent's overrides).
        starts: window starts in frames at the session rate; ``windows`` per window, per track ``(channels, n)``.
        references: ``(windows, 2, n')`` reference windows at -23 LUFS, or None.
        aligned: the reference is as long as the song and its windows are cut where the song's are, so a mix of
            these stems can be recognised (:func:`follow_heard_reference`).
    """

    names: list[str]
    roles: list[str | None]
    wishes: list
    starts: list[int]
    windows: list[list[torch.Tensor]]
    references: torch.Tensor | None
    aligned: bool = False


def listen(session, analysis: SessionAnalysis, intent: Intent, model_rate: int) -> Listening:
    """Read the windows :func:`window_starts` picks (and the intent's reference) for a learned method."""
    names = [t.name for t in analysis.tracks]
    wishes = [intent.for_track(name) for name in names]
    roles = [w.role or t.role.role for w, t in zip(wishes, analysis.tracks)]
    starts = window_starts(analysis, session.sample_rate)
    length = min(round(WINDOW_S * session.sample_rate), session.samples)
    windows = _read_windows(list(session.paths), session.sample_rate, starts, length, model_rate)
    references, aligned = None, False
    if intent.reference is not None:
        info = audio_info(intent.reference)
        aligned = abs(info.frames / info.sample_rate - analysis.duration_s) <= _SAME_LENGTH_S
        starts_s = [s / session.sample_rate for s in starts] if aligned else None
        references = _reference_windows(intent.reference, len(windows), model_rate, starts_s=starts_s)
    return Listening(names, roles, wishes, starts, windows, references, aligned)


def follow_heard_reference(heard: Listening, track_norm: torch.Tensor, return_norm: torch.Tensor,
                           trims_db: list[float], sample_rate: int) -> tuple[torch.Tensor, dict | None]:
    """:func:`~mixdown.methods.dmc.balance.follow_reference` on what was heard: the knobs and the note for the
    recipe (``track_norm`` and None without a reference)."""
    if heard.references is None:
        return track_norm, None
    return follow_reference(heard.windows, heard.names, heard.roles, trims_db, track_norm, return_norm,
                            heard.references, heard.aligned, sample_rate)


def finish_recipe(heard: Listening, session, analysis: SessionAnalysis, recipe_dir: str | Path, seed: int,
                  track_norm: torch.Tensor, return_norm: torch.Tensor, trims_db: list[float],
                  notes: dict) -> Recipe:
    """Normalised values to the user's recipe: sources, silent tracks muted, the intent applied, ``notes`` kept
    under ``notes.dmc`` with the windows heard and what of the intent the DMC console cannot do."""
    recipe = SPACE.to_recipe(heard.names, heard.roles, trims_db, track_norm, return_norm, session.sample_rate,
                             decimals=2)
    recipe.returns[0].chain[0].params["seed"] = float(seed)
    ignored = []
    for i, (strip, wish, track) in enumerate(zip(recipe.tracks, heard.wishes, analysis.tracks)):
        strip.source = source_path(session.paths[i], recipe_dir)
        strip.mute = not math.isfinite(track.loudness.integrated_lufs)
        if wish.keep:
            strip.chain, strip.sends = [Step("gain", {"gain_db": 0.0}, "keep as is (intent): no processing")], []
            continue
        strip.chain[4].params["gain_db"] += _PRIORITY_DB[wish.priority]
        if wish.pan in _PAN_WISH:
            strip.chain[5].params["pan"] = _PAN_WISH[wish.pan]
        if wish.reverb == "none":
            strip.sends = []
        if wish.subgroup:
            ignored.append(f"{strip.name}: subgroup {wish.subgroup!r}")
    recipe.notes["dmc"] = {"weights": Path(WEIGHTS).name, "window_s": WINDOW_S,
                           "windows_s": [round(s / session.sample_rate, 2) for s in heard.starts],
                           "ignored": ignored, **notes}
    recipe.validate()
    return recipe


def dmc_recipe(session, analysis: SessionAnalysis, intent: Intent, recipe_dir: str | Path, seed: int = 0,
               model: DmcModel | None = None) -> Recipe:
    """Every console parameter from the DMC (``mixdown.api.METHODS["dmc"]``).

    Args:
        session: the :class:`~mixdown.audio.SessionPlan` (its file paths become the recipe's sources).
        analysis: its analysis (roles, short-term loudness for the windows).
        intent: the user's intent: ``reference`` steers the style; per track ``keep`` (no processing), ``pan``
            (left / centre / right), ``reverb: none`` and ``priority`` (+-3 dB) are honoured; ``subgroup`` is
            not (the DMC's console has no buses) and is listed in ``notes.dmc.ignored``.
        recipe_dir: where the recipe will be saved (sources are relative to it).
        seed: the reverb's noise seed.
        model: the DMC; None: :func:`shipped_model`.
    Returns:
        a recipe with the DMC strip per track and the reverb return; its master chain is empty.
    """
    model = model or shipped_model()
    heard = listen(session, analysis, intent, model.config.sample_rate)
    track_norm, return_norm, trims = estimate(model, heard.windows, heard.roles, heard.references)
    track_norm, read = follow_heard_reference(heard, track_norm, return_norm, trims, model.config.sample_rate)
    reference = None if read is None else {"file": Path(intent.reference).name, **read}
    return finish_recipe(heard, session, analysis, recipe_dir, seed, track_norm, return_norm, trims,
                         {"reference": reference})
