"""2-D convolution on the CPU in Numba: im2col + our own packed GEMM (kernels/cpu/matmul.py), for every layer.

Shapes: x (N, C_in, H, W), w (C_out, C_in/G, KH, KW), y (N, C_out, H_out, W_out); G = groups, Cg = C_in/G,
Cog = C_out/G, CK = Cg*KH*KW, L = H_out*W_out.

    forward:  cols (G, CK, N*L) = im2col(x)                       _im2col, prange over the G*CK rows
              y2   (G, Cog, N*L) = w (G, Cog, CK) @ cols           packed GEMM, prange over output tiles
              y[n, g*Cog + o, l] = y2[g, o, n*L + l] + b           _unfold_output, prange over (n, channel)
    backward: grad_w^T (G, CK, Cog) = cols @ grad_y^T (G, N*L, Cog)
              grad_cols (G, CK, N*L) = w^T (G, CK, Cog) @ grad_y (G, Cog, N*L)
              grad_x = col2im(grad_cols)                          _col2im, prange over (n, channel) planes, so
                                                                  the scatter-add has no races
              grad_b = grad_y summed over (n, h, w)

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
    """y[n, g*Cog + o, l] = y2[g, o, n*L + l] + bias[g*Cog + o]; one task per (n, output channel)."""
    n_batch, c_out, positions = y.shape
    c_out_per_group = y2.shape[1]
    for task in prange(n_batch * c_out):
        n = task // c_out
        channel = task % c_out
        g = channel // c_out_per_group
        o = channel % c_out_per_group
        shift = bias[channel] if use_bias else 0
        for l in range(positions):
            y[n, channel, l] = y2[g, o, n * positions + l] + shift


_unfold_output_serial, _unfold_output_parallel = serial_and_parallel(_unfold_output_body)


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
    grad_x = grad_w = grad_b = None
    if need_weight:
        cols = _columns(x, w, groups, geometry, h_out, w_out)  # (G, CK, N*L)
        gy_t = np.ascontiguousarray(gy4.transpose(1, 0, 3, 2)).reshape(groups, n_batch * positions,
                                                                          c_out_per_group)  # (G, N*L, Cog)
        grad_w_t = matmul(cols, gy_t)  # (G, CK, Cog)
        grad_w = np.ascontiguousarray(grad_w_t.transpose(0, 2, 1)).reshape(w.shape)  # (C_out, Cg, KH, KW)
    if need_input:
        gy_rows = np.ascontiguousarray(gy4.transpose(1, 2, 0, 3)).reshape(groups, c_out_per_group,
                                                                             n_batch * positions)  # (G, Cog, N*L)
        w_t = np.ascontiguousarray(w.reshape(groups, c_out_per_group, -1).transpose(0, 2, 1))  # (G, CK, Cog)
        grad_cols = matmul(w_t, gy_rows)  # (G, CK, N*L)
        grad_x = np.zeros((n_batch, c_in) + x.shape[2:], dtype=x.dtype)
        kernel = _col2im_serial if grad_cols.size < SERIAL_MAX_SIZE else _col2im_parallel
        kernel(grad_cols, grad_x, *geometry, h_out, w_out)
    if need_bias:
        grad_b = grad_y.sum(axis=(0, 2, 3)).astype(x.dtype)
    return grad_x, grad_w, grad_b
