"""Every public op against PyTorch: forward values, dtype, shape and NaN positions, and the gradient of a random
cotangent, on both CPU kernel sets, in float32 and float64, on Hypothesis-drawn inputs (the table is specs.py,
the comparison harness.py).

Three tables: `OP_SPECS` (drawn inputs), `EDGE_CASES` (fixed inputs where engines typically go wrong: stability at
±1e4, -inf logits, NaN, zero-size), and `BAD_ARGUMENTS` (inputs torch refuses: we must refuse them too, clearly).
"""
import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from .harness import OURS, TORCH, Const, OpSpec, check_against_torch
from .specs import OP_SPECS

DTYPES = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]


# The dtype is drawn, not parametrized: it halves the test count (CI time), and the falsifying example names it.
FLOAT_DTYPES = st.sampled_from([np.float32, np.float64])
SEEDS = st.integers(0, 2**32 - 1)


@functools.lru_cache(maxsize=None)
def _input_strategy(spec, dtype):
    """spec.inputs(dtype), built once: a new strategy object is validated again on its first draw."""
    return spec.inputs(dtype)


@pytest.mark.parametrize("spec", OP_SPECS, ids=lambda spec: spec.name)
@given(data=st.data())
def test_op_matches_torch_forward_and_backward(backend, spec, data):
    dtype = data.draw(FLOAT_DTYPES, label="dtype")
    inputs = data.draw(_input_strategy(spec, dtype), label="inputs")
    seed = data.draw(SEEDS, label="cotangent seed")
    check_against_torch(spec, inputs, seed)


def _f(*values):
    return np.array(values, dtype=np.float64)


INF, NAN = float("inf"), float("nan")

# (name, call, inputs in float64; each case also runs in float32)
EDGE_CASES = [
    ("pow_negative_base_integer_exponent", lambda T, F, a, b: a ** b, [_f(-2.0, -3.0, 0.0, 2.0), _f(3.0, 2.0, 2.0, 0.0)]),
    ("pow_zero_base_zero_exponent_grad", lambda T, F, a, b: a ** b, [_f(0.0, 0.0, 1.0), _f(0.0, 2.0, 0.0)]),
    ("pow_scalar_zero_at_zero", lambda T, F, x: x ** 0, [_f(0.0, -1.0, 2.0)]),
    ("pow_scalar_two_at_zero", lambda T, F, x: x ** 2, [_f(0.0, -1.0)]),
    ("sigmoid_tails", lambda T, F, x: x.sigmoid(), [_f(-20.0, -100.0, -1e4, 20.0, 1e4, 0.0)]),
    ("log_of_sigmoid_tail", lambda T, F, x: x.sigmoid().log(), [_f(-20.0, -80.0, 5.0)]),
    ("softmax_at_1e4", lambda T, F, x: x.softmax(dim=-1), [_f(1e4, -1e4, 0.0, 1e4)]),
    ("log_softmax_at_1e4", lambda T, F, x: x.log_softmax(dim=-1), [_f(1e4, -1e4, 0.0)]),
    ("log_softmax_with_minus_inf", lambda T, F, x: x.log_softmax(dim=-1), [_f(-INF, 0.0, 1.0)]),
    ("softmax_all_minus_inf", lambda T, F, x: x.softmax(dim=-1), [_f(-INF, -INF)]),
    ("logsumexp_at_1e4", lambda T, F, x: x.logsumexp(dim=0), [_f(1e4, 1e4, -1e4)]),
    ("logsumexp_with_minus_inf", lambda T, F, x: x.logsumexp(dim=0), [_f(-INF, 0.0)]),
    ("logsumexp_all_minus_inf", lambda T, F, x: x.logsumexp(dim=0), [_f(-INF, -INF)]),
    ("logsumexp_with_plus_inf", lambda T, F, x: x.logsumexp(dim=0), [_f(INF, 0.0)]),
    ("logsumexp_empty_dim", lambda T, F, x: x.logsumexp(dim=0), [np.zeros((0, 3))]),
    ("cross_entropy_minus_inf_logit", lambda T, F, x, t: F.cross_entropy(x, t),
     [np.array([[-INF, 0.0, 1.0]]), Const(np.array([1]))]),
    ("cross_entropy_1e4_logits", lambda T, F, x, t: F.cross_entropy(x, t, reduction="none"),
     [np.array([[1e4, -1e4, 0.0], [0.0, 1e4, 1e4]]), Const(np.array([1, 2]))]),
    ("cross_entropy_minus_inf_logit_smoothing", lambda T, F, x, t: F.cross_entropy(x, t, label_smoothing=0.1),
     [np.array([[-INF, 0.0, 1.0]]), Const(np.array([1]))]),
    ("cross_entropy_zero_rows", lambda T, F, x, t: F.cross_entropy(x, t), [np.zeros((0, 3)), Const(np.zeros(0, np.int64))]),
    ("cross_entropy_all_ignored", lambda T, F, x, t: F.cross_entropy(x, t),
     [np.ones((2, 3)), Const(np.array([-100, -100]))]),
    ("bce_with_logits_at_1e4", lambda T, F, x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"),
     [_f(1e4, -1e4, 50.0, -50.0), Const(_f(0.0, 1.0, 0.0, 1.0))]),
    ("sdpa_nan_in_query", lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v),
     [np.array([[[NAN, 1.0], [0.5, 0.5]]]), np.ones((1, 2, 2)), np.arange(4.0).reshape(1, 2, 2)]),
    ("sdpa_nan_in_key", lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v),
     [np.ones((1, 2, 2)), np.array([[[NAN, 1.0], [0.5, 0.5]]]), np.arange(4.0).reshape(1, 2, 2)]),
    ("sdpa_overflowing_scores", lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v),
     [np.full((1, 2, 2), 1e4), np.array([[[1e4, 1e4], [-1e4, 1e4]]]), np.arange(4.0).reshape(1, 2, 2)]),
    ("sdpa_fully_masked_row", lambda T, F, q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
     [np.ones((1, 2, 2)), np.ones((1, 2, 2)), np.arange(4.0).reshape(1, 2, 2), Const(np.array([[True, False], [False, False]]))]),
    ("matmul_zero_inner_dim", lambda T, F, a, b: a @ b, [np.zeros((3, 0)), np.zeros((0, 4))]),
    ("linear_zero_rows", lambda T, F, x, w, b: F.linear(x, w, b), [np.zeros((0, 3)), np.ones((2, 3)), np.ones(2)]),
    ("max_dim1_of_zero_rows", lambda T, F, x: x.max(dim=1)[0], [np.zeros((0, 3))]),
    ("sum_of_empty", lambda T, F, x: x.sum(dim=0), [np.zeros((0, 3))]),
    ("mean_of_empty", lambda T, F, x: x.mean(), [np.zeros((0,))]),
    ("max_with_nan", lambda T, F, x: x.max(dim=0)[0], [_f(1.0, NAN, 3.0)]),
    ("max_ties_gradient", lambda T, F, x: x.max(), [_f(2.0, 2.0, 1.0)]),
    ("max_dim_ties_gradient", lambda T, F, x: x.max(dim=0)[0], [_f(2.0, 2.0, 1.0)]),
    ("maximum_ties_gradient", lambda T, F, a, b: T.maximum(a, b), [_f(1.0, 2.0), _f(1.0, 3.0)]),
    ("argmax_with_nan", lambda T, F, x: x.argmax(), [_f(1.0, NAN, 3.0)]),
    ("relu_at_zero_and_nan", lambda T, F, x: x.relu(), [_f(0.0, -0.0, NAN, 1.0)]),
    ("abs_at_zero", lambda T, F, x: x.abs(), [_f(0.0, -0.0, NAN)]),
    ("clamp_at_bounds", lambda T, F, x: x.clamp(-1.0, 1.0), [_f(-1.0, 1.0, 0.5, NAN)]),
    ("clamp_tensor_bounds", lambda T, F, x, lo, hi: x.clamp(lo, hi), [_f(-2.0, 0.5, 3.0), _f(-1.0, -1.0, -1.0), _f(1.0)]),
    ("clamp_min_above_max", lambda T, F, x: x.clamp(1.0, -1.0), [_f(-2.0, 0.0, 2.0)]),
    ("sqrt_at_zero", lambda T, F, x: x.sqrt(), [_f(0.0, 4.0)]),
    ("log_at_zero", lambda T, F, x: x.log(), [_f(0.0, 1.0)]),
    ("tanh_gelu_at_1e4", lambda T, F, x: F.gelu(x, approximate="tanh"), [_f(1e4, -1e4, -10.0)]),
    ("var_single_element", lambda T, F, x: x.var(), [_f(3.0)]),
    ("std_of_constant", lambda T, F, x: x.std(), [_f(3.0, 3.0)]),
    ("embedding_padding_idx_forward_keeps_row", lambda T, F, i, w: F.embedding(i, w, padding_idx=2),
     [Const(np.array([0, 2, 2])), np.arange(12.0).reshape(4, 3)]),
    ("smooth_l1_beta_zero_is_l1", lambda T, F, a, b: F.smooth_l1_loss(a, b, beta=0.0), [_f(1.0, -2.0, 0.5), _f(0.0, 0.0, 0.5)]),
    ("squeeze_0d", lambda T, F, x: x.squeeze(), [np.array(3.0)]),
    ("flatten_0d", lambda T, F, x: x.flatten(), [np.array(3.0)]),
    ("layer_norm_constant_row", lambda T, F, x: F.layer_norm(x, (3,)), [np.ones((2, 3))]),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, call, inputs", EDGE_CASES, ids=[case[0] for case in EDGE_CASES])
def test_edge_case_matches_torch(backend, name, call, inputs, dtype):
    def cast(value):
        if isinstance(value, Const):
            return Const(cast(value.array))
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            return value.astype(dtype)
        return value
    check_against_torch(OpSpec(name, call, None), [cast(v) for v in inputs], seed=0)


# ----- bad arguments ------------------------------------------------------------------------------------------
def _ones(*shape):
    return np.ones(shape)


# (name, call, inputs, a word the message must contain: the op's name)
BAD_ARGUMENTS = [
    ("sum_dim_out_of_range", lambda T, F, x: x.sum(dim=2), [_ones(2, 3)], "sum"),
    ("mean_dim_out_of_range_negative", lambda T, F, x: x.mean(dim=-3), [_ones(2, 3)], "mean"),
    ("max_dim_out_of_range", lambda T, F, x: x.max(dim=2), [_ones(2, 3)], "max"),
    ("argmax_dim_out_of_range", lambda T, F, x: x.argmax(dim=2), [_ones(2, 3)], "argmax"),
    ("logsumexp_dim_out_of_range", lambda T, F, x: x.logsumexp(dim=5), [_ones(2, 3)], "logsumexp"),
    ("softmax_dim_out_of_range", lambda T, F, x: x.softmax(dim=2), [_ones(2, 3)], "softmax"),
    ("squeeze_dim_out_of_range", lambda T, F, x: x.squeeze(2), [_ones(1, 3)], "squeeze"),
    ("squeeze_dim_of_0d", lambda T, F, x: x.squeeze(1), [np.array(1.0)], "squeeze"),
    ("unsqueeze_dim_out_of_range", lambda T, F, x: x.unsqueeze(4), [_ones(2, 3)], "unsqueeze"),
    ("transpose_dim_out_of_range", lambda T, F, x: x.transpose(0, 5), [_ones(2, 3)], "transpose"),
    ("permute_repeated_dim", lambda T, F, x: x.permute(0, 0), [_ones(2, 3)], "permute"),
    ("permute_wrong_count", lambda T, F, x: x.permute(0,), [_ones(2, 3)], "permute"),
    ("flatten_start_after_end", lambda T, F, x: x.flatten(1, 0), [_ones(2, 3)], "flatten"),
    ("cat_dim_out_of_range", lambda T, F, a: T.cat([a, a], dim=2), [_ones(2, 3)], "cat"),
    ("cat_shape_mismatch", lambda T, F, a, b: T.cat([a, b], dim=0), [_ones(2, 3), _ones(2, 4)], "cat"),
    ("cat_empty_list", lambda T, F: T.cat([]), [], "cat"),
    ("stack_shape_mismatch", lambda T, F, a, b: T.stack([a, b]), [_ones(2, 3), _ones(3, 2)], "stack"),
    ("matmul_inner_mismatch", lambda T, F, a, b: a @ b, [_ones(2, 3), _ones(4, 2)], "matmul"),
    ("matmul_0d", lambda T, F, a, b: a @ b, [np.array(2.0), _ones(2)], "matmul"),
    ("matmul_batch_mismatch", lambda T, F, a, b: a @ b, [_ones(2, 2, 3), _ones(3, 3, 2)], "matmul"),
    ("add_not_broadcastable", lambda T, F, a, b: a + b, [_ones(2, 3), _ones(4)], "add"),
    ("reshape_wrong_numel", lambda T, F, x: x.reshape(5), [_ones(2, 3)], "reshape"),
    ("reshape_two_minus_ones", lambda T, F, x: x.reshape(-1, -1), [_ones(2, 3)], "reshape"),
    ("expand_incompatible", lambda T, F, x: x.expand(4, 3), [_ones(2, 3)], "expand"),
    ("getitem_out_of_range", lambda T, F, x: x[5], [_ones(2, 3)], "index"),
    ("getitem_too_many_indices", lambda T, F, x: x[0, 0, 0], [_ones(2, 3)], "index"),
    ("gather_float_index", lambda T, F, x, i: x.gather(1, i), [_ones(2, 3), Const(np.zeros((2, 1)))], "gather"),
    ("gather_dim_out_of_range", lambda T, F, x, i: x.gather(2, i), [_ones(2, 3), Const(np.zeros((2, 1), np.int64))], "gather"),
    ("topk_k_too_large", lambda T, F, x: x.topk(5), [_ones(3)], "topk"),
    ("linear_feature_mismatch", lambda T, F, x, w: F.linear(x, w), [_ones(2, 3), _ones(4, 5)], "linear"),
    ("conv2d_channel_mismatch", lambda T, F, x, w: F.conv2d(x, w), [_ones(1, 2, 4, 4), _ones(3, 3, 2, 2)], "conv2d"),
    ("conv2d_input_3d_channels_wrong", lambda T, F, x, w: F.conv2d(x, w), [_ones(2, 4, 4), _ones(3, 3, 2, 2)], "conv2d"),
    ("conv2d_kernel_larger_than_input", lambda T, F, x, w: F.conv2d(x, w), [_ones(1, 2, 2, 2), _ones(1, 2, 3, 3)], "conv2d"),
    ("max_pool2d_kernel_larger_than_input", lambda T, F, x: F.max_pool2d(x, 3), [_ones(1, 1, 2, 2)], "max_pool2d"),
    ("embedding_float_indices", lambda T, F, i, w: F.embedding(i, w), [Const(np.zeros(2)), _ones(4, 3)], "embedding"),
    ("embedding_index_out_of_range", lambda T, F, i, w: F.embedding(i, w), [Const(np.array([4])), _ones(4, 3)], "embedding"),
    ("cross_entropy_target_out_of_range", lambda T, F, x, t: F.cross_entropy(x, t),
     [_ones(2, 3), Const(np.array([0, 3]))], "cross_entropy"),
    ("cross_entropy_batch_mismatch", lambda T, F, x, t: F.cross_entropy(x, t),
     [_ones(2, 3), Const(np.array([0, 1, 2]))], "cross_entropy"),
    ("nll_loss_float_target", lambda T, F, x, t: F.nll_loss(x, t), [_ones(2, 3), Const(np.zeros(2))], "nll_loss"),
    ("batch_norm_one_value_per_channel", lambda T, F, x, m, v: F.batch_norm(x, m, v, training=True),
     [_ones(1, 3), Const(np.zeros(3)), Const(np.ones(3))], "batch_norm"),
    ("layer_norm_shape_mismatch", lambda T, F, x: F.layer_norm(x, (4,)), [_ones(2, 3)], "layer_norm"),
    ("sdpa_head_dim_mismatch", lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v),
     [_ones(1, 2, 3), _ones(1, 2, 4), _ones(1, 2, 4)], "attention"),
    ("dropout_probability_above_one", lambda T, F, x: F.dropout(x, p=1.5), [_ones(2)], "dropout"),
    ("item_of_many_elements", lambda T, F, x: x.item(), [_ones(2)], "item"),
    ("bool_of_many_elements", lambda T, F, x: bool(x), [_ones(2)], "bool"),
    ("requires_grad_on_integer_tensor", lambda T, F, x: x.long().requires_grad_(), [_ones(2)], "grad"),
    ("backward_of_non_scalar_without_gradient", lambda T, F, x: (x * 2).backward(), [_ones(2)], "backward"),
]


def _run(library, call, inputs):
    tensors = [library.tensor(v.array) if isinstance(v, Const) else library.tensor(v, requires_grad=True) for v in inputs]
    return call(library.T, library.F, *tensors)


def _torch_error(call, inputs):
    try:
        _run(TORCH, call, inputs)
    except Exception as error:  # noqa: BLE001 - any exception type is what we record
        return error
    raise AssertionError("the case is meant to be refused by torch, but torch accepts it")


@pytest.mark.parametrize("name, call, inputs, op_word", BAD_ARGUMENTS, ids=[case[0] for case in BAD_ARGUMENTS])
def test_bad_argument_raises_clear_error_naming_the_op(backend, name, call, inputs, op_word):
    _torch_error(call, inputs)
    with pytest.raises(Exception) as raised:
        _run(OURS, call, inputs)
    message = str(raised.value)
    assert op_word.lower() in message.lower(), f"error does not name {op_word!r}: {type(raised.value).__name__}: {message}"


# Where our engine deliberately raises another type than torch, list it here (torch type, our type), with the
# line of docs/differences-from-pytorch.md that says so. Empty: every difference below is reported as a failure.
DOCUMENTED_TYPE_DIFFERENCES = {}


@pytest.mark.parametrize("name, call, inputs, op_word", BAD_ARGUMENTS, ids=[case[0] for case in BAD_ARGUMENTS])
def test_bad_argument_raises_the_exception_type_torch_raises(name, call, inputs, op_word):
    expected = type(_torch_error(call, inputs))
    with pytest.raises(Exception) as raised:
        _run(OURS, call, inputs)
    got = type(raised.value)
    if DOCUMENTED_TYPE_DIFFERENCES.get(name) == (expected, got):
        return
    assert issubclass(got, expected), f"torch raises {expected.__name__}, we raise {got.__name__}: {raised.value}"



# ----- Python-valued Tensor API: sizes, conversions, predicates -------------------------------------------------
# (name, call(T, x) -> a Python value) on x = arange(6.).reshape(2, 3) unless the name says otherwise
TENSOR_API = [
    ("size", lambda T, x: tuple(x.size())),
    ("size_dim", lambda T, x: x.size(0)),
    ("size_negative_dim", lambda T, x: x.size(-1)),
    ("shape", lambda T, x: tuple(x.shape)),
    ("shape_is_size", lambda T, x: x.shape == x.size()),
    ("numel", lambda T, x: x.numel()),
    ("torch_numel", lambda T, x: T.numel(x)),
    ("dim", lambda T, x: x.dim()),
    ("ndim", lambda T, x: x.ndim),
    ("len", lambda T, x: len(x)),
    ("tolist", lambda T, x: x.tolist()),
    ("item_of_one_element", lambda T, x: x[1, 2].item()),
    ("item_type", lambda T, x: type(x.sum().item()).__name__),
    ("int_item_type", lambda T, x: type(x.long().sum().item()).__name__),
    ("float_of_tensor", lambda T, x: float(x[0, 1])),
    ("int_of_tensor", lambda T, x: int(x[1, 1])),
    ("bool_of_tensor", lambda T, x: bool(x[0, 0] == 0)),
    ("is_leaf", lambda T, x: (x.is_leaf, (x * 2).is_leaf)),
    ("requires_grad_propagates", lambda T, x: (x * 2).requires_grad),
    ("no_grad_result_does_not_require_grad", lambda T, x: _under_no_grad(T, x)),
    ("detach_does_not_require_grad", lambda T, x: x.detach().requires_grad),
    ("dtype_is_float32", lambda T, x: x.dtype == T.float32),
    ("equal", lambda T, x: T.equal(x, x * 1)),
    ("allclose", lambda T, x: T.allclose(x, x + 1e-9)),
    ("is_tensor", lambda T, x: (T.is_tensor(x), T.is_tensor(x.detach().numpy()))),
    ("eq_of_detached_is_all_true", lambda T, x: (x == x.detach()).all().item()),
    ("hash_is_identity", lambda T, x: len({x, x.detach()})),
    ("grad_of_sum_after_backward", lambda T, x: _grad_after_backward(x)),
    ("from_numpy_shares_memory", lambda T, x: _from_numpy_shares(T)),
]


def _under_no_grad(T, x):
    with T.no_grad():
        return (x * 2).requires_grad


def _grad_after_backward(x):
    (x * x).sum().backward()
    return x.grad.tolist()


def _from_numpy_shares(T):
    array = np.zeros(3)
    tensor = T.from_numpy(array)
    array[0] = 5.0
    return tensor.tolist(), tensor.dtype == T.float64


@pytest.mark.parametrize("name, call", TENSOR_API, ids=[case[0] for case in TENSOR_API])
def test_tensor_api_returns_what_torch_returns(name, call):
    values = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    expected = call(TORCH.T, TORCH.tensor(values, requires_grad=True))
    got = call(OURS.T, OURS.tensor(values, requires_grad=True))
    assert got == expected, f"{name}: {got!r}, torch {expected!r}"
    assert type(got) is type(expected), f"{name}: {type(got).__name__}, torch {type(expected).__name__}"
