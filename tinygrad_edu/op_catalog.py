"""Every differentiable op with a small, well-conditioned example: what `tinygrad-edu gradcheck` checks.

Each entry is (function of tensors, shapes of its float inputs, how to draw them). Inputs are drawn from a fixed
seed, away from kinks (relu/abs at 0, clip bounds) and from ties (max/min, max-pool), so finite differences
are meaningful.
"""
import numpy as np

import tinygrad_edu as tg
from tinygrad_edu.gradcheck import gradient_reports
from tinygrad_edu.nn import functional as F

TARGETS = np.array([0, 2, 1])


def _distinct(shape, rng):
    return (rng.permutation(int(np.prod(shape))).reshape(shape) - np.prod(shape) / 2) * 0.1 + 0.05


def _away_from_zero(shape, rng):
    values = rng.uniform(0.2, 1.5, shape)
    return values * rng.choice([-1.0, 1.0], shape)


def _positive(shape, rng):
    return rng.uniform(0.3, 2.0, shape)


def _normal(shape, rng):
    return rng.standard_normal(shape)


# name: (fn, [(shape, drawer), ...])
OPS = {
    "add (broadcast)": (lambda a, b: a + b, [((3, 4), _normal), ((4,), _normal)]),
    "sub (broadcast)": (lambda a, b: a - b, [((3, 1), _normal), ((1, 4), _normal)]),
    "mul (broadcast)": (lambda a, b: a * b, [((2, 3), _normal), ((3,), _normal)]),
    "div": (lambda a, b: a / b, [((2, 3), _normal), ((2, 3), _positive)]),
    "pow (scalar)": (lambda a: a ** 3, [((5,), _normal)]),
    "pow (tensor)": (lambda a, b: a ** b, [((4,), _positive), ((4,), _normal)]),
    "neg": (lambda a: -a, [((4,), _normal)]),
    "exp": (lambda a: a.exp(), [((4,), _normal)]),
    "log": (lambda a: a.log(), [((4,), _positive)]),
    "sqrt": (lambda a: a.sqrt(), [((4,), _positive)]),
    "abs": (lambda a: a.abs(), [((5,), _away_from_zero)]),
    "tanh": (lambda a: a.tanh(), [((5,), _normal)]),
    "sigmoid": (lambda a: a.sigmoid(), [((5,), _normal)]),
    "relu": (lambda a: a.relu(), [((5,), _away_from_zero)]),
    "leaky_relu": (lambda a: a.leaky_relu(0.1), [((5,), _away_from_zero)]),
    "gelu": (lambda a: a.gelu(), [((5,), _normal)]),
    "gelu (tanh)": (lambda a: a.gelu(approximate="tanh"), [((5,), _normal)]),
    "clip": (lambda a: a.clip(-0.7, 0.7), [((5,), lambda s, r: np.array([-1.2, -0.4, 0.1, 0.5, 1.3]))]),
    "maximum": (lambda a, b: tg.maximum(a, b), [((6,), _distinct), ((6,), lambda s, r: _distinct(s, r)[::-1] + 0.02)]),
    "minimum": (lambda a, b: tg.minimum(a, b), [((6,), _distinct), ((6,), lambda s, r: _distinct(s, r)[::-1] + 0.02)]),
    "where": (lambda a, b: tg.where(a.data > 0, a, b), [((5,), _away_from_zero), ((5,), _normal)]),
    "sum": (lambda a: a.sum(axis=1), [((3, 4), _normal)]),
    "mean": (lambda a: a.mean(axis=0, keepdims=True), [((3, 4), _normal)]),
    "max": (lambda a: a.max(dim=1).values, [((3, 4), _distinct)]),
    "min": (lambda a: a.min(), [((3, 4), _distinct)]),
    "var": (lambda a: a.var(axis=1), [((3, 4), _normal)]),
    "logsumexp": (lambda a: a.logsumexp(axis=-1), [((3, 4), _normal)]),
    "reshape": (lambda a: a.reshape(4, 3), [((3, 4), _normal)]),
    "permute / transpose": (lambda a: a.permute(2, 0, 1).transpose(0, 1), [((2, 3, 4), _normal)]),
    "expand": (lambda a: a.expand(3, 2, 4), [((2, 1), _normal)]),
    "squeeze / unsqueeze / flatten": (lambda a: a.unsqueeze(0).squeeze().flatten(), [((2, 3), _normal)]),
    "pad": (lambda a: a.pad(((1, 0), (2, 1))), [((2, 3), _normal)]),
    "concatenate": (lambda a, b: tg.concatenate([a, b], axis=1), [((2, 3), _normal), ((2, 2), _normal)]),
    "stack": (lambda a, b: tg.stack([a, b], axis=0), [((2, 3), _normal), ((2, 3), _normal)]),
    "getitem (slices)": (lambda a: a[1:, ::2], [((3, 4), _normal)]),
    "getitem (int array, repeats)": (lambda a: a[np.array([0, 2, 0])], [((3, 4), _normal)]),
    "getitem (bool mask)": (lambda a: a[a.data > 0], [((3, 4), _away_from_zero)]),
    "matmul (batched, broadcast)": (lambda a, b: a @ b, [((2, 3, 4), _normal), ((4, 5), _normal)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), [((2, 3, 4), _normal), ((5, 4), _normal), ((5,), _normal)]),
    "matmul (vector)": (lambda a, b: a @ b, [((4,), _normal), ((4, 3), _normal)]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), [((2, 2, 5, 5), _normal), ((3, 2, 3, 3), _normal), ((3,), _normal)]),
    "conv2d (groups, dilation)": (lambda x, w: F.conv2d(x, w, padding=2, dilation=2, groups=2), [((1, 4, 5, 5), _normal), ((2, 2, 3, 3), _normal)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [((2, 2, 4, 4), _distinct)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), [((2, 2, 5, 5), _normal)]),
    "softmax": (lambda a: F.softmax(a, axis=1), [((3, 4), _normal)]),
    "log_softmax": (lambda a: F.log_softmax(a, axis=-1), [((3, 4), _normal)]),
    "cross_entropy": (lambda a: F.cross_entropy(a, TARGETS, label_smoothing=0.1), [((3, 4), _normal)]),
    "nll_loss": (lambda a: F.nll_loss(a, TARGETS), [((3, 4), _normal)]),
    "mse_loss": (lambda a, b: F.mse_loss(a, b), [((3, 4), _normal), ((3, 4), _normal)]),
    "huber_loss": (lambda a, b: F.huber_loss(a, b), [((6,), _normal), ((6,), lambda s, r: _normal(s, r) * 3)]),
    "binary_cross_entropy_with_logits": (lambda a, b: F.binary_cross_entropy_with_logits(a, b), [((5,), _normal), ((5,), _positive)]),
    "scaled_dot_product_attention": (
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        [((2, 3, 4), _normal), ((2, 3, 4), _normal), ((2, 3, 5), _normal)],
    ),
    "rnn_tanh_cell": (F.rnn_tanh_cell, [((2, 3), _normal), ((2, 4), _normal), ((4, 3), _normal), ((4, 4), _normal), ((4,), _normal), ((4,), _normal)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, 4, w, b), [((3, 4), _normal), ((4,), _normal), ((4,), _normal)]),
    "batch_norm (train)": (
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [((4, 3), _normal), ((3,), _normal), ((3,), _normal)],
    ),
    "embedding": (lambda w: F.embedding(np.array([[0, 2], [2, 1]]), w), [((3, 4), _normal)]),
}


def check_all(seed=0):
    """Yield (name, worst abs error, worst rel error, passed) for every op in OPS, in float64."""
    for name, (fn, specs) in OPS.items():
        rng = np.random.default_rng(seed)
        inputs = [tg.Tensor(np.asarray(draw(shape, rng), dtype=np.float64), requires_grad=True) for shape, draw in specs]
        reports = gradient_reports(fn, *inputs)
        yield (name, max(r.max_abs_error for r in reports), max(r.max_rel_error for r in reports), all(r.passed for r in reports))
