"""The recurrent cells' kernels (tanh RNN, LSTM, GRU): cpu and cuda against the reference on odd shapes, finite
differences, saturation, errors. (The ops built on them are gradchecked, and the layers compared with PyTorch, in
tests/test_recurrent_layers.py.)

Tolerances: float64 rtol 1e-11 (the cpu tanh and σ are polynomial / exp forms, ≈1e-15); float32 vs the float64
reference atol 2e-5 for one tanh step, 1e-4 for the gated cells (a dozen roundings per gate, and sums of I + H
products). The CUDA kernels run under the simulator where there is no GPU: tiny shapes only.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import kernels.cuda as cuda_kernels
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


# ----- LSTM and GRU cells ---------------------------------------------------------------------------------------
GATE_BLOCKS = {"lstm": 4, "gru": 3}


def _gated_tol(dtype):
    return dict(rtol=1e-11, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)


def _gated_case(cell, n, i, h, bias, seed, scale=0.5):
    """float64 (x, h, c, w_ih, w_hh, b_ih, b_hh, cotangents...) for one cell; c is None for the GRU."""
    rng = np.random.default_rng(seed)
    rows = GATE_BLOCKS[cell] * h
    return dict(x=rng.standard_normal((n, i)), h=rng.standard_normal((n, h)),
                c=rng.standard_normal((n, h)) if cell == "lstm" else None,
                w_ih=rng.standard_normal((rows, i)) * scale, w_hh=rng.standard_normal((rows, h)) * scale,
                b_ih=rng.standard_normal(rows) if bias else None, b_hh=rng.standard_normal(rows) if bias else None,
                grad_h=rng.standard_normal((n, h)), grad_c=rng.standard_normal((n, h)))


def _run_cell(module, cell, case, dtype, host=np.asarray):
    """Forward then backward of `cell` in `module` on `case` cast to dtype; the backward gets the reference's
    float64 forward results (cast), so that a forward error does not hide in the backward comparison.
    -> (forward outputs, backward outputs) as host arrays."""
    cast = {k: None if v is None else v.astype(dtype) for k, v in case.items()}
    if cell == "lstm":
        forward = module.lstm_cell_forward(cast["x"], cast["h"], cast["c"], cast["w_ih"], cast["w_hh"], cast["b_ih"],
                                           cast["b_hh"])
        _, c_new, gates = ref.lstm_cell_forward(case["x"], case["h"], case["c"], case["w_ih"], case["w_hh"],
                                                case["b_ih"], case["b_hh"])
        backward = module.lstm_cell_backward(cast["x"], cast["h"], cast["c"], cast["w_ih"], cast["w_hh"],
                                             c_new.astype(dtype), gates.astype(dtype), cast["grad_h"], cast["grad_c"])
    else:
        forward = module.gru_cell_forward(cast["x"], cast["h"], cast["w_ih"], cast["w_hh"], cast["b_ih"], cast["b_hh"])
        _, gates = ref.gru_cell_forward(case["x"], case["h"], case["w_ih"], case["w_hh"], case["b_ih"], case["b_hh"])
        backward = module.gru_cell_backward(cast["x"], cast["h"], cast["w_ih"], cast["w_hh"], gates.astype(dtype),
                                            cast["grad_h"])
    return [host(a) for a in forward], [host(a) for a in backward]


def _assert_matches_reference(module, cell, case, dtype, host=np.asarray):
    want_forward, want_backward = _run_cell(ref, cell, case, np.float64)
    got_forward, got_backward = _run_cell(module, cell, case, dtype, host)
    for got, want in zip(got_forward + got_backward, want_forward + want_backward):
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, **_gated_tol(dtype))


@given(cell=st.sampled_from(["lstm", "gru"]), n=DIMS, i=DIMS, h=DIMS, bias=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 99))
def test_gated_cells_cpu_match_reference_on_odd_shapes(cell, n, i, h, bias, dtype, seed):
    _assert_matches_reference(cpu, cell, _gated_case(cell, n, i, h, bias, seed), dtype)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gated_cells_cpu_match_reference_across_register_tiles(cell, dtype):
    """N = 70 (ragged 4-row tiles), 4H = 148 and I + H = 42 (padded 32-column panels)."""
    _assert_matches_reference(cpu, cell, _gated_case(cell, 70, 5, 37, True, 5, scale=0.3), dtype)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_cells_cpu_accept_strided_views(cell):
    case = _gated_case(cell, 3, 4, 5, True, 6)
    want = _run_cell(ref, cell, case, np.float64)
    strided = {k: None if v is None else np.asfortranarray(v) for k, v in case.items()}
    got = _run_cell(cpu, cell, strided, np.float64)
    for g, w in zip(got[0] + got[1], want[0] + want[1]):
        np.testing.assert_allclose(g, w, **_gated_tol(np.float64))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_cells_saturate_without_nan_at_huge_preactivations(cell):
    """Pre-activations of ±1e4 (σ and tanh at ±1 or 0): cpu equals the reference, all finite."""
    case = _gated_case(cell, 4, 3, 6, True, 7, scale=3e3)
    for module in (ref, cpu):
        forward, backward = _run_cell(module, cell, case, np.float64)
        assert all(np.all(np.isfinite(a)) for a in forward + backward)
    _assert_matches_reference(cpu, cell, case, np.float64)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("n, i", [(0, 3), (2, 0)])
def test_gated_cells_accept_empty_batches_and_inputs(cell, n, i):
    case = _gated_case(cell, n, i, 3, True, 8)
    for module in (ref, cpu):
        forward, backward = _run_cell(module, cell, case, np.float64)
        want_forward, want_backward = _run_cell(ref, cell, case, np.float64)
        for got, want in zip(forward + backward, want_forward + want_backward):
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_gated_cell_errors_name_the_kernel_and_the_argument(module):
    x, h, c = np.ones((2, 3)), np.ones((2, 4)), np.ones((2, 4))
    w4, u4, w3, u3 = np.ones((16, 3)), np.ones((16, 4)), np.ones((12, 3)), np.ones((12, 4))
    with pytest.raises(ValueError, match=r"lstm_cell_forward: w_ih \(12, 3\) must be \(16, 3\)"):
        module.lstm_cell_forward(x, h, c, w3, u4)
    with pytest.raises(ValueError, match=r"lstm_cell_forward: c \(2, 3\) must be \(2, 4\)"):
        module.lstm_cell_forward(x, h, np.ones((2, 3)), w4, u4)
    with pytest.raises(TypeError, match="lstm_cell_forward: c must be a numpy.ndarray"):
        module.lstm_cell_forward(x, h, None, w4, u4)
    with pytest.raises(ValueError, match=r"gru_cell_forward: b_hh \(16,\) must be \(12,\)"):
        module.gru_cell_forward(x, h, w3, u3, None, np.ones(16))
    with pytest.raises(TypeError, match="gru_cell_forward: w_hh is float32"):
        module.gru_cell_forward(x, h, w3, u3.astype(np.float32))
    with pytest.raises(ValueError, match=r"lstm_cell_backward: gates \(2, 12\) must be \(2, 16\)"):
        module.lstm_cell_backward(x, h, c, w4, u4, c, np.ones((2, 12)), h, h)
    with pytest.raises(ValueError, match=r"gru_cell_backward: grad_h_new \(2, 5\) must be \(2, 4\)"):
        module.gru_cell_backward(x, h, w3, u3, np.ones((2, 16)), np.ones((2, 5)))


@pytest.mark.skipif(not cuda_kernels.is_available(),
                    reason="no CUDA GPU and no simulator (set NUMBA_ENABLE_CUDASIM=1 before numba loads)")
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("dtype, shape, bias", [(np.float64, (2, 3, 2), True), (np.float32, (3, 1, 2), False)])
def test_gated_cells_cuda_match_reference(cell, dtype, shape, bias):
    """Tiny shapes: the simulator runs every GPU thread as a Python thread."""
    _assert_matches_reference(cuda_kernels, cell, _gated_case(cell, *shape, bias, 9), dtype, host=cuda_kernels.to_host)
