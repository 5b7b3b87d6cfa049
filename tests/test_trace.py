"""The backward trace: one row per op, in the engine's order, with the shapes and norms of every gradient."""
import numpy as np
import pytest

import argparse
import re

import tinygrad_edu as tg
from tinygrad_edu import explain
from tinygrad_edu import trace as trace_module
from tinygrad_edu.autograd import run_backward
from tinygrad_edu.ops.elementwise import Mul
from tinygrad_edu.trace import AUTO_VALUES_MAX_ELEMENTS, BackwardTrace, active, format_values, trace_backward


def _layer_with_cotangent(seed=0):
    """loss = Σ tanh(x W + b) ∘ c, float64, with every gradient known in closed form."""
    rng = np.random.default_rng(seed)
    x = tg.Tensor(rng.standard_normal((4, 3)))
    w = tg.Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    b = tg.Tensor(rng.standard_normal(2), requires_grad=True)
    c = tg.Tensor(rng.standard_normal((4, 2)))
    hidden = (x @ w + b).tanh()
    loss = (hidden * c).sum()
    grad_hidden = c.data
    grad_z = grad_hidden * (1 - hidden.data ** 2)
    expected = {
        "grad_hidden": grad_hidden,
        "grad_z": grad_z,
        "grad_b": grad_z.sum(axis=0),
        "grad_w": x.data.T @ grad_z,
    }
    return loss, {"x": x, "W": w, "b": b, "c": c}, expected


def test_trace_records_ops_in_the_order_backward_runs_them():
    loss, names, _ = _layer_with_cotangent()
    tracer = BackwardTrace(names=names)
    run_backward(loss, trace=tracer)
    assert [row.op for row in tracer.rows] == ["Sum", "Mul", "Tanh", "Add", "MatMul"]
    assert [row.step for row in tracer.rows] == [1, 2, 3, 4, 5]
    assert [row.output_shape for row in tracer.rows] == [(), (4, 2), (4, 2), (4, 2), (4, 2)]


def test_trace_norms_equal_the_norms_of_the_expected_gradients():
    loss, names, expected = _layer_with_cotangent()
    tracer = BackwardTrace(names=names)
    run_backward(loss, trace=tracer)
    sum_row, mul_row, tanh_row, add_row, matmul_row = tracer.rows
    assert sum_row.grad_norm == pytest.approx(1.0)
    assert mul_row.grad_norm == pytest.approx(np.sqrt(8.0))  # d(sum)/d(each of 8 elements) = 1
    assert mul_row.inputs[0].norm == pytest.approx(np.linalg.norm(expected["grad_hidden"]))
    assert tanh_row.grad_norm == pytest.approx(np.linalg.norm(expected["grad_hidden"]))
    assert tanh_row.inputs[0].norm == pytest.approx(np.linalg.norm(expected["grad_z"]))
    assert add_row.inputs[1].norm == pytest.approx(np.linalg.norm(expected["grad_b"]))
    assert matmul_row.inputs[1].norm == pytest.approx(np.linalg.norm(expected["grad_w"]))
    np.testing.assert_allclose(matmul_row.inputs[1].grad, expected["grad_w"], rtol=1e-12)
    np.testing.assert_allclose(names["W"].grad.data, expected["grad_w"], rtol=1e-12)


def test_trace_shows_the_bias_gradient_summed_back_from_the_broadcast_shape():
    loss, names, _ = _layer_with_cotangent()
    tracer = BackwardTrace(names=names)
    run_backward(loss, trace=tracer)
    bias_input = tracer.rows[3].inputs[1]
    assert (bias_input.label, bias_input.shape, bias_input.rule_shape) == ("b", (2,), (4, 2))
    assert bias_input.grad.shape == (2,)
    assert "(4, 2)->(2,)" in tracer.table()


def test_trace_marks_inputs_that_need_no_gradient_and_labels_op_outputs():
    loss, names, _ = _layer_with_cotangent()
    tracer = BackwardTrace(names=names)
    run_backward(loss, trace=tracer)
    mul_row, matmul_row = tracer.rows[1], tracer.rows[4]
    assert [item.label for item in mul_row.inputs] == ["Tanh out", "c"]
    assert mul_row.inputs[1].grad is None and mul_row.inputs[1].norm is None
    assert [item.label for item in matmul_row.inputs] == ["x", "W"]
    assert matmul_row.inputs[0].grad is None


def test_trace_rule_is_the_first_docstring_line_of_the_function():
    loss, names, _ = _layer_with_cotangent()
    tracer = BackwardTrace(names=names)
    run_backward(loss, trace=tracer)
    assert tracer.rows[1].rule == "y = a * b;  da = dy * b, db = dy * a."
    assert tracer.rows[1].rule == Mul.__doc__.strip().splitlines()[0]
    table = tracer.table()
    assert "Mul" in table and "y = a * b;  da = dy * b, db = dy * a." in table
    assert table.count("y = a * b;") == 1  # each rule listed once


def test_trace_table_without_values_has_one_line_per_op_input():
    loss, names, _ = _layer_with_cotangent()
    tracer = BackwardTrace(names=names, values=False)
    run_backward(loss, trace=tracer)
    lines = tracer.table(rules=False).splitlines()
    input_count = sum(len(row.inputs) for row in tracer.rows)  # Sum 1, Mul 2, Tanh 1, Add 2, MatMul 2
    assert input_count == 8
    assert len(lines) == 2 + input_count  # title, header, rows
    assert lines[2].split()[:2] == ["1", "Sum"]


def test_trace_print_rows_prints_each_row_as_backward_runs(capsys):
    loss, names, _ = _layer_with_cotangent()
    run_backward(loss, trace=BackwardTrace(print_rows=True, names=names))
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[:2] == ["step", "op"]
    assert [line.split()[1] for line in printed[1:] if line[:4].strip()] == ["Sum", "Mul", "Tanh", "Add", "MatMul"]


def test_trace_backward_context_sets_the_active_tracer_and_restores_it():
    assert active() is None
    with trace_backward() as outer:
        assert active() is outer
        with trace_backward() as inner:
            assert active() is inner
        assert active() is outer
    assert active() is None


def test_trace_backward_context_records_a_run_given_the_active_tracer():
    loss, names, _ = _layer_with_cotangent()
    with trace_backward(names=names) as tracer:
        run_backward(loss, trace=active())
    assert [row.op for row in tracer.rows] == ["Sum", "Mul", "Tanh", "Add", "MatMul"]
    assert "backward trace: 5 ops" in str(tracer)


def test_trace_backward_context_records_tensor_backward():
    loss, names, _ = _layer_with_cotangent()
    with trace_backward(names=names) as tracer:
        loss.backward()
    assert [row.op for row in tracer.rows] == ["Sum", "Mul", "Tanh", "Add", "MatMul"]


def test_active_tracer_is_none_after_an_exception_inside_the_block():
    with pytest.raises(ZeroDivisionError):
        with trace_backward():
            1 / 0
    assert trace_module.active() is None


# ----- values in the trace ----------------------------------------------------------------------------------
def _numbers(text):
    """Every number written in `text`, in order (the values of one trace cell)."""
    return [float(token) for token in re.findall(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?|nan|-?inf", text)]


def _values_sent_to(line, label):
    """The numbers of the first bracketed gradient cell after input `label` in one line of a trace."""
    after = line.split(f" {label} ", 1)[1]
    return _numbers(after[after.index("["):after.index("]") + 1])


def test_trace_true_prints_gradient_values_that_match_a_hand_calculation(capsys):
    """loss = Σ (x w + b)², x = [1, 2], w = [3, -1], b = [0.5]: every gradient worked out by hand below."""
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = tg.tensor(np.array([3.0, -1.0]), requires_grad=True)
    b = tg.tensor(np.array([0.5]), requires_grad=True)
    loss = ((x * w + b) ** 2).sum()
    loss.backward(trace=True)
    # By hand: z = x w + b = [3.5, -1.5]; dloss/dz = 2z = [7, -3]; dloss/dx = 2z w = [21, 3];
    # dloss/dw = 2z x = [7, -6]; dloss/db = Σ 2z = 4 (b is copied to both elements, so its gradient is the sum).
    z = np.array([1.0, 2.0]) * np.array([3.0, -1.0]) + 0.5
    hand = {"dz": 2 * z, "dx": 2 * z * np.array([3.0, -1.0]), "dw": 2 * z * np.array([1.0, 2.0]), "db": [np.sum(2 * z)]}
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["step", "op"] and "norm" not in "\n".join(lines)  # all shown by value
    rows = {line.split()[1]: line for line in lines[1:] if line[:4].strip()}
    assert list(rows) == ["Sum", "PowScalar", "Add", "Mul"]
    np.testing.assert_allclose(_values_sent_to(rows["Sum"], "PowScalar out"), [1.0, 1.0])
    np.testing.assert_allclose(_values_sent_to(rows["PowScalar"], "Add out"), hand["dz"])
    add_lines = lines[lines.index(rows["Add"]):lines.index(rows["Mul"])]
    np.testing.assert_allclose(_values_sent_to(add_lines[1], "leaf"), hand["db"])
    assert "(2,)->(1,) [4]" in add_lines[1]
    assert add_lines[1].endswith("(summed over broadcast axes)")
    mul_lines = lines[lines.index(rows["Mul"]):]
    np.testing.assert_allclose(_values_sent_to(mul_lines[0], "leaf"), hand["dx"])
    np.testing.assert_allclose(_values_sent_to(mul_lines[1], "leaf"), hand["dw"])
    np.testing.assert_allclose(x.grad.numpy(), hand["dx"])


def test_trace_rows_hold_the_gradient_arrays_whatever_is_printed():
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    tracer = BackwardTrace(values=False)
    run_backward((x * x).sum(), trace=tracer)
    np.testing.assert_array_equal(tracer.rows[1].inputs[0].grad, [1.0, 2.0])  # d(x·x)/dx through one input: x
    assert "[" not in tracer.table(rules=False)


def test_trace_shows_values_up_to_the_automatic_size_and_norms_above_it():
    assert AUTO_VALUES_MAX_ELEMENTS == 16
    small = tg.tensor(np.arange(16.0), requires_grad=True)
    large = tg.tensor(np.arange(17.0), requires_grad=True)
    tracer = BackwardTrace(names={"small": small, "large": large})
    run_backward((small * 2.0).sum() + (large * 3.0).sum(), trace=tracer)
    table = tracer.table(rules=False)
    small_line = next(line for line in table.splitlines() if " small " in line)
    large_line = next(line for line in table.splitlines() if " large " in line)
    np.testing.assert_allclose(_values_sent_to(small_line, "small"), np.full(16, 2.0))
    assert large_line.endswith(f"(17,) norm {np.linalg.norm(np.full(17, 3.0)):.4g}")
    everything = BackwardTrace(names={"small": small, "large": large}, values=True)
    run_backward((small * 2.0).sum() + (large * 3.0).sum(), trace=everything)
    large_line = next(line for line in everything.table().splitlines() if " large " in line)
    np.testing.assert_allclose(_values_sent_to(large_line, "large"), np.full(17, 3.0))


def test_trace_prints_a_matrix_gradient_one_row_per_line():
    w = tg.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    tracer = BackwardTrace(names={"W": w})
    cotangent = np.array([[0.5, -1.0], [2.0, 0.25]])
    run_backward((w * tg.tensor(cotangent)).sum(), trace=tracer)
    lines = tracer.table(rules=False).splitlines()
    first = next(index for index, line in enumerate(lines) if " W " in line)
    column = lines[first].index("[[", lines[first].index(" W "))  # where W's values start
    np.testing.assert_allclose(_numbers(lines[first][column:]), cotangent[0])
    assert lines[first + 1][column:column + 2] == " ["  # the second row sits under the first, as NumPy prints it
    np.testing.assert_allclose(_numbers(lines[first + 1][column:]), cotangent[1])
    assert lines[first + 1].endswith("]]")


def test_format_values_uses_four_significant_digits_and_nested_brackets():
    assert format_values(np.array([1.0, -2.0, 1 / 3])) == ["[1, -2, 0.3333]"]
    assert format_values(np.array([[1.5], [np.nan]])) == ["[[1.5],", " [nan]]"]
    assert format_values(np.array(-0.125)) == ["-0.125"]


def test_trace_values_must_be_true_false_or_auto():
    with pytest.raises(ValueError, match="values must be True, False or 'auto', got 'all'"):
        BackwardTrace(values="all")


def test_trace_backward_context_passes_values_on():
    x = tg.tensor(np.arange(20.0), requires_grad=True)
    with trace_backward(values=True) as tracer:
        (x * 2.0).sum().backward()
    assert "(20,) [2, 2, 2" in tracer.table()


def _explain(argv, capsys):
    parser = argparse.ArgumentParser(prog="tinygrad-edu")
    explain.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    assert args.handler(args) == 0
    return capsys.readouterr().out


def test_explain_values_flag_prints_the_values_of_large_gradients_too(capsys):
    default = _explain(["explain", "mlp", "--trace"], capsys)
    assert "(4, 5) norm " in default  # the hidden layer's gradient has 20 elements: a norm by default
    with_values = _explain(["explain", "mlp", "--trace", "--values"], capsys)
    assert " norm " not in with_values.split("backward trace:")[1]
    loss, names = explain.build("mlp", seed=0)
    loss.backward()
    b1_line = next(line for line in with_values.splitlines() if line.strip().startswith("b1 "))
    values_line = with_values.splitlines()[with_values.splitlines().index(b1_line) + 1]
    np.testing.assert_allclose(_numbers(values_line), names["b1"].grad.numpy(), rtol=5e-4)
