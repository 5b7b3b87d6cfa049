"""Every kernel family on empty inputs (B, M, N, K, R, C, T or D of 0), on all three backends.

Each case runs the kernel on the reference, the Numba CPU set and the CUDA set (on a GPU, or under
NUMBA_ENABLE_CUDASIM=1) and checks the output shapes and values against the reference, which gives what an
empty sum gives: zeros where a dimension that is summed over is 0, empty arrays where an output dimension is 0.
No backend may fail with a Numba or ZeroDivisionError instead.
"""
import numpy as np
import pytest

import kernels.cpu as cpu_kernels
import kernels.cuda as cuda_kernels
import kernels.reference as ref_kernels

BACKENDS = [
    pytest.param(ref_kernels, id="reference"),
    pytest.param(cpu_kernels, id="cpu"),
    pytest.param(cuda_kernels, id="cuda", marks=pytest.mark.skipif(
        not cuda_kernels.is_available(), reason="no CUDA GPU and no simulator (set NUMBA_ENABLE_CUDASIM=1)")),
]


def _filled(*shape):
    return np.random.default_rng(len(shape)).standard_normal(shape)


def _host(result):
    if isinstance(result, tuple):
        return tuple(_host(r) for r in result)
    if result is None or isinstance(result, np.ndarray):
        return result
    return cuda_kernels.to_host(result)


no_targets = np.zeros(0, dtype=np.int64)

# name: kernel call taking the kernel module (same arguments on every backend)
CASES = {
    "matmul_inner_dim_zero": lambda m: m.matmul(_filled(2, 3, 0), _filled(2, 0, 4)),
    "matmul_rows_zero": lambda m: m.matmul(_filled(1, 0, 3), _filled(1, 3, 4)),
    "matmul_columns_zero": lambda m: m.matmul(_filled(1, 2, 3), _filled(1, 3, 0)),
    "matmul_batch_zero": lambda m: m.matmul(_filled(0, 2, 3), _filled(0, 3, 4)),
    "softmax_no_rows": lambda m: m.softmax_forward(_filled(0, 3)),
    "softmax_no_classes": lambda m: m.softmax_forward(_filled(2, 0)),
    "softmax_backward_no_classes": lambda m: m.softmax_backward(_filled(2, 0), _filled(2, 0)),
    "log_softmax_no_classes": lambda m: m.log_softmax_forward(_filled(3, 2, 0)),
    "log_softmax_backward_no_rows": lambda m: m.log_softmax_backward(_filled(0, 4), _filled(0, 4)),
    "cross_entropy_no_rows": lambda m: m.cross_entropy_forward(_filled(0, 3), no_targets, -100, 0.1),
    "cross_entropy_backward_no_rows": lambda m: m.cross_entropy_backward(_filled(0, 3), no_targets, _filled(0),
                                                                         -100, 0.1),
    "attention_no_batch": lambda m: m.attention_forward(_filled(0, 2, 3), _filled(0, 4, 3), _filled(0, 4, 2)),
    "attention_no_queries": lambda m: m.attention_forward(_filled(1, 0, 3), _filled(1, 4, 3), _filled(1, 4, 2)),
    "attention_no_keys": lambda m: m.attention_forward(_filled(1, 2, 3), _filled(1, 0, 3), _filled(1, 0, 2)),
    "attention_no_head_dim": lambda m: m.attention_forward(_filled(1, 2, 0), _filled(1, 3, 0), _filled(1, 3, 2)),
    "attention_no_value_dim": lambda m: m.attention_forward(_filled(1, 2, 3), _filled(1, 3, 3), _filled(1, 3, 0),
                                                            None, True),
    "attention_backward_no_keys": lambda m: m.attention_backward(_filled(1, 2, 3), _filled(1, 0, 3), _filled(1, 0, 2),
                                                                 _filled(1, 2, 0), _filled(1, 2, 2)),
    "attention_backward_no_queries": lambda m: m.attention_backward(_filled(1, 0, 3), _filled(1, 4, 3),
                                                                    _filled(1, 4, 2), _filled(1, 0, 4),
                                                                    _filled(1, 0, 2)),
    "attention_backward_no_head_dim": lambda m: m.attention_backward(_filled(1, 2, 0), _filled(1, 3, 0),
                                                                     _filled(1, 3, 2), np.full((1, 2, 3), 1 / 3),
                                                                     _filled(1, 2, 2)),
    "layer_norm_no_rows": lambda m: m.layer_norm_forward(_filled(0, 3), _filled(3), _filled(3), 1e-5),
    "layer_norm_backward_no_rows": lambda m: m.layer_norm_backward(_filled(0, 3), _filled(0, 3), _filled(3),
                                                                   _filled(0), _filled(0)),
    "rnn_cell_no_batch": lambda m: m.rnn_tanh_cell_forward(_filled(0, 3), _filled(0, 4), _filled(4, 3),
                                                           _filled(4, 4), _filled(4), _filled(4)),
    "rnn_cell_no_inputs": lambda m: m.rnn_tanh_cell_forward(_filled(2, 0), _filled(2, 4), _filled(4, 0),
                                                            _filled(4, 4), _filled(4), _filled(4)),
    "rnn_cell_backward_no_batch": lambda m: m.rnn_tanh_cell_backward(_filled(0, 3), _filled(0, 4), _filled(4, 3),
                                                                     _filled(4, 4), _filled(0, 4), _filled(0, 4)),
    "conv2d_no_batch": lambda m: m.conv2d_forward(_filled(0, 2, 5, 5), _filled(3, 2, 3, 3), _filled(3), (1, 1),
                                                  (0, 0), (1, 1), 1),
    "conv2d_backward_no_batch": lambda m: m.conv2d_backward(_filled(0, 2, 5, 5), _filled(3, 2, 3, 3),
                                                            _filled(0, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1, True,
                                                            True, True),
    "max_pool2d_no_batch": lambda m: m.max_pool2d_forward(_filled(0, 2, 4, 4), (2, 2), (2, 2), (0, 0)),
    "avg_pool2d_no_batch": lambda m: m.avg_pool2d_forward(_filled(0, 2, 4, 4), (2, 2), (2, 2), (0, 0)),
}


@pytest.mark.parametrize("module", BACKENDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_kernel_on_empty_input_matches_the_reference(module, name):
    want = CASES[name](ref_kernels)
    got = _host(CASES[name](module))
    want, got = (want, got) if isinstance(want, tuple) else ((want,), (got,))
    assert len(got) == len(want)
    for index, (mine, expected) in enumerate(zip(got, want)):
        if expected is None:
            assert mine is None
            continue
        assert mine.shape == expected.shape, f"output {index}"
        np.testing.assert_allclose(mine, expected, rtol=1e-12, atol=1e-12, err_msg=f"output {index}")


def test_reference_results_on_empty_inputs_are_the_empty_sums():
    np.testing.assert_array_equal(ref_kernels.matmul(_filled(2, 3, 0), _filled(2, 0, 4)), np.zeros((2, 3, 4)))
    out, probs = ref_kernels.attention_forward(_filled(1, 2, 3), _filled(1, 0, 3), _filled(1, 0, 2))
    np.testing.assert_array_equal(out, np.zeros((1, 2, 2)))  # no keys: nothing to average, as torch
    v = _filled(1, 3, 2)
    out, _ = ref_kernels.attention_forward(_filled(1, 2, 0), _filled(1, 3, 0), v)
    np.testing.assert_allclose(out[0], np.repeat(v[0].mean(axis=0, keepdims=True), 2, axis=0))  # all scores 0
