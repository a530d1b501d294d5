"""Torch pipelines: datasets that stream random-mix training examples from songs or a synthetic source.

An example is ``tracks`` x ``seconds`` of dry stems (padded with a track mask for songs with fewer tracks), a
random console mix of them (:func:`mixdown.data.random_mix.render_random_mix`) and the recipe that made it.
Every item is seeded from ``(seed, index)`` alone, never from global random state, so the same dataset yields the
same examples in any order, with any number of DataLoader workers.

Sources: a list of :class:`~mixdown.data.item.Song` with an ``excerpt_fn(song, seconds, sample_rate, rng,
max_tracks) -> Excerpt`` (the loaders' ``mixdown.data.excerpts.random_excerpt`` when present, else
:func:`first_tracks_excerpt`), or any object with ``excerpt(seconds, sample_rate, rng, max_tracks) -> Excerpt``
such as :class:`SyntheticSource` (tones and noise per role, for tests and benchmarks).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable, Sequence

import numba
import numpy as np
import soundfile
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from mixdown.console.recipe import Recipe
from mixdown.data.item import Excerpt, Song
from mixdown.data.random_mix import (
    DRUM_BUS_PROBABILITY,
    normalising_gain_db,
    render_random_mix,
    render_recipe_mix,
    sample_recipe,
)
from mixdown.dsp.gain import db_to_amplitude
from mixdown.dsp.registry import PROCESSORS
from mixdown.errors import AudioInputError, ParameterError

__all__ = ["HumanMixDataset", "RandomMixDataset", "StyleTransferDataset", "SyntheticSource", "collate", "default_excerpt_fn",
           "first_tracks_excerpt", "make_loader", "recipe_vector"]

ExcerptFn = Callable[[Song, float, int, np.random.Generator, int], Excerpt]


# --- sources ----------------------------------------------------------------------------------------------------

def first_tracks_excerpt(song: Song, seconds: float, sample_rate: int, rng: np.random.Generator,
                         max_tracks: int) -> Excerpt:
    """The first ``max_tracks`` tracks of ``song`` from one random start (no silence rejection).

    A simple stand-in for the loaders' excerpt function: files must already be at ``sample_rate``; files shorter
    than the excerpt are zero-padded; mono files are copied to both channels.
    """
    tracks = song.tracks[:max_tracks]
    if not tracks:
        raise AudioInputError(f"{song.dataset}/{song.song}: expected at least one track, found none")
    infos = [soundfile.info(str(t.path)) for t in tracks]
    for t, info in zip(tracks, infos):
        if info.samplerate != sample_rate:
            raise AudioInputError(f"{t.path}: expected {sample_rate} Hz, found {info.samplerate} Hz; fix: resample "
                                  f"the song or build the dataset with sample_rate={info.samplerate}")
        if info.channels > 2:
            raise AudioInputError(f"{t.path}: expected 1 or 2 channels, found {info.channels}")
    n = round(seconds * sample_rate)
    start = int(rng.integers(0, max(min(i.frames for i in infos) - n, 0) + 1))
    audio = torch.zeros(max_tracks, 2, n)
    for k, t in enumerate(tracks):
        data, _ = soundfile.read(str(t.path), start=start, frames=n, dtype="float32", always_2d=True)
        audio[k, :, : data.shape[0]] = torch.from_numpy(data.T).expand(2, -1)
    mask = torch.arange(max_tracks) < len(tracks)
    return Excerpt(audio, mask, [t.name for t in tracks], [t.role for t in tracks], sample_rate,
                   f"{song.dataset}/{song.song}", start / sample_rate)


def default_excerpt_fn() -> ExcerptFn:
    """The loaders' ``mixdown.data.excerpts.random_excerpt`` (silence-aware) when installed, else
    :func:`first_tracks_excerpt`."""
    try:
        return importlib.import_module("mixdown.data.excerpts").random_excerpt
    except (ImportError, AttributeError):
        return first_tracks_excerpt


SYNTH_ROLES = ("kick", "snare", "hihat", "bass", "lead_vocal", "piano_keys", "electric_guitar", "synth_pad",
               "strings", "percussion")


def _hits(onsets_s: np.ndarray, decay_s: float, t: np.ndarray) -> np.ndarray:
    """Envelope ``(n,)``: an exponential decay restarted at every onset (zero before the first)."""
    if onsets_s.size == 0:
        return np.zeros_like(t)
    last = np.searchsorted(onsets_s, t, side="right") - 1
    since = t - onsets_s.astype(np.float32)[np.maximum(last, 0)]  # float32 throughout: half the cost
    return np.exp(since * np.float32(-1.0 / decay_s)) * (last >= 0)


WAVETABLE_SIZE = 4096


@functools.cache
def _wavetable(count: int, tilt: float) -> np.ndarray:
    """One cycle ``(WAVETABLE_SIZE,)`` float32 of ``count`` harmonics with amplitudes ``k ** -tilt``."""
    phase = 2 * np.pi * np.arange(WAVETABLE_SIZE) / WAVETABLE_SIZE
    return sum(np.sin(k * phase) * k ** -tilt for k in range(1, count + 1)).astype(np.float32)


def _harmonics(f0: np.ndarray | float, t: np.ndarray, sample_rate: int, count: int, tilt: float) -> np.ndarray:
    """A wavetable tone at ``f0`` Hz, a number or a time-varying ``(n,)`` array, over the times ``t`` ``(n,)``
    s: one table look-up per sample instead of one sine per harmonic (the harmonics stay below Nyquist for the
    registers used here)."""
    if np.ndim(f0) == 0:  # a steady pitch: the phase is linear in time, no running sum needed
        phase = t * np.float32(f0 * WAVETABLE_SIZE)
    else:
        phase = np.cumsum(f0 * (WAVETABLE_SIZE / sample_rate))
    return _wavetable(count, tilt)[phase.astype(np.int32) & (WAVETABLE_SIZE - 1)]  # the size is a power of 2


class SyntheticSource:
    """Songs made on the fly: a one-bar loop of a beat, a bass line, a voice-like line, chords and pads (tones
    and noise per role), repeated to the excerpt's length.

    Args:
        min_tracks: fewest tracks per example (examples draw a count in ``[min_tracks, max_tracks]``).
        roles: roles to draw from, without replacement up to their number.

    Not music, but signals with each role's register and rhythm, so recipes, the console and the pipelines can
    be tested and timed with no data on disk.
    """

    def __init__(self, min_tracks: int = 1, roles: Sequence[str] = SYNTH_ROLES) -> None:
        if not 1 <= min_tracks <= len(roles):
            raise ParameterError(f"SyntheticSource: expected min_tracks in 1..{len(roles)}, found {min_tracks}")
        self.min_tracks, self.roles = min_tracks, tuple(roles)

    def excerpt(self, seconds: float, sample_rate: int, rng: np.random.Generator, max_tracks: int) -> Excerpt:
        """One example ``(max_tracks, 2, seconds * sample_rate)``, padded and masked; deterministic per ``rng``."""
        count = int(rng.integers(min(self.min_tracks, max_tracks), min(len(self.roles), max_tracks) + 1))
        roles = [self.roles[i] for i in rng.permutation(len(self.roles))[:count]]
        n = round(seconds * sample_rate)
        beat = 60.0 / rng.uniform(80.0, 140.0)
        # one bar (4 beats), looped to the excerpt's length: a third of the cost of 6 s, and loops are music too
        loop = min(n, round(4 * beat * sample_rate))
        t = np.arange(loop, dtype=np.float32) / np.float32(sample_rate)  # float32: half the cost of float64
        beats = np.arange(0.0, loop / sample_rate, beat)
        root = 40.0 * 2 ** (rng.integers(0, 12) / 12)  # E1..D#2
        chord = root * 4 * 2 ** (np.array([0, 4, 7]) / 12)
        audio = torch.zeros(max_tracks, 2, n)
        for k, role in enumerate(roles):
            voice = self._voice(role, t, beats, beat, root, chord, sample_rate, rng)
            rms = np.sqrt(np.mean(np.square(voice, dtype=np.float64))) + 1e-12  # of the loop, as of its repeats
            voice = (voice * (10 ** (rng.uniform(-30.0, -14.0) / 20) / rms)).astype(np.float32)
            mono = audio[k, 0].numpy()
            mono[:] = np.resize(voice, n)
            audio[k, 1] = audio[k, 0]
        mask = torch.arange(max_tracks) < count
        return Excerpt(audio, mask, list(roles), list(roles), sample_rate, f"synthetic/{int(rng.integers(2**31))}", 0.0)

    @staticmethod
    def _voice(role, t, beats, beat, root, chord, sample_rate, rng) -> np.ndarray:
        noise = rng.standard_normal(t.size, dtype=np.float32) if role in ("snare", "hihat", "percussion") else None
        if role == "kick":
            env = _hits(beats, 0.12, t)
            return _harmonics(45.0 + 80.0 * env ** 4, t, sample_rate, 1, 1.0) * env
        if role == "snare":
            env = _hits(beats[1::2] if beats.size > 1 else beats, 0.1, t)  # the back beat
            return (0.7 * noise + 0.5 * _harmonics(185.0, t, sample_rate, 1, 1.0)) * env
        if role == "hihat":
            return np.diff(noise, prepend=0.0) * _hits(np.arange(0.0, t[-1], beat / 2), 0.03, t)
        if role == "percussion":
            onsets = np.sort(rng.uniform(0.0, t[-1], max(2, int(t[-1] / beat * 2))))
            return noise * _hits(onsets, 0.05, t)
        if role == "bass":
            notes = root * 2 ** (rng.choice([0, 0, 5, 7, 12], beats.size) / 12)
            f0 = notes[np.clip(np.searchsorted(beats, t, side="right") - 1, 0, None)]
            return _harmonics(f0, t, sample_rate, 4, 1.5) * (0.3 + 0.7 * _hits(beats, 0.4, t))
        if role == "lead_vocal":
            f0 = chord[rng.integers(0, 3)] * 2 * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))  # vibrato
            phrase = np.clip(np.sin(2 * np.pi * t / (4 * beat) + rng.uniform(0, 2 * np.pi)), 0.0, None)  # phrases
            return _harmonics(f0, t, sample_rate, 8, 1.2) * phrase
        if role in ("piano_keys", "electric_guitar"):
            tone = sum(_harmonics(f, t, sample_rate, 6, 1.0) for f in chord)
            tone = np.tanh(2.0 * tone) if role == "electric_guitar" else tone
            return tone * _hits(beats[::2], 0.6, t)
        # synth_pad, strings and anything else: a slowly swelling, detuned chord
        tone = sum(_harmonics(f, t, sample_rate, 3, 2.0) for f in chord)
        return tone * (0.6 + 0.4 * np.sin(2 * np.pi * t / (4 * beat)) ** 2)


# --- dataset ----------------------------------------------------------------------------------------------------

def recipe_vector(recipe: Recipe, max_tracks: int) -> torch.Tensor:
    """Track-strip parameters normalised to [0, 1] by their tables, ``(max_tracks, parameters)`` float32.

    Row k is track k's chain, step by step, numeric parameters in table order (choices and sends left out: the
    recipe JSON holds them); padding rows are 0. All tracks of a random mix share one chain, so rows align.
    """
    rows = [[float(p.normalize(float(s.params.get(p.name, p.default))))
             for s in strip.chain for p in PROCESSORS[s.type].table.numeric]
            for strip in recipe.tracks]
    out = torch.zeros(max_tracks, len(rows[0]))
    out[: len(rows)] = torch.tensor(rows)
    return out


class RandomMixDataset(Dataset):
    """Random console mixes of excerpts: item ``i`` depends only on ``(seed, i)``.

    Args:
        source: a list of :class:`Song` (cut by ``excerpt_fn``) or an object with an ``excerpt`` method
            (:class:`SyntheticSource`).
        tracks: padded track count (``max_tracks``).
        seconds: excerpt length.
        sample_rate: Hz.
        length: items per epoch.
        seed: dataset seed.
        excerpt_fn: for song lists; :func:`default_excerpt_fn` when None.
        drum_bus_probability: see :func:`mixdown.data.random_mix.sample_recipe`.

    Items are dicts: ``stems`` float32 ``(tracks, 2, n)`` (dry, padding rows 0), ``mask`` bool ``(tracks,)``,
    ``mix`` float32 ``(2, n)`` at -23 LUFS, ``params`` float32 ``(tracks, P)`` (:func:`recipe_vector`),
    ``recipe`` the recipe JSON (str), ``song`` ``"<dataset>/<song>"``.
    """

    def __init__(self, source, tracks: int = 8, seconds: float = 6.0, sample_rate: int = 44100,
                 length: int = 1000, seed: int = 0, excerpt_fn: ExcerptFn | None = None,
                 drum_bus_probability: float = DRUM_BUS_PROBABILITY) -> None:
        if not hasattr(source, "excerpt") and not (isinstance(source, (list, tuple)) and source):
            raise ParameterError("RandomMixDataset: expected a non-empty list of Song or a source with an excerpt "
                                 f"method, found {type(source).__name__}")
        if tracks < 1 or seconds < 0.4 or length < 1:  # 0.4 s: the loudness gate's shortest block
            raise ParameterError(f"RandomMixDataset: expected tracks >= 1, seconds >= 0.4 and length >= 1, found "
                                 f"{tracks}, {seconds}, {length}")
        self.source, self.tracks, self.seconds = source, tracks, seconds
        self.sample_rate, self.length, self.seed = sample_rate, length, seed
        self.excerpt_fn = excerpt_fn or default_excerpt_fn()
        self.drum_bus_probability = drum_bus_probability

    def __len__(self) -> int:
        return self.length

    def excerpt(self, rng: np.random.Generator, seconds: float | None = None) -> Excerpt:
        """An excerpt of ``seconds`` (default the dataset's) drawn with ``rng``."""
        seconds = self.seconds if seconds is None else seconds
        if hasattr(self.source, "excerpt"):
            return self.source.excerpt(seconds, self.sample_rate, rng, self.tracks)
        song = self.source[int(rng.integers(len(self.source)))]
        # a random mix makes its own mix: the dataset's is not read
        return self.excerpt_fn(dataclasses.replace(song, mix=None), seconds, self.sample_rate, rng, self.tracks)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, index])  # per item: the same in any worker, in any order
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # reductions split over threads round differently: one thread, same bits anywhere
        try:
            return self._item(rng)
        finally:
            torch.set_num_threads(threads)

    @staticmethod
    def _real_tracks(ex: Excerpt) -> torch.Tensor:
        count = int(ex.mask.sum())  # real tracks come first (a view, not a 17 MB copy), else pick them
        return ex.audio[:count] if bool(ex.mask[:count].all()) else ex.audio[ex.mask]

    def _item(self, rng: np.random.Generator) -> dict:
        ex = self.excerpt(rng)
        mix, recipe = render_random_mix(self._real_tracks(ex), self.sample_rate, ex.names, ex.roles, rng,
                                        self.drum_bus_probability)
        return {"stems": ex.audio, "mask": ex.mask, "mix": mix, "params": recipe_vector(recipe, self.tracks),
                "recipe": recipe.to_json(), "song": ex.song}


class StyleTransferDataset(RandomMixDataset):
    """Self-supervised style transfer: one random recipe mixes two adjacent sections of a song.

    Item ``i`` depends only on ``(seed, i)``. An excerpt of twice ``seconds`` is cut in two; one recipe is sampled
    for its tracks and rendered on each half from silence (each half measured for its own trims and loudness). The
    first half's mix is the ``reference``; the second half's stems, mix and recipe are the example, as in
    :class:`RandomMixDataset`. A model that hears the reference and the stems must find the recipe's style.
    Arguments as :class:`RandomMixDataset`.
    """

    def _item(self, rng: np.random.Generator) -> dict:
        ex = self.excerpt(rng, 2 * self.seconds)
        n = round(self.seconds * self.sample_rate)
        stems = self._real_tracks(ex)
        recipe = sample_recipe(ex.names, ex.roles, rng, sample_rate=self.sample_rate,
                               drum_bus_probability=self.drum_bus_probability)
        reference, _ = render_recipe_mix(stems[..., :n], recipe, self.sample_rate)
        mix, recipe = render_recipe_mix(stems[..., n : 2 * n], recipe, self.sample_rate)
        return {"stems": ex.audio[..., n : 2 * n].contiguous(), "mask": ex.mask, "mix": mix,
                "reference": reference, "params": recipe_vector(recipe, self.tracks), "recipe": recipe.to_json(),
                "song": ex.song}


class HumanMixDataset(RandomMixDataset):
    """Automix toward people's mixes: each excerpt's target is the dataset's own mix of the song over the same
    span (MedleyDB's, MUSDB18's, or the synthetic corpus's composer mix), brought to -23 LUFS.

    Only songs with a mix and at most ``tracks`` tracks are used (the mix holds every track, so every track must
    be an input). Items are :class:`RandomMixDataset`'s with ``known`` False: the recipe (a random one, giving
    the strip's layout) is not the mix's, so its values are no parameter target; the audio losses alone teach.
    Arguments as :class:`RandomMixDataset`, whose ``source`` must be a list of songs here.

    Raises:
        ParameterError: no song has a mix and few enough tracks.
    """

    def __init__(self, source, tracks: int = 8, **kwargs) -> None:
        songs = [s for s in source if s.mix is not None and len(s.tracks) <= tracks] \
            if isinstance(source, (list, tuple)) else []
        if not songs:
            raise ParameterError(f"HumanMixDataset: expected songs with a mix of at most {tracks} tracks, found none "
                                 "among the source's; fix: use a dataset that ships mixes (medleydb, musdb18, synth "
                                 "songs with mix.wav) or raise tracks")
        super().__init__(songs, tracks, **kwargs)

    def excerpt(self, rng: np.random.Generator, seconds: float | None = None) -> Excerpt:
        song = self.source[int(rng.integers(len(self.source)))]
        return self.excerpt_fn(song, self.seconds if seconds is None else seconds, self.sample_rate, rng, self.tracks)

    def _item(self, rng: np.random.Generator) -> dict:
        ex = self.excerpt(rng)
        gain_db, _ = normalising_gain_db(ex.mix, self.sample_rate)
        recipe = sample_recipe(ex.names, ex.roles, rng, sample_rate=self.sample_rate, drum_bus_probability=0.0)
        return {"stems": ex.audio, "mask": ex.mask, "mix": ex.mix * db_to_amplitude(torch.tensor(gain_db)),
                "params": recipe_vector(recipe, self.tracks), "recipe": recipe.to_json(), "song": ex.song,
                "known": torch.tensor(False)}


def collate(batch: list[dict]) -> dict:
    """Stack tensors along a new batch dimension; keep strings as lists.

    Tensors go through torch's ``default_collate``, which in a worker stacks straight into shared memory: a plain
    ``torch.stack`` would be copied there once more when the batch is sent (136 MB per batch of 8 examples)."""
    return {k: default_collate([b[k] for b in batch]) if isinstance(batch[0][k], torch.Tensor)
            else [b[k] for b in batch] for k in batch[0]}


def _worker_init(worker_id: int) -> None:
    # workers are the parallelism: torch's intra-op threads and numba's kernel threads would oversubscribe the cores
    torch.set_num_threads(1)
    numba.set_num_threads(1)


def make_loader(dataset: Dataset, batch_size: int, workers: int, shuffle: bool = False) -> DataLoader:
    """A DataLoader with :func:`collate`, one torch thread per worker and workers kept between epochs."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers, collate_fn=collate,
                      worker_init_fn=_worker_init if workers else None, persistent_workers=workers > 0)
