"""Training data: dataset loaders, the synthetic multitrack corpus, random console mixes, FX augmentation and
the torch pipelines that stream examples from any of them."""

from mixdown.data.augment import augment, contrastive_pair, same_fx
from mixdown.data.excerpts import random_excerpt
from mixdown.data.item import Excerpt, Song, TrackFile
from mixdown.data.loaders import LOADERS, load_dataset
from mixdown.data.pipeline import RandomMixDataset, SyntheticSource, make_loader
from mixdown.data.random_mix import render_random_mix, sample_recipe
from mixdown.data.splits import split_songs

__all__ = [
           "LOADERS",
           "Excerpt",
           "RandomMixDataset",
           "Song",
           "SyntheticSource",
           "TrackFile",
           "augment",
           "contrastive_pair",
           "load_dataset",
           "make_loader",
           "random_excerpt",
           "render_random_mix",
           "same_fx",
           "sample_recipe",
           "split_songs",
]
