"""The ``mixdown`` command line: parses options, shows progress, calls :mod:`mixdown.api`.

Start-up stays light: this module imports only typer, rich and the error classes, and each command imports
what its work needs (torch, numba, scipy and the mixers take seconds to load), so ``--help`` and an input error
answer at once, and a command whose optional extra is missing says which one to install.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from pathlib import Path

import typer
from rich.console import Console as Terminal

from mixdown.errors import MixdownError

terminal = Terminal(stderr=True)


def _fail(error: MixdownError) -> None:
    """Print the error on one line (its text is not markup: ``mixdown[data]`` stays as written) and exit 2."""
    from rich.markup import escape

    terminal.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _clean_errors(command):
    """``command`` with every :class:`MixdownError` it raises (an import of a missing extra too) ended by
    :func:`_fail`: a message and exit code 2, never a traceback."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except MixdownError as e:
            _fail(e)

    return run


class _Typer(typer.Typer):
    """A typer app whose commands end in a clean error message (see :func:`_clean_errors`)."""

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)
        return lambda command: register(_clean_errors(command))


app = _Typer(add_completion=False, no_args_is_help=True, help="mixdown: AI-assisted multitrack mixing.")


@app.command()
def mix(
    stems: Path | None = typer.Argument(None, help="a folder of stems (one audio file per track)"),
    output: Path = typer.Option(Path("mix_out"), "--output", "-o", help="output folder: mix.wav and recipe.json"),
    demo: bool = typer.Option(False, "--demo", help="mix the bundled demo song"),
    intent: Path | None = typer.Option(None, "--intent", help="intent file (YAML/JSON): roles, priorities, pans ..."),
    target: str | None = typer.Option(None, "--target", help="spotify, apple, youtube, cd, broadcast, none, or LUFS"),
    genre: str | None = typer.Option(None, "--genre", help="genre (sets the reverb and the intent's genre)"),
    format: str = typer.Option("wav24", "--format", help="wav24, wav16 (TPDF dither), float32 or flac"),
    seed: int = typer.Option(0, "--seed", help="seed of the reverb's noise: same seed, same file"),
    method: str = typer.Option("rules", "--method", help="rules (music), dmc (the learned mixer; with --reference, in its "
                                "style), optimize (dmc, then gradient descent toward --reference) or dugan (speech: "
                                "many mics, gain sharing)"),
    reference: Path | None = typer.Option(None, "--reference", help="a reference mix: the master moves toward "
                                             "its tonal balance, width and loudness (dmc: the mix takes its style)"),
    reference_amount: str | None = typer.Option(None, "--reference-amount", help="how far, e.g. "
                                                   "tone=0.7,width=0.5,loudness=1"),
    preview: bool = typer.Option(False, "--preview", help="render only the loudest 30 s (preview.wav), fast"),
    stems_out: bool = typer.Option(False, "--stems", help="also write the processed stems to OUT/stems/ (float WAV)"),
) -> None:
    """Mix a folder of stems: a mastered mix, its recipe (every decision with a reason) and a report."""
    if (stems is None) == (not demo):
        _fail(MixdownError("give a STEMS folder or --demo (not both)"))
    from mixdown import api

    source = api.demo_stems_path() if demo else stems
    try:
        amounts = None
        if reference_amount:
            from mixdown.mastering.reference import parse_amounts as parse_reference_amounts

            amounts = parse_reference_amounts(reference_amount)
        with _progress_bar() as bar:
            task = bar.add_task("reading", total=None)
            result = api.mix_folder(source, output, intent, _target_value(target), genre, format, seed, method,
                                    reference, amounts,
                                    preview=preview, write_stems=stems_out,
                                    progress=_stages(bar, task, "mix"))
    except MixdownError as e:
        _fail(e)
    out = _stdout()
    for warning in result.warnings:
        out.print(f"  [yellow]warning[/] {warning}", highlight=False)
    excerpt = f" (preview from {result.start_s:.1f} s)" if preview else ""
    out.print(f"mixed {result.tracks} tracks, {result.seconds:.1f} s{excerpt} at {result.sample_rate} Hz: "
              f"{result.integrated_lufs:.1f} LUFS, true peak {result.true_peak_db:.1f} dBTP, "
              f"LRA {result.loudness_range_lu:.1f} LU", highlight=False)
    if result.speaking_s:
        out.print("who spoke: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in result.speaking_s.items()),
                  highlight=False)
    written = [result.mix_path, result.recipe_path] + ([result.report_path] if result.report_path else [])
    out.print(f"wrote {', '.join(f'[bold]{p}[/]' for p in written)}"
              + (f" and {len(result.stems)} processed stems in [bold]{result.stems[0].parent}[/]" if result.stems else "")
              + f" (edit the recipe, then mixdown render {result.recipe_path})", highlight=False)


def _target_value(target: str | None):
    """A preset name as given, or a number of LUFS."""
    if target is None:
        return None
    try:
        return float(target)
    except ValueError:
        return target


@app.command()
def render(
    recipe: Path | None = typer.Argument(None, help="recipe JSON file (track sources are relative to it)"),
    output: Path = typer.Option(Path("mix.wav"), "--output", "-o", help="mix file to write"),
    demo: bool = typer.Option(False, "--demo", help="render the bundled demo song with its example recipe"),
    format: str = typer.Option("wav24", "--format", help="wav24, wav16 (TPDF dither), float32 or flac"),
    amount: str | None = typer.Option(None, "--amount", help="scale kinds of decisions, e.g. "
                                         "eq=0.5,dynamics=0.3,space=1.2,width=0.8 (1 = as the recipe says)"),
    remaster: bool = typer.Option(False, "--remaster", help="decide the master chain anew for the edited mix "
                                  "(its loudness target); the new recipe is written beside OUTPUT"),
    target: str | None = typer.Option(None, "--target", help="with --remaster: spotify, apple, youtube, cd, "
                                      "broadcast, none, or LUFS (default: the recipe's)"),
    reference: Path | None = typer.Option(None, "--reference", help="with --remaster: master toward this mix"),
) -> None:
    """Render a recipe (a mix as data) to a stereo mix file."""
    if (recipe is None) == (not demo):
        _fail(MixdownError("give a RECIPE file or --demo (not both)"))
    if not remaster and (target is not None or reference is not None):
        _fail(MixdownError("--target and --reference choose how --remaster masters; add --remaster"))
    from mixdown import api

    source = api.demo_recipe_path() if demo else recipe
    recipe_out = output.with_name(f"{output.stem}.recipe.json")
    try:
        amounts = None
        if amount:
            from mixdown.console.amount import parse_amounts

            amounts = parse_amounts(amount)
        if remaster:  # before the premaster is rendered: the recipe goes beside the mix
            api._output_folder(output.parent, create=False)
        if remaster and source.exists() and recipe_out.exists() and recipe_out.samefile(source):
            from mixdown.errors import OutputError

            raise OutputError(f"{recipe_out}: expected a new file for the remastered recipe, found the recipe being "
                              f"rendered (inputs are never overwritten); fix: choose another name with -o, e.g. "
                              f"-o {output.with_name(output.stem + '_remastered' + output.suffix)}")
        with _progress_bar() as bar:
            task = bar.add_task("rendering", total=None)
            show = _stages(bar, task, "render")
            if remaster:  # the amounts first, so the new master is decided for the mix they make
                source = api.remaster_recipe(source, _target_value(target), reference, progress=show, amounts=amounts)
                amounts = None
            result = api.render_recipe(source, output, format=format, amounts=amounts, progress=show)
            if remaster:
                source.save(recipe_out)
    except MixdownError as e:
        _fail(e)
    terminal.print(
        f"wrote [bold]{result.path}[/]: {result.tracks} tracks, {result.seconds:.1f} s at {result.sample_rate} Hz, "
        f"{result.loudness_lufs:.1f} LUFS, sample peak {result.sample_peak_db:.1f} dBFS"
        + (f", [yellow]{result.clipped_samples} clipped samples[/]" if result.clipped_samples else "")
        + (f"; mastered again, its recipe: [bold]{recipe_out}[/]" if remaster else ""),
        highlight=False,
    )


_CORE_KERNELS = {"analyze": ("audio/kernels.py", "analysis/kernels.py"),
                 "render": ("audio/kernels.py", "dsp/kernels/biquad.py", "dsp/kernels/envelope.py")}
_CORE_KERNELS["mix"] = _CORE_KERNELS["analyze"] + _CORE_KERNELS["render"]
"""The kernel modules every run of a command compiles (an effect only some mixes use is left out, or a run
without it would keep announcing a first run)."""


def _stages(bar, task, command: str, width: int = 28):
    """The progress callback ``(done, total, stage)`` of a command's bar. Its first call (the inputs are checked
    by then) says so when this is the first run and the command's compiled kernels are not cached yet."""
    from mixdown.compiled import FIRST_RUN_NOTICE, uncompiled_modules

    cold = [bool(uncompiled_modules(_CORE_KERNELS[command]))]

    def show(done: int, total: int, stage: str) -> None:
        if cold[0]:
            bar.console.print(FIRST_RUN_NOTICE, highlight=False, soft_wrap=True)
            cold[0] = False
        bar.update(task, completed=done, total=total, description=stage[:width])

    return show


def _progress_bar():
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description:<28}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                    TimeRemainingColumn(), console=terminal, transient=True)


def _parse_roles(pairs: list[str]) -> dict[str, str]:
    roles = {}
    for pair in pairs:
        name, sep, role = pair.partition("=")
        if not sep or not name or not role:
            _fail(MixdownError(f"--role {pair!r}: expected TRACK=ROLE, e.g. --role \"Audio 03=fx\""))
        roles[name] = role
    return roles


def _write_json(data: dict, json_path: Path | None) -> bool:
    """Write ``data`` as JSON to ``json_path`` (atomically) or to stdout for ``-``; True when stdout got it (the
    table is then left out, so the output stays valid JSON)."""
    if json_path is None:
        return False
    from mixdown.export.files import write_text_atomic

    text = json.dumps(data, indent=1)
    if str(json_path) == "-":
        typer.echo(text)
        return True
    write_text_atomic(json_path, text + "\n")
    return False


def _stdout() -> Terminal:
    """Standard output; wide when it is a file or a pipe (rich would otherwise assume 80 columns)."""
    return Terminal(width=None if sys.stdout.isatty() else 160)


def _db(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


@app.command()
def analyze(
    path: Path = typer.Argument(..., help="an audio file (a mix) or a folder of stems"),
    json_path: Path | None = typer.Option(None, "--json", help="write every measurement as JSON here ('-': stdout)"),
    plot: Path | None = typer.Option(None, "--plot", help="folder for figures: spectra, loudness, stereo, masking"),
    plot_format: str = typer.Option("png", "--plot-format", help="png or svg"),
    role: list[str] = typer.Option([], "--role", help="override a detected role: TRACK=ROLE (repeatable)"),
) -> None:
    """Measure a mix or a folder of stems: loudness, spectrum, stereo image, dynamics, masking and roles."""
    from mixdown import api

    try:
        with _progress_bar() as bar:
            task = bar.add_task("reading", total=None)
            analysis, warnings = api.analyze_path(path, _parse_roles(role), progress=_stages(bar, task, "analyze"))
        figures = []
        if plot is not None:
            from mixdown.export.plots import plot_analysis

            figures = plot_analysis(analysis, plot, plot_format)
        if _write_json(analysis.to_dict(), json_path):
            return
    except MixdownError as e:
        _fail(e)
    out = _stdout()
    out.print(_analysis_table(analysis))
    for masker, target, db in analysis.worst_masking():
        out.print(f"  masking: [bold]{masker}[/] over [bold]{target}[/]: {db:.1f} dB", highlight=False)
    for warning in warnings:
        out.print(f"  [yellow]warning[/] {warning}", highlight=False)
    for written in figures + ([json_path] if json_path is not None else []):
        out.print(f"wrote [bold]{written}[/]", highlight=False)


def _analysis_table(analysis):
    from rich import box
    from rich.table import Table

    table = Table(title=f"{len(analysis.tracks)} track(s), {analysis.duration_s:.1f} s at {analysis.sample_rate} Hz "
                        "(widths and levels in dB; width = side/mid; balance -1 left .. +1 right)",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("track", "role", "conf", "LUFS", "LRA", "dBTP", "crest", "width", "bal", "centroid", "active"):
        table.add_column(column, justify="left" if column in ("track", "role") else "right",
                         no_wrap=column != "track")
    for t in analysis.tracks:
        table.add_row(
            t.name, t.role.role, f"{t.role.confidence:.2f}", _db(t.loudness.integrated_lufs),
            _db(t.loudness.loudness_range_lu), _db(t.loudness.true_peak_db), _db(t.dynamics["crest_db"]),
            _db(t.stereo["width_db"]) if t.channels == 2 else "mono", f"{t.stereo['balance']:+.2f}",
            f"{t.descriptors['centroid']:.0f}", f"{100 * t.dynamics['active_share']:.0f}%",
        )
    return table


@app.command()
def compare(
    mix: Path = typer.Argument(..., help="your mix (audio file)"),
    reference: Path = typer.Argument(..., help="a reference mix of the same music (any rate; resampled)"),
    json_path: Path | None = typer.Option(None, "--json", help="write every metric as JSON here ('-': stdout)"),
    plot: Path | None = typer.Option(None, "--plot", help="folder for the comparison figure"),
    plot_format: str = typer.Option("png", "--plot-format", help="png or svg"),
    no_align: bool = typer.Option(False, "--no-align", help="compare from the first samples (no lag search)"),
    stems: Path | None = typer.Option(None, "--stems", help="the dry stems both mixes were made from (folder): "
                                      "adds each track's level and pan in both"),
) -> None:
    """Compare a mix with a reference mix: FxNorm feature errors, Diff-MST audio features, MR-STFT distance;
    with --stems, each track's level and pan in both mixes."""
    from mixdown import api

    try:
        with _progress_bar() as bar:
            bar.add_task("comparing", total=None)
            result, mix_audio, reference_audio, rate = api.compare_files(mix, reference, align=not no_align,
                                                                         stems=stems)
            if plot is not None:
                from mixdown.export.plots import plot_comparison
            figure = (plot_comparison(mix_audio, reference_audio, rate, result.loudness_match_db, plot, plot_format,
                                      (mix.stem, reference.stem)) if plot is not None else None)
        if _write_json(result.to_dict(), json_path):
            return
    except MixdownError as e:
        _fail(e)
    out = _stdout()
    for warning in result.warnings:
        terminal.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    a = result.alignment
    out.print(f"aligned: lag {a.lag_s * 1000:+.1f} ms ({a.lag_samples:+d} samples), correlation {a.correlation:.3f}, "
              f"{a.overlap_samples / rate:.1f} s compared; loudness match {result.loudness_match_db:+.2f} dB",
              highlight=False)
    out.print(_comparison_tables(result))
    if result.stems is not None:
        from rich.markup import escape

        out.print(_stem_table(result.stems))
        for sentence in result.stems["sentences"]:
            out.print(f"  {escape(sentence)}", highlight=False)
    for written in ([figure] if figure else []) + ([json_path] if json_path is not None else []):
        out.print(f"wrote [bold]{written}[/]", highlight=False)


def _comparison_tables(result):
    """One table: FxNorm MAPE per group and feature, then the AF features, then the MR-STFT distances."""
    from rich import box
    from rich.table import Table

    table = Table(title="mix against reference (0 = identical)", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for column in ("metric", "feature", "mix", "reference", "distance"):
        table.add_column(column, justify="left" if column in ("metric", "feature") else "right")
    for group, features in result.fxnorm.items():
        table.add_row(f"FxNorm {group}", "mean", "", "", f"{result.fxnorm_means[group]:.1f} %", style="bold")
        for feature, mape in features.items():
            table.add_row("", feature, "", "", f"{mape:.1f} %")
    for name, entry in result.audio_features.items():
        vector = isinstance(entry["mix"], list)
        table.add_row("audio feature", name, "(24 bands)" if vector else f"{entry['mix']:.3f}",
                      "(24 bands)" if vector else f"{entry['reference']:.3f}", f"{entry['distance']:.3f}")
    table.add_row("audio feature", "weighted loss (Diff-MST)", "", "", f"{result.audio_feature_loss:.3f}", style="bold")
    for name, value in result.mrstft.items():
        table.add_row("MR-STFT", f"L{'+' if name == 'sum' else '-' if name == 'difference' else '+-'}R"
                      if name != "total" else "total", "", "", f"{value:.3f}", style="bold" if name == "total" else None)
    return table


def _stem_table(stems: dict):
    """Per track: its level and pan in the mix (loudness-matched) and in the reference, and the differences."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    errors = stems["errors"]
    table = Table(title=f"tracks (mix loudness-matched; mean |level difference| {errors['balance_db']:.2f} dB, "
                  f"{errors['relative_balance_db']:.2f} dB around their median {errors['offset_db']:+.2f} dB; mean "
                  f"|pan difference| {errors['pan']:.3f}; the stems explain "
                  f"{100 * stems['mix']['explained']:.0f} % / {100 * stems['reference']['explained']:.0f} % of the "
                  "two mixes)", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("track", "level mix", "level ref", "difference", "pan mix", "pan ref", "difference"):
        table.add_column(column, justify="left" if column == "track" else "right")

    def number(value, form):
        return "-" if value is None else format(value, form)

    for t in stems["tracks"]:
        table.add_row(escape(t["name"]), number(t["mix"]["level_db"], "+.1f"),
                      number(t["reference"]["level_db"], "+.1f"), number(t["level_db"], "+.1f"), number(t["mix"]["pan"], "+.2f"),
                      number(t["reference"]["pan"], "+.2f"), number(t["pan"], "+.2f"))
    return table


@app.command()
def processors() -> None:
    """List the console's processors and their parameters."""
    from rich.table import Table

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


@app.command()
def serve(
    data: Path = typer.Option(Path("~/.mixdown/studio"), "--data", help="folder for uploads, mixes and the database"),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="address to listen on (127.0.0.1: this computer only, no token asked; any other "
                                  "address asks every visitor for the token)"),
    port: int = typer.Option(8000, "--port"),
    database: str | None = typer.Option(None, "--database",
                                           help="SQLAlchemy URL, e.g. postgresql://user@host/db (default: "
                                                "SQLite in --data)"),
    max_upload_mb: float = typer.Option(512.0, "--max-upload-mb", help="largest file accepted"),
    token: str | None = typer.Option(None, "--token", envvar=["MIXDOWN_TOKEN", "MIXDOWN_ADMIN_TOKEN"],
                                        help="the studio's secret: the listening tests' admin side, and every page "
                                             "when --host is not loopback (default: made once, kept in --data)"),
    allowed_host: list[str] | None = typer.Option(None, "--allowed-host",
                                                   help="another name the studio answers to, e.g. the one a reverse "
                                                        "proxy or the network uses (repeatable; localhost, "
                                                        "127.0.0.1, [::1] and --host always)"),
    require_token: bool = typer.Option(False, "--require-token",
                                       help="ask for the token on 127.0.0.1 too (other users of this computer)"),
) -> None:
    """Run the studio: a local web app to upload stems, mix, adjust, compare, download and run listening tests."""
    import socket

    try:
        from mixdown.app.server import serve as run
        from mixdown.app.settings import StudioSettings

        settings = StudioSettings(data, database, max_upload_mb, admin_token=token, host=host,
                                  allowed_hosts=list(allowed_host or []), require_token=require_token or None)
    except MixdownError as e:
        _fail(e)
    name = socket.gethostname() if settings.binds_everywhere else settings.host
    url = f"http://{f'[{name}]' if ':' in name and not name.startswith('[') else name}:{port}"
    out = _stdout()
    out.print(f"mixdown studio: {url}/  (data in {settings.data_dir})", highlight=False)
    if settings.token_required:
        out.print(f"log in (the link sets a cookie): {url}/login?token={settings.admin_token}", highlight=False)
        also = " and this computer's IP addresses" if settings.binds_everywhere else ""
        out.print(f"answers to: {', '.join(sorted(settings.host_names()))}{also} (more with --allowed-host)",
                  highlight=False)
    else:
        out.print(f"listening tests (admin): {url}/admin?token={settings.admin_token}", highlight=False)
        out.print("no token asked: every user and program on this computer can use the studio "
                  "(--require-token asks for it)", highlight=False)
    if not settings.loopback:
        terminal.print("[bold yellow]warning:[/] reachable from the network over plain HTTP: the token and the audio "
                       "travel unencrypted; put a TLS proxy in front before it leaves a trusted network "
                       "(docs/studio.md, Security)", highlight=False)
    run(settings, port)


data_app = _Typer(no_args_is_help=True, help="Training data: synthetic corpus, dataset loaders.")
app.add_typer(data_app, name="data")


@data_app.command("synth")
def data_synth(
    out: Path = typer.Option(..., "--out", "-o", help="corpus folder: one folder of dry stems per song"),
    songs: int = typer.Option(10, "--songs", help="how many songs"),
    seconds: float = typer.Option(30.0, "--seconds", help="length of each song"),
    seed: int = typer.Option(0, "--seed", help="same seed, same corpus"),
    source: list[str] = typer.Option(["music21", "groove"], "--source",
                                     help="music21 (Bach chorales), groove (generated band), openmsx (Debian "
                                          "openttd-openmsx, GPL) or a folder of .mid files; repeatable; song i "
                                          "uses source i mod count"),
    audio_format: str = typer.Option("float32", "--format", help="float32 (exact, fastest to train from), wav24, "
                                     "wav16 or flac"),
) -> None:
    """Render MIDI (music21's Bach chorales, generated grooves, your .mid files) to per-instrument dry stems."""
    from mixdown.data.synth.corpus import synth_corpus

    try:
        with _progress_bar() as bar:
            task = bar.add_task("rendering songs", total=songs)
            made = synth_corpus(out, songs, seconds, seed, sources=source, audio_format=audio_format,
                                progress=lambda done, total, what: bar.update(task, completed=done, total=total,
                                                                              description=str(what)[:28]))
    except MixdownError as e:
        _fail(e)
    roles = _role_counts(made)
    out_ = _stdout()
    out_.print(f"wrote {len(made)} songs, {sum(roles.values())} stems to [bold]{out}[/]", highlight=False)
    out_.print("stems per role: " + ", ".join(f"{role} {count}" for role, count in sorted(roles.items())),
               highlight=False)


@data_app.command("people")
def data_people(
    out: Path = typer.Option(..., "--out", "-o", help="corpus folder: per song dry/, wet/, mix.wav, metadata.json"),
    source: list[str] = typer.Option(["openmsx"], "--source", help="openmsx (Debian openttd-openmsx, GPL), hydrogen "
                                     "(the Hydrogen drum machine's demo songs, Debian hydrogen-data, GPL: one stem "
                                     "per drum) or a folder of .mid files whose channels carry the author's "
                                     "CC7/CC10/CC91 (or of .h2song files); repeatable"),
    seconds: float = typer.Option(90.0, "--seconds", help="the first SECONDS of each song (0: whole songs)"),
    songs: int = typer.Option(0, "--songs", help="at most this many songs (0: all)"),
    jobs: int = typer.Option(2, "--jobs", help="fluidsynth processes at once"),
) -> None:
    """Render songs whose authors mixed them twice from the same notes: dry stems, and the author's level, pan and
    mix (for comparing a mixer with people: `mixdown compare --stems`)."""
    from mixdown.extras import require

    try:
        require("mido", "mixdown data people")
        from mixdown.data.synth.people import people_corpus

        with _progress_bar() as bar:
            task = bar.add_task("rendering songs", total=None)
            made = people_corpus(out, source, seconds=seconds or None, songs=songs or None, jobs=jobs,
                                 progress=lambda done, total, what: bar.update(task, completed=done, total=total,
                                                                               description=str(what)[:28]))
    except MixdownError as e:
        _fail(e)
    held_out = sum(s["split"] == "held_out" for s in made)
    minutes = sum(s["seconds"] for s in made) / 60
    _stdout().print(f"wrote {len(made)} songs ({held_out} held out), {sum(len(s['stems']) for s in made)} stems, "
                    f"{minutes:.1f} min to [bold]{out}[/]", highlight=False)


@app.command("evaluate")
def evaluate_command(
    corpus: Path = typer.Argument(..., help="a people corpus (`mixdown data people`)"),
    method: list[str] = typer.Option(["sum", "equal_loudness", "rules"], "--method", help="sum, equal_loudness, or a "
                                     "mixing method of `mixdown mix`; repeatable"),
    split: str = typer.Option("held_out", "--split", help="held_out (the default), train or all"),
    songs: int = typer.Option(0, "--songs", help="at most this many songs (0: all)"),
    json_path: Path | None = typer.Option(None, "--json", help="every song's figures as JSON ('-': stdout)"),
) -> None:
    """How close each mixer comes to the authors' own mixes of the same stems: per-track balance and pan,
    spectral MAPE, Bark mid, MR-STFT (mean and median over the songs, per source)."""
    from mixdown.api import METHODS
    from mixdown.errors import ParameterError

    for name in method:
        if name not in ("sum", "equal_loudness", *METHODS):
            _fail(ParameterError(f"--method: expected sum, equal_loudness or one of {', '.join(METHODS)}, found "
                                 f"{name!r}; fix: choose one of them"))
    try:
        from mixdown.train.against_people import evaluate_against_people

        with _progress_bar() as bar:
            task = bar.add_task("mixing and comparing", total=None)
            result = evaluate_against_people(corpus, method, split, songs or None,
                                             progress=lambda done, total, what: bar.update(
                                                 task, completed=done, total=total, description=str(what)[:40]))
    except MixdownError as e:
        _fail(e)
    if _write_json(result, json_path):
        return
    _stdout().print(_people_table(result))


def _people_table(result: dict):
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from mixdown.train.against_people import METRICS

    table = Table(title=f"against the authors' mixes, split {result['split']}: mean (median) over songs; "
                  "0 = the author's mix", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    headings = {"balance_db": "balance dB", "relative_balance_db": "rel. balance dB", "pan": "pan",
                "spectral_mape": "spectral MAPE %", "bark_mid_db": "Bark mid dB", "mrstft": "MR-STFT"}
    for column in ("source", "mixer", "songs", *(headings[m] for m in METRICS)):
        table.add_column(column, justify="left" if column in ("source", "mixer") else "right")
    for source, contenders in result["summary"].items():
        for contender, figures in contenders.items():
            cells = []
            for metric in METRICS:
                mean, median = figures[metric]["mean"], figures[metric]["median"]
                cells.append("-" if mean is None else f"{mean:.3f} ({median:.3f})" if metric == "pan"
                             else f"{mean:.2f} ({median:.2f})")
            table.add_row(escape(source), escape(contender), str(figures["songs"]), *cells)
    return table


@data_app.command("info")
def data_info(
    dataset: str = typer.Argument(..., help="musdb18, medleydb, enst_drums, moisesdb, slakh2100, cambridge or synth "
                                  "(a `mixdown data synth` corpus)"),
    root: Path = typer.Argument(..., help="the dataset's local folder"),
    seed: int = typer.Option(0, "--seed", help="seed of the train/validation/test split"),
    check: bool = typer.Option(False, "--check", help="read every track: silent, clipping, role vs instrument"),
    json_path: Path | None = typer.Option(None, "--json", help="with --check: the totals as JSON ('-': stdout)"),
) -> None:
    """Load a local dataset copy and summarise it: songs, tracks per role, a reproducible split by song/artist."""
    from mixdown.data.loaders import load_dataset
    from mixdown.data.splits import split_songs

    try:
        songs = load_dataset(dataset, root)
        split = split_songs(songs, seed=seed)
    except MixdownError as e:
        _fail(e)
    roles = _role_counts(songs)
    out = _stdout()
    out.print(f"{dataset}: {len(songs)} songs, {sum(roles.values())} tracks, "
              f"{sum(s.mix is not None for s in songs)} with a mix", highlight=False)
    out.print("tracks per role: " + ", ".join(f"{role} {count}" for role, count in sorted(roles.items())),
              highlight=False)
    out.print(f"split (seed {seed}): " + ", ".join(f"{name} {len(part)}" for name, part in split.items()),
              highlight=False)
    if check:
        _check_dataset(songs, json_path)


def _check_dataset(songs, json_path: Path | None) -> None:
    """``data info --check``: read every track and print (or write) what :func:`check_songs` found."""
    from mixdown.data.check import SILENT_PEAK_DBFS, check_songs

    try:
        with _progress_bar() as bar:
            task = bar.add_task("reading tracks", total=sum(len(s.tracks) for s in songs))
            result = check_songs(songs, progress=lambda done, total: bar.update(task, completed=done))
    except MixdownError as e:
        _fail(e)
    summary = result.summary()
    if _write_json(summary, json_path):
        return
    out = _stdout()
    peaks, shares = summary["peak_dbfs"], summary["active_share"]
    out.print(f"checked {summary['tracks']} tracks: {summary['silent']} silent (peak <= {SILENT_PEAK_DBFS:g} dBFS), "
              f"{summary['clipping']} with clipped samples, {summary['role_mismatches']} of "
              f"{summary['role_checked']} with a role other than their instrument's", highlight=False)
    if peaks:
        out.print(f"peaks {peaks['min']:.1f} .. {peaks['max']:.1f} dBFS (median {peaks['median']:.1f}); playing "
                  f"share of 100 ms frames: median {shares['median']:.2f}, lowest {shares['min']:.2f}", highlight=False)
    for t in (result.silent + result.clipping + result.role_mismatches)[:10]:
        out.print(f"  {t.song}/{t.track}: peak {t.peak_dbfs:.1f} dBFS, {t.clipped} clipped, role matches "
                  f"{t.role_matches}", highlight=False)
    if summary["instruments"]:
        top = list(summary["instruments"].items())[:12]
        out.print(f"{len(summary['instruments'])} instruments, most common: "
                  + ", ".join(f"{name} {count}" for name, count in top), highlight=False)


train_app = _Typer(no_args_is_help=True, help="Train learned mixers.")
app.add_typer(train_app, name="train")


@train_app.command("dmc")
def train_dmc_command(
    config: Path = typer.Option(..., "--config", help="YAML run config (keys: mixdown.train.dmc.TrainConfig)"),
) -> None:
    """Train the DMC controller through the differentiable console; resumes from the run folder's last.ckpt."""
    from mixdown.train.dmc import TrainConfig, train_dmc

    _report_written(lambda: train_dmc(TrainConfig.from_file(config)))


def _report_written(write) -> None:
    """Run ``write()`` (which returns the path it wrote) and say so; a MixdownError ends the command cleanly."""
    try:
        path = write()
    except MixdownError as e:
        _fail(e)
    _stdout().print(f"wrote {path}", highlight=False)


@train_app.command("rules")
def train_rules_command(
    corpus: list[Path] = typer.Argument(..., help="one or more people corpora (`mixdown data people`)"),
    output: Path | None = typer.Option(None, "--json", help="the whole fit as JSON ('-': stdout)"),
) -> None:
    """Fit the rules mixer's balance (level measure, family levels, role shares) and pan spread on the training
    songs of people corpora; prints what tables.py carries and the cross-validated errors behind it."""
    from mixdown.train.rules_fit import fit_rules

    try:
        with _progress_bar() as bar:
            task = bar.add_task("reading songs", total=None)
            fit = fit_rules(corpus, "train", progress=lambda done, total, what: bar.update(
                task, completed=done, total=total, description=str(what)[:28]))
        to_stdout = _write_json(fit, output)
    except MixdownError as e:
        _fail(e)
    if not to_stdout:
        _stdout().print(_rules_fit_table(fit))


def _rules_fit_table(fit: dict):
    from rich.table import Table

    table = Table(title=f"rules fitted on {fit['songs']} songs, {fit['tracks']} tracks ({fit['split']} split)",
                  title_justify="left", box=None)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    for name, value in fit["cross_validated_error_db"].items():
        table.add_row(f"leave-one-song-out error, {name}", f"{value:.2f} dB")
    for name, value in fit["error_db"].items():
        table.add_row(f"error, {name}", f"{value:.2f} dB")
    for name, value in fit["tables"].items():
        table.add_row(name, json.dumps(value))
    return table


@train_app.command("export")
def train_export_command(
    checkpoint: Path = typer.Argument(..., help="a run's Lightning checkpoint (e.g. runs/dmc/last.ckpt)"),
    output: Path = typer.Option(..., "--output", "-o", help="the safetensors file to write"),
) -> None:
    """Write a checkpoint's model (a run in progress too) as DMC weights for --method dmc and evaluate."""
    from mixdown.train.dmc import export_checkpoint

    _report_written(lambda: export_checkpoint(checkpoint, output))


@train_app.command("plot")
def train_plot_command(
    run: Path = typer.Argument(..., help="a run folder (its metrics.csv) or a metrics.csv"),
    output: Path = typer.Option(..., "--output", "-o", help="the figure to write (.png or .svg)"),
) -> None:
    """Plot a run's loss curves (each term; training smoothed, validation as points)."""
    from mixdown.export.plots import plot_training

    _report_written(lambda: plot_training(run / "metrics.csv" if run.is_dir() else run, output))


@train_app.command("evaluate")
def train_evaluate_command(
    data: str = typer.Argument(..., help="held-out songs as NAME:ROOT, e.g. synth:corpus_test/"),
    weights: Path | None = typer.Option(None, "--weights", help="DMC weights (default: the shipped ones)"),
    exclude: str | None = typer.Option(None, "--exclude", help="NAME:ROOT of the training songs: songs sharing "
                                          "a split group (a score) with them are left out"),
    songs: int = typer.Option(50, "--songs", help="songs for parameter recovery"),
    style_songs: int = typer.Option(10, "--style-songs", help="of those, songs for the style-transfer table (each "
                                    "is mixed by every method; optimize costs about a minute a song)"),
    methods: str = typer.Option("none,rules,dmc,optimize", "--methods", help="style-transfer methods"),
    optimize_songs: int = typer.Option(10, "--optimize-songs", help="songs for recovery by dmc + optimize"),
    json_out: Path | None = typer.Option(None, "--json", help="also write every figure as JSON"),
) -> None:
    """Parameter recovery and style transfer of a DMC on held-out songs (the figures of docs/dmc.md)."""
    try:
        from mixdown.train.evaluation import evaluate

        with _progress_bar() as bar:
            task = bar.add_task("evaluating", total=None)
            report = evaluate(data, weights, exclude, songs, style_songs, tuple(methods.split(",")), optimize_songs,
                              progress=lambda text: bar.update(task, description=text[:40]))
    except MixdownError as e:
        _fail(e)
    out = _stdout()
    out.print(f"parameter recovery on {report['songs']} songs ({report['tracks']} tracks): share within tolerance",
              highlight=False)
    for mode, result in report["recovery"].items():
        out.print(f"  {mode} ({result['songs']} songs): " + ", ".join(
            f"{k} {100 * v:.0f}% (median error {result['median_error'][k]:.2f})" for k, v in result["within"].items())
            + f"; gain misses heard right (level and tone) {100 * result['unheard_gain_misses']:.0f}%", highlight=False)
    if report.get("style"):
        out.print(f"style transfer on {report['style_songs']} songs (means; lower is better)", highlight=False)
        for method, row in report["style"]["summary"].items():
            out.print(f"  {method:<10}" + "  ".join(f"{k} {v:.3f}" for k, v in row.items()), highlight=False)
    if json_out:
        from mixdown.export.files import atomic_path

        with atomic_path(json_out) as tmp:
            tmp.write_text(json.dumps(report, indent=1), encoding="utf-8")
        out.print(f"wrote {json_out}", highlight=False)


def _role_counts(songs) -> dict[str, int]:
    """Tracks per role over a list of :class:`mixdown.data.Song` ("unknown" where a dataset names none)."""
    roles: dict[str, int] = {}
    for song in songs:
        for track in song.tracks:
            roles[track.role or "unknown"] = roles.get(track.role or "unknown", 0) + 1
    return roles


if __name__ == "__main__":
    app()
