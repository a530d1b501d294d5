"""Audio in and out: read and check files, build a Session, write files atomically."""

from mixdown.audio.io import (
    AudioWriter,
    AUDIO_EXTENSIONS,
    LOSSY_EXTENSIONS,
    WRITE_FORMATS,
    AudioInfo,
    WriteReport,
    read_audio,
    read_audio_info,
    write_audio,
)
from mixdown.audio.session import WARNING_CODES, LoadWarning, Session, Track, load_session

__all__ = [
    "read_audio",
    "read_audio_info",
    "write_audio",
    "WriteReport",
    "AudioInfo",
    "load_session",
    "Session",
    "Track",
    "LoadWarning",
    "WARNING_CODES",
    "AUDIO_EXTENSIONS",
    "LOSSY_EXTENSIONS",
    "WRITE_FORMATS",
]
