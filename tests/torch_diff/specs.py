"""The tables of the differential tests: every public op as one `OpSpec` row (name, call in PyTorch spelling,
input strategy, options), compared with torch by harness.py.

`OP_SPECS` is the concatenation of the tables below; test_ops.py runs each row on both CPU kernel sets.
"""
from .harness import (
    MATMUL_SHAPES,
    OpSpec,
    attention_inputs,
    batch_norm_inputs,
    bounded_inputs,
    cat_inputs,
    classification_inputs,
    embedding_inputs,
    gather_inputs,
    image_inputs,
    index_inputs,
    index_select_inputs,
    layer_norm_inputs,
    linear_inputs,
    masked_inputs,
    matmul_inputs,
    nary,
    one_hot_inputs,
    probability_target_inputs,
    same_shape,
    strategy,
    unary,
    vectors,
    where_inputs,
)

# ----- the table of ops ----------------------------------------------------------------------------------------
X = strategy(unary)
X_POSITIVE = strategy(unary, domain="positive")
X_AT_LEAST_1D = strategy(unary, min_dims=1)
X_AT_LEAST_2D = strategy(unary, min_dims=2)
XY = strategy(nary)
XY_SAME = strategy(same_shape)


def _op(name, call, inputs=X, **options):
    return OpSpec(name, call, inputs, **options)


ELEMENTWISE = [
    # unary math
    _op("neg_operator", lambda T, F, x: -x),
    _op("neg_method", lambda T, F, x: x.neg()),
    _op("exp", lambda T, F, x: x.exp()),
    _op("log", lambda T, F, x: x.log(), X_POSITIVE),
    _op("sqrt", lambda T, F, x: x.sqrt(), X_POSITIVE),
    _op("abs", lambda T, F, x: x.abs()),
    _op("tanh", lambda T, F, x: x.tanh()),
    _op("sigmoid", lambda T, F, x: x.sigmoid()),
    _op("relu", lambda T, F, x: x.relu()),
    _op("leaky_relu_default_slope", lambda T, F, x: F.leaky_relu(x)),
    _op("leaky_relu_slope_0.2", lambda T, F, x: F.leaky_relu(x, 0.2)),
    _op("gelu_erf", lambda T, F, x: F.gelu(x)),
    _op("gelu_tanh", lambda T, F, x: F.gelu(x, approximate="tanh")),
    _op("functional_relu", lambda T, F, x: F.relu(x)),
    _op("functional_sigmoid", lambda T, F, x: F.sigmoid(x)),
    _op("functional_tanh", lambda T, F, x: F.tanh(x)),
    # clamp / clip
    _op("clamp_both_scalars", lambda T, F, x: x.clamp(-1.0, 1.0)),
    _op("clamp_min_only", lambda T, F, x: x.clamp(min=-0.5)),
    _op("clamp_max_only", lambda T, F, x: x.clamp(max=0.5)),
    _op("clip_both_scalars", lambda T, F, x: x.clip(-1.0, 1.0)),
    _op("clamp_tensor_bounds", lambda T, F, x, low, high: x.clamp(low, high), strategy(bounded_inputs, count=2)),
    _op("clamp_tensor_min", lambda T, F, x, low: x.clamp(min=low), strategy(bounded_inputs, count=1)),
    # binary with broadcasting
    _op("add", lambda T, F, a, b: a + b, XY),
    _op("sub", lambda T, F, a, b: a - b, XY),
    _op("mul", lambda T, F, a, b: a * b, XY, degree=2),
    _op("div", lambda T, F, a, b: a / b, XY, degree=2),
    _op("pow_tensor_exponent", lambda T, F, a, b: a ** b, XY),
    _op("pow_positive_base_tensor_exponent", lambda T, F, a, b: a ** b, strategy(nary, domains=("positive", "real"))),
    _op("maximum", lambda T, F, a, b: T.maximum(a, b), XY),
    _op("minimum", lambda T, F, a, b: T.minimum(a, b), XY),
    _op("maximum_method", lambda T, F, a, b: a.maximum(b), XY),
    # with Python scalars
    _op("add_scalar", lambda T, F, x: x + 2),
    _op("radd_scalar", lambda T, F, x: 2.5 + x),
    _op("sub_scalar", lambda T, F, x: x - 1.5),
    _op("rsub_scalar", lambda T, F, x: 1.5 - x),
    _op("mul_scalar", lambda T, F, x: x * 3),
    _op("rmul_scalar", lambda T, F, x: -0.5 * x),
    _op("div_scalar", lambda T, F, x: x / 4),
    _op("rdiv_scalar", lambda T, F, x: 4 / x),
    _op("div_by_zero_scalar", lambda T, F, x: x / 0.0),
    _op("pow_2", lambda T, F, x: x ** 2),
    _op("pow_3", lambda T, F, x: x ** 3),
    _op("pow_0", lambda T, F, x: x ** 0),
    _op("pow_minus_1", lambda T, F, x: x ** -1),
    _op("pow_minus_2", lambda T, F, x: x ** -2),
    _op("pow_half_positive", lambda T, F, x: x ** 0.5, X_POSITIVE),
    _op("pow_2.5_any_sign", lambda T, F, x: x ** 2.5),
    _op("rpow_2", lambda T, F, x: 2 ** x),
    _op("rpow_negative_base", lambda T, F, x: (-2.0) ** x),
    # where
    _op("where_function", lambda T, F, c, a, b: T.where(c, a, b), strategy(where_inputs)),
    _op("where_method", lambda T, F, c, a, b: a.where(c, b), strategy(where_inputs)),
    _op("where_scalar_other", lambda T, F, x: T.where(x > 0, x, 0.0)),
]

COMPARISONS = [
    _op(name, call, XY, differentiable=False) for name, call in [
        ("less", lambda T, F, a, b: a < b),
        ("less_equal", lambda T, F, a, b: a <= b),
        ("greater", lambda T, F, a, b: a > b),
        ("greater_equal", lambda T, F, a, b: a >= b),
        ("equal_operator", lambda T, F, a, b: a == b),
        ("not_equal_operator", lambda T, F, a, b: a != b),
        ("eq_method", lambda T, F, a, b: a.eq(b)),
        ("ne_method", lambda T, F, a, b: a.ne(b)),
    ]
] + [
    _op(name, call, X, differentiable=False) for name, call in [
        ("greater_than_scalar", lambda T, F, x: x > 0),
        ("equal_scalar", lambda T, F, x: x == 0.0),
        ("not_equal_scalar", lambda T, F, x: x != 1),
        ("reflected_less_than_scalar", lambda T, F, x: 0 < x),
    ]
]


def _reductions():
    """sum/mean/max/min/var/std/logsumexp/argmax/argmin over dim=None, a single dim, keepdim, and a tuple of dims."""
    dims = [("all", {}, 0), ("dim0", dict(dim=0), 1), ("dim-1_keepdim", dict(dim=-1, keepdim=True), 1),
            ("dims0,-1", dict(dim=(0, -1)), 2)]
    specs = []
    for label, kwargs, min_dims in dims:
        inputs = strategy(unary, min_dims=min_dims)
        specs += [
            _op(f"sum_{label}", lambda T, F, x, kw=kwargs: x.sum(**kw), inputs),
            _op(f"mean_{label}", lambda T, F, x, kw=kwargs: x.mean(**kw), inputs),
            _op(f"var_{label}", lambda T, F, x, kw=kwargs: x.var(**kw), inputs, degree=2),
            _op(f"var_correction0_{label}", lambda T, F, x, kw=kwargs: x.var(**kw, correction=0), inputs, degree=2),
            _op(f"std_{label}", lambda T, F, x, kw=kwargs: x.std(**kw), inputs, degree=2),
        ]
        if kwargs:
            specs.append(_op(f"logsumexp_{label}", lambda T, F, x, kw=kwargs: x.logsumexp(**kw), inputs))
        if label == "all":
            specs += [
                _op("max_all", lambda T, F, x: x.max(), inputs),
                _op("min_all", lambda T, F, x: x.min(), inputs),
                _op("argmax_all", lambda T, F, x: x.argmax(), inputs, differentiable=False),
                _op("argmin_all", lambda T, F, x: x.argmin(), inputs, differentiable=False),
            ]
        elif "dims" not in label:
            specs += [
                _op(f"max_{label}_values", lambda T, F, x, kw=kwargs: x.max(**kw)[0], inputs),
                _op(f"max_{label}_indices", lambda T, F, x, kw=kwargs: x.max(**kw)[1], inputs, differentiable=False),
                _op(f"max_{label}_named_values", lambda T, F, x, kw=kwargs: x.max(**kw).values, inputs),
                _op(f"min_{label}_values", lambda T, F, x, kw=kwargs: x.min(**kw)[0], inputs),
                _op(f"min_{label}_indices", lambda T, F, x, kw=kwargs: x.min(**kw).indices, inputs, differentiable=False),
                _op(f"argmax_{label}", lambda T, F, x, kw=kwargs: x.argmax(**kw), inputs, differentiable=False),
                _op(f"argmin_{label}", lambda T, F, x, kw=kwargs: x.argmin(**kw), inputs, differentiable=False),
            ]
    specs += [
        _op("sum_positional_dim", lambda T, F, x: x.sum(0), X_AT_LEAST_1D),
        _op("max_positional_dim_values", lambda T, F, x: x.max(1)[0], X_AT_LEAST_2D),
        _op("mean_axis_alias", lambda T, F, x: x.mean(axis=0), X_AT_LEAST_1D),
        _op("softmax_method_last", lambda T, F, x: x.softmax(dim=-1), X_AT_LEAST_1D),
        _op("softmax_method_dim0", lambda T, F, x: x.softmax(0), X_AT_LEAST_1D),
        _op("log_softmax_method_last", lambda T, F, x: x.log_softmax(dim=-1), X_AT_LEAST_1D),
        _op("functional_softmax_dim1", lambda T, F, x: F.softmax(x, dim=1), X_AT_LEAST_2D),
        _op("functional_log_softmax_dim0", lambda T, F, x: F.log_softmax(x, dim=0), X_AT_LEAST_1D),
        _op("topk_values", lambda T, F, x: x.topk(min(2, x.shape[-1]), dim=-1)[0],
            strategy(unary, min_dims=1, unique=True)),
        _op("topk_indices", lambda T, F, x: x.topk(min(2, x.shape[-1]), dim=-1).indices,
            strategy(unary, min_dims=1, unique=True), differentiable=False),
        _op("topk_smallest_dim0_values", lambda T, F, x: x.topk(1, dim=0, largest=False).values,
            strategy(unary, min_dims=1, unique=True)),
    ]
    return specs


def _expand_target(shape):
    return [2] + [3 if side == 1 else side for side in shape]


MOVEMENT = [
    _op("reshape_flat", lambda T, F, x: x.reshape(-1)),
    _op("reshape_column_tuple", lambda T, F, x: x.reshape((-1, 1))),
    _op("reshape_reversed_shape", lambda T, F, x: x.reshape(*reversed(x.shape)), X_AT_LEAST_1D),
    _op("view_flat", lambda T, F, x: x.view(-1)),
    _op("permute_reversed", lambda T, F, x: x.permute(*reversed(range(x.ndim))), X_AT_LEAST_1D),
    _op("transpose_first_last", lambda T, F, x: x.transpose(0, -1), X_AT_LEAST_1D),
    _op("T_of_matrix", lambda T, F, x: x.T, strategy(unary, min_dims=2, max_dims=2)),
    _op("expand_size1_dims", lambda T, F, x: x.expand(*_expand_target(x.shape)), strategy(unary, min_side=1, max_side=1)),
    _op("expand_minus1_keeps", lambda T, F, x: x.expand(2, *[-1] * x.ndim)),
    _op("squeeze_all", lambda T, F, x: x.squeeze()),
    _op("squeeze_dim0", lambda T, F, x: x.squeeze(0), X_AT_LEAST_1D),
    _op("squeeze_dim_minus1", lambda T, F, x: x.squeeze(dim=-1), X_AT_LEAST_1D),
    _op("unsqueeze_0", lambda T, F, x: x.unsqueeze(0)),
    _op("unsqueeze_last", lambda T, F, x: x.unsqueeze(-1)),
    _op("flatten_all", lambda T, F, x: x.flatten()),
    _op("flatten_from_1", lambda T, F, x: x.flatten(1), X_AT_LEAST_1D),
    _op("getitem_int", lambda T, F, x: x[0], X_AT_LEAST_1D),
    _op("getitem_negative_int", lambda T, F, x: x[-1], X_AT_LEAST_1D),
    _op("getitem_slice", lambda T, F, x: x[1:], X_AT_LEAST_1D),
    _op("getitem_step_slice", lambda T, F, x: x[::2], X_AT_LEAST_1D),
    _op("getitem_ellipsis_int", lambda T, F, x: x[..., 0], X_AT_LEAST_1D),
    _op("getitem_none", lambda T, F, x: x[:, None], X_AT_LEAST_1D),
    _op("getitem_int_and_slice", lambda T, F, x: x[0, 1:], X_AT_LEAST_2D),
    _op("getitem_integer_array", lambda T, F, x, i: x[i], strategy(index_inputs, kind="integer")),
    _op("getitem_bool_mask", lambda T, F, x, m: x[m], strategy(index_inputs, kind="mask")),
    _op("functional_pad_last_dim", lambda T, F, x: F.pad(x, (1, 2)), X_AT_LEAST_1D),
    _op("functional_pad_two_dims_value", lambda T, F, x: F.pad(x, (1, 0, 0, 2), value=0.5), X_AT_LEAST_2D),
    _op("cat_dim0", lambda T, F, a, b: T.cat([a, b], dim=0), strategy(cat_inputs, dim=0)),
    _op("cat_dim_minus1", lambda T, F, a, b: T.cat((a, b), dim=-1), strategy(cat_inputs, dim=-1)),
    _op("cat_single", lambda T, F, x: T.cat([x]), X_AT_LEAST_1D),
    _op("stack_dim0", lambda T, F, a, b: T.stack([a, b]), XY_SAME),
    _op("stack_dim_minus1", lambda T, F, a, b: T.stack([a, b], dim=-1), XY_SAME),
    _op("gather_dim0", lambda T, F, x, i: x.gather(0, i), strategy(gather_inputs, dim=0)),
    _op("gather_dim_minus1", lambda T, F, x, i: x.gather(-1, i), strategy(gather_inputs, dim=-1)),
    _op("scatter_add_dim0", lambda T, F, x, i, s: x.scatter_add(0, i, s), strategy(gather_inputs, dim=0, with_source=True)),
    _op("scatter_add_dim_minus1", lambda T, F, x, i, s: x.scatter_add(-1, i, s),
        strategy(gather_inputs, dim=-1, with_source=True)),
]

MATMUL = [
    _op(f"matmul_{kind}_{form}", call, strategy(matmul_inputs, kind=kind), degree=2)
    for kind in MATMUL_SHAPES
    for form, call in [("operator", lambda T, F, a, b: a @ b), ("function", lambda T, F, a, b: T.matmul(a, b))]
] + [_op("matmul_method", lambda T, F, a, b: a.matmul(b), strategy(matmul_inputs, kind="batched"), degree=2)]

CONV_CONFIGS = {
    # name: (weight shape (out, in/groups, kh, kw), keyword arguments, smallest image side)
    "plain": ((3, 2, 2, 2), {}, 2),
    "stride2": ((2, 2, 2, 2), dict(stride=2), 2),
    "padding1": ((2, 2, 3, 3), dict(padding=1), 1),
    "dilation2": ((2, 2, 2, 2), dict(dilation=2), 3),
    "groups2": ((4, 1, 2, 2), dict(groups=2), 2),
    "stride_padding_dilation_groups": ((2, 1, 2, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2), 3),
    "padding_same": ((2, 2, 3, 3), dict(padding="same"), 1),
}

FUNCTIONAL = [
    _op("linear_with_bias", lambda T, F, x, w, b: F.linear(x, w, b), strategy(linear_inputs), degree=2),
    _op("linear_without_bias", lambda T, F, x, w: F.linear(x, w), strategy(linear_inputs, bias=False), degree=2),
] + [
    _op(f"conv2d_{name}_with_bias", lambda T, F, x, w, b, kw=kwargs: F.conv2d(x, w, b, **kw),
        strategy(image_inputs, weight=weight, min_side=side), degree=2)
    for name, (weight, kwargs, side) in CONV_CONFIGS.items()
] + [
    _op("conv2d_without_bias", lambda T, F, x, w, b: F.conv2d(x, w), strategy(image_inputs, weight=(2, 2, 2, 2), min_side=2),
        degree=2),
    _op("max_pool2d_2", lambda T, F, x: F.max_pool2d(x, 2), strategy(image_inputs, min_side=2)),
    _op("max_pool2d_2_stride1", lambda T, F, x: F.max_pool2d(x, 2, stride=1), strategy(image_inputs, min_side=2)),
    _op("max_pool2d_3_stride2_padding1", lambda T, F, x: F.max_pool2d(x, 3, stride=2, padding=1), strategy(image_inputs)),
    _op("max_pool2d_too_small_input", lambda T, F, x: F.max_pool2d(x, 3), strategy(image_inputs)),
    _op("avg_pool2d_2", lambda T, F, x: F.avg_pool2d(x, 2), strategy(image_inputs, min_side=2)),
    _op("avg_pool2d_3_stride1_padding1", lambda T, F, x: F.avg_pool2d(x, 3, stride=1, padding=1), strategy(image_inputs)),
    _op("avg_pool2d_rectangular", lambda T, F, x: F.avg_pool2d(x, (2, 1), stride=(1, 2)), strategy(image_inputs, min_side=2)),
    _op("layer_norm_affine", lambda T, F, x, w, b: F.layer_norm(x, x.shape[-1:], w, b), strategy(layer_norm_inputs)),
    _op("layer_norm_plain", lambda T, F, x: F.layer_norm(x, x.shape[-1:]), strategy(layer_norm_inputs, affine=False)),
    _op("layer_norm_eps", lambda T, F, x: F.layer_norm(x, x.shape[-1:], eps=0.1), strategy(layer_norm_inputs, affine=False)),
    _op("batch_norm_training", lambda T, F, x, m, v, w, b: F.batch_norm(x, m, v, w, b, training=True),
        strategy(batch_norm_inputs)),
    _op("batch_norm_eval", lambda T, F, x, m, v, w, b: F.batch_norm(x, m, v, w, b, training=False),
        strategy(batch_norm_inputs)),
    _op("batch_norm_training_no_running_stats", lambda T, F, x, m, v, w, b: F.batch_norm(x, None, None, w, b, training=True),
        strategy(batch_norm_inputs)),
    _op("embedding", lambda T, F, i, w: F.embedding(i, w), strategy(embedding_inputs)),
    _op("embedding_padding_idx", lambda T, F, i, w: F.embedding(i, w, padding_idx=2), strategy(embedding_inputs)),
    _op("dropout_p0_training", lambda T, F, x: F.dropout(x, p=0.0)),
    _op("dropout_eval", lambda T, F, x: F.dropout(x, 0.5, training=False)),
    _op("cross_entropy_mean", lambda T, F, x, t: F.cross_entropy(x, t), strategy(classification_inputs)),
    _op("cross_entropy_sum", lambda T, F, x, t: F.cross_entropy(x, t, reduction="sum"), strategy(classification_inputs)),
    _op("cross_entropy_none", lambda T, F, x, t: F.cross_entropy(x, t, reduction="none"), strategy(classification_inputs)),
    _op("cross_entropy_ignore_index", lambda T, F, x, t: F.cross_entropy(x, t, ignore_index=-100),
        strategy(classification_inputs, ignore=True)),
    _op("cross_entropy_label_smoothing", lambda T, F, x, t: F.cross_entropy(x, t, label_smoothing=0.1),
        strategy(classification_inputs)),
    _op("cross_entropy_ignore_and_smoothing_sum", lambda T, F, x, t: F.cross_entropy(x, t, reduction="sum", label_smoothing=0.2),
        strategy(classification_inputs, ignore=True)),
    _op("cross_entropy_spatial", lambda T, F, x, t: F.cross_entropy(x, t), strategy(classification_inputs, spatial=True)),
    _op("cross_entropy_spatial_none", lambda T, F, x, t: F.cross_entropy(x, t, reduction="none"),
        strategy(classification_inputs, spatial=True, ignore=True)),
    _op("nll_loss_mean", lambda T, F, x, t: F.nll_loss(x, t), strategy(classification_inputs)),
    _op("nll_loss_ignore_sum", lambda T, F, x, t: F.nll_loss(x, t, reduction="sum"), strategy(classification_inputs, ignore=True)),
    _op("nll_loss_spatial_none", lambda T, F, x, t: F.nll_loss(x, t, reduction="none"),
        strategy(classification_inputs, spatial=True)),
    _op("mse_loss_mean", lambda T, F, a, b: F.mse_loss(a, b), XY_SAME, degree=2),
    _op("mse_loss_none", lambda T, F, a, b: F.mse_loss(a, b, reduction="none"), XY_SAME, degree=2),
    _op("smooth_l1_loss_mean", lambda T, F, a, b: F.smooth_l1_loss(a, b), XY_SAME, degree=2),
    _op("smooth_l1_loss_beta_half_sum", lambda T, F, a, b: F.smooth_l1_loss(a, b, reduction="sum", beta=0.5), XY_SAME,
        degree=2),
    _op("smooth_l1_loss_beta_zero", lambda T, F, a, b: F.smooth_l1_loss(a, b, beta=0.0), XY_SAME),
    _op("huber_loss_mean", lambda T, F, a, b: F.huber_loss(a, b), XY_SAME, degree=2),
    _op("huber_loss_delta_half_none", lambda T, F, a, b: F.huber_loss(a, b, reduction="none", delta=0.5), XY_SAME,
        degree=2),
    _op("bce_with_logits_mean", lambda T, F, x, t: F.binary_cross_entropy_with_logits(x, t),
        strategy(same_shape, domains=("real", "unit"))),
    _op("bce_with_logits_none", lambda T, F, x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"),
        strategy(same_shape, domains=("real", "unit"))),
    _op("sdpa_plain", lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v), strategy(attention_inputs), degree=2),
    _op("sdpa_bool_mask", lambda T, F, q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
        strategy(attention_inputs, mask="bool"), degree=2),
    _op("sdpa_float_mask", lambda T, F, q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
        strategy(attention_inputs, mask="float"), degree=2),
    _op("sdpa_causal", lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        strategy(attention_inputs), degree=2),
    _op("sdpa_scale_dropout0", lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, scale=0.5),
        strategy(attention_inputs), degree=2),
]

OP_SPECS = ELEMENTWISE + COMPARISONS + _reductions() + MOVEMENT + MATMUL + FUNCTIONAL


X_FINITE = strategy(unary, domain="finite")
X_UNIQUE_1D = strategy(unary, min_dims=1, unique=True)

# Module-level torch functions (torch.exp(x), torch.sum(x, dim), ...) and the rest of the Tensor methods.
TORCH_FUNCTIONS = [
    _op("torch_exp", lambda T, F, x: T.exp(x)),
    _op("torch_log", lambda T, F, x: T.log(x), X_POSITIVE),
    _op("torch_sqrt", lambda T, F, x: T.sqrt(x), X_POSITIVE),
    _op("torch_abs", lambda T, F, x: T.abs(x)),
    _op("torch_tanh", lambda T, F, x: T.tanh(x)),
    _op("torch_sigmoid", lambda T, F, x: T.sigmoid(x)),
    _op("torch_relu", lambda T, F, x: T.relu(x)),
    _op("torch_neg", lambda T, F, x: T.neg(x)),
    _op("square", lambda T, F, x: x.square()),
    _op("rsqrt", lambda T, F, x: x.rsqrt(), X_POSITIVE),
    _op("reciprocal", lambda T, F, x: T.reciprocal(x)),
    _op("torch_sum_dim0", lambda T, F, x: T.sum(x, dim=0), X_AT_LEAST_1D),
    _op("torch_mean_all", lambda T, F, x: T.mean(x)),
    _op("torch_max_all", lambda T, F, x: T.max(x)),
    _op("torch_max_dim_values", lambda T, F, x: T.max(x, dim=-1)[0], X_AT_LEAST_1D),
    _op("torch_min_dim_indices", lambda T, F, x: T.min(x, 0)[1], X_AT_LEAST_1D, differentiable=False),
    _op("amax_dim_last", lambda T, F, x: x.amax(dim=-1), X_AT_LEAST_1D),
    _op("torch_amin_dims", lambda T, F, x: T.amin(x, dim=(0, -1)), X_AT_LEAST_2D),
    _op("amax_keepdim", lambda T, F, x: T.amax(x, dim=0, keepdim=True), X_AT_LEAST_1D),
    _op("torch_std_dim0", lambda T, F, x: T.std(x, dim=0), X_AT_LEAST_1D, degree=2),
    _op("torch_var_all", lambda T, F, x: T.var(x), X, degree=2),
    _op("torch_logsumexp_last", lambda T, F, x: T.logsumexp(x, dim=-1), X_AT_LEAST_1D),
    _op("torch_softmax_last", lambda T, F, x: T.softmax(x, dim=-1), X_AT_LEAST_1D),
    _op("torch_log_softmax_last", lambda T, F, x: T.log_softmax(x, -1), X_AT_LEAST_1D),
    _op("torch_argmax_dim0", lambda T, F, x: T.argmax(x, dim=0), X_AT_LEAST_1D, differentiable=False),
    _op("torch_argmin_all", lambda T, F, x: T.argmin(x), X, differentiable=False),
    _op("torch_clamp", lambda T, F, x: T.clamp(x, min=-1.0, max=1.0)),
    _op("torch_clip", lambda T, F, x: T.clip(x, -1.0, 1.0)),
    _op("torch_clamp_min", lambda T, F, x: T.clamp_min(x, 0.5)),
    _op("torch_reshape", lambda T, F, x: T.reshape(x, (-1,))),
    _op("torch_permute", lambda T, F, x: T.permute(x, tuple(reversed(range(x.ndim))))),
    _op("torch_transpose", lambda T, F, x: T.transpose(x, 0, -1), X_AT_LEAST_1D),
    _op("torch_squeeze", lambda T, F, x: T.squeeze(x)),
    _op("torch_unsqueeze", lambda T, F, x: T.unsqueeze(x, 0)),
    _op("torch_flatten", lambda T, F, x: T.flatten(x)),
    _op("t_of_matrix", lambda T, F, x: x.t(), strategy(unary, max_dims=2)),
    _op("torch_t", lambda T, F, x: T.t(x), strategy(unary, max_dims=2)),
    _op("swapaxes", lambda T, F, x: x.swapaxes(0, -1), X_AT_LEAST_1D),
    _op("unflatten", lambda T, F, x: x.unflatten(0, (1, -1)), X_AT_LEAST_1D),
    _op("repeat_new_leading_dim", lambda T, F, x: x.repeat(2, *[1] * x.ndim)),
    _op("repeat_every_dim", lambda T, F, x: x.repeat(*[2] * x.ndim), X_AT_LEAST_1D),
    _op("chunk_last", lambda T, F, x: x.chunk(2, dim=0)[-1], X_AT_LEAST_1D),
    _op("torch_chunk_first", lambda T, F, x: T.chunk(x, 3)[0], X_AT_LEAST_1D),
    _op("split_size_first", lambda T, F, x: x.split(2)[0], X_AT_LEAST_1D),
    _op("torch_split_sections_last", lambda T, F, x: T.split(x, [1, x.shape[-1] - 1], dim=-1)[1],
        strategy(unary, min_dims=1, min_side=1)),
    _op("unbind_first", lambda T, F, x: x.unbind(0)[0], strategy(unary, min_dims=1, min_side=1)),
    _op("torch_unbind_last", lambda T, F, x: T.unbind(x, dim=-1)[-1], strategy(unary, min_dims=1, min_side=1)),
    _op("sort_values", lambda T, F, x: x.sort(dim=-1)[0], X_AT_LEAST_1D),
    _op("sort_descending_indices", lambda T, F, x: x.sort(descending=True).indices, X_UNIQUE_1D, differentiable=False),
    _op("torch_sort_dim0_values", lambda T, F, x: T.sort(x, dim=0).values, X_UNIQUE_1D),
    _op("argsort", lambda T, F, x: x.argsort(dim=-1), X_UNIQUE_1D, differentiable=False),
    _op("torch_argsort_descending", lambda T, F, x: T.argsort(x, dim=0, descending=True), X_UNIQUE_1D,
        differentiable=False),
    _op("torch_topk", lambda T, F, x: T.topk(x, 1).values, X_UNIQUE_1D),
    _op("mm", lambda T, F, a, b: a.mm(b), strategy(matmul_inputs, kind="matrix_matrix"), degree=2),
    _op("torch_mm", lambda T, F, a, b: T.mm(a, b), strategy(matmul_inputs, kind="matrix_matrix"), degree=2),
    _op("bmm", lambda T, F, a, b: a.bmm(b), strategy(matmul_inputs, kind="batched"), degree=2),
    _op("torch_bmm", lambda T, F, a, b: T.bmm(a, b), strategy(matmul_inputs, kind="batched"), degree=2),
    _op("torch_outer", lambda T, F, a, b: T.outer(a, b), strategy(vectors), degree=2),
    _op("torch_gather", lambda T, F, x, i: T.gather(x, 0, i), strategy(gather_inputs, dim=0)),
    _op("torch_scatter_add", lambda T, F, x, i, s: T.scatter_add(x, -1, i, s),
        strategy(gather_inputs, dim=-1, with_source=True)),
    _op("index_select_dim0", lambda T, F, x, i: x.index_select(0, i), strategy(index_select_inputs, dim=0)),
    _op("torch_index_select_last", lambda T, F, x, i: T.index_select(x, -1, i), strategy(index_select_inputs, dim=-1)),
    _op("masked_fill_scalar", lambda T, F, x, m: x.masked_fill(m, 0.5), strategy(masked_inputs)),
    _op("masked_fill_minus_inf_then_softmax", lambda T, F, x, m: x.masked_fill(m, float("-inf")).softmax(dim=-1),
        strategy(masked_inputs)),
    _op("torch_masked_fill", lambda T, F, x, m: T.masked_fill(x, m, -1.0), strategy(masked_inputs)),
    _op("isnan", lambda T, F, x: T.isnan(x), X, differentiable=False),
    _op("isinf", lambda T, F, x: T.isinf(x), X, differentiable=False),
    _op("isfinite", lambda T, F, x: T.isfinite(x), X, differentiable=False),
    _op("logical_not", lambda T, F, x: T.logical_not(x > 0), X, differentiable=False),
    _op("all", lambda T, F, x: (x > 0).all(), X, differentiable=False),
    _op("any_dim0", lambda T, F, x: (x > 0).any(dim=0), X_AT_LEAST_1D, differentiable=False),
    _op("torch_all_dim_keepdim", lambda T, F, x: T.all(x > 0, dim=-1, keepdim=True), X_AT_LEAST_1D, differentiable=False),
    _op("clone", lambda T, F, x: x.clone()),
    _op("torch_clone", lambda T, F, x: T.clone(x)),
    _op("contiguous", lambda T, F, x: x.contiguous()),
    _op("detach_then_use", lambda T, F, x: x * x.detach()),
    _op("view_as", lambda T, F, a, b: a.reshape(-1).view_as(a) * b, XY_SAME),
    _op("reshape_as", lambda T, F, a, b: a.reshape_as(b), XY_SAME),
    _op("expand_as", lambda T, F, x: x[..., :1].expand_as(x), X_AT_LEAST_1D),
    _op("double", lambda T, F, x: x.double() * 2),
    _op("float", lambda T, F, x: x.float() * 2),
    _op("to_float64", lambda T, F, x: x.to(T.float64)),
    _op("to_dtype_keyword_float32", lambda T, F, x: x.to(dtype=T.float32)),
    _op("type_as", lambda T, F, x: x.type_as(T.zeros(1, dtype=T.float64))),
    _op("long", lambda T, F, x: x.long(), X_FINITE, differentiable=False),
    _op("int", lambda T, F, x: x.int(), X_FINITE, differentiable=False),
    _op("bool", lambda T, F, x: x.bool(), X, differentiable=False),
    _op("new_zeros", lambda T, F, x: x.new_zeros(2, 3), X, differentiable=False),
    # In-place ops, compared where both engines define them: on tensors that do not require grad, and on a leaf
    # under no_grad. (On a tensor in a graph torch records them and we refuse them: test_differences.py.)
    _op("add_inplace", lambda T, F, a, b: (a * 1).add_(b), XY, differentiable=False),
    _op("add_inplace_alpha", lambda T, F, a, b: (a * 1).add_(b, alpha=2.0), XY, differentiable=False),
    _op("sub_inplace", lambda T, F, a, b: (a * 1).sub_(b), XY, differentiable=False),
    _op("mul_inplace", lambda T, F, a, b: (a * 1).mul_(b), XY, differentiable=False, degree=2),
    _op("div_inplace_scalar", lambda T, F, x: (x * 1).div_(4.0), differentiable=False),
    _op("clamp_inplace", lambda T, F, x: (x * 1).clamp_(-1.0, 1.0), differentiable=False),
    _op("zero_inplace", lambda T, F, x: (x * 1).zero_(), differentiable=False),
    _op("fill_inplace", lambda T, F, x: (x * 1).fill_(2.5), differentiable=False),
    _op("copy_inplace", lambda T, F, a, b: (a * 1).copy_(b), XY, differentiable=False),
    _op("iadd_operator", lambda T, F, a, b: _iadd(a * 1, b), XY, differentiable=False),
    _op("inplace_on_leaf_under_no_grad_then_use", lambda T, F, x: _scale_leaf_under_no_grad(T, x)),
    _op("inplace_on_leaf_that_requires_grad", lambda T, F, x: x.add_(1.0)),
    _op("inplace_change_of_saved_tensor", lambda T, F, x, w: _modify_saved(x, w), strategy(same_shape, constants=(1,))),
    _op("inplace_after_use_by_op_that_saves_nothing", lambda T, F, x, w: _modify_unsaved(x, w),
        strategy(same_shape, constants=(1,))),
]


def _iadd(a, b):
    a += b
    return a


def _scale_leaf_under_no_grad(T, x):
    """An optimizer-style update of a leaf under no_grad, then a use of the new values in a graph."""
    with T.no_grad():
        x.mul_(0.5)
    return x * x


def _modify_saved(x, w):
    """x * w saves w; changing w (which needs no grad) before backward must make backward raise (RuntimeError)."""
    product = x * w
    w.add_(1.0)
    return product


def _modify_unsaved(x, w):
    """x + w saves nothing, so changing w afterwards is allowed and the gradient is unchanged."""
    total = x + w
    w.mul_(3.0)
    return total * 2


OP_SPECS = OP_SPECS + TORCH_FUNCTIONS



MORE_FUNCTIONAL = [
    _op("softplus", lambda T, F, x: F.softplus(x)),
    _op("softplus_beta_threshold", lambda T, F, x: F.softplus(x, beta=2.0, threshold=5.0)),
    _op("logsigmoid", lambda T, F, x: F.logsigmoid(x)),
    _op("l1_loss_mean", lambda T, F, a, b: F.l1_loss(a, b), XY_SAME),
    _op("l1_loss_none", lambda T, F, a, b: F.l1_loss(a, b, reduction="none"), XY_SAME),
    _op("binary_cross_entropy", lambda T, F, p, t: F.binary_cross_entropy(p, t),
        strategy(same_shape, domains=("unit", "unit"))),
    _op("binary_cross_entropy_none", lambda T, F, p, t: F.binary_cross_entropy(p, t, reduction="none"),
        strategy(same_shape, domains=("unit", "unit"))),
    _op("normalize_last", lambda T, F, x: F.normalize(x, dim=-1), X_AT_LEAST_1D),
    _op("normalize_l1_dim0", lambda T, F, x: F.normalize(x, p=1.0, dim=0), X_AT_LEAST_1D),
    _op("one_hot_num_classes", lambda T, F, i: F.one_hot(i, num_classes=5), strategy(one_hot_inputs)),
    _op("one_hot_inferred_classes", lambda T, F, i: F.one_hot(i), strategy(one_hot_inputs)),
    _op("cross_entropy_probability_target", lambda T, F, x, t: F.cross_entropy(x, t), strategy(probability_target_inputs)),
    _op("cross_entropy_probability_target_smoothing_none",
        lambda T, F, x, t: F.cross_entropy(x, t, reduction="none", label_smoothing=0.1), strategy(probability_target_inputs)),
]

OP_SPECS = OP_SPECS + MORE_FUNCTIONAL
