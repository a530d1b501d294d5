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
    "ROLES",
    "ROLE_NAMES",
    "STAGES",
    "LoudnessReport",
    "MaskingReport",
    "RoleGuess",
    "SessionAnalysis",
    "TrackAnalysis",
    "activity",
    "analyze_files",
    "analyze_session",
    "average_spectrum",
    "block_energies",
    "detect_roles",
    "dynamics_features",
    "frame_descriptors",
    "k_weighting_sos",
    "masking_matrix",
    "measure_loudness",
    "role_from_audio",
    "role_from_name",
    "stereo_features",
]
