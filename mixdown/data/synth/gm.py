"""General MIDI tables: program -> name and mixdown role, GM drum note -> kit piece.

Programs in one row of ``PROGRAM_GROUPS`` are interchangeable: the corpus varies a part's program within its row,
so the variation never changes the part's role (a piano stays a piano, an acoustic guitar stays acoustic).
Programs are 0-based (GM "Acoustic Grand Piano" is 0).
"""

from __future__ import annotations

from mixdown.errors import ParameterError

__all__ = [
    "DRUM_CHANNEL",
    "GM_FAMILIES",
    "GM_NAMES",
    "PROGRAM_GROUPS",
    "drum_piece",
    "program_family",
    "program_group",
    "program_name",
    "program_role",
]

DRUM_CHANNEL = 9  # GM channel 10, 0-based

GM_NAMES: tuple[str, ...] = tuple("""Acoustic Grand Piano|Bright Acoustic Piano|Electric Grand Piano|Honky-tonk Piano|
Electric Piano 1|Electric Piano 2|Harpsichord|Clavinet|Celesta|Glockenspiel|Music Box|Vibraphone|Marimba|Xylophone|
Tubular Bells|Dulcimer|Drawbar Organ|Percussive Organ|Rock Organ|Church Organ|Reed Organ|Accordion|Harmonica|
Tango Accordion|Acoustic Guitar (nylon)|Acoustic Guitar (steel)|Electric Guitar (jazz)|Electric Guitar (clean)|
Electric Guitar (muted)|Overdriven Guitar|Distortion Guitar|Guitar Harmonics|Acoustic Bass|Electric Bass (finger)|
Electric Bass (pick)|Fretless Bass|Slap Bass 1|Slap Bass 2|Synth Bass 1|Synth Bass 2|Violin|Viola|Cello|Contrabass|
Tremolo Strings|Pizzicato Strings|Orchestral Harp|Timpani|String Ensemble 1|String Ensemble 2|Synth Strings 1|
Synth Strings 2|Choir Aahs|Voice Oohs|Synth Voice|Orchestra Hit|Trumpet|Trombone|Tuba|Muted Trumpet|French Horn|
Brass Section|Synth Brass 1|Synth Brass 2|Soprano Sax|Alto Sax|Tenor Sax|Baritone Sax|Oboe|English Horn|Bassoon|
Clarinet|Piccolo|Flute|Recorder|Pan Flute|Blown Bottle|Shakuhachi|Whistle|Ocarina|Lead 1 (square)|
Lead 2 (sawtooth)|Lead 3 (calliope)|Lead 4 (chiff)|Lead 5 (charang)|Lead 6 (voice)|Lead 7 (fifths)|
Lead 8 (bass + lead)|Pad 1 (new age)|Pad 2 (warm)|Pad 3 (polysynth)|Pad 4 (choir)|Pad 5 (bowed)|Pad 6 (metallic)|
Pad 7 (halo)|Pad 8 (sweep)|FX 1 (rain)|FX 2 (soundtrack)|FX 3 (crystal)|FX 4 (atmosphere)|FX 5 (brightness)|
FX 6 (goblins)|FX 7 (echoes)|FX 8 (sci-fi)|Sitar|Banjo|Shamisen|Koto|Kalimba|Bagpipe|Fiddle|Shanai|Tinkle Bell|
Agogo|Steel Drums|Woodblock|Taiko Drum|Melodic Tom|Synth Drum|Reverse Cymbal|Guitar Fret Noise|Breath Noise|
Seashore|Bird Tweet|Telephone Ring|Helicopter|Applause|Gunshot""".replace("\n", "").split("|"))

# The 16 GM families of 8 programs each, in program order.
GM_FAMILIES: tuple[str, ...] = ("Piano", "Chromatic Percussion", "Organ", "Guitar", "Bass", "Strings", "Ensemble",
                                "Brass", "Reed", "Pipe", "Synth Lead", "Synth Pad", "Synth Effects", "Ethnic",
                                "Percussive", "Sound Effects")

# (first program, last program, role): rows of interchangeable programs, covering 0..127 in order.
PROGRAM_GROUPS: tuple[tuple[int, int, str], ...] = (
    (0, 7, "piano_keys"),  # pianos, electric pianos, harpsichord, clavinet
    (8, 15, "percussion"),  # chromatic percussion: the taxonomy files mallets under percussion
    (16, 20, "piano_keys"),  # organs
    (21, 23, "other"),  # accordions and harmonica: free reeds, neither keys nor winds
    (24, 25, "acoustic_guitar"),
    (26, 31, "electric_guitar"),
    (32, 39, "bass"),
    (40, 42, "strings"),  # violin, viola, cello
    (43, 43, "bass"),  # contrabass: the taxonomy's double bass
    (44, 45, "strings"),  # tremolo and pizzicato sections
    (46, 46, "other"),  # harp
    (47, 47, "percussion"),  # timpani
    (48, 49, "strings"),
    (50, 51, "synth_pad"),  # synth strings
    (52, 54, "backing_vocal"),  # choir aahs, voice oohs, synth voice
    (55, 55, "fx"),  # orchestra hit
    (56, 61, "brass_winds"),
    (62, 63, "synth_lead"),  # synth brass
    (64, 79, "brass_winds"),  # reeds and pipes
    (80, 87, "synth_lead"),
    (88, 95, "synth_pad"),
    (96, 103, "fx"),
    (104, 107, "other"),  # sitar, banjo, shamisen, koto
    (108, 108, "percussion"),  # kalimba
    (109, 109, "brass_winds"),  # bagpipe
    (110, 110, "strings"),  # fiddle
    (111, 111, "brass_winds"),  # shanai
    (112, 118, "percussion"),
    (119, 127, "fx"),  # reverse cymbal and sound effects
)

# GM percussion key map (notes 35..81) -> kit piece; anything else on the drum channel is percussion.
_KIT = {
    "kick": (35, 36),
    "snare": (37, 38, 40),
    "toms": (41, 43, 45, 47, 48, 50),
    "hihat": (42, 44, 46),
    "overheads_room": (49, 51, 52, 53, 55, 57, 59),  # cymbals: crash, ride, china, splash
}
_PIECE = {note: piece for piece, notes in _KIT.items() for note in notes}


def _check(program: int) -> int:
    if not isinstance(program, int) or not 0 <= program <= 127:
        raise ParameterError(f"program: expected a GM program 0..127, found {program!r}")
    return program


def program_group(program: int) -> tuple[int, int, str]:
    """The row ``(first, last, role)`` of ``PROGRAM_GROUPS`` holding ``program``."""
    program = _check(program)
    return next(row for row in PROGRAM_GROUPS if row[0] <= program <= row[1])


def program_role(program: int) -> str:
    """The mixdown role of a GM program (0-based), e.g. 33 (Electric Bass (finger)) -> "bass"."""
    return program_group(program)[2]


def program_family(program: int) -> str:
    """The GM family of a program (0-based), e.g. 33 -> "Bass"."""
    return GM_FAMILIES[_check(program) // 8]


def program_name(program: int) -> str:
    """The GM name of a program (0-based), e.g. 0 -> "Acoustic Grand Piano"."""
    return GM_NAMES[_check(program)]


def drum_piece(note: int) -> str:
    """The kit piece (a mixdown drum role) of a GM drum note: 36 -> "kick", 42 -> "hihat", 63 -> "percussion"."""
    return _PIECE.get(note, "percussion")
