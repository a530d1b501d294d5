"""Audio in and out: read and check files, build a Session, write files atomically."""

from mixdown.audio.io import (
    AUDIO_EXTENSIONS,
    LOSSY_EXTENSIONS,
    WRITE_FORMATS,
    AudioInfo,
    AudioWriter,
    WriteReport,
    audio_info,
    read_audio,
    read_audio_info,
    write_audio,
)
from mixdown.audio.session import (
    WARNING_CODES,
    LoadWarning,
    Session,
    SessionPlan,
    Track,
    load_session,
    load_tracks,
    plan_session,
    resample,
)
from mixdown.audio.stream import BlockReader

__all__ = [
    "AUDIO_EXTENSIONS",
    "LOSSY_EXTENSIONS",
    "WARNING_CODES",
    "WRITE_FORMATS",
    "AudioInfo",
    "AudioWriter",
    "BlockReader",
    "LoadWarning",
    "Session",
    "SessionPlan",
    "Track",
    "WriteReport",
    "audio_info",
    "load_session",
    "load_tracks",
    "plan_session",
    "read_audio",
    "read_audio_info",
    "resample",
    "write_audio",
]
