"""Measurements of audio, no decisions: loudness, range and peaks (ITU-R BS.1770-4 / EBU R128), spectra, stereo
image, dynamics, masking between tracks and track roles."""

from mixdown.analysis.dynamics import activity, dynamics_features
from mixdown.analysis.loudness import LoudnessReport, block_energies, k_weighting_sos, measure_loudness
from mixdown.analysis.masking import MaskingReport, masking_matrix
from mixdown.analysis.report import STAGES, SessionAnalysis, TrackAnalysis, analyze_files, analyze_session
from mixdown.analysis.roles import ROLE_NAMES, ROLES, RoleGuess, detect_roles, role_from_audio, role_from_name
from mixdown.analysis.spectral import average_spectrum, frame_descriptors
from mixdown.analysis.stereo import stereo_features

__all__ = [
    "LoudnessReport", "measure_loudness", "k_weighting_sos", "block_energies",
    "RoleGuess", "ROLES", "ROLE_NAMES", "role_from_name", "role_from_audio", "detect_roles",
    "average_spectrum", "frame_descriptors", "stereo_features", "dynamics_features", "activity",
    "MaskingReport", "masking_matrix", "STAGES", "SessionAnalysis", "TrackAnalysis", "analyze_session", "analyze_files",
]
