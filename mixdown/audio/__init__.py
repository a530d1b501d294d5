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
    "read_audio",
    "read_audio_info",
    "audio_info",
    "write_audio",
    "AudioWriter",
    "BlockReader",
    "WriteReport",
    "AudioInfo",
    "load_session",
    "load_tracks",
    "plan_session",
    "SessionPlan",
    "resample",
    "Session",
    "Track",
    "LoadWarning",
    "WARNING_CODES",
    "AUDIO_EXTENSIONS",
    "LOSSY_EXTENSIONS",
    "WRITE_FORMATS",
]
