"""mixdown: AI-assisted multitrack mixing with a fast, exact, differentiable console."""

__version__ = "0.1.0"
