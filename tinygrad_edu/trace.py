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

Each row shows the op, its output shape, the incoming gradient (shape and norm), and for each input: what it
is, its shape, and the gradient the op's rule sent to it. The rule is the first line of the Function's
docstring, e.g. `y = a * b;  da = dy * b, db = dy * a.`; the table lists each op's rule once, under the rows.
When an op's rule returns a gradient in the broadcast shape (a bias added to a batch), the row shows the sum
back to the input's shape as `(4, 5)->(5,)`: that sum is `autograd.unbroadcast`, done by the engine.
"""
import contextlib
import threading
from dataclasses import dataclass, field

import numpy as np

from tinygrad_edu.autograd import unbroadcast


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

    def __init__(self, print_rows=False, names=None):
        self.print_rows = print_rows
        self.names = names
        self.rows = []

    def __call__(self, node, ctx, grad, input_grads):
        function = getattr(ctx, "function", None)
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
            rule_shape = tuple(np.shape(parent_grad))
            # The same sum the engine does next: a gradient in the broadcast shape, summed back to the input's.
            received = unbroadcast(np.asarray(parent_grad), tuple(parent.shape))
            row.inputs.append(InputGrad(label, tuple(parent.shape), rule_shape, received, float(np.linalg.norm(received))))
        self.rows.append(row)
        if self.print_rows:
            if row.step == 1:
                print(self._header(self.DEFAULT_WIDTHS))
            print("\n".join(self._row_lines(row, self.DEFAULT_WIDTHS)))

    @staticmethod
    def _header(widths):
        return (f"{'step':>4}  {'op':<{widths['op']}} {'out shape':<{widths['out']}} {'grad in, norm':<{widths['grad_in']}} "
                f"{'input':<{widths['input']}} {'shape':<{widths['shape']}} grad to input, norm")

    @staticmethod
    def _cells(row):
        """The text of each column of `row`: (op, out shape, grad in, [(input, shape, grad to input), ...])."""
        inputs = []
        for item in row.inputs:
            if item.grad is None:
                sent = "-  (no grad needed)"
            elif item.rule_shape != item.shape:
                sent = f"{shape_text(item.rule_shape)}->{shape_text(item.shape)} {item.norm:.4g}  (summed over broadcast axes)"
            else:
                sent = f"{shape_text(item.shape)} {item.norm:.4g}"
            inputs.append((item.label, shape_text(item.shape), sent))
        out_shape = shape_text(row.output_shape)
        return row.op, out_shape, f"{out_shape} {row.grad_norm:.4g}", inputs

    def _row_lines(self, row, widths):
        op, out_shape, incoming, inputs = self._cells(row)
        first = f"{row.step:>4}  {op:<{widths['op']}} {out_shape:<{widths['out']}} {incoming:<{widths['grad_in']}}"
        if not inputs:
            return [first.rstrip()]
        lines = []
        for position, (label, shape, sent) in enumerate(inputs):
            prefix = first if position == 0 else " " * len(first)
            lines.append(f"{prefix} {label:<{widths['input']}} {shape:<{widths['shape']}} {sent}")
        return lines

    def _fitted_widths(self):
        widths = dict(self.DEFAULT_WIDTHS)
        for row in self.rows:
            op, out_shape, incoming, inputs = self._cells(row)
            widths["op"] = max(widths["op"], len(op))
            widths["out"] = max(widths["out"], len(out_shape))
            widths["grad_in"] = max(widths["grad_in"], len(incoming))
            for label, shape, _ in inputs:
                widths["input"] = max(widths["input"], len(label))
                widths["shape"] = max(widths["shape"], len(shape))
        return widths

    def table(self, rules=True):
        """The recorded rows as text, one line per (op, input), then each op's rule once."""
        widths = self._fitted_widths()
        lines = [f"backward trace: {len(self.rows)} ops, from the loss back to the leaves", self._header(widths)]
        for row in self.rows:
            lines.extend(self._row_lines(row, widths))
        if rules and self.rows:
            lines.append("rules (first line of each Function's docstring):")
            seen = {}
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
def trace_backward(print_rows=False, names=None):
    """`with trace_backward() as t: loss.backward()` records every op of that backward in `t` (a BackwardTrace).

    print_rows=True prints each row as backward runs; otherwise `print(t)` afterwards.
    """
    tracer = BackwardTrace(print_rows=print_rows, names=names)
    _active_tracers.stack.append(tracer)
    try:
        yield tracer
    finally:
        _active_tracers.stack.pop()
