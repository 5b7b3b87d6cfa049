"""Zero-size tensors through every op, forward and backward, against PyTorch 2.13 on both CPU kernel sets.

An empty input either works as in torch (same shape and values: a sum over nothing is 0, a mean NaN, a
logsumexp -inf, a matmul over K = 0 zeros) or raises the error torch raises, with the op named. The CUDA kernels'
zero-size paths (with the other backends') are tested in tests/kernels/test_zero_size_kernels.py.
"""
import re
import warnings

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F

torch = pytest.importorskip("torch")
torch_F = torch.nn.functional


def _tensors(module, arrays, requires_grad):
    made = []
    for array in arrays:
        is_float = array.dtype.kind == "f"
        if module is tg:
            made.append(tg.Tensor(array, requires_grad=requires_grad and is_float))
        else:
            made.append(torch.tensor(array, requires_grad=requires_grad and is_float))
    return made


def assert_like_torch(our_fn, torch_fn, arrays):
    """Same shape, dtype and values (NaN and -inf included), then the same gradients for a random cotangent."""
    ours_in, torch_in = _tensors(tg, arrays, True), _tensors(torch, arrays, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # var/std warn about 0 degrees of freedom, in torch as here
        ours, want = our_fn(*ours_in), torch_fn(*torch_in)
    assert ours.shape == tuple(want.shape)
    assert ours.dtype == np.dtype(str(want.dtype).removeprefix("torch."))
    np.testing.assert_allclose(ours.numpy(), want.detach().numpy(), rtol=1e-12, equal_nan=True)
    cotangent = np.random.default_rng(0).standard_normal(ours.shape)
    ours.backward(tg.Tensor(cotangent))
    want.backward(torch.tensor(cotangent))
    for mine, theirs in zip(ours_in, torch_in):
        if theirs.requires_grad:
            assert mine.grad is not None and mine.grad.shape == tuple(theirs.grad.shape)
            np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, equal_nan=True)


def z(*shape):
    return np.random.default_rng(len(shape)).standard_normal(shape)


def labels(n, classes=3):
    return np.arange(n, dtype=np.int64) % classes


def same(name):
    """A method called the same way on both sides."""
    return lambda *args, **kwargs: (lambda t, *rest: getattr(t, name)(*rest, **kwargs))


# name: (ours, torch's, input arrays)
CASES = {
    "add_broadcast": (lambda a, b: a + b, lambda a, b: a + b, [z(0, 3), z(3)]),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, [z(2, 0), z(2, 0)]),
    "div": (lambda a, b: a / b, lambda a, b: a / b, [z(0, 3), z(1, 3)]),
    "pow_tensor": (lambda a, b: a.abs() ** b, lambda a, b: a.abs() ** b, [z(0, 3), z(3)]),
    "pow_scalar": (lambda a: a ** 2.5, lambda a: a ** 2.5, [z(0, 3)]),
    "exp_log_sqrt": (lambda a: a.exp().log().abs().sqrt(), lambda a: a.exp().log().abs().sqrt(), [z(4, 0)]),
    "tanh_sigmoid": (lambda a: a.tanh() + a.sigmoid(), lambda a: a.tanh() + a.sigmoid(), [z(0)]),
    "relu_leaky_gelu": (lambda a: F.relu(a) + F.leaky_relu(a) + F.gelu(a),
                        lambda a: torch_F.relu(a) + torch_F.leaky_relu(a) + torch_F.gelu(a), [z(0, 2)]),
    "softplus_logsigmoid": (lambda a: F.softplus(a) + F.logsigmoid(a),
                            lambda a: torch_F.softplus(a) + torch_F.logsigmoid(a), [z(3, 0)]),
    "clip_scalar": (lambda a: a.clip(-0.5, 0.5), lambda a: a.clamp(-0.5, 0.5), [z(0, 3)]),
    "clip_tensor": (lambda a, lo, hi: a.clip(lo, hi), torch.clamp, [z(0, 3), z(3), z(0, 1)]),
    "maximum_minimum": (lambda a, b: a.maximum(b) + a.minimum(b), lambda a, b: a.maximum(b) + a.minimum(b),
                        [z(0, 3), z(3)]),
    "where": (lambda a, b: tg.where(a > 0, a, b), lambda a, b: torch.where(a > 0, a, b), [z(0, 3), z(0, 3)]),
    "sum_over_empty_dim": (lambda a: a.sum(0), lambda a: a.sum(0), [z(0, 3)]),
    "sum_keeping_empty_dim": (lambda a: a.sum(1), lambda a: a.sum(1), [z(0, 3)]),
    "sum_all": (lambda a: a.sum(), lambda a: a.sum(), [z(0, 3)]),
    "mean_over_empty_dim_is_nan": (lambda a: a.mean(0), lambda a: a.mean(0), [z(0, 3)]),
    "mean_all_is_nan": (lambda a: a.mean(), lambda a: a.mean(), [z(0, 3)]),
    "mean_keeping_empty_dim": (lambda a: a.mean(1), lambda a: a.mean(1), [z(0, 3)]),
    "var_over_empty_dim_is_nan": (lambda a: a.var(0), lambda a: a.var(0), [z(0, 3)]),
    "var_of_one_element_is_nan": (lambda a: a.var(0), lambda a: a.var(0), [z(1, 3)]),
    "amax_keeping_empty_dim": (lambda a: a.amax(1), lambda a: a.amax(1), [z(0, 3)]),
    "amin_keeping_empty_dim": (lambda a: a.amin(1), lambda a: a.amin(1), [z(0, 3)]),
    "max_dim_keeping_empty_dim": (lambda a: a.max(dim=1).values, lambda a: a.max(dim=1).values, [z(0, 3)]),
    "logsumexp_over_empty_dim_is_minus_inf": (lambda a: a.logsumexp(0), lambda a: a.logsumexp(0), [z(0, 3)]),
    "logsumexp_keeping_empty_dim": (lambda a: a.logsumexp(1), lambda a: a.logsumexp(1), [z(0, 3)]),
    "matmul_inner_zero": (lambda a, b: a @ b, lambda a, b: a @ b, [z(3, 0), z(0, 4)]),
    "matmul_rows_zero": (lambda a, b: a @ b, lambda a, b: a @ b, [z(0, 3), z(3, 4)]),
    "matmul_columns_zero": (lambda a, b: a @ b, lambda a, b: a @ b, [z(3, 4), z(4, 0)]),
    "matmul_batch_zero": (lambda a, b: a @ b, lambda a, b: a @ b, [z(0, 3, 5), z(0, 5, 4)]),
    "matmul_batched_inner_zero": (lambda a, b: a @ b, lambda a, b: a @ b, [z(2, 3, 0), z(2, 0, 4)]),
    "matmul_shared_weight_inner_zero": (lambda a, b: a @ b, lambda a, b: a @ b, [z(2, 3, 0), z(0, 4)]),
    "matrix_vector_inner_zero": (lambda a, b: a @ b, lambda a, b: a @ b, [z(3, 0), z(0)]),
    "vector_dot_empty": (lambda a, b: a @ b, lambda a, b: a @ b, [z(0), z(0)]),
    "linear_no_rows": (F.linear, torch_F.linear, [z(0, 3), z(4, 3), z(4)]),
    "linear_no_rows_3d": (F.linear, torch_F.linear, [z(2, 0, 3), z(4, 3), z(4)]),
    "linear_no_in_features": (F.linear, torch_F.linear, [z(2, 0), z(4, 0), z(4)]),
    "linear_no_out_features": (F.linear, torch_F.linear, [z(2, 3), z(0, 3), z(0)]),
    "softmax_no_rows": (lambda a: F.softmax(a, dim=1), lambda a: torch.softmax(a, 1), [z(0, 3)]),
    "softmax_no_classes": (lambda a: F.softmax(a, dim=1), lambda a: torch.softmax(a, 1), [z(2, 0)]),
    "log_softmax_no_classes": (lambda a: F.log_softmax(a, dim=-1), lambda a: torch.log_softmax(a, -1), [z(2, 0)]),
    "log_softmax_no_rows_other_dim": (lambda a: F.log_softmax(a, dim=0), lambda a: torch.log_softmax(a, 0),
                                      [z(0, 3)]),
    "cross_entropy_mean_of_no_rows_is_nan": (F.cross_entropy, torch_F.cross_entropy, [z(0, 3), labels(0)]),
    "cross_entropy_sum_of_no_rows": (lambda a, t: F.cross_entropy(a, t, reduction="sum"),
                                     lambda a, t: torch_F.cross_entropy(a, t, reduction="sum"), [z(0, 3), labels(0)]),
    "cross_entropy_none_no_rows": (lambda a, t: F.cross_entropy(a, t, reduction="none", label_smoothing=0.1),
                                   lambda a, t: torch_F.cross_entropy(a, t, reduction="none", label_smoothing=0.1),
                                   [z(0, 3), labels(0)]),
    "bce_with_logits_no_elements": (F.binary_cross_entropy_with_logits, torch_F.binary_cross_entropy_with_logits,
                                    [z(0), np.zeros(0)]),
    "attention_no_batch": (F.scaled_dot_product_attention, torch_F.scaled_dot_product_attention,
                           [z(0, 2, 3), z(0, 4, 3), z(0, 4, 2)]),
    "attention_no_queries": (F.scaled_dot_product_attention, torch_F.scaled_dot_product_attention,
                             [z(2, 0, 3), z(2, 4, 3), z(2, 4, 2)]),
    "attention_no_keys": (F.scaled_dot_product_attention, torch_F.scaled_dot_product_attention,
                          [z(2, 3, 3), z(2, 0, 3), z(2, 0, 2)]),
    "attention_no_head_dim": (F.scaled_dot_product_attention, torch_F.scaled_dot_product_attention,
                              [z(2, 3, 0), z(2, 4, 0), z(2, 4, 2)]),
    "attention_no_value_dim": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                               lambda q, k, v: torch_F.scaled_dot_product_attention(q, k, v, is_causal=True),
                               [z(2, 3, 3), z(2, 4, 3), z(2, 4, 0)]),
    "conv2d_no_batch": (F.conv2d, torch_F.conv2d, [z(0, 2, 5, 5), z(3, 2, 3, 3), z(3)]),
    "max_pool2d_no_batch": (lambda a: F.max_pool2d(a, 2), lambda a: torch_F.max_pool2d(a, 2), [z(0, 2, 4, 4)]),
    "avg_pool2d_no_batch": (lambda a: F.avg_pool2d(a, 2), lambda a: torch_F.avg_pool2d(a, 2), [z(0, 2, 4, 4)]),
    "layer_norm_no_rows": (lambda a, w, b: F.layer_norm(a, (3,), w, b),
                           lambda a, w, b: torch_F.layer_norm(a, (3,), w, b), [z(0, 3), z(3), z(3)]),
    "layer_norm_no_features": (lambda a, w, b: F.layer_norm(a, (0,), w, b),
                               lambda a, w, b: torch_F.layer_norm(a, (0,), w, b), [z(2, 0), z(0), z(0)]),
    "rnn_cell_no_batch": (F.rnn_tanh_cell, torch.rnn_tanh_cell, [z(0, 3), z(0, 4), z(4, 3), z(4, 4), z(4), z(4)]),
    "rnn_cell_no_inputs": (F.rnn_tanh_cell, torch.rnn_tanh_cell, [z(2, 0), z(2, 4), z(4, 0), z(4, 4), z(4), z(4)]),
    "rnn_cell_no_hidden": (F.rnn_tanh_cell, torch.rnn_tanh_cell, [z(2, 3), z(2, 0), z(0, 3), z(0, 0), z(0), z(0)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_zero_size_input_matches_torch_forward_and_backward(backend, name):
    ours, theirs, arrays = CASES[name]
    assert_like_torch(ours, theirs, arrays)


# Errors torch raises for empty inputs, and ours: same exception type, the op named.
ERRORS = {
    "amax_over_empty_dim": (lambda t: t.amax(0), IndexError, "Expected reduction dim 0 to have non-zero size"),
    "max_of_no_elements": (lambda t: t.max(), RuntimeError, "Expected reduction dim to be specified for input.numel"),
    "min_of_no_elements": (lambda t: t.min(), RuntimeError, "Expected reduction dim to be specified for input.numel"),
    "max_over_empty_dim": (lambda t: t.max(dim=0), IndexError, "Expected reduction dim 0 to have non-zero size"),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_reducing_an_empty_dim_to_a_maximum_raises_as_torch(name):
    call, error, message = ERRORS[name]
    with pytest.raises(error, match=message):
        call(torch.zeros(0, 3))
    with pytest.raises(error, match=message):
        call(tg.zeros(0, 3))


def test_cross_entropy_over_zero_classes_raises_naming_the_target():
    with pytest.raises((IndexError, ValueError), match="out of"):
        torch_F.cross_entropy(torch.zeros(2, 0), torch.zeros(2, dtype=torch.long))
    with pytest.raises((IndexError, ValueError), match="cross_entropy.*target value 0 is out of range for C=0"):
        F.cross_entropy(tg.zeros(2, 0), tg.Tensor(np.zeros(2, dtype=np.int64)))


def test_conv2d_refuses_an_input_smaller_than_the_kernel_and_zero_output_channels_as_torch():
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
        torch_F.conv2d(torch.zeros(1, 2, 0, 5), torch.zeros(3, 2, 3, 3))
    with pytest.raises(RuntimeError, match=r"conv2d: Calculated padded input size per channel: \(0 x 5\). Kernel "
                                           r"size: \(3 x 3\). Kernel size can't be greater than actual input size"):
        F.conv2d(tg.zeros(1, 2, 0, 5), tg.zeros(3, 2, 3, 3))
    with pytest.raises(RuntimeError, match="expected weight to be at least 1 at dimension 0"):
        torch_F.conv2d(torch.zeros(1, 2, 5, 5), torch.zeros(0, 2, 3, 3))
    with pytest.raises(RuntimeError, match=r"conv2d: Given groups=1, expected weight to be at least 1 at dimension 0, "
                                           r"but got weight of size \[0, 2, 3, 3\] instead"):
        F.conv2d(tg.zeros(1, 2, 5, 5), tg.zeros(0, 2, 3, 3))


@pytest.mark.parametrize("pool", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("shape", [(1, 0, 4, 4), (1, 2, 0, 4)])
def test_pooling_refuses_empty_channels_or_image_as_torch(pool, shape):
    message = r"Expected 3D or 4D \(batch mode\) tensor with optional 0 dim batch size for input"
    with pytest.raises(RuntimeError, match=message):
        getattr(torch_F, pool)(torch.zeros(*shape), 2)
    with pytest.raises(RuntimeError, match=f"{pool}: {message}, but got:" + re.escape(str(list(shape)))):
        getattr(F, pool)(tg.zeros(*shape), 2)
