"""conv2d for few taps per output (kernels/cpu/conv_taps.py, a first layer on grey or RGB images): the forward,
grad_w and grad_b against the NumPy reference, the path forced and counted, and a float64 gradcheck through autograd.

The path applies when the stride down the rows is 1, Cg·KH·KW <= TAPS_PATH_MAX_TAPS, H_out·W_out is a multiple
of VL = 16 and the work reaches TAPS_PATH_MIN_WORK (set to 0 here), so every case below picks its sizes to meet
that. Tolerances as in test_conv.py.
"""
import importlib

import numpy as np
import pytest

cpu_conv = importlib.import_module("kernels.cpu.conv")
cpu_conv_taps = importlib.import_module("kernels.cpu.conv_taps")
ref_conv = importlib.import_module("kernels.reference.conv")

# (x shape, w shape, (stride, padding, dilation, groups)): each has H_out·W_out a multiple of 16
CASES = {
    "one-input-channel-ragged-output-channels": ((3, 1, 4, 4), (5, 1, 3, 3), ((1, 1), (1, 1), (1, 1), 1)),
    "groups-with-dilation-and-asymmetric-padding": ((2, 2, 8, 8), (6, 1, 3, 3), ((1, 1), (2, 1), (2, 1), 2)),
    "rgb-with-column-stride": ((2, 3, 4, 16), (7, 3, 3, 3), ((1, 2), (1, 1), (1, 1), 1)),
    "odd-kernel-no-column-padding": ((2, 3, 3, 6), (9, 3, 2, 3), ((1, 1), (1, 0), (1, 1), 1)),
    "three-groups-of-two-channels": ((1, 6, 3, 8), (3, 2, 2, 2), ((1, 1), (1, 1), (1, 2), 3)),
}


def _counting_taps_path(monkeypatch, name="_weight_grad_by_taps"):
    """Open the taps path to tiny shapes (it starts at TAPS_PATH_MIN_WORK multiply-adds) and wrap its wrapper
    `name` in kernels/cpu/conv.py so a test can assert the path ran; returns the list of calls."""
    monkeypatch.setattr(cpu_conv, "TAPS_PATH_MIN_WORK", 0)
    calls = []
    original = getattr(cpu_conv, name)

    def counted(*args):
        calls.append(args[1].shape if hasattr(args[1], "shape") else args[1])
        return original(*args)

    monkeypatch.setattr(cpu_conv, name, counted)
    return calls


def _check_weight_and_bias_grads(x, w, geometry, rng):
    dtype = x.dtype
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    y_shape = ref_conv.conv2d_forward(x64, w64, None, *geometry).shape
    assert (y_shape[2] * y_shape[3]) % cpu_conv.VL == 0  # the case meets the path's condition
    grad_y = rng.standard_normal(y_shape).astype(dtype)
    _, want_w, want_b = ref_conv.conv2d_backward(x64, w64, grad_y.astype(np.float64), *geometry, False, True, True)
    if dtype == np.float64:
        tolerances = dict(rtol=1e-10, atol=1e-10)
    else:
        tolerances = dict(rtol=1e-4, atol=1e-5 * np.sqrt(grad_y[:, 0].size))
    grad_x, grad_w, grad_b = cpu_conv.conv2d_backward(x, w, grad_y, *geometry, False, True, True)
    assert grad_x is None and grad_w.dtype == dtype and grad_b.dtype == dtype
    np.testing.assert_allclose(grad_w, want_w, **tolerances)
    np.testing.assert_allclose(grad_b, want_b, **tolerances)
    only_weight = cpu_conv.conv2d_backward(x, w, grad_y, *geometry, False, True, False)
    assert only_weight[2] is None
    np.testing.assert_allclose(only_weight[1], want_w, **tolerances)


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_conv2d_forward_by_taps_matches_reference(monkeypatch, case, dtype, with_bias):
    """The forward on the same shifted planes: 8 output channels per tile (ragged counts repeat the last
    channel), the bias as the weight of the plane of ones."""
    calls = _counting_taps_path(monkeypatch, "_correlate_by_taps")
    x_shape, w_shape, geometry = CASES[case]
    rng = np.random.default_rng(len(case) + 100)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype) if with_bias else None
    want = ref_conv.conv2d_forward(x.astype(np.float64), w.astype(np.float64),
                                   None if b is None else b.astype(np.float64), *geometry)
    got = cpu_conv.conv2d_forward(x, w, b, *geometry)
    if dtype == np.float64:
        tolerances = dict(rtol=1e-10, atol=1e-10)
    else:
        tolerances = dict(rtol=1e-4, atol=1e-5 * np.sqrt(w[0].size))
    assert got.dtype == dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, **tolerances)
    assert calls, "the taps path did not run"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_conv2d_weight_grad_by_taps_matches_reference(monkeypatch, case, dtype):
    calls = _counting_taps_path(monkeypatch)
    x_shape, w_shape, geometry = CASES[case]
    rng = np.random.default_rng(len(case))
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    _check_weight_and_bias_grads(x, w, geometry, rng)
    assert calls, "the taps path did not run"


def test_conv2d_weight_grad_by_taps_splits_images_into_parts_and_blocks(monkeypatch):
    """Several blocks of images per part (a scratch of two images), 5 images split over the threads unevenly:
    each part packs its own images and sums into its own accumulator."""
    calls = _counting_taps_path(monkeypatch)
    monkeypatch.setattr(cpu_conv_taps, "TAPS_SCRATCH_VALUES", 2 * (2 * 3 + 1) * 6 * 4)  # two images' shifted copies
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, 2, 4, 4)).astype(np.float32)
    w = rng.standard_normal((10, 2, 3, 3)).astype(np.float32)
    _check_weight_and_bias_grads(x, w, ((1, 1), (1, 1), (1, 1), 1), rng)
    assert calls


def test_conv2d_weight_grad_takes_general_path_outside_the_taps_condition(monkeypatch):
    """Stride 2 down the rows, too many taps, or H_out·W_out not a multiple of 16: the general kernel runs."""
    calls = _counting_taps_path(monkeypatch)
    rng = np.random.default_rng(12)
    for x_shape, w_shape, geometry in [((2, 1, 8, 8), (4, 1, 3, 3), ((2, 1), (1, 1), (1, 1), 1)),
                                       ((2, 4, 4, 4), (4, 4, 3, 3), ((1, 1), (1, 1), (1, 1), 1)),
                                       ((2, 1, 5, 5), (4, 1, 3, 3), ((1, 1), (1, 1), (1, 1), 1))]:
        x = rng.standard_normal(x_shape)
        w = rng.standard_normal(w_shape)
        grad_y = rng.standard_normal(ref_conv.conv2d_forward(x, w, None, *geometry).shape)
        got = cpu_conv.conv2d_backward(x, w, grad_y, *geometry, False, True, True)
        want = ref_conv.conv2d_backward(x, w, grad_y, *geometry, False, True, True)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(got[2], want[2], rtol=1e-10, atol=1e-10)
    assert not calls


def test_conv2d_weight_grad_by_taps_starts_at_its_work_threshold(monkeypatch):
    """Below TAPS_PATH_MIN_WORK multiply-adds the general kernel runs (no extra kernel to compile for tiny
    layers); at the threshold the taps path does, with the same results."""
    calls = _counting_taps_path(monkeypatch)
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 1, 4, 4))
    w = rng.standard_normal((3, 1, 3, 3))
    grad_y = rng.standard_normal((2, 3, 4, 4))
    geometry = ((1, 1), (1, 1), (1, 1), 1)
    want = ref_conv.conv2d_backward(x, w, grad_y, *geometry, False, True, True)
    for threshold, expected_calls in [(grad_y.size * 9 + 1, 0), (grad_y.size * 9, 1)]:
        monkeypatch.setattr(cpu_conv, "TAPS_PATH_MIN_WORK", threshold)
        got = cpu_conv.conv2d_backward(x, w, grad_y, *geometry, False, True, True)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(got[2], want[2], rtol=1e-10, atol=1e-10)
        assert len(calls) == expected_calls


def test_conv2d_weight_grad_by_taps_propagates_nan_only_to_the_taps_that_read_it():
    """A NaN in x reaches exactly the weights whose taps read it (as in the reference's sum over positions);
    the other taps and the bias gradient (the ones plane) stay finite and exact."""
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    x[0, 0, 0, 0] = np.nan
    w = np.ones((2, 1, 3, 3), np.float32)
    grad_y = np.ones((1, 2, 4, 4), np.float32)
    geometry = ((1, 1), (1, 1), (1, 1), 1)
    _, grad_w, grad_b = cpu_conv.conv2d_backward(x, w, grad_y, *geometry, False, True, True)
    _, want_w, want_b = ref_conv.conv2d_backward(x.astype(np.float64), w.astype(np.float64),
                                                 grad_y.astype(np.float64), *geometry, False, True, True)
    assert np.isnan(want_w).any() and not np.isnan(want_w).all()
    np.testing.assert_array_equal(np.isnan(grad_w), np.isnan(want_w))
    np.testing.assert_allclose(grad_w, want_w, rtol=1e-6)  # NaN where the reference has NaN, equal elsewhere
    np.testing.assert_array_equal(grad_b, want_b)


def test_conv2d_op_gradcheck_in_float64_through_the_taps_path(monkeypatch):
    """The Conv2d op through autograd with the taps path for grad_w and grad_b: float64 finite differences
    against a random cotangent, for x, w and b (groups 2, dilation, column stride)."""
    import tinygrad_edu as tg
    from tinygrad_edu.nn import functional as F

    calls = _counting_taps_path(monkeypatch)
    rng = np.random.default_rng(13)
    inputs = [tg.Tensor(rng.standard_normal(shape), requires_grad=True)
              for shape in ((2, 2, 4, 14), (4, 1, 3, 3), (4,))]
    with tg.set_backend("cpu"):
        assert tg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, (1, 2), (2, 2), (2, 1), 2), *inputs)
    assert calls


def test_conv2d_cpu_runs_as_plain_python_without_the_jit():
    """NUMBA_DISABLE_JIT=1 (stepping through the kernels) swaps in NumPy forms of the stack arrays: the taps
    path's accumulators, the channel tiles' transposed store and the general grad_w give the reference's results
    in plain Python."""
    import os
    import subprocess
    import sys

    script = """
import numpy as np
import kernels.cpu.conv as cpu_conv
import kernels.reference.conv as ref_conv
cpu_conv.TAPS_PATH_MIN_WORK = 0  # the taps path on a tiny shape
rng = np.random.default_rng(3)
x = rng.standard_normal((2, 1, 4, 4))
w = rng.standard_normal((5, 1, 3, 3))
b = rng.standard_normal(5)
geometry = ((1, 1), (1, 1), (1, 1), 1)
cpu_conv.CHANNEL_TILES_STORE_COST = 0.0  # channel tiles, whose tiles of 8 positions lie in one image
np.testing.assert_allclose(cpu_conv.conv2d_forward(x, w, b, *geometry), ref_conv.conv2d_forward(x, w, b, *geometry),
                           rtol=1e-10, atol=1e-10)
grad_y = rng.standard_normal((2, 5, 4, 4))
for got, want in zip(cpu_conv.conv2d_backward(x, w, grad_y, *geometry, True, True, True),
                     ref_conv.conv2d_backward(x, w, grad_y, *geometry, True, True, True)):
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
# the general grad_w (CK = 36 taps), x placed a block of images at a time
x = rng.standard_normal((2, 4, 6, 6))
w = rng.standard_normal((10, 4, 3, 3))
grad_y = rng.standard_normal((2, 10, 6, 6))
for got, want in zip(cpu_conv.conv2d_backward(x, w, grad_y, *geometry, True, True, True),
                     ref_conv.conv2d_backward(x, w, grad_y, *geometry, True, True, True)):
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
"""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    environment = dict(os.environ, NUMBA_DISABLE_JIT="1")
    result = subprocess.run([sys.executable, "-c", script], cwd=root, env=environment, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
