"""Where tinygrad_edu differs from torch on purpose. Each difference is a row of docs/differences-from-pytorch.md
(`DOCUMENTED_DIFFERENCES` names the row), and the tests here pin both sides of it: what torch does, and what we
do instead. The rest of the suite compares only where the two engines agree by design (e.g. in-place ops on
tensors outside a graph, specs.py), so without these tests a difference could drift unnoticed.
"""
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as torch_functional
from torch.nn.attention import SDPBackend, sdpa_kernel

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as tg_functional

DIFFERENCES_DOC = Path(__file__).resolve().parents[2] / "docs" / "differences-from-pytorch.md"

# name -> the first cell (topic) of its row in docs/differences-from-pytorch.md
DOCUMENTED_DIFFERENCES = {
    "inplace_op_on_tensor_in_a_graph": "in-place ops on a tensor that is part of a graph",
    "attention_fused_kernel_at_non_finite_scores": "`F.scaled_dot_product_attention` on 4-D inputs with a NaN score",
    "anomaly_detection_checks_forward_outputs": "`detect_anomaly()` and a NaN or inf made in forward",
}


def _doc_topics():
    """The first cell of every table row of the differences doc."""
    rows = [line for line in DIFFERENCES_DOC.read_text().splitlines() if line.startswith("| ")]
    return {row.split("|")[1].strip() for row in rows}


@pytest.mark.parametrize("name", DOCUMENTED_DIFFERENCES)
def test_documented_difference_is_a_row_of_the_differences_doc(name):
    topic = DOCUMENTED_DIFFERENCES[name]
    assert topic in _doc_topics(), f"{name}: no row {topic!r} in {DIFFERENCES_DOC}"


# ----- in-place ops on a tensor in a graph: torch records them, we refuse them -----------------------------------
# (the op's name, op(a, b) applied to a = x * 1, a non-leaf in x's graph; b is a plain tensor of a's shape)
INPLACE_OPS = [
    ("add_", lambda a, b: a.add_(b)),
    ("sub_", lambda a, b: a.sub_(b, alpha=2.0)),
    ("mul_", lambda a, b: a.mul_(b)),
    ("div_", lambda a, b: a.div_(b)),
    ("clamp_", lambda a, b: a.clamp_(-0.5, 0.5)),
    ("fill_", lambda a, b: a.fill_(2.5)),
    ("zero_", lambda a, b: a.zero_()),
    ("copy_", lambda a, b: a.copy_(b)),
]


def _inplace_in_graph(library, op, source_requires_grad=False):
    """x (a leaf that requires grad) -> a = x * 1 -> op(a, b) -> backward of sum(a · c); returns x.grad."""
    x = library.tensor(np.array([0.25, -1.5, 2.0]), requires_grad=True)
    b = library.tensor(np.array([1.0, 2.0, -4.0]), requires_grad=source_requires_grad)
    a = x * 1
    op(a, b)
    (a * library.tensor(np.array([0.5, -1.0, 2.0]))).sum().backward()
    return x.grad


@pytest.mark.parametrize("name, op", INPLACE_OPS, ids=[name for name, _ in INPLACE_OPS])
def test_inplace_op_on_tensor_in_a_graph_raises_naming_the_op_where_torch_records_it(name, op):
    assert _inplace_in_graph(torch, op) is not None  # torch: recorded in the graph, backward goes through it
    with pytest.raises(RuntimeError) as raised:
        _inplace_in_graph(tg, op)
    message = str(raised.value)
    assert name in message, f"the error does not name {name}: {message}"
    assert "x = x + y" in message, f"the error does not give the out-of-place spelling: {message}"


def test_inplace_op_that_would_bring_a_tensor_into_a_graph_raises_where_torch_records_it():
    """p.add_(b) with b requiring grad: torch records p into b's graph; ours refuses (p would require grad)."""
    def run(library):
        b = library.tensor(np.array([1.0, 2.0]), requires_grad=True)
        p = library.tensor(np.array([0.5, -0.5]))
        p.add_(b)
        (p * p).sum().backward()
        return b.grad

    assert run(torch) is not None
    with pytest.raises(RuntimeError, match=r"add_.*x = x \+ y"):
        run(tg)


# ----- attention at non-finite scores: torch's fused CPU kernel differs from its own math path ---------------------
INF, NAN = float("inf"), float("nan")
# (name, call(T, F, ...) in PyTorch spelling, inputs): a score q·k = inf·0 + 1 is NaN in exact IEEE arithmetic
ATTENTION_CASES = [
    ("sdpa_4d_nan_score", lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v),
     [np.array([[[[INF, 1.0]]]]), np.array([[[[0.0, 1.0]]]]), np.array([[[[2.0, 3.0]]]])]),
    ("sdpa_4d_nan_score_of_one_head", lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v),
     [np.array([[[[INF, 1.0]], [[1.0, 2.0]]]]), np.array([[[[0.0, 1.0]], [[1.0, 1.0]]]]),
      np.array([[[[2.0, 3.0]], [[4.0, 5.0]]]])]),
]


def _attention(library, call, inputs):
    tensors = [library.tensor(array) for array in inputs]
    functional = torch_functional if library is torch else tg_functional
    out = call(library, functional, *tensors)
    return out.numpy() if library is torch else np.asarray(out.numpy())


@pytest.mark.parametrize("name, call, inputs", ATTENTION_CASES, ids=[case[0] for case in ATTENTION_CASES])
def test_attention_follows_torch_math_path_where_its_fused_cpu_kernel_hides_a_nan(name, call, inputs):
    fused = _attention(torch, call, inputs)
    with sdpa_kernel(SDPBackend.MATH):
        math_path = _attention(torch, call, inputs)
    three_d = _attention(torch, call, [array[0] for array in inputs])  # torch's 3-D call takes the math path
    ours = _attention(tg, call, inputs)
    assert not np.array_equal(np.isnan(fused), np.isnan(math_path)), (
        "torch's default attention now agrees with its math path here: remove this documented difference")
    np.testing.assert_array_equal(math_path[0], three_d)
    np.testing.assert_array_equal(ours, math_path)


def test_multihead_attention_without_weights_follows_torch_math_path():
    """need_weights=False runs SDPA on (N, heads, L, head_dim): torch's fused kernel there, the math path here."""
    torch_module = torch.nn.MultiheadAttention(4, 1, batch_first=True).double()
    ours = tg.nn.MultiheadAttention(4, 1, batch_first=True).double()
    ours.load_state_dict({name: value.detach().numpy().copy() for name, value in torch_module.state_dict().items()})
    query, key_value = np.full((1, 1, 4), INF), np.zeros((1, 1, 4))

    def run(library, module):
        q, kv = library.tensor(query), library.tensor(key_value)
        out = module(q, kv, kv, need_weights=False)[0]
        return out.detach().numpy() if library is torch else np.asarray(out.numpy())

    fused = run(torch, torch_module)
    with sdpa_kernel(SDPBackend.MATH):
        math_path = run(torch, torch_module)
    assert np.isfinite(fused).all() and np.isnan(math_path).all()
    np.testing.assert_array_equal(run(tg, ours), math_path)


# ----- anomaly detection: torch checks backward for NaN only, we also check forward and infinities ----------------
def _anomaly_raised(library, planted):
    """The RuntimeError message `planted(library)` raised inside the library's anomaly mode, or None."""
    detect_anomaly = torch.autograd.detect_anomaly if library is torch else tg.detect_anomaly
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that the mode is on; NumPy that log(-1) is invalid
        try:
            with detect_anomaly():
                planted(library)
        except RuntimeError as error:
            return str(error)
    return None


def _log_of_a_negative(library):
    """A NaN made in forward and passed on: the loss is NaN, the gradient of x is finite (1/x = -1)."""
    x = library.tensor(np.array([-1.0]), requires_grad=True)
    x.log().sum().backward()


def _sqrt_at_zero(library):
    """An infinite gradient: d sqrt(x)/dx at x = 0 is 1/0."""
    x = library.tensor(np.array([0.0]), requires_grad=True)
    x.sqrt().sum().backward()


def _nan_gradient(library):
    """0 · 1/0 = NaN: sqrt's backward at 0, given a zero gradient."""
    x = library.tensor(np.array([0.0]), requires_grad=True)
    (x.sqrt() * 0.0).sum().backward()


def test_anomaly_detection_checks_forward_outputs_and_infinities_where_torch_checks_nan_gradients_only():
    assert _anomaly_raised(torch, _log_of_a_negative) is None
    assert "Function 'Log' returned nan values in its forward output" in _anomaly_raised(tg, _log_of_a_negative)
    assert _anomaly_raised(torch, _sqrt_at_zero) is None
    assert "Function 'Sqrt' returned inf values in its 0th output" in _anomaly_raised(tg, _sqrt_at_zero)
    # Where both check, the messages agree (torch names the node SqrtBackward0, we name the op).
    assert "Function 'SqrtBackward0' returned nan values in its 0th output" in _anomaly_raised(torch, _nan_gradient)
    assert "Function 'Sqrt' returned nan values in its 0th output" in _anomaly_raised(tg, _nan_gradient)
