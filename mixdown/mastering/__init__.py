"""Mastering: the loudness a finished mix is delivered at (and, later, the master chain that gets it there)."""

from mixdown.mastering.targets import (
    LUFS_RANGE,
    TARGETS,
    LoudnessTarget,
    loudness_target,
)

__all__ = ["LUFS_RANGE", "TARGETS", "LoudnessTarget", "loudness_target"]
