"""2-D convolution on the CPU in Numba: im2col + our own packed GEMM (kernels/cpu/matmul.py), for every layer.

Shapes: x (N, C_in, H, W), w (C_out, C_in/G, KH, KW), y (N, C_out, H_out, W_out); G = groups, Cg = C_in/G,
Cog = C_out/G, CK = Cg*KH*KW, L = H_out*W_out.

    forward:  cols (G, CK, N*L) = im2col(x)                       _im2col, prange over the G*CK rows
              y2   (G, Cog, N*L) = w (G, Cog, CK) @ cols           packed GEMM, prange over output tiles
              y[n, g*Cog + o, l] = y2[g, o, n*L + l] + b           _unfold_output, prange over (n, channel)
    backward: grad_w (G, Cog, CK) = gy_rows (G, Cog, N*L) . cols (G, CK, N*L), row by row: _weight_grad
              (dots, prange over (g, 4 channels)) below DOT_MAX_WORK, else the GEMM cols @ gy_rows^T
              grad_b = gy_rows summed over its last axis                  in _weight_grad too
              grad_cols (G, CK, N*L) = w^T (G, CK, Cog) @ grad_y (G, Cog, N*L)
              grad_x = col2im(grad_cols)                          _col2im, prange over (n, channel) planes, so
                                                                  the scatter-add has no races

Why im2col + GEMM and not direct loops, by measurement on the 2-core box (benchmarks/bench_kernels.py has the
figures): every FLOP of a convolution becomes a FLOP of the GEMM, which runs at 200-300 GFLOP/s, while the
im2col copy costs one pass over CK*N*L values. For the deep layer 32->64 at 14x14 (batch 64) that copy is a small
fraction of the time. PERF.md reports a direct loop beating PyTorch on a 1-channel first layer at 28x28; on this
project's first layer (1->16 at 8x8, batch 64) the whole convolution is ~1 MFLOP and the time is call overhead,
so one code path is kept (simpler to read and test); a direct-loop path is the next step if profiles show it.
"""
import numpy as np
from numba import prange

from kernels.cpu.matmul import matmul
from kernels.cpu.variants import serial_and_parallel
from kernels.reference.conv import check_conv_grad_y, check_conv_inputs

# Elements of cols / grad_cols / y below which im2col, col2im and the output unfold run their serial variant
# (kernels/cpu/variants.py). Measured im2col, float32, batch 64, 3x3, median µs serial / parallel:
#   1->16 at 8x8 (37k): 24 serial (parallel ≈12 ms under load);  16->32 at 4x4 (147k): 129 / 60;
#   16->32 at 8x8 (590k): 368 serial;  32->64 at 14x14 (3.6M): 2272 serial.
SERIAL_MAX_SIZE = 1 << 17
# Multiply-adds of _weight_grad (Cog*N*L*(CK + 1)) below which it runs serial. Measured, float32, batch 64,
# 3x3, median µs serial / parallel: 1->16 at 8x8 (655k) ≈15 serial; 16->32 at 4x4 (4.8M) 167 / 95 alone --
# but inside the toy ConvNet's train step the parallel call made the whole step 1.85 ms instead of 1.19 (median
# of 15 x 20 steps, quiet machine; the other kernels of the step slowed down after it), so it stays serial.
SERIAL_MAX_WORK = 1 << 23
# _weight_grad's dots beat the GEMM (CK, N*L) @ (N*L, Cog) while there are few output tiles; from DOT_MAX_WORK
# on, the packed GEMM takes over. Measured, float32, batch 64, median µs dots / GEMM (incl. its transpose):
#   1->16 at 8x8 (655k) 15 / 125;  16->32 at 4x4 (4.8M) 86 / 110;  32->64 at 14x14 (232M) 5900 / 4256.
DOT_MAX_WORK = 1 << 25


def _im2col_body(x, cols, kh_count, kw_count, sh, sw, ph, pw, dh, dw, h_out, w_out):
    """cols[g, (c*KH + i)*KW + j, n*L + p*W_out + q] = x[n, g*Cg + c, p*sh - ph + i*dh, q*sw - pw + j*dw] (0 outside).

    One task per row of cols: it writes N*L contiguous values.
    """
    n_batch, channels, height, width = x.shape
    groups = cols.shape[0]
    ck = cols.shape[1]
    c_per_group = channels // groups
    positions = h_out * w_out
    for task in prange(groups * ck):
        g = task // ck
        r = task % ck
        c = r // (kh_count * kw_count)
        i = (r // kw_count) % kh_count
        j = r % kw_count
        channel = g * c_per_group + c
        for n in range(n_batch):
            for p in range(h_out):
                ih = p * sh - ph + i * dh
                base = n * positions + p * w_out
                if ih < 0 or ih >= height:
                    for q in range(w_out):
                        cols[g, r, base + q] = 0
                else:
                    for q in range(w_out):
                        iw = q * sw - pw + j * dw
                        if iw >= 0 and iw < width:
                            cols[g, r, base + q] = x[n, channel, ih, iw]
                        else:
                            cols[g, r, base + q] = 0


_im2col_serial, _im2col_parallel = serial_and_parallel(_im2col_body)


def _col2im_body(grad_cols, grad_x, kh_count, kw_count, sh, sw, ph, pw, dh, dw, h_out, w_out):
    """grad_x[n, ch, ih, iw] += grad_cols[g, (c*KH + i)*KW + j, n*L + p*W_out + q], the adjoint of _im2col.

    One task per (n, channel) plane: overlapping windows add into the same plane from the same thread.
    grad_x must be zeroed.
    """
    n_batch, channels, height, width = grad_x.shape
    groups = grad_cols.shape[0]
    c_per_group = channels // groups
    positions = h_out * w_out
    for task in prange(n_batch * channels):
        n = task // channels
        channel = task % channels
        g = channel // c_per_group
        c = channel % c_per_group
        for i in range(kh_count):
            for j in range(kw_count):
                r = (c * kh_count + i) * kw_count + j
                for p in range(h_out):
                    ih = p * sh - ph + i * dh
                    if ih < 0 or ih >= height:
                        continue
                    base = n * positions + p * w_out
                    for q in range(w_out):
                        iw = q * sw - pw + j * dw
                        if iw >= 0 and iw < width:
                            grad_x[n, channel, ih, iw] += grad_cols[g, r, base + q]


_col2im_serial, _col2im_parallel = serial_and_parallel(_col2im_body)


def _unfold_output_body(y2, bias, use_bias, y):
    """y[n, g*Cog + o, l] = y2[g, o, n*L + l] + bias[g*Cog + o]; one task per (n, output channel).

    The copy goes through 1-D slices (`source`, `target`): a plain loop over l vectorises then, where the
    3-D indexing of the old loop did not (30 µs -> 9 at 1->16 8x8 b64). The shift has the arrays' dtype
    (`bias[channel] * 0`, not a Python 0, which would widen the sum to float64).
    """
    n_batch, c_out, positions = y.shape
    c_out_per_group = y2.shape[1]
    for task in prange(n_batch * c_out):
        n = task // c_out
        channel = task % c_out
        g = channel // c_out_per_group
        o = channel % c_out_per_group
        shift = bias[channel] if use_bias else bias[0] * 0
        source = y2[g, o, n * positions:(n + 1) * positions]
        target = y[n, channel]
        for l in range(positions):
            target[l] = source[l] + shift


_unfold_output_serial, _unfold_output_parallel = serial_and_parallel(_unfold_output_body)


def _weight_grad_body(gy_rows, cols, grad_w, grad_b):
    """grad_w[g, o, r] = Σ_m gy_rows[g, o, m] · cols[g, r, m];  grad_b[g*Cog + o] = Σ_m gy_rows[g, o, m]

    gy_rows (G, Cog, N*L) = grad_y regrouped by channel, cols (G, CK, N*L), grad_w (G, Cog, CK), grad_b (C_out,).

        for (g, o0) in prange(G × blocks of 4 output channels):
            for r < CK:  four dot products over m < N*L that share each load of cols[g, r, m]

    Why not a GEMM: the output is tiny (Cog x CK: 16 x 9 for the toy first layer) and the reduction long
    (N*L = 4096), so a GEMM has too few output tiles to keep busy; here every inner loop is a contiguous,
    vectorised dot (`fastmath` reassociates the sums) and four output channels share each load of cols.
    Measured at 1->16 8x8 b64: ≈15 µs against 125 for the old (CK, N*L) @ (N*L, Cog) product. Rows past
    Cog are clamped: they recompute (and rewrite) the last channel.
    """
    groups, c_out_per_group, length = gy_rows.shape
    ck = cols.shape[1]
    blocks = (c_out_per_group + 3) // 4
    for task in prange(groups * blocks):
        g = task // blocks
        o0 = (task % blocks) * 4
        o1 = min(o0 + 1, c_out_per_group - 1)
        o2 = min(o0 + 2, c_out_per_group - 1)
        o3 = min(o0 + 3, c_out_per_group - 1)
        for r in range(ck):
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            s3 = 0.0
            for m in range(length):
                v = cols[g, r, m]
                s0 += gy_rows[g, o0, m] * v
                s1 += gy_rows[g, o1, m] * v
                s2 += gy_rows[g, o2, m] * v
                s3 += gy_rows[g, o3, m] * v
            grad_w[g, o0, r] = s0
            grad_w[g, o1, r] = s1
            grad_w[g, o2, r] = s2
            grad_w[g, o3, r] = s3
        for o in range(o0, min(o0 + 4, c_out_per_group)):
            total = 0.0
            for m in range(length):
                total += gy_rows[g, o, m]
            grad_b[g * c_out_per_group + o] = total


_weight_grad_serial, _weight_grad_parallel = serial_and_parallel(_weight_grad_body, fastmath=True)


def _geometry(w, stride, padding, dilation):
    kh, kw = w.shape[2], w.shape[3]
    return (kh, kw, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1])


def _columns(x, w, groups, geometry, h_out, w_out):
    """im2col of a C-contiguous copy of x -> cols (G, CK, N*L)."""
    ck = w.shape[1] * w.shape[2] * w.shape[3]
    cols = np.empty((groups, ck, x.shape[0] * h_out * w_out), dtype=x.dtype)
    kernel = _im2col_serial if cols.size < SERIAL_MAX_SIZE else _im2col_parallel
    kernel(np.ascontiguousarray(x), cols, *geometry, h_out, w_out)
    return cols


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y (N, C_out, H_out, W_out) = conv2d(x (N, C_in, H, W), w (C_out, C_in/groups, KH, KW)) + b.

    >>> import numpy as np
    >>> x = np.ones((1, 1, 3, 3), np.float32); w = np.ones((1, 1, 3, 3), np.float32)
    >>> conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)[0, 0, 1]
    array([6., 9., 6.], dtype=float32)
    """
    h_out, w_out = check_conv_inputs("conv2d_forward", x, w, b, stride, padding, dilation, groups)
    n_batch = x.shape[0]
    c_out = w.shape[0]
    geometry = _geometry(w, stride, padding, dilation)
    cols = _columns(x, w, groups, geometry, h_out, w_out)  # (G, CK, N*L)
    w3 = np.ascontiguousarray(w).reshape(groups, c_out // groups, -1)  # (G, Cog, CK)
    y2 = matmul(w3, cols)  # (G, Cog, N*L)
    y = np.empty((n_batch, c_out, h_out * w_out), dtype=x.dtype)
    bias = np.ascontiguousarray(b) if b is not None else np.zeros(1, dtype=x.dtype)
    kernel = _unfold_output_serial if y.size < SERIAL_MAX_SIZE else _unfold_output_parallel
    kernel(y2, bias, b is not None, y)
    return y.reshape(n_batch, c_out, h_out, w_out)


def conv2d_backward(x, w, grad_y, stride, padding, dilation, groups, need_input, need_weight, need_bias):
    """(grad_x, grad_w, grad_b) of conv2d_forward for upstream grad_y (N, C_out, H_out, W_out); None if not asked."""
    h_out, w_out = check_conv_inputs("conv2d_backward", x, w, None, stride, padding, dilation, groups)
    check_conv_grad_y("conv2d_backward", x, w, grad_y, h_out, w_out)
    n_batch, c_in = x.shape[:2]
    c_out = w.shape[0]
    c_out_per_group = c_out // groups
    positions = h_out * w_out
    geometry = _geometry(w, stride, padding, dilation)
    gy4 = grad_y.reshape(n_batch, groups, c_out_per_group, positions)  # (N, G, Cog, L)
    gy_rows = np.ascontiguousarray(gy4.transpose(1, 2, 0, 3)).reshape(groups, c_out_per_group,
                                                                         n_batch * positions)  # (G, Cog, N*L)
    grad_x = grad_w = grad_b = None
    if need_weight or need_bias:
        cols = (_columns(x, w, groups, geometry, h_out, w_out) if need_weight
                else np.empty((groups, 0, n_batch * positions), dtype=x.dtype))  # (G, CK, N*L)
        work = gy_rows.size * (cols.shape[1] + 1)
        if work < DOT_MAX_WORK:
            grad_w3 = np.empty((groups, c_out_per_group, cols.shape[1]), dtype=x.dtype)  # (G, Cog, CK)
            sums = np.empty(c_out, dtype=x.dtype)
            kernel = _weight_grad_serial if work < SERIAL_MAX_WORK else _weight_grad_parallel
            kernel(gy_rows, cols, grad_w3, sums)
        else:  # deep layers: many output tiles, so the packed GEMM wins
            gy_t = np.ascontiguousarray(gy_rows.transpose(0, 2, 1))  # (G, N*L, Cog)
            grad_w3 = np.ascontiguousarray(matmul(cols, gy_t).transpose(0, 2, 1))  # (G, Cog, CK)
            sums = gy_rows.reshape(c_out, -1).sum(axis=1, dtype=np.float64).astype(x.dtype)
        grad_w = grad_w3.reshape(w.shape) if need_weight else None  # (C_out, Cg, KH, KW)
        grad_b = sums if need_bias else None
    if need_input:
        w_t = np.ascontiguousarray(w.reshape(groups, c_out_per_group, -1).transpose(0, 2, 1))  # (G, CK, Cog)
        grad_cols = matmul(w_t, gy_rows)  # (G, CK, N*L)
        grad_x = np.zeros((n_batch, c_in) + x.shape[2:], dtype=x.dtype)
        kernel = _col2im_serial if grad_cols.size < SERIAL_MAX_SIZE else _col2im_parallel
        kernel(grad_cols, grad_x, *geometry, h_out, w_out)
    return grad_x, grad_w, grad_b
