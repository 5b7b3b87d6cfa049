"""conv2d: reference against a naive 7-loop oracle and finite differences; cpu against the reference.

Tolerances: float64 rtol 1e-10; float32 cpu against the float64 reference at rtol 1e-4, atol 1e-5*sqrt(CK)
(CK = C_in/groups*KH*KW is the length of each dot product). Finite differences: central, h = 1e-6, float64,
against a random cotangent c: L = sum(conv(x) * c).
"""
import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finite_differences import numerical_gradients

cpu_conv = importlib.import_module("kernels.cpu.conv")
ref_conv = importlib.import_module("kernels.reference.conv")


def naive_conv2d(x, w, b, stride, padding, dilation, groups):
    """Seven nested loops straight from the definition."""
    n_batch, c_in, height, width = x.shape
    c_out, c_per_group, kh, kw = w.shape
    h_out = (height + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    w_out = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n_batch, c_out, h_out, w_out))
    out_per_group = c_out // groups
    for n in range(n_batch):
        for o in range(c_out):
            g = o // out_per_group
            for p in range(h_out):
                for q in range(w_out):
                    total = 0.0 if b is None else b[o]
                    for c in range(c_per_group):
                        for i in range(kh):
                            for j in range(kw):
                                ih = p * stride[0] - padding[0] + i * dilation[0]
                                iw = q * stride[1] - padding[1] + j * dilation[1]
                                if 0 <= ih < height and 0 <= iw < width:
                                    total += x[n, g * c_per_group + c, ih, iw] * w[o, c, i, j]
                    y[n, o, p, q] = total
    return y


@st.composite
def conv_cases(draw):
    groups = draw(st.sampled_from([1, 2, 3]))
    c_in = groups * draw(st.integers(1, 3))
    c_out = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 1)))
    height = draw(st.integers(max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]), 9))
    width = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]), 8))
    n_batch = draw(st.integers(1, 3))
    with_bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return (n_batch, c_in, height, width, c_out, kh, kw, stride, padding, dilation, groups, with_bias, seed)


def make_case(case, dtype=np.float64):
    n_batch, c_in, height, width, c_out, kh, kw, stride, padding, dilation, groups, with_bias, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_batch, c_in, height, width)).astype(dtype)
    w = rng.standard_normal((c_out, c_in // groups, kh, kw)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype) if with_bias else None
    return x, w, b, (stride, padding, dilation, groups), rng


@given(conv_cases())
def test_conv2d_reference_matches_naive_loops(case):
    x, w, b, geometry, _ = make_case(case)
    np.testing.assert_allclose(ref_conv.conv2d_forward(x, w, b, *geometry), naive_conv2d(x, w, b, *geometry),
                               rtol=1e-10, atol=1e-12)


@given(conv_cases())
def test_conv2d_reference_grad_matches_finite_differences_with_stride_padding_dilation_groups(case):
    x, w, b, geometry, rng = make_case(case)
    b = np.zeros(w.shape[0]) if b is None else b
    grad_y = rng.standard_normal(ref_conv.conv2d_forward(x, w, b, *geometry).shape)
    grad_x, grad_w, grad_b = ref_conv.conv2d_backward(x, w, grad_y, *geometry, True, True, True)

    def loss(x_, w_, b_):
        return float((ref_conv.conv2d_forward(x_, w_, b_, *geometry) * grad_y).sum())

    for grad, numeric in zip((grad_x, grad_w, grad_b), numerical_gradients(loss, [x, w, b])):
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


@given(conv_cases(), st.sampled_from([np.float32, np.float64]))
def test_conv2d_cpu_matches_reference_forward_and_backward(case, dtype):
    x, w, b, geometry, rng = make_case(case, dtype)
    y = cpu_conv.conv2d_forward(x, w, b, *geometry)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    b64 = None if b is None else b.astype(np.float64)
    y_ref = ref_conv.conv2d_forward(x64, w64, b64, *geometry)
    grad_y = rng.standard_normal(y_ref.shape).astype(dtype)
    got = cpu_conv.conv2d_backward(x, w, grad_y, *geometry, True, True, True)
    want = ref_conv.conv2d_backward(x64, w64, grad_y.astype(np.float64), *geometry, True, True, True)
    depth = w[0].size
    if dtype == np.float64:
        tolerances = dict(rtol=1e-10, atol=1e-12 * depth)
    else:
        tolerances = dict(rtol=1e-4, atol=1e-5 * np.sqrt(max(depth, grad_y[:, 0].size)))
    assert y.dtype == dtype and y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, **tolerances)
    for g, r in zip(got, want):
        assert g.dtype == dtype and g.shape == r.shape
        np.testing.assert_allclose(g, r, **tolerances)


def test_conv2d_cpu_handles_non_contiguous_inputs_and_skips_unneeded_grads():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 5, 9, 4)).transpose(0, 1, 3, 2)  # (3, 5, 4, 9) view
    w = rng.standard_normal((4, 3, 3, 5))[:, ::1, :, ::2]  # (4, 3, 3, 3) strided
    x = x[:, 1:4]  # (3, 3, 4, 9)
    geometry = ((1, 2), (1, 1), (1, 1), 1)
    y = cpu_conv.conv2d_forward(x, w, None, *geometry)
    np.testing.assert_allclose(y, naive_conv2d(x, w, None, *geometry), rtol=1e-10)
    grad_y = rng.standard_normal(y.shape)[..., ::-1]
    got = cpu_conv.conv2d_backward(x, w, grad_y, *geometry, False, True, False)
    want = ref_conv.conv2d_backward(x, w, grad_y, *geometry, False, True, False)
    assert got[0] is None and got[2] is None
    np.testing.assert_allclose(got[1], want[1], rtol=1e-10)


def _assert_cpu_matches_reference(x, w, b, geometry, rng):
    """Forward and all three gradients of the cpu kernels against the reference (in float64), for one case."""
    dtype = x.dtype
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    b64 = None if b is None else b.astype(np.float64)
    y_ref = ref_conv.conv2d_forward(x64, w64, b64, *geometry)
    grad_y = rng.standard_normal(y_ref.shape).astype(dtype)
    if dtype == np.float64:
        tolerances = dict(rtol=1e-10, atol=1e-10)
    else:
        tolerances = dict(rtol=1e-4, atol=1e-5 * np.sqrt(max(w[0].size, grad_y[:, 0].size)))
    y = cpu_conv.conv2d_forward(x, w, b, *geometry)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, y_ref, **tolerances)
    want = ref_conv.conv2d_backward(x64, w64, grad_y.astype(np.float64), *geometry, True, True, True)
    for got, expected in zip(cpu_conv.conv2d_backward(x, w, grad_y, *geometry, True, True, True), want):
        assert got.dtype == dtype and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, **tolerances)
    only_bias = cpu_conv.conv2d_backward(x, w, grad_y, *geometry, False, False, True)
    assert only_bias[0] is None and only_bias[1] is None
    np.testing.assert_allclose(only_bias[2], want[2], **tolerances)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("store_cost", [0.0, 1e9], ids=["channel-tiles", "row-tiles"])
def test_conv2d_cpu_row_tiles_and_channel_tiles_match_reference(monkeypatch, store_cost, dtype):
    """Both tilings of the implicit GEMM (forward and grad_x): a store cost of 0 makes `_correlate` always take
    channel tiles, a huge one row tiles whenever the stride is 1. Rows of 37 (more than one tile of NR = 32
    positions per row, the last tile reading past the image), 5 channels per group (ragged MR and NR tiles),
    dilation, asymmetric padding; rows of 9 in a padded width of 11, so the second tile starts in a row's
    dropped columns; then a strided case, which always takes channel tiles."""
    monkeypatch.setattr(cpu_conv, "CHANNEL_TILES_STORE_COST", store_cost)
    rng = np.random.default_rng(5)
    for x_shape, w_shape, geometry in [((2, 6, 9, 37), (10, 3, 3, 2), ((1, 1), (1, 2), (2, 1), 2)),
                                       ((2, 2, 4, 9), (3, 2, 3, 3), ((1, 1), (1, 1), (1, 1), 1)),
                                       ((3, 2, 8, 11), (3, 2, 3, 3), ((2, 3), (1, 1), (1, 1), 1))]:
        x = rng.standard_normal(x_shape).astype(dtype)
        w = rng.standard_normal(w_shape).astype(dtype)
        b = rng.standard_normal(w_shape[0]).astype(dtype)
        _assert_cpu_matches_reference(x, w, b, geometry, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_cpu_row_tiles_store_whole_padded_rows_without_clobbering(monkeypatch, dtype):
    """Row tiles copy each output row to the end of its padded width, the dropped columns landing on later rows
    of the same plane. Widths 14 and 28 (padded to 16 and 32: whole rows per tile), 13 (15 -> 16 with more than
    one row per tile), and padded rows two to three times the output width (W_out = 1 in Wp = 3; W_out = 2 in
    Wp = 6 with dilation 2), where a row's dropped columns reach past the next row, up to the plane's end;
    forward and grad_x (the grad_x correlation takes row tiles too), channels that cross MR."""
    monkeypatch.setattr(cpu_conv, "CHANNEL_TILES_STORE_COST", 1e9)
    rng = np.random.default_rng(8)
    for x_shape, w_shape, geometry in [((2, 2, 5, 14), (9, 2, 3, 3), ((1, 1), (1, 1), (1, 1), 1)),
                                       ((1, 1, 4, 28), (3, 1, 3, 3), ((1, 1), (1, 1), (1, 1), 1)),
                                       ((2, 3, 6, 13), (4, 3, 3, 3), ((1, 1), (1, 1), (1, 1), 1)),
                                       ((2, 3, 5, 1), (10, 3, 3, 3), ((1, 1), (1, 1), (1, 1), 1)),
                                       ((2, 2, 4, 2), (3, 2, 3, 3), ((1, 1), (2, 2), (2, 2), 1))]:
        x = rng.standard_normal(x_shape).astype(dtype)
        w = rng.standard_normal(w_shape).astype(dtype)
        b = rng.standard_normal(w_shape[0]).astype(dtype)
        _assert_cpu_matches_reference(x, w, b, geometry, rng)


def test_conv2d_cpu_crosses_tile_panel_and_block_edges():
    """70 output channels (three panels of NR = 32, nine tiles of MR = 8, both ragged), CK = 45 taps (ragged tap
    tiles in grad_w), 2·17·19 = 646 positions (grad_w's reduction crosses blocks of KC = 128); float64."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 5, 17, 19))
    w = rng.standard_normal((70, 5, 3, 3))
    _assert_cpu_matches_reference(x, w, rng.standard_normal(70), ((1, 1), (1, 1), (1, 1), 1), rng)


@pytest.mark.parametrize("module", [cpu_conv, ref_conv], ids=["cpu", "reference"])
def test_conv2d_rejects_bad_inputs_with_the_kernel_name(module):
    x = np.ones((1, 4, 5, 5), np.float32)
    w = np.ones((6, 2, 3, 3), np.float32)
    ok = ((1, 1), (1, 1), (1, 1))
    with pytest.raises(TypeError, match="conv2d_forward"):
        module.conv2d_forward(x, w.astype(np.float64), None, *ok, 2)
    with pytest.raises(ValueError, match="conv2d_forward"):
        module.conv2d_forward(x, w, None, *ok, 1)  # C_in/groups mismatch
    with pytest.raises(ValueError, match="conv2d_forward"):
        module.conv2d_forward(x, w, np.ones(5, np.float32), *ok, 2)
    with pytest.raises(TypeError, match="conv2d_forward"):
        module.conv2d_forward(x, w, None, 1, (1, 1), (1, 1), 2)
    with pytest.raises(ValueError, match="conv2d_forward"):
        module.conv2d_forward(x, np.ones((6, 2, 9, 9), np.float32), None, (1, 1), (0, 0), (1, 1), 2)
    with pytest.raises(ValueError, match="conv2d_backward"):
        module.conv2d_backward(x, w, np.ones((1, 6, 4, 4), np.float32), *ok, 2, True, True, True)


@pytest.mark.parametrize("store_cost", [0.0, 1e9], ids=["channel-tiles", "row-tiles"])
def test_conv2d_op_gradcheck_in_float64_on_both_tilings(monkeypatch, store_cost):
    """The Conv2d op on the cpu kernels, through autograd: float64 finite differences against a random
    cotangent, for x, w and b, with each tiling of the implicit GEMM forced (a row of 34: two row tiles)."""
    import tinygrad_edu as tg
    from tinygrad_edu.nn import functional as F

    monkeypatch.setattr(cpu_conv, "CHANNEL_TILES_STORE_COST", store_cost)
    rng = np.random.default_rng(7)
    inputs = [tg.Tensor(rng.standard_normal(shape), requires_grad=True)
              for shape in ((2, 4, 3, 34), (6, 2, 3, 2), (6,))]
    with tg.set_backend("cpu"):
        assert tg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, 1, (1, 0), (1, 2), 2), *inputs)


@pytest.mark.parametrize("store_cost", [0.0, 1e9], ids=["channel-tiles", "row-tiles"])
def test_conv2d_cpu_parallel_tile_kernels_give_each_part_its_own_scratch(monkeypatch, store_cost):
    """The parallel variants, each part of the tasks placing its images in its own row of scratch: 5 images of
    8x8 (shares of unequal size) with groups (the row tiles place one group's planes at a time, grad_b sums each
    once), 70 images of 4x4 (grad_w's blocks of 8 images, the last one short), 2 images of 3x3 (runs split each
    image, every run placing it again, and grad_b summed once)."""
    monkeypatch.setattr(cpu_conv, "CHANNEL_TILES_STORE_COST", store_cost)
    monkeypatch.setattr(cpu_conv, "SERIAL_MAX_WORK", 0)
    rng = np.random.default_rng(11)
    for x_shape, w_shape, geometry in [((5, 4, 8, 8), (12, 2, 3, 3), ((1, 1), (1, 1), (1, 1), 2)),
                                       ((70, 3, 4, 4), (9, 3, 3, 3), ((1, 1), (1, 1), (1, 1), 1)),
                                       ((2, 6, 3, 3), (40, 6, 3, 3), ((1, 1), (1, 1), (1, 1), 1))]:
        x = rng.standard_normal(x_shape).astype(np.float32)  # float32: the variants the other tests compile
        w = rng.standard_normal(w_shape).astype(np.float32)
        b = rng.standard_normal(w_shape[0]).astype(np.float32)
        _assert_cpu_matches_reference(x, w, b, geometry, rng)


@pytest.mark.parametrize("parallel, dtype", [(False, np.float32), (False, np.float64), (True, np.float32)])
def test_conv2d_cpu_row_tiles_split_an_image_between_tasks_without_clobbering(monkeypatch, parallel, dtype):
    """With few images the row tiles split each image's positions into runs, one task each: a row's dropped
    columns must stop where the next run starts (they would overwrite values another task wrote). Runs end at
    multiples of NR = 32 padded positions; rows of Wp = 23 with 10 dropped columns (dilation 5) cross that end,
    and rows of Wp = 3 holding W_out = 1 drop columns that reach two rows on; forward and grad_x. Only threads
    running the runs out of order can show a clobber, so the parallel variant is checked too."""
    monkeypatch.setattr(cpu_conv, "CHANNEL_TILES_STORE_COST", 1e9)
    if parallel:
        monkeypatch.setattr(cpu_conv, "SERIAL_MAX_WORK", 0)
    rng = np.random.default_rng(9)
    for x_shape, w_shape, geometry in [((1, 2, 20, 21), (8, 2, 3, 3), ((1, 1), (1, 1), (1, 5), 1)),
                                       ((1, 3, 40, 1), (9, 3, 3, 3), ((1, 1), (1, 1), (1, 1), 1))]:
        x = rng.standard_normal(x_shape).astype(dtype)
        w = rng.standard_normal(w_shape).astype(dtype)
        b = rng.standard_normal(w_shape[0]).astype(dtype)
        _assert_cpu_matches_reference(x, w, b, geometry, rng)
