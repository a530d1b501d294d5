"""Training data: dataset loaders, the synthetic multitrack corpus, random console mixes, FX augmentation and
the torch pipelines that stream examples from any of them."""

from mixdown.data.excerpts import random_excerpt
from mixdown.data.item import Excerpt, Song, TrackFile
from mixdown.data.loaders import LOADERS, load_dataset
from mixdown.data.splits import split_songs

__all__ = ["Excerpt", "LOADERS", "Song", "TrackFile", "load_dataset", "random_excerpt", "split_songs"]
