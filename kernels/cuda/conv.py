"""2-D convolution on the GPU: im2col + the tiled GEMM of kernels/cuda/gemm.py, gather-form col2im.

Shapes: x (N, C_in, H, W), w (C_out, C_in/G, KH, KW), y (N, C_out, H_out, W_out); G = groups, Cg = C_in/G,
Cog = C_out/G, CK = Cg*KH*KW, L = H_out*W_out.

    forward:  cols (G, CK, N*L) = im2col(x)                one thread per element of cols
              y2   (G, Cog, N*L) = w (G, Cog, CK) @ cols    tiled GEMM, grid z = G (the groups are the batch)
              y[n, g*Cog + o, l] = y2[g, o, n*L + l] + b    one thread per element of y
    backward: gy2  (G, Cog, N*L) = grad_y regrouped           one thread per element
              grad_w (G, Cog, CK) = gy2 @ colsᵀ               GEMM reading cols transposed (no copy)
              grad_cols (G, CK, N*L) = wᵀ @ gy2               GEMM reading w transposed
              grad_x = col2im(grad_cols)                     one thread per element of x, *gathering* the taps
                                                             that read it: no atomics, deterministic
              grad_b = Σ_{n, l} grad_y                        two block-reduction sums (reduce.sum_axis)

Why: all the FLOPs land in one GEMM, which is the kernel worth tuning (shared-memory tiles, register tiles); the
index shuffles around it are memory-bound one-thread-per-element kernels with coalesced writes. The price is
the cols buffer (CK x N*L values); an implicit GEMM that forms the tiles of cols in shared memory on the fly
(what cuDNN does) removes it, and is the natural next step.
"""
from numba import cuda

from kernels.cuda._device import as_contiguous_device, empty, host_proxy, launch_config, require_cuda, zeros
from kernels.cuda.device_functions import unravel4
from kernels.cuda.gemm import gemm
from kernels.cuda.reduce import sum_axis
from kernels.reference.conv import check_conv_grad_y, check_conv_inputs

THREADS = 128


@cuda.jit
def _im2col(x, cols, kh_count, kw_count, sh, sw, ph, pw, dh, dw, h_out, w_out):
    """cols[g, (c*KH + i)*KW + j, n*L + p*W_out + q] = x[n, g*Cg + c, p*sh - ph + i*dh, q*sw - pw + j*dw] (0 outside)."""
    n_batch, channels, height, width = x.shape
    groups, ck = cols.shape[0], cols.shape[1]
    index = cuda.grid(1)  # one element of cols per thread; consecutive threads write consecutive columns
    if index >= cols.size:
        return
    g, r, n, l = unravel4(index, (groups, ck, n_batch, h_out * w_out))  # cols read as (G, CK, N, L)
    _, c, i, j = unravel4(r, (1, channels // groups, kh_count, kw_count))  # row r = (c, i, j) of the window
    ih = (l // w_out) * sh - ph + i * dh
    iw = (l % w_out) * sw - pw + j * dw
    value = x[0, 0, 0, 0] * 0
    if 0 <= ih < height and 0 <= iw < width:
        value = x[n, g * (channels // groups) + c, ih, iw]
    cols[g, r, n * h_out * w_out + l] = value


@cuda.jit
def _unfold_output(y2, b, has_bias, y):
    """y[n, g*Cog + o, p, q] = y2[g, o, n*L + p*W_out + q] (+ b[g*Cog + o])."""
    cog = y2.shape[1]
    h_out, w_out = y.shape[2], y.shape[3]
    index = cuda.grid(1)
    if index >= y.size:
        return
    n, channel, p, q = unravel4(index, y.shape)
    value = y2[channel // cog, channel % cog, (n * h_out + p) * w_out + q]
    if has_bias:
        value += b[channel]
    y[n, channel, p, q] = value


@cuda.jit
def _fold_grad_y(grad_y, gy2):
    """gy2[g, o, n*L + l] = grad_y[n, g*Cog + o, l]: the inverse shuffle of _unfold_output."""
    n_batch, h_out, w_out = grad_y.shape[0], grad_y.shape[2], grad_y.shape[3]
    cog = gy2.shape[1]
    index = cuda.grid(1)
    if index >= gy2.size:
        return
    g, o, n, l = unravel4(index, (gy2.shape[0], cog, n_batch, h_out * w_out))  # gy2 read as (G, Cog, N, L)
    gy2[g, o, n * h_out * w_out + l] = grad_y[n, g * cog + o, l // w_out, l % w_out]


@cuda.jit
def _col2im(grad_cols, grad_x, kh_count, kw_count, sh, sw, ph, pw, dh, dw, h_out, w_out):
    """grad_x[n, ch, h, w] = Σ_{i, j} grad_cols[g, (c*KH + i)*KW + j, n*L + p*W_out + q] over the taps (i, j)
    whose window (p, q) reads (h, w): p*sh - ph + i*dh = h, i.e. p = (h + ph - i*dh) / sh when that divides."""
    c_per_group = grad_x.shape[1] // grad_cols.shape[0]
    index = cuda.grid(1)
    if index >= grad_x.size:
        return
    n, channel, h, w = unravel4(index, grad_x.shape)
    g = channel // c_per_group
    c = channel % c_per_group
    total = grad_cols[0, 0, 0] * 0
    for i in range(kh_count):
        p_scaled = h + ph - i * dh
        if p_scaled < 0 or p_scaled % sh != 0 or p_scaled // sh >= h_out:
            continue
        p = p_scaled // sh
        for j in range(kw_count):
            q_scaled = w + pw - j * dw
            if q_scaled < 0 or q_scaled % sw != 0 or q_scaled // sw >= w_out:
                continue
            q = q_scaled // sw
            total += grad_cols[g, (c * kh_count + i) * kw_count + j, (n * h_out + p) * w_out + q]
    grad_x[n, channel, h, w] = total


def _launch(kernel, count, *args):
    if count:
        kernel[launch_config(count, THREADS)](*args)


def _cols(x_device, w_shape, groups, stride, padding, dilation, h_out, w_out):
    """Device im2col buffer (G, CK, N*L)."""
    c_out, c_per_group, kh, kw = w_shape
    cols = empty((groups, c_per_group * kh * kw, x_device.shape[0] * h_out * w_out), x_device.dtype)
    _launch(_im2col, cols.size, x_device, cols, kh, kw, *stride, *padding, *dilation, h_out, w_out)
    return cols


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y (N, C_out, H_out, W_out) device array = conv2d(x, w) + b; arguments as kernels.reference.conv."""
    h_out, w_out = check_conv_inputs("conv2d_forward", host_proxy(x), host_proxy(w), host_proxy(b), stride,
                                     padding, dilation, groups)
    require_cuda()
    n_batch = x.shape[0]
    c_out, c_per_group, kh, kw = w.shape
    x_device = as_contiguous_device(x)
    w3 = as_contiguous_device(w).reshape(groups, c_out // groups, c_per_group * kh * kw)  # (G, Cog, CK)
    cols = _cols(x_device, w.shape, groups, stride, padding, dilation, h_out, w_out)  # (G, CK, N*L)
    y2 = gemm(w3, cols)  # (G, Cog, N*L)
    y = empty((n_batch, c_out, h_out, w_out), x.dtype)
    bias = as_contiguous_device(b) if b is not None else y2  # y2 is a stand-in never read when has_bias=False
    _launch(_unfold_output, y.size, y2, bias, b is not None, y)
    return y


def conv2d_backward(x, w, grad_y, stride, padding, dilation, groups, need_input, need_weight, need_bias):
    """(grad_x, grad_w, grad_b) device arrays of conv2d_forward for upstream grad_y; each None unless asked for."""
    h_out, w_out = check_conv_inputs("conv2d_backward", host_proxy(x), host_proxy(w), None, stride, padding,
                                     dilation, groups)
    check_conv_grad_y("conv2d_backward", host_proxy(x), host_proxy(w), host_proxy(grad_y), h_out, w_out)
    require_cuda()
    n_batch, c_in = x.shape[:2]
    c_out, c_per_group, kh, kw = w.shape
    grad_y_device = as_contiguous_device(grad_y)
    gy2 = empty((groups, c_out // groups, n_batch * h_out * w_out), x.dtype)  # (G, Cog, N*L)
    _launch(_fold_grad_y, gy2.size, grad_y_device, gy2)
    grad_x = grad_w = grad_b = None
    if need_weight:
        cols = _cols(as_contiguous_device(x), w.shape, groups, stride, padding, dilation, h_out, w_out)
        if cols.shape[2] == 0:
            grad_w = zeros(w.shape, x.dtype)
        else:
            grad_w = gemm(gy2, cols, trans_b=True).reshape(w.shape)  # (G, Cog, CK) -> (C_out, Cg, KH, KW)
    if need_input:
        w3 = as_contiguous_device(w).reshape(groups, c_out // groups, c_per_group * kh * kw)  # (G, Cog, CK)
        grad_cols = gemm(w3, gy2, trans_a=True)  # (G, CK, N*L)
        grad_x = empty(x.shape, x.dtype)
        _launch(_col2im, grad_x.size, grad_cols, grad_x, kh, kw, *stride, *padding, *dilation, h_out, w_out)
    if need_bias:
        per_image = sum_axis(grad_y_device.reshape(n_batch, c_out, h_out * w_out), 2)  # (N, C_out)
        grad_b = sum_axis(per_image, 0)  # (C_out,)
    return grad_x, grad_w, grad_b
