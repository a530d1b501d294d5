"""Compiled kernels for the recursions, and what they share."""

from __future__ import annotations

import contextlib

import numba

# torch's OpenMP threads spin after each torch op and stall numba's OpenMP pool for milliseconds per kernel
# call; numba's own workqueue pool avoids that. It must not launch kernels from several Python threads at
# once: callers that render concurrently (a web server) run renders in one worker thread or in processes.
numba.config.THREADING_LAYER = "workqueue"

__all__ = ["PARALLEL_MIN_SAMPLES", "small_work_single_thread", "torch_path_only", "use_torch_path"]

_FORCE_TORCH = False

# Below this many samples of work, one thread beats waking numba's pool (which costs up to milliseconds per
# call on a busy machine and would make short-block streaming and gradchecks crawl).
PARALLEL_MIN_SAMPLES = 1 << 14


@contextlib.contextmanager
def small_work_single_thread(samples: int):
    """Run the numba kernels inside on one thread when ``samples`` (total work) is small."""
    if samples >= PARALLEL_MIN_SAMPLES:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def use_torch_path(x) -> bool:
    """True where a kernel must run its plain-torch path: tensors off the CPU (CUDA), or inside
    :func:`torch_path_only`."""
    return _FORCE_TORCH or x.device.type != "cpu"


@contextlib.contextmanager
def torch_path_only():
    """Run every kernel's plain-torch path, even on CPU tensors: how the tests check, without a GPU, that the
    code CUDA runs gives the same samples and gradients as the compiled kernels."""
    global _FORCE_TORCH
    previous, _FORCE_TORCH = _FORCE_TORCH, True
    try:
        yield
    finally:
        _FORCE_TORCH = previous
