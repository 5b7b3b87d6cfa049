"""The graph pictures: DOT text with the right nodes and edges, deterministic, and rendering with or without `dot`."""
import re
import shutil

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import viz


def _node_lines(dot_text):
    return [line for line in dot_text.splitlines() if re.match(r"^\s+(t|op)\d+ \[", line)]


def _edges(dot_text):
    return re.findall(r"^\s+(\w+) -> (\w+);", dot_text, flags=re.MULTILINE)


def _label_of(dot_text, node_id):
    match = re.search(rf"^\s+{node_id} \[label=\"([^\"]*)\"", dot_text, flags=re.MULTILINE)
    return match.group(1)


def _small_graph():
    a = tg.randn(2, 3, requires_grad=True)
    b = tg.randn(2, 3, requires_grad=True)
    c = tg.randn(3)
    loss = (a * b + c).sum()
    return loss, {"a": a, "b": b, "c": c}


def test_graph_of_mul_add_sum_has_three_op_nodes_six_tensor_nodes_and_eight_edges():
    loss, names = _small_graph()
    text = viz.graph(loss, names=names)
    nodes = _node_lines(text)
    op_nodes = [line for line in nodes if line.strip().startswith("op")]
    tensor_nodes = [line for line in nodes if line.strip().startswith("t")]
    # ops: Mul, Add, Sum; tensors: a, b, a*b, c, a*b + c, loss
    assert len(op_nodes) == 3
    assert len(tensor_nodes) == 6
    # a->Mul, b->Mul, Mul->ab, ab->Add, c->Add, Add->s, s->Sum, Sum->loss
    assert len(_edges(text)) == 8
    assert text.startswith("digraph backward {") and text.rstrip().endswith("}")


def test_graph_edges_run_from_inputs_through_ops_to_outputs_in_forward_order():
    loss, names = _small_graph()
    text = viz.graph(loss, names=names)
    assert _edges(text) == [
        ("t0", "op0"), ("t1", "op0"), ("op0", "t2"),
        ("t2", "op1"), ("t3", "op1"), ("op1", "t4"),
        ("t4", "op2"), ("op2", "t5"),
    ]
    assert [_label_of(text, f"op{i}") for i in range(3)] == ["Mul", "Add", "Sum"]


def test_graph_labels_show_names_shapes_dtypes_and_values_of_scalars():
    loss, names = _small_graph()
    text = viz.graph(loss, names=names)
    assert _label_of(text, "t0").split("\\n")[:2] == ["a", "(2, 3) float32"]
    assert _label_of(text, "t3").split("\\n")[:2] == ["c", "(3,) float32"]
    assert _label_of(text, "t2") == "(2, 3) float32"
    assert f"value {loss.item():.4g}" in _label_of(text, "t5")


def test_graph_uses_the_tensor_name_attribute_when_no_names_are_given():
    weight = tg.ones(3, requires_grad=True)
    weight.name = "weight"
    text = viz.graph((weight * 2.0).sum())
    assert _label_of(text, "t0").startswith("weight\\n(3,) float32")


def test_graph_shows_grad_norms_after_backward_only_when_asked():
    loss, names = _small_graph()
    before = viz.graph(loss, names=names)
    assert "grad norm" not in before
    loss.backward()
    after = viz.graph(loss, names=names)
    expected_a = np.linalg.norm(names["b"].data)  # d(sum(a*b + c))/da = b
    assert f"grad norm {expected_a:.4g}" in _label_of(after, "t0")
    assert "grad norm" not in _label_of(after, "t3")  # c is a constant: no grad
    assert "grad norm" not in viz.graph(loss, names=names, show_grad=False)


def test_graph_draws_parameters_constants_and_intermediates_differently():
    loss, names = _small_graph()
    text = viz.graph(loss, names=names)
    lines = {line.strip().split(" ")[0]: line for line in _node_lines(text)}
    assert "fillcolor=\"#cfe2ff\"" in lines["t0"]       # a: a leaf that requires grad
    assert "dashed" in lines["t3"]                     # c: a constant
    assert "filled" not in lines["t2"] and "dashed" not in lines["t2"]
    assert "penwidth=2" in lines["t5"]                 # the tensor the graph was drawn from


def test_graph_text_is_deterministic_across_runs():
    tg.manual_seed(1)
    first = viz.graph(_small_graph()[0])
    tg.manual_seed(1)
    second = viz.graph(_small_graph()[0])
    assert first == second


def test_graph_lists_a_tensor_used_twice_once_with_two_edges():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    text = viz.graph((x * x).sum())
    assert len([line for line in _node_lines(text) if line.strip().startswith("t")]) == 3  # x, x*x, sum
    assert _edges(text).count(("t0", "op0")) == 2


def test_graph_escapes_quotes_in_names():
    x = tg.ones(2, requires_grad=True)
    x.name = 'say "hi"'
    text = viz.graph(x.sum())
    assert 'label="say \\"hi\\"\\n(2,) float32"' in text


def test_graph_of_a_deep_chain_does_not_recurse():
    x = tg.ones(1, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    text = viz.graph(y)
    assert text.count("[label=\"Mul\"") == 3000


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_render_writes_svg_and_png_when_dot_is_installed(tmp_path):
    loss, names = _small_graph()
    loss.backward()
    text = viz.graph(loss, names=names)
    svg = viz.render(text, tmp_path / "graph.svg")
    assert "<svg" in svg.read_text()
    png = viz.render(text, tmp_path / "graph.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_without_dot_raises_with_install_instructions(tmp_path, monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError) as error:
        viz.render("digraph { a -> b; }", tmp_path / "graph.svg")
    message = str(error.value)
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz", "online"):
        assert hint in message
    assert not (tmp_path / "graph.svg").exists()


def test_render_to_a_dot_path_writes_the_text_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    path = viz.render("digraph { a -> b; }", tmp_path / "graph.dot")
    assert path.read_text() == "digraph { a -> b; }"


def test_render_rejects_an_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match="unknown picture format"):
        viz.render("digraph {}", tmp_path / "graph.jpeg")
