"""Generated docs stay in sync with the registries; the README's commands stay what CI runs."""

from pathlib import Path

from mixdown.dsp.docs import processors_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_processor_reference_is_up_to_date():
    committed = (ROOT / "docs" / "processors.md").read_text()
    assert committed == processors_markdown(), "regenerate: python -m mixdown.dsp.docs > docs/processors.md"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = 'pip install -c constraints.txt -e ".[test]" && python -m pytest -q'
    assert command in readme
    assert command in (ROOT / ".ci" / "run").read_text()
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text()


def test_readme_python_example_runs(monkeypatch):
    readme = (ROOT / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["y"].shape == (8, 1, 44100)
    assert all(p.requires_grad for p in namespace["console"].parameters())
