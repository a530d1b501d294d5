"""The mixing console: recipes and their rendering."""

import mixdown.dsp  # noqa: F401  (fills the processor registry the recipe validates against)
from mixdown.console.recipe import MASTER, GainSharing, Recipe, Send, Step, Strip
from mixdown.console.render import Console, render, render_blocks

__all__ = ["MASTER", "Console", "GainSharing", "Recipe", "Send", "Step", "Strip", "render", "render_blocks"]
