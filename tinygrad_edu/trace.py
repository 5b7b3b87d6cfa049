"""Watch backward run: one row per op, in the order the engine applies the chain rule.

`autograd.run_backward(root, trace=callable)` calls `callable(node, ctx, grad, input_grads)` once per op, right
after the op's `backward` ran: `node` is the op's output tensor, `ctx` its Context (`ctx.op_name`,
`ctx.parents`, `ctx.function`), `grad` the gradient of the loss with respect to `node`, and `input_grads` what
the op's backward returned, one array (or None) per input. `BackwardTrace` is such a callable: it records a
row per op and prints them as a table.

    with trace_backward() as t:        # records every backward() run inside the block
        loss.backward()
    print(t)

    tracer = BackwardTrace()           # or pass one explicitly
    autograd.run_backward(loss, trace=tracer)
    print(tracer.table())

Each row shows the op, its output shape, the incoming gradient, and for each input: what it is, its shape, and
the gradient the op's rule sent to it. The rule is the first line of the Function's docstring, e.g.
`y = a * b;  da = dy * b, db = dy * a.`; the table lists each op's rule once, under the rows. When an op's rule
returns a gradient in the broadcast shape (a bias added to a batch), the row shows the sum back to the input's
shape as `(4, 5)->(5,)`: that sum is `autograd.unbroadcast`, done by the engine.

A gradient is shown by its values when it has at most `AUTO_VALUES_MAX_ELEMENTS` (16) elements — small enough
to check against a calculation by hand, number by number — and by its shape and norm when it is larger.
`values=True` shows every gradient's values (very large ones summarised by NumPy with `...`), `values=False`
only norms. Values have 4 significant digits and NumPy's brackets, one row of a matrix per line.

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward(trace=True)   # the Mul row sends [1, 2] (the other factor, x) to each input: x.grad = 2x
    run_backward(loss, trace=BackwardTrace(print_rows=True, values=True))   # the values of every gradient
"""
from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import numpy as np

import tinygrad_edu.tensor as tensor_module
from tinygrad_edu.autograd import unbroadcast

# A gradient with at most this many elements is printed by value under values="auto" (the default).
AUTO_VALUES_MAX_ELEMENTS = 16
ValuesMode = Union[bool, Literal["auto"]]


@dataclass
class InputGrad:
    """What one op sent back to one of its inputs."""

    label: str             # the input's name, "<op> out" for an op's result, "leaf" (requires grad) or "const"
    shape: tuple           # the input's shape
    rule_shape: tuple      # shape of the gradient the rule returned (may be the broadcast shape); None if no grad
    grad: np.ndarray       # that gradient summed back to `shape` (what the input receives from this op), or None
    norm: float            # np.linalg.norm(grad), or None


@dataclass
class BackwardStep:
    """One op of the backward pass."""

    step: int              # 1 for the first op backward ran (the one that produced the loss)
    op: str                # ctx.op_name, e.g. "MatMul"
    rule: str              # first line of the Function's docstring
    output_shape: tuple
    grad: np.ndarray       # the incoming gradient d(loss)/d(output)
    grad_norm: float
    inputs: list = field(default_factory=list)  # one InputGrad per input tensor of the op


def rule_of(function):
    """The first line of a Function's docstring, its forward formula and derivative ('' without a docstring)."""
    doc = getattr(function, "__doc__", None)
    return doc.strip().splitlines()[0].strip() if doc else ""


def shape_text(shape):
    """A shape as Python prints a tuple: (4, 3), (3,), ()."""
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _host(array):
    """A gradient as a NumPy array: a GPU array (CudaArray) is copied to the host (the trace reads every value)."""
    return array.get() if tensor_module.is_device_array(array) else np.asarray(array)


def format_values(array) -> list:
    """The values of `array` as text lines, 4 significant digits, one line per row of a matrix.

    >>> format_values(np.array([[1.0, -2.0], [0.5, 3.0]]))
    ['[[1, -2],', ' [0.5, 3]]']
    >>> format_values(np.array(0.25))
    ['0.25']
    """
    text = np.array2string(np.asarray(array), separator=", ", max_line_width=1_000_000,
                           formatter={"float_kind": lambda value: f"{value:.4g}"})
    return [line for line in text.splitlines() if line.strip()]


def _input_label(tensor, names):
    for name, value in (names or {}).items():
        if value is tensor:
            return name
    own_name = getattr(tensor, "name", None)
    if own_name:
        return str(own_name)
    if tensor._ctx is not None:
        return f"{tensor._ctx.op_name} out"
    return "leaf" if tensor.requires_grad else "const"


class BackwardTrace:
    """A `trace=` callable for `run_backward` that records one `BackwardStep` per op.

    print_rows: print each row the moment backward produces it (what `loss.backward(trace=True)` uses).
    names:      optional {label: tensor}, e.g. `dict(model.named_parameters())`, to name inputs in the table.
    values:     "auto" (default): show the values of each gradient with at most AUTO_VALUES_MAX_ELEMENTS (16)
                elements and the shape and norm of larger ones; True: the values of every gradient; False: norms only.

    >>> import tinygrad_edu as tg
    >>> from tinygrad_edu.autograd import run_backward
    >>> a = tg.tensor([3.0, 4.0], requires_grad=True)
    >>> t = BackwardTrace(names={"a": a})
    >>> run_backward((a * 2.0).sum(), trace=t)
    >>> [row.op for row in t.rows], round(t.rows[1].inputs[0].norm, 4)   # |(2, 2)| = 2√2
    (['Sum', 'Mul'], 2.8284)
    """

    # Column widths used while printing rows live; table() widens them to fit what was recorded.
    DEFAULT_WIDTHS = {"op": 10, "out": 12, "grad_in": 22, "input": 14, "shape": 10}

    def __init__(self, print_rows: bool = False, names: dict[str, Any] | None = None,
                 values: ValuesMode = "auto") -> None:
        if values not in (True, False, "auto"):
            raise ValueError(f"BackwardTrace: values must be True, False or 'auto', got {values!r}")
        self.print_rows = print_rows
        self.names = names
        self.values = values
        self.rows: list[BackwardStep] = []
        self._live_widths = dict(self.DEFAULT_WIDTHS)

    def shows_values(self, array) -> bool:
        """Whether the table prints `array` by value (else by shape and norm): see `values` above."""
        if self.values == "auto":
            return array is not None and np.size(array) <= AUTO_VALUES_MAX_ELEMENTS
        return bool(self.values)

    def __call__(self, node, ctx, grad, input_grads):
        function = getattr(ctx, "function", None)
        grad = _host(grad)
        row = BackwardStep(
            step=len(self.rows) + 1,
            op=ctx.op_name,
            rule=rule_of(function),
            output_shape=tuple(node.shape),
            grad=grad,
            grad_norm=float(np.linalg.norm(grad)),
        )
        for parent, parent_grad in zip(ctx.parents, input_grads):
            label = _input_label(parent, self.names)
            if parent_grad is None or not parent.requires_grad:
                row.inputs.append(InputGrad(label, tuple(parent.shape), None, None, None))
                continue
            parent_grad = _host(parent_grad)
            rule_shape = tuple(parent_grad.shape)
            # The same sum the engine does next: a gradient in the broadcast shape, summed back to the input's.
            received = unbroadcast(parent_grad, tuple(parent.shape))
            row.inputs.append(InputGrad(label, tuple(parent.shape), rule_shape, received, float(np.linalg.norm(received))))
        self.rows.append(row)
        if self.print_rows:
            if row.step == 1:
                print(self._header(self._live_widths))
            # Rows print before later ones are known: a column widens (for good) when a row needs more room.
            self._widen(self._live_widths, row)
            print("\n".join(self._row_lines(row, self._live_widths)))

    def _header(self, widths):
        if self.values is False:
            incoming, sent = "grad in, norm", "grad to input, norm"
        else:
            incoming, sent = "grad in", "grad to input"
        return (f"{'step':>4}  {'op':<{widths['op']}} {'out shape':<{widths['out']}} {incoming:<{widths['grad_in']}} "
                f"{'input':<{widths['input']}} {'shape':<{widths['shape']}} {sent}")

    def _gradient_text(self, shape_prefix, array, norm):
        """A gradient cell as lines: `(2,) [1, -2]` by value, or `(4, 5) norm 1.087` (just `(4, 5) 1.087` when
        values=False, where every number is a norm)."""
        if not self.shows_values(array):
            return [f"{shape_prefix} {norm:.4g}" if self.values is False else f"{shape_prefix} norm {norm:.4g}"]
        lines = format_values(array)
        indent = " " * (len(shape_prefix) + 1)
        return [f"{shape_prefix} {lines[0]}"] + [indent + line for line in lines[1:]]

    def _cells(self, row):
        """The text of each column of `row` as lines: (op, out shape, grad in, [(input, shape, grad to input)])."""
        inputs = []
        for item in row.inputs:
            if item.grad is None:
                sent = ["-  (no grad needed)"]
            elif item.rule_shape != item.shape:
                prefix = f"{shape_text(item.rule_shape)}->{shape_text(item.shape)}"
                sent = self._gradient_text(prefix, item.grad, item.norm)
                sent[-1] += "  (summed over broadcast axes)"
            else:
                sent = self._gradient_text(shape_text(item.shape), item.grad, item.norm)
            inputs.append((item.label, shape_text(item.shape), sent))
        out_shape = shape_text(row.output_shape)
        return row.op, out_shape, self._gradient_text(out_shape, row.grad, row.grad_norm), inputs

    def _row_lines(self, row, widths):
        """Lines of one row: the op's columns on the left, its inputs (one after another) on the right."""
        op, out_shape, incoming, inputs = self._cells(row)
        left = [f"{row.step:>4}  {op:<{widths['op']}} {out_shape:<{widths['out']}} {incoming[0]:<{widths['grad_in']}}"]
        left_width = len(left[0])
        indent = left_width - widths["grad_in"]
        left += [f"{' ' * indent}{line:<{widths['grad_in']}}" for line in incoming[1:]]
        right = []
        for label, shape, sent in inputs:
            right.append(f"{label:<{widths['input']}} {shape:<{widths['shape']}} {sent[0]}")
            right += [f"{' ' * (widths['input'] + widths['shape'] + 2)}{line}" for line in sent[1:]]
        lines = []
        for left_line, right_line in itertools.zip_longest(left, right):
            left_line = left_line if left_line is not None else " " * left_width
            lines.append(f"{left_line} {right_line}".rstrip() if right_line else left_line.rstrip())
        return lines

    def _widen(self, widths, row):
        op, out_shape, incoming, inputs = self._cells(row)
        widths["op"] = max(widths["op"], len(op))
        widths["out"] = max(widths["out"], len(out_shape))
        widths["grad_in"] = max(widths["grad_in"], *(len(line) for line in incoming))
        for label, shape, _ in inputs:
            widths["input"] = max(widths["input"], len(label))
            widths["shape"] = max(widths["shape"], len(shape))

    def _fitted_widths(self):
        widths = dict(self.DEFAULT_WIDTHS)
        for row in self.rows:
            self._widen(widths, row)
        return widths

    def table(self, rules: bool = True) -> str:
        """The recorded rows as text, a line per (op, input) and per matrix row of values, then each op's rule once."""
        widths = self._fitted_widths()
        lines = [f"backward trace: {len(self.rows)} ops, from the loss back to the leaves", self._header(widths)]
        for row in self.rows:
            lines.extend(self._row_lines(row, widths))
        if rules and self.rows:
            lines.append("rules (first line of each Function's docstring):")
            seen: dict[str, str] = {}
            for row in self.rows:
                seen.setdefault(row.op, row.rule)
            width = max(len(op) for op in seen)
            for op, rule in seen.items():
                lines.append(f"  {op:<{width}}  {rule}")
        return "\n".join(lines)

    def __str__(self):
        return self.table()

    def __len__(self):
        return len(self.rows)


# ----- the active tracer ------------------------------------------------------------------------------------
# Tensor.backward asks `active()` for a tracer when it was given none, so `with trace_backward():` sees every
# backward run inside the block without changing the code that calls backward. A stack, per thread, so blocks
# can nest.
class _ActiveTracers(threading.local):
    def __init__(self):
        self.stack = []


_active_tracers = _ActiveTracers()


def active():
    """The tracer of the innermost `trace_backward()` block, or None outside one."""
    return _active_tracers.stack[-1] if _active_tracers.stack else None


@contextlib.contextmanager
def trace_backward(print_rows: bool = False, names: dict[str, Any] | None = None,
                   values: ValuesMode = "auto") -> Iterator[BackwardTrace]:
    """`with trace_backward() as t: loss.backward()` records every op of that backward in `t` (a BackwardTrace).

    print_rows=True prints each row as backward runs; otherwise `print(t)` afterwards. values: see BackwardTrace.
    """
    tracer = BackwardTrace(print_rows=print_rows, names=names, values=values)
    _active_tracers.stack.append(tracer)
    try:
        yield tracer
    finally:
        _active_tracers.stack.pop()
