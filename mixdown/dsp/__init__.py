"""Differentiable audio processors: pure functions on ``(batch, channels, samples)`` tensors.

Importing this package registers every processor in :data:`mixdown.dsp.registry.PROCESSORS`.
"""

from mixdown.dsp import delay, distortion, dynamics, filters, gain, limiter, reverb, stereo  # noqa: F401  (registration side effects)
from mixdown.dsp.registry import PROCESSORS, Processor, get_processor

__all__ = ["PROCESSORS", "Processor", "get_processor"]
