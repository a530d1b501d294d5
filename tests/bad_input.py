"""The bad-input corpus (issue 17): what a user can hand the command line, and what each case must get back.

A :class:`Case` builds its inputs in a fresh folder, runs one ``mixdown`` command in-process (typer's runner) and
is judged by :func:`run_case` on what every case shares: the expected exit code, a message that names the file or
field and the fix (a regular expression), no traceback, every input byte-identical afterwards (hashes), and no
temporary or partial file left anywhere in the folder. ``tests/test_bad_input*.py`` hold the cases and run them;
``python -m tests.bad_input`` prints the table of the closing note (case, command, exit code, message).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 44100


@dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes:
        name: what is wrong, as a person would say it ("zero-byte WAV").
        make: ``make(folder) -> args``: writes the inputs under ``folder`` (inputs go in ``folder / "in"``), and
            returns the command's arguments (``["mix", str(folder / "in"), "-o", str(folder / "out")]``).
        code: the expected exit code: 2 refused with a message, 0 done (with a warning where ``message`` says).
        message: a regular expression the output must match (case-insensitive): the file or field and the fix.
        outputs: files (relative to ``folder``) that must exist afterwards; for a refusal, paths that must not.
        check: an extra check ``check(folder, output)`` (raises AssertionError) for what a case alone needs.
    """

    name: str
    make: Callable[[Path], list[str]]
    code: int
    message: str
    outputs: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    check: Callable[[Path, str], None] | None = None
    tags: tuple[str, ...] = field(default=())


@dataclass
class Outcome:
    case: Case
    args: list[str]
    code: int
    output: str


def digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every regular file under ``folder`` (links are not followed: a loop must not hang this)."""
    hashes = {}
    for root, _dirs, files in os.walk(folder, followlinks=False):
        for name in files:
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                continue
            hashes[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def leftovers(folder: Path) -> list[str]:
    """Temporary files (``.NAME.xxxx.tmp``, the atomic writer's) anywhere under ``folder``."""
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.endswith(".tmp") and not p.is_symlink()]


def run_case(case: Case, folder: Path) -> Outcome:
    """Run ``case`` in ``folder`` and assert everything the corpus promises; returns what happened."""
    from typer.testing import CliRunner

    from mixdown.cli import app

    args = case.make(folder)
    inputs = folder / "in"
    before = digest(inputs) if inputs.exists() else {}
    result = CliRunner().invoke(app, args, catch_exceptions=True)
    output = result.output + (f"\n{type(result.exception).__name__}: {result.exception}"
                              if result.exception is not None and not isinstance(result.exception, SystemExit) else "")
    shown = f"{case.name}: mixdown {shlex.join(args)} -> exit {result.exit_code}\n{output}"
    assert "Traceback" not in output and not (result.exception and not isinstance(result.exception, SystemExit)), shown
    assert result.exit_code == case.code, shown
    flat = " ".join(output.split())  # rich wraps lines at the terminal's width (80 columns in the runner)
    assert re.search(case.message, flat, re.I | re.S), f"expected /{case.message}/ in: {shown}"
    assert (digest(inputs) if inputs.exists() else {}) == before, f"an input changed: {shown}"
    assert not leftovers(folder), f"left over: {leftovers(folder)}: {shown}"
    for path in case.outputs:
        assert (folder / path).exists(), f"expected {path} written: {shown}"
    for path in case.absent:
        assert not (folder / path).exists(), f"expected no {path}: {shown}"
    if case.check is not None:
        case.check(folder, output)
    return Outcome(case, args, result.exit_code, output)


# --- building inputs -------------------------------------------------------------------------------------------


def tone(seconds: float = 2.0, rate: int = RATE, channels: int = 1, frequency_hz: float = 220.0,
         amplitude: float = 0.3, seed: int = 0) -> np.ndarray:
    """``(samples, channels)`` float64: a tone plus a little noise (soundfile's layout)."""
    n = max(1, round(seconds * rate))
    t = np.arange(n) / rate
    noise = np.random.default_rng(seed).standard_normal((n, channels)) * 0.01
    return amplitude * np.sin(2 * np.pi * frequency_hz * t)[:, None] + noise


def stem(folder: Path, name: str, audio: np.ndarray | None = None, rate: int = RATE, **kwargs) -> Path:
    """Write ``audio`` (default: a 2 s tone) as ``folder / name`` with soundfile (``subtype`` etc. in kwargs)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    sf.write(path, tone(rate=rate) if audio is None else audio, rate, **kwargs)
    return path


def band(folder: Path, count: int = 3, rate: int = RATE, seconds: float = 2.0) -> Path:
    """``folder`` with ``count`` ordinary stems (kick-ish, bass-ish, a lead tone): a session that mixes."""
    names = ["kick", "bass", "lead", "pad", "keys", "vox"]
    for i in range(count):
        stem(folder, f"{names[i % len(names)]}{'' if i < len(names) else i}.wav",
             tone(seconds, rate, 1 + i % 2, 60.0 * 2 ** i, seed=i), rate)
    return folder


def mix_args(folder: Path, *extra: str) -> list[str]:
    """``mix IN -o OUT`` for the usual layout."""
    return ["mix", str(folder / "in"), "-o", str(folder / "out"), *extra]


def _print_table() -> None:
    """The closing note's table: every case of the corpus run once, as markdown."""
    import importlib
    import tempfile

    rows = []
    for module in sorted(Path(__file__).parent.glob("test_bad_input*.py")):
        for case in importlib.import_module(f"tests.{module.stem}").CASES:
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    outcome = run_case(case, Path(tmp))
                    status, code, text, args = "ok", outcome.code, outcome.output, outcome.args
                except AssertionError as e:
                    status, code, text, args = "FAILED", "?", str(e), []
                shown = lambda text: " ".join(text.replace(tmp, "…").split())
                rows.append(f"| {case.name} | `mixdown {shown(shlex.join(args))}` | {code} | "
                            f"{shown(text)[:160].replace('|', '/')} | {status} |")
    print("| case | command | exit | message (shortened) | checks |\n|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    _print_table()
