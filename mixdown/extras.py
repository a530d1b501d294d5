"""Optional dependencies, imported where the work needs them and named by the extra that installs them.

The base install mixes, renders, analyses and serves; the corpus tools (``data``: mido, music21) and training
(``train``: lightning) come with extras. Nothing here is imported at start-up: a command that needs an extra
calls :func:`require` when it runs, and a missing one becomes a one-line error with the install command.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mixdown.errors import MissingExtraError

__all__ = ["EXTRAS", "require"]

EXTRAS = {"mido": "data", "music21": "data", "lightning": "train"}
"""Which extra of ``pip install 'mixdown[EXTRA]'`` brings each optional top-level module."""


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` (a dotted name whose top level is a key of :data:`EXTRAS`) for ``purpose``.

    Raises:
        MissingExtraError: the module is not installed; the message names the extra to install.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        top = module.split(".")[0]
        if e.name is None or e.name.split(".")[0] != top:
            raise  # the module is there but one of its own imports failed: not a missing extra
        extra = EXTRAS[top]
        raise MissingExtraError(f"{purpose} needs {top}, which is not installed; fix: pip install "
                                f"'mixdown[{extra}]' (or -e \".[{extra}]\" in a checkout)") from None
