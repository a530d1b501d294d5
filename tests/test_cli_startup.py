"""Start-up: the command line answers without loading the heavy layers, and a missing optional extra is one line.

Each case runs in a fresh interpreter (``sys.modules`` of the test process already holds everything). Optional
dependencies are hidden by an import hook, as on a base install (``pip install -e .``).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

OPTIONAL = ("mido", "music21", "lightning", "pytorch_lightning", "pedalboard", "dasp_pytorch", "psycopg", "httpx",
            "playwright", "jsonschema", "pytest", "psutil")
HEAVY = ("torch", "scipy", "numba", "matplotlib", "fastapi", "sqlalchemy")


def _run(body: str, *, hide_optional: bool = True, cwd=None) -> subprocess.CompletedProcess:
    """Run ``body`` in a fresh interpreter, optional extras hidden; it prints JSON on its last line."""
    hook = textwrap.dedent(f"""
        import sys
        class _Hide:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {OPTIONAL!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, _Hide())
    """) if hide_optional else ""
    return subprocess.run([sys.executable, "-c", hook + textwrap.dedent(body)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def _cli(args: list[str]) -> str:
    return f"""
        import json, sys
        from typer.testing import CliRunner
        from mixdown.cli import app
        result = CliRunner().invoke(app, {args!r})
        print(json.dumps({{"code": result.exit_code, "output": result.output,
                          "loaded": sorted(m for m in {HEAVY + OPTIONAL!r} if m in sys.modules)}}))
    """


def _result(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_loads_no_heavy_or_optional_module():
    result = _result(_run(_cli(["--help"])))
    assert result["code"] == 0 and "mix" in result["output"] and "render" in result["output"]
    assert result["loaded"] == [], f"--help imported {result['loaded']}"


@pytest.mark.parametrize("args", [["mix", "{tmp}/empty", "-o", "{tmp}/out"], ["mix", "{tmp}/missing"],
                                  ["render", "{tmp}/missing.json", "-o", "{tmp}/mix.wav"],
                                  ["analyze", "{tmp}/missing.wav"]])
def test_an_input_error_is_reported_before_torch_loads(tmp_path, args):
    (tmp_path / "empty").mkdir()
    result = _result(_run(_cli([a.format(tmp=tmp_path) for a in args])))
    assert result["code"] == 2 and "error:" in result["output"], result["output"]
    assert "torch" not in result["loaded"] and "matplotlib" not in result["loaded"], result["loaded"]
    assert "Traceback" not in result["output"]
    assert not (tmp_path / "out").exists()  # an early error creates no output folder


def test_the_base_install_mixes_without_any_optional_extra():
    """What `mixdown mix --demo` needs, imported with every extra hidden: the method, mastering, the report."""
    done = _run("""
        import json, sys
        from mixdown import api
        for name in api.METHODS:
            api.method_function(name)
        import mixdown.export.report_html, mixdown.mastering.master, mixdown.console.session_render, mixdown.app.server
        print(json.dumps({"loaded": sorted(m for m in OPTIONAL if m in sys.modules)}))
    """.replace("OPTIONAL", repr(OPTIONAL)))
    assert _result(done)["loaded"] == []


@pytest.mark.parametrize("args, extra", [(["data", "synth", "--out", "{tmp}/corpus", "--songs", "1"], "data"),
                                         (["train", "dmc", "--config", "configs/dmc_synth.yaml"], "train")])
def test_a_missing_extra_is_one_line_naming_it(tmp_path, args, extra):
    result = _result(_run(_cli([a.format(tmp=tmp_path) for a in args]), cwd=Path(__file__).parents[1]))
    assert result["code"] == 2
    lines = result["output"].strip().splitlines()
    assert len(lines) == 1 and f"pip install 'mixdown[{extra}]'" in lines[0], result["output"]
    assert not (tmp_path / "corpus").exists()


def test_uncompiled_kernels_are_found_in_numbas_cache_folder(tmp_path, monkeypatch):
    import mixdown.compiled
    from mixdown.compiled import uncompiled_modules

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    cold = uncompiled_modules()
    assert {"audio/kernels.py", "analysis/kernels.py", "dsp/kernels/biquad.py", "dsp/limiter.py"} <= set(cold)
    assert uncompiled_modules(("audio",)) == ["audio/kernels.py"]
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    audio = Path(mixdown.compiled.__file__).resolve().parent / "audio"  # numba: folder name + SHA-1 of its path
    cache = tmp_path / f"audio_{hashlib.sha1(str(audio).encode()).hexdigest()}"
    cache.mkdir()
    (cache / f"kernels.scan_frames-38.{tag}.nbi").write_bytes(b"")
    assert "audio/kernels.py" not in uncompiled_modules() and uncompiled_modules(("audio",)) == []
    assert len(uncompiled_modules()) == len(cold) - 1


def test_a_first_run_says_it_compiles_once_the_inputs_are_checked(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import mixdown.compiled
    from mixdown.cli import app

    monkeypatch.setattr(mixdown.compiled, "uncompiled_modules", lambda within=("",): ["audio/kernels.py"])
    (tmp_path / "empty").mkdir()
    refused = CliRunner().invoke(app, ["analyze", str(tmp_path / "empty")])
    assert refused.exit_code == 2 and "compiling" not in refused.output
    done = CliRunner().invoke(app, ["analyze", str(Path(__file__).parents[1] / "mixdown/assets/demo/saber-finalstep/stems")])
    assert done.exit_code == 0 and mixdown.compiled.FIRST_RUN_NOTICE in " ".join(done.output.split())
