"""Throughput of the mixdown console against its peers on the REFERENCE.md section 6 chain, in one process.

The chain, per track: gain -3 dB, a six-band EQ (low shelf 100 Hz +2 dB q 0.7; peaks 300 Hz -2 dB, 1 kHz +1 dB,
3 kHz +2 dB, 6 kHz -1 dB, all q 1; high shelf 10 kHz +1 dB q 0.7), a compressor (-20 dB, 4:1, 5 ms, 100 ms),
pan 0.3, a post-fader send at -20 dB (0.1) to one reverb return (all wet); then the stereo sum. Inputs are
mono noise (std 0.1, seeded), 44.1 kHz.

Contenders, each warmed up once, then timed ``--repeats`` times; the median counts:

* mixdown forward: :class:`~mixdown.console.Console` built from a :class:`~mixdown.console.Recipe`,
  ``render`` under ``torch.no_grad``;
* mixdown forward + backward: float32, every ``Console.parameters()`` tensor requires grad,
  ``loss = mix.pow(2).mean()``, ``loss.backward()``;
* pedalboard (C++, not differentiable) and dasp-pytorch (forward, forward + backward) exactly as in
  ``shared/bench/peer_chain.py``. dasp renders a ``--peer-seconds`` excerpt because it is slow.

The score is track-seconds rendered per wall second, ``tracks * seconds / median_wall`` (higher is faster;
it does not depend on the length rendered). The last line printed is one JSON object.

``--long`` runs the memory check instead: a streaming render (``Console.render_blocks``) of 16 tracks x 5 min,
mono and stereo mixed, noise generated block by block, with a master limiter; it
prints the peak resident memory and the wall time.

``--profile`` adds a per-processor breakdown of the mixdown chain (forward, and backward alone).

Usage::

    python benchmarks/console_speed.py                # 8 tracks x 30 s, all contenders
    python benchmarks/console_speed.py --skip-peers   # mixdown only
    python benchmarks/console_speed.py --profile      # plus where the time goes
    python benchmarks/console_speed.py --long         # streaming memory check
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import json
import math
import resource
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from mixdown.console import Console, Recipe, Send, Step, Strip
from mixdown.dsp.registry import PROCESSORS

SAMPLE_RATE = 44100
NOISE_STD = 0.1
SEED = 0
THREADS = 2

GAIN_DB = -3.0
EQ = {
    "low_shelf_gain_db": 2.0, "low_shelf_freq_hz": 100.0, "low_shelf_q": 0.7,
    "peak1_gain_db": -2.0, "peak1_freq_hz": 300.0, "peak1_q": 1.0,
    "peak2_gain_db": 1.0, "peak2_freq_hz": 1000.0, "peak2_q": 1.0,
    "peak3_gain_db": 2.0, "peak3_freq_hz": 3000.0, "peak3_q": 1.0,
    "peak4_gain_db": -1.0, "peak4_freq_hz": 6000.0, "peak4_q": 1.0,
    "high_shelf_gain_db": 1.0, "high_shelf_freq_hz": 10000.0, "high_shelf_q": 0.7,
}
COMPRESSOR = {"threshold_db": -20.0, "ratio": 4.0, "attack_ms": 5.0, "release_ms": 100.0}
PAN = 0.3
SEND_DB = -20.0  # 0.1 linear, the peers' send level
REVERB = {"mix": 1.0}  # wet only; decays and pre-delay at their defaults

# Processors live in modules that mixdown.dsp does not import (yet): importing them fills the registry.

JSON_KEYS = (
    "mixdown_forward_tps", "mixdown_backward_tps", "pedalboard_tps", "dasp_forward_tps", "dasp_backward_tps",
    "ratio_forward_vs_pedalboard", "ratio_backward_vs_dasp",
)


# --- set-up ---------------------------------------------------------------------------------------------------------


def build_recipe(n_tracks: int, limiter: bool = False) -> Recipe:
    """The section 6 chain as a recipe: one strip per track, one reverb return, optionally a master limiter."""
    chain = [
        Step("gain", {"gain_db": GAIN_DB}),
        Step("parametric_eq", dict(EQ)),
        Step("compressor", dict(COMPRESSOR)),
        Step("pan", {"pan": PAN}),
    ]
    tracks = [
        Strip(f"track{i}", chain=[Step(s.type, dict(s.params)) for s in chain], sends=[Send("reverb", SEND_DB)])
        for i in range(n_tracks)
    ]
    master = [Step("limiter", {})] if limiter else []
    recipe = Recipe(tracks=tracks, returns=[Strip("reverb", chain=[Step("reverb", dict(REVERB))])], master=master,
                    sample_rate=SAMPLE_RATE)
    recipe.validate()
    return recipe


def make_noise(n_tracks: int, seconds: float) -> np.ndarray:
    """``(tracks, 1, samples)`` float32 noise, drawn exactly as peer_chain.py draws it."""
    rng = np.random.default_rng(SEED)
    return (rng.standard_normal((n_tracks, 1, int(SAMPLE_RATE * seconds))) * NOISE_STD).astype(np.float32)


# --- contenders (each renders the whole chain once) -----------------------------------------------------------------


def mixdown_forward(recipe: Recipe, tracks: list[torch.Tensor]) -> torch.Tensor:
    console = Console(recipe, SAMPLE_RATE, [t.shape[0] for t in tracks], dtype=torch.float32)
    with torch.no_grad():
        return console.render(tracks)


def mixdown_backward(recipe: Recipe, tracks: list[torch.Tensor]) -> torch.Tensor:
    console = Console(recipe, SAMPLE_RATE, [t.shape[0] for t in tracks], dtype=torch.float32)
    for p in console.parameters():
        p.requires_grad_(True)
    mix = console.render(tracks)
    loss = mix.pow(2).mean()
    loss.backward()
    return loss.detach()


def pedalboard_chain(x: np.ndarray) -> np.ndarray:
    """peer_chain.py's pedalboard branch."""
    import pedalboard as pb

    sr, n = SAMPLE_RATE, x.shape[0]
    mix = np.zeros((2, x.shape[-1]), np.float32)
    bus = np.zeros((2, x.shape[-1]), np.float32)
    for i in range(n):
        board = pb.Pedalboard([pb.Gain(-3), pb.LowShelfFilter(100, 2, 0.7), pb.PeakFilter(300, -2, 1),
                               pb.PeakFilter(1000, 1, 1), pb.PeakFilter(3000, 2, 1), pb.PeakFilter(6000, -1, 1),
                               pb.HighShelfFilter(10000, 1, 0.7), pb.Compressor(-20, 4, 5, 100)])
        y = board(x[i], sr)[0]
        p = 0.3
        left, right = np.cos(p * np.pi / 2), np.sin(p * np.pi / 2)
        mix += np.stack([left * y, right * y])
        bus += 0.1 * np.stack([left * y, right * y])
    mix += pb.Reverb(room_size=0.5, wet_level=1.0, dry_level=0.0)(bus, sr)
    return mix


def dasp_chain(x: np.ndarray, grad: bool) -> torch.Tensor:
    """peer_chain.py's dasp / dasp_grad branch."""
    import dasp_pytorch.functional as F

    sr, n = SAMPLE_RATE, x.shape[0]
    xt = torch.from_numpy(x)
    T = lambda v: torch.full((n,), float(v), requires_grad=grad)  # as in peer_chain.py
    y = F.gain(xt, sr, T(-3))
    y = F.parametric_eq(y, sr, T(2), T(100), T(0.7), T(-2), T(300), T(1), T(1), T(1000), T(1), T(2), T(3000), T(1),
                        T(-1), T(6000), T(1), T(1), T(10000), T(0.7))
    y = F.compressor(y, sr, T(-20), T(4), T(5), T(100), T(6), T(0))
    y = F.stereo_panner(y.transpose(0, 1), sr, T(0.3).view(1, n))[0].transpose(0, 1)  # (n, 2, seq)
    bus = 0.1 * y.sum(0, keepdim=True)
    g = torch.full((1,), 0.5, requires_grad=grad)
    rv = F.noise_shaped_reverberation(bus, sr, *([g] * 24), torch.ones(1))
    mix = y.sum(0) + rv[0, :, : y.shape[-1]] if rv.shape[-1] >= y.shape[-1] else y.sum(0)
    if grad:
        mix.pow(2).mean().backward()
    return mix.detach()


# --- timing ---------------------------------------------------------------------------------------------------------


def time_runs(fn: Callable[[], object], repeats: int, warmup: Callable[[], object] | None = None) -> list[float]:
    """Warm up once (``warmup`` or ``fn``), then the wall seconds of ``repeats`` calls of ``fn``."""
    (warmup or fn)()
    walls = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
    return walls


def peer_available(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except ImportError:
        return False


def run_speed(args) -> dict:
    n, seconds = args.tracks, args.seconds
    recipe = build_recipe(n)
    noise = make_noise(n, seconds)
    tracks = [torch.from_numpy(noise[i]) for i in range(n)]
    peer_n = min(noise.shape[-1], int(SAMPLE_RATE * args.peer_seconds))
    excerpt = np.ascontiguousarray(noise[..., :peer_n])
    warm_excerpt = np.ascontiguousarray(noise[..., : min(peer_n, SAMPLE_RATE)])

    print(f"chain: REFERENCE.md section 6; {n} mono tracks x {seconds:g} s at {SAMPLE_RATE} Hz; "
          f"{torch.get_num_threads()} torch threads; median of {args.repeats} runs after one warm-up")
    rows: list[tuple[str, float, list[float] | None, str]] = []  # name, seconds rendered, walls, note

    def contender(name, secs, fn, warmup=None, needs=None):
        if needs is not None and (args.skip_peers or not peer_available(needs)):
            why = "skipped (--skip-peers)" if args.skip_peers else f"NOT INSTALLED ({needs} cannot be imported)"
            print(f"  {name}: {why}", flush=True)
            rows.append((name, secs, None, why))
            return None
        print(f"  {name}: rendering {n} x {secs:g} s ...", flush=True)
        walls = time_runs(fn, args.repeats, warmup)
        rows.append((name, secs, walls, ""))
        return n * secs / statistics.median(walls)

    result = dict.fromkeys(JSON_KEYS)
    result["mixdown_forward_tps"] = contender("mixdown forward", seconds, lambda: mixdown_forward(recipe, tracks))
    result["mixdown_backward_tps"] = contender(
        "mixdown forward+backward", seconds, lambda: mixdown_backward(recipe, tracks))
    result["pedalboard_tps"] = contender("pedalboard", seconds, lambda: pedalboard_chain(noise), needs="pedalboard")
    dasp_secs = peer_n / SAMPLE_RATE
    # dasp has no compiler to warm: a one-second warm-up pays the first-call costs without a slow extra run
    result["dasp_forward_tps"] = contender(
        "dasp-pytorch forward", dasp_secs, lambda: dasp_chain(excerpt, False),
        warmup=lambda: dasp_chain(warm_excerpt, False), needs="dasp_pytorch")
    result["dasp_backward_tps"] = contender(
        "dasp-pytorch forward+backward", dasp_secs, lambda: dasp_chain(excerpt, True),
        warmup=lambda: dasp_chain(warm_excerpt, True), needs="dasp_pytorch")
    result["ratio_forward_vs_pedalboard"] = _ratio(result["mixdown_forward_tps"], result["pedalboard_tps"])
    result["ratio_backward_vs_dasp"] = _ratio(result["mixdown_backward_tps"], result["dasp_backward_tps"])

    print()
    print(f"{'contender':<31}{'audio':>8}{'median s':>10}{'track-s/s':>11}  runs (wall s)")
    for name, secs, walls, note in rows:
        if walls is None:
            print(f"{name:<31}{secs:>7g}s  {note}")
            continue
        med = statistics.median(walls)
        runs = " ".join(f"{w:.2f}" for w in walls)
        print(f"{name:<31}{secs:>7g}s{med:>10.3f}{n * secs / med:>11.1f}  {runs}")
    for key in ("ratio_forward_vs_pedalboard", "ratio_backward_vs_dasp"):
        value = result[key]
        print(f"{key}: {'n/a' if value is None else f'{value:.2f}x'}")
    if args.profile:
        profile_chain(noise, args.repeats)
    return result


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a / b


# --- where the time goes ---------------------------------------------------------------------------------------------


def _stages() -> list[tuple[str, Callable]]:
    """The chain as separate calls of the registered processors, in the console's order."""

    def proc(name):
        fn = PROCESSORS[name].fn
        return lambda x, p: fn(x, SAMPLE_RATE, **p)

    return [
        ("gain", proc("gain")),
        ("parametric_eq", proc("parametric_eq")),
        ("compressor", proc("compressor")),
        ("pan", proc("pan")),
        ("send (x 0.1, sum to bus)", lambda x, p: (x * p["send"][:, None, None]).sum(0, keepdim=True)),
        ("reverb (1 x 2 ch return)", proc("reverb")),
    ]


def _stage_params(n: int, dtype) -> list[dict[str, torch.Tensor]]:
    full = lambda v, rows=n: torch.full((rows,), float(v), dtype=dtype)
    return [
        {"gain_db": full(GAIN_DB)},
        {k: full(v) for k, v in EQ.items()},
        {k: full(v) for k, v in COMPRESSOR.items()},
        {"pan": full(PAN)},
        {"send": full(10 ** (SEND_DB / 20))},
        {k: full(v, 1) for k, v in REVERB.items()},
    ]


def profile_chain(noise: np.ndarray, repeats: int) -> None:
    """Time each processor alone on the batched tracks: forward (no grad), and backward of its own output."""
    n, length = noise.shape[0], noise.shape[-1]
    x = torch.from_numpy(noise)
    stages, params = _stages(), _stage_params(n, torch.float32)
    print(f"\nper-processor time, {n} tracks x {length / SAMPLE_RATE:g} s batched (median of {repeats}):")
    print(f"{'stage':<27}{'shape in':>16}{'forward s':>11}{'fwd+grad s':>12}{'backward s':>12}")
    totals = [0.0, 0.0, 0.0]
    for (name, fn), p in zip(stages, params):
        with torch.no_grad():
            fwd = statistics.median(time_runs(functools.partial(fn, x, p), repeats))
            y = fn(x, p)
        leaf_x = x.detach().requires_grad_(True)
        leaf_p = {k: v.detach().requires_grad_(True) for k, v in p.items()}
        probe = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=y.dtype)
        graph_walls, back_walls = [], []
        fn(leaf_x, leaf_p).backward(probe)  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = fn(leaf_x, leaf_p)
            t1 = time.perf_counter()
            out.backward(probe)
            t2 = time.perf_counter()
            graph_walls.append(t1 - t0)
            back_walls.append(t2 - t1)
        row = (fwd, statistics.median(graph_walls), statistics.median(back_walls))
        totals = [a + b for a, b in zip(totals, row)]
        print(f"{name:<27}{tuple(x.shape)!s:>16}{row[0]:>11.3f}{row[1]:>12.3f}{row[2]:>12.3f}")
        x = y
    print(f"{'sum of stages':<27}{'':>16}{totals[0]:>11.3f}{totals[1]:>12.3f}{totals[2]:>12.3f}")
    print("(the console's own cost is its median wall above minus this sum)")


# --- the memory check -----------------------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kilobytes


def noise_blocks(channels: list[int], samples: int, block: int):
    """Per-track noise blocks from one seeded generator: the whole signals never exist in memory."""
    generator = torch.Generator().manual_seed(SEED)
    for start in range(0, samples, block):
        m = min(block, samples - start)
        yield [torch.randn(c, m, generator=generator) * NOISE_STD for c in channels]


def run_long(args) -> dict:
    n, seconds, block = args.tracks, args.seconds, args.block
    channels = [1 if i % 2 == 0 else 2 for i in range(n)]
    recipe = build_recipe(n, limiter=True)
    console = Console(recipe, SAMPLE_RATE, channels, dtype=torch.float32)
    samples = int(SAMPLE_RATE * seconds)
    print(f"streaming render: {n} tracks ({channels.count(1)} mono, {channels.count(2)} stereo) x {seconds:g} s at "
          f"{SAMPLE_RATE} Hz, blocks of {block} samples, with a master limiter; "
          f"{torch.get_num_threads()} torch threads")
    baseline = _peak_rss_mb()
    rendered, peak, energy = 0, 0.0, 0.0
    t0 = time.perf_counter()
    with torch.no_grad():
        for y in console.render_blocks(noise_blocks(channels, samples, block)):
            rendered += y.shape[-1]
            peak = max(peak, float(y.abs().max()))
            energy += float(y.double().pow(2).sum())
    wall = time.perf_counter() - t0
    peak_rss = _peak_rss_mb()
    if rendered != samples:
        raise RuntimeError(f"expected {samples} output samples, rendered {rendered}")
    rms_db = 10 * math.log10(energy / (2 * rendered))
    print(f"rendered {rendered} samples; output peak {20 * math.log10(peak):.2f} dBFS, rms {rms_db:.2f} dBFS")
    print(f"peak RSS {peak_rss:.0f} MB (before rendering {baseline:.0f} MB); target < 1500 MB: "
          f"{'met' if peak_rss < 1500 else 'MISSED'}")
    print(f"wall {wall:.2f} s; {n * seconds / wall:.1f} track-seconds per wall second")
    return {"long_tracks": n, "long_seconds": seconds, "peak_rss_mb": round(peak_rss, 1), "wall_s": round(wall, 3),
            "tps": round(n * seconds / wall, 2)}


# --- entry point ----------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tracks", type=int, default=None, help="tracks (default 8; 16 with --long)")
    ap.add_argument("--seconds", type=float, default=None, help="seconds per track (default 30; 300 with --long)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per contender; the median counts")
    ap.add_argument("--peer-seconds", type=float, default=5.0, help="length of the excerpt dasp-pytorch renders")
    ap.add_argument("--skip-peers", action="store_true", help="time mixdown only; peer keys are null")
    ap.add_argument("--profile", action="store_true", help="also time each processor of the chain alone")
    ap.add_argument("--long", action="store_true", help="streaming memory check instead of the speed race")
    ap.add_argument("--block", type=int, default=65536, help="block size of the --long streaming render")
    args = ap.parse_args(argv)
    args.tracks = args.tracks or (16 if args.long else 8)
    args.seconds = args.seconds or (300.0 if args.long else 30.0)
    if args.tracks < 1 or args.seconds <= 0 or args.repeats < 1 or args.peer_seconds <= 0 or args.block < 1:
        ap.error("expected --tracks >= 1, --seconds > 0, --repeats >= 1, --peer-seconds > 0, --block >= 1")
    return args


def _rounded(value):
    return None if value is None else round(value, 3)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(THREADS)
    if args.long:
        result = run_long(args)
    else:
        result = {k: _rounded(v) for k, v in run_speed(args).items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
