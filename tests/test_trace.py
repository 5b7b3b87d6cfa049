"""The backward trace: one row per op, in the engine's order, with the shapes and norms of every gradient."""
import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import trace as trace_module
from tinygrad_edu.autograd import run_backward
from tinygrad_edu.ops.elementwise import Mul
from tinygrad_edu.trace import BackwardTrace, active, trace_backward


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


def test_trace_table_has_one_line_per_op_input_and_stays_short():
    loss, names, _ = _layer_with_cotangent()
    tracer = BackwardTrace(names=names)
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
