"""RNN tanh cell: cpu vs reference on odd shapes, finite differences, errors.

Tolerances: float64 rtol 1e-11 (the cpu tanh is a polynomial / exp form, ≈1e-15); float32 vs the float64
reference atol 2e-5.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from kernels.cpu import rnn as cpu
from kernels.reference import rnn as ref

DIMS = st.sampled_from([1, 2, 3, 7, 13])


def _tol(dtype):
    return dict(rtol=1e-11, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=2e-5)


@given(n=DIMS, i=DIMS, h=DIMS, bias=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 99))
def test_rnn_cell_cpu_matches_reference_on_odd_shapes(n, i, h, bias, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((i, n)).astype(dtype).T  # non-contiguous (n, i)
    hidden = rng.standard_normal((n, h)).astype(dtype)
    w_ih = (rng.standard_normal((h, i)) * 0.5).astype(dtype)
    w_hh = (rng.standard_normal((h, 2 * h)) * 0.5).astype(dtype)[:, ::2]
    b_ih = rng.standard_normal(h).astype(dtype) if bias else None
    b_hh = rng.standard_normal(h).astype(dtype) if bias else None
    as64 = lambda a: None if a is None else a.astype(np.float64)  # noqa: E731
    h_ref = ref.rnn_tanh_cell_forward(*map(as64, (x, hidden, w_ih, w_hh, b_ih, b_hh)))
    h_new = cpu.rnn_tanh_cell_forward(x, hidden, w_ih, w_hh, b_ih, b_hh)
    np.testing.assert_allclose(h_new, h_ref, **_tol(dtype))
    g = rng.standard_normal((n, h)).astype(dtype)
    grads = cpu.rnn_tanh_cell_backward(x, hidden, w_ih, w_hh, h_ref.astype(dtype), g)
    grads_ref = ref.rnn_tanh_cell_backward(*map(as64, (x, hidden, w_ih, w_hh)), h_ref, as64(g))
    for got, want in zip(grads, grads_ref):
        np.testing.assert_allclose(got, want, **_tol(dtype))
        assert got.dtype == dtype


def test_cpu_tanh_is_accurate_across_the_series_switch_and_saturation():
    z = np.concatenate([np.linspace(-0.1, 0.1, 2001), [-1e-300, 0.0, 1e-8, 0.0625, -20.0, 20.0, 800.0, -800.0]])
    x = z.reshape(-1, 1)
    identity = np.ones((1, 1))
    got = cpu.rnn_tanh_cell_forward(x, np.zeros((len(z), 1)), identity, np.zeros((1, 1)))
    np.testing.assert_allclose(got[:, 0], np.tanh(z), rtol=2e-15, atol=1e-300)


def test_reference_rnn_cell_gradients_match_finite_differences_with_random_cotangent():
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(s) * 0.7 for s in ((3, 2), (3, 4), (4, 2), (4, 4), (4,), (4,))]
    c = rng.standard_normal((3, 4))
    h_new = ref.rnn_tanh_cell_forward(*inputs)
    grad_x, grad_h, grad_w_ih, grad_w_hh, grad_bias = ref.rnn_tanh_cell_backward(*inputs[:4], h_new, c)
    analytic = [grad_x, grad_h, grad_w_ih, grad_w_hh, grad_bias, grad_bias]
    for which, want in enumerate(analytic):
        numeric = np.zeros_like(inputs[which])
        for index in np.ndindex(numeric.shape):
            values = []
            for step in (1e-6, -1e-6):
                shifted = [a.copy() for a in inputs]
                shifted[which][index] += step
                values.append((ref.rnn_tanh_cell_forward(*shifted) * c).sum())
            numeric[index] = (values[0] - values[1]) / 2e-6
        np.testing.assert_allclose(want, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_rnn_cell_errors_name_the_kernel(module):
    x, h, w_ih, w_hh = np.ones((2, 3)), np.ones((2, 4)), np.ones((4, 3)), np.ones((4, 4))
    with pytest.raises(ValueError, match="rnn_tanh_cell_forward.*w_ih"):
        module.rnn_tanh_cell_forward(x, h, np.ones((3, 4)), w_hh)
    with pytest.raises(ValueError, match="rnn_tanh_cell_forward.*b_ih"):
        module.rnn_tanh_cell_forward(x, h, w_ih, w_hh, np.ones(3), None)
    with pytest.raises(TypeError, match="rnn_tanh_cell_forward"):
        module.rnn_tanh_cell_forward(x.astype(np.float32), h, w_ih, w_hh)
    with pytest.raises(ValueError, match="rnn_tanh_cell_backward.*grad_h_new"):
        module.rnn_tanh_cell_backward(x, h, w_ih, w_hh, h, np.ones((2, 5)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rnn_cell_cpu_matches_reference_across_register_tiles(dtype):
    """N = 70 (ragged 4-row tiles), H = 37 and I + H = 42 (two 32-column panels, the second padded)."""
    rng = np.random.default_rng(5)
    n, i, h = 70, 5, 37
    x, hidden = rng.standard_normal((n, i)), rng.standard_normal((n, h))
    w_ih, w_hh = rng.standard_normal((h, i)) * 0.3, rng.standard_normal((h, h)) * 0.3
    b_ih, b_hh, g = rng.standard_normal(h), rng.standard_normal(h), rng.standard_normal((n, h))
    h_ref = ref.rnn_tanh_cell_forward(x, hidden, w_ih, w_hh, b_ih, b_hh)
    cast = [a.astype(dtype) for a in (x, hidden, w_ih, w_hh, b_ih, b_hh)]
    np.testing.assert_allclose(cpu.rnn_tanh_cell_forward(*cast), h_ref, **_tol(dtype))
    grads = cpu.rnn_tanh_cell_backward(*cast[:4], h_ref.astype(dtype), g.astype(dtype))
    for got, want in zip(grads, ref.rnn_tanh_cell_backward(x, hidden, w_ih, w_hh, h_ref, g)):
        np.testing.assert_allclose(got, want, **(_tol(dtype) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)))
