"""Generated docs stay in sync with the registries; the README's commands stay what CI runs; the code passes the
project's lint rules (``[tool.ruff]`` in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

import pytest

from mixdown.dsp.docs import processors_markdown
from mixdown.errors import RecipeError

ROOT = Path(__file__).resolve().parents[1]


def test_processor_reference_is_up_to_date():
    committed = (ROOT / "docs" / "processors.md").read_text()
    assert committed == processors_markdown(), "regenerate: python -m mixdown.dsp.docs > docs/processors.md"


def test_ci_runs_the_readme_commands_as_written():
    """.ci/run takes both commands from the README's Set-up section (the first in a fresh venv, then the tests)."""
    readme = (ROOT / "README.md").read_text()
    first = "pip install -c constraints.txt -e . && mixdown mix --demo -o out/"
    second = 'bash scripts/install_system_deps.sh && pip install -c constraints.txt -e ".[test]" && python -m pytest -q'
    assert f"```bash\n{first}\n```" in readme and f"```bash\n{second}\n```" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    extractor = ci[ci.index("readme_command() {"):ci.index("\nEOF\n}") + len("\nEOF\n}")]
    for index, command in enumerate((first, second)):
        done = subprocess.run(["bash", "-c", f"{extractor}\nreadme_command {index}"], capture_output=True, text=True,
                              cwd=ROOT, check=True)
        assert done.stdout.strip() == command
    assert 'python3 -m venv "$fresh/venv"' in ci and 'bash -c "$first"' in ci and 'bash -c "$second"' in ci
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text()


def test_code_passes_the_project_lint_rules():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], capture_output=True,
                            text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_python_example_runs(monkeypatch):
    readme = (ROOT / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["y"].shape == (8, 1, 44100)
    assert all(p.requires_grad for p in namespace["console"].parameters())


def test_recipe_json_schema_is_up_to_date_and_agrees_with_the_validator():
    import copy
    import json

    import jsonschema

    from mixdown.console import Recipe
    from mixdown.console.schema import recipe_json_schema

    schema = recipe_json_schema()
    assert json.loads((ROOT / "docs" / "recipe.schema.json").read_text()) == schema, \
        "regenerate: python -m mixdown.console.schema > docs/recipe.schema.json"
    demo = json.loads((ROOT / "mixdown" / "assets" / "demo" / "saber-finalstep" / "recipe.json").read_text())
    jsonschema.validate(demo, schema)
    Recipe.from_dict(demo)
    for edit in (lambda d: d["tracks"][0]["chain"][0]["params"].update(gain_db=99.0),
                 lambda d: d["tracks"][0]["chain"].append({"type": "fuzzbox"}),
                 lambda d: d["master"]["chain"][0]["params"].update(warmth=1)):
        bad = copy.deepcopy(demo)
        edit(bad)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
        with pytest.raises(RecipeError):
            Recipe.from_dict(bad)
