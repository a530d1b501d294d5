"""Measurements of audio, no decisions: loudness, range and peaks (ITU-R BS.1770-4 / EBU R128), track roles."""

from mixdown.analysis.loudness import LoudnessReport, block_energies, k_weighting_sos, measure_loudness
from mixdown.analysis.roles import ROLE_NAMES, ROLES, RoleGuess, detect_roles, role_from_audio, role_from_name

__all__ = [
    "LoudnessReport", "measure_loudness", "k_weighting_sos", "block_energies",
    "RoleGuess", "ROLES", "ROLE_NAMES", "role_from_name", "role_from_audio", "detect_roles",
]
