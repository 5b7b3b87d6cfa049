"""conv2d's row tiles with several small images side by side in one padded row (kernels/cpu/conv.py,
`_side_by_side`): forward and grad_x against the float64 reference, the layouts it picks, float64 finite
differences through autograd, and the plain-Python form (NUMBA_DISABLE_JIT=1) of its masked row-piece copies.

Tolerances as tests/kernels/test_conv.py: float32 against the float64 reference at rtol 1e-4, atol 1e-5·sqrt(CK).
"""
import importlib
import os
import subprocess
import sys

import numpy as np
import pytest

cpu_conv = importlib.import_module("kernels.cpu.conv")
ref_conv = importlib.import_module("kernels.reference.conv")


def _side_by_side_of(x_shape, w_shape, geometry):
    """(across, slot) that the forward's row tiles take for this convolution (before the cost model's choice)."""
    stride, padding, dilation, _ = geometry
    (kh, kw), (height, width) = w_shape[2:], x_shape[2:]
    h_out = (height + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    w_out = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    hp, wp = height + 2 * padding[0], cpu_conv._row_tile_width(width + 2 * padding[1], h_out, stride)
    placement = cpu_conv._placement(x_shape, (hp, wp), (1, 1), padding)
    across, slot, _, _ = cpu_conv._side_by_side(x_shape, tuple(placement.tolist()), hp, wp, h_out, w_out,
                                                (kw - 1) * dilation[1])
    return across, slot


def _assert_matches_reference(x, w, b, geometry, rng):
    ck = w.shape[1] * w.shape[2] * w.shape[3]
    tolerances = ({"rtol": 1e-10, "atol": 1e-10} if x.dtype == np.float64
                  else {"rtol": 1e-4, "atol": 1e-5 * np.sqrt(ck)})
    x64, w64, b64 = x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)
    y = cpu_conv.conv2d_forward(x, w, b, *geometry)
    np.testing.assert_allclose(y, ref_conv.conv2d_forward(x64, w64, b64, *geometry), **tolerances)
    grad_y = rng.standard_normal(y.shape).astype(x.dtype)
    want = ref_conv.conv2d_backward(x64, w64, grad_y.astype(np.float64), *geometry, True, True, True)
    for got, expected in zip(cpu_conv.conv2d_backward(x, w, grad_y, *geometry, True, True, True), want):
        assert got.dtype == x.dtype and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, **tolerances)


def test_side_by_side_puts_small_images_in_one_padded_row_only_where_it_saves_tiles():
    """8x8 images, "same" 3x3: four to a row of slots of 9 (the right padding of one image is the left padding
    of the next), 9 tiles of 32 positions for 256 outputs instead of 3 for 64; at 4x4 (pieces too short), at
    28x28 (a row fills a tile) and with fewer than two images, one image per row."""
    same = ((1, 1), (1, 1), (1, 1), 1)
    assert _side_by_side_of((64, 16, 8, 8), (32, 16, 3, 3), same) == (4, 9)
    assert _side_by_side_of((64, 16, 4, 4), (32, 16, 3, 3), same)[0] == 1
    assert _side_by_side_of((64, 1, 28, 28), (32, 1, 3, 3), same)[0] == 1
    assert _side_by_side_of((1, 16, 8, 8), (32, 16, 3, 3), same)[0] == 1
    # no padding: the slot is the image's own width (the windows' reach past W_out is the next image's start)
    across, slot = _side_by_side_of((9, 2, 10, 10), (4, 2, 3, 3), ((1, 1), (0, 0), (1, 1), 1))
    assert across > 1 and slot == 10
    # padding past the windows' reach (3 > 2): an image's outputs would not fit its slot
    assert _side_by_side_of((9, 2, 8, 8), (4, 2, 3, 3), ((1, 1), (3, 3), (1, 1), 1))[0] == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_conv2d_cpu_row_tiles_side_by_side_match_reference(monkeypatch, parallel, dtype):
    """Row tiles forced (huge channel-tile store cost): 9 images of 8x8 (blocks of 4, the last one short) with
    groups and channels past MR; no padding (slots without a zero column); dilation 2 with padding 2; grad_x of
    a stride-2 convolution (grad_y spread into every other column of its slot); asymmetric padding; few images
    (runs split a block between tasks); a 12-wide image (pieces of 12 values). Forward, grad_x, grad_w, grad_b."""
    monkeypatch.setattr(cpu_conv, "CHANNEL_TILES_STORE_COST", 1e9)
    if parallel:
        monkeypatch.setattr(cpu_conv, "SERIAL_MAX_WORK", 0)
    rng = np.random.default_rng(21)
    cases = [((9, 4, 8, 8), (10, 2, 3, 3), ((1, 1), (1, 1), (1, 1), 2)),
             ((9, 2, 10, 10), (4, 2, 3, 3), ((1, 1), (0, 0), (1, 1), 1)),
             ((6, 3, 9, 9), (5, 3, 3, 3), ((1, 1), (2, 2), (2, 2), 1)),
             ((5, 3, 16, 16), (4, 3, 3, 3), ((2, 2), (1, 1), (1, 1), 1)),
             ((7, 2, 8, 9), (3, 2, 3, 3), ((1, 1), (0, 1), (1, 1), 1)),
             ((3, 2, 8, 8), (9, 2, 3, 3), ((1, 1), (1, 1), (1, 1), 1)),
             ((4, 2, 5, 12), (3, 2, 3, 3), ((1, 1), (1, 1), (1, 1), 1))]
    for x_shape, w_shape, geometry in cases:
        x = rng.standard_normal(x_shape).astype(dtype)
        w = rng.standard_normal(w_shape).astype(dtype)
        b = rng.standard_normal(w_shape[0]).astype(dtype)
        _assert_matches_reference(x, w, b, geometry, rng)
    assert _side_by_side_of(*cases[0][:2], cases[0][2])[0] > 1  # the layout under test is taken


def test_conv2d_op_gradcheck_in_float64_with_images_side_by_side(monkeypatch):
    """The Conv2d op on the cpu kernels through autograd, row tiles forced, three 8x8 images side by side in the
    forward and in grad_x's correlation: float64 finite differences against a random cotangent, x, w and b."""
    import tinygrad_edu as tg
    from tinygrad_edu.nn import functional as F

    monkeypatch.setattr(cpu_conv, "CHANNEL_TILES_STORE_COST", 1e9)
    assert _side_by_side_of((3, 2, 8, 8), (3, 2, 3, 3), ((1, 1), (1, 1), (1, 1), 1))[0] == 3
    rng = np.random.default_rng(22)
    inputs = [tg.Tensor(rng.standard_normal(shape), requires_grad=True) for shape in ((3, 2, 8, 8), (3, 2, 3, 3), (3,))]
    with tg.set_backend("cpu"):
        assert tg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, 1, 1), *inputs)


def test_conv2d_cpu_side_by_side_runs_as_plain_python_without_the_jit():
    """NUMBA_DISABLE_JIT=1: the masked row-piece copy has a NumPy form; images side by side give the
    reference's results in plain Python."""
    script = """
import numpy as np
import kernels.cpu.conv as cpu_conv
import kernels.reference.conv as ref_conv
cpu_conv.CHANNEL_TILES_STORE_COST = 1e9  # row tiles
rng = np.random.default_rng(4)
x = rng.standard_normal((3, 2, 8, 8))
w = rng.standard_normal((3, 2, 3, 3))
b = rng.standard_normal(3)
geometry = ((1, 1), (1, 1), (1, 1), 1)
np.testing.assert_allclose(cpu_conv.conv2d_forward(x, w, b, *geometry), ref_conv.conv2d_forward(x, w, b, *geometry),
                           rtol=1e-10, atol=1e-10)
grad_y = rng.standard_normal((3, 3, 8, 8))
for got, want in zip(cpu_conv.conv2d_backward(x, w, grad_y, *geometry, True, False, True),
                     ref_conv.conv2d_backward(x, w, grad_y, *geometry, True, False, True)):
    if want is not None:
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
"""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    environment = dict(os.environ, NUMBA_DISABLE_JIT="1")
    result = subprocess.run([sys.executable, "-c", script], cwd=root, env=environment, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
