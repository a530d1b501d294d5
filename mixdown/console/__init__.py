"""The mixing console: recipes and their rendering."""

import mixdown.dsp  # noqa: F401  (fills the processor registry the recipe validates against)
from mixdown.console.recipe import MASTER, GainSharing, Recipe, Send, Step, Strip
from mixdown.console.render import Console, render, render_blocks

__all__ = ["Recipe", "Step", "Send", "Strip", "GainSharing", "MASTER", "Console", "render", "render_blocks"]
