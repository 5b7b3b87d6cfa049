"""Every cpu kernel family has a serial and a parallel variant of one loop nest, chosen by a work threshold.

Each test forces one path by monkeypatching the family's threshold (0: always parallel, huge: always serial)
and checks the result against the NumPy reference, so both compiled variants are exercised on every run.
"""
import importlib

import numpy as np
import pytest
from numba import prange

from kernels.cpu import variants

FAMILIES = ["rnn", "attention", "norm", "softmax", "pool", "conv", "gemm", "optim"]
THRESHOLD = {"rnn": "SERIAL_MAX_WORK", "attention": "SERIAL_MAX_WORK", "norm": "SERIAL_MAX_SIZE",
             "softmax": "SERIAL_MAX_SIZE", "pool": "SERIAL_MAX_WORK", "conv": "SERIAL_MAX_WORK",
             "gemm": ("SMALL_FLOPS", "TILED_FLOPS"), "optim": "_PARALLEL_MIN_SIZE"}
ALWAYS_SERIAL = 1 << 62


def _modules(family):
    return importlib.import_module(f"kernels.cpu.{family}"), importlib.import_module(f"kernels.reference.{family}")


# The parallel variants are checked in float32 only (the engine's training dtype): each extra compiled
# specialisation costs CI ≈1 s of cold-cache compile, and the loop nest is the same source for both dtypes.
@pytest.fixture(params=[("serial", np.float32), ("serial", np.float64), ("parallel", np.float32)],
                ids=["serial-float32", "serial-float64", "parallel-float32"])
def dtype(request, monkeypatch):
    """Forces every family onto one path (by its threshold) for the test; the test's dtype is the value."""
    path, dtype = request.param
    for family in FAMILIES:
        module = importlib.import_module(f"kernels.cpu.{family}")
        names = THRESHOLD[family] if isinstance(THRESHOLD[family], tuple) else (THRESHOLD[family],)
        for name in names:
            monkeypatch.setattr(module, name, ALWAYS_SERIAL if path == "serial" else 0)
    return dtype


def _close(got, want, dtype):
    tol = dict(rtol=1e-10, atol=1e-11) if dtype == np.float64 else dict(rtol=1e-4, atol=3e-5)
    np.testing.assert_allclose(got, want, **tol)


def _data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return lambda *shape: rng.standard_normal(shape).astype(dtype)


def test_rnn_cell_both_paths_match_reference(dtype):
    cpu, ref = _modules("rnn")
    a = _data(dtype)
    x, h, w_ih, w_hh, b_ih, b_hh, g = a(5, 3), a(5, 7), a(7, 3), a(7, 7), a(7), a(7), a(5, 7)
    h_new = cpu.rnn_tanh_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh)
    _close(h_new, ref.rnn_tanh_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh), dtype)
    for got, want in zip(cpu.rnn_tanh_cell_backward(x, h, w_ih, w_hh, h_new, g),
                         ref.rnn_tanh_cell_backward(x, h, w_ih, w_hh, h_new, g)):
        _close(got, want, dtype)


def test_attention_both_paths_match_reference(dtype):
    cpu, ref = _modules("attention")
    a = _data(dtype)
    q, k, v, mask, g = a(3, 4, 5), a(3, 6, 5), a(3, 6, 2), a(3, 4, 6), a(3, 4, 2)
    out, probs = cpu.attention_forward(q, k, v, mask, True)
    out_ref, probs_ref = ref.attention_forward(q, k, v, mask, True)
    _close(out, out_ref, dtype)
    _close(probs, probs_ref, dtype)
    for got, want in zip(cpu.attention_backward(q, k, v, probs, g), ref.attention_backward(q, k, v, probs_ref, g)):
        _close(got, want, dtype)


@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_both_paths_match_reference(dtype, affine):
    cpu, ref = _modules("norm")
    a = _data(dtype)
    x, g = a(11, 6), a(11, 6)
    weight, bias = (a(6), a(6)) if affine else (None, None)
    y, mean, rstd = cpu.layer_norm_forward(x, weight, bias)
    want = ref.layer_norm_forward(x, weight, bias)
    for got, expected in zip((y, mean, rstd), want):
        _close(got, expected, dtype)
    for got, expected in zip(cpu.layer_norm_backward(g, x, weight, mean, rstd),
                             ref.layer_norm_backward(g, x, weight, want[1], want[2])):
        if expected is None:
            assert got is None
        else:
            _close(got, expected, dtype)


def test_softmax_family_both_paths_match_reference(dtype):
    cpu, ref = _modules("softmax")
    a = _data(dtype)
    x, g = a(2, 5, 7), a(2, 5, 7)
    for forward, backward in [("softmax_forward", "softmax_backward"), ("log_softmax_forward", "log_softmax_backward")]:
        y = getattr(cpu, forward)(x)
        _close(y, getattr(ref, forward)(x), dtype)
        _close(getattr(cpu, backward)(y, g), getattr(ref, backward)(y, g), dtype)
    logits = a(9, 4)
    target = np.array([0, 3, -100, 1, 2, 2, 0, 3, 1])
    loss, log_probs = cpu.cross_entropy_forward(logits, target, -100, 0.1)
    loss_ref, log_probs_ref = ref.cross_entropy_forward(logits, target, -100, 0.1)
    _close(loss, loss_ref, dtype)
    _close(log_probs, log_probs_ref, dtype)
    grad_loss = a(9)
    _close(cpu.cross_entropy_backward(log_probs, target, grad_loss, -100, 0.1),
           ref.cross_entropy_backward(log_probs_ref, target, grad_loss, -100, 0.1), dtype)


def test_pooling_both_paths_match_reference(dtype):
    cpu, ref = _modules("pool")
    x = _data(dtype)(2, 3, 7, 6)
    geometry = ((3, 2), (2, 2), (1, 1))
    y, argmax = cpu.max_pool2d_forward(x, *geometry)
    y_ref, argmax_ref = ref.max_pool2d_forward(x, *geometry)
    _close(y, y_ref, dtype)
    np.testing.assert_array_equal(argmax, argmax_ref)
    g = _data(dtype, 1)(*y.shape)
    _close(cpu.max_pool2d_backward(g, argmax, x.shape), ref.max_pool2d_backward(g, argmax_ref, x.shape), dtype)
    _close(cpu.avg_pool2d_forward(x, *geometry), ref.avg_pool2d_forward(x, *geometry), dtype)
    _close(cpu.avg_pool2d_backward(g, x.shape, *geometry), ref.avg_pool2d_backward(g, x.shape, *geometry), dtype)


def test_conv2d_both_paths_match_reference(dtype):
    cpu, ref = _modules("conv")
    a = _data(dtype)
    x, w, b = a(2, 4, 6, 5), a(6, 2, 3, 2), a(6)
    args = ((2, 1), (1, 1), (1, 2), 2)
    y = cpu.conv2d_forward(x, w, b, *args)
    _close(y, ref.conv2d_forward(x, w, b, *args), dtype)
    g = a(*y.shape)
    for got, want in zip(cpu.conv2d_backward(x, w, g, *args, True, True, True),
                         ref.conv2d_backward(x, w, g, *args, True, True, True)):
        _close(got, want, dtype)


def test_conv2d_row_tiles_both_paths_match_reference(dtype):
    """Stride 1 on rows of 40: the forward and grad_x take the row tiles (the case above takes channel tiles)."""
    cpu, ref = _modules("conv")
    a = _data(dtype, 2)
    x, w, b = a(2, 3, 5, 40), a(8, 3, 3, 3), a(8)
    args = ((1, 1), (1, 1), (1, 1), 1)
    y = cpu.conv2d_forward(x, w, b, *args)
    _close(y, ref.conv2d_forward(x, w, b, *args), dtype)
    g = a(*y.shape)
    for got, want in zip(cpu.conv2d_backward(x, w, g, *args, True, True, True),
                         ref.conv2d_backward(x, w, g, *args, True, True, True)):
        _close(got, want, dtype)


def test_matmul_both_paths_match_reference(dtype):
    cpu, ref = _modules("gemm")
    a = _data(dtype)
    x, y = a(2, 7, 9), a(2, 9, 40)  # serial: the register-tiled path (one full panel + an 8-column tail)
    _close(cpu.matmul(x, y), ref.matmul(x, y), dtype)
    x, y = a(2, 7, 9), a(2, 9, 5)  # serial: the narrow i-k-j path
    _close(cpu.matmul(x, y), ref.matmul(x, y), dtype)


def test_adam_both_paths_match_reference(dtype):
    cpu, ref = _modules("optim")
    a = _data(dtype)
    param, grad, exp_avg, exp_avg_sq = a(37), a(37), a(37), np.abs(a(37))
    state_cpu = [v.copy() for v in (param, grad, exp_avg, exp_avg_sq)]
    state_ref = [v.copy() for v in (param, grad, exp_avg, exp_avg_sq)]
    cpu.adamw_step(*state_cpu, 3, 1e-2, 0.9, 0.999, 1e-8, 0.1)
    ref.adamw_step(*state_ref, 3, 1e-2, 0.9, 0.999, 1e-8, 0.1)
    for got, want in zip(state_cpu, state_ref):
        _close(got, want, dtype)


def test_default_thresholds_send_toy_sizes_serial_and_large_sizes_parallel():
    rnn, _ = _modules("rnn")
    assert 64 * 64 * (64 + 64) < rnn.SERIAL_MAX_WORK <= 1024 * 64 * (64 + 64)
    softmax, _ = _modules("softmax")
    assert 512 * 11 < softmax.SERIAL_MAX_SIZE <= 64 * 8 * 128 * 128
    norm, _ = _modules("norm")
    assert 1024 * 64 < norm.SERIAL_MAX_SIZE <= 32768 * 64


def test_serial_and_parallel_variants_are_distinct_cache_entries():
    """The two variants must not share Numba's on-disk cache files (named after the qualified name)."""
    serial, parallel = variants.serial_and_parallel(_double_body)
    assert serial.py_func.__qualname__ == "_double_body_serial"
    assert parallel.py_func.__qualname__ == "_double_body_parallel"
    assert not serial.targetoptions.get("parallel", False)
    assert parallel.targetoptions["parallel"]
    x = np.arange(5.0)
    out_serial, out_parallel = np.empty_like(x), np.empty_like(x)
    serial(x, out_serial)
    parallel(x, out_parallel)
    np.testing.assert_array_equal(out_serial, 2 * x)
    np.testing.assert_array_equal(out_parallel, 2 * x)


def _double_body(x, out):
    for i in prange(x.shape[0]):
        out[i] = 2 * x[i]
