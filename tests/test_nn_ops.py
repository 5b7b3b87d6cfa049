"""The fused ops that run in kernels, on every backend: forward against a composite or NumPy oracle, backward
against finite differences (float64, random cotangent)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from op_checks import assert_gradients_match
from tinygrad_edu.testing import arrays


def _naive_conv2d(x, w, b, stride, padding, dilation, groups):
    n, c_in, h, wd = x.shape
    c_out, c_per_group, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    h_out = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    w_out = (wd + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    y = np.zeros((n, c_out, h_out, w_out))
    out_per_group = c_out // groups
    for o in range(c_out):
        g = o // out_per_group
        for p in range(h_out):
            for q in range(w_out):
                window = xp[:, g * c_per_group:(g + 1) * c_per_group,
                            p * stride:p * stride + dilation * (kh - 1) + 1:dilation,
                            q * stride:q * stride + dilation * (kw - 1) + 1:dilation]
                y[:, o, p, q] = np.sum(window * w[o], axis=(1, 2, 3)) + (0 if b is None else b[o])
    return y


@st.composite
def conv_cases(draw):
    groups = draw(st.sampled_from([1, 2]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    k = draw(st.integers(1, 3))
    stride, padding, dilation = draw(st.integers(1, 2)), draw(st.integers(0, 1)), draw(st.integers(1, 2))
    min_side = dilation * (k - 1) + 1 - 2 * padding
    h, w = draw(st.integers(max(min_side, 1), 5)), draw(st.integers(max(min_side, 1), 5))
    x = draw(arrays((draw(st.integers(1, 2)), c_in, h, w)))
    weight = draw(arrays((c_out, c_in // groups, k, k)))
    bias = draw(st.none() | arrays((c_out,)))
    return x, weight, bias, stride, padding, dilation, groups


@given(case=conv_cases())
def test_conv2d_matches_naive_loops_and_finite_differences(backend, case):
    x, w, b, stride, padding, dilation, groups = case
    expected = _naive_conv2d(x, w, b, stride, padding, dilation, groups)
    inputs = [x, w] + ([] if b is None else [b])

    def conv(*tensors):
        bias = tensors[2] if len(tensors) == 3 else None
        return F.conv2d(tensors[0], tensors[1], bias, stride, padding, dilation, groups)

    np.testing.assert_allclose(conv(*map(tg.Tensor, inputs)).numpy(), expected, rtol=1e-10, atol=1e-10)
    got32 = conv(*(tg.Tensor(a.astype(np.float32)) for a in inputs))
    np.testing.assert_allclose(got32.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert_gradients_match(conv, *inputs)


def _naive_pool(x, k, s, p, reduce):
    n, c, h, w = x.shape
    fill = -np.inf if reduce is np.max else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill)
    h_out, w_out = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    y = np.empty((n, c, h_out, w_out))
    for i in range(h_out):
        for j in range(w_out):
            y[:, :, i, j] = reduce(xp[:, :, i * s:i * s + k, j * s:j * s + k], axis=(2, 3))
    return y


@st.composite
def pool_cases(draw):
    k = draw(st.integers(1, 3))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, k // 2))
    h, w = draw(st.integers(max(k - 2 * p, 1), 6)), draw(st.integers(max(k - 2 * p, 1), 6))
    x = draw(arrays((draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w), distinct=True))
    return x, k, s, p


@given(case=pool_cases())
def test_max_pool2d_matches_naive_loops_and_routes_gradient_to_the_max(backend, case):
    x, k, s, p = case
    np.testing.assert_allclose(F.max_pool2d(tg.Tensor(x), k, s, p).numpy(), _naive_pool(x, k, s, p, np.max), rtol=1e-12)
    assert_gradients_match(lambda t: F.max_pool2d(t, k, s, p), x)


@given(case=pool_cases())
def test_avg_pool2d_matches_naive_loops_and_finite_differences(backend, case):
    x, k, s, p = case
    # atol: a window sum of O(1) values that cancels to ~0 differs by rounding in the summation order.
    np.testing.assert_allclose(F.avg_pool2d(tg.Tensor(x), k, s, p).numpy(), _naive_pool(x, k, s, p, np.mean), rtol=1e-12, atol=1e-14)
    assert_gradients_match(lambda t: F.avg_pool2d(t, k, s, p), x)


@st.composite
def array_and_axis(draw):
    x = draw(arrays(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple))))
    return x, draw(st.integers(-x.ndim, x.ndim - 1))


@given(case=array_and_axis())
def test_softmax_and_log_softmax_match_the_composite_forms(backend, case):
    x, axis = case
    composite = (tg.Tensor(x) - tg.Tensor(x).logsumexp(axis=axis, keepdims=True)).numpy()
    np.testing.assert_allclose(F.log_softmax(tg.Tensor(x), axis).numpy(), composite, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.softmax(tg.Tensor(x), axis).numpy(), np.exp(composite), rtol=1e-12, atol=1e-12)
    assert_gradients_match(lambda t: F.softmax(t, axis), x)
    assert_gradients_match(lambda t: F.log_softmax(t, axis), x)


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_softmax_family_is_stable_at_extreme_logits(backend, scale):
    logits64 = np.array([[1.0, 2.0, 3.0], [0.5, -0.5, 0.25]]) * scale
    target = np.array([2, 0])
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 1e-6)):
        logits = tg.Tensor(logits64.astype(dtype))
        log_probs = F.log_softmax(logits, -1).numpy()
        expected = logits64 - np.log(np.exp(logits64 - logits64.max(1, keepdims=True)).sum(1, keepdims=True)) - logits64.max(1, keepdims=True)
        np.testing.assert_allclose(log_probs, expected, rtol=rtol, atol=1e-3 if dtype == np.float32 else 0)
        assert np.all(np.isfinite(F.softmax(logits, -1).numpy()))
        loss = F.cross_entropy(logits, target, reduction="none").numpy()
        np.testing.assert_allclose(loss, -expected[[0, 1], target], rtol=rtol, atol=1e-3 if dtype == np.float32 else 0)


@st.composite
def cross_entropy_cases(draw):
    n, c = draw(st.integers(1, 5)), draw(st.integers(2, 5))
    logits = draw(arrays((n, c), min_value=-3, max_value=3))
    target = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    if draw(st.booleans()):
        target[draw(st.integers(0, n - 1))] = -100
    smoothing = draw(st.sampled_from([0.0, 0.1]))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return logits, target, smoothing, reduction


@given(case=cross_entropy_cases())
def test_cross_entropy_matches_log_softmax_composite_and_finite_differences(backend, case):
    logits, target, smoothing, reduction = case
    log_probs = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) - logits.max(1, keepdims=True)
    valid = target != -100
    per_row = -(1 - smoothing) * log_probs[np.arange(len(target)), np.where(valid, target, 0)] - smoothing * log_probs.mean(1)
    per_row = np.where(valid, per_row, 0.0)
    expected = {"none": per_row, "sum": per_row.sum(), "mean": per_row.sum() / max(valid.sum(), 1)}[reduction]
    got = F.cross_entropy(tg.Tensor(logits), target, reduction=reduction, label_smoothing=smoothing)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert_gradients_match(lambda t: F.cross_entropy(t, target, reduction=reduction, label_smoothing=smoothing), logits)


def test_cross_entropy_accepts_spatial_targets_and_agrees_with_nll_of_log_softmax(backend):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((2, 3, 4))  # (N, C, d1)
    target = rng.integers(0, 3, (2, 4))
    fused = F.cross_entropy(tg.Tensor(logits), target)
    composite = F.nll_loss(F.log_softmax(tg.Tensor(logits), axis=1), target)
    np.testing.assert_allclose(fused.numpy(), composite.numpy(), rtol=1e-12)
    assert_gradients_match(lambda t: F.cross_entropy(t, target), logits)


def test_cross_entropy_errors_name_shapes_and_values():
    with pytest.raises(ValueError, match=r"cross_entropy: input \(3, 4\) needs a target of shape \(3,\), got \(2,\)"):
        F.cross_entropy(tg.ones(3, 4), np.array([0, 1]))
    with pytest.raises(RuntimeError, match="cross_entropy: target must hold integer class indices, got dtype float32"):
        F.cross_entropy(tg.ones(2, 4), tg.ones(2))
    with pytest.raises(IndexError, match="target value 7 is out of range for C=4"):
        F.cross_entropy(tg.ones(2, 4), np.array([0, 7]))


def _composite_attention(q, k, v, mask, causal):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + mask
    if causal:
        scores = np.where(np.triu(np.ones(scores.shape[-2:], bool), 1), -np.inf, scores)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return weights @ v


@st.composite
def attention_cases(draw):
    batch = tuple(draw(st.lists(st.integers(1, 2), max_size=2)))
    t_q, t_k, d, d_v = (draw(st.integers(1, 4)) for _ in range(4))
    causal = draw(st.booleans())
    if causal:
        t_k = max(t_k, t_q)  # every query sees at least one key
    q, k, v = (draw(arrays(batch + shape)) for shape in ((t_q, d), (t_k, d), (t_k, d_v)))
    mask = draw(st.none() | arrays((t_q, t_k), min_value=-1, max_value=1))
    return q, k, v, mask, causal


@given(case=attention_cases())
def test_attention_matches_composite_softmax_and_finite_differences(backend, case):
    q, k, v, mask, causal = case
    expected = _composite_attention(q, k, v, mask, causal)
    if causal and mask is not None:  # torch's SDPA takes attn_mask or is_causal, not both: fold the causal mask in
        mask, causal = mask + np.triu(np.full(mask.shape, -np.inf), 1), False
    got = F.scaled_dot_product_attention(tg.Tensor(q), tg.Tensor(k), tg.Tensor(v), attn_mask=mask, is_causal=causal)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert_gradients_match(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=mask, is_causal=causal),
                           q, k, v)


def test_attention_bool_mask_allows_where_true(backend):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 3, 4)) for _ in range(3))
    allowed = np.array([[True, False, True]] * 3)
    got = F.scaled_dot_product_attention(tg.Tensor(q), tg.Tensor(k), tg.Tensor(v), attn_mask=allowed)
    expected = _composite_attention(q, k, v, np.where(allowed, 0.0, -np.inf), False)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


@st.composite
def rnn_cases(draw):
    n, i, h = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    tensors = [draw(arrays(shape, min_value=-1, max_value=1)) for shape in ((n, i), (n, h), (h, i), (h, h))]
    biases = [draw(arrays((h,))) for _ in range(2)] if draw(st.booleans()) else []
    return tensors + biases


@given(inputs=rnn_cases())
def test_rnn_tanh_cell_matches_its_formula_and_finite_differences(backend, inputs):
    x, h, w_ih, w_hh = inputs[:4]
    bias = inputs[4] + inputs[5] if len(inputs) == 6 else 0.0
    expected = np.tanh(x @ w_ih.T + h @ w_hh.T + bias)
    np.testing.assert_allclose(F.rnn_tanh_cell(*map(tg.Tensor, inputs)).numpy(), expected, rtol=1e-12, atol=1e-12)
    assert_gradients_match(F.rnn_tanh_cell, *inputs)


@given(data=st.data())
def test_layer_norm_matches_numpy_and_finite_differences(backend, data):
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    normalized = shape[data.draw(st.integers(0, len(shape) - 1)):]
    x = data.draw(arrays(shape))
    weight, bias = data.draw(arrays(normalized)), data.draw(arrays(normalized))
    axes = tuple(range(len(shape) - len(normalized), len(shape)))
    expected = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + 1e-5) * weight + bias
    got = F.layer_norm(tg.Tensor(x), normalized, tg.Tensor(weight), tg.Tensor(bias))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-10)
    if np.prod(normalized) > 1:  # a single element normalises to a constant: no gradient to check
        assert_gradients_match(lambda a, w, b: F.layer_norm(a, normalized, w, b), x, weight, bias)


def test_conv2d_and_pool_errors_name_the_op_and_shapes():
    with pytest.raises(RuntimeError, match=r"conv2d: input \(1, 3, 5, 5\) and weight \(4, 2, 3, 3\) do not match"):
        F.conv2d(tg.ones(1, 3, 5, 5), tg.ones(4, 2, 3, 3))
    with pytest.raises(RuntimeError, match=r"conv2d: expected input of shape \(N, C, H, W\), got \(3, 5, 5\)"):
        F.conv2d(tg.ones(3, 5, 5), tg.ones(4, 3, 3, 3))
    with pytest.raises(TypeError, match="conv2d: input, weight and bias must share a dtype"):
        F.conv2d(tg.ones(1, 1, 3, 3), tg.ones(1, 1, 3, 3, dtype=np.float64))
    with pytest.raises(RuntimeError, match=r"max_pool2d: padding \(2, 2\) should be at most half of kernel_size \(2, 2\)"):
        F.max_pool2d(tg.ones(1, 1, 4, 4), 2, padding=2)
    with pytest.raises(RuntimeError, match="scaled_dot_product_attention: expected q"):
        F.scaled_dot_product_attention(tg.ones(2, 3, 4), tg.ones(2, 3, 5), tg.ones(2, 3, 4))
    with pytest.raises(ValueError, match=r"rnn_tanh_cell: expected x \(N, I\)"):
        F.rnn_tanh_cell(tg.ones(2, 3), tg.ones(2, 4), tg.ones(4, 2), tg.ones(4, 4))
    with pytest.raises(RuntimeError, match=r"layer_norm: input \(2, 3\) does not end with normalized_shape \(4,\)"):
        F.layer_norm(tg.ones(2, 3), 4)


def test_backends_agree_on_a_float32_training_step():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 2, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    results = {}
    for name in ("numpy", "cpu"):
        with tg.set_backend(name):
            weight = tg.Tensor(w, requires_grad=True)
            out = F.max_pool2d(F.conv2d(tg.Tensor(x), weight, padding=1).relu(), 2)
            loss = F.cross_entropy(out.reshape(4, -1)[:, :5], np.array([0, 1, 2, 3]))
            loss.backward()
            results[name] = (loss.item(), weight.grad.numpy())
    np.testing.assert_allclose(results["cpu"][0], results["numpy"][0], rtol=1e-5)
    np.testing.assert_allclose(results["cpu"][1], results["numpy"][1], rtol=1e-4, atol=1e-5)


@st.composite
def linear_cases(draw):
    leading = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    k, n = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    x = draw(arrays(leading + (k,)))
    weight = draw(arrays((n, k)))
    bias = draw(st.none() | arrays((n,)))
    return x, weight, bias


@given(case=linear_cases())
def test_fused_linear_matches_matmul_plus_bias_and_finite_differences(backend, case):
    x, weight, bias = case
    expected = x @ weight.T + (0 if bias is None else bias)
    inputs = [x, weight] + ([] if bias is None else [bias])

    def linear(*tensors):
        return F.linear(tensors[0], tensors[1], tensors[2] if len(tensors) == 3 else None)

    np.testing.assert_allclose(linear(*map(tg.Tensor, inputs)).numpy(), expected, rtol=1e-12, atol=1e-12)
    assert_gradients_match(linear, *inputs)


def test_linear_errors_name_shapes():
    with pytest.raises(RuntimeError, match=r"linear: input \(2, 3\) has 3 features but weight \(4, 5\) expects 5"):
        F.linear(tg.ones(2, 3), tg.ones(4, 5))
    with pytest.raises(RuntimeError, match=r"linear: bias must have shape \(4,\), got \(3,\)"):
        F.linear(tg.ones(2, 5), tg.ones(4, 5), tg.ones(3))
