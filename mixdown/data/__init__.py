"""Training data: dataset loaders, the synthetic multitrack corpus, random console mixes, FX augmentation and
the torch pipelines that stream examples from any of them."""

from mixdown.data.item import Excerpt, Song, TrackFile

__all__ = ["Excerpt", "Song", "TrackFile"]
