"""Input checks shared by the evaluation functions (differentiable features and ``compare``)."""

from __future__ import annotations

import torch

from mixdown.errors import AudioInputError, ParameterError


def check_stereo_batch(x, function: str, min_samples: int) -> None:
    """Refuse anything but a float tensor ``(batch, 2, samples)`` with at least ``min_samples`` samples."""
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or not x.is_floating_point() or x.shape[1] != 2:
        found = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise AudioInputError(
            f"{function}: expected a float tensor shaped (batch, 2, samples), found {found}; fix: add the batch "
            f"axis with x[None] and make mono stereo with x.expand(-1, 2, -1)"
        )
    if x.shape[-1] < min_samples:
        raise AudioInputError(
            f"{function}: expected at least {min_samples} samples, found {x.shape[-1]}; fix: use a longer "
            f"excerpt or a smaller n_fft"
        )


def check_pair(y, y_ref, function: str, min_samples: int) -> None:
    """Both signals ``(batch, 2, samples)`` of one shape, dtype and device."""
    check_stereo_batch(y, function, min_samples)
    check_stereo_batch(y_ref, function, min_samples)
    if y.shape != y_ref.shape or y.dtype != y_ref.dtype or y.device != y_ref.device:
        raise AudioInputError(
            f"{function}: expected y and y_ref of one shape, dtype and device, found {tuple(y.shape)} "
            f"{y.dtype} {y.device} and {tuple(y_ref.shape)} {y_ref.dtype} {y_ref.device}; fix: align and trim "
            f"them first (mixdown.evaluate.align) and cast with y_ref.to(y)"
        )


def check_n_fft(n_fft, function: str, name: str = "n_fft") -> None:
    if not (isinstance(n_fft, int) and n_fft >= 16 and n_fft % 4 == 0):
        raise ParameterError(f"{function}.{name}: expected an integer >= 16 divisible by 4 (hop = n_fft / 4), "
                             f"found {n_fft!r}; fix: use a power of two such as 2048")


def safe(value: torch.Tensor, floor: float) -> torch.Tensor:
    """``value`` where it exceeds ``floor``, else ``floor``: the argument of a log or a denominator that is
    finite, with a zero gradient, for silence. (``clamp_min`` has exactly the values and gradients of
    ``torch.where(value > floor, value, floor)``, in one pass instead of three.)"""
    return value.clamp_min(floor)
