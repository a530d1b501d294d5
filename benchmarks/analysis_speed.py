"""Analysis speed: measure a whole session (loudness, spectra, stereo, dynamics, masking, roles) and time it.

A synthetic 16-track x 4-minute stereo session at 44.1 kHz (seeded: tones, noise bursts and silences, so the
analysis sees realistic structure) goes through :func:`mixdown.analysis.analyze_session`, the call behind
``mixdown analyze``, three times after a warm-up on a short excerpt (numba compilation, caches); its progress
callback times each stage, and the median run is reported (the machines are noisy, and the first run also pays
the operating system for fresh memory pages, which a long-running process does once). Prints a table, then as the last line one JSON object with
``seconds`` (all stages), ``track_seconds_per_s`` and the per-stage seconds. Target (issue 3): at least 300
track-seconds per second on a 2-core machine (16 x 240 s in under 13 s).

The peer, side by side in the same process: pyloudnorm's integrated loudness on 4 of the tracks against
mixdown's loudness stage (which measures much more) on the same 4.

Usage: python benchmarks/analysis_speed.py [--tracks 16] [--seconds 240] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from mixdown.analysis import analyze_session, measure_loudness
from mixdown.audio import Session, Track

SAMPLE_RATE = 44100
NAMES = ("Kick In", "Snare Top", "HH", "OH L", "Bass DI", "Gtr DI L", "Gtr DI R", "Keys", "Pad", "Vox Ld", "BV 1",
         "BV 2", "Strings", "Brass", "Perc", "FX")


def make_session(n_tracks: int, seconds: float, seed: int = 0) -> np.ndarray:
    """``(tracks, 2, samples)`` float32: a tone and bursts of noise per track, silent for a random stretch."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n, dtype=np.float32) / SAMPLE_RATE
    out = np.empty((n_tracks, 2, n), np.float32)
    for i in range(n_tracks):
        tone = np.sin(2 * np.pi * (55.0 * 2 ** (i / 3)) * t)
        bursts = rng.standard_normal(n).astype(np.float32) * (np.sin(2 * np.pi * (1 + i % 4) * t) > 0.6)
        mono = 0.2 * tone + 0.1 * bursts
        start = rng.integers(0, n // 2)
        mono[start : start + n // 8] = 0.0
        pan = rng.uniform(-0.8, 0.8)
        out[i, 0], out[i, 1] = mono * np.cos((pan + 1) * np.pi / 4), mono * np.sin((pan + 1) * np.pi / 4)
    return out


def analyse(audio: torch.Tensor, names: list[str]) -> dict[str, float]:
    """Run :func:`analyze_session` on ``(tracks, 2, samples)`` audio; seconds per stage, from its progress."""
    session = Session([Track(name, None, a, SAMPLE_RATE) for name, a in zip(names, audio)], SAMPLE_RATE, [])
    timings = {}
    last = time.perf_counter()

    def tick(done: int, total: int, stage: str) -> None:
        nonlocal last
        now = time.perf_counter()
        timings[stage], last = now - last, now

    analyze_session(session, progress=tick)
    return timings


def peer_loudness(audio: torch.Tensor, tracks: int) -> tuple[float, float]:
    """pyloudnorm's integrated loudness (its only measurement: no LRA, no short-term series, no true peak) on
    ``tracks`` tracks, against mixdown's whole loudness stage on the same tracks; track-seconds per second of
    each."""
    import pyloudnorm

    excerpt = audio[:tracks]
    seconds = excerpt.shape[0] * excerpt.shape[-1] / SAMPLE_RATE
    meter = pyloudnorm.Meter(SAMPLE_RATE)
    t0 = time.perf_counter()
    for track in excerpt.numpy():
        meter.integrated_loudness(track.T)
    peer = time.perf_counter() - t0
    t0 = time.perf_counter()
    measure_loudness(excerpt, SAMPLE_RATE)
    ours = time.perf_counter() - t0
    return seconds / ours, seconds / peer


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tracks", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=240.0)
    ap.add_argument("--runs", type=int, default=3, help="timed runs; the median is reported")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    names = [NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else f" {i}") for i in range(args.tracks)]
    audio = torch.from_numpy(make_session(args.tracks, args.seconds))
    analyse(audio[..., : 5 * SAMPLE_RATE], names)  # warm-up: compilation and caches
    print(f"analysing {args.tracks} tracks x {args.seconds:g} s stereo at {SAMPLE_RATE} Hz, {args.runs} runs")
    runs = [analyse(audio, names) for _ in range(args.runs)]
    totals = [sum(run.values()) for run in runs]
    median = sorted(range(args.runs), key=totals.__getitem__)[args.runs // 2]
    for name, seconds in runs[median].items():
        print(f"  {name:<36}{seconds:8.2f} s")
    total = totals[median]
    rate = args.tracks * args.seconds / total
    print(f"  {'total (median run)':<36}{total:8.2f} s   {rate:.0f} track-seconds per second (target >= 300)")
    print(f"  runs: {', '.join(f'{t:.2f}' for t in totals)} s (the first also pays the OS for fresh memory pages)")
    ours, peer = peer_loudness(audio, min(4, args.tracks))
    print(f"  loudness alone: mixdown {ours:.0f} track-s/s (integrated, momentary, short-term, LRA, true peak) vs "
          f"pyloudnorm {peer:.0f} track-s/s (integrated only): {ours / peer:.1f}x")
    result = {"tracks": args.tracks, "track_seconds": args.tracks * args.seconds, "seconds": round(total, 3),
              "track_seconds_per_s": round(rate, 1), "first_run_seconds": round(totals[0], 3),
              "stages_s": {k: round(v, 3) for k, v in runs[median].items()},
              "loudness_tps": round(ours, 1), "pyloudnorm_tps": round(peer, 1), "ratio_loudness_vs_pyloudnorm":
              round(ours / peer, 2)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
