"""Mixing methods: automatic mixers that turn a session into a recipe, guided by the user's intent.

``intent`` holds what the user wants before mixing (per-track role, priority, pan, reverb, keep, subgroup; the
genre, loudness target and reference); each method reads it through ``Intent.for_track``.
"""

from mixdown.methods.intent import GENRES, Intent, TrackIntent, load_intent

__all__ = ["GENRES", "Intent", "TrackIntent", "load_intent"]
