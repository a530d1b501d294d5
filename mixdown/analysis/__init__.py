"""Measurements of audio (no processing): loudness, range and peaks after ITU-R BS.1770-4 / EBU R128."""

from mixdown.analysis.loudness import LoudnessReport, block_energies, k_weighting_sos, measure_loudness

__all__ = ["LoudnessReport", "measure_loudness", "k_weighting_sos", "block_energies"]
