"""Mastering: the master chain (gentle EQ, bus compression, width, gain and true-peak limiter) and the loudness
a finished mix is delivered at, optionally moved toward a reference master."""

from mixdown.mastering.master import MasterResult, master_to_target
from mixdown.mastering.reference import (
    DEFAULT_AMOUNTS,
    Reference,
    check_amounts,
    load_reference,
    measure_reference,
    parse_amounts,
)
from mixdown.mastering.targets import (
    LUFS_RANGE,
    TARGETS,
    LoudnessTarget,
    loudness_target,
)

__all__ = [
    "DEFAULT_AMOUNTS",
    "LUFS_RANGE",
    "TARGETS",
    "LoudnessTarget",
    "MasterResult",
    "Reference",
    "check_amounts",
    "load_reference",
    "loudness_target",
    "master_to_target",
    "measure_reference",
    "parse_amounts",
]
