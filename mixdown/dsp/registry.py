"""The processor registry: every processor registers its function, parameter table and streaming step.

Tests, docs, the recipe schema and the console iterate this registry, so a new processor is validated,
documented and tested the moment it registers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mixdown.dsp.params import ParamTable

__all__ = ["PROCESSORS", "Processor", "get_processor", "register"]


@dataclass(frozen=True)
class Processor:
    """A registered processor.

    Attributes:
        name: registry key, also the recipe's ``type`` field.
        fn: ``fn(x, sample_rate, **params) -> y`` on ``(batch, channels, samples)``.
        table: the parameter table.
        step: for processors with memory, ``step(x_block, sample_rate, state, **params) -> (y_block, state)``;
            ``state=None`` starts from silence. ``fn`` equals one ``step`` over the whole signal.
        output_channels: ``None`` when the output keeps the input's channel count, else the fixed count.
        latency: ``latency(sample_rate, **params) -> int`` samples of delay ``step`` adds (``fn`` compensates it).
    """

    name: str
    fn: Callable
    table: ParamTable
    step: Callable | None = None
    output_channels: int | None = None
    latency: Callable | None = None

    @property
    def summary(self) -> str:
        doc = (self.fn.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


PROCESSORS: dict[str, Processor] = {}


def register(processor: Processor) -> Processor:
    if processor.name in PROCESSORS:
        raise ValueError(f"processor {processor.name!r} registered twice")
    PROCESSORS[processor.name] = processor
    return processor


def get_processor(name: str) -> Processor:
    from mixdown.errors import ParameterError

    try:
        return PROCESSORS[name]
    except KeyError:
        raise ParameterError(
            f"unknown processor {name!r}; expected one of: {', '.join(sorted(PROCESSORS))}"
        ) from None
