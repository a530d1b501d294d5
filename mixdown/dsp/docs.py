"""Generate ``docs/processors.md`` from the processor registry: ``python -m mixdown.dsp.docs > docs/processors.md``."""

from __future__ import annotations

import inspect

import mixdown.dsp
from mixdown.dsp.params import Param

__all__ = ["processors_markdown"]


def processors_markdown() -> str:
    """The processor reference as Markdown: summary, properties and parameter table of every processor."""
    lines = [
        "# Processors",
        "",
        "Generated from the parameter tables by `python -m mixdown.dsp.docs > docs/processors.md`; do not edit by hand.",
        "Every processor is a pure function `f(x, sample_rate, **params)` on tensors shaped `(batch, channels, samples)`;",
        "numeric parameters take a number or a tensor shaped `(batch,)` in the units below. `log` parameters map to",
        "[0, 1] geometrically for networks and sliders.",
        "",
    ]
    for proc in sorted(mixdown.dsp.PROCESSORS.values(), key=lambda p: p.name):
        module = inspect.getmodule(proc.fn).__name__
        lines += [f"## `{proc.name}`", "", proc.summary, ""]
        facts = [f"function `{module}.{proc.fn.__name__}`"]
        facts.append("streaming state" if proc.step else "stateless")
        if proc.output_channels:
            facts.append(f"output {proc.output_channels} channels")
        if proc.latency:
            facts.append("adds latency (compensated offline and by the console)")
        lines += ["; ".join(facts) + ".", ""]
        lines += ["| parameter | unit | min | max | default | scale | differentiable | meaning |", "|---|---|---|---|---|---|---|---|"]
        for e in proc.table:
            if isinstance(e, Param):
                lines.append(
                    f"| `{e.name}` | {e.unit} | {e.min:g} | {e.max:g} | {e.default:g} | {e.scale} | "
                    f"{'yes' if e.differentiable else 'no'} | {e.description} |"
                )
            else:
                lines.append(f"| `{e.name}` | choice | | | `{e.default}` | {', '.join(f'`{c}`' for c in e.choices)} | no | {e.description} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(processors_markdown(), end="")
