"""2-D convolution (cross-correlation, as PyTorch) in plain NumPy: the oracle for every compiled backend.

    y[n, o, p, q] = b[o] + sum_{c, i, j} x_pad[n, g*Cg + c, p*sh + i*dh, q*sw + j*dw] * w[o, c, i, j]
    where g = o // (C_out / groups), Cg = C_in / groups, x_pad = x zero-padded by (ph, pw)

Written as im2col + einsum: `_windows` gathers every (kh, kw) tap into cols (N, C, KH, KW, H_out, W_out), and
forward/backward are einsums over it. The backward of a gather is a scatter-add (`_scatter_windows`).

>>> import numpy as np
>>> x = np.ones((1, 1, 3, 3)); w = np.ones((1, 1, 3, 3))
>>> conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)[0, 0]
array([[4., 6., 4.],
       [6., 9., 6.],
       [4., 6., 4.]])
"""
import numpy as np

from kernels.reference.gemm import check_float_array, check_same_dtype


def _check_pair_of_ints(kernel, name, value, minimum):
    if (not isinstance(value, tuple) or len(value) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        raise TypeError(f"{kernel}: {name} must be a tuple of two ints, got {value!r}")
    if value[0] < minimum or value[1] < minimum:
        raise ValueError(f"{kernel}: {name} must be >= {minimum}, got {value}")


def check_conv_inputs(kernel, x, w, b, stride, padding, dilation, groups):
    """Validate conv2d arguments (shared with the cpu backend); return (H_out, W_out)."""
    check_float_array(kernel, "x", x, 4)
    check_float_array(kernel, "w", w, 4)
    named = [("x", x), ("w", w)]
    if b is not None:
        check_float_array(kernel, "b", b, 1)
        named.append(("b", b))
    check_same_dtype(kernel, named)
    _check_pair_of_ints(kernel, "stride", stride, 1)
    _check_pair_of_ints(kernel, "padding", padding, 0)
    _check_pair_of_ints(kernel, "dilation", dilation, 1)
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{kernel}: groups must be a positive int, got {groups!r}")
    n_batch, c_in, height, width = x.shape
    c_out, c_in_per_group, kh, kw = w.shape
    if c_in % groups or c_out % groups or c_in // groups != c_in_per_group:
        raise ValueError(f"{kernel}: x {x.shape} and w {w.shape} do not fit groups={groups}; need "
                         f"w (C_out, C_in/groups, KH, KW) with C_in and C_out divisible by groups")
    if b is not None and b.shape != (c_out,):
        raise ValueError(f"{kernel}: b {b.shape} must be (C_out,) = ({c_out},)")
    h_out = (height + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    w_out = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if h_out < 1 or w_out < 1:
        raise ValueError(f"{kernel}: x {x.shape} padded by {padding} is smaller than the dilated kernel "
                         f"{w.shape[2:]} (dilation {dilation})")
    return h_out, w_out


def check_conv_grad_y(kernel, x, w, grad_y, h_out, w_out):
    """Raise unless grad_y is (N, C_out, H_out, W_out) of x's dtype."""
    check_float_array(kernel, "grad_y", grad_y, 4)
    check_same_dtype(kernel, [("x", x), ("grad_y", grad_y)])
    expected = (x.shape[0], w.shape[0], h_out, w_out)
    if grad_y.shape != expected:
        raise ValueError(f"{kernel}: grad_y {grad_y.shape} must be (N, C_out, H_out, W_out) = {expected}")


def _tap_slices(kh, kw, stride, dilation, h_out, w_out):
    """Slices of the padded input read by tap (kh, kw) for every output position."""
    rows = slice(kh * dilation[0], kh * dilation[0] + stride[0] * (h_out - 1) + 1, stride[0])
    cols = slice(kw * dilation[1], kw * dilation[1] + stride[1] * (w_out - 1) + 1, stride[1])
    return rows, cols


def _windows(x, kernel_hw, stride, padding, dilation, h_out, w_out):
    """im2col: cols[n, c, i, j, p, q] = x_pad[n, c, p*sh + i*dh, q*sw + j*dw]."""
    kh_count, kw_count = kernel_hw
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    cols = np.empty(x.shape[:2] + (kh_count, kw_count, h_out, w_out), dtype=x.dtype)
    for kh in range(kh_count):
        for kw in range(kw_count):
            rows, columns = _tap_slices(kh, kw, stride, dilation, h_out, w_out)
            cols[:, :, kh, kw] = x_pad[:, :, rows, columns]
    return cols


def _scatter_windows(grad_cols, x_shape, stride, padding, dilation):
    """col2im, the adjoint of _windows: add every tap's gradient back where it was read from."""
    n_batch, channels, kh_count, kw_count, h_out, w_out = grad_cols.shape
    height, width = x_shape[2:]
    grad_pad = np.zeros((n_batch, channels, height + 2 * padding[0], width + 2 * padding[1]), grad_cols.dtype)
    for kh in range(kh_count):
        for kw in range(kw_count):
            rows, columns = _tap_slices(kh, kw, stride, dilation, h_out, w_out)
            grad_pad[:, :, rows, columns] += grad_cols[:, :, kh, kw]
    return grad_pad[:, :, padding[0]:padding[0] + height, padding[1]:padding[1] + width]


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y (N, C_out, H_out, W_out) = conv2d(x (N, C_in, H, W), w (C_out, C_in/groups, KH, KW)) + b."""
    h_out, w_out = check_conv_inputs("conv2d_forward", x, w, b, stride, padding, dilation, groups)
    n_batch, c_in = x.shape[:2]
    c_out, c_per_group, kh, kw = w.shape
    cols = _windows(x, (kh, kw), stride, padding, dilation, h_out, w_out)
    cols = cols.reshape(n_batch, groups, c_per_group, kh, kw, h_out, w_out)  # (N, G, Cg, KH, KW, Ho, Wo)
    w5 = w.reshape(groups, c_out // groups, c_per_group, kh, kw)  # (G, Cout_g, Cg, KH, KW)
    y = np.einsum("ngcijpq,gocij->ngopq", cols, w5, optimize=True)
    y = y.reshape(n_batch, c_out, h_out, w_out)  # (N, C_out, Ho, Wo)
    if b is not None:
        y = y + b[None, :, None, None]
    return np.ascontiguousarray(y, dtype=x.dtype)


def conv2d_backward(x, w, grad_y, stride, padding, dilation, groups, need_input, need_weight, need_bias):
    """(grad_x, grad_w, grad_b) of conv2d_forward for upstream grad_y; each None unless asked for.

    grad_w[o, c, i, j] = sum_{n,p,q} grad_y[n, o, p, q] * cols[n, c, i, j, p, q]
    grad_x = col2im(sum_o w[o, c, i, j] * grad_y[n, o, p, q]),   grad_b[o] = sum_{n,p,q} grad_y[n, o, p, q]
    """
    h_out, w_out = check_conv_inputs("conv2d_backward", x, w, None, stride, padding, dilation, groups)
    check_conv_grad_y("conv2d_backward", x, w, grad_y, h_out, w_out)
    n_batch, c_in = x.shape[:2]
    c_out, c_per_group, kh, kw = w.shape
    gy5 = grad_y.reshape(n_batch, groups, c_out // groups, h_out, w_out)  # (N, G, Cout_g, Ho, Wo)
    w5 = w.reshape(groups, c_out // groups, c_per_group, kh, kw)  # (G, Cout_g, Cg, KH, KW)
    grad_x = grad_w = grad_b = None
    if need_weight:
        cols = _windows(x, (kh, kw), stride, padding, dilation, h_out, w_out)
        cols = cols.reshape(n_batch, groups, c_per_group, kh, kw, h_out, w_out)
        grad_w = np.einsum("ngcijpq,ngopq->gocij", cols, gy5, optimize=True).reshape(w.shape)
        grad_w = np.ascontiguousarray(grad_w, dtype=x.dtype)
    if need_input:
        grad_cols = np.einsum("gocij,ngopq->ngcijpq", w5, gy5, optimize=True)
        grad_cols = grad_cols.reshape(n_batch, c_in, kh, kw, h_out, w_out)  # (N, C_in, KH, KW, Ho, Wo)
        grad_x = np.ascontiguousarray(_scatter_windows(grad_cols, x.shape, stride, padding, dilation))
    if need_bias:
        grad_b = grad_y.sum(axis=(0, 2, 3)).astype(x.dtype)
    return grad_x, grad_w, grad_b
