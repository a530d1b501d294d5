"""How close a mixer comes to the authors' own mixes of the same stems, on the people corpus (issue 18, part 4).

For every song of a split of a ``mixdown data people`` corpus, each contender mixes the song's dry stems and the
result is compared with the author's ``mix.wav`` by :func:`mixdown.evaluate.compare` with the stems:

* **balance** (dB): mean over the tracks of |level in the mix - level in the author's mix| after the loudness
  match; **relative balance**: the same around the song's median difference;
* **pan**: mean |pan difference|;
* **spectral MAPE** (%): FxNorm's spectral group; **Bark mid** (dB): Diff-MST's mid-channel Bark-band distance;
  **MR-STFT**: the multi-resolution STFT distance (L+R and L-R).

Contenders: ``sum`` (the stems summed as they are, centred), ``equal_loudness`` (every stem brought to -23 LUFS
integrated, centred, summed) and any mixing method of ``mixdown mix`` (``rules``, ``dmc``, ...), run through
:func:`mixdown.api.mix_folder` exactly as a user runs it with the loudness target ``none``.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mixdown.analysis.loudness import measure_loudness
from mixdown.audio import load_session, read_audio
from mixdown.errors import DatasetError
from mixdown.evaluate import compare

__all__ = ["BASELINES", "METRICS", "evaluate_against_people", "split_songs"]

BASELINES = ("sum", "equal_loudness")
METRICS = ("balance_db", "relative_balance_db", "pan", "spectral_mape", "bark_mid_db", "mrstft")
_EQUAL_LUFS = -23.0
Progress = Callable[[int, int, str], None]


def evaluate_against_people(corpus: str | Path, contenders: Sequence[str] = ("sum", "equal_loudness", "rules"),
                            split: str = "held_out", songs: int | None = None,
                            progress: Progress | None = None) -> dict:
    """Run each contender over the split's songs; return ``{"songs": [...], "summary": {...}}``.

    ``songs``: one dict per song and contender with :data:`METRICS`; ``summary``: per source and contender, the
    mean and median of each metric over the songs, and the song count.

    Raises:
        DatasetError: not a people corpus, or no song in the split.
    """
    root = Path(corpus)
    chosen = split_songs(root, split)[: songs or None]
    rows = []
    total = len(chosen) * len(contenders)
    for entry in chosen:
        folder = root / entry["song"]
        reference, rate = read_audio(folder / "mix.wav")
        session = load_session(folder / "dry", sample_rate=rate)
        stems = [t.audio.numpy() for t in session.tracks]
        names = [t.name for t in session.tracks]
        for contender in contenders:
            mix = _mix(contender, folder / "dry", stems, rate)
            result = compare(mix, reference, rate, stems=stems, stem_names=names, names=(contender, "author's mix"))
            errors = result.stems["errors"]
            rows.append({"song": entry["song"], "source": entry["source"]["kind"], "contender": contender,
                         "balance_db": errors["balance_db"], "relative_balance_db": errors["relative_balance_db"],
                         "pan": errors["pan"], "spectral_mape": result.fxnorm_means["spectral"],
                         "bark_mid_db": result.audio_features["bark_mid"]["distance"],
                         "mrstft": result.mrstft["total"], "tracks": result.stems["tracks"]})
            if progress:
                progress(len(rows), total, f"{entry['song']}: {contender}")
    return {"split": split, "songs": rows, "summary": _summary(rows, contenders)}


def split_songs(corpus: str | Path, split: str) -> list[dict]:
    """The entries of ``corpus.json`` in ``split`` (``train``, ``held_out`` or ``all``), in corpus order.

    Raises:
        DatasetError: not a people corpus, or no song in the split.
    """
    root = Path(corpus)
    index_path = root / "corpus.json"
    if not index_path.is_file():
        raise DatasetError(f"{root}: expected a people corpus (corpus.json), found none; fix: make one with "
                           f"`mixdown data people -o {root}`")
    chosen = [s for s in json.loads(index_path.read_text())["songs"] if split == "all" or s["split"] == split]
    if not chosen:
        raise DatasetError(f"{root}: expected songs in the split {split!r}, found none; fix: use --split train, "
                           "held_out or all")
    return chosen


def _mix(contender: str, stems_dir: Path, stems: list[np.ndarray], rate: int) -> np.ndarray:
    """``(2, samples)``: a baseline's sum, or the method's mix written by ``mix_folder``."""
    if contender in BASELINES:
        out = np.zeros((2, stems[0].shape[-1]), np.float64)
        for stem in stems:
            gain = 1.0
            if contender == "equal_loudness":
                level = measure_loudness(stem, rate, true_peak=False).integrated_lufs
                gain = 10 ** ((_EQUAL_LUFS - level) / 20) if math.isfinite(level) else 0.0
            centred = stem if stem.shape[0] == 2 else np.repeat(stem, 2, 0) * math.sqrt(0.5)  # -3 dB law centre
            out += gain * centred
        return out.astype(np.float32)
    from mixdown.api import mix_folder

    with tempfile.TemporaryDirectory() as tmp:
        result = mix_folder(stems_dir, tmp, target="none", method=contender, report=False)
        audio, _ = read_audio(result.mix_path)
    return audio


def _summary(rows: list[dict], contenders: Sequence[str]) -> dict:
    out: dict = {}
    for source in sorted({r["source"] for r in rows}):
        out[source] = {}
        for contender in contenders:
            mine = [r for r in rows if r["source"] == source and r["contender"] == contender]
            out[source][contender] = {"songs": len(mine)} | {
                metric: {"mean": _stat(statistics.fmean, mine, metric), "median": _stat(statistics.median, mine, metric)}
                for metric in METRICS}
    return out


def _stat(function, rows: list[dict], metric: str) -> float | None:
    values = [r[metric] for r in rows if r[metric] is not None and math.isfinite(r[metric])]
    return float(function(values)) if values else None
