"""The synthetic multitrack corpus: General MIDI rendered with fluidsynth into dry per-instrument stems.

Rendering needs the ``data`` extra (mido, and music21 for its scores); reading a corpus back does not
(:func:`mixdown.data.loaders.load_synth`).
"""

from mixdown.extras import require

require("mido", "the synthetic corpus (mixdown data synth)")

from mixdown.data.synth.corpus import load_synth, synth_corpus  # noqa: E402 (after the extra is checked)

__all__ = ["load_synth", "synth_corpus"]
