"""One exception hierarchy for every user-facing error.

Messages follow "expected ... found ... fix ..." and name the file, field or parameter at fault, so the CLI can
print them as they are. Library code raises; only ``cli.py`` turns errors into exit codes.
"""

__all__ = [
    "AudioInputError",
    "DatasetError",
    "MissingExtraError",
    "MixdownError",
    "ModelLoadingError",
    "OutputError",
    "ParameterError",
    "RecipeError",
]


class MixdownError(Exception):
    """Base class of every error mixdown raises on purpose."""


class AudioInputError(MixdownError):
    """An input audio file or tensor cannot be used (missing, unreadable, wrong shape or rate)."""


class ParameterError(MixdownError, ValueError):
    """A processor parameter is unknown, out of its range, or of the wrong shape."""


class RecipeError(MixdownError):
    """A recipe does not follow the schema; the message names the offending field."""


class ModelLoadingError(MixdownError):
    """Learned weights are missing or do not match their config."""


class OutputError(MixdownError):
    """An output cannot be written (folder missing, not writable, would overwrite an input)."""


class DatasetError(AudioInputError):
    """A dataset folder does not have the layout its loader expects; the message names what is missing."""


class MissingExtraError(MixdownError):
    """An optional dependency is not installed; the message names the extra that brings it."""
