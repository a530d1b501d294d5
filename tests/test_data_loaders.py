"""Dataset loaders, splits and excerpts, on tiny fake copies of each dataset's real layout written to tmp_path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from mixdown.data import Song, TrackFile
from mixdown.data.excerpts import activity, file_activity, random_excerpt
from mixdown.data.loaders import (
    LOADERS,
    DatasetError,
    load_cambridge,
    load_dataset,
    load_enst_drums,
    load_medleydb,
    load_moisesdb,
    load_musdb18,
    load_slakh2100,
)
from mixdown.data.splits import split_songs
from mixdown.errors import ParameterError

RATE = 8000


def tone(path: Path, frequency_hz=440.0, seconds=0.5, rate=RATE, channels=1, amplitude=0.3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    x = amplitude * np.sin(2 * np.pi * frequency_hz * t)
    sf.write(path, np.tile(x[:, None], (1, channels)), rate, subtype="PCM_16" if path.suffix == ".wav" else None)
    return path


def put_yaml(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))


# --- MUSDB18 ----------------------------------------------------------------------------------------------------

STEMS = ("mixture", "drums", "bass", "other", "vocals")


def make_musdb_wav(root: Path) -> Path:
    for split, name in [("train", "A - One"), ("train", "Leaf - Summerghost"), ("test", "C - Three")]:
        for i, stem in enumerate(STEMS):
            tone(root / split / name / f"{stem}.wav", 200 + 100 * i)
    return root


def test_musdb18_wav_layout(tmp_path):
    songs = load_musdb18(make_musdb_wav(tmp_path / "musdb"))
    assert [s.song for s in songs] == ["A - One", "Leaf - Summerghost", "C - Three"]
    assert [s.artist for s in songs] == ["A", "Leaf", "C"]
    assert [s.metadata["split"] for s in songs] == ["train", "validation", "test"]  # the official 14 held out
    assert [t.name for t in songs[0].tracks] == ["drums", "bass", "other", "vocals"]
    assert [t.role for t in songs[0].tracks] == ["drum_kit", "bass", "other", "lead_vocal"]
    assert songs[2].mix == tmp_path / "musdb" / "test" / "C - Three" / "mixture.wav"


def test_musdb18_partial_copies_name_what_is_missing(tmp_path):
    with pytest.raises(DatasetError, match=r"expected train/ and test/ folders.*found neither; fix"):
        load_musdb18(tmp_path)
    root = make_musdb_wav(tmp_path / "musdb")
    (root / "train" / "Leaf - Summerghost" / "vocals.wav").unlink()
    with pytest.raises(DatasetError, match=r"Leaf - Summerghost: expected mixture.wav.*found vocals.wav missing"):
        load_musdb18(root)
    (tmp_path / "empty" / "test").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"test: expected song folders or .stem.mp4 files, found none"):
        load_musdb18(tmp_path / "empty")


FREQUENCIES = (300.0, 500.0, 700.0, 1100.0, 1300.0)  # one per stream of the .stem.mp4


def make_stem_mp4(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    command = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
    for f in FREQUENCIES:
        command += ["-f", "lavfi", "-i", f"sine=frequency={f:g}:sample_rate=44100:duration=1"]
    for i in range(5):
        command += ["-map", f"{i}:a"]
    subprocess.run([*command, "-c:a", "aac", "-b:a", "96k", str(path)], check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH")
def test_musdb18_stem_mp4_decodes_each_stream(tmp_path, monkeypatch):
    root = tmp_path / "musdb"
    make_stem_mp4(root / "test" / "D - Four.stem.mp4")
    songs = load_musdb18(root, cache_dir=tmp_path / "cache")
    (song,) = songs
    assert (song.song, song.artist, song.metadata["source"]) == ("D - Four", "D", "stem.mp4")
    paths = [song.mix, *(t.path for t in song.tracks)]
    assert paths[0] == tmp_path / "cache" / "test" / "D - Four" / "mixture.wav"
    for path, expected_hz in zip(paths, FREQUENCIES):
        x, rate = sf.read(path)
        spectrum = np.abs(np.fft.rfft(x[2048:2048 + 32768] * np.hanning(32768)))
        assert abs(np.argmax(spectrum) * rate / 32768 - expected_hz) < 3  # stream k decoded into stem k
    make_musdb_wav(root)  # the WAV version of other songs beside it; a song in both versions is read once
    tone(root / "test" / "D - Four" / "mixture.wav")
    for stem in STEMS[1:]:
        tone(root / "test" / "D - Four" / f"{stem}.wav")
    assert [(s.song, s.metadata["source"]) for s in load_musdb18(root, cache_dir=tmp_path / "cache")][2:] == [
        ("C - Three", "wav"), ("D - Four", "wav")]
    shutil.rmtree(root / "test" / "D - Four")
    mtimes = [p.stat().st_mtime_ns for p in paths]
    monkeypatch.setattr(shutil, "which", lambda name: None)  # a second load reuses the cache, needs no ffmpeg
    again = load_musdb18(root, cache_dir=tmp_path / "cache")[3]
    assert [p.stat().st_mtime_ns for p in (again.mix, *(t.path for t in again.tracks))] == mtimes
    with pytest.raises(DatasetError, match=r"D - Four.stem.mp4: expected ffmpeg on PATH.*fix: install ffmpeg"):
        load_musdb18(root, cache_dir=tmp_path / "other_cache")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH")
def test_musdb18_stem_mp4_with_too_few_streams_fails_clearly(tmp_path):
    path = tmp_path / "musdb" / "train" / "E - Five.stem.mp4"
    path.parent.mkdir(parents=True)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=duration=0.5", "-c:a", "aac",
                    str(path)], check=True, capture_output=True)
    with pytest.raises(DatasetError, match=r"expected 5 audio streams .* stream 1 \(drums\)"):
        load_musdb18(tmp_path / "musdb", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "train" / "E - Five" / "drums.wav").exists()  # no half-written file


# --- MedleyDB ---------------------------------------------------------------------------------------------------


def make_medleydb(root: Path) -> Path:
    for name, artist in [("ArtistA_SongOne", "Artist A"), ("ArtistB_SongTwo", "Artist B")]:
        folder = root / "Audio" / name
        stems = {
            "S01": ("female singer", {"R01": "female singer"}),
            "S02": ("electric bass", {"R01": "electric bass"}),
            "S03": ("drum set", {"R01": "kick drum", "R02": "snare drum", "R03": "toms"}),
        }
        meta = {"artist": artist, "title": name.split("_")[1], "genre": "Rock", "has_bleed": "no",
                "mix_filename": f"{name}_MIX.wav", "stem_dir": f"{name}_STEMS", "raw_dir": f"{name}_RAW", "stems": {}}
        for k, (stem_id, (instrument, raws)) in enumerate(stems.items(), 1):
            raw = {}
            for j, (raw_id, raw_instrument) in enumerate(raws.items(), 1):
                raw[raw_id] = {"filename": f"{name}_RAW_{k:02d}_{j:02d}.wav", "instrument": raw_instrument}
                tone(folder / f"{name}_RAW" / raw[raw_id]["filename"])
            meta["stems"][stem_id] = {"component": "", "filename": f"{name}_STEM_{k:02d}.wav",
                                      "instrument": instrument, "raw": raw}
            tone(folder / f"{name}_STEMS" / f"{name}_STEM_{k:02d}.wav")
        tone(folder / f"{name}_MIX.wav")
        put_yaml(folder / f"{name}_METADATA.yaml", meta)
    return root


def test_medleydb_stems_and_raw_tracks(tmp_path):
    root = make_medleydb(tmp_path / "MedleyDB")
    songs = load_medleydb(root)
    assert [(s.song, s.artist, s.metadata["genre"]) for s in songs] == [
        ("ArtistA_SongOne", "Artist A", "Rock"), ("ArtistB_SongTwo", "Artist B", "Rock")]
    assert [(t.name, t.label, t.role) for t in songs[0].tracks] == [
        ("ArtistA_SongOne_STEM_01", "female singer", "lead_vocal"),
        ("ArtistA_SongOne_STEM_02", "electric bass", "bass"),
        ("ArtistA_SongOne_STEM_03", "drum set", "drum_kit"),
    ]
    assert songs[0].mix == root / "Audio" / "ArtistA_SongOne" / "ArtistA_SongOne_MIX.wav"
    raw = load_dataset("medleydb", root / "Audio", tracks="raw")  # the Audio folder itself works too
    assert [t.role for t in raw[1].tracks] == ["lead_vocal", "bass", "kick", "snare", "toms"]
    assert raw[1].tracks[3].name == "ArtistB_SongTwo_RAW_03_02"


def test_medleydb_partial_copies_name_what_is_missing(tmp_path):
    root = make_medleydb(tmp_path / "MedleyDB")
    (root / "Audio" / "ArtistB_SongTwo" / "ArtistB_SongTwo_RAW" / "ArtistB_SongTwo_RAW_03_01.wav").unlink()
    load_medleydb(root)  # stems are all there
    with pytest.raises(DatasetError, match=r"ArtistB_SongTwo_RAW_03_01.wav: expected the audio of S03/R01 "
                                           r"\(kick drum\) listed in ArtistB_SongTwo_METADATA.yaml"):
        load_medleydb(root, tracks="raw")
    (root / "Audio" / "ArtistA_SongOne" / "ArtistA_SongOne_METADATA.yaml").unlink()
    with pytest.raises(DatasetError, match=r"ArtistA_SongOne_METADATA.yaml: expected the song's metadata.*found "
                                           r"nothing at this path"):
        load_medleydb(root)
    (tmp_path / "empty" / "Audio").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"Audio: expected song folders"):
        load_medleydb(tmp_path / "empty")
    with pytest.raises(ParameterError, match="tracks"):
        load_medleydb(root, tracks="mix")


# --- ENST-Drums -------------------------------------------------------------------------------------------------

MICS = ("hi-hat", "kick", "overhead_L", "overhead_R", "snare", "tom_1", "tom_2", "dry_mix", "wet_mix")


def make_enst(root: Path) -> Path:
    for drummer, takes in [("drummer_1", ["001_hits_snare", "002_phrase_rock"]), ("drummer_2", ["003_solo"])]:
        for mic in MICS:
            for take in takes:
                tone(root / drummer / "audio" / mic / f"{take}.wav", seconds=0.2)
        (root / drummer / "annotation").mkdir()
    return root


def test_enst_drums_layout(tmp_path):
    songs = load_enst_drums(make_enst(tmp_path / "ENST"))
    assert [s.song for s in songs] == ["drummer_1/001_hits_snare", "drummer_1/002_phrase_rock", "drummer_2/003_solo"]
    assert [s.artist for s in songs] == ["drummer_1", "drummer_1", "drummer_2"]
    assert [(t.name, t.role) for t in songs[0].tracks] == [
        ("hi-hat", "hihat"), ("kick", "kick"), ("overhead_L", "overheads_room"), ("overhead_R", "overheads_room"),
        ("snare", "snare"), ("tom_1", "toms"), ("tom_2", "toms")]
    assert songs[2].mix == tmp_path / "ENST" / "drummer_2" / "audio" / "wet_mix" / "003_solo.wav"
    assert set(songs[2].metadata["mixes"]) == {"dry_mix", "wet_mix"}


def test_enst_drums_partial_copies_name_what_is_missing(tmp_path):
    with pytest.raises(DatasetError, match=r"expected drummer_\{1,2,3\}/audio/<mic>/<take>.wav, found no drummer_N"):
        load_enst_drums(tmp_path)
    root = make_enst(tmp_path / "ENST")
    shutil.rmtree(root / "drummer_2" / "audio")
    with pytest.raises(DatasetError, match=r"drummer_2/audio: expected a folder of microphone folders"):
        load_enst_drums(root)


# --- MoisesDB ---------------------------------------------------------------------------------------------------


def make_moisesdb(root: Path) -> Path:
    songs = {
        "0a1b": ("Band One", [("vocals", "lead_female_singer"), ("drums", "kick_drum"), ("drums", "snare_drum"),
                              ("bass", "bass_guitar")]),
        "9f8e": ("Band Two", [("guitar", "clean_electric_guitar"), ("guitar", "clean_electric_guitar"),
                              ("other_keys", "mystery_box")]),
    }
    for uuid, (artist, tracks) in songs.items():
        stems: dict[str, list] = {}
        for i, (stem, kind) in enumerate(tracks):
            track_id = f"{uuid}-t{i}"
            stems.setdefault(stem, []).append({"trackType": kind, "id": track_id, "extension": "wav",
                                               "has_bleed": False})
            tone(root / uuid / stem / f"{track_id}.wav", seconds=0.2)
        data = {"song": f"Song of {artist}", "artist": artist, "genre": "pop",
                "stems": [{"stemName": s, "id": f"{uuid}-{s}", "tracks": t} for s, t in stems.items()]}
        (root / uuid / "data.json").write_text(json.dumps(data))
    return root


def test_moisesdb_layout(tmp_path):
    songs = load_moisesdb(make_moisesdb(tmp_path / "moisesdb"))
    assert [(s.song, s.artist, s.mix) for s in songs] == [("0a1b", "Band One", None), ("9f8e", "Band Two", None)]
    assert [(t.name, t.role) for t in songs[0].tracks] == [
        ("vocals.lead_female_singer", "lead_vocal"), ("drums.kick_drum", "kick"), ("drums.snare_drum", "snare"),
        ("bass.bass_guitar", "bass")]
    # repeated names get a suffix; an unknown track type falls back on its stem's role
    assert [(t.name, t.role) for t in songs[1].tracks] == [
        ("guitar.clean_electric_guitar", "electric_guitar"), ("guitar.clean_electric_guitar_2", "electric_guitar"),
        ("other_keys.mystery_box", "piano_keys")]


def test_moisesdb_partial_copies_name_what_is_missing(tmp_path):
    root = make_moisesdb(tmp_path / "moisesdb")
    (root / "9f8e" / "guitar" / "9f8e-t1.wav").unlink()
    with pytest.raises(DatasetError, match=r"9f8e-t1.wav: expected the audio of track 'clean_electric_guitar' of "
                                           r"stem 'guitar' listed in data.json"):
        load_moisesdb(root)
    (root / "0a1b" / "data.json").unlink()
    with pytest.raises(DatasetError, match=r"0a1b/data.json: expected the song's metadata"):
        load_moisesdb(root)
    with pytest.raises(DatasetError, match=r"expected song folders.*found none"):
        load_moisesdb(tmp_path / "moisesdb" / "0a1b" / "drums")


# --- Slakh2100 --------------------------------------------------------------------------------------------------


def make_slakh(root: Path, ext=".wav") -> Path:
    for split, track in [("train", "Track00001"), ("train", "Track00002"), ("validation", "Track01501"),
                         ("test", "Track01876"), ("omitted", "Track02099")]:
        folder = root / split / track
        stems = {
            "S00": {"inst_class": "Guitar", "program_num": 25, "is_drum": False, "audio_rendered": True,
                    "midi_program_name": "Acoustic Guitar (steel)"},
            "S01": {"inst_class": "Bass", "program_num": 33, "is_drum": False, "audio_rendered": True,
                    "midi_program_name": "Electric Bass (finger)"},
            "S02": {"inst_class": "Drums", "program_num": 128, "is_drum": True, "audio_rendered": True,
                    "midi_program_name": "Drums"},
            "S03": {"inst_class": "Piano", "program_num": 0, "is_drum": False, "audio_rendered": False,
                    "midi_program_name": "Acoustic Grand Piano"},
        }
        put_yaml(folder / "metadata.yaml", {"UUID": track.lower(), "midi_filename": "x.mid", "stems": stems})
        for stem_id, stem in stems.items():
            if stem["audio_rendered"]:
                tone(folder / "stems" / f"{stem_id}{ext}", seconds=0.2)
        tone(folder / f"mix{ext}", seconds=0.2)
    return root


@pytest.mark.parametrize("ext", [".wav", ".flac"])  # Slakh2100 and its flac_redux
def test_slakh2100_layout(tmp_path, ext):
    songs = load_slakh2100(make_slakh(tmp_path / "slakh", ext))
    assert [(s.song, s.metadata["split"]) for s in songs] == [
        ("Track00001", "train"), ("Track00002", "train"), ("Track01501", "validation"), ("Track01876", "test"),
        ("Track02099", "omitted")]
    assert [(t.name, t.role, t.label) for t in songs[0].tracks] == [  # S03 not rendered: skipped
        ("S00", "acoustic_guitar", "Acoustic Guitar (steel)"), ("S01", "bass", "Electric Bass (finger)"),
        ("S02", "drum_kit", "Drums")]
    assert songs[0].mix == tmp_path / "slakh" / "train" / "Track00001" / f"mix{ext}"
    assert songs[0].artist is None


def test_slakh2100_partial_copies_name_what_is_missing(tmp_path):
    root = make_slakh(tmp_path / "slakh")
    (root / "test" / "Track01876" / "stems" / "S01.wav").unlink()
    with pytest.raises(DatasetError, match=r"Track01876/stems/S01.wav: expected the audio of rendered stem S01"):
        load_slakh2100(root)
    (root / "train" / "Track00002" / "metadata.yaml").unlink()
    with pytest.raises(DatasetError, match=r"Track00002/metadata.yaml: expected the track's metadata"):
        load_slakh2100(root)
    with pytest.raises(DatasetError, match=r"found no split folder; fix: point at the folder that holds them"):
        load_slakh2100(root / "train")


# --- Cambridge-MT folders ---------------------------------------------------------------------------------------


def make_cambridge(root: Path) -> Path:
    for name in ["01_Kick.wav", "02_SnareTop.wav", "03_Bass DI.wav", "04_LeadVox.flac", "Song_Mix.wav"]:
        tone(root / "Some Artist - Some Song" / name, seconds=0.2)
    for name in ["gtr.wav", "BGV 2.wav"]:
        tone(root / "Untitled" / name, seconds=0.2)
    return root


def test_cambridge_layout(tmp_path):
    songs = load_cambridge(make_cambridge(tmp_path / "mt"))
    assert [(s.song, s.artist, s.metadata["title"]) for s in songs] == [
        ("Some Artist - Some Song", "Some Artist", "Some Song"), ("Untitled", None, "Untitled")]
    assert [(t.name, t.role) for t in songs[0].tracks] == [
        ("01_Kick", "kick"), ("02_SnareTop", "snare"), ("03_Bass DI", "bass"), ("04_LeadVox", "lead_vocal")]
    assert songs[0].mix.name == "Song_Mix.wav" and songs[1].mix is None
    assert [t.role for t in songs[1].tracks] == ["backing_vocal", "electric_guitar"]


def test_cambridge_partial_copies_name_what_is_missing(tmp_path):
    root = make_cambridge(tmp_path / "mt")
    (root / "Empty").mkdir()
    with pytest.raises(DatasetError, match=r"Empty: expected multitrack audio files.*found none"):
        load_cambridge(root)
    (root / "Empty").rmdir()
    tone(root / "Untitled" / "rough mix.wav", seconds=0.2)
    tone(root / "Untitled" / "mixdown.wav", seconds=0.2)
    with pytest.raises(DatasetError, match=r"Untitled: expected at most one mix file, found mixdown.wav, rough mix"):
        load_cambridge(root)
    (tmp_path / "nothing_here").mkdir()
    with pytest.raises(DatasetError, match=r"nothing_here: expected song folders.*found none"):
        load_cambridge(tmp_path / "nothing_here")


def test_registry_lists_every_dataset():
    assert set(LOADERS) == {"musdb18", "medleydb", "enst_drums", "moisesdb", "slakh2100", "cambridge", "synth"}
    with pytest.raises(ParameterError, match=r"expected a dataset in .*found 'musdb'"):
        load_dataset("musdb", "/nowhere")
    with pytest.raises(DatasetError, match=r"/nowhere/at/all: expected .*found nothing at this path"):
        load_dataset("slakh2100", "/nowhere/at/all")


# --- splits -----------------------------------------------------------------------------------------------------


def fake_songs(n=200) -> list[Song]:
    """Songs by 70 artists (1-5 songs each) and 20 with no artist, from two datasets."""
    rng = np.random.default_rng(7)
    songs = []
    for i in range(n - 20):
        artist = f"Artist {int(rng.integers(70))}"
        songs.append(Song("a" if i % 2 else "b", f"s{i}", [], artist=artist.upper() if i % 5 == 0 else artist))
    songs += [Song("b", f"u{i}", []) for i in range(20)]
    return songs


def test_splits_are_disjoint_by_song_and_artist_and_reproducible():
    songs = fake_songs()
    parts = split_songs(songs, seed=3)
    ids = {name: {(s.dataset, s.song) for s in part} for name, part in parts.items()}
    assert sum(len(v) for v in ids.values()) == len(songs) == len(set.union(*ids.values()))
    artists = {name: {s.artist.casefold() for s in part if s.artist} for name, part in parts.items()}
    assert not artists["train"] & artists["validation"] and not artists["train"] & artists["test"]
    assert not artists["validation"] & artists["test"]  # "ARTIST 5" and "Artist 5" are one artist
    largest_group = max(sum(1 for s in songs if s.artist and s.artist.casefold() == a) for a in artists["train"])
    for name, fraction in zip(("train", "validation", "test"), (0.8, 0.1, 0.1)):
        assert abs(len(parts[name]) - fraction * len(songs)) <= largest_group
    same = split_songs(list(reversed(songs)), seed=3)
    assert all([s.song for s in same[k]] == [s.song for s in parts[k]] for k in parts)
    assert [s.song for s in split_songs(songs, seed=4)["test"]] != [s.song for s in parts["test"]]


def test_splits_of_single_songs_hit_the_fractions_exactly():
    songs = [Song("x", f"s{i}", []) for i in range(50)]
    parts = split_songs(songs, (0.6, 0.2, 0.2), seed=0)
    assert [len(parts[k]) for k in ("train", "validation", "test")] == [30, 10, 10]
    with pytest.raises(ParameterError, match="summing to 1"):
        split_songs(songs, (0.8, 0.1, 0.2))
    with pytest.raises(ParameterError, match="x/s1 twice"):
        split_songs(songs + [songs[1]])


def test_a_datasets_own_split_group_outranks_the_artist():
    # a synthetic corpus: one composer for every chorale, but each score (rendered several times) is the unit
    songs = [Song("synth", f"c{i}", [], artist="bach", metadata={"split_group": f"music21:bwv{i % 20}"})
             for i in range(60)]
    parts = split_songs(songs, seed=0)
    assert [len(parts[k]) for k in ("train", "validation", "test")] == [48, 6, 6]  # not all 60 in train
    scores = {k: {s.metadata["split_group"] for s in part} for k, part in parts.items()}
    assert not scores["train"] & scores["validation"] and not scores["train"] & scores["test"]
    assert not scores["validation"] & scores["test"]


def test_official_splits_are_kept(tmp_path):
    musdb = load_musdb18(make_musdb_wav(tmp_path / "musdb"))
    slakh = load_slakh2100(make_slakh(tmp_path / "slakh"))
    extra = [Song("cambridge", "x", [], artist="A"), Song("cambridge", "y", [], artist="Z")]
    parts = split_songs(musdb + slakh + extra, seed=0, official=True)
    names = {k: [s.song for s in v] for k, v in parts.items()}
    assert {"A - One", "Track00001", "Track00002", "x"} <= set(names["train"])  # x: artist A is in train
    assert {"Track01501", "Leaf - Summerghost"} <= set(names["validation"])
    assert {"C - Three", "Track01876"} <= set(names["test"])
    assert all("Track02099" not in v for v in names.values())  # Slakh's omitted tracks are left out
    assert sum(len(v) for v in names.values()) == len(musdb) + len(slakh) + len(extra) - 1


# --- excerpts ---------------------------------------------------------------------------------------------------


def write(path: Path, x: np.ndarray, rate=RATE) -> Path:
    sf.write(path, x.T if x.ndim == 2 else x, rate, subtype="FLOAT")
    return path


def sine(seconds, frequency_hz=220.0, amplitude=0.5, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * frequency_hz * t)


def test_activity_follows_the_track_own_level():
    x = np.concatenate([sine(1.0, amplitude=0.5), sine(1.0, amplitude=0.5 * 10 ** (-45 / 20)), np.zeros(RATE)])
    active = activity(x, RATE)
    assert active.shape == (30,)
    assert active[:10].all() and not active[10:].any()  # -45 dB re the loudest frame: more than 40 dB down
    quiet = activity(x * 10 ** (-10 / 20), RATE)[10:20]  # -61 dBFS: below the floor whatever the range
    assert not quiet.any()
    assert activity(x[10 * RATE // 10:], RATE)[:10].all()  # alone, the -45 dB part is the track's loudest


def make_song(folder: Path, rate=RATE) -> Song:
    """10 s: a loud guitar throughout, a quiet shaker (-45 dBFS) in the second half only, a bass with -70 dBFS
    noise in the first half and playing in the second, and a mix."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 10 * rate
    half = np.arange(n) >= n // 2
    noise = np.random.default_rng(0).standard_normal(n) * 10 ** (-70 / 20)
    guitar = write(folder / "guitar.wav", sine(10, 330, 0.5, rate), rate)
    shaker = write(folder / "shaker.wav", sine(10, 2000, 10 ** (-45 / 20) * np.sqrt(2), rate) * half, rate)
    bass = write(folder / "bass.wav", np.where(half, sine(10, 55, 0.5, rate), noise), rate)
    mix = write(folder / "mix.wav", np.stack([sine(10, 330, 0.3, rate)] * 2), rate)
    tracks = [TrackFile("guitar", guitar, "electric_guitar"), TrackFile("shaker", shaker, "percussion"),
              TrackFile("bass", bass, "bass")]
    return Song("test", "song", tracks, mix=mix)


def test_excerpts_land_where_enough_tracks_play(tmp_path):
    song = make_song(tmp_path)
    assert file_activity(song.tracks[1].path)[:50].sum() == 0 and file_activity(song.tracks[1].path)[50:].all()
    starts = []
    for seed in range(20):
        ex = random_excerpt(song, 2.0, RATE, np.random.default_rng(seed), max_tracks=3, min_active_tracks=3)
        starts.append(ex.start_s)
        # shaker and bass both play in more than half of the window: start > 5 s - 1 s
        assert ex.start_s > 4.0 - 1e-9 and ex.start_s <= 8.0 + 1e-9
        bass = ex.audio[2, 0].numpy()
        assert np.sqrt(np.mean(bass ** 2)) > 0.25  # a 0.5 sine (RMS 0.35) over more than half the window
    assert len(set(starts)) > 5  # spread over the valid starts, not one fixed place
    # 2 tracks required: still not the first half, where the bass's -70 dBFS noise does not count as playing
    early = [random_excerpt(song, 2.0, RATE, np.random.default_rng(s), 3, min_active_tracks=2).start_s
             for s in range(30)]
    assert min(early) > 4.0 - 1e-9
    silent = TrackFile("silent", write(tmp_path / "silent.wav", np.zeros(10 * RATE)))
    with pytest.raises(DatasetError, match=r"test/song: expected a 2 s window where 2 track\(s\) play, found at most 1"):
        random_excerpt(Song("test", "song", [song.tracks[0], silent]), 2.0, RATE, np.random.default_rng(0), 3)


def test_excerpt_is_deterministic_padded_and_masked(tmp_path):
    song = make_song(tmp_path)
    a = random_excerpt(song, 1.5, RATE, np.random.default_rng(11), max_tracks=5)
    b = random_excerpt(song, 1.5, RATE, np.random.default_rng(11), max_tracks=5)
    assert a.start_s == b.start_s and a.audio.equal(b.audio) and a.mix.equal(b.mix)
    assert a.audio.shape == (5, 2, 12000) and a.mix.shape == (2, 12000)
    assert a.mask.tolist() == [True, True, True, False, False]
    assert a.names == ["guitar", "shaker", "bass"] and a.roles == ["electric_guitar", "percussion", "bass"]
    assert a.song == "test/song"
    assert a.audio[3:].abs().max() == 0 and a.audio[:, 0].equal(a.audio[:, 1])  # mono copied to both channels
    start = round(a.start_s * RATE)
    expected = sf.read(song.tracks[0].path, start=start, frames=12000, dtype="float32")[0]
    assert np.allclose(a.audio[0, 0].numpy(), expected)  # exactly the span of the file
    # fewer rows than tracks: the playing ones are kept
    c = random_excerpt(song, 2.0, RATE, np.random.default_rng(0), max_tracks=2, min_active_tracks=2)
    assert c.mask.all() and len(c.names) == 2
    # one track kept, or a one-track song: the requirement is capped at what the excerpt can hold
    d = random_excerpt(Song("t", "bass only", song.tracks[2:]), 2.0, RATE, np.random.default_rng(0), max_tracks=1)
    assert d.names == ["bass"] and d.start_s > 4.0 - 1e-9


def test_excerpt_resamples_files_at_another_rate(tmp_path):
    path = write(tmp_path / "a.wav", sine(3, 1000, 0.5, 22050), 22050)
    path_b = write(tmp_path / "b.wav", sine(3, 500, 0.5, 22050), 22050)
    song = Song("t", "s", [TrackFile("a", path), TrackFile("b", path_b)])
    ex = random_excerpt(song, 1.0, 44100, np.random.default_rng(0), max_tracks=2)
    x = ex.audio[0, 0].numpy()
    assert x.shape == (44100,)
    spectrum = np.abs(np.fft.rfft(x[1000:-1000]))
    assert abs(np.argmax(spectrum) * 44100 / x[1000:-1000].size - 1000) < 2
    with pytest.raises(DatasetError, match=r"t/s: expected at least 4 s of audio, found 3.00 s"):
        random_excerpt(song, 4.0, 44100, np.random.default_rng(0), max_tracks=2)
    with pytest.raises(ParameterError, match="numpy.random.Generator"):
        random_excerpt(song, 1.0, 44100, 0, max_tracks=2)


def test_cached_activity_follows_file_changes(tmp_path):
    path = write(tmp_path / "a.wav", sine(1.0))
    assert file_activity(path).all()
    write(path, np.concatenate([np.zeros(RATE // 2), sine(0.5)]))
    os.utime(path, ns=(1, 1))  # a different mtime, whatever the clock resolution
    assert file_activity(path).sum() == 5


def test_docs_list_the_role_tables():
    from mixdown.data.loaders.docs import role_tables_markdown

    docs = (Path(__file__).resolve().parents[1] / "docs" / "data.md").read_text()
    assert "## Dataset loaders" in docs
    assert role_tables_markdown() in docs, "regenerate: python -m mixdown.data.loaders.docs"


def test_cli_data_info_summarises_a_dataset_and_names_a_bad_folder(tmp_path):
    from typer.testing import CliRunner

    from mixdown.cli import app

    root = make_cambridge(tmp_path / "mt")
    out = CliRunner().invoke(app, ["data", "info", "cambridge", str(root)])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "cambridge: 2 songs, 6 tracks, 1 with a mix" in text and "kick 1" in text and "lead_vocal 1" in text
    bad = CliRunner().invoke(app, ["data", "info", "musdb18", str(tmp_path / "mt")])
    assert bad.exit_code == 2 and "expected train/ and test/ folders" in " ".join(bad.output.split())


# --- checking a dataset -----------------------------------------------------------------------------------------

def test_check_finds_silent_clipping_and_mislabelled_tracks(tmp_path):
    from mixdown.data.check import check_songs

    tracks = [TrackFile("bass", tone(tmp_path / "bass.wav", 110.0), "bass", "Electric Bass (finger)"),
              TrackFile("keys", tone(tmp_path / "keys.wav", 440.0, amplitude=1e-4), "piano_keys", "Electric Piano 1"),
              TrackFile("lead", tone(tmp_path / "lead.wav", 880.0, amplitude=1.0), "strings", "Violin")]
    meta = {"instruments": [{"stem": "bass", "program": 33}, {"stem": "keys", "program": 4},
                            {"stem": "lead", "program": 81}]}  # 81 is a synth lead, not strings
    result = check_songs([Song("synth", "s0", tracks, metadata=meta)])
    by_name = {t.track: t for t in result.tracks}
    assert by_name["bass"].peak_dbfs == pytest.approx(20 * np.log10(0.3), abs=0.01) and by_name["bass"].clipped == 0
    assert [t.track for t in result.silent] == ["keys"]  # -80 dBFS peak
    assert [t.track for t in result.clipping] == ["lead"] and by_name["lead"].clipped >= 40  # the sine's crests at 16-bit full scale
    assert [t.track for t in result.role_mismatches] == ["lead"] and by_name["bass"].role_matches
    summary = result.summary()
    assert (summary["tracks"], summary["silent"], summary["clipping"], summary["role_mismatches"]) == (3, 1, 1, 1)
    assert summary["roles"] == {"bass": 1, "piano_keys": 1, "strings": 1} and summary["instruments"]["Violin"] == 1
    assert by_name["bass"].active_share == 1.0
