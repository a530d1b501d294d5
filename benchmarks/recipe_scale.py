"""How a recipe render scales with the number of tracks: seconds per track-second and peak memory.

For each track count N (``--tracks``, default 10, 100, 300, 1000), a recipe of N short mono stems (``--seconds``,
default 5 s of seeded noise and a tone, 16-bit WAV in a temporary folder, written once for the largest N) is
rendered by :func:`mixdown.api.render_recipe` (what ``mixdown render`` runs: read the recipe, stream the sources
block by block through the console, write the mix) in a fresh child process, so each peak resident memory
(``ru_maxrss``) is that render's alone. Every track's strip: gain, a three-band EQ, a compressor, a pan, a
post-fader send to one reverb return; no master chain. A 2-track warm-up in the same child pays numba's
compilation first and is not timed.

The figure that matters is the ratio, not the absolute time: **seconds per track-second** (wall time divided by
N times the stem length) should stay flat as N grows (cost linear in tracks), and the peak memory should stay
bounded (target: 1,000 tracks well under 8 GB). The parent watches each child's resident memory and stops it
above ``--max-rss-mb`` or after ``--timeout`` seconds (reported as such) so that a regression cannot take the
machine down.

Prints a table, then as the last line one JSON object: ``{"seconds": stem length, "rows": [{"tracks",
"wall_s", "s_per_track_second", "ratio_vs_first", "peak_rss_mb", "status"}], "s_per_track_second_ratio":
largest N's over smallest N's}``.

Usage::

    python benchmarks/recipe_scale.py                          # 10, 100, 300, 1000 tracks x 5 s
    python benchmarks/recipe_scale.py --tracks 10,100,1000,3000 --seconds 5 --max-rss-mb 12000
    python benchmarks/recipe_scale.py --keep /tmp/scale        # write the stems once, reuse them next time
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLE_RATE = 44100
EQ = {"low_shelf_gain_db": 2.0, "low_shelf_freq_hz": 100.0, "peak2_gain_db": -2.0, "peak2_freq_hz": 1000.0,
      "high_shelf_gain_db": 1.0, "high_shelf_freq_hz": 10000.0}
COMPRESSOR = {"threshold_db": -20.0, "ratio": 4.0, "attack_ms": 5.0, "release_ms": 100.0}


def write_stems(folder: Path, count: int, seconds: float) -> None:
    """``folder/stems/tNNNN.wav``: ``count`` mono 16-bit stems (missing ones only: a kept folder is reused)."""
    import soundfile as sf

    stems = folder / "stems"
    stems.mkdir(parents=True, exist_ok=True)
    n = round(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    for i in range(count):
        path = stems / f"t{i:04d}.wav"
        if path.exists() and sf.info(str(path)).frames == n:
            continue
        rng = np.random.default_rng(i)
        audio = 0.05 * np.sin(2 * np.pi * (55.0 + 7.0 * (i % 300)) * t) + 0.02 * rng.standard_normal(n)
        sf.write(path, audio.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")


def write_recipe(folder: Path, count: int) -> Path:
    """``folder/recipe_N.json``: N tracks, each gain / EQ / compressor / pan and a send to one reverb."""
    tracks = [{
        "name": f"t{i:04d}", "source": f"stems/t{i:04d}.wav",
        "chain": [{"type": "gain", "params": {"gain_db": -3.0 - 0.01 * (i % 100)}},
                  {"type": "parametric_eq", "params": dict(EQ)},
                  {"type": "compressor", "params": dict(COMPRESSOR)},
                  {"type": "pan", "params": {"pan": round(-0.8 + 1.6 * ((i * 37) % 100) / 99, 3)}}],
        "sends": [{"to": "reverb", "level_db": -20.0}],
    } for i in range(count)]
    recipe = {"schema": "mixdown.recipe", "version": 1, "sample_rate": SAMPLE_RATE, "tracks": tracks,
              "returns": [{"name": "reverb", "chain": [{"type": "reverb", "params": {"mix": 1.0}}]}],
              "master": {"chain": [{"type": "gain", "params": {"gain_db": max(-60.0, -20 * float(np.log10(max(count, 1))))}}]}}
    path = folder / f"recipe_{count}.json"
    path.write_text(json.dumps(recipe))
    return path


def child(recipe: Path, warmup: Path, out: Path) -> None:
    """In the child: warm up, render ``recipe`` once, print ``{"wall_s", "peak_rss_mb"}``."""
    import torch

    from mixdown.api import render_recipe

    torch.set_num_threads(2)
    render_recipe(warmup, out, format="float32")
    t0 = time.perf_counter()
    result = render_recipe(recipe, out, format="float32")
    wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                      "loudness_lufs": result.loudness_lufs, "frames": result.frames}))


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def run_child(recipe: Path, warmup: Path, out: Path, max_rss_mb: float, timeout: float) -> dict:
    """One render in a fresh process, stopped above ``max_rss_mb`` resident or after ``timeout`` seconds."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(recipe), str(warmup), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0, highest, status = time.perf_counter(), 0.0, "ok"
    while proc.poll() is None:
        highest = max(highest, _rss_mb(proc.pid))
        if highest > max_rss_mb:
            status = f"stopped above {max_rss_mb:.0f} MB"
        elif time.perf_counter() - t0 > timeout:
            status = f"stopped after {timeout:.0f} s"
        if status != "ok":
            proc.kill()
            proc.wait()
            return {"wall_s": None, "peak_rss_mb": round(highest, 1), "status": status}
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        return {"wall_s": None, "peak_rss_mb": round(highest, 1),
                "status": f"failed ({proc.returncode}): {stderr.strip().splitlines()[-1:] or ''}"}
    return {**json.loads(stdout.strip().splitlines()[-1]), "status": "ok"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", default="10,100,300,1000", help="comma-separated track counts")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of every stem")
    parser.add_argument("--keep", type=Path, default=None, help="folder for the stems (reused when it has them)")
    parser.add_argument("--max-rss-mb", type=float, default=12000.0, help="stop a render above this resident memory")
    parser.add_argument("--timeout", type=float, default=900.0, help="stop a render after this many seconds")
    parser.add_argument("--child", nargs=3, metavar=("RECIPE", "WARMUP", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*map(Path, args.child))
        return
    counts = sorted({int(c) for c in args.tracks.split(",") if c.strip()})
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        t0 = time.perf_counter()
        write_stems(folder, max(counts), args.seconds)
        print(f"stems: {max(counts)} x {args.seconds:g} s mono in {folder} ({time.perf_counter() - t0:.1f} s)")
        warmup = write_recipe(folder, 2)
        rows = []
        print(f"{'tracks':>7} {'wall s':>9} {'s per track-s':>14} {'ratio':>7} {'peak RSS MB':>12}  status")
        for count in counts:
            recipe = write_recipe(folder, count)
            measured = run_child(recipe, warmup, Path(tmp) / "mix.wav", args.max_rss_mb, args.timeout)
            wall = measured["wall_s"]
            per = None if wall is None else wall / (count * args.seconds)
            first = next((r["s_per_track_second"] for r in rows if r["s_per_track_second"]), per)
            ratio = None if per is None or not first else per / first
            rows.append({"tracks": count, "wall_s": None if wall is None else round(wall, 3),
                         "s_per_track_second": None if per is None else round(per, 6),
                         "ratio_vs_first": None if ratio is None else round(ratio, 2),
                         "peak_rss_mb": round(measured["peak_rss_mb"], 1), "status": measured["status"]})
            show = lambda v, f: "-" if v is None else format(v, f)
            print(f"{count:>7} {show(wall, '9.2f')} {show(per, '14.5f')} {show(ratio, '7.2f')} "
                  f"{measured['peak_rss_mb']:>12.0f}  {measured['status']}", flush=True)
    done = [r for r in rows if r["s_per_track_second"]]
    overall = done[-1]["s_per_track_second"] / done[0]["s_per_track_second"] if len(done) > 1 else None
    print(json.dumps({"seconds": args.seconds, "rows": rows,
                      "s_per_track_second_ratio": None if overall is None else round(overall, 2)}))


if __name__ == "__main__":
    main()
