"""Whether mixdown's compiled kernels are cached on disk yet, found without importing numba.

The recursions (filters, envelopes, delay lines, the analysis passes) are numba functions compiled on first use
and cached on disk (``cache=True``): the first run on a machine spends about a minute compiling, later runs load
the machine code in milliseconds. Commands ask :func:`uncompiled_modules` so that a first run says why it is slow.
Numba keeps its cache beside the module (``__pycache__``), or under ``NUMBA_CACHE_DIR``, or, where the package
folder is read-only, in the user's cache folder; an index file ``MODULE.FUNCTION-LINE.pyXY.nbi`` per function.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

__all__ = ["FIRST_RUN_NOTICE", "uncompiled_modules"]

FIRST_RUN_NOTICE = ("first run on this machine: compiling mixdown's audio kernels (about a minute, once; later runs "
                    "load them from the cache at once)")
_PACKAGE = Path(__file__).resolve().parent


def _kernel_modules() -> list[Path]:
    """The package's modules that define numba functions."""
    return [path for path in sorted(_PACKAGE.rglob("*.py"))
            if path.name != "compiled.py" and "@numba.njit" in path.read_text(encoding="utf-8")]


def _cache_folders(module: Path) -> list[Path]:
    """Where numba keeps ``module``'s cache: under ``NUMBA_CACHE_DIR`` alone when it is set, else beside the
    module, then in the user's cache folder; outside the package in a subfolder named after the module's folder
    (its name and the SHA-1 of its absolute path, as numba's cache locators name it)."""
    folder = str(module.parent)
    subfolder = f"{module.parent.name}_{hashlib.sha1(folder.encode()).hexdigest()}"
    if os.environ.get("NUMBA_CACHE_DIR"):
        folders = [Path(os.environ["NUMBA_CACHE_DIR"]) / subfolder]
    else:
        folders = [module.parent / "__pycache__",
                   Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "numba" / subfolder]
    return [folder for folder in folders if folder.is_dir()]


def uncompiled_modules(within: tuple[str, ...] = ("",)) -> list[str]:
    """The kernel modules (paths relative to the package) with no function cached for this Python yet.

    Args:
        within: only modules whose relative path starts with one of these (``("audio", "analysis")`` for what
            an analysis runs); the default covers them all.
    """
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    missing = []
    for module in _kernel_modules():
        if not str(module.relative_to(_PACKAGE)).startswith(within):
            continue
        pattern = f"{module.stem}.*.{tag}.nbi"
        if not any(next(folder.glob(pattern), None) for folder in _cache_folders(module)):
            missing.append(str(module.relative_to(_PACKAGE)))
    return missing
