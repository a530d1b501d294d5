"""Training-data throughput: random-mix examples per second through a DataLoader with workers.

Each example is ``--tracks`` dry stems x ``--seconds`` at 44.1 kHz, a random console recipe for them and its
rendered mix (:class:`mixdown.data.pipeline.RandomMixDataset`). The stems come from :class:`SyntheticSource`
(tones made on the fly, no data needed), from ``--dataset NAME:ROOT`` through that dataset's loader and its
silence-aware excerpts (e.g. ``synth:corpus/`` for a ``mixdown data synth`` corpus), or with ``--songs DIR`` from a
folder of song folders of audio files at 44.1 kHz. A warm-up epoch first (worker start-up,
numba compilation, the reverb's noise cache), then ``--epochs`` timed epochs over the same persistent workers; the
median epoch is reported. Prints a table, then as the last line one JSON object with ``examples_per_s``,
``workers``, ``tracks``, ``seconds``. Target (issue 5): at least 20 examples per second with 2 workers.

Usage: python benchmarks/data_throughput.py [--workers 2] [--tracks 8] [--seconds 6] [--epochs 5]
       [--examples 48] [--batch-size 8] [--dataset NAME:ROOT | --songs DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from mixdown.analysis.roles import role_from_name
from mixdown.data.item import Song, TrackFile
from mixdown.data.loaders import load_dataset
from mixdown.data.pipeline import RandomMixDataset, SyntheticSource, make_loader

SAMPLE_RATE = 44100
AUDIO = {".wav", ".flac", ".aif", ".aiff"}


def songs_in(folder: Path) -> list[Song]:
    """Every sub-folder holding audio files is a song; a track's role is guessed from its file name."""
    songs = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(p for p in sub.iterdir() if p.suffix.lower() in AUDIO)
        if files:
            songs.append(Song(folder.name, sub.name, [TrackFile(f.stem, f, role_from_name(f.name).role) for f in files]))
    if not songs:
        raise SystemExit(f"{folder}: expected song folders of audio files ({', '.join(sorted(AUDIO))}), found none")
    return songs


def epoch(loader) -> float:
    t0 = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - t0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tracks", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--epochs", type=int, default=5, help="timed epochs; the median is reported")
    ap.add_argument("--examples", type=int, default=48, help="examples per epoch")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--dataset", help="NAME:ROOT, a dataset read by its loader (default: the synthetic source)")
    ap.add_argument("--songs", type=Path, help="a folder of song folders (default: the synthetic source)")
    args = ap.parse_args(argv)
    if args.dataset:
        name, _, root = args.dataset.partition(":")
        source, described = load_dataset(name, root), f"the {name} dataset in {root}"
    elif args.songs:
        source, described = songs_in(args.songs), f"songs in {args.songs}"
    else:
        source, described = SyntheticSource(min_tracks=args.tracks), "the synthetic source"
    dataset = RandomMixDataset(source, tracks=args.tracks, seconds=args.seconds, sample_rate=SAMPLE_RATE,
                               length=args.examples, seed=0)
    loader = make_loader(dataset, args.batch_size, args.workers)
    print(f"random mixes: {args.tracks} tracks x {args.seconds:g} s at {SAMPLE_RATE} Hz from "
          f"{described}; {args.workers} workers, "
          f"batch {args.batch_size}, {args.examples} examples per epoch, {torch.get_num_threads()} torch threads")
    warm = epoch(loader)
    times = [epoch(loader) for _ in range(args.epochs)]
    median = statistics.median(times)
    rate = args.examples / median
    print(f"  {'warm-up epoch':<28}{warm:8.2f} s")
    for k, t in enumerate(times):
        print(f"  {f'epoch {k + 1}':<28}{t:8.2f} s   {args.examples / t:6.1f} examples/s")
    print(f"  {'median':<28}{median:8.2f} s   {rate:6.1f} examples/s (target >= 20 with 2 workers)")
    result = {"examples_per_s": round(rate, 2), "workers": args.workers, "tracks": args.tracks,
              "seconds": args.seconds, "examples_per_epoch": args.examples, "epoch_s": [round(t, 3) for t in times],
              "source": args.dataset or (str(args.songs) if args.songs else "synthetic")}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
