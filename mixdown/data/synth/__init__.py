"""The synthetic multitrack corpus: General MIDI rendered with fluidsynth into dry per-instrument stems."""

from mixdown.data.synth.corpus import load_synth, synth_corpus

__all__ = ["load_synth", "synth_corpus"]
