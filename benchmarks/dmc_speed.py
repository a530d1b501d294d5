"""The learned mixer end to end: ``mixdown mix --method dmc`` on a whole session, timed, beside ``--method rules``.

The session is :mod:`automix_speed`'s (16 seeded synthetic tracks x 4 minutes, 24-bit WAV, written by child
processes). Both methods run :func:`mixdown.api.mix_folder` with everything on (analysis, report, master);
``dmc`` adds reading its windows (up to 8 x 3 s) and the network's forward pass on them, and renders its own
strip. A warm-up on a short session pays numba's compilation and loads the weights first. The median of
``--runs`` is reported.

Prints the stages, then as the last line one JSON object with ``seconds`` and ``track_seconds_per_s`` of dmc, and
the same for rules with the ratio.

Usage: python benchmarks/dmc_speed.py [--tracks 16] [--seconds 240] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path

from automix_speed import SAMPLE_RATE, make_session, run_mixdown


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tracks", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=240.0)
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each method, alternating; medians reported")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="dmc_speed_"))
    try:
        stems = make_session(work / "stems", args.tracks, args.seconds)
        warm = make_session(work / "warm", 4, 8.0)
        for method in ("dmc", "rules"):
            run_mixdown(warm, work / "warm_out", method)
        print(f"mixing {args.tracks} tracks x {args.seconds:g} s at {SAMPLE_RATE} Hz end to end, dmc beside rules")
        runs = {"dmc": [], "rules": []}
        for _ in range(args.runs):
            for method in runs:
                runs[method].append(run_mixdown(stems, work / method, method))
        result = {}
        for method, timed in runs.items():
            seconds = statistics.median(t for t, _ in timed)
            stages = min(timed, key=lambda r: abs(r[0] - seconds))[1]
            print(f"{method}: {seconds:.2f} s (" + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()) + ")")
            result[method] = {"seconds": round(seconds, 3),
                              "track_seconds_per_s": round(args.tracks * args.seconds / seconds, 1)}
        out = {**result["dmc"], "tracks": args.tracks, "track_seconds": args.tracks * args.seconds,
               "rules": result["rules"],
               "ratio_seconds_vs_rules": round(result["dmc"]["seconds"] / result["rules"]["seconds"], 2)}
        print(json.dumps(out))
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
