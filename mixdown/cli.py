"""The ``mixdown`` command line: parses options, shows progress, calls :mod:`mixdown.api`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console as Terminal
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mixdown.errors import MixdownError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="mixdown: AI-assisted multitrack mixing.")
terminal = Terminal(stderr=True)


def _fail(error: MixdownError) -> None:
    terminal.print(f"[bold red]error:[/] {error}", highlight=False)
    raise typer.Exit(2)


@app.command()
def render(
    recipe: Optional[Path] = typer.Argument(None, help="recipe JSON file (track sources are relative to it)"),
    output: Path = typer.Option(Path("mix.wav"), "--output", "-o", help="mix file to write"),
    demo: bool = typer.Option(False, "--demo", help="render the bundled demo song with its example recipe"),
    format: str = typer.Option("wav24", "--format", help="wav24, wav16 (TPDF dither), float32 or flac"),
) -> None:
    """Render a recipe (a mix as data) to a stereo mix file."""
    from mixdown import api

    if (recipe is None) == (not demo):
        terminal.print("[bold red]error:[/] give a RECIPE file or --demo (not both)")
        raise typer.Exit(2)
    source = api.demo_recipe_path() if demo else recipe
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn(), console=terminal) as bar:
            task = bar.add_task("rendering", total=None)
            result = api.render_recipe(source, output, format=format, progress=lambda done, total, stage: bar.update(task, completed=done, total=total, description=stage))
    except MixdownError as e:
        _fail(e)
    terminal.print(
        f"wrote [bold]{result.path}[/]: {result.tracks} tracks, {result.seconds:.1f} s at {result.sample_rate} Hz, "
        f"{result.loudness_lufs:.1f} LUFS, sample peak {result.sample_peak_db:.1f} dBFS"
        + (f", [yellow]{result.clipped_samples} clipped samples[/]" if result.clipped_samples else ""),
        highlight=False,
    )


@app.command()
def processors() -> None:
    """List the console's processors and their parameters."""
    import mixdown.dsp
    from mixdown.dsp.params import Param

    out = Terminal()
    for proc in sorted(mixdown.dsp.PROCESSORS.values(), key=lambda p: p.name):
        table = Table(title=f"{proc.name}: {proc.summary}", title_justify="left")
        for column in ("parameter", "unit", "min", "max", "default", "scale"):
            table.add_column(column)
        for e in proc.table:
            if isinstance(e, Param):
                table.add_row(e.name, e.unit, f"{e.min:g}", f"{e.max:g}", f"{e.default:g}", e.scale)
            else:
                table.add_row(e.name, "choice", "", "", e.default, " | ".join(e.choices))
        out.print(table)


if __name__ == "__main__":
    app()
