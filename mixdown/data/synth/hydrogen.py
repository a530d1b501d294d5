"""Hydrogen songs for the people corpus: read a ``.h2song`` and render its drum tracks in Python (issue 18).

A Hydrogen song (XML) holds, per drum instrument, the fader volume and pan its author set, the instrument's
samples (velocity layers of a drumkit), and the patterns and their order: one drum mix decision per instrument
(kick, snare, hi-hat, toms, cymbals as separate tracks). Sources: the demo songs of Debian's ``hydrogen-data``
(``/usr/share/hydrogen/data/demo_songs``, GPL-2+) and the demo songs that installed drumkits carry
(``hydrogen-drumkits``: the ColomboAcousticDrumkit's, GPL-2+ with a composition exception).

The songs are rendered here, with numpy and the kit's samples, not by Hydrogen's ``h2cli``: per-instrument dry and
wet stems would take one ``h2cli`` export per stem and setting (two per instrument, each spending ~25 s probing
audio drivers), Hydrogen's humanisation is random (so stems of separate exports would not add up to the mix), and
the corpus should not depend on a GUI program. What is rendered, per note (Hydrogen 1.2's sampler, as its file
format and documentation describe it):

* time: ``position`` in ticks, 48 per quarter note (``size`` 192 is a 4/4 bar), patterns in song order, each
  column of the sequence as long as its longest pattern (virtual patterns expanded); swing delays the off-beat
  16th notes by ``swing_factor`` x a 32nd note; humanisation (random time and velocity), ``leadlag``,
  ``probability`` and random pitch are not applied (recorded in the metadata as ``ignored``);
* sample: per instrument component, the first layer whose ``[min, max]`` velocity range holds the note's velocity
  (else the layer whose ``min`` is nearest), resampled with soxr for the render rate and for any pitch (note pitch
  and key, instrument ``pitchOffset``, layer pitch; 2^(semitones/12) faster);
* amplitude: velocity (when ``applyVelocity``) x layer gain x component gain x drumkit component volume x
  instrument ``gain``; this is the **dry** stem (the kit's sample trims are part of the recording). The **wet**
  stem multiplies by the instrument's fader ``volume`` and the pan law's left/right gains;
* pan: the note's pan moves inside the instrument's (``instrument + note * (1 - |instrument|)``); the song's pan
  law (``pan_law_type``; all demo songs use ``RATIO_STRAIGHT_POLYGONAL``: the louder side at 1, the other at
  ``1 - |pan|``, 0 dB at the centre) gives the channel gains. Old songs (0.9) give ``pan_L``/``pan_R``, read as
  Hydrogen reads them (``pan = R/L - 1`` when L >= R, else ``1 - L/R``);
* note ends: a sample plays to its end, except that a note of an instrument in a mute group releases the other
  group members' notes, a ``note_off`` note releases its own instrument's notes and a note with a ``length``
  releases after it; a release fades linearly over the instrument's ``Release`` (frames). Filters, ADSR attack
  and decay, FX sends (LADSPA) and the song's master volume are not applied (the master volume is a common
  factor of every track: recorded, and replaced by the corpus's common scale).

Muted instruments are left out (the author muted them), and so are instruments without a note in the excerpt.
"""

from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from mixdown.errors import DatasetError

__all__ = [
    "DEMO_FOLDER",
    "DRUMKIT_FOLDERS",
    "HYDROGEN_DATA",
    "PAN_LAWS",
    "TICKS_PER_QUARTER",
    "Hit",
    "Instrument",
    "Layer",
    "Song",
    "declared_settings",
    "drum_role",
    "pan_gains",
    "read_song",
    "render_tracks",
    "song_files",
    "song_licence",
]

HYDROGEN_DATA = Path("/usr/share/hydrogen/data")
DEMO_FOLDER = HYDROGEN_DATA / "demo_songs"
DRUMKIT_FOLDERS = (Path.home() / ".hydrogen" / "data" / "drumkits", HYDROGEN_DATA / "drumkits")
TICKS_PER_QUARTER = 48
_EMPTY_COLUMN_TICKS = 4 * TICKS_PER_QUARTER
_INSTALL_FIX = "fix: sudo apt-get install hydrogen-data hydrogen-drumkits (or bash scripts/install_system_deps.sh)"
_LICENCES = {
    "demo": "GPL-2+: Hydrogen's demo songs and kits (Debian hydrogen-data; /usr/share/doc/hydrogen-data/copyright, "
            "Files: *); the song files themselves say 'Unknown license'",
    "ColomboAcousticDrumkit": "GPL-2+ with composition exception: ColomboAcousticDrumkit, Marcos Guglielmetti "
                              "(Debian hydrogen-drumkits; /usr/share/doc/hydrogen-drumkits/copyright)",
    "kit": "see /usr/share/doc/hydrogen-drumkits/copyright for the kit {kit}",
}
# the four readings of the pan parameter p in [-1, 1] as an (L, R) pair, up to scale (Hydrogen 1.2, Sampler.h)
_PAN_PARAMETERS = {
    "RATIO": lambda p: (1.0, 1.0 + p) if p <= 0 else (1.0 - p, 1.0),  # p = R/L - 1 (left), 1 - L/R (right)
    "LINEAR": lambda p: (1.0 - p, 1.0 + p),  # p = (R - L) / (R + L)
    "POLAR": lambda p: (math.cos(math.pi / 4 * (p + 1)), math.sin(math.pi / 4 * (p + 1))),  # p = 4/pi atan(R/L) - 1
    "QUADRATIC": lambda p: (math.sqrt(1.0 - p), math.sqrt(1.0 + p)),  # p = (R^2 - L^2) / (R^2 + L^2)
}
# ... and the four scalings of that pair: the louder side at 1, L^2 + R^2 = 1, L + R = 1, L^k + R^k = 1
_PAN_NORMS = {
    "STRAIGHT_POLYGONAL": lambda lr, k: max(lr),
    "CONST_POWER": lambda lr, k: math.hypot(*lr),
    "CONST_SUM": lambda lr, k: lr[0] + lr[1],
    "CONST_K_NORM": lambda lr, k: (lr[0] ** k + lr[1] ** k) ** (1 / k),
}
PAN_LAWS = tuple(f"{p}_{n}" for p in _PAN_PARAMETERS for n in _PAN_NORMS)
_KEYS = {"C": 0, "Cs": 1, "D": 2, "Ef": 3, "E": 4, "F": 5, "Fs": 6, "G": 7, "Af": 8, "A": 9, "Bf": 10, "B": 11}
# drum roles by words of an instrument's name (or, failing that, its first sample's file name); first match wins
_ROLE_WORDS = (
    ("percussion", ("cowbell", "clap", "clave", "conga", "bongo", "tamb", "shaker", "maraca", "agogo", "guiro",
                    "cabasa", "triangle", "block", "timbale", "cuica", "whistle", "vibra", "perc")),
    ("kick", ("kick", "bassdrum", "bass drum", "bd", "kik")),
    ("snare", ("snare", "stick", "rim", "sd")),
    ("hihat", ("hat", "hh", "hihat")),
    ("toms", ("tom",)),
    ("overheads_room", ("crash", "ride", "splash", "china", "cymbal", "cym", "bell")),
)


@dataclass(frozen=True)
class Layer:
    """One sample of an instrument component: ``file`` as the song names it, played for velocities in
    ``[min_velocity, max_velocity]`` with ``gain`` (linear) and ``pitch`` (semitones)."""

    file: str
    min_velocity: float
    max_velocity: float
    gain: float
    pitch: float


@dataclass(frozen=True)
class Instrument:
    """One drum instrument (a track of Hydrogen's mixer) with the author's fader ``volume`` and ``pan``.

    ``components``: ``(gain, layers)`` per instrument component, the gain already times its drumkit component's
    volume. ``pan_raw``: the file's pan fields as written. ``release``: the ADSR release, frames.
    """

    id: str
    name: str
    drumkit: str | None
    volume: float
    pan: float
    pan_raw: dict
    gain: float
    muted: bool
    mute_group: int
    apply_velocity: bool
    pitch_offset: float
    random_pitch: float
    release: float
    fx_sends: tuple[float, ...]
    components: tuple[tuple[float, tuple[Layer, ...]], ...]


@dataclass(frozen=True)
class Hit:
    """One note in song time: ``tick`` from the song's start (swing applied), ``instrument`` id, ``velocity``
    (0..1), ``pan`` (-1..1), ``pitch`` (semitones, key included), ``length`` (ticks; -1: the whole sample),
    ``note_off`` (a note that only releases its instrument's sounding notes)."""

    tick: float
    instrument: str
    velocity: float
    pan: float
    pitch: float
    length: float
    note_off: bool


@dataclass(frozen=True)
class Song:
    """A Hydrogen song as read from its file: settings, instruments (file order) and hits (time order)."""

    path: Path
    title: str
    author: str
    licence_field: str
    version: str
    bpm: float
    volume: float
    pan_law: str
    k_norm: float
    swing: float
    ignored: dict
    instruments: tuple[Instrument, ...]
    hits: tuple[Hit, ...]
    length_ticks: int

    @property
    def tick_seconds(self) -> float:
        return 60.0 / (self.bpm * TICKS_PER_QUARTER)

    @property
    def kits(self) -> list[str]:
        return sorted({i.drumkit for i in self.instruments if i.drumkit})


def song_files() -> list[Path]:
    """Hydrogen's demo songs and the demo songs of the system's drumkits (not the user's: the source is what the
    Debian packages ship), in name order; DatasetError naming the apt packages when hydrogen-data is missing."""
    if not DEMO_FOLDER.is_dir():
        raise DatasetError(f"people: expected Hydrogen's demo songs in {DEMO_FOLDER}, found nothing there; "
                           f"{_INSTALL_FIX}")
    return sorted(DEMO_FOLDER.glob("*.h2song")) + sorted(DRUMKIT_FOLDERS[-1].glob("*/*.h2song"))


def song_licence(path: Path) -> str:
    """The licence of a song of :func:`song_files` (module docstring)."""
    if path.parent == DEMO_FOLDER:
        return _LICENCES["demo"]
    kit = path.parent.name
    return _LICENCES.get(kit, _LICENCES["kit"].format(kit=kit))


def pan_gains(pan: float, law: str = "RATIO_STRAIGHT_POLYGONAL", k_norm: float = 4 / 3) -> tuple[float, float]:
    """The left and right gains of Hydrogen's pan ``law`` (one of :data:`PAN_LAWS`) at ``pan`` in [-1, 1]."""
    parameter, _, norm = law.partition("_")
    if parameter not in _PAN_PARAMETERS or norm not in _PAN_NORMS:
        raise DatasetError(f"hydrogen: expected a pan law among {', '.join(PAN_LAWS)}, found {law!r}; "
                           "fix: set pan_law_type in the song")
    pair = _PAN_PARAMETERS[parameter](min(1.0, max(-1.0, pan)))
    scale = _PAN_NORMS[norm](pair, k_norm)
    return pair[0] / scale, pair[1] / scale


def drum_role(name: str, sample_file: str = "") -> str:
    """A role of :mod:`mixdown.analysis.roles` for a drum instrument called ``name`` (cymbals are
    ``overheads_room``, as the roles' table files them; hand percussion and anything unknown ``percussion``)."""
    for text in (name, Path(sample_file).stem):
        low = text.lower()
        tokens = re.split(r"[^a-z]+", low)
        for role, words in _ROLE_WORDS:
            if any(w in tokens if len(w) <= 2 else w in low for w in words):
                return role
    return "percussion"


def declared_settings(instrument: Instrument, song: Song) -> dict:
    """The author's settings of one instrument: the file's values and what they mean (module docstring).

    ``gain_db = 20 log10(volume)`` (the fader); ``pan`` Hydrogen's pan parameter (-1 left .. 1 right) and
    ``pan_gains`` the song's pan law at it; ``level_db`` the level the render check reads for a centred note
    (``gain_db + 10 log10((L^2 + R^2) / 2)``) and ``pan_polar`` the pan it reads (``4 atan2(R, L) / pi - 1``).
    """
    left, right = pan_gains(instrument.pan, song.pan_law, song.k_norm)
    gain_db = 20 * math.log10(max(instrument.volume, 1e-5))
    return {"volume": instrument.volume, **instrument.pan_raw, "gain_db": round(gain_db, 3),
            "pan": round(instrument.pan, 4), "pan_law": song.pan_law, "pan_law_k_norm": song.k_norm,
            "pan_gains": [round(left, 6), round(right, 6)],
            "level_db": round(gain_db + 10 * math.log10((left**2 + right**2) / 2), 3),
            "pan_polar": round(4 * math.atan2(right, left) / math.pi - 1, 4),
            "instrument_gain": instrument.gain, "instrument_gain_db": round(20 * math.log10(max(instrument.gain, 1e-5)), 3),
            "fx_sends": list(instrument.fx_sends), "master_volume": song.volume}


def read_song(path: str | os.PathLike) -> Song:
    """Read a ``.h2song`` file (Hydrogen 0.9 to 1.2); DatasetError naming the file when it cannot be used."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise DatasetError(f"{path}: expected a Hydrogen song (.h2song XML), found an unreadable file ({e}); "
                           "fix: check the file, or reinstall hydrogen-data") from e
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    if root.tag != "song":
        raise DatasetError(f"{path}: expected a Hydrogen song (root element <song>), found <{root.tag}>; "
                           "fix: pass .h2song files")
    if root.find("BPMTimeLine") is not None and len(root.find("BPMTimeLine")):
        raise DatasetError(f"{path}: expected one tempo, found tempo changes (BPMTimeLine), which this reader "
                           "does not follow; fix: leave the song out")
    text = lambda e, tag, default="": (e.findtext(tag) or default).strip()
    number = lambda e, tag, default: float(text(e, tag) or default)
    law = text(root, "pan_law_type", "RATIO_STRAIGHT_POLYGONAL")
    pan_gains(0.0, law)  # validates the law's name
    component_volume = {text(c, "id"): number(c, "volume", 1) for c in root.iter("drumkitComponent")}
    instruments = [_instrument(e, component_volume, text, number) for e in _children(root, "instrumentList")]
    hits, length, unplayed = _hits(root, {i.id for i in instruments}, number(root, "swing_factor", 0), text, number)
    ignored = {k: v for k, v in {
        "humanize_time": number(root, "humanize_time", 0), "humanize_velocity": number(root, "humanize_velocity", 0),
        "random_pitch": {i.name: i.random_pitch for i in instruments if i.random_pitch},
        "fx_sends": {i.name: list(i.fx_sends) for i in instruments if any(i.fx_sends)},
        **unplayed}.items() if v}
    return Song(path=path, title=text(root, "name", path.stem), author=text(root, "author"),
                licence_field=text(root, "license"), version=text(root, "version"), bpm=number(root, "bpm", 120),
                volume=number(root, "volume", 1), pan_law=law, k_norm=number(root, "pan_law_k_norm", 4 / 3),
                swing=number(root, "swing_factor", 0), ignored=ignored, instruments=tuple(instruments),
                hits=tuple(sorted(hits, key=lambda h: h.tick)), length_ticks=length)


def _children(root, tag: str) -> list:
    found = root.find(tag)
    return list(found) if found is not None else []


def _ratio_pan(left: float, right: float) -> float:
    """Hydrogen's pan parameter from an old file's ``pan_L``/``pan_R`` pair."""
    if left < 0 or right < 0 or (left == 0 and right == 0):
        return 0.0
    return right / left - 1.0 if left >= right else 1.0 - left / right


def _pan(e, text, number) -> tuple[float, dict]:
    if text(e, "pan"):
        return number(e, "pan", 0), {"pan_raw": number(e, "pan", 0)}
    left, right = number(e, "pan_L", 1), number(e, "pan_R", 1)
    return _ratio_pan(left, right), {"pan_L": left, "pan_R": right}


def _instrument(e, component_volume: dict, text, number) -> Instrument:
    def layers(parent) -> tuple[Layer, ...]:
        return tuple(Layer(text(lay, "filename"), number(lay, "min", 0), number(lay, "max", 1),
                           number(lay, "gain", 1), number(lay, "pitch", 0)) for lay in parent.findall("layer"))

    components = [(number(c, "gain", 1) * component_volume.get(text(c, "component_id"), 1.0), layers(c))
                  for c in e.findall("instrumentComponent")]
    if not components and e.findall("layer"):  # 0.9 files: the layers sit in the instrument
        components = [(1.0, layers(e))]
    pan, raw = _pan(e, text, number)
    return Instrument(
        id=text(e, "id"), name=text(e, "name"), drumkit=text(e, "drumkit") or None, volume=number(e, "volume", 1),
        pan=pan, pan_raw=raw, gain=number(e, "gain", 1), muted=text(e, "isMuted") == "true",
        mute_group=int(number(e, "muteGroup", -1)), apply_velocity=text(e, "applyVelocity", "true") != "false",
        pitch_offset=number(e, "pitchOffset", 0), random_pitch=number(e, "randomPitchFactor", 0),
        release=number(e, "Release", 1000), fx_sends=tuple(number(e, f"FX{k}Level", 0) for k in range(1, 5)),
        components=tuple((g, lay) for g, lay in components if lay))


def _key_semitones(key: str) -> float:
    """A note's ``key`` field (``C0``, ``Fs-1``, ...) as semitones from C0."""
    match = re.fullmatch(r"([A-G][sf]?)(-?\d+)", key.strip())
    if not match or match.group(1) not in _KEYS:
        return 0.0
    return 12 * int(match.group(2)) + _KEYS[match.group(1)]


def _hits(root, instrument_ids: set[str], swing: float, text, number) -> tuple[list[Hit], int, dict]:
    patterns: dict[str, tuple[int, list]] = {}
    for p in _children(root, "patternList"):
        patterns[text(p, "name")] = (int(number(p, "size", _EMPTY_COLUMN_TICKS)), p.findall(".//noteList/note"))  # 0.9: in sequenceList/sequence
    virtual = {text(v, "name"): [x.text.strip() for x in v.findall("virtual") if x.text]
               for v in _children(root, "virtualPatternList")}

    def expand(names: list[str]) -> list[str]:
        out: list[str] = []
        todo = list(names)
        while todo:
            name = todo.pop(0)
            if name not in out:
                out.append(name)
                todo += virtual.get(name, [])
        return out

    hits, start, counts = [], 0, {"leadlag": 0, "probability": 0}
    for group in _children(root, "patternSequence"):
        names = [n for n in expand([x.text.strip() for x in group.findall("patternID") if x.text]) if n in patterns]
        length = max((patterns[n][0] for n in names), default=_EMPTY_COLUMN_TICKS)
        for name in names:
            size, notes = patterns[name]
            for note in notes:
                position = int(number(note, "position", 0))
                instrument = text(note, "instrument")
                if position >= size or instrument not in instrument_ids:
                    continue
                offbeat = position % (TICKS_PER_QUARTER // 4) == 0 and position % (TICKS_PER_QUARTER // 2) != 0
                delay = swing * TICKS_PER_QUARTER / 8 if offbeat else 0.0
                counts["leadlag"] += number(note, "leadlag", 0) != 0
                counts["probability"] += number(note, "probability", 1) < 1
                pan, _ = _pan(note, text, number)
                pitch = number(note, "pitch", 0) + _key_semitones(text(note, "key", "C0"))
                hits.append(Hit(start + position + delay, instrument, number(note, "velocity", 0.8), pan, pitch,
                                number(note, "length", -1), text(note, "note_off") == "true"))
        start += length
    return hits, start, {f"notes_with_{k}": v for k, v in counts.items()}


def _sample_path(song: Song, instrument: Instrument, file: str) -> Path:
    """A layer's sample: as written when it exists, else by its name in the song's folder or its drumkit's."""
    given = Path(file)
    if given.is_absolute() and given.is_file():
        return given
    folders = [song.path.parent] + [base / instrument.drumkit for base in DRUMKIT_FOLDERS if instrument.drumkit]
    for folder in folders:
        candidate = folder / given.name
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{song.path}: expected the sample {given.name!r} of the instrument {instrument.name!r} "
                       f"(drumkit {instrument.drumkit!r}) in {', '.join(str(f) for f in folders)}, found nothing; "
                       f"{_INSTALL_FIX}, or install the drumkit")


@lru_cache(maxsize=256)
def _sample(path: Path, sample_rate: int, semitones: float) -> np.ndarray:
    """A sample as ``(2, frames)`` float32 at ``sample_rate``, played ``2^(semitones/12)`` times faster."""
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except (OSError, sf.LibsndfileError) as e:
        raise DatasetError(f"{path}: expected a readable sample, found an error ({e}); fix: reinstall the "
                           "drumkit") from e
    data = np.repeat(data, 2, 1) if data.shape[1] == 1 else data[:, :2]
    source_rate = rate * 2 ** (semitones / 12)
    if abs(source_rate - sample_rate) > 1e-6 * sample_rate:
        data = soxr.resample(data, source_rate, sample_rate, quality="VHQ")
    return np.ascontiguousarray(data.T, dtype=np.float32)


def _layer(component: tuple[Layer, ...], velocity: float) -> Layer:
    for layer in component:
        if layer.min_velocity <= velocity <= layer.max_velocity:
            return layer
    return min(component, key=lambda lay: abs(lay.min_velocity - velocity))


def render_tracks(song: Song, seconds: float | None, sample_rate: int) -> tuple[int, dict[str, tuple]]:
    """Render each unmuted instrument with a note in the first ``seconds`` (None: the whole song) alone.

    Returns:
        ``(frames, tracks)``: the excerpt's length in frames (the song's, or the end of its last sample, whichever
        is later, at most ``seconds``) and per instrument id ``(dry, wet, notes)``: the dry and wet stems
        ``(2, frames)`` float32 (module docstring) and its note count.
    Raises:
        DatasetError: a sample is missing or unreadable.
    """
    by_id = {i.id: i for i in song.instruments}
    tick_frames = song.tick_seconds * sample_rate
    limit = math.inf if seconds is None else seconds * sample_rate
    notes = []  # [start, hit, instrument, [(layer gain x component gain, sample)], release frame or None]
    for hit in song.hits:
        start = round(hit.tick * tick_frames)
        instrument = by_id[hit.instrument]
        if start >= limit or instrument.muted:
            continue
        for other in notes if instrument.mute_group >= 0 or hit.note_off else ():  # releases of sounding notes
            end = other[0] + max((s.shape[1] for _, s in other[3]), default=0)
            if other[4] is not None or end <= start:
                continue
            same_group = instrument.mute_group >= 0 and other[2].mute_group == instrument.mute_group
            if (same_group and other[2] is not instrument) or (hit.note_off and other[2] is instrument):
                other[4] = start
        if hit.note_off:
            continue
        pieces = []
        for component_gain, layers in instrument.components:
            layer = _layer(layers, hit.velocity)
            pitch = hit.pitch + instrument.pitch_offset + layer.pitch
            sample = _sample(_sample_path(song, instrument, layer.file), sample_rate, round(pitch, 6))
            pieces.append((layer.gain * component_gain, sample))
        release = start + round(hit.length * tick_frames) if hit.length > 0 else None
        notes.append([start, hit, instrument, pieces, release])
    song_end = song.length_ticks * tick_frames
    ring_end = max((n[0] + max((s.shape[1] for _, s in n[3]), default=0) for n in notes), default=0)
    frames = int(min(limit, max(song_end, ring_end)))
    tracks: dict[str, tuple] = {}
    for start, hit, instrument, pieces, release in notes:
        if instrument.id not in tracks:
            tracks[instrument.id] = (np.zeros((2, frames), np.float32), np.zeros((2, frames), np.float32), 0)
        dry, wet, count = tracks[instrument.id]
        tracks[instrument.id] = (dry, wet, count + 1)
        velocity = hit.velocity if instrument.apply_velocity else 1.0
        centre = np.array(pan_gains(0.0, song.pan_law, song.k_norm))
        dry_pan = np.array(pan_gains(hit.pan, song.pan_law, song.k_norm)) / centre
        total_pan = instrument.pan + hit.pan * (1 - abs(instrument.pan))
        wet_pan = np.array(pan_gains(total_pan, song.pan_law, song.k_norm)) * instrument.volume
        for gain, sample in pieces:
            n = min(sample.shape[1], frames - start)
            if n <= 0:
                continue
            audio = sample[:, :n] * np.float32(velocity * gain * instrument.gain)
            if release is not None and release - start < n:
                audio = audio * _release_envelope(n, release - start, instrument.release)
            dry[:, start:start + n] += audio * dry_pan[:, None].astype(np.float32)
            wet[:, start:start + n] += audio * wet_pan[:, None].astype(np.float32)
    return frames, tracks


def _release_envelope(n: int, at: int, release_frames: float) -> np.ndarray:
    """1 until frame ``at``, then a linear fade to 0 over ``release_frames``, ``(n,)`` float32."""
    envelope = np.ones(n, np.float32)
    at = max(0, at)
    fade = np.arange(n - at, dtype=np.float32)
    envelope[at:] = np.clip(1 - fade / max(release_frames, 1.0), 0, 1) if release_frames > 0 else 0
    return envelope
