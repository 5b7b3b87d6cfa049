"""The tutorial scripts in docs/ run and their asserts hold; the `explain` examples run end to end."""
import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tinygrad_edu import explain

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS = REPO_ROOT / "docs"
LESSONS = sorted(DOCS.glob("[0-9][0-9]_*.py"))


def test_docs_has_the_nine_lessons_in_order_and_the_index_lists_them():
    assert [path.name[:3] for path in LESSONS] == ["00_", "01_", "02_", "03_", "04_", "05_", "06_", "07_", "08_"]
    index = (DOCS / "README.md").read_text()
    positions = [index.index(path.name) for path in LESSONS]
    assert positions == sorted(positions)


# The pictures a lesson saves (into TINYGRAD_EDU_LESSON_OUT, so running the tests leaves the repository clean).
LESSON_PICTURES = {"08_a_training_loop": ["08_overfitting.png"]}


@pytest.mark.parametrize("lesson", LESSONS, ids=[path.stem for path in LESSONS])
def test_docs_lesson_runs_and_its_asserts_hold(lesson, tmp_path):
    completed = subprocess.run(
        [sys.executable, str(lesson)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "error", "TINYGRAD_EDU_LESSON_OUT": str(tmp_path)},
    )
    assert completed.returncode == 0, f"{lesson.name} failed:\n{completed.stdout}\n{completed.stderr}"
    assert re.search(r"^lesson \d: .*passed", completed.stdout, flags=re.MULTILINE), completed.stdout
    expected_pictures = LESSON_PICTURES.get(lesson.stem, [])
    assert sorted(path.name for path in tmp_path.iterdir()) == expected_pictures
    for name in expected_pictures:
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
        assert f"saved to {tmp_path / name}" in completed.stdout


# ----- tinygrad-edu explain ----------------------------------------------------------------------------------
def _parse(argv):
    parser = argparse.ArgumentParser(prog="tinygrad-edu")
    explain.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.mark.parametrize("name", sorted(explain.EXAMPLES))
def test_explain_example_runs_and_prints_its_trace_and_dot(name, tmp_path, capsys):
    dot_path = tmp_path / f"{name}.dot"
    args = _parse(["explain", name, "--trace", "--dot", str(dot_path)])
    assert args.handler(args) == 0
    printed = capsys.readouterr().out
    assert f"explain {name}:" in printed
    assert "backward trace:" in printed and "rules (first line" in printed
    text = dot_path.read_text()
    assert text.startswith("digraph backward {") and "->" in text


def test_explain_rejects_an_unknown_example():
    with pytest.raises(SystemExit):
        _parse(["explain", "transformer"])


def test_explain_render_without_dot_prints_the_install_hint_and_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    args = _parse(["explain", "mlp", "--render", str(tmp_path / "mlp.svg")])
    assert args.handler(args) == 1
    assert "apt-get install graphviz" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_explain_render_draws_an_svg(tmp_path):
    args = _parse(["explain", "conv", "--render", str(tmp_path / "conv.svg")])
    assert args.handler(args) == 0
    assert "<svg" in (tmp_path / "conv.svg").read_text()


def test_explain_builds_the_same_graph_for_the_same_seed():
    from tinygrad_edu import viz

    first, _ = explain.build("mlp", seed=3)
    second, _ = explain.build("mlp", seed=3)
    assert first.item() == second.item()
    assert viz.graph(first) == viz.graph(second)


def test_readme_python_examples_run():
    """Every ```python block of README.md runs as written (the quick example and the PyTorch import lines)."""
    readme = (REPO_ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert len(blocks) >= 2
    for block in blocks:
        completed = subprocess.run([sys.executable, "-c", block], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
        assert completed.returncode == 0, f"README example failed:\n{block}\n{completed.stderr}"
