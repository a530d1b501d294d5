"""The studio under load: concurrent clients reading a project's state and streaming audio while mixes render.

A real server (``mixdown serve`` in a child process, its worker thread and the web requests sharing it) gets
the bundled demo song's 12 stems. Then, for ``--seconds``, the worker is kept busy mixing (a new ``rules`` mix
is queued whenever one finishes) while ``--clients`` clients each loop: read the project's state (the JSON the
page polls), then stream one stem's audio to the end in 64 KiB reads. Before that, the same clients run for
``--idle-seconds`` with the worker idle: the ratio of the two p95 latencies is what rendering costs a reader.

Prints a table, then as the last line one JSON object: ``requests`` (state reads and audio streams completed
while mixing), ``errors`` (failed or non-2xx; target 0), ``p95_ms`` (95th percentile of the state reads while
mixing; target < 200 ms), ``median_ms``, ``audio_mb_per_s``, ``mixes_finished``, ``idle_p95_ms`` and
``p95_ratio``. Bounded: every request has a 30 s timeout and the run stops at ``--seconds``.

Usage: python benchmarks/studio_load.py [--clients 20] [--seconds 60] [--idle-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(data: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "mixdown.cli", "serve", "--data", str(data), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).raise_for_status()
            return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the studio did not start")


def _project(url: str) -> tuple[str, list[str]]:
    from mixdown.api import demo_stems_path

    project = httpx.post(f"{url}/api/projects", json={"name": "load"}).json()
    for path in sorted(demo_stems_path().iterdir()):
        httpx.post(f"{url}/api/projects/{project['id']}/files", content=path.read_bytes(),
                   headers={"X-Filename": path.name}, timeout=60).raise_for_status()
    state = httpx.get(f"{url}/api/projects/{project['id']}").json()
    return project["id"], [s["audio"] for s in state["stems"]]


async def _client(url: str, project_id: str, audio: list[str], k: int, until: float, record: dict) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        i = k
        while time.monotonic() < until:
            try:
                t = time.perf_counter()
                answer = await client.get(f"/api/projects/{project_id}")
                record["state_ms"].append(1000 * (time.perf_counter() - t))
                record["errors"] += answer.status_code != 200
                async with client.stream("GET", audio[i % len(audio)]) as stream:
                    async for chunk in stream.aiter_bytes(65536):
                        record["bytes"] += len(chunk)
                record["errors"] += stream.status_code != 200
                record["streams"] += 1
            except httpx.HTTPError:
                record["errors"] += 1
            i += 1


async def _load(url: str, project_id: str, audio: list[str], clients: int, seconds: float,
                keep_mixing: bool) -> dict:
    record = {"state_ms": [], "errors": 0, "streams": 0, "bytes": 0, "mixes": 0}
    until = time.monotonic() + seconds

    async def mixer():
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            while time.monotonic() < until:
                job = (await client.post(f"/api/projects/{project_id}/mix", json={"method": "rules"})).json()
                while time.monotonic() < until:
                    status = (await client.get(f"/api/jobs/{job['id']}")).json()["status"]
                    if status in ("done", "failed"):
                        record["mixes"] += status == "done"
                        record["errors"] += status == "failed"
                        break
                    await asyncio.sleep(0.25)

    started = time.monotonic()
    tasks = [_client(url, project_id, audio, k, until, record) for k in range(clients)]
    await asyncio.gather(*tasks, *([mixer()] if keep_mixing else []))
    record["elapsed"] = time.monotonic() - started
    return record


def _summary(record: dict) -> dict:
    ms = np.array(record["state_ms"]) if record["state_ms"] else np.array([np.nan])
    return {"requests": len(record["state_ms"]) + record["streams"], "errors": record["errors"],
            "p95_ms": round(float(np.percentile(ms, 95)), 1), "median_ms": round(float(np.median(ms)), 1),
            "audio_mb_per_s": round(record["bytes"] / 2**20 / record["elapsed"], 1),
            "mixes_finished": record["mixes"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        server = _start_server(Path(tmp), port)
        try:
            project_id, audio = _project(url)
            idle = _summary(asyncio.run(_load(url, project_id, audio, args.clients, args.idle_seconds, False)))
            busy = _summary(asyncio.run(_load(url, project_id, audio, args.clients, args.seconds, True)))
        finally:
            server.terminate()
            server.wait(10)
    print(f"{'phase':<22}{'requests':>10}{'errors':>8}{'p95 ms':>9}{'median ms':>11}{'audio MB/s':>12}{'mixes':>7}")
    for name, row in ((f"idle ({args.idle_seconds:.0f} s)", idle), (f"mixing ({args.seconds:.0f} s)", busy)):
        print(f"{name:<22}{row['requests']:>10}{row['errors']:>8}{row['p95_ms']:>9}{row['median_ms']:>11}"
              f"{row['audio_mb_per_s']:>12}{row['mixes_finished']:>7}")
    print(json.dumps({**busy, "clients": args.clients, "seconds": args.seconds, "idle_p95_ms": idle["p95_ms"],
                      "p95_ratio": round(busy["p95_ms"] / idle["p95_ms"], 2) if idle["p95_ms"] else None}))


if __name__ == "__main__":
    main()
