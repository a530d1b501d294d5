"""Render a recipe: batched channel strips, subgroup buses, sends, FX returns and the master chain.

The console compiles a :class:`~mixdown.console.recipe.Recipe` once into groups of strips that share a chain
signature (processor types, choices, latency, channel count). Each chain position is then ONE processor call for
the whole group, with parameters stacked into ``(group,)`` tensors: no Python loop per track on the hot path.

Offline and streaming rendering are one code path, :meth:`Console.process`, which takes a block and the state
carried from the previous block (filter states, envelopes, delay lines, reverb tails, look-ahead buffers).
Offline rendering is a single block; streaming feeds blocks of any size and produces the same samples.

Latency (a look-ahead limiter) is compensated like a DAW's plugin-delay compensation: signals are delayed to
a common latency wherever they are summed, and the output drops the total latency at the start and flushes it
at the end, so every render is sample-aligned with its inputs.

A recipe's ``gain_sharing`` section (the speech automixer) scales its tracks' inputs by their Dugan gains before
the strips, its state carried like any other; muted tracks take no part.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch

from mixdown.console.recipe import MASTER, Recipe, Step, Strip
from mixdown.dsp.gain import db_to_amplitude
from mixdown.dsp.gain_sharing import gain_sharing_step
from mixdown.dsp.registry import PROCESSORS, Processor
from mixdown.dsp.stereo import pan
from mixdown.errors import AudioInputError, RecipeError

__all__ = ["MIN_BLOCK_FRAMES", "STREAM_BLOCK_SAMPLES", "Console", "block_frames", "render", "render_blocks"]

STREAM_BLOCK_SAMPLES = 1 << 24
"""Most samples (frames times channels, summed over the tracks) one streaming block holds: 64 MB of float32.
Each chain's temporaries are a few copies of its group's block, so bounding the block bounds the render's memory
whatever the number of tracks (1,000 tracks of 10 s blocks would otherwise take 10+ GB)."""
MIN_BLOCK_FRAMES = 4096
"""Shortest block :func:`block_frames` chooses: below it the per-call costs of each group's chain dominate."""


def block_frames(seconds: float, sample_rate: int, channel_counts: Sequence[int]) -> int:
    """Frames per streaming block: ``seconds`` long, shortened so that a block of every track holds at most
    :data:`STREAM_BLOCK_SAMPLES` samples (but never under :data:`MIN_BLOCK_FRAMES`, nor over ``seconds``).

    Args:
        seconds: the block length wanted, s.
        sample_rate: Hz.
        channel_counts: each track's channel count.
    Returns:
        frames per block, >= 1.
    """
    wanted = max(1, int(seconds * sample_rate))
    fit = STREAM_BLOCK_SAMPLES // max(1, sum(channel_counts))
    return min(wanted, max(MIN_BLOCK_FRAMES, fit))


@dataclass
class _StepPlan:
    processor: Processor
    numeric: dict[str, torch.Tensor]  # name -> (group,)
    choices: dict[str, str]
    latency: int


@dataclass
class _Group:
    """Strips rendered together: ``members`` index the strip list they come from."""

    members: list[int]
    channels: int
    steps: list[_StepPlan]
    latency: int
    route: torch.Tensor | None = None  # (group,) destination index: 0 master, 1 + b for bus b
    send_db: torch.Tensor | None = None  # (returns, group) send levels, -inf dB (gain 0) where a strip has no send
    index: torch.Tensor | None = None  # members as a tensor, to gather bus and return inputs


def _full_params(step: Step) -> dict:
    table = PROCESSORS[step.type].table
    return {**table.defaults(), **step.params}


def _signature(strip: Strip, channels: int, sample_rate: int) -> tuple:
    sig = []
    for step in strip.active_steps():
        proc = PROCESSORS[step.type]
        params = _full_params(step)
        choices = tuple((c.name, params[c.name]) for c in proc.table.choices)
        latency = int(proc.latency(sample_rate, **params)) if proc.latency else 0
        sig.append((step.type, choices, latency))
    return channels, tuple(sig)


def _delay(x: torch.Tensor, samples: int, previous: torch.Tensor | None):
    """Delay ``x`` ``(..., n)`` by ``samples``; returns ``(y, tail)`` where ``tail`` carries into the next block."""
    if samples == 0:
        return x, None
    if previous is None:
        previous = x.new_zeros(*x.shape[:-1], samples)
    joined = torch.cat([previous, x], -1)
    return joined[..., : x.shape[-1]], joined[..., x.shape[-1]:]


class Console:
    """A recipe compiled for rendering at one sample rate.

    Args:
        recipe: the mix.
        sample_rate: Hz.
        track_channels: channel count (1 or 2) of each recipe track, in recipe order.
        dtype, device: of the parameter tensors and the rendering.

    The parameter tensors (:meth:`parameters`) are leaves: call ``requires_grad_`` on them to train through
    the console; :meth:`render` is differentiable in the inputs and every numeric parameter.
    """

    def __init__(
        self,
        recipe: Recipe,
        sample_rate: int,
        track_channels: Sequence[int],
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        recipe.validate()
        if len(track_channels) != len(recipe.tracks):
            raise RecipeError(f"tracks: expected {len(recipe.tracks)} track signals, found {len(track_channels)}")
        self.recipe, self.sample_rate = recipe, int(sample_rate)
        self.dtype, self.device = dtype, torch.device(device)
        self.bus_index = {b.name: i for i, b in enumerate(recipe.buses)}
        self.return_index = {r.name: i for i, r in enumerate(recipe.returns)}
        self.active_tracks = [i for i, t in enumerate(recipe.tracks) if not t.mute]
        self.track_groups = self._compile([recipe.tracks[i] for i in self.active_tracks], [track_channels[i] for i in self.active_tracks])
        for g in self.track_groups:
            g.members = [self.active_tracks[m] for m in g.members]  # back to recipe track indices
            g.index = torch.tensor(g.members, device=self.device)
        self.bus_groups = self._compile(recipe.buses, [2] * len(recipe.buses))
        self.return_groups = self._compile(recipe.returns, [2] * len(recipe.returns))
        self.master_group = self._compile([Strip(MASTER, recipe.master)], [2])[0]
        for groups, strips in ((self.track_groups, recipe.tracks), (self.bus_groups, recipe.buses)):
            for g in groups:
                g.route = torch.tensor([1 + self.bus_index[strips[m].route] if strips[m].route != MASTER else 0 for m in g.members], device=self.device)
                g.send_db = self._send_matrix([strips[m] for m in g.members])
        self.track_latency = max((g.latency for g in self.track_groups), default=0)
        self.bus_latency = max((g.latency for g in self.bus_groups), default=0)
        self.return_latency = max((g.latency for g in self.return_groups), default=0)
        self.latency = self.track_latency + self.bus_latency + self.return_latency + self.master_group.latency
        sharing = recipe.gain_sharing
        self.shared_tracks = [i for i in self.active_tracks if sharing and recipe.tracks[i].name in sharing.tracks]
        self.shared_weights_db = torch.tensor(
            [sharing.weights_db.get(recipe.tracks[i].name, 0.0) for i in self.shared_tracks], dtype=torch.float64)

    # --- compilation --------------------------------------------------------------------------------------------

    def _compile(self, strips: Sequence[Strip], channels: Sequence[int]) -> list[_Group]:
        by_signature: dict[tuple, list[int]] = {}
        for i, (strip, ch) in enumerate(zip(strips, channels)):
            if ch not in (1, 2):
                raise AudioInputError(f"track {strip.name!r}: expected 1 or 2 channels, found {ch}")
            by_signature.setdefault(_signature(strip, ch, self.sample_rate), []).append(i)
        groups = []
        for (ch, sig), members in by_signature.items():
            steps = []
            for k, (kind, choices, latency) in enumerate(sig):
                proc = PROCESSORS[kind]
                rows = [_full_params(strips[m].active_steps()[k]) for m in members]
                numeric = {
                    p.name: torch.tensor([float(r[p.name]) for r in rows], dtype=self.dtype, device=self.device)
                    for p in proc.table.numeric
                }
                steps.append(_StepPlan(proc, numeric, dict(choices), latency))
            groups.append(_Group(members, ch, steps, sum(s.latency for s in steps), index=torch.tensor(members, device=self.device)))
        return groups

    def _send_matrix(self, strips: Sequence[Strip]) -> torch.Tensor:
        levels = torch.full((len(self.recipe.returns), len(strips)), float("-inf"), dtype=self.dtype, device=self.device)
        for j, s in enumerate(strips):
            for send in s.sends:
                levels[self.return_index[send.to], j] = send.level_db
        return levels

    def parameters(self) -> Iterator[torch.Tensor]:
        """Every differentiable parameter tensor (processor parameters and send levels), for optimisation.

        Parameters marked non-differentiable in their table (a reverb seed, a look-ahead in whole samples) are
        structure, not knobs, and are left out.
        """
        for g in (*self.track_groups, *self.bus_groups, *self.return_groups, self.master_group):
            for s in g.steps:
                yield from (v for k, v in s.numeric.items() if s.processor.table[k].differentiable)
            if g.send_db is not None and g.send_db.numel():
                yield g.send_db

    def set_parameters(self, kind: str, values: Mapping[tuple[int, str], torch.Tensor]) -> None:
        """Replace strip parameters by tensors, e.g. a network's predictions (gradients flow through them).

        Args:
            kind: ``"tracks"``, ``"buses"`` or ``"returns"``.
            values: ``{(k, name): (strips,) tensor}``: parameter ``name`` of each strip's ``k``-th active step, in
                recipe order of that kind's strips (physical units; muted tracks' entries are ignored). Every
                strip of the kind must have such a step.
        Raises:
            RecipeError: a strip without step ``k`` or a step without numeric parameter ``name``, or a tensor of
                the wrong length.
        """
        groups = {"tracks": self.track_groups, "buses": self.bus_groups, "returns": self.return_groups}[kind]
        count = len({"tracks": self.recipe.tracks, "buses": self.recipe.buses, "returns": self.recipe.returns}[kind])
        for (k, name), value in values.items():
            if value.shape != (count,):
                raise RecipeError(f"{kind}: expected ({count},) values for step {k} {name!r}, found "
                                  f"{tuple(value.shape)}")
            for g in groups:
                if k >= len(g.steps) or name not in g.steps[k].numeric:
                    raise RecipeError(f"{kind}: expected step {k} with a numeric {name!r} on every strip, found "
                                      f"strips {g.members} without it")
                g.steps[k].numeric[name] = value.to(self.dtype)[g.index]

    def set_send_levels(self, kind: str, levels_db: torch.Tensor) -> None:
        """Replace send levels by a tensor ``(returns, strips)`` in dB (-inf: no send), strips of ``kind``
        (``"tracks"`` or ``"buses"``) in recipe order; gradients flow through it."""
        groups = {"tracks": self.track_groups, "buses": self.bus_groups}[kind]
        for g in groups:
            g.send_db = levels_db.to(self.dtype)[:, g.index]

    # --- rendering ----------------------------------------------------------------------------------------------

    def _run_group(self, g: _Group, x: torch.Tensor, key, state: dict, new_state: dict) -> torch.Tensor:
        """Run one group's chain on ``x`` ``(group, channels, n)``; returns ``(group, 2, n)``."""
        for k, s in enumerate(g.steps):
            params = {**s.numeric, **s.choices}
            if s.processor.step is not None:
                x, new_state[(key, k)] = s.processor.step(x, self.sample_rate, state.get((key, k)), **params)
            else:
                x = s.processor.fn(x, self.sample_rate, **params)
        if x.shape[1] == 1:  # a mono strip with no panner sits in the centre
            x = pan(x, self.sample_rate)
        return x

    def _align(self, x, own: int, target: int, key, state: dict, new_state: dict) -> torch.Tensor:
        y, new_state[key] = _delay(x, target - own, state.get(key))
        return y

    def _share_gains(self, tracks: Sequence[torch.Tensor], state: dict, new_state: dict) -> Sequence[torch.Tensor]:
        """``tracks`` with the gain-sharing tracks' inputs scaled by their Dugan gains (unchanged without any)."""
        if not self.shared_tracks:
            return tracks
        x = [tracks[m].to(self.dtype) for m in self.shared_tracks]
        # a mono microphone read as two identical channels keeps its power, so mono and stereo ones share fairly
        wide = max(t.shape[0] for t in x)
        gains, new_state[("gain_sharing",)] = gain_sharing_step(
            torch.stack([t.expand(wide, -1) for t in x]), self.sample_rate, state.get(("gain_sharing",)),
            self.shared_weights_db, **self.recipe.gain_sharing.params)
        shared = list(tracks)
        for k, m in enumerate(self.shared_tracks):
            shared[m] = x[k] * gains[k]
        return shared

    def process(self, tracks: Sequence[torch.Tensor], state: dict | None = None) -> tuple[torch.Tensor, dict]:
        """Render one block.

        Args:
            tracks: one tensor per recipe track, ``(channels, n)``, all of length ``n`` (muted ones are ignored).
            state: what the previous block returned, or ``None`` at the start.
        Returns:
            ``(mix, state)``: ``mix`` ``(2, n)``, delayed by :attr:`latency` samples.
        """
        mix, _, state = self._process(tracks, state, tap_stems=False)
        return mix, state

    def process_stems(self, tracks: Sequence[torch.Tensor],
                      state: dict | None = None) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Render one block and tap every track's strip output (the processed stems).

        Returns:
            ``(mix, stems, state)``: ``stems`` ``(tracks, 2, n)`` after each track's chain and pan, before buses
            and sends (zeros for muted tracks), delayed like ``mix`` by :attr:`latency` so the two line up.
        """
        return self._process(tracks, state, tap_stems=True)

    def _process(self, tracks: Sequence[torch.Tensor], state: dict | None,
                 tap_stems: bool) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
        state = state or {}
        new: dict = {}
        n = tracks[self.active_tracks[0]].shape[-1] if self.active_tracks else tracks[0].shape[-1]
        zeros = torch.zeros(1 + len(self.recipe.buses), 2, n, dtype=self.dtype, device=self.device)
        destinations = zeros
        returns_from_tracks = zeros.new_zeros(len(self.recipe.returns), 2, n)
        stems = zeros.new_zeros(len(self.recipe.tracks), 2, n) if tap_stems else None
        tracks = self._share_gains(tracks, state, new)
        for gi, g in enumerate(self.track_groups):
            x = torch.stack([tracks[m] for m in g.members]).to(self.dtype)
            y = self._run_group(g, x, ("track", gi), state, new)
            y = self._align(y, g.latency, self.track_latency, ("pdc", "track", gi), state, new)
            if len(self.recipe.returns):
                # One product routes the group and feeds the sends, so the backward pass is one product too
                # (index_add and a second einsum each materialise a (group, 2, n) gradient, then add them).
                route = torch.nn.functional.one_hot(g.route, len(destinations)).T.to(y.dtype)
                out = torch.einsum("dg,gcn->dcn", torch.cat([route, db_to_amplitude(g.send_db)]), y)
                destinations = destinations + out[: len(destinations)]
                returns_from_tracks = returns_from_tracks + out[len(destinations):]
            else:
                destinations = destinations.index_add(0, g.route, y)
            if tap_stems:
                stems[g.index] = y

        # buses: tracks arrive with the track latency; buses add theirs, aligned to the slowest bus
        master_in = self._align(destinations[0], 0, self.bus_latency, ("pdc", "direct"), state, new)
        returns_in = self._align(returns_from_tracks, 0, self.bus_latency, ("pdc", "sends"), state, new)
        for gi, g in enumerate(self.bus_groups):
            y = self._run_group(g, destinations[1 + g.index], ("bus", gi), state, new)
            y = self._align(y, g.latency, self.bus_latency, ("pdc", "bus", gi), state, new)
            master_in = master_in + y.sum(0)
            if len(self.recipe.returns):
                returns_in = returns_in + torch.einsum("rg,gcn->rcn", db_to_amplitude(g.send_db), y)

        master_in = self._align(master_in, 0, self.return_latency, ("pdc", "dry"), state, new)
        for gi, g in enumerate(self.return_groups):
            y = self._run_group(g, returns_in[g.index], ("return", gi), state, new)
            master_in = master_in + self._align(y, g.latency, self.return_latency, ("pdc", "return", gi), state, new).sum(0)

        mix = self._run_group(self.master_group, master_in[None], ("master",), state, new)[0]
        if tap_stems:
            stems = self._align(stems, self.track_latency, self.latency, ("pdc", "stems"), state, new)
        return mix, stems, new

    def render(self, tracks: Sequence[torch.Tensor]) -> torch.Tensor:
        """Render whole signals offline: ``(2, n)``, aligned with the inputs (latency compensated)."""
        padded = [torch.nn.functional.pad(t, (0, self.latency)) for t in _check_lengths(tracks, self.recipe)]
        mix, _ = self.process(padded)
        return mix[:, self.latency:]

    def render_blocks(self, blocks: Iterable[Sequence[torch.Tensor]],
                      stems: bool = False) -> Iterator[torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        """Render a stream of blocks (each a list of per-track ``(channels, n)`` tensors) in bounded memory.

        Yields ``(2, n)`` blocks that concatenate to exactly :meth:`render` of the whole signals; with ``stems``,
        ``(mix, stems)`` pairs where ``stems`` ``(tracks, 2, n)`` are the processed tracks (see
        :meth:`process_stems`), aligned with the mix.
        """
        state: dict | None = None
        to_skip = self.latency
        shapes = None

        def trimmed(out: tuple):
            nonlocal to_skip
            cut = min(to_skip, out[0].shape[-1])
            to_skip -= cut
            mix, tapped = out[0][..., cut:], out[1]
            return (mix, tapped[..., cut:]) if stems else mix

        for block in blocks:
            block = _check_lengths(block, self.recipe)
            shapes = [t.shape[0] for t in block]
            mix, tapped, state = self._process(block, state, stems)
            if mix.shape[-1] > to_skip:
                yield trimmed((mix, tapped))
            else:
                to_skip -= mix.shape[-1]
        if shapes is not None and self.latency:
            flush = [torch.zeros(c, self.latency, dtype=self.dtype, device=self.device) for c in shapes]
            mix, tapped, _ = self._process(flush, state, stems)
            yield trimmed((mix, tapped))


def _check_lengths(tracks: Sequence[torch.Tensor], recipe: Recipe) -> list[torch.Tensor]:
    if len(tracks) != len(recipe.tracks):
        raise AudioInputError(f"expected {len(recipe.tracks)} track signals (one per recipe track), found {len(tracks)}")
    lengths = {t.shape[-1] for t in tracks}
    if len(lengths) != 1:
        raise AudioInputError(
            f"expected tracks of equal length, found lengths {sorted(lengths)}; fix: pad them (load_session does)"
        )
    return list(tracks)


def _as_list(tracks: Sequence[torch.Tensor] | Mapping[str, torch.Tensor], recipe: Recipe) -> list[torch.Tensor]:
    if isinstance(tracks, Mapping):
        missing = [t.name for t in recipe.tracks if t.name not in tracks]
        if missing:
            raise AudioInputError(f"no audio for recipe track(s) {', '.join(missing)}; found {', '.join(tracks)}")
        return [torch.as_tensor(tracks[t.name]) for t in recipe.tracks]
    return [torch.as_tensor(t) for t in tracks]


def render(
    tracks: Sequence[torch.Tensor] | Mapping[str, torch.Tensor], recipe: Recipe, sample_rate: int, **kwargs
) -> torch.Tensor:
    """Render ``tracks`` (one ``(channels, samples)`` tensor per recipe track, or a dict by name) with ``recipe``.

    Returns the stereo mix ``(2, samples)``. Keyword arguments go to :class:`Console` (``dtype``, ``device``).
    """
    tracks = _as_list(tracks, recipe)
    console = Console(recipe, sample_rate, [t.shape[0] for t in tracks], **kwargs)
    with torch.no_grad():
        return console.render(tracks)


@torch.no_grad()
def render_blocks(
    blocks: Iterable[Sequence[torch.Tensor]], recipe: Recipe, sample_rate: int, track_channels: Sequence[int], **kwargs
) -> Iterator[torch.Tensor]:
    """Stream ``blocks`` through ``recipe``; see :meth:`Console.render_blocks`."""
    console = Console(recipe, sample_rate, track_channels, **kwargs)
    yield from console.render_blocks(blocks)

