"""What mixdown writes besides audio: figures, reports and the helpers that write files atomically."""

from mixdown.export.files import atomic_path, write_text_atomic

__all__ = ["atomic_path", "write_text_atomic"]
