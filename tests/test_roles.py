"""Track roles: the name vocabulary on a table of real-world file names, the audio rules on synthetic signals,
session detection with overrides, and (opt-in) the real recordings in /work/shared/data/real."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from mixdown.analysis.roles import (
    AUDIO_MAX_CONFIDENCE,
    FAMILIES,
    ROLE_NAMES,
    ROLES,
    RoleGuess,
    detect_roles,
    family_of,
    role_from_audio,
    role_from_name,
    taxonomy_table,
)
from mixdown.audio.session import Session, Track, load_session
from mixdown.errors import AudioInputError, ParameterError

SAMPLE_RATE = 22050
DEMO_STEMS = Path(__file__).resolve().parents[1] / "mixdown/assets/demo/saber-finalstep/stems"
REAL = Path("/work/shared/data/real")

# (file name, expected role): DAW exports, engineers' abbreviations, other languages.
NAME_TABLE = [
    ("Kick In.wav", "kick"), ("Kick Out.wav", "kick"), ("Kck.wav", "kick"), ("BD.wav", "kick"),
    ("02_Kick_Sub.wav", "kick"), ("Bass Drum.wav", "kick"), ("808 kick.wav", "kick"), ("KICKIN.wav", "kick"),
    ("04_SN_Top.wav", "snare"), ("Snare Btm.wav", "snare"), ("Snr 2.wav", "snare"), ("SN top.aif", "snare"),
    ("SnareTop.wav", "snare"), ("OH_L.wav", "overheads_room"), ("OH R.wav", "overheads_room"),
    ("Overheads.wav", "overheads_room"), ("Room.wav", "overheads_room"), ("Amb Mono.wav", "overheads_room"),
    ("Ride.wav", "overheads_room"), ("HH.wav", "hihat"), ("Hat.wav", "hihat"), ("Hi-Hat.wav", "hihat"),
    ("HiHat.wav", "hihat"), ("Tom 1.wav", "toms"), ("Floor Tom.wav", "toms"), ("FT.wav", "toms"),
    ("Rack.wav", "toms"), ("Drums.wav", "drum_kit"), ("Drum Bus.wav", "drum_kit"), ("DrumLoop_120bpm.wav", "drum_kit"),
    ("Vox Ld.wav", "lead_vocal"), ("Lead Vocal.wav", "lead_vocal"), ("LV.wav", "lead_vocal"),
    ("LeadVox_Comp.wav", "lead_vocal"), ("Vocals.wav", "lead_vocal"), ("BV.wav", "backing_vocal"),
    ("BGV 2.wav", "backing_vocal"), ("Backing Vox.wav", "backing_vocal"), ("Harmony 1.wav", "backing_vocal"),
    ("Choir.wav", "backing_vocal"), ("Vox BG L.wav", "backing_vocal"), ("Gtr DI L.wav", "electric_guitar"),
    ("EG 1.wav", "electric_guitar"), ("Elec Gtr.wav", "electric_guitar"), ("Lead Gtr.wav", "electric_guitar"),
    ("Guitar Amp.wav", "electric_guitar"), ("AG.wav", "acoustic_guitar"), ("Acou Gtr.wav", "acoustic_guitar"),
    ("Acoustic Guitar.wav", "acoustic_guitar"), ("Bass Amp.wav", "bass"), ("Bass DI.wav", "bass"),
    ("Sub.wav", "bass"), ("808.wav", "bass"), ("Synth Bass.wav", "bass"), ("Bass Gtr.wav", "bass"),
    ("Keys.wav", "piano_keys"), ("Pno L.wav", "piano_keys"), ("Piano.wav", "piano_keys"),
    ("Rhodes.wav", "piano_keys"), ("Organ.wav", "piano_keys"), ("ePiano.wav", "piano_keys"),
    ("Pad.wav", "synth_pad"), ("Synth Pad.wav", "synth_pad"), ("Str.wav", "strings"), ("Strings.wav", "strings"),
    ("Violin 1.wav", "strings"), ("Cello.wav", "strings"), ("Viola.wav", "strings"), ("Brass.wav", "brass_winds"),
    ("Horn Section.wav", "brass_winds"), ("Tpt.wav", "brass_winds"), ("Trumpet.wav", "brass_winds"),
    ("Sax.wav", "brass_winds"), ("Flute.wav", "brass_winds"), ("Bass Clarinet.wav", "brass_winds"),
    ("Perc.wav", "percussion"), ("Shaker.wav", "percussion"), ("Tamb.wav", "percussion"),
    ("Conga.wav", "percussion"), ("Claps.wav", "percussion"), ("FX.wav", "fx"), ("Riser.wav", "fx"),
    ("Sweep Up.wav", "fx"), ("Reverse Cymbal.wav", "fx"), ("Choir Pad.wav", "synth_pad"),
    ("Lead.wav", "synth_lead"), ("Synth.wav", "synth_lead"), ("Arp 1.wav", "synth_lead"),
    ("Audio 03-01.wav", "other"), ("Track 3.wav", "other"), ("01_.wav", "other"), ("Click.wav", "other"),
    # es / pt
    ("bateria.wav", "drum_kit"), ("caja.wav", "snare"), ("bombo.wav", "kick"), ("voz principal.wav", "lead_vocal"),
    ("coros.wav", "backing_vocal"), ("guitarra electrica.wav", "electric_guitar"),
    ("Guitarra Acústica.wav", "acoustic_guitar"), ("bajo.wav", "bass"), ("baixo.wav", "bass"),
    ("teclado.wav", "piano_keys"), ("cuerdas.wav", "strings"), ("violão.wav", "acoustic_guitar"),
    # de
    ("Gesang.wav", "lead_vocal"), ("Hauptgesang.wav", "lead_vocal"), ("Schlagzeug.wav", "drum_kit"),
    ("Gitarre.wav", "electric_guitar"), ("Bläser.wav", "brass_winds"), ("Chor.wav", "backing_vocal"),
    # fr
    ("voix.wav", "lead_vocal"), ("batterie.wav", "drum_kit"), ("guitare.wav", "electric_guitar"),
    ("basse.wav", "bass"), ("cordes.wav", "strings"), ("Chœurs.wav", "backing_vocal"),
    ("grosse caisse.wav", "kick"), ("caisse claire.wav", "snare"),
    # it
    ("voce.wav", "lead_vocal"), ("chitarra.wav", "electric_guitar"), ("batteria.wav", "drum_kit"),
    ("basso.wav", "bass"), ("rullante.wav", "snare"),
]

DEMO_ROLES = {
    "01_kick_909": "kick",
    "02_snare_rim": "snare",
    "03_rim": "snare",
    "04_rimshot_808": "snare",
    "05_hihat_closed_909": "hihat",
    "06_hihat_closed_808": "hihat",
    "07_hihat_open_808": "hihat",
    "08_bass": "bass",
    "09_slow_strings_pad": "synth_pad",
    "10_strings_pad2": "synth_pad",
    "11_lead_tripleosc": "synth_lead",
    "12_phased_pad": "synth_pad",
}


def test_taxonomy_is_complete_and_printable():
    assert len(ROLES) == 19 and len(set(ROLE_NAMES)) == 19 and ROLE_NAMES[-1] == "other"
    assert {r.family for r in ROLES} == set(FAMILIES)
    assert family_of("kick") == "drums" and family_of("backing_vocal") == "vocals" and family_of("bass") == "bass"
    assert family_of("piano_keys") == "other"
    table = taxonomy_table().splitlines()
    assert len(table) == 19 and all(line.split()[0] == r.name for line, r in zip(table, ROLES))
    with pytest.raises(ParameterError, match="expected a role"):
        family_of("vocal")


def test_name_table_accuracy():
    assert len(NAME_TABLE) >= 60
    misses = [(name, expected, role_from_name(name)) for name, expected in NAME_TABLE
              if role_from_name(name).role != expected]
    accuracy = 1 - len(misses) / len(NAME_TABLE)
    print(f"\nname table: {len(NAME_TABLE) - len(misses)}/{len(NAME_TABLE)} = {accuracy:.1%}")
    assert accuracy >= 0.95, f"accuracy {accuracy:.1%}, misses: {misses}"


def test_demo_names():
    names = sorted(p.stem for p in DEMO_STEMS.glob("*.flac"))
    assert names == sorted(DEMO_ROLES)
    got = {name: role_from_name(name).role for name in names}
    assert got == DEMO_ROLES


@pytest.mark.parametrize("name, confidence", [
    ("Kick In", (0.85, 1.0)), ("808", (0.3, 0.5)), ("KICKIN", (0.5, 0.8)), ("Audio 03-01", (0.0, 0.0)),
    ("Lead Synth", (0.6, 0.7)),
])
def test_name_confidence_ranges(name, confidence):
    guess = role_from_name(name)
    assert confidence[0] <= guess.confidence <= confidence[1], guess
    assert isinstance(guess.reason, str) and guess.reason


def test_name_tokenising_and_reason():
    assert role_from_name("07_hihat_open_808.flac").reason.startswith("name words ['hihat']")
    assert role_from_name("Kick In.wav") == role_from_name("kick_in") == role_from_name("KickIn")
    assert role_from_name("1-Snare.wav").role == role_from_name("Track 3 Snare").role == "snare"
    unknown = role_from_name("Audio 03-01.wav")
    assert unknown == RoleGuess("other", 0.0, unknown.reason) and "audio" in unknown.reason
    with pytest.raises(ParameterError, match="expected a track name"):
        role_from_name(3)


def _noise_bursts(seconds=4.0, rate=4.0, channels=1):
    n = int(seconds * SAMPLE_RATE)
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(n) / SAMPLE_RATE
    envelope = torch.exp(-(t % (1 / rate)) / 0.03)  # a hit every 1/rate s, 30 ms decay
    return 0.5 * envelope * torch.randn(channels, n, generator=gen)


def _sine(freq_hz, seconds=4.0, amplitude=0.5):
    t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return amplitude * torch.sin(2 * math.pi * freq_hz * t)


def _slow_stereo_chord(seconds=4.0):
    t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    fade = torch.clamp(t / 1.0, max=1.0)  # 1 s attack: no onset transient
    left = sum(torch.sin(2 * math.pi * f * t) for f in (220.0, 277.2, 329.6))
    right = sum(torch.sin(2 * math.pi * f * 1.004 * t + 1.0) for f in (220.0, 277.2, 329.6))
    return 0.15 * fade * torch.stack([left, right])


def test_audio_rules_on_synthetic_signals():
    bass = role_from_audio(_sine(55.0)[None], SAMPLE_RATE)
    assert bass.role == "bass" and bass.family == "bass", bass
    drums = role_from_audio(_noise_bursts(), SAMPLE_RATE)
    assert drums.family == "drums", drums
    pad = role_from_audio(_slow_stereo_chord(), SAMPLE_RATE)
    assert pad.role in {"synth_pad", "piano_keys"}, pad
    for guess in (bass, drums, pad):
        assert 0.3 <= guess.confidence <= AUDIO_MAX_CONFIDENCE
        assert "percussive_share" in guess.reason and "low_share" in guess.reason


def test_audio_edge_cases_and_errors():
    assert role_from_audio(torch.zeros(2, SAMPLE_RATE), SAMPLE_RATE) == RoleGuess("other", 0.0, "audio: silent")
    assert role_from_audio(torch.ones(1, 100), SAMPLE_RATE).confidence == 0.0
    with pytest.raises(AudioInputError, match=r"expected a tensor shaped \(channels, samples\)"):
        role_from_audio(torch.zeros(3, SAMPLE_RATE), SAMPLE_RATE)
    with pytest.raises(ParameterError, match="positive sample_rate"):
        role_from_audio(torch.zeros(1, SAMPLE_RATE), 0)


def _session(named_audio: dict[str, torch.Tensor]) -> Session:
    n = max(a.shape[1] for a in named_audio.values())
    tracks = [Track(name, Path(f"{name}.wav"), torch.nn.functional.pad(a, (0, n - a.shape[1])), SAMPLE_RATE)
              for name, a in named_audio.items()]
    return Session(tracks, SAMPLE_RATE)


def test_detect_roles_name_audio_and_overrides():
    session = _session({
        "04_SN_Top": _noise_bursts(),
        "Audio 03-01": _sine(55.0)[None],
        "808": _noise_bursts(),  # weak name (0.4), the audio is more sure: drums
        "Lead": _slow_stereo_chord(),
        "Keys": _sine(440.0)[None],
    })
    roles = detect_roles(session)
    assert list(roles) == session.names()
    assert roles["04_SN_Top"].role == "snare" and roles["04_SN_Top"].reason.startswith("name words")
    assert roles["Audio 03-01"].role == "bass" and roles["Audio 03-01"].reason.startswith("audio features")
    assert roles["808"].family == "drums"
    assert roles["Keys"].role == "piano_keys"
    assert all(t.role is None for t in session.tracks)  # the session is left alone

    roles = detect_roles(session, overrides={"Keys": "synth_lead", "Audio 03-01": "fx"})
    assert roles["Keys"] == RoleGuess("synth_lead", 1.0, "set by user")
    assert roles["Audio 03-01"] == RoleGuess("fx", 1.0, "set by user")
    assert roles["04_SN_Top"].role == "snare"

    with pytest.raises(ParameterError, match=r"track 'Keys': expected a role in \[.*'synth_pad'.*\], found 'pad'"):
        detect_roles(session, overrides={"Keys": "pad"})
    with pytest.raises(ParameterError, match="expected an override for a track in"):
        detect_roles(session, overrides={"Piano": "piano_keys"})


@pytest.mark.skipif(not REAL.is_dir(), reason="real recordings not present")
def test_real_recordings_roles():
    expected = {"drums": "drum_kit", "bass": "bass", "piano": "piano_keys", "saxophone_alto": "brass_winds",
                "trumpet": "brass_winds"}
    folders = sorted(REAL.glob("jazzsamba/*/stems")) + sorted(p for p in REAL.glob("urmp/*") if p.is_dir())
    folders += [REAL / "musdb18_sample"]
    checked = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        session = load_session(folder)
        roles = detect_roles(session)
        print(f"\n{folder.relative_to(REAL)}:")
        for name, guess in roles.items():
            print(f"  {name:28s} {guess.role:15s} {guess.confidence:.2f}  {guess.reason[:60]}")
            if "jazzsamba" in folder.parts:
                assert guess.role == expected[name], (folder, name, guess)
                if expected[name] in {"drum_kit", "bass"}:  # the audio rules alone find these families too
                    heard = role_from_audio(session.track(name).audio, session.sample_rate)
                    print(f"  {'':28s} audio alone: {heard.role} {heard.confidence:.2f}")
                    assert heard.family == family_of(expected[name]), (folder, name, heard)
                checked += 1
    assert checked >= 14
