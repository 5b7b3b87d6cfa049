"""conv2d for few taps per output on the CPU in Numba: forward and weight gradient as vector loops over positions.

A first layer sees grey or RGB images, so each output has few taps (CK = Cg·KH·KW = 9 for one input channel
and a 3x3 kernel). There kernels/cpu/conv.py's tiles waste most of their work: the row tiles' multiply-add loop
runs 9 steps per tile, so setting up and storing each tile costs more than computing it, and the weight
gradient's tile puts MR = 8 taps on its rows (at 9 taps it computes 16) and reads grad_y in channels-last
order, a transposing copy that took as long as the products. Here, for stride 1 down the rows, x is copied once
per kernel column j into shifted planes,

    shifted_j[n, c, h, q] = x_pad[n, c, h, q·sw + j·dw]   for q < W_out,

so that tap (c, i, j) of output position l = p·W_out + q is value l + i·dh·W_out of plane (c, j): along the
positions every operand is contiguous, and both passes are vector loops over VL positions at a time:

    y[n, o, l]         = Σ_{c,i,j} w[o, c, i, j] · shifted_j[n, c, l + i·dh·W_out] + b[o] · 1
    grad_w[o, c, i, j] = Σ_{n,l} grad_y[n, o, l] · shifted_j[n, c, l + i·dh·W_out]
    grad_b[o]          = Σ_{n,l} grad_y[n, o, l] · 1

The bias is one more "tap": a plane of ones, with weight b in the forward, and gradient Σ grad_y in the same
pass as grad_w. Both loop nests:

    for part in prange(threads):                      # its own images and scratch (and grad_w accumulator)
        for each block of images:                     # their shifted copies (scratch) stay in L2
            copy x into shifted planes                  `_pack_shifted_rows`
            forward (`_correlate_taps_part`), for each (image, group, 8 channels, VL positions):
                8 vector accumulators; per tap 1 vector load, 8 broadcast weights, 8 fused multiply-adds;
                then 8 contiguous stores into the output rows
            grad_w (`_weight_grad_taps_part`), for each (group, 4 channels, 4 taps):
                16 vector accumulators; for n in the block, l in 0..L step VL: 4 + 4 vector loads,
                16 fused multiply-adds; then the lanes summed into grad_w

Why it is fast where kernels/cpu/conv.py uses it (CK <= 32, H_out·W_out a multiple of VL: 28·28 = 49·16,
work enough): no tile set-up per 9 taps, no transposed copy, no lanes or taps wasted, the output stored as
whole vectors of its rows, grad_b for free. 1 -> 32 channels at 28x28, batch 64, one thread: forward 0.3x and
grad_w + grad_b 0.3x the general tiles' time. Past a few taps it loses: per 16 vector multiply-adds the
weight gradient loads 8 vectors, the register tile of kernels/cpu/register_tiles.py 2 vectors and 8 scalars.
NUMBA_DISABLE_JIT=1 runs it as plain Python (`_new_vector` is then a NumPy array).
"""
import numpy as np
from numba import carray, config, njit, prange

from kernels.cpu.register_tiles import stack_array, use_512_bit_vectors

VL = 16  # lanes of the accumulators: one 512-bit register of float32
TAPS_SCRATCH_VALUES = 1 << 16  # values of shifted copies per thread (256 KiB of float32: they stay in L2)
_stack_vector = stack_array(VL)


@njit(inline="always")
def _new_vector(like):
    """VL uninitialised values of like's dtype on the stack of the calling function (LLVM keeps one in a
    register when its uses are written out, as in `_weight_grad_taps_part`)."""
    return carray(_stack_vector(like), VL)


if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: the stack arrays need the JIT; the same contract in NumPy
    def _new_vector(like):  # noqa: F811
        return np.empty(VL, like.dtype)


@njit(cache=True)
def _pack_shifted_rows(x, n, ph, pw, sw, dw, hp, w_out, block):
    """block[((c·KW + j)·Hp + h)·W_out + q] = x_pad[n, c, h, q·sw + j·dw] for the values inside x; block holds
    zeros everywhere else from the start (the padding is the same for every image, so only x is copied)."""
    c_in, height, width = x.shape[1], x.shape[2], x.shape[3]
    kw = (block.shape[0] // (hp * w_out) - 1) // c_in
    x_flat = x.reshape(-1)
    for c in range(c_in):
        for j in range(kw):
            # the q whose column q·sw + j·dw - pw lies inside x
            q_lo = max(0, (pw - j * dw + sw - 1) // sw)
            q_hi = min(w_out, max(q_lo, (width - 1 + pw - j * dw) // sw + 1))
            for h in range(height):
                target = np.uint64(((c * kw + j) * hp + h + ph) * w_out + q_lo)
                source = np.uint64(((n * c_in + c) * height + h) * width + q_lo * sw + j * dw - pw)
                # unsigned indices: the copy loop vectorizes (no negative-index checks)
                for q in range(np.uint64(q_hi - q_lo)):
                    block[target + q] = x_flat[source + q * np.uint64(sw)]


@njit(fastmath=True, cache=True)
def _weight_grad_taps_part(x, grad_y, taps, ph, pw, sw, dw, hp, w_out, images_per_block, first_image, end_image,
                           shifted, acc):
    """acc[o, k] += Σ over the images n in [first_image, end_image) and positions l of
    grad_y[n, o, l] · shifted[n, taps[g, k] + l]: one part of `_weight_grad_taps_body`, with its own scratch
    `shifted` and accumulator acc (C_out, CK + 1)."""
    use_512_bit_vectors()
    c_out, positions = grad_y.shape[1], grad_y.shape[2]
    groups, n_taps = taps.shape
    c_out_per_group = c_out // groups
    block_size = (shifted.shape[0] - VL) // images_per_block
    grad_flat = grad_y.reshape(-1)
    vl = np.uint64(VL)
    for n0 in range(first_image, end_image, images_per_block):
        n_images = min(images_per_block, end_image - n0)
        for n in range(n_images):
            _pack_shifted_rows(x, n0 + n, ph, pw, sw, dw, hp, w_out, shifted[n * block_size:(n + 1) * block_size])
        for g in range(groups):
            for o0 in range(0, c_out_per_group, 4):
                for t0 in range(0, n_taps, 4):
                    # rows past the group's channels or taps repeat the last one (no branch in the loop) and
                    # are not added to acc
                    tap0 = taps[g, t0]
                    tap1 = taps[g, min(t0 + 1, n_taps - 1)]
                    tap2 = taps[g, min(t0 + 2, n_taps - 1)]
                    tap3 = taps[g, min(t0 + 3, n_taps - 1)]
                    channel0 = g * c_out_per_group + o0
                    channel1 = g * c_out_per_group + min(o0 + 1, c_out_per_group - 1)
                    channel2 = g * c_out_per_group + min(o0 + 2, c_out_per_group - 1)
                    channel3 = g * c_out_per_group + min(o0 + 3, c_out_per_group - 1)
                    c00 = _new_vector(grad_y)
                    c01 = _new_vector(grad_y)
                    c02 = _new_vector(grad_y)
                    c03 = _new_vector(grad_y)
                    c10 = _new_vector(grad_y)
                    c11 = _new_vector(grad_y)
                    c12 = _new_vector(grad_y)
                    c13 = _new_vector(grad_y)
                    c20 = _new_vector(grad_y)
                    c21 = _new_vector(grad_y)
                    c22 = _new_vector(grad_y)
                    c23 = _new_vector(grad_y)
                    c30 = _new_vector(grad_y)
                    c31 = _new_vector(grad_y)
                    c32 = _new_vector(grad_y)
                    c33 = _new_vector(grad_y)
                    for j in range(VL):
                        c00[j] = c01[j] = c02[j] = c03[j] = 0
                        c10[j] = c11[j] = c12[j] = c13[j] = 0
                        c20[j] = c21[j] = c22[j] = c23[j] = 0
                        c30[j] = c31[j] = c32[j] = c33[j] = 0
                    for n in range(n_images):
                        # unsigned offsets: no negative-index checks in the vector loop
                        image = (n0 + n) * c_out
                        g0 = np.uint64((image + channel0) * positions)
                        g1 = np.uint64((image + channel1) * positions)
                        g2 = np.uint64((image + channel2) * positions)
                        g3 = np.uint64((image + channel3) * positions)
                        x0 = np.uint64(n * block_size) + tap0
                        x1 = np.uint64(n * block_size) + tap1
                        x2 = np.uint64(n * block_size) + tap2
                        x3 = np.uint64(n * block_size) + tap3
                        for l in range(np.uint64(0), np.uint64(positions), vl):
                            for j in range(vl):
                                a0 = grad_flat[g0 + l + j]
                                a1 = grad_flat[g1 + l + j]
                                a2 = grad_flat[g2 + l + j]
                                a3 = grad_flat[g3 + l + j]
                                b0 = shifted[x0 + l + j]
                                b1 = shifted[x1 + l + j]
                                b2 = shifted[x2 + l + j]
                                b3 = shifted[x3 + l + j]
                                c00[j] += a0 * b0
                                c01[j] += a0 * b1
                                c02[j] += a0 * b2
                                c03[j] += a0 * b3
                                c10[j] += a1 * b0
                                c11[j] += a1 * b1
                                c12[j] += a1 * b2
                                c13[j] += a1 * b3
                                c20[j] += a2 * b0
                                c21[j] += a2 * b1
                                c22[j] += a2 * b2
                                c23[j] += a2 * b3
                                c30[j] += a3 * b0
                                c31[j] += a3 * b1
                                c32[j] += a3 * b2
                                c33[j] += a3 * b3
                    sums = _new_vector(grad_y)  # sums[r·4 + t]: the lanes of c[r][t] added
                    for j in range(VL):
                        sums[j] = 0
                    for j in range(VL):
                        sums[0] += c00[j]
                        sums[1] += c01[j]
                        sums[2] += c02[j]
                        sums[3] += c03[j]
                        sums[4] += c10[j]
                        sums[5] += c11[j]
                        sums[6] += c12[j]
                        sums[7] += c13[j]
                        sums[8] += c20[j]
                        sums[9] += c21[j]
                        sums[10] += c22[j]
                        sums[11] += c23[j]
                        sums[12] += c30[j]
                        sums[13] += c31[j]
                        sums[14] += c32[j]
                        sums[15] += c33[j]
                    for r in range(min(4, c_out_per_group - o0)):
                        for t in range(min(4, n_taps - t0)):
                            acc[channel0 + r, t0 + t] += sums[r * 4 + t]


def _weight_grad_taps_body(x, grad_y, taps, ph, pw, sw, dw, hp, w_out, images_per_block, scratch, acc):
    """acc[part, o, k] = Σ over the part's images n and positions l of grad_y[n, o, l] · shifted[n, taps[g, k] + l]

    The loop nest of the module docstring. x (N, C_in, H, W); grad_y (N, C_out, L), L a multiple of VL; taps
    (G, CK + 1): offsets of tap (c, i, j) into an image's shifted planes (C_in·KW of them, Hp·W_out values each)
    and, last, of the plane of ones; scratch (parts, images_per_block · (C_in·KW + 1)·Hp·W_out + VL) zeros with
    the ones planes set; acc (parts, C_out, CK + 1) zeroed. A part's loops are their own compiled function
    (`_weight_grad_taps_part`): written inside the prange body, Numba's parallel lowering kept LLVM from holding
    the accumulators in registers (it ran 2.4x slower on one thread).
    """
    n_batch = grad_y.shape[0]
    n_parts = acc.shape[0]
    for part in prange(n_parts):
        _weight_grad_taps_part(x, grad_y, taps, ph, pw, sw, dw, hp, w_out, images_per_block,
                               part * n_batch // n_parts, (part + 1) * n_batch // n_parts, scratch[part], acc[part])


# only a parallel variant: kernels/cpu/conv.py calls it from TAPS_PATH_MIN_WORK multiply-adds, where its tile
# kernels run in parallel too
_weight_grad_taps_parallel = njit(parallel=True, fastmath=True, cache=True)(_weight_grad_taps_body)


@njit(fastmath=True, cache=True)
def _correlate_taps_part(x, weights, taps, ph, pw, sw, dw, hp, w_out, images_per_block, first_image, end_image,
                         shifted, y):
    """y[n, o, l] = Σ_k weights[o, k] · shifted[n, taps[g, k] + l] for the images n in [first_image, end_image):
    one part of `_correlate_taps_body`, with its own scratch `shifted`. The last tap is the plane of ones, and its
    weight the bias."""
    use_512_bit_vectors()
    c_out, positions = y.shape[1], y.shape[2]
    groups, n_taps = taps.shape
    c_out_per_group = c_out // groups
    block_size = (shifted.shape[0] - VL) // images_per_block
    y_flat = y.reshape(-1)
    for n0 in range(first_image, end_image, images_per_block):
        n_images = min(images_per_block, end_image - n0)
        for n in range(n_images):
            _pack_shifted_rows(x, n0 + n, ph, pw, sw, dw, hp, w_out, shifted[n * block_size:(n + 1) * block_size])
        for n in range(n_images):
            image = np.uint64(n * block_size)
            for g in range(groups):
                for o0 in range(0, c_out_per_group, 8):
                    # 8 channels × VL positions; past the group's last channel, rows repeat it: they compute its
                    # values again, in the same order, and store the same numbers on its plane
                    last = c_out_per_group - 1
                    row0 = g * c_out_per_group + o0
                    row1 = g * c_out_per_group + min(o0 + 1, last)
                    row2 = g * c_out_per_group + min(o0 + 2, last)
                    row3 = g * c_out_per_group + min(o0 + 3, last)
                    row4 = g * c_out_per_group + min(o0 + 4, last)
                    row5 = g * c_out_per_group + min(o0 + 5, last)
                    row6 = g * c_out_per_group + min(o0 + 6, last)
                    row7 = g * c_out_per_group + min(o0 + 7, last)
                    image_out = (n0 + n) * c_out
                    for l in range(np.uint64(0), np.uint64(positions), np.uint64(VL)):
                        c0 = _new_vector(y)
                        c1 = _new_vector(y)
                        c2 = _new_vector(y)
                        c3 = _new_vector(y)
                        c4 = _new_vector(y)
                        c5 = _new_vector(y)
                        c6 = _new_vector(y)
                        c7 = _new_vector(y)
                        for j in range(VL):
                            c0[j] = c1[j] = c2[j] = c3[j] = c4[j] = c5[j] = c6[j] = c7[j] = 0
                        for k in range(n_taps):
                            source = image + taps[g, k] + l
                            a0 = weights[row0, k]
                            a1 = weights[row1, k]
                            a2 = weights[row2, k]
                            a3 = weights[row3, k]
                            a4 = weights[row4, k]
                            a5 = weights[row5, k]
                            a6 = weights[row6, k]
                            a7 = weights[row7, k]
                            for j in range(np.uint64(VL)):
                                value = shifted[source + j]
                                c0[j] += a0 * value
                                c1[j] += a1 * value
                                c2[j] += a2 * value
                                c3[j] += a3 * value
                                c4[j] += a4 * value
                                c5[j] += a5 * value
                                c6[j] += a6 * value
                                c7[j] += a7 * value
                        for j in range(np.uint64(VL)):  # 8 pieces of output rows, VL values each
                            y_flat[np.uint64((image_out + row0) * positions) + l + j] = c0[j]
                            y_flat[np.uint64((image_out + row1) * positions) + l + j] = c1[j]
                            y_flat[np.uint64((image_out + row2) * positions) + l + j] = c2[j]
                            y_flat[np.uint64((image_out + row3) * positions) + l + j] = c3[j]
                            y_flat[np.uint64((image_out + row4) * positions) + l + j] = c4[j]
                            y_flat[np.uint64((image_out + row5) * positions) + l + j] = c5[j]
                            y_flat[np.uint64((image_out + row6) * positions) + l + j] = c6[j]
                            y_flat[np.uint64((image_out + row7) * positions) + l + j] = c7[j]


def _correlate_taps_body(x, weights, taps, ph, pw, sw, dw, hp, w_out, images_per_block, scratch, y):
    """y[n, o, l] = Σ_k weights[o, k] · shifted[n, taps[g, k] + l]: conv2d's forward for few taps, the same
    shifted planes as the weight gradient, vectors over VL positions and 8 output channels per tile (8
    accumulators; per tap, one vector load and 8 broadcast weights), each tile stored as 8 contiguous
    pieces of output rows. x (N, C_in, H, W), weights (C_out, CK + 1) with the bias last, y (N, C_out, L)."""
    n_batch = y.shape[0]
    n_parts = scratch.shape[0]
    for part in prange(n_parts):
        _correlate_taps_part(x, weights, taps, ph, pw, sw, dw, hp, w_out, images_per_block,
                             part * n_batch // n_parts, (part + 1) * n_batch // n_parts, scratch[part], y)


_correlate_taps_parallel = njit(parallel=True, fastmath=True, cache=True)(_correlate_taps_body)


def _taps_and_scratch(x, w_shape, h_out, w_out, padding, dilation, groups):
    """-> (taps, images_per_block, scratch, n_parts) for the kernels here: taps[g, (c·KH + i)·KW + j] = start of
    row i·dh of shifted plane (g·Cg + c, j) in an image's block, and taps[g, CK] = the plane of ones; scratch
    (n_parts, images_per_block blocks + VL) zeros with the ones planes set."""
    n_batch, c_in, height = x.shape[0], x.shape[1], x.shape[2]
    c_per_group, kh, kw = w_shape[1], w_shape[2], w_shape[3]
    hp = height + 2 * padding[0]
    plane = hp * w_out
    c = np.arange(c_per_group)[:, None, None]
    i = np.arange(kh)[None, :, None]
    j = np.arange(kw)[None, None, :]
    g = np.arange(groups)[:, None, None, None]
    taps = np.empty((groups, c_per_group * kh * kw + 1), dtype=np.uint64)
    taps[:, :-1] = ((((g * c_per_group + c) * kw + j) * plane + i * dilation[0] * w_out)).reshape(groups, -1)
    taps[:, -1] = c_in * kw * plane
    block_size = (c_in * kw + 1) * plane
    n_parts = config.NUMBA_NUM_THREADS
    images_per_block = max(1, min(-(-n_batch // n_parts), TAPS_SCRATCH_VALUES // block_size))
    scratch = np.zeros((n_parts, images_per_block * block_size + VL), dtype=x.dtype)
    planes = scratch[:, :images_per_block * block_size].reshape(n_parts, images_per_block, c_in * kw + 1, plane)
    planes[:, :, -1, :h_out * w_out] = 1  # the bias "tap"
    return taps, images_per_block, scratch, n_parts


def weight_grad_by_taps(x, w_shape, grad_y, stride, padding, dilation, groups):
    """(grad_w (C_out, Cg, KH, KW), grad_b (C_out,)) of conv2d for upstream grad_y (N, C_out, H_out, W_out), by
    `_weight_grad_taps_body`: for stride 1 down the rows and H_out·W_out a multiple of VL (the caller checks).

    >>> import numpy as np
    >>> x = np.ones((1, 1, 4, 4), np.float32); grad_y = np.ones((1, 2, 4, 4), np.float32)
    >>> grad_w, grad_b = weight_grad_by_taps(x, (2, 1, 3, 3), grad_y, (1, 1), (1, 1), (1, 1), 1)
    >>> grad_w[0, 0], grad_b
    (array([[ 9., 12.,  9.],
           [12., 16., 12.],
           [ 9., 12.,  9.]], dtype=float32), array([16., 16.], dtype=float32))
    """
    n_batch, c_out, h_out, w_out = grad_y.shape
    taps, images_per_block, scratch, n_parts = _taps_and_scratch(x, w_shape, h_out, w_out, padding, dilation, groups)
    acc = np.zeros((n_parts, c_out, taps.shape[1]), dtype=x.dtype)
    _weight_grad_taps_parallel(np.ascontiguousarray(x), grad_y.reshape(n_batch, c_out, h_out * w_out), taps,
                               padding[0], padding[1], stride[1], dilation[1], x.shape[2] + 2 * padding[0], w_out,
                               images_per_block, scratch, acc)
    total = acc.sum(axis=0) if n_parts > 1 else acc[0]
    return np.ascontiguousarray(total[:, :-1]).reshape(w_shape), total[:, -1].copy()


def correlate_by_taps(x, w, b, stride, padding, dilation, groups, y):
    """y (N, C_out, H_out, W_out) = conv2d(x, w) + b by `_correlate_taps_body`, for stride 1 down the rows and
    H_out·W_out a multiple of VL (the caller checks); returns y.

    >>> import numpy as np
    >>> x = np.ones((1, 1, 4, 4), np.float32); w = np.ones((1, 1, 3, 3), np.float32)
    >>> correlate_by_taps(x, w, None, (1, 1), (1, 1), (1, 1), 1, np.empty((1, 1, 4, 4), np.float32))[0, 0, 1]
    array([6., 9., 9., 6.], dtype=float32)
    """
    n_batch, c_out, h_out, w_out = y.shape
    taps, images_per_block, scratch, n_parts = _taps_and_scratch(x, w.shape, h_out, w_out, padding, dilation, groups)
    weights = np.empty((c_out, taps.shape[1]), dtype=x.dtype)  # [o, k] = w[o, k], and the bias as the ones' weight
    weights[:, :-1] = w.reshape(c_out, -1)
    weights[:, -1] = 0 if b is None else b
    _correlate_taps_parallel(np.ascontiguousarray(x), weights, taps, padding[0], padding[1], stride[1], dilation[1],
                             x.shape[2] + 2 * padding[0], w_out, images_per_block, scratch,
                             y.reshape(n_batch, c_out, h_out * w_out))
    return y
