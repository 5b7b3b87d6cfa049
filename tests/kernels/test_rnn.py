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
from kernels.cuda import rnn as cuda_rnn
from kernels.cpu import rnn as cpu
from kernels.cpu import rnn_sequences as cpu_sequences
from kernels.reference import rnn as ref

from finite_differences import numerical_gradients

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
    numeric = numerical_gradients(lambda *arrays: (ref.rnn_tanh_cell_forward(*arrays) * c).sum(), inputs)
    for want, got in zip(analytic, numeric):
        np.testing.assert_allclose(want, got, rtol=1e-6, atol=1e-8)


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
GATE_BLOCKS = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


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


# ----- whole RNN, LSTM and GRU sequences -----------------------------------------------------------------------------
SEQUENCE_CELLS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]


def _sequence_case(cell, steps, n, i, h, bias, seed, scale=0.5):
    """float64 arrays for one sequence kernel call and a random cotangent for its backward."""
    rng = np.random.default_rng(seed)
    rows = GATE_BLOCKS[cell] * h
    case = dict(x=rng.standard_normal((steps, n, i)), h0=rng.standard_normal((n, h)),
                w_ih=rng.standard_normal((rows, i)) * scale, w_hh=rng.standard_normal((rows, h)) * scale,
                b_ih=rng.standard_normal(rows) if bias else None, b_hh=rng.standard_normal(rows) if bias else None)
    if cell == "lstm":
        case["c0"] = rng.standard_normal((n, h))
        case["grad"] = rng.standard_normal((2, steps, n, h))  # at [hs ; cs]
    else:
        case["grad"] = rng.standard_normal((steps, n, h))  # at hs
    return case


def _run_sequence(module, cell, case, dtype, reverse, host=np.asarray):
    """Forward then backward of the sequence kernel of `module`, the backward fed the reference's float64 forward
    results (cast), so that a forward error does not hide in the backward comparison."""
    cast = {k: None if v is None else v.astype(dtype) for k, v in case.items()}
    if cell == "lstm":
        args = (cast["x"], cast["h0"], cast["c0"], cast["w_ih"], cast["w_hh"])
        forward = module.lstm_sequence_forward(*args, cast["b_ih"], cast["b_hh"], reverse)
        states, gates = ref.lstm_sequence_forward(case["x"], case["h0"], case["c0"], case["w_ih"], case["w_hh"],
                                                  case["b_ih"], case["b_hh"], reverse)
        backward = module.lstm_sequence_backward(*args, states.astype(dtype), gates.astype(dtype), cast["grad"],
                                                 reverse)
    elif cell.startswith("rnn_"):
        nonlinearity = cell[len("rnn_"):]
        args = (cast["x"], cast["h0"], cast["w_ih"], cast["w_hh"])
        forward = (module.rnn_sequence_forward(*args, cast["b_ih"], cast["b_hh"], reverse, nonlinearity),)
        hs = ref.rnn_sequence_forward(case["x"], case["h0"], case["w_ih"], case["w_hh"], case["b_ih"], case["b_hh"],
                                      reverse, nonlinearity)
        backward = module.rnn_sequence_backward(*args, hs.astype(dtype), cast["grad"], reverse, True, nonlinearity)
    else:
        args = (cast["x"], cast["h0"], cast["w_ih"], cast["w_hh"])
        forward = module.gru_sequence_forward(*args, cast["b_ih"], cast["b_hh"], reverse)
        hs, gates = ref.gru_sequence_forward(case["x"], case["h0"], case["w_ih"], case["w_hh"], case["b_ih"],
                                             case["b_hh"], reverse)
        backward = module.gru_sequence_backward(*args, hs.astype(dtype), gates.astype(dtype), cast["grad"], reverse)
    return [host(a) for a in forward], [host(a) for a in backward]


def _assert_sequence_matches_reference(module, cell, case, dtype, reverse, host=np.asarray):
    want_forward, want_backward = _run_sequence(ref, cell, case, np.float64, reverse)
    got_forward, got_backward = _run_sequence(module, cell, case, dtype, reverse, host)
    for got, want in zip(got_forward + got_backward, want_forward + want_backward):
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, **_gated_tol(dtype))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("reverse", [False, True])
def test_reference_sequences_equal_the_reference_cells_applied_step_by_step(cell, reverse):
    """The sequence kernels' oracle: the one-step kernels composed over time, the weight gradients summed step by
    step, the gradient at the state carried back by hand."""
    case = _sequence_case(cell, 5, 3, 4, 6, True, 10)
    x, h0, w_ih, w_hh, b_ih, b_hh, grad = (case[k] for k in ("x", "h0", "w_ih", "w_hh", "b_ih", "b_hh", "grad"))
    order = list(range(len(x)))[::-1] if reverse else list(range(len(x)))
    state, saved, hs = (h0, case.get("c0")), {}, np.zeros((len(x),) + h0.shape)
    cs = np.zeros_like(hs)
    for t in order:
        if cell == "lstm":
            h_new, c_new, gates = ref.lstm_cell_forward(x[t], *state, w_ih, w_hh, b_ih, b_hh)
        else:
            (h_new, gates), c_new = ref.gru_cell_forward(x[t], state[0], w_ih, w_hh, b_ih, b_hh), None
        saved[t] = (state, c_new, gates)
        state, hs[t], cs[t] = (h_new, c_new), h_new, c_new if cell == "lstm" else 0
    carried = [np.zeros_like(h0), np.zeros_like(h0)]
    grad_x, sums = np.zeros_like(x), None
    for t in reversed(order):
        (h_prev, c_prev), c_new, gates = saved[t]
        if cell == "lstm":
            step = ref.lstm_cell_backward(x[t], h_prev, c_prev, w_ih, w_hh, c_new, gates, carried[0] + grad[0, t],
                                          carried[1] + grad[1, t])
            grad_x[t], carried, weights = step[0], [step[1], step[2]], step[3:]
        else:
            step = ref.gru_cell_backward(x[t], h_prev, w_ih, w_hh, gates, carried[0] + grad[t])
            grad_x[t], carried[0], weights = step[0], step[1], step[2:]
        sums = list(weights) if sums is None else [s + w for s, w in zip(sums, weights)]
    if cell == "lstm":
        want = [np.stack([hs, cs])], [grad_x, *carried, *sums]
    else:
        want = [hs], [grad_x, carried[0], *sums]
    got_forward, got_backward = _run_sequence(ref, cell, case, np.float64, reverse)
    for got, expected in zip(got_forward[:1] + got_backward, want[0] + want[1]):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@given(cell=st.sampled_from(SEQUENCE_CELLS), steps=st.sampled_from([1, 2, 5]), n=DIMS, i=DIMS, h=DIMS,
       bias=st.booleans(), reverse=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 99))
def test_sequence_kernels_cpu_match_reference_on_odd_shapes(cell, steps, n, i, h, bias, reverse, dtype, seed):
    _assert_sequence_matches_reference(cpu, cell, _sequence_case(cell, steps, n, i, h, bias, seed), dtype, reverse)


@pytest.mark.parametrize("cell", SEQUENCE_CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sequence_kernels_cpu_match_reference_across_register_tiles(cell, dtype):
    """N = 70 (ragged 8-row tiles), H = 37 (gate and hidden columns padded to 32-column panels), I = 5 (I + H = 42
    rows of the LSTM's [x | h] product, ragged too), and T·N = 210 rows in the whole-sequence products."""
    _assert_sequence_matches_reference(cpu, cell, _sequence_case(cell, 3, 70, 5, 37, True, 5, scale=0.3), dtype,
                                       reverse=True)


@pytest.mark.parametrize("cell", SEQUENCE_CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sequence_kernels_cpu_run_a_large_batch_as_parts_on_the_threads(cell, dtype):
    """N = 128 runs as eight parts of 16 rows shared among the threads (the parallel drivers, whose prange bodies
    ask for 512-bit vectors too: both precisions)."""
    assert cpu_sequences._batch_parts(128) == (8, 16)
    _assert_sequence_matches_reference(cpu, cell, _sequence_case(cell, 2, 128, 8, 64, True, 11, scale=0.2),
                                       dtype, reverse=False)


@pytest.mark.parametrize("n_batch, parts", [(15, [15]), (16, [16]), (32, [16, 16]), (70, [24, 24, 22]),
                                             (300, [40] * 7 + [20])])
def test_sequence_batch_parts_cover_every_row_once_and_depend_on_the_batch_alone(n_batch, parts):
    """The sequence kernels run each part of the batch through the whole sequence on one thread: parts of whole 8-row
    tiles, at least PART_MIN_ROWS rows, at most MAX_PARTS of them, and none empty."""
    count, part_rows = cpu_sequences._batch_parts(n_batch)
    sizes = [min(part_rows, n_batch - p * part_rows) for p in range(count)]
    assert sizes == parts and sum(sizes) == n_batch


@pytest.mark.parametrize("cell", SEQUENCE_CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sequence_kernels_give_the_same_bits_on_one_thread_or_two(cell, dtype):
    """N = 70 runs as three parts; one thread or two, forward and backward give the same bits (the weight
    gradients are summed part by part in a fixed order), and they match the reference."""
    import numba

    case = _sequence_case(cell, 3, 70, 5, 37, True, 17, scale=0.3)
    before = numba.get_num_threads()
    try:
        runs = []
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            forward, backward = _run_sequence(cpu, cell, case, dtype, reverse=True)
            runs.append(forward + backward)
    finally:
        numba.set_num_threads(before)
    for one, two in zip(*runs):
        np.testing.assert_array_equal(one, two)
    _assert_sequence_matches_reference(cpu, cell, case, dtype, reverse=True)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_sequence_backward_sums_weight_gradients_over_several_chunks_of_steps(reverse, dtype):
    """T = 5 steps of N = 100 rows: the LSTM backward adds its weight gradients (and grad_x, the bias) up a chunk
    of CHUNK_ROWS // N = 2 steps at a time, so the chunks are [0 1], [2 3] and a ragged [4], visited newest or
    oldest first by direction."""
    steps, n_batch = 5, 100
    assert cpu_sequences.CHUNK_ROWS // n_batch == 2 and steps % 2 == 1
    _assert_sequence_matches_reference(cpu, "lstm", _sequence_case("lstm", steps, n_batch, 3, 9, True, 13), dtype,
                                       reverse)


@pytest.mark.parametrize("cell", SEQUENCE_CELLS)
def test_sequence_kernels_saturate_without_nan_at_huge_preactivations(cell):
    case = _sequence_case(cell, 3, 4, 3, 6, True, 7, scale=3e3)
    for module in (ref, cpu):
        forward, backward = _run_sequence(module, cell, case, np.float64, reverse=False)
        assert all(np.all(np.isfinite(a)) for a in forward + backward)
    _assert_sequence_matches_reference(cpu, cell, case, np.float64, reverse=False)


def test_cpu_sequence_activations_are_float32_accurate_from_saturation_to_the_series_switch():
    """float32 data runs float32 σ and tanh: one LSTM step with H = 1, every gate's pre-activation = x (weights 1,
    no recurrence), so the kernel's gates are [σ(x), σ(x), tanh(x), σ(x)]; checked against float64 to a few ulp,
    with ±inf and NaN as PyTorch (σ(±inf) = 1, 0; tanh(±inf) = ±1; NaN stays NaN)."""
    z = np.concatenate([np.linspace(-100, 100, 4001), np.linspace(-0.1, 0.1, 2001),
                        [0.0625, -0.0625, 1e-30, 87.0, -87.0, 88.0, -88.0, 1e4, -1e4, np.inf, -np.inf, np.nan]])
    x = z.astype(np.float32).reshape(1, -1, 1)  # (T=1, N, I=1)
    zeros = np.zeros((len(z), 1), np.float32)
    _, gates = cpu.lstm_sequence_forward(x, zeros, zeros, np.ones((4, 1), np.float32), np.zeros((4, 1), np.float32))
    exact = x[0, :, 0].astype(np.float64)
    with np.errstate(over="ignore"):
        sigmoid = 1.0 / (1.0 + np.exp(-exact))
    for column, want in ((0, sigmoid), (1, sigmoid), (2, np.tanh(exact)), (3, sigmoid)):
        got = gates[0, :, column]
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-37)


@pytest.mark.parametrize("cell", SEQUENCE_CELLS)
@pytest.mark.parametrize("steps, n, i", [(0, 2, 3), (3, 0, 3), (3, 2, 0)])
def test_sequence_kernels_accept_empty_sequences_batches_and_inputs(cell, steps, n, i):
    case = _sequence_case(cell, steps, n, i, 3, True, 8)
    want_forward, want_backward = _run_sequence(ref, cell, case, np.float64, reverse=False)
    for module in (ref, cpu):
        forward, backward = _run_sequence(module, cell, case, np.float64, reverse=False)
        for got, want in zip(forward + backward, want_forward + want_backward):
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, atol=1e-12)
    grad_h0 = want_backward[1]
    if steps == 0:  # nothing ran: no gradient reaches the initial state
        assert not grad_h0.any()


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
@pytest.mark.parametrize("cell", SEQUENCE_CELLS)
def test_sequence_backward_skips_grad_x_when_the_input_needs_none(module, cell):
    case = _sequence_case(cell, 3, 2, 4, 5, True, 12)
    _, want = _run_sequence(ref, cell, case, np.float64, reverse=True)
    if cell == "lstm":
        states, gates = ref.lstm_sequence_forward(*(case[k] for k in ("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh")),
                                                  True)
        got = module.lstm_sequence_backward(*(case[k] for k in ("x", "h0", "c0", "w_ih", "w_hh")), states, gates,
                                            case["grad"], True, need_grad_x=False)
    elif cell.startswith("rnn_"):
        nonlinearity = cell[len("rnn_"):]
        hs = ref.rnn_sequence_forward(*(case[k] for k in ("x", "h0", "w_ih", "w_hh", "b_ih", "b_hh")), True,
                                      nonlinearity)
        got = module.rnn_sequence_backward(*(case[k] for k in ("x", "h0", "w_ih", "w_hh")), hs, case["grad"], True,
                                           need_grad_x=False, nonlinearity=nonlinearity)
    else:
        hs, gates = ref.gru_sequence_forward(*(case[k] for k in ("x", "h0", "w_ih", "w_hh", "b_ih", "b_hh")), True)
        got = module.gru_sequence_backward(*(case[k] for k in ("x", "h0", "w_ih", "w_hh")), hs, gates, case["grad"],
                                           True, need_grad_x=False)
    assert got[0] is None
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_allclose(g, w, **_gated_tol(np.float64))


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_sequence_kernel_errors_name_the_kernel_and_the_argument(module):
    x, h, c = np.ones((5, 2, 3)), np.ones((2, 4)), np.ones((2, 4))
    w4, u4, w3, u3 = np.ones((16, 3)), np.ones((16, 4)), np.ones((12, 3)), np.ones((12, 4))
    with pytest.raises(ValueError, match=r"lstm_sequence_forward: x \(2, 3\) must be 3-D \(T, N, I\)"):
        module.lstm_sequence_forward(np.ones((2, 3)), h, c, w4, u4)
    with pytest.raises(ValueError, match=r"lstm_sequence_forward: w_ih \(12, 3\) must be \(16, 3\)"):
        module.lstm_sequence_forward(x, h, c, w3, u4)
    with pytest.raises(TypeError, match="lstm_sequence_forward: c0 must be a numpy.ndarray"):
        module.lstm_sequence_forward(x, h, None, w4, u4)
    with pytest.raises(ValueError, match=r"lstm_sequence_backward: states \(2, 4, 2, 4\) must be \(2, 5, 2, 4\)"):
        module.lstm_sequence_backward(x, h, c, w4, u4, np.ones((2, 4, 2, 4)), np.ones((5, 2, 16)),
                                      np.ones((2, 5, 2, 4)))
    with pytest.raises(ValueError, match=r"gru_sequence_forward: h \(3, 4\) must be \(2, 4\)"):
        module.gru_sequence_forward(x, np.ones((3, 4)), w3, u3)
    with pytest.raises(TypeError, match="gru_sequence_forward: w_hh is float32"):
        module.gru_sequence_forward(x, h, w3, u3.astype(np.float32))
    with pytest.raises(ValueError, match=r"gru_sequence_backward: grad_hs \(5, 2, 5\) must be \(5, 2, 4\)"):
        module.gru_sequence_backward(x, h, w3, u3, np.ones((5, 2, 4)), np.ones((5, 2, 16)), np.ones((5, 2, 5)))


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_rnn_sequence_kernel_errors_name_the_kernel_and_the_argument(module):
    x, h, w, u = np.ones((5, 2, 3)), np.ones((2, 4)), np.ones((4, 3)), np.ones((4, 4))
    with pytest.raises(ValueError, match=r"rnn_sequence_forward: w_ih \(3, 3\) must be \(4, 3\)"):
        module.rnn_sequence_forward(x, h, np.ones((3, 3)), u)
    with pytest.raises(ValueError, match=r"rnn_sequence_forward: b_hh \(5,\) must be \(4,\)"):
        module.rnn_sequence_forward(x, h, w, u, None, np.ones(5))
    with pytest.raises(ValueError, match="rnn_sequence_forward: nonlinearity must be 'tanh' or 'relu', got 'gelu'"):
        module.rnn_sequence_forward(x, h, w, u, nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"rnn_sequence_backward: grad_hs \(5, 2, 5\) must be \(5, 2, 4\)"):
        module.rnn_sequence_backward(x, h, w, u, np.ones((5, 2, 4)), np.ones((5, 2, 5)))


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("reverse", [False, True])
def test_reference_rnn_sequence_gradients_match_finite_differences_with_random_cotangent(nonlinearity, reverse):
    """The oracle of the cpu and cuda RNN sequence kernels, float64: every input against central differences."""
    case = _sequence_case("rnn_" + nonlinearity, 4, 3, 2, 5, True, 21)
    inputs = [case[k] for k in ("x", "h0", "w_ih", "w_hh", "b_ih", "b_hh")]
    cotangent = case["grad"]
    hs = ref.rnn_sequence_forward(*inputs, reverse, nonlinearity)
    grad_x, grad_h0, grad_w_ih, grad_w_hh, grad_bias = ref.rnn_sequence_backward(*inputs[:4], hs, cotangent,
                                                                                 reverse, True, nonlinearity)
    numeric = numerical_gradients(
        lambda *arrays: (ref.rnn_sequence_forward(*arrays, reverse, nonlinearity) * cotangent).sum(), inputs)
    for want, got in zip(numeric, (grad_x, grad_h0, grad_w_ih, grad_w_hh, grad_bias, grad_bias)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_relu_rnn_sequence_passes_nan_as_torch_relu(module):
    """relu is written `z <= 0 ? 0 : z` forward and `h <= 0 ? 0 : g` backward, so a NaN pre-activation stays NaN
    and the gradient passes through it (torch.relu and its backward do the same); negatives give +0."""
    x = np.array([[[np.nan], [-2.0], [3.0]]])  # (T=1, N=3, I=1)
    h0, w_ih, w_hh = np.zeros((3, 1)), np.ones((1, 1)), np.zeros((1, 1))
    hs = module.rnn_sequence_forward(x, h0, w_ih, w_hh, nonlinearity="relu")
    assert np.isnan(hs[0, 0, 0]) and hs[0, 1, 0] == 0 and not np.signbit(hs[0, 1, 0]) and hs[0, 2, 0] == 3
    grad_x = module.rnn_sequence_backward(x, h0, w_ih, w_hh, hs, np.full((1, 3, 1), 5.0), nonlinearity="relu")[0]
    np.testing.assert_array_equal(grad_x[0, :, 0], [5.0, 0.0, 5.0])


@pytest.mark.skipif(not cuda_kernels.is_available(),
                    reason="no CUDA GPU and no simulator (set NUMBA_ENABLE_CUDASIM=1 before numba loads)")
@pytest.mark.parametrize("cell", SEQUENCE_CELLS)
@pytest.mark.parametrize("dtype, shape, bias, reverse", [(np.float64, (3, 2, 3, 2), True, False),
                                                          (np.float32, (2, 3, 1, 2), False, True)])
def test_sequence_kernels_cuda_match_reference(cell, dtype, shape, bias, reverse):
    """Tiny shapes (T, N, I, H): the simulator runs every GPU thread as a Python thread."""
    _assert_sequence_matches_reference(cuda_rnn, cell, _sequence_case(cell, *shape, bias, 9), dtype, reverse,
                                       host=cuda_kernels.to_host)
