"""Render MIDI with the fluidsynth command line into float audio.

fluidsynth writes 32-bit float WAV, so nothing clips inside the renderer; the corpus scales the result afterwards.
Samples load on demand (``synth.dynamic-sample-loading``): a compressed .sf3 soundfont then decodes only the
instruments a file plays, which makes its start-up 2-3x shorter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from mixdown.errors import MixdownError, ParameterError

__all__ = [
    "APT_PACKAGES",
    "DEFAULT_SOUNDFONTS",
    "check_soundfont",
    "find_fluidsynth",
    "installed_soundfonts",
    "render_midi",
]

APT_PACKAGES = "fluidsynth fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont"
DEFAULT_SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf3/MuseScore_General.sf3",
)
_TIMEOUT_S = 600
_TAIL_S = 30.0  # release and reverb tails a render may add after the file's last event


def _size_limit(midi: str | os.PathLike, sample_rate: int) -> int:
    """Bytes of float stereo WAV a render of ``midi`` may reach: its length plus :data:`_TAIL_S`."""
    import mido

    try:
        seconds = mido.MidiFile(midi).length
    except (OSError, EOFError, ValueError, KeyError, TypeError):
        seconds = _TIMEOUT_S  # fluidsynth will say what is wrong with the file
    return int((seconds + _TAIL_S) * sample_rate * 8) + 4096


def find_fluidsynth(executable: str | os.PathLike = "fluidsynth") -> str:
    """The full path of the fluidsynth program; MixdownError naming the apt packages when it is missing."""
    found = shutil.which(str(executable))
    if found is None:
        raise MixdownError(
            f"synth: expected the fluidsynth program at {str(executable)!r}, found none; "
            f"fix: sudo apt-get install {APT_PACKAGES}"
        )
    return found


def check_soundfont(path: str | os.PathLike) -> Path:
    """``path`` as a Path when it is a readable .sf2/.sf3 file; ParameterError naming the apt packages otherwise."""
    path = Path(path)
    if path.suffix.lower() not in (".sf2", ".sf3") or not path.is_file():
        found = "another file" if path.exists() else "nothing"
        raise ParameterError(
            f"synth: expected a General MIDI soundfont (.sf2 or .sf3 file), found {found} at {path}; "
            f"fix: sudo apt-get install {APT_PACKAGES}, or pass soundfonts=[...] existing files"
        )
    return path


def installed_soundfonts() -> list[Path]:
    """The ``DEFAULT_SOUNDFONTS`` present on this machine; ParameterError naming the apt packages when none is."""
    found = [Path(p) for p in DEFAULT_SOUNDFONTS if Path(p).is_file()]
    if not found:
        raise ParameterError(
            f"synth: expected a General MIDI soundfont in {list(DEFAULT_SOUNDFONTS)}, found none; "
            f"fix: sudo apt-get install {APT_PACKAGES}"
        )
    return found


def render_midi(midi: str | os.PathLike, wav: str | os.PathLike, soundfont: str | os.PathLike, *,
                sample_rate: int = 44100, gain: float = 0.5, effects: bool = False,
                fluidsynth: str | os.PathLike = "fluidsynth") -> np.ndarray:
    """Render a MIDI file with fluidsynth and return the audio.

    Args:
        midi: the MIDI file.
        wav: where fluidsynth writes its float WAV (a scratch file).
        soundfont: a .sf2/.sf3 file.
        sample_rate: Hz.
        gain: fluidsynth's master gain (linear; its default is 0.2).
        effects: False renders dry (reverb and chorus off); True keeps them as the file's CC91/CC93 ask.
        fluidsynth: the program (a name on PATH or a path).
    Returns:
        float32 ``(2, samples)``, unclipped (values may exceed 1.0).
    Raises:
        MixdownError: fluidsynth missing or failed; ParameterError: the soundfont is missing.
    Properties: deterministic (fluidsynth has no random state).
    """
    exe = find_fluidsynth(fluidsynth)
    font = check_soundfont(soundfont)
    switch = "1" if effects else "0"
    cmd = [exe, "-ni", "-q", "-R", switch, "-C", switch, "-g", f"{gain:.6g}", "-r", str(int(sample_rate)),
           "-O", "float", "-T", "wav", "-o", "synth.dynamic-sample-loading=1", "-F", str(wav), str(font), str(midi)]
    limit = _size_limit(midi, sample_rate)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        # fluidsynth renders for as long as a note sounds: a note on without its note off would fill the disk
        # (170 MB a second). Stop it once the file outgrows the MIDI file's length plus release tails.
        start = time.monotonic()
        while process.poll() is None:
            size = Path(wav).stat().st_size if Path(wav).exists() else 0
            if size > limit or time.monotonic() - start > _TIMEOUT_S:
                process.kill()
                process.wait()
                Path(wav).unlink(missing_ok=True)
                raise MixdownError(
                    f"synth: expected fluidsynth to finish {midi} within its length plus {_TAIL_S:g} s, found it "
                    f"still rendering after {size / (8 * sample_rate):.0f} s of audio (a note that never ends); "
                    "fix: check the MIDI file for a note on without a note off")
            time.sleep(0.05)
        output = process.stdout.read() if process.stdout else ""
    if process.returncode != 0 or not Path(wav).is_file():
        raise MixdownError(
            f"synth: expected fluidsynth to render {midi}, found exit code {process.returncode} "
            f"({output.strip()[-300:]}); fix: check the soundfont {font} and the MIDI file"
        )
    audio, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    if rate != sample_rate:
        raise MixdownError(f"synth: expected fluidsynth to render at {sample_rate} Hz, found {rate} Hz; "
                           "fix: upgrade fluidsynth (2.x honours -r)")
    return np.ascontiguousarray(audio.T)
