"""CUDA layer norm, RNN cell and Adam/AdamW against the NumPy reference (GPU or NUMBA_ENABLE_CUDASIM=1).

Tolerances: float64 rtol/atol 1e-12; float32 1e-4 against the float64 reference (1e-6 relative for Adam, which
is compared float32 against float32). Features of 13 exercise the strided per-thread loop of the row kernels.
"""
import subprocess
import sys

import numpy as np
import pytest

import kernels.cuda as cuda_kernels
from kernels.reference import norm as ref_norm
from kernels.reference import optim as ref_optim
from kernels.reference import rnn as ref_rnn

pytestmark = pytest.mark.skipif(not cuda_kernels.is_available(),
                                reason="no CUDA GPU and no simulator (set NUMBA_ENABLE_CUDASIM=1 before numba loads)")

FLOATS = [np.float32, np.float64]


def _tol(dtype):
    return dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)


def _host(value):
    return None if value is None else cuda_kernels.to_host(value)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("rows, features, affine", [(1, 1, True), (3, 13, True), (2, 5, False)])
def test_layer_norm_forward_and_backward_match_reference(rows, features, affine, dtype):
    rng = np.random.default_rng(rows * 10 + features)
    x = (rng.standard_normal((features, rows)) * 3 + 2).T.astype(dtype)  # non-contiguous (R, D)
    weight = rng.standard_normal(features).astype(dtype) if affine else None
    bias = rng.standard_normal(features).astype(dtype) if affine else None
    to64 = (lambda a: None if a is None else a.astype(np.float64))
    want = ref_norm.layer_norm_forward(to64(x), to64(weight), to64(bias))
    got = cuda_kernels.layer_norm_forward(x, weight, bias)
    for value, expected in zip(got, want):
        np.testing.assert_allclose(_host(value), expected, **_tol(dtype))
    grad_y = rng.standard_normal(x.shape)
    want = ref_norm.layer_norm_backward(grad_y, to64(x), to64(weight), want[1], want[2])
    got = cuda_kernels.layer_norm_backward(grad_y.astype(dtype), x, weight, got[1], got[2])
    for name, value, expected in zip(("grad_x", "grad_weight", "grad_bias"), got, want):
        if expected is None:
            assert value is None
        else:
            np.testing.assert_allclose(_host(value), expected, **_tol(dtype), err_msg=name)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("with_bias", [True, False])
def test_rnn_tanh_cell_matches_reference(with_bias, dtype):
    rng = np.random.default_rng(2)
    n, n_in, n_hidden = 3, 5, 17  # 17 hidden units: two 16-wide blocks in x
    x = rng.standard_normal((n, n_in)).astype(dtype)
    h = rng.standard_normal((n, n_hidden)).astype(dtype)
    w_ih = (rng.standard_normal((n_in, n_hidden)) * 0.3).astype(dtype).T  # non-contiguous (H, I)
    w_hh = (rng.standard_normal((n_hidden, n_hidden)) * 0.3).astype(dtype)
    b_ih = rng.standard_normal(n_hidden).astype(dtype) if with_bias else None
    b_hh = rng.standard_normal(n_hidden).astype(dtype) if with_bias else None
    h_new_ref = ref_rnn.rnn_tanh_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh)
    h_new = cuda_kernels.rnn_tanh_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh)
    np.testing.assert_allclose(_host(h_new), h_new_ref, **_tol(dtype))
    grad = rng.standard_normal(h_new_ref.shape).astype(dtype)
    want = ref_rnn.rnn_tanh_cell_backward(x, h, w_ih, w_hh, h_new_ref, grad)
    got = cuda_kernels.rnn_tanh_cell_backward(x, h, w_ih, w_hh, h_new, grad)
    for name, value, expected in zip(("grad_x", "grad_h", "grad_w_ih", "grad_w_hh", "grad_bias"), got, want):
        np.testing.assert_allclose(_host(value), expected, **_tol(dtype), err_msg=name)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name, weight_decay", [("adam_step", 0.0), ("adam_step", 0.1), ("adamw_step", 0.01)])
def test_adam_steps_update_device_and_host_arrays_in_place(name, weight_decay, dtype):
    rng = np.random.default_rng(4)
    param = rng.standard_normal((3, 5)).astype(dtype)
    state = [param.copy(), np.zeros_like(param), np.zeros_like(param)]  # reference: param, exp_avg, exp_avg_sq
    on_device = [cuda_kernels.to_device(a) for a in state]
    on_host = [a.copy() for a in state]
    for step in (1, 2, 3):
        grad = rng.standard_normal(param.shape).astype(dtype)
        getattr(ref_optim, name)(state[0], grad, state[1], state[2], step, lr=0.01, weight_decay=weight_decay)
        getattr(cuda_kernels, name)(on_device[0], grad, on_device[1], on_device[2], step, lr=0.01,
                                    weight_decay=weight_decay)
        getattr(cuda_kernels, name)(on_host[0], grad, on_host[1], on_host[2], step, lr=0.01,
                                    weight_decay=weight_decay)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-6, atol=1e-6)
    for reference, device, host in zip(state, on_device, on_host):
        np.testing.assert_allclose(_host(device), reference, **tol)
        np.testing.assert_allclose(host, reference, **tol)
    with pytest.raises(ValueError, match="in place"):
        getattr(cuda_kernels, name)(param.T, grad.T, state[1].T, state[2].T, 4)


@pytest.mark.parametrize("name", ["adam_step_foreach", "adamw_step_foreach"])
def test_adam_foreach_updates_each_device_array_of_the_lists_in_place(name):
    rng = np.random.default_rng(5)
    params = [rng.standard_normal(shape).astype(np.float32) for shape in ((3, 2), (4,))]
    states = [[p.copy(), np.zeros_like(p), np.zeros_like(p)] for p in params]
    on_device = [[cuda_kernels.to_device(a) for a in state] for state in states]
    steps = [1, 3]
    grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
    single = name.removesuffix("_foreach")
    for state, grad, step in zip(states, grads, steps):
        getattr(ref_optim, single)(state[0], grad, state[1], state[2], step, lr=0.01)
    device_columns = [list(column) for column in zip(*on_device)]
    getattr(cuda_kernels, name)(device_columns[0], grads, device_columns[1], device_columns[2], steps, lr=0.01)
    for state, device in zip(states, on_device):
        for reference, array in zip(state, device):
            np.testing.assert_allclose(_host(array), reference, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=f"{name}.*one length"):
        getattr(cuda_kernels, name)(device_columns[0], grads, device_columns[1], device_columns[2], [1])


def test_sum_of_squares_foreach_on_device_and_host_arrays_matches_reference():
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal((3, 5)).astype(np.float32), rng.standard_normal(7), np.zeros((0, 2), np.float32)]
    on_device = [cuda_kernels.to_device(arrays[0]), arrays[1], cuda_kernels.to_device(arrays[2])]
    total = cuda_kernels.sum_of_squares_foreach(on_device)
    assert total == pytest.approx(ref_optim.sum_of_squares_foreach(arrays), rel=1e-12)
    with pytest.raises(TypeError, match="sum_of_squares_foreach: arrays must be a list"):
        cuda_kernels.sum_of_squares_foreach(arrays[0])


def test_import_without_gpu_or_simulator_succeeds_and_calls_raise():
    """In a fresh interpreter with the simulator off: import works; a kernel call raises the clear RuntimeError
    (only checked where there is no GPU: with one, the call simply runs)."""
    script = (
        "import numpy as np, kernels.cuda as kc\n"
        "if kc.is_available():\n    print('gpu'); raise SystemExit\n"
        "try:\n    kc.softmax_forward(np.ones(3))\nexcept RuntimeError as error:\n    print(error)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "gpu" or "no GPU and no simulator" in result.stdout
