"""Training learned mixers: losses (and, with issue 6, the DMC training entry points)."""

from mixdown.train.losses import LossWeights, mix_loss, parameter_loss

__all__ = ["LossWeights", "mix_loss", "parameter_loss"]
