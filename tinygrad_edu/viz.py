"""Pictures of the computation graph: `graph(tensor)` gives Graphviz DOT text, `render(dot, path)` draws it.

The graph is the one autograd records: every tensor an op produced points at its `Context` (`tensor._ctx`),
and every context points at its input tensors (`ctx.parents`). `graph` walks those links from the tensor you
give it back to the leaves and draws two kinds of node:

    tensor nodes   boxes: an optional name, the shape and dtype, and after backward the norm of `.grad`
                   - leaves that require grad (parameters): filled blue, the values backward is for
                   - constants (inputs, targets, anything with requires_grad=False): dashed grey
                   - intermediate results: plain; the tensor you passed in: bold
    op nodes       yellow ovals named after the Function that ran (`ctx.op_name`), with edges
                   input tensor -> op -> output tensor, so arrows point the way the forward pass ran.
                   Backward walks them the other way.

Node ids (t0, t1, ..., op0, op1, ...) follow the walk, inputs before outputs, so the same graph always gives
the same text: you can diff two DOT files, and tests can count nodes.

>>> import tinygrad_edu as tg
>>> from tinygrad_edu import viz
>>> a = tg.tensor([1.0, 2.0], requires_grad=True)
>>> loss = (a * a).sum()
>>> loss.backward()
>>> print(viz.graph(loss).count("->"))   # a->Mul (twice: a is both inputs), Mul->t, t->Sum, Sum->loss
5
"""
import shutil
import subprocess
from pathlib import Path

import numpy as np

from tinygrad_edu import autograd
from tinygrad_edu.trace import rule_of, shape_text

RENDER_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}

INSTALL_HINT = (
    "render: the Graphviz `dot` program is not on PATH, so the graph cannot be drawn here. Install Graphviz "
    "(`apt-get install graphviz` on Debian/Ubuntu, `brew install graphviz` on macOS, `conda install graphviz` "
    "in a conda environment), or paste the DOT text (write it with `viz.graph(...)` to a .dot file) into an "
    "online Graphviz viewer such as https://dreampuf.github.io/GraphvizOnline"
)

# Node styles, one per kind of node, so the picture has a legend a reader can learn once.
_STYLES = {
    "parameter": 'shape=box, style="filled,rounded", fillcolor="#cfe2ff"',
    "constant": 'shape=box, style="dashed,rounded", color="#777777", fontcolor="#555555"',
    "intermediate": 'shape=box, style="rounded"',
    "op": 'shape=oval, style=filled, fillcolor="#fff3bf"',
}


def _quote(text):
    """A DOT string literal: escape backslashes and quotes; `\\n` inside stays a DOT line break."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def tensor_name(tensor, names=None):
    """The label a user gave a tensor: `names[...]` if it is one of the values, else `tensor.name`, else None."""
    if names:
        for name, value in names.items():
            if value is tensor:
                return name
    return getattr(tensor, "name", None)


def _tensor_kind(tensor):
    if tensor._ctx is not None:
        return "intermediate"
    return "parameter" if tensor.requires_grad else "constant"


def _tensor_label(tensor, name, show_grad):
    lines = []
    if name:
        lines.append(str(name))
    lines.append(f"{shape_text(tensor.shape)} {tensor.dtype}")
    if tensor.numel() == 1:
        lines.append(f"value {tensor.data.item():.4g}")
    if show_grad and tensor.grad is not None:
        norm = float(np.linalg.norm(tensor.grad.data))
        lines.append(f"grad norm {norm:.4g}")
    return "\n".join(lines)


def graph(tensor, show_grad=True, names=None, title=None):
    """The computation graph that produced `tensor`, as Graphviz DOT text.

    show_grad: add the norm of `.grad` to every tensor that has one (leaves after `backward()`, and tensors
               that called `retain_grad()`).
    names:     optional {label: tensor} (e.g. `dict(model.named_parameters())`) to name nodes; a tensor's
               own `.name` attribute, if set, is used otherwise.
    title:     optional caption drawn above the graph.

    >>> import tinygrad_edu as tg
    >>> x = tg.ones(2, 3)
    >>> w = tg.ones(3, requires_grad=True)
    >>> text = graph((x * w).sum(), names={"w": w})
    >>> text.splitlines()[0], text.count("label=\\"Mul\\"")
    ('digraph backward {', 1)
    """
    order = autograd.topological_order(tensor, include_constants=True)
    tensor_ids = {}
    lines = [
        "digraph backward {",
        "  rankdir=TB;",
        '  graph [fontname="Helvetica"];',
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [color="#555555"];',
    ]
    if title:
        lines.append(f"  labelloc=t; label={_quote(title)};")
    op_count = 0
    for node in order:
        node_id = f"t{len(tensor_ids)}"
        tensor_ids[id(node)] = node_id
        style = _STYLES[_tensor_kind(node)]
        if node is tensor:
            style += ", penwidth=2"
        label = _tensor_label(node, tensor_name(node, names), show_grad)
        ctx = node._ctx
        if ctx is not None:
            # The op comes right before its output, so ids read in the order the forward pass ran.
            op_id = f"op{op_count}"
            op_count += 1
            lines.append(f"  {op_id} [label={_quote(ctx.op_name)}, tooltip={_quote(rule_of(getattr(ctx, 'function', None)))}, {_STYLES['op']}];")
            for parent in ctx.parents:
                lines.append(f"  {tensor_ids[id(parent)]} -> {op_id};")
            lines.append(f"  {node_id} [label={_quote(label)}, {style}];")
            lines.append(f"  {op_id} -> {node_id};")
        else:
            lines.append(f"  {node_id} [label={_quote(label)}, {style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_text, path):
    """Draw DOT text to `path` with Graphviz's `dot`; the format follows the extension (.svg, .png, .pdf).

    A `.dot` path just gets the text. Raises RuntimeError, saying how to install Graphviz, when `dot` is not on
    PATH. Returns the path written.

        text = viz.graph(loss)
        viz.render(text, "mlp_graph.svg")
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".dot" or suffix == ".gv":
        path.write_text(dot_text)
        return path
    if suffix not in RENDER_FORMATS:
        raise ValueError(f"render: unknown picture format {suffix!r} for {path}; use one of {sorted(RENDER_FORMATS)} or .dot")
    dot_program = shutil.which("dot")
    if dot_program is None:
        raise RuntimeError(INSTALL_HINT)
    result = subprocess.run(
        [dot_program, f"-T{RENDER_FORMATS[suffix]}", "-o", str(path)],
        input=dot_text.encode("utf-8"),
        capture_output=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"render: dot failed with exit code {result.returncode}: {result.stderr.decode(errors='replace').strip()}")
    return path
