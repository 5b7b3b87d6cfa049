"""Hypothesis strategies for testing ops, public so users can test their own ops the way the engine does.

    from hypothesis import given
    from tinygrad_edu.testing import shapes, arrays
    import tinygrad_edu as tg

    @given(arrays(shapes()))
    def test_tanh_gradient(x):
        assert tg.gradcheck(lambda t: t.tanh(), tg.Tensor(x))

Needs the `hypothesis` package (the `dev` extra).
"""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Array shapes, including scalars (0-d) and size-1 dims."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(min_dims=0, max_dims=3, max_side=4):
    """A pair of shapes that broadcast together, e.g. ((3, 1), (2, 1, 4))."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=min_dims, max_dims=max_dims, max_side=max_side
    ).map(lambda result: result.input_shapes)


@st.composite
def matmul_shapes(draw, max_batch_dims=2, max_side=5):
    """A pair of shapes that `matmul` accepts: 1-D, 2-D, or batched with broadcast batch dims."""
    m, k, n = (draw(st.integers(1, max_side)) for _ in range(3))
    kind = draw(st.sampled_from(["vec-vec", "mat-vec", "vec-mat", "mat-mat", "batched"]))
    if kind == "vec-vec":
        return (k,), (k,)
    if kind == "mat-vec":
        return (m, k), (k,)
    if kind == "vec-mat":
        return (k,), (k, n)
    if kind == "mat-mat":
        return (m, k), (k, n)
    batch_a, batch_b = draw(broadcastable_shapes(min_dims=0, max_dims=max_batch_dims, max_side=3))
    return batch_a + (m, k), batch_b + (k, n)


@st.composite
def arrays(draw, shape, dtype=np.float64, min_value=-2.0, max_value=2.0, kinks=(), kink_margin=1e-2,
           distinct=False):
    """Well-conditioned float arrays for finite differences.

    `kinks` lists points where the op is not differentiable (0 for relu and abs); values closer than
    `kink_margin` are pushed away, so a central difference never straddles one. `distinct=True` spaces all
    values at least `kink_margin` apart, for max/min/sort whose gradient jumps where two elements tie.
    """
    if not isinstance(shape, tuple):
        shape = draw(shape)
    size = int(np.prod(shape))
    if distinct:
        span = max_value - min_value
        order = draw(st.permutations(range(size))) if size else []
        spacing = span / max(size, 1)
        jitter = draw(st.floats(0, spacing * 0.5)) if size else 0.0
        values = min_value + np.asarray(order, dtype=np.float64) * spacing + jitter
    else:
        elements = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False, width=64)
        values = np.asarray(draw(st.lists(elements, min_size=size, max_size=size)), dtype=np.float64)
    for kink in kinks:
        near = np.abs(values - kink) < kink_margin
        values[near] = kink + np.where(values[near] >= kink, kink_margin, -kink_margin)
    return values.reshape(shape).astype(dtype)


def positive_arrays(shape, dtype=np.float64, min_value=0.1, max_value=3.0):
    """Arrays bounded away from zero, for log, sqrt and division."""
    return arrays(shape, dtype=dtype, min_value=min_value, max_value=max_value)
