"""Start-up: how long the command line takes to answer when it has no real work to do.

Each case runs ``python -m mixdown.cli ...`` as a fresh process (the installed ``mixdown`` script does the same
import), ``--runs`` times, and reports the median wall time. Side by side, as the peer, the bare interpreter
importing numpy (``python -c "import numpy"``): the floor any numeric Python tool pays, so the ratio says how much
mixdown adds on this machine however loaded it is. Targets (issue 17): ``--help`` under 1.5 s and an input error
under 3 s on a quiet machine.

Cases: ``mixdown --help``; ``mixdown mix EMPTY_FOLDER``; ``mixdown mix MISSING_FOLDER``; ``mixdown render
MISSING.json``. Each must exit with its expected code (0 for help, 2 for the errors), or the run stops.

Usage: python benchmarks/startup.py [--runs 5] [--repo PATH]   # --repo: time another checkout (e.g. a worktree
of an older commit); its package is put first on PYTHONPATH.

Last line: JSON with each case's median seconds and its ratio to the peer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _time(command: list[str], expect: int, env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != expect:
        sys.exit(f"{' '.join(command)}: expected exit code {expect}, found {done.returncode}:\n{done.stderr[-2000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(args.repo.resolve())}
    mixdown = [sys.executable, "-m", "mixdown.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "empty").mkdir()
        cases = {
            "peer_import_numpy": ([sys.executable, "-c", "import numpy"], 0),
            "help": ([*mixdown, "--help"], 0),
            "mix_empty_folder": ([*mixdown, "mix", "empty", "-o", "out"], 2),
            "mix_missing_folder": ([*mixdown, "mix", "missing", "-o", "out"], 2),
            "render_missing_recipe": ([*mixdown, "render", "missing.json", "-o", "mix.wav"], 2),
        }
        _time(cases["help"][0], 0, env, work)  # warm the file cache (and compile .pyc files) once
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):  # interleaved, so a burst of load hits every case alike
            for name, (command, expect) in cases.items():
                times[name].append(_time(command, expect, env, work))
    medians = {name: statistics.median(values) for name, values in times.items()}
    peer = medians["peer_import_numpy"]
    print(f"{'case':<24}{'median s':>10}{'min s':>8}{'max s':>8}{'x numpy':>9}")
    for name, values in times.items():
        print(f"{name:<24}{medians[name]:>10.2f}{min(values):>8.2f}{max(values):>8.2f}{medians[name] / peer:>9.1f}")
    print(json.dumps({"runs": args.runs, "load_average_1min": os.getloadavg()[0],
                      **{f"{name}_s": round(value, 3) for name, value in medians.items()},
                      **{f"{name}_x_peer": round(medians[name] / peer, 2) for name in medians if name != "peer_import_numpy"}}))


if __name__ == "__main__":
    main()
