"""Reading and writing audio files: channels-first float arrays in, atomic PCM / float files out.

Reading never modifies a file (libsndfile opens it read-only). Writing goes to a hidden temporary file in the
target folder that replaces the target in one ``os.replace``, so a crash never leaves a partial file behind.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import struct
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from mixdown.audio.kernels import SampleScan, scan_frames
from mixdown.errors import AudioInputError, OutputError
from mixdown.export.files import create_temp

__all__ = [
    "AUDIO_EXTENSIONS",
    "LOSSY_EXTENSIONS",
    "RATE_RANGE_HZ",
    "UNSUPPORTED_EXTENSIONS",
    "WRITE_FORMATS",
    "AudioInfo",
    "AudioWriter",
    "WriteReport",
    "audio_info",
    "read_audio",
    "read_audio_info",
    "read_audio_scanned",
    "write_audio",
]

# Extensions a folder scan picks up; libsndfile decodes all of them (MP3 needs libsndfile >= 1.1).
AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".aif", ".aiff", ".aifc", ".ogg", ".oga", ".opus", ".mp3")
# Audio that libsndfile cannot decode: picked up by a folder scan so it fails loudly instead of vanishing.
UNSUPPORTED_EXTENSIONS = (".m4a", ".aac", ".mp4", ".wma", ".ape", ".wv")
LOSSY_EXTENSIONS = (".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".mp4", ".wma")
_LOSSY_SUBTYPES = {"VORBIS", "OPUS", "MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III"}

READABLE_FORMATS = (
    f"WAV, FLAC, AIFF, OGG (Vorbis/Opus) or MP3 (MP3 needs libsndfile >= 1.1, this is {sf.__libsndfile_version__})"
)

# name -> (libsndfile container, subtype, integer bits or None for float, allowed file suffixes)
WRITE_FORMATS = {
    "wav24": ("WAV", "PCM_24", 24, (".wav", ".wave")),
    "wav16": ("WAV", "PCM_16", 16, (".wav", ".wave")),
    "float32": ("WAV", "FLOAT", None, (".wav", ".wave")),
    "flac": ("FLAC", "PCM_24", 24, (".flac",)),
}
RATE_RANGE_HZ = (8000, 384000)  # sample rates a session may have: telephone speech .. the highest studio rate
CLIP_LEVEL = 0.999  # |x| at or above this counts as full scale
CLIP_RUN = 3  # this many consecutive full-scale samples in one channel mean clipping, not a peak
RESAMPLE_QUALITY = "VHQ"
_BLOCK_FRAMES = 1 << 18  # frames written per block: bounds the float64 working memory of the quantiser


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says, read alongside the samples.

    Attributes:
        sample_rate, channels, format, subtype: as libsndfile reports them.
        frames: the frames libsndfile will decode (an MP3's from its Xing header or an estimate; an OGG's from
            the last page it reaches).
        claimed_frames: for an OGG whose last page counts more frames than ``frames`` (a corrupt page in
            between stops the decoder early), that count; else None.
    """

    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str
    claimed_frames: int | None = None

    @property
    def lossy(self) -> bool:
        """True for perceptually coded sources (Vorbis, Opus, MPEG layers)."""
        return self.subtype in _LOSSY_SUBTYPES


@dataclass(frozen=True)
class WriteReport:
    """What ``write_audio`` wrote.

    Attributes:
        path: the file written (as given, not resolved).
        frames: samples per channel.
        clipped_samples: samples whose value exceeded full scale (``|x| > 1``) and were saturated to the
            largest code; always 0 for ``float32``, which stores such values unchanged.
        peak: largest ``|x|`` of the input (linear; above 1.0 means over full scale).
    """

    path: Path
    frames: int
    clipped_samples: int
    peak: float


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read an audio file into a channels-first float32 array.

    Args:
        path: a WAV, FLAC, AIFF, OGG (Vorbis/Opus) or MP3 file with 1 or 2 channels.
    Returns:
        ``(audio, sample_rate)``: ``audio`` float32 ``(channels, samples)`` with full scale at +-1.0;
        ``sample_rate`` in Hz.
    Raises:
        AudioInputError: missing or empty file, format libsndfile cannot decode, more than 2 channels, a sample
            rate outside 8..384 kHz (:data:`RATE_RANGE_HZ`), a file whose data ends before its header says
            (truncated) or fails to decode part way, NaN/inf samples. The message names the file and the fix.

    Properties: the file is opened read-only and never modified; deterministic.

    Example:
        >>> audio, sample_rate = read_audio("stems/bass.flac")  # (2, n), 44100
    """
    audio, info = read_audio_info(path)
    return audio, info.sample_rate


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """The checked header of an audio file, without reading its samples.

    Raises:
        AudioInputError: as :func:`read_audio`, except for NaN/inf samples (which only a full read finds).
    """
    path = Path(path)
    _check_input_file(path)
    try:
        with sf.SoundFile(str(path), mode="r") as snd:
            info = AudioInfo(snd.samplerate, snd.channels, snd.frames, snd.format, snd.subtype)
    except sf.SoundFileError as exc:
        reason = str(exc)
        if "does not exist or is not a regular file" in reason:  # what libsndfile says of an MP3 it cannot parse
            reason = f"Error opening {str(path)!r}: no {path.suffix.lstrip('.').upper() or 'audio'} stream found"
        raise AudioInputError(
            f"{path}: expected an audio file libsndfile can decode ({READABLE_FORMATS}), found one it cannot "
            f"read ({reason}); fix: {_convert_fix(path)}"
        ) from None
    _check_channels(path, info.channels)
    _check_rate(path, info.sample_rate)
    if info.frames == 0:
        raise AudioInputError(
            f"{path}: expected audio samples, found a {info.format} header with 0 frames; "
            "fix: export the track again or remove the file"
        )
    declared = _declared_frames(path)
    if declared is not None and declared > info.frames:
        raise _truncated(path, info.frames, declared, info.sample_rate)
    if info.format == "OGG":
        last = _ogg_last_granule(path)
        if last is not None and info.subtype == "OPUS":  # Opus counts at 48 kHz whatever the rate it decodes to
            last = round(last * info.sample_rate / 48000)
        if last is not None and last > info.frames:
            info = dataclasses.replace(info, claimed_frames=last)
    return info


def read_audio_info(path: str | os.PathLike) -> tuple[np.ndarray, AudioInfo]:
    """``read_audio`` that also returns the header (format, subtype) for load-time checks."""
    audio, info, _ = read_audio_scanned(path)
    return audio, info


def read_audio_scanned(path: str | os.PathLike,
                       sample_rate: int | None = None) -> tuple[np.ndarray, AudioInfo, SampleScan]:
    """Read a file channels-first, at ``sample_rate`` (soxr VHQ; None keeps the file's), with the statistics of
    its samples as read (before resampling): peak, clipped runs, DC, identical channels.

    Returns:
        ``(audio, info, scan)``: float32 ``(channels, samples)``, the header, the :class:`SampleScan`.
    Raises:
        AudioInputError: as :func:`read_audio`.
    """
    path = Path(path)
    info = audio_info(path)
    try:
        with sf.SoundFile(str(path), mode="r") as snd:
            frames = snd.read(dtype="float32", always_2d=True)
    except sf.SoundFileError as exc:
        decoded = _decodable_frames(path)
        raise AudioInputError(
            f"{path}: expected {info.frames} frames of {info.format} audio as its header says, found a decoding "
            f"error after {decoded} of them ({exc}): the file is truncated or corrupt; fix: export or copy it "
            f"again (to keep what decodes: `ffmpeg -i {_quoted(path.name)} {_quoted(path.stem + '_fixed.wav')}`)"
        ) from None
    if frames.shape[0] == 0:
        raise AudioInputError(
            f"{path}: expected audio samples, found a {info.format} header with 0 frames; "
            "fix: export the track again or remove the file"
        )
    if frames.shape[0] < info.frames and not info.lossy:  # lossy formats' lengths may be estimates: load warns
        raise _truncated(path, frames.shape[0], info.frames, info.sample_rate)
    resampling = sample_rate is not None and sample_rate != info.sample_rate
    audio, scan = scan_frames(frames, CLIP_LEVEL, CLIP_RUN, channels_first=not resampling)
    if scan.nonfinite:
        raise AudioInputError(
            f"{path}: expected finite samples, found {scan.nonfinite} NaN/inf sample(s), the first at sample "
            f"{scan.first_nonfinite}; fix: re-export the track from its source (a float file with corrupt data)"
        )
    if resampling:
        del audio
        frames = soxr.resample(frames, info.sample_rate, sample_rate, quality=RESAMPLE_QUALITY)
        audio, _ = scan_frames(frames.reshape(frames.shape[0], -1), CLIP_LEVEL, CLIP_RUN)
    return audio, info, scan


def _check_input_file(path: Path) -> None:
    if not path.exists():
        raise AudioInputError(f"{path}: expected an audio file, found nothing at this path; fix: check the path")
    if not path.is_file():
        raise AudioInputError(f"{path}: expected an audio file, found a folder or device; fix: name a file")
    if path.suffix.lower() in UNSUPPORTED_EXTENSIONS:
        raise AudioInputError(
            f"{path}: expected one of {READABLE_FORMATS}, found {path.suffix} which libsndfile cannot decode; "
            f"fix: {_convert_fix(path)}"
        )
    if path.stat().st_size == 0:
        raise AudioInputError(
            f"{path}: expected audio, found an empty file (0 bytes); fix: export the track again or remove it"
        )


def _convert_fix(path: Path) -> str:
    return (f"convert it, e.g. `ffmpeg -i {_quoted(path.name)} -c:a flac {_quoted(path.stem + '_converted.flac')}`, "
            "and load that file")


def _check_channels(path: Path, channels: int) -> None:
    if channels > 2:
        raise AudioInputError(
            f"{path}: expected a mono or stereo file, found {channels} channels; fix: split it into one file per "
            f"channel (or stereo pair), e.g. `ffmpeg -i {_quoted(path.name)} -af \"pan=mono|c0=c0\" "
            f"{_quoted(path.stem + '_1.wav')}`, then c0=c1 for {path.stem}_2.wav and so on, and load those files "
            "instead (mixdown does not fold surround to stereo: where each channel sits is a mixing decision)"
        )


def _check_rate(path: Path, sample_rate: int) -> None:
    low, high = RATE_RANGE_HZ
    if not low <= sample_rate <= high:
        raise AudioInputError(
            f"{path}: expected a sample rate of {low}..{high} Hz, found {sample_rate} Hz in its header; fix: if "
            f"the header is wrong, correct it; else resample the file, e.g. `ffmpeg -i {_quoted(path.name)} -ar "
            f"48000 {_quoted(path.stem + '_48k' + path.suffix)}`, and load that file"
        )


def _truncated(path: Path, frames: int, declared: int, sample_rate: int) -> AudioInputError:
    return AudioInputError(
        f"{path}: expected {declared} frames ({declared / sample_rate:.3f} s) as its header says, found the data "
        f"ending after {frames} ({frames / sample_rate:.3f} s): truncated ({frames} of {declared} frames), cut off "
        f"while being written or copied; fix: export or copy it again (to mix the part that is there, rewrite it: "
        f"`ffmpeg -i {_quoted(path.name)} {_quoted(path.stem + '_fixed' + path.suffix)}`)"
    )


def _quoted(name: str) -> str:
    """A file name as a shell command needs it: quoted when it holds spaces, quotes or a leading dash."""
    name = f"./{name}" if name.startswith("-") else name
    return shlex.quote(name)


def _decodable_frames(path: Path) -> int:
    """How many frames decode before libsndfile's first error (for the message about a corrupt file)."""
    done = 0
    try:
        with sf.SoundFile(str(path), mode="r") as snd:
            while True:
                block = snd.read(4096, dtype="float32", always_2d=True)
                if not len(block):
                    return done
                done += len(block)
    except (sf.SoundFileError, RuntimeError):
        return done


def _declared_frames(path: Path) -> int | None:
    """The frame count a WAV or AIFF header declares (libsndfile reports the frames the file really holds, so a
    file cut off mid-data reads shorter without a word); None for other formats, and for a WAV written as a
    stream (data size 0 or 0xFFFFFFFF: "until the end of the file")."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
                return _wav_declared(f, "<" if head[:4] == b"RIFF" else ">")
            if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
                return _aiff_declared(f)
    except (OSError, struct.error):
        return None
    return None


def _ogg_last_granule(path: Path) -> int | None:
    """The granule position (frames so far) of the last Ogg page in the file's last 64 kB; None when none."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 65536))
            tail = f.read()
    except OSError:
        return None
    at = tail.rfind(b"OggS")
    if at < 0 or len(tail) < at + 14:
        return None
    granule = struct.unpack("<q", tail[at + 6:at + 14])[0]
    return granule if granule >= 0 else None


def _chunks(f, order: str):
    """``(id, size, offset of its data)`` of each RIFF/IFF chunk from the current position."""
    while True:
        header = f.read(8)
        if len(header) < 8:
            return
        size = struct.unpack(order + "I", header[4:])[0]
        start = f.tell()
        yield header[:4], size, start
        f.seek(start + size + (size & 1))


def _wav_declared(f, order: str) -> int | None:
    block_align = None
    for chunk, size, start in _chunks(f, order):
        if chunk == b"fmt " and size >= 14:
            f.seek(start + 12)
            block_align = struct.unpack(order + "H", f.read(2))[0]
        elif chunk == b"data":
            if size in (0, 0xFFFFFFFF) or not block_align:
                return None
            return size // block_align
    return None


def _aiff_declared(f) -> int | None:
    for chunk, size, start in _chunks(f, ">"):
        if chunk == b"COMM" and size >= 6:
            f.seek(start + 2)
            return struct.unpack(">I", f.read(4))[0]
    return None


def write_audio(
    path: str | os.PathLike,
    audio,
    sample_rate: int,
    format: str = "wav24",
    protect: Collection[str | os.PathLike] | None = None,
    seed: int = 0,
) -> WriteReport:
    """Write ``(channels, samples)`` audio atomically: a temp file in the same folder, then ``os.replace``.

    Args:
        path: the file to write; its suffix must match ``format`` (``.wav`` / ``.flac``). An existing file is
            replaced atomically (never left half-written).
        audio: float ``(channels, samples)``, 1 or 2 channels, numpy array or torch tensor; full scale +-1.0.
        sample_rate: Hz, a positive integer.
        format: ``"wav24"`` (PCM 24-bit WAV, default), ``"wav16"`` (PCM 16-bit WAV with TPDF dither of +-1 LSB),
            ``"float32"`` (32-bit float WAV, nothing clipped), ``"flac"`` (24-bit FLAC).
        protect: paths that must never be overwritten (the session's inputs); compared after resolving links.
        seed: seed of the 16-bit dither noise.
    Returns:
        ``WriteReport(path, frames, clipped_samples, peak)``; PCM formats saturate samples beyond +-1.0 and count
        them, so the caller can warn.
    Raises:
        OutputError: folder missing, path protected or a folder, suffix not matching the format, bad shape,
            NaN/inf samples, unknown format, or the write itself failed (the old file is then left intact).

    Properties: deterministic (the same audio and seed give the same bytes); quantisation rounds to nearest with
    full scale at 2**(bits-1), matching how libsndfile reads PCM back; memory bounded by blocks of frames.

    Example:
        >>> report = write_audio("mix.wav", mix, 44100, protect=session.input_paths())
    """
    path = Path(path)
    data = _as_channels_first(path, audio)
    with AudioWriter(path, sample_rate, data.shape[0], format, protect, seed) as writer:
        writer.write(data)
    return writer.report


class AudioWriter:
    """Write audio block by block, atomically: a hidden temp file that replaces ``path`` only on success.

    Use as a context manager; leaving the block with an exception removes the temp file and leaves any existing
    ``path`` untouched. Arguments are those of :func:`write_audio` without the audio; ``channels`` is 1 or 2.
    After the block, :attr:`report` holds the :class:`WriteReport`.

    Example:
        >>> with AudioWriter("mix.wav", 44100, 2) as writer:
        ...     for block in blocks:
        ...         writer.write(block)  # (2, n) float
    """

    def __init__(self, path, sample_rate: int, channels: int, format: str = "wav24", protect=None, seed: int = 0):
        self.path = Path(path)
        self.container, self.subtype, self.bits, _ = _check_format(self.path, format)
        _check_destination(self.path, protect)
        if not isinstance(sample_rate, (int, np.integer)) or isinstance(sample_rate, bool) or sample_rate <= 0:
            raise OutputError(f"{self.path}: expected a positive integer sample_rate in Hz, found {sample_rate!r}")
        if channels not in (1, 2):
            raise OutputError(f"{self.path}: expected 1 or 2 channels, found {channels}")
        self.sample_rate, self.channels = int(sample_rate), channels
        self.rng = np.random.default_rng(seed)
        self.frames = self.clipped = 0
        self.peak = 0.0
        self.report: WriteReport | None = None

    def __enter__(self) -> AudioWriter:
        self.tmp = create_temp(self.path)
        try:
            self.handle = open(self.tmp, "r+b")
            self.snd = sf.SoundFile(self.handle, "w", self.sample_rate, self.channels, self.subtype, format=self.container)
            if self.subtype == "FLOAT":
                _drop_peak_chunk(self.snd)
        except BaseException as exc:
            _remove_quietly(self.tmp)
            raise self._failed(exc) from exc
        return self

    def write(self, block) -> None:
        """Append ``(channels, n)`` float audio."""
        data = _as_channels_first(self.path, block)
        if data.shape[0] != self.channels:
            raise OutputError(f"{self.path}: expected {self.channels} channel(s) per block, found {data.shape[0]}")
        try:
            clipped, peak = _write_blocks(self.snd, data, self.bits, self.rng)
        except (OSError, sf.SoundFileError) as exc:
            raise self._failed(exc) from exc
        self.frames += data.shape[1]
        self.clipped += clipped
        self.peak = max(self.peak, peak)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.snd.close()
            if exc_type is None:
                self.handle.flush()
                os.fsync(self.handle.fileno())
            self.handle.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
                self.report = WriteReport(self.path, self.frames, self.clipped, self.peak)
        except (OSError, sf.SoundFileError) as err:
            _remove_quietly(self.tmp)
            raise self._failed(err) from err
        finally:
            if exc_type is not None:
                _remove_quietly(self.tmp)

    def _failed(self, exc: BaseException) -> OutputError:
        return OutputError(
            f"{self.path}: expected to write the file, found an error while writing ({exc}); the previous file, "
            "if any, is unchanged; fix: check free disk space and permissions"
        )


_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile's sf_command number (sndfile.h)


def _drop_peak_chunk(snd: sf.SoundFile) -> None:
    """Write no PEAK chunk: libsndfile stamps it with the time of writing, so the same float audio would give
    different bytes on every run."""
    sf._snd.sf_command(snd._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)  # SF_FALSE: datasize 0


def _check_format(path: Path, format: str) -> tuple[str, str, int | None, tuple[str, ...]]:
    if format not in WRITE_FORMATS:
        raise OutputError(f"{path}: expected format one of {sorted(WRITE_FORMATS)}, found {format!r}")
    spec = WRITE_FORMATS[format]
    if path.suffix.lower() not in spec[3]:
        raise OutputError(
            f"{path}: expected a file name ending in {' or '.join(spec[3])} for format {format!r}, found "
            f"{path.suffix or 'no suffix'}; fix: rename the output or choose the matching format"
        )
    return spec


def _as_channels_first(path: Path, audio) -> np.ndarray:
    if hasattr(audio, "detach"):  # torch tensor, without importing torch here
        audio = audio.detach().cpu().numpy()
    data = np.asarray(audio)
    if data.ndim != 2 or data.shape[0] not in (1, 2) or not np.issubdtype(data.dtype, np.floating):
        raise OutputError(
            f"{path}: expected float audio shaped (channels, samples) with 1 or 2 channels, found "
            f"{data.dtype} {data.shape}; fix: transpose (samples, channels) arrays with .T, add a channel axis "
            "to a 1-D signal with [None]"
        )
    bad = ~np.isfinite(data)
    if bad.any():
        raise OutputError(
            f"{path}: expected finite samples, found {int(bad.sum())} NaN/inf sample(s); fix: find the stage "
            "that produced them; nothing was written"
        )
    return data


def _check_destination(path: Path, protect: Collection[str | os.PathLike] | None) -> None:
    folder = path.parent
    if not folder.is_dir():
        raise OutputError(
            f"{path}: expected an existing folder {folder}, found none; fix: create it (mkdir -p '{folder}') "
            "or choose another output path"
        )
    if path.is_dir():
        raise OutputError(f"{path}: expected a file path, found a folder; fix: add a file name")
    if path.is_symlink() and not path.exists():  # a loop, or a link to nothing: writing would replace the link
        raise OutputError(f"{path}: expected a file path, found a link that leads nowhere; fix: remove the link or "
                          "choose another output path")
    if path.exists() and not path.stat().st_mode & 0o222:
        raise OutputError(
            f"{path}: expected a writable file, found one marked read-only; it is not replaced; "
            "fix: choose another output path or make the file writable"
        )
    target = path.resolve()
    for protected in protect or ():
        protected = Path(protected)
        if target == protected.resolve() or (path.exists() and protected.exists() and path.samefile(protected)):
            raise OutputError(
                f"{path}: expected an output path, found one of the session's input files; inputs are never "
                "overwritten; fix: write to another file name or folder"
            )


def _write_blocks(snd: sf.SoundFile, data: np.ndarray, bits: int | None, rng) -> tuple[int, float]:
    clipped, peak = 0, 0.0
    for start in range(0, data.shape[1], _BLOCK_FRAMES):
        block = data[:, start : start + _BLOCK_FRAMES]
        magnitude = np.abs(block)
        peak = max(peak, float(magnitude.max(initial=0.0)))
        if bits is None:
            snd.write(np.ascontiguousarray(block.T, dtype=np.float32))
            continue
        clipped += int(np.count_nonzero(magnitude > 1.0))
        snd.write(np.ascontiguousarray(_quantise(block, bits, rng).T))
    return clipped, peak


def _quantise(block: np.ndarray, bits: int, rng) -> np.ndarray:
    """Round to ``bits``-bit codes (TPDF dither of +-1 LSB at 16 bits), saturating; int16 or left-aligned int32."""
    full_scale = float(1 << (bits - 1))
    scaled = block.astype(np.float64) * full_scale
    if bits == 16:
        # Difference of two uniform [0, 1) LSB variables: triangular on (-1, 1) LSB, which makes the mean and
        # the power of the quantisation error independent of the signal (Lipshitz, Wannamaker & Vanderkooy 1992).
        scaled += rng.random(scaled.shape) - rng.random(scaled.shape)
    codes = np.clip(np.rint(scaled), -full_scale, full_scale - 1.0)
    if bits == 16:
        return codes.astype(np.int16)
    # libsndfile keeps the top 24 bits of int32 data for PCM_24: shift the codes into place.
    return codes.astype(np.int32) << (32 - bits)


def _remove_quietly(tmp: Path) -> None:
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
