"""`summary(model, input)`: each layer's output shape and parameter count, as Keras' `model.summary()` and torchinfo.

How it works: every module of the model gets a temporary `forward` on the instance that calls the real one and
records what came out; the model runs once on `input`; then the instance attributes are removed again, so the model
is exactly as before. Rows appear in call order (a parent before its children), indented by nesting; a module
called twice gets two rows. Each row counts the parameters the module owns itself (not its children's), the first
time it is called, so the rows add up to the total. Parameters of modules that never ran are in the total too.

`summary_at_first_forward()` does the same for the first model called inside a `with` block, during that real
call: `tinygrad-edu train ... --summary` uses it, so a run with --summary computes exactly what a run without it
does.
"""
import contextlib

from tinygrad_edu.autograd import no_grad
from tinygrad_edu.nn.module import Module
from tinygrad_edu.tensor import Tensor, default_generator


class _Row:
    """One call of one module: `name` is its dotted name in the model ("" for the model itself)."""

    def __init__(self, name, label, depth, parameters):
        self.name, self.label, self.depth, self.parameters = name, label, depth, parameters
        self.output = "?"  # filled when the call returns (stays "?" if it raised)


def _shape_text(value):
    """[2, 7, 64] for a tensor; tuples and lists of outputs element by element, e.g. LSTM's ([..], ([..], [..]))."""
    if isinstance(value, Tensor) or hasattr(value, "shape"):
        return str(list(value.shape))
    if isinstance(value, (tuple, list)):
        inner = ", ".join(_shape_text(item) for item in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_shape_text(item)}" for key, item in value.items()) + "}"
    return "None" if value is None else type(value).__name__


def _own_parameter_count(module):
    return sum(p.numel() for p in module.parameters(recurse=False))


@contextlib.contextmanager
def _recording(model, rows):
    """Wrap the forward of `model` and every submodule to append a _Row per call; undo it on exit."""
    counted, stack, saved = set(), [], []

    def wrap(name, module, forward):
        def recorded_forward(*args, **kwargs):
            class_name = type(module).__name__
            # Show the name relative to the module that called it: "layers.0" under "encoder", not the full path.
            prefix = stack[-1].name + "." if stack and stack[-1].name else ""
            shown = name[len(prefix):] if prefix and name.startswith(prefix) else name
            label = f"{shown} ({class_name})" if shown else class_name
            parameters = 0 if id(module) in counted else _own_parameter_count(module)
            counted.add(id(module))
            row = _Row(name, label, len(stack), parameters)
            rows.append(row)
            stack.append(row)
            try:
                output = forward(*args, **kwargs)
            finally:
                stack.pop()
            row.output = _shape_text(output)
            return output
        return recorded_forward

    for name, module in model.named_modules():
        had_own = "forward" in module.__dict__  # a forward already set on the instance is put back afterwards
        saved.append((module, had_own, module.__dict__.get("forward")))
        object.__setattr__(module, "forward", wrap(name, module, module.forward))
    try:
        yield
    finally:
        for module, had_own, previous in saved:
            if had_own:
                object.__setattr__(module, "forward", previous)
            else:
                del module.__dict__["forward"]


def _table(model, rows):
    parameters = {id(p): p for p in model.parameters()}.values()
    total = sum(p.numel() for p in parameters)
    trainable = sum(p.numel() for p in parameters if p.requires_grad)
    layer_texts = [("  " * row.depth) + row.label for row in rows]
    name_width = max([len("Layer (type)")] + [len(text) for text in layer_texts])
    shape_width = max([len("Output shape")] + [len(row.output) for row in rows])
    count_width = max(len("Param #"), len(f"{total:,}"))
    rule = "=" * (name_width + shape_width + count_width + 4)
    lines = [rule, f"{'Layer (type)':<{name_width}}  {'Output shape':<{shape_width}}  {'Param #':>{count_width}}", rule]
    for text, row in zip(layer_texts, rows):
        lines.append(f"{text:<{name_width}}  {row.output:<{shape_width}}  {row.parameters:>{count_width},}")
    lines += [rule, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", rule]
    return "\n".join(lines)


def summary(model, *inputs, print_fn=print, **kwargs):
    """Run `model(*inputs, **kwargs)` once and print (and return) a table of its layers: name (class), output shape
    and parameter count, then the total and trainable parameter counts.

    The call runs under no_grad in the model's current mode (train or eval), and the engine's random generator is
    put back afterwards, so dropout in the summary run does not change what a later training run draws.
    `print_fn=None` prints nothing.

    >>> import tinygrad_edu as tg, tinygrad_edu.nn as nn
    >>> text = tg.summary(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), tg.zeros(3, 4))
    ===================================
    Layer (type)  Output shape  Param #
    ===================================
    Sequential    [3, 2]              0
      0 (Linear)  [3, 8]             40
      1 (ReLU)    [3, 8]              0
      2 (Linear)  [3, 2]             18
    ===================================
    Total params: 58
    Trainable params: 58
    Non-trainable params: 0
    ===================================
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary: model must be an nn.Module, got {type(model).__name__}")
    rows = []
    generator_state = default_generator().bit_generator.state
    try:
        with no_grad(), _recording(model, rows):
            model(*inputs, **kwargs)
    finally:
        default_generator().bit_generator.state = generator_state
    text = _table(model, rows)
    if print_fn is not None:
        print_fn(text)
    return text


@contextlib.contextmanager
def summary_at_first_forward(print_fn=print):
    """Inside the block, the first top-level call of any Module (a model's first forward) is recorded as it happens
    and its summary printed when it returns; nothing else changes. Used by `train ... --summary`."""
    original_call = Module.__call__

    def first_call(self, *args, **kwargs):
        Module.__call__ = original_call  # later calls (and the submodules of this one) run normally
        rows = []
        with _recording(self, rows):
            output = original_call(self, *args, **kwargs)
        print_fn(_table(self, rows))
        return output

    Module.__call__ = first_call
    try:
        yield
    finally:
        Module.__call__ = original_call
