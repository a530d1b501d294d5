"""Random console mixes: sample a plausible recipe per role and render (dry stems, recipe, mix) training triples.

A sampled recipe gives every track the same strip (trim, high-pass, six-band EQ, compressor, fader, pan), so
parameter vectors align across tracks; a track left uncompressed keeps its compressor step, bypassed with ratio 1
(the console renders compressed and bypassed strips as two batched groups). Parameters are drawn from per-role priors (:data:`ROLE_PRIORS`, derived from the rules mixer's
:data:`~mixdown.methods.rules.tables.ROLE_RULES`) and per-family compressor ranges
(:data:`FAMILY_COMPRESSOR`), then clipped into each processor's parameter table, the single source of truth for
ranges. All tracks send to one shared reverb return; drum tracks are routed to a "drums" bus with a glue
compressor with probability :data:`DRUM_BUS_PROBABILITY`.

:func:`render_random_mix` completes the recipe with the measured part (each stem's trim to -20 dBFS RMS, the
master gain to -23 LUFS) so the returned recipe alone re-renders the returned mix from the stems.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from mixdown.analysis.loudness import measure_loudness
from mixdown.analysis.roles import family_of
from mixdown.console.recipe import MASTER, Recipe, Send, Step, Strip
from mixdown.console.render import Console
from mixdown.dsp.registry import PROCESSORS
from mixdown.errors import AudioInputError, ParameterError
from mixdown.methods.rules.tables import ROLE_RULES

__all__ = [
    "DRUM_BUS_PROBABILITY",
    "EQ_BANDS_HZ",
    "EQ_BAND_PROBABILITY",
    "FAMILY_COMPRESSOR",
    "FAMILY_OFFSET_DB",
    "REVERB_RETURN",
    "REVERB_SEEDS",
    "ROLE_PRIORS",
    "STEM_RMS_DB",
    "TARGET_LUFS",
    "RolePrior",
    "below_nyquist",
    "console_inputs",
    "in_range",
    "loguniform",
    "normalising_gain_db",
    "render_random_mix",
    "render_recipe_mix",
    "sample_recipe",
    "trim_db",
]

STEM_RMS_DB = -20.0
"""Level every stem is trimmed to before its strip, so thresholds and faders mean the same for any source."""
TARGET_LUFS = -23.0
"""Integrated loudness of every rendered mix (EBU R128): networks see level-normalised mixes."""
REVERB_RETURN = "reverb"
DRUM_BUS_PROBABILITY = 0.5

FAMILY_OFFSET_DB = {"vocals": 2.0, "drums": 0.0, "bass": 0.0, "other": -2.0}
"""Fader offset per family on top of a role's share: the voice on top, the band under it (a documented choice)."""


@dataclass(frozen=True)
class RolePrior:
    """How a random mix treats one role.

    Attributes:
        fader_db: mean fader level (dB, on a stem trimmed to -20 dBFS RMS): ``10 log10(share)`` + family offset.
        fader_std_db: spread of the fader around ``fader_db`` (normal).
        pan_std: centred roles: pan ~ N(0, pan_std); spread roles: pan ~ U(-pan_width, pan_width).
        centred: whether the role sits in the centre (lead, bass, kick, snare, kit).
        highpass_hz: mean high-pass cut-off (log-uniform x0.7..x1.4 around it); 20 Hz where the role has none.
        reverb_send_db: mean send level to the reverb (normal, 4 dB spread); None for no send.
        compress_probability: chance the compressor gets a ratio above 1.
    """

    fader_db: float
    centred: bool
    highpass_hz: float
    reverb_send_db: float | None
    compress_probability: float
    fader_std_db: float = 3.0
    pan_std: float = 0.05
    pan_width: float = 0.8


ROLE_PRIORS: dict[str, RolePrior] = {
    role: RolePrior(
        fader_db=10.0 * math.log10(rule.share) + FAMILY_OFFSET_DB[family_of(role)],
        centred=rule.centred,
        highpass_hz=rule.highpass_hz or 20.0,
        reverb_send_db=rule.reverb_send_db,
        compress_probability=0.8 if rule.compress else 0.2,
    )
    for role, rule in ROLE_RULES.items()
}
"""Per-role priors, derived from the rules mixer's role table (share, centring, high-pass, reverb send)."""

FAMILY_COMPRESSOR: dict[str, dict[str, tuple[float, float]]] = {
    # (low, high) per parameter: threshold and knee uniform; ratio, attack and release log-uniform.
    # Timing follows FxNorm's per-stem settings (REFERENCE.md §2), widened by a factor of about 2 each way.
    "vocals": {"threshold_db": (-30.0, -10.0), "ratio": (2.0, 6.0), "attack_ms": (2.0, 15.0), "release_ms": (150.0, 600.0)},
    "drums": {"threshold_db": (-30.0, -8.0), "ratio": (2.0, 8.0), "attack_ms": (3.0, 30.0), "release_ms": (60.0, 300.0)},
    "bass": {"threshold_db": (-30.0, -10.0), "ratio": (2.0, 8.0), "attack_ms": (5.0, 30.0), "release_ms": (200.0, 800.0)},
    "other": {"threshold_db": (-30.0, -10.0), "ratio": (1.5, 4.0), "attack_ms": (5.0, 40.0), "release_ms": (200.0, 1000.0)},
}
"""Compressor ranges per family; knee 3-12 dB and make-up 0-6 dB for all (Diff-MST's ranges)."""

EQ_BANDS_HZ = {"low_shelf": (30.0, 300.0), "peak1": (80.0, 500.0), "peak2": (300.0, 2000.0),
               "peak3": (1500.0, 6000.0), "peak4": (4000.0, 12000.0), "high_shelf": (4000.0, 16000.0)}
"""Log-uniform centre-frequency range per EQ band (after Diff-MST's band split); band gains ~ N(0, 3 dB)."""
EQ_GAIN_STD_DB = 3.0
EQ_BAND_PROBABILITY = 0.5
"""Chance that a band is used; an unused band sits at 0 dB (with its frequency and Q still drawn). Engineers touch
two or three bands of a track, not six; a flat band also costs nothing to render."""

DRUM_BUS_COMPRESSOR = {"threshold_db": (-20.0, -8.0), "ratio": (2.0, 4.0), "attack_ms": (10.0, 30.0),
                       "release_ms": (100.0, 300.0)}
"""A gentle glue compressor on the drum bus."""

REVERB_DECAY_S = (0.4, 3.0)
"""Log-uniform mid-band decay of the shared reverb; the bands scale it (dark rooms: longer lows, shorter highs)."""
REVERB_BAND_SCALE = {"decay_low_s": 1.2, "decay_lowmid_s": 1.1, "decay_highmid_s": 0.9, "decay_high_s": 0.7}
REVERB_SEEDS = 2
"""Reverb noise seeds are drawn from ``range(REVERB_SEEDS)``: the reverb caches the band-split noise of two seeds
per process, and drawing a new one costs 0.4 s; the decays, not the noise realisation, are what a model learns."""


def in_range(processor: str, name: str, value: float) -> float:
    """``value`` clipped into ``processor``'s table range for ``name``, as a plain float (JSON-ready)."""
    entry = PROCESSORS[processor].table[name]
    return float(min(max(float(value), entry.min), entry.max))


def loguniform(rng: np.random.Generator, low: float, high: float) -> float:
    """One log-uniform draw in [low, high] (frequencies, times, ratios: equal steps sound equal)."""
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def below_nyquist(low: float, high: float, sample_rate: int) -> tuple[float, float]:
    """A frequency range ``(low, high)`` Hz moved under 0.45 ``sample_rate`` (filters refuse Nyquist and above)."""
    top = 0.45 * sample_rate
    return min(low, top / 2), min(high, top)


def _compressor(rng: np.random.Generator, ranges: dict) -> dict:
    p = {"threshold_db": rng.uniform(*ranges["threshold_db"]), "ratio": loguniform(rng, *ranges["ratio"]),
         "attack_ms": loguniform(rng, *ranges["attack_ms"]), "release_ms": loguniform(rng, *ranges["release_ms"]),
         "knee_db": rng.uniform(3.0, 12.0), "makeup_db": rng.uniform(0.0, 6.0)}
    return {k: in_range("compressor", k, v) for k, v in p.items()}


def _compressor_step(rng: np.random.Generator, ranges: dict, active: bool, reason: str) -> Step:
    """A compressor step; an inactive one is bypassed with ratio 1 (every strip keeps the same chain, so
    :func:`mixdown.data.pipeline.recipe_vector` rows align, and the console skips its cost)."""
    params = _compressor(rng, ranges)
    if not active:
        params.update(ratio=1.0, makeup_db=0.0)
    return Step("compressor", params, reason=reason if active else "random: no compression", bypass=not active)


def _eq(rng: np.random.Generator, sample_rate: int) -> dict:
    p = {}
    for band, (low, high) in EQ_BANDS_HZ.items():
        gain_db = rng.normal(0.0, EQ_GAIN_STD_DB)
        p[f"{band}_gain_db"] = gain_db if rng.uniform() < EQ_BAND_PROBABILITY else 0.0
        p[f"{band}_freq_hz"] = loguniform(rng, *below_nyquist(low, high, sample_rate))
        p[f"{band}_q"] = loguniform(rng, 0.5, 1.0) if "shelf" in band else loguniform(rng, 0.5, 3.0)
    return {k: in_range("parametric_eq", k, v) for k, v in p.items()}


def _role(role: str | None) -> str:
    return "other" if role is None else role


def sample_recipe(names: list[str], roles: list[str | None], rng: np.random.Generator,
                  priors: dict[str, RolePrior] = ROLE_PRIORS, sample_rate: int = 44100,
                  drum_bus_probability: float = DRUM_BUS_PROBABILITY) -> Recipe:
    """Sample a random console recipe for tracks with the given roles.

    Args:
        names: unique track names.
        roles: a role per track (``mixdown.analysis.roles.ROLE_NAMES``); None reads as "other".
        rng: the only source of randomness (same state, same recipe).
        priors: per-role priors, :data:`ROLE_PRIORS` by default.
        sample_rate: Hz; bounds the EQ bands below Nyquist.
        drum_bus_probability: chance of a drums bus when two or more drum tracks play (0: none, as for a model
            whose console has no bus).
    Returns:
        a valid :class:`Recipe`; every track's first step is a 0 dB "trim" gain that :func:`render_random_mix`
        sets from the stem's level.

    Properties: deterministic per ``rng`` state; every value inside its processor's parameter table.
    """
    if len(names) != len(roles) or not names:
        raise ParameterError(f"sample_recipe: expected one role per track name (at least one), "
                             f"found {len(names)} names and {len(roles)} roles")
    roles = [_role(r) for r in roles]
    for r in roles:
        if r not in priors:
            raise ParameterError(f"sample_recipe: expected a role in {sorted(priors)}, found {r!r}; fix: use a "
                                 "role of mixdown.analysis.roles.ROLE_NAMES or None")
    drums = [i for i, r in enumerate(roles) if family_of(r) == "drums"]
    drum_bus = len(drums) >= 2 and rng.uniform() < drum_bus_probability
    tracks = []
    for name, role in zip(names, roles):
        prior, family = priors[role], family_of(role)
        pan_position = rng.normal(0.0, prior.pan_std) if prior.centred else rng.uniform(-prior.pan_width, prior.pan_width)
        chain = [
            Step("gain", {"gain_db": 0.0}, reason=f"trim to {STEM_RMS_DB:g} dBFS RMS"),
            Step("highpass", {"cutoff_hz": in_range("highpass", "cutoff_hz",
                                                    prior.highpass_hz * loguniform(rng, 0.7, 1.4))},
                 reason=f"random: {role} prior"),
            Step("parametric_eq", _eq(rng, sample_rate), reason="random: half the bands used, gains ~ N(0, 3 dB)"),
            _compressor_step(rng, FAMILY_COMPRESSOR[family], rng.uniform() < prior.compress_probability,
                             f"random: {family} compressor ranges"),
            Step("gain", {"gain_db": in_range("gain", "gain_db", rng.normal(prior.fader_db, prior.fader_std_db))},
                 reason=f"random: fader around {prior.fader_db:+.1f} dB for {role}"),
            Step("pan", {"pan": in_range("pan", "pan", pan_position)}, reason=f"random: {role} pan prior"),
        ]
        sends = []
        if prior.reverb_send_db is not None:
            sends.append(Send(REVERB_RETURN, float(np.clip(rng.normal(prior.reverb_send_db, 4.0), -60.0, 0.0)),
                              reason=f"random: around {prior.reverb_send_db:g} dB for {role}"))
        tracks.append(Strip(name, chain, sends, route="drums" if drum_bus and family == "drums" else MASTER,
                            role=role))
    buses = []
    if drum_bus:
        glue = _compressor(rng, DRUM_BUS_COMPRESSOR)
        buses.append(Strip("drums", [Step("compressor", glue, reason="random: drum bus glue")]))
    decay = loguniform(rng, *REVERB_DECAY_S)
    room = {k: in_range("reverb", k, decay * s) for k, s in REVERB_BAND_SCALE.items()}
    room.update(pre_delay_ms=in_range("reverb", "pre_delay_ms", rng.uniform(0.0, 40.0)), mix=1.0,
                seed=int(rng.integers(0, REVERB_SEEDS)))
    returns = [Strip(REVERB_RETURN, [Step("reverb", room, reason=f"random: {decay:.2f} s room")])]
    recipe = Recipe(tracks=tracks, buses=buses, returns=returns, master=[], sample_rate=sample_rate,
                    notes={"generator": "mixdown.data.random_mix"})
    recipe.validate()
    return recipe


def _rms_db(x: torch.Tensor) -> float:
    """RMS level in dBFS of ``(channels, n)``; -inf for silence (no full-size temporary)."""
    norm = float(torch.linalg.vector_norm(x))
    return 20.0 * math.log10(norm) - 10.0 * math.log10(x.numel()) if norm > 0 else -math.inf


def console_inputs(stems: torch.Tensor) -> list[torch.Tensor]:
    """The console's inputs for ``stems`` ``(tracks, channels, n)``: a stem whose two channels are identical (a mono
    source copied to stereo, as :class:`~mixdown.data.item.Excerpt` stores it) becomes ``(1, n)``, so its pan
    places it with the pan law as a console would a mono track, and its strip costs half."""
    return [s[:1] if s.shape[0] == 2 and _same_channels(s) else s for s in stems]


def _same_channels(s: torch.Tensor) -> bool:
    # every 1000th sample first: a stereo stem almost always differs there, and the full comparison costs 0.4 ms
    return torch.equal(s[0, ::1000], s[1, ::1000]) and torch.equal(s[0], s[1])


def render_random_mix(stems: torch.Tensor, sample_rate: int, names: list[str], roles: list[str | None],
                      rng: np.random.Generator,
                      drum_bus_probability: float = DRUM_BUS_PROBABILITY) -> tuple[torch.Tensor, Recipe]:
    """Sample a recipe for ``stems`` and render it: a (dry stems, recipe, mix) training triple.

    Args:
        stems: float32 ``(tracks, channels, samples)``, 1 or 2 channels, at least 400 ms.
        sample_rate: Hz.
        names, roles: per track (see :func:`sample_recipe`).
        rng: the only source of randomness.
        drum_bus_probability: see :func:`sample_recipe`.
    Returns:
        ``(mix, recipe)`` as :func:`render_recipe_mix` returns them.

    Properties: not differentiable (rendered under ``torch.no_grad``); deterministic per ``rng`` state.
    """
    if stems.dim() != 3 or stems.shape[1] not in (1, 2) or stems.shape[0] != len(names):
        raise AudioInputError(f"render_random_mix: expected stems (tracks={len(names)}, 1 or 2 channels, samples), "
                              f"found shape {tuple(stems.shape)}")
    recipe = sample_recipe(names, roles, rng, sample_rate=sample_rate, drum_bus_probability=drum_bus_probability)
    return render_recipe_mix(stems, recipe, sample_rate)


def render_recipe_mix(stems: torch.Tensor, recipe: Recipe, sample_rate: int) -> tuple[torch.Tensor, Recipe]:
    """Render a sampled recipe on ``stems`` ``(tracks, channels, samples)``, measured for these stems.

    Returns:
        ``(mix, recipe)``: ``mix`` float32 ``(2, samples)`` at -23 LUFS integrated (left as rendered when silent);
        ``recipe`` a copy that renders exactly this mix from :func:`console_inputs` of ``stems``: each trim sets
        its stem to -20 dBFS RMS (clipped to the gain table; silent stems get 0 dB) and a master gain step holds
        the loudness normalisation. The same recipe on two sections of a song gives two mixes in one style.
    """
    recipe = copy.deepcopy(recipe)
    inputs = console_inputs(stems)
    for strip, x in zip(recipe.tracks, inputs):
        strip.chain[0].params["gain_db"] = trim_db(x)
    with torch.no_grad():
        mix = Console(recipe, sample_rate, [x.shape[0] for x in inputs]).render(inputs)
        master_db, loudness = normalising_gain_db(mix, sample_rate)
        recipe.master = [Step("gain", {"gain_db": master_db}, reason=f"normalise {loudness:.1f} LUFS to {TARGET_LUFS:g}")]
        mix = PROCESSORS["gain"].fn(mix[None], sample_rate, gain_db=master_db)[0]
    return mix, recipe


def trim_db(x: torch.Tensor) -> float:
    """The trim that sets one console input ``(channels, n)`` to :data:`STEM_RMS_DB` RMS (a mono input has its
    stereo copy's level), clipped to the gain table; 0 dB for silence."""
    level = _rms_db(x)
    return in_range("gain", "gain_db", STEM_RMS_DB - level) if math.isfinite(level) else 0.0


def normalising_gain_db(mix: torch.Tensor, sample_rate: int) -> tuple[float, float]:
    """``(gain_db, loudness_lufs)``: the master gain that brings ``mix`` ``(2, n)`` to :data:`TARGET_LUFS`
    integrated, clipped to the gain table (0 dB for silence), and the loudness measured."""
    loudness = measure_loudness(mix.detach(), sample_rate, true_peak=False).integrated_lufs
    return (in_range("gain", "gain_db", TARGET_LUFS - loudness) if math.isfinite(loudness) else 0.0), loudness
