"""The bad-input corpus, audio side: stems handed to ``mix`` and ``analyze`` (see tests/bad_input.py)."""

from __future__ import annotations

import pytest

from tests.bad_input import Case, band, mix_args, run_case


def _empty_folder(folder):
    (folder / "in").mkdir()
    return mix_args(folder)


def _zero_byte_wav(folder):
    band(folder / "in", 2)
    (folder / "in" / "broken.wav").write_bytes(b"")
    return mix_args(folder)


def _missing_folder(folder):
    return mix_args(folder)


def _analyze_a_folder_named_wav(folder):
    (folder / "in" / "x.wav").mkdir(parents=True)
    return ["analyze", str(folder / "in" / "x.wav")]


CASES = [
    Case("empty stems folder", _empty_folder, 2, r"in: expected audio files.*fix", absent=("out",)),
    Case("stems folder missing", _missing_folder, 2, r"in.*fix", absent=("out",)),
    Case("zero-byte WAV among stems", _zero_byte_wav, 2, r"broken\.wav.*fix", absent=("out",)),
    Case("a folder named x.wav", _analyze_a_folder_named_wav, 2, r"x\.wav.*fix"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_audio_input(case, tmp_path):
    run_case(case, tmp_path)
