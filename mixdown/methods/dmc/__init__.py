"""The learned mixer: a network that sets every knob of the differentiable console (issue 6, in progress)."""

from mixdown.methods.dmc.space import SPACE, DmcSpace

__all__ = ["SPACE", "DmcSpace"]
