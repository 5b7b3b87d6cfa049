"""2-D convolution on the GPU: im2col + the tiled GEMM of kernels/cuda/matmul.py, gather-form col2im.

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
              grad_b = Σ_{n, l} grad_y                        two block-reduction sums (elementwise.sum_axis)

Why: all the FLOPs land in one GEMM, which is the kernel worth tuning (shared-memory tiles, register tiles); the
index shuffles around it are memory-bound one-thread-per-element kernels with coalesced writes. The price is
the cols buffer (CK x N*L values); an implicit GEMM that forms the tiles of cols in shared memory on the fly
(what cuDNN does) removes it, and is the natural next step.
"""
from numba import cuda

from kernels.cuda._device import as_contiguous_device, empty, host_proxy, launch_config, require_cuda, zeros
from kernels.cuda.elementwise import sum_axis
from kernels.cuda.matmul import gemm
from kernels.reference.conv import check_conv_grad_y, check_conv_inputs

THREADS = 128


@cuda.jit
def _im2col(x, cols, kh_count, kw_count, sh, sw, ph, pw, dh, dw, h_out, w_out):
    """cols[g, (c*KH + i)*KW + j, n*L + p*W_out + q] = x[n, g*Cg + c, p*sh - ph + i*dh, q*sw - pw + j*dw] (0 outside)."""
    n_batch, channels, height, width = x.shape
    groups, ck, columns = cols.shape
    index = cuda.grid(1)  # one element of cols per thread; consecutive threads write consecutive columns
    if index >= cols.size:
        return
    column = index % columns
    r = (index // columns) % ck
    g = index // (columns * ck)
    positions = h_out * w_out
    n = column // positions
    p = (column % positions) // w_out
    q = column % w_out
    c = r // (kh_count * kw_count)
    i = (r // kw_count) % kh_count
    j = r % kw_count
    ih = p * sh - ph + i * dh
    iw = q * sw - pw + j * dw
    value = x[0, 0, 0, 0] * 0
    if 0 <= ih < height and 0 <= iw < width:
        value = x[n, g * (channels // groups) + c, ih, iw]
    cols[g, r, column] = value


@cuda.jit
def _unfold_output(y2, b, has_bias, y):
    """y[n, g*Cog + o, l] = y2[g, o, n*L + l] (+ b[g*Cog + o])."""
    n_batch, c_out, h_out, w_out = y.shape
    cog = y2.shape[1]
    positions = h_out * w_out
    index = cuda.grid(1)
    if index >= y.size:
        return
    l = index % positions
    channel = (index // positions) % c_out
    n = index // (positions * c_out)
    value = y2[channel // cog, channel % cog, n * positions + l]
    if has_bias:
        value += b[channel]
    y[n, channel, l // w_out, l % w_out] = value


@cuda.jit
def _fold_grad_y(grad_y, gy2):
    """gy2[g, o, n*L + l] = grad_y[n, g*Cog + o, l]: the inverse shuffle of _unfold_output."""
    n_batch, c_out, h_out, w_out = grad_y.shape
    groups, cog, columns = gy2.shape
    positions = h_out * w_out
    index = cuda.grid(1)
    if index >= gy2.size:
        return
    column = index % columns
    o = (index // columns) % cog
    g = index // (columns * cog)
    n = column // positions
    l = column % positions
    gy2[g, o, column] = grad_y[n, g * cog + o, l // w_out, l % w_out]


@cuda.jit
def _col2im(grad_cols, grad_x, kh_count, kw_count, sh, sw, ph, pw, dh, dw, h_out, w_out):
    """grad_x[n, ch, h, w] = Σ_{i, j} grad_cols[g, (c*KH + i)*KW + j, n*L + p*W_out + q] over the taps (i, j)
    whose window (p, q) reads (h, w): p*sh - ph + i*dh = h, i.e. p = (h + ph - i*dh) / sh when that divides."""
    n_batch, channels, height, width = grad_x.shape
    groups = grad_cols.shape[0]
    c_per_group = channels // groups
    positions = h_out * w_out
    index = cuda.grid(1)
    if index >= grad_x.size:
        return
    w = index % width
    h = (index // width) % height
    channel = (index // (width * height)) % channels
    n = index // (width * height * channels)
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
            total += grad_cols[g, (c * kh_count + i) * kw_count + j, n * positions + p * w_out + q]
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
