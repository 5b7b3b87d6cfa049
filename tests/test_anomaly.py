"""Anomaly detection: a planted NaN or inf stops the program at the op that made it, forward or backward, and the
error names that op, its inputs and the line of this file that created it."""
import warnings
from pathlib import Path

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import anomaly
from tinygrad_edu.nn import functional as F

THIS_FILE = str(Path(__file__).resolve())


def _line_of(marker):
    """file:line of the one line of this file that holds `marker` (a comment next to the planted op)."""
    lines = Path(__file__).read_text().splitlines()
    found = [number for number, line in enumerate(lines, start=1) if marker in line and "_line_of" not in line]
    assert len(found) == 1, f"marker {marker!r} should be on exactly one line, found {found}"
    return f"{THIS_FILE}:{found[0]}"


@pytest.fixture(autouse=True)
def _quiet_numpy():
    """The planted NaNs make NumPy warn ("invalid value encountered in log"); the anomaly error is what we test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def test_log_of_a_negative_number_raises_in_forward_naming_the_op_its_input_and_this_line():
    x = tg.tensor(np.array([4.0, -1.0]), requires_grad=True)
    with tg.detect_anomaly():
        doubled = x * 2.0
        with pytest.raises(RuntimeError) as raised:
            doubled.log()  # plant: log of a negative number
    message = str(raised.value)
    assert "Function 'Log' returned nan values in its forward output" in message
    assert "inputs: Tensor float64 (2,)" in message
    assert _line_of("# plant: log of a negative number") in message
    assert "doubled.log()" in message  # the source line itself


def test_overflow_to_inf_raises_in_forward():
    x = tg.tensor(np.array([1.0, 1000.0]), requires_grad=True)
    with tg.detect_anomaly(), pytest.raises(RuntimeError) as raised:
        x.exp()  # plant: exp overflows
    assert "Function 'Exp' returned inf values in its forward output" in str(raised.value)
    assert _line_of("# plant: exp overflows") in str(raised.value)


def test_zero_over_zero_in_backward_raises_naming_the_op_whose_gradient_is_nan_and_where_it_was_created():
    # sqrt(0) = 0 is fine forward; backward: d sqrt(x)/dx = 1 / (2 sqrt x) = 1/0, times the 0 from Mul: 0/0 = NaN.
    x = tg.tensor(np.array([0.0, 4.0]), requires_grad=True)
    with tg.detect_anomaly():
        root = x.sqrt()  # plant: sqrt at 0, whose gradient is 1/0
        loss = (root * tg.tensor(np.array([0.0, 1.0]))).sum()
        with pytest.raises(RuntimeError) as raised:
            loss.backward()
    message = str(raised.value)
    assert "Function 'Sqrt' returned nan values in its 0th output (the gradient for its input 0)" in message
    assert _line_of("# plant: sqrt at 0, whose gradient is 1/0") in message
    assert "inputs: Tensor float64 (2,)" in message
    assert "the gradient it received: float64 (2,), finite" in message


def test_an_infinite_gradient_raises_in_backward():
    x = tg.tensor(np.array([0.0, 4.0]), requires_grad=True)
    with tg.detect_anomaly():
        loss = x.sqrt().sum()  # plant: d sqrt(x)/dx at 0 is inf
        with pytest.raises(RuntimeError, match=r"Function 'Sqrt' returned inf values in its 0th output") as raised:
            loss.backward()
    assert _line_of("# plant: d sqrt(x)/dx at 0 is inf") in str(raised.value)


def test_a_custom_function_whose_backward_returns_nan_is_named_by_its_backward_node():
    class Planted(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 3.0

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * float("nan")

    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with tg.detect_anomaly():
        loss = Planted.apply(x).sum()  # plant: a custom Function with a NaN backward
        with pytest.raises(RuntimeError) as raised:
            loss.backward()
    message = str(raised.value)
    assert "Function 'PlantedBackward' returned nan values in its 0th output" in message
    assert _line_of("# plant: a custom Function with a NaN backward") in message


def test_a_nan_in_the_gradient_given_to_backward_is_reported_at_the_first_op_as_received():
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with tg.detect_anomaly():
        doubled = x * 2.0
        with pytest.raises(RuntimeError) as raised:
            doubled.backward(tg.tensor(np.array([np.nan, 1.0])))
    assert "Function 'Mul' returned nan values in its 0th output" in str(raised.value)
    assert "the gradient it received: float64 (2,), already holding nan" in str(raised.value)


def test_an_op_made_inside_the_engine_names_the_line_of_user_code_that_called_it():
    layer = tg.nn.Linear(2, 1).double()
    with tg.no_grad():
        layer.weight.fill_(1e308)
    with tg.detect_anomaly(), pytest.raises(RuntimeError) as raised:
        layer(tg.tensor(np.array([[1.0, 1.0]])))  # plant: the layer's output overflows
    message = str(raised.value)
    assert "Function 'Linear' returned inf values" in message
    assert _line_of("# plant: the layer's output overflows") in message  # not a line of nn/ or ops/


def test_the_examples_shipped_in_models_and_tasks_count_as_user_code():
    package = Path(tg.__file__).resolve().parent
    assert anomaly._is_engine_file(str(package / "nn" / "linear.py"))
    assert anomaly._is_engine_file(str(package / "ops" / "elementwise.py"))
    assert not anomaly._is_engine_file(str(package / "models" / "cnn.py"))
    assert not anomaly._is_engine_file(str(package / "tasks" / "cnn.py"))
    assert not anomaly._is_engine_file(THIS_FILE)


def test_infinities_that_come_in_as_data_pass_through_without_complaint():
    # A -inf attention-style mask is data, not an anomaly: softmax turns it into a probability of 0.
    x = tg.tensor(np.array([[1.0, 2.0, 3.0]]), requires_grad=True)
    mask = tg.tensor(np.array([[False, False, True]]))
    cotangent = tg.tensor(np.array([[1.0, -1.0, 2.0]]))
    with tg.detect_anomaly():
        probabilities = F.softmax(x.masked_fill(mask, float("-inf")), dim=-1)
        (probabilities * cotangent).sum().backward()
    p = np.exp([1.0, 2.0]) / np.exp([1.0, 2.0]).sum()
    expected = np.append(p * (np.array([1.0, -1.0]) - p @ np.array([1.0, -1.0])), 0.0)
    np.testing.assert_allclose(x.grad.numpy()[0], expected, rtol=1e-12)


def test_a_nan_that_comes_in_as_an_input_is_not_blamed_on_the_ops_that_pass_it_on():
    x = tg.tensor(np.array([-1.0]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        made_outside = x.log()  # made before anomaly mode: the NaN arrives as an input below
    with tg.detect_anomaly():
        passed_on = (made_outside * 2.0 + 1.0).exp()
    assert np.isnan(passed_on.item())


def test_anomaly_mode_off_checks_nothing_and_records_nothing():
    assert not tg.is_anomaly_enabled()
    x = tg.tensor(np.array([0.0, -1.0]), requires_grad=True)
    y = x.log()
    assert np.isnan(y.numpy()[1])
    assert "created_at" not in vars(y._ctx)  # outside the mode an op pays only the flag test
    y.sum().backward()  # NaN gradients, no error
    with tg.detect_anomaly():
        z = x * 2.0
    assert z._ctx.created_at.lineno > 0


def test_a_graph_built_before_the_mode_was_on_is_checked_in_backward_without_a_creation_line():
    x = tg.tensor(np.array([0.0]), requires_grad=True)
    loss = (x.sqrt() * 0.0).sum()
    with tg.detect_anomaly(), pytest.raises(RuntimeError) as raised:
        loss.backward()
    assert "Function 'Sqrt' returned nan values" in str(raised.value)
    assert "created before anomaly mode was turned on" in str(raised.value)


def test_check_nan_false_turns_the_value_checks_off():
    x = tg.tensor(np.array([0.0]), requires_grad=True)
    with tg.detect_anomaly(check_nan=False):
        assert tg.is_anomaly_enabled() and not tg.is_anomaly_check_nan_enabled()
        logs = x.log()
        (x.sqrt() * 0.0).sum().backward()
    assert np.isneginf(logs.item()) and np.isnan(x.grad.item())


def test_detect_anomaly_restores_the_previous_mode_as_context_manager_and_decorator():
    assert tg.autograd.detect_anomaly is tg.detect_anomaly
    assert tg.autograd.set_detect_anomaly is tg.set_detect_anomaly
    with tg.detect_anomaly():
        assert tg.is_anomaly_enabled()
        with tg.set_detect_anomaly(False):
            assert not tg.is_anomaly_enabled()
        assert tg.is_anomaly_enabled()
    assert not tg.is_anomaly_enabled()

    @tg.detect_anomaly()
    def checked():
        return tg.is_anomaly_enabled()

    assert checked() and not tg.is_anomaly_enabled()
    with pytest.raises(ZeroDivisionError):
        with tg.detect_anomaly():
            1 / 0
    assert not tg.is_anomaly_enabled()


def test_set_detect_anomaly_called_as_a_function_switches_the_mode_until_switched_back():
    tg.set_detect_anomaly(True)
    try:
        assert tg.is_anomaly_enabled() and tg.is_anomaly_check_nan_enabled()
        with pytest.raises(RuntimeError, match="Function 'Log'"):
            tg.tensor(np.array([-1.0])).log()
    finally:
        tg.set_detect_anomaly(False)
    assert not tg.is_anomaly_enabled()


def test_a_nan_gradient_on_cuda_is_reported_as_on_cpu():
    x = tg.tensor(np.array([0.0, 1.0]), requires_grad=True)
    with tg.detect_anomaly():
        loss = (x.to("cuda").sqrt() * 0.0).sum()  # plant: sqrt at 0 on cuda
        with pytest.raises(RuntimeError) as raised:
            loss.backward()
    message = str(raised.value)
    assert "Function 'Sqrt' returned nan values in its 0th output" in message
    assert "Tensor float64 (2,) on cuda" in message
    assert _line_of("# plant: sqrt at 0 on cuda") in message
