"""Automatic mixing end to end: load, analyse, decide, render, master and write a whole session, timed.

A synthetic session (seeded tones, noise bursts and silences per track; track names that say their roles) is
written to a temporary folder as 24-bit WAV by a child process, so this process's peak memory is mixdown's
alone. :func:`mixdown.api.mix_folder` (the call behind ``mixdown mix``) then mixes it with everything on: the
processed-stem measurements and ``report.html``. A warm-up on a short session pays numba's compilation first.

The peer, side by side on the same files: the pipeline the research code runs (gain-only automix as in
automix-toolkit, plus a fixed effect chain): soundfile reads each stem, pyloudnorm sets it to -23 LUFS, a
pedalboard chain (high-pass, three-band EQ, compressor) processes it, it is panned into a stereo sum with a
pedalboard reverb bus, pyloudnorm brings the sum to -14 LUFS, a pedalboard limiter caps it, soundfile writes
24-bit. It decides nothing and measures one number per track, so it is a floor on what an automix costs.

Prints a table, then as the last line one JSON object with ``seconds``, ``track_seconds_per_s`` and
``peak_rss_mb`` (this process's peak resident memory after the warm-up and the first timed run, from the kernel:
what one ``mixdown mix`` process needs) and the peer's figures. Targets
(issue 4): 16 x 240 s at >= 150 track-seconds per second (under 26 s) and under 2 GB; ``--long`` mixes 60 tracks
x 10 minutes (two in three mono) and must stay under 3 GB.

Usage: python benchmarks/automix_speed.py [--tracks 16] [--seconds 240] [--runs 1] [--skip-peer] [--long]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLE_RATE = 44100
NAMES = ("Kick In", "Snare Top", "HH", "OH L", "OH R", "Bass DI", "Gtr DI L", "Gtr DI R", "Keys", "Pad", "Vox Ld",
         "BV 1", "BV 2", "Strings", "Brass", "Perc")


def _write_track(args) -> None:
    folder, index, seconds, stereo = args
    import soundfile as sf

    rng = np.random.default_rng(index)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n, dtype=np.float32) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * (55.0 * 2 ** ((index % 16) / 3)) * t)
    bursts = rng.standard_normal(n).astype(np.float32) * (np.sin(2 * np.pi * (1 + index % 4) * t) > 0.6)
    mono = (0.2 * tone + 0.1 * bursts).astype(np.float32)
    start = rng.integers(0, n // 2)
    mono[start : start + n // 8] = 0.0
    audio = np.stack([mono, 0.8 * mono]) if stereo else mono[None]
    name = NAMES[index % len(NAMES)] + ("" if index < len(NAMES) else f" {index // len(NAMES) + 1}")
    sf.write(Path(folder) / f"{index + 1:02d} {name}.wav", audio.T, SAMPLE_RATE, subtype="PCM_24")


def make_session(folder: Path, tracks: int, seconds: float, mono_share: float = 0.0) -> Path:
    """Write ``tracks`` stems of ``seconds`` into ``folder`` (in child processes) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(str(folder), i, seconds, (i % 3) >= round(3 * mono_share)) for i in range(tracks)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_write_track, jobs)
    return folder


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_mixdown(stems: Path, out: Path, method: str = "rules") -> tuple[float, dict[str, float]]:
    """Seconds for ``mix_folder`` with ``method`` and the seconds of each stage (from its progress callback)."""
    from mixdown.api import mix_folder

    stages: dict[str, float] = {}
    t0 = last = time.perf_counter()
    current = "planning"

    def tick(done: int, total: int, stage: str) -> None:
        nonlocal last, current
        now = time.perf_counter()
        stages[current] = stages.get(current, 0.0) + now - last
        current, last = stage.split(":")[0], now

    mix_folder(stems, out, method=method, progress=tick)
    end = time.perf_counter()
    stages[current] = stages.get(current, 0.0) + end - last
    return end - t0, stages


def run_peer(stems: Path, out: Path) -> float:
    """Seconds for the research-code pipeline described in the module docstring."""
    import pedalboard as pb
    import pyloudnorm
    import soundfile as sf

    t0 = time.perf_counter()
    files = sorted(stems.glob("*.wav"))
    mix = reverb_bus = None
    for i, path in enumerate(files):
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        meter = pyloudnorm.Meter(rate)
        audio = pyloudnorm.normalize.loudness(audio, meter.integrated_loudness(audio), -23.0).astype(np.float32)
        board = pb.Pedalboard([pb.HighpassFilter(60.0), pb.LowShelfFilter(120.0, -1.0, 0.7),
                               pb.PeakFilter(1000.0, 1.0, 1.0), pb.HighShelfFilter(8000.0, 1.0, 0.7),
                               pb.Compressor(-24.0, 2.0, 10.0, 100.0)])
        y = board(audio.T, rate)
        position = -0.6 + 1.2 * i / max(1, len(files) - 1)
        left, right = np.cos((position + 1) * np.pi / 4), np.sin((position + 1) * np.pi / 4)
        stereo = np.stack([left * y[0], right * y[-1]])
        mix = stereo if mix is None else mix + stereo
        reverb_bus = 0.1 * stereo if reverb_bus is None else reverb_bus + 0.1 * stereo
    mix += pb.Reverb(room_size=0.5, wet_level=1.0, dry_level=0.0)(reverb_bus, rate)
    meter = pyloudnorm.Meter(rate)
    mix = pyloudnorm.normalize.loudness(mix.T, meter.integrated_loudness(mix.T), -14.0).T.astype(np.float32)
    mix = pb.Limiter(-1.0, 80.0)(mix, rate)
    sf.write(out / "peer_mix.wav", mix.T, rate, subtype="PCM_24")
    return time.perf_counter() - t0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tracks", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=240.0)
    ap.add_argument("--runs", type=int, default=1, help="timed runs of mixdown; the median is reported")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--long", action="store_true", help="the memory check: 60 tracks x 600 s, two in three mono")
    ap.add_argument("--keep", type=Path, default=None, help="generate into (or reuse) this folder")
    args = ap.parse_args(argv)
    if args.long:
        args.tracks, args.seconds, args.skip_peer = 60, 600.0, True
    import torch

    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="automix_speed_"))
    try:
        stems = args.keep or work / "stems"
        if not stems.exists() or not any(stems.glob("*.wav")):
            make_session(stems, args.tracks, args.seconds, mono_share=2 / 3 if args.long else 0.0)
        warm = make_session(work / "warm", 4, 5.0)
        run_mixdown(warm, work / "warm_out")  # compilation and caches
        print(f"mixing {args.tracks} tracks x {args.seconds:g} s at {SAMPLE_RATE} Hz end to end "
              f"(load, analyse, decide, render + stem measurements, master, write mix, recipe and report)")
        runs = [run_mixdown(stems, work / "out")]
        peak = peak_rss_mb()  # what one `mixdown mix` process needs (later runs add leftovers of earlier ones)
        runs += [run_mixdown(stems, work / "out") for _ in range(args.runs - 1)]
        order = sorted(range(len(runs)), key=lambda k: runs[k][0])
        seconds, stages = runs[order[len(runs) // 2]]
        for name, value in stages.items():
            print(f"  {name:<24}{value:8.2f} s")
        rate = args.tracks * args.seconds / seconds
        target_mb = 3072 if args.long else 2048
        print(f"  {'total':<24}{seconds:8.2f} s   {rate:.0f} track-seconds per second"
              + ("" if args.long else " (target >= 150)"))
        print(f"  peak memory {peak:.0f} MB (target < {target_mb} MB)")
        result = {"tracks": args.tracks, "track_seconds": args.tracks * args.seconds, "seconds": round(seconds, 3),
                  "track_seconds_per_s": round(rate, 1), "peak_rss_mb": round(peak, 1),
                  "peak_rss_mb_all_runs": round(peak_rss_mb(), 1),
                  "stages_s": {k: round(v, 3) for k, v in stages.items()}}
        if not args.skip_peer:
            peer = run_peer(stems, work)
            print(f"  peer (pyloudnorm + pedalboard, gain-only automix) {peer:.2f} s, "
                  f"{args.tracks * args.seconds / peer:.0f} track-s/s: mixdown takes {seconds / peer:.2f}x its time")
            result.update(peer_seconds=round(peer, 3), peer_track_seconds_per_s=round(args.tracks * args.seconds / peer, 1),
                          ratio_seconds_vs_peer=round(seconds / peer, 2))
        print(json.dumps(result))
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
