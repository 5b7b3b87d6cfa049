"""Max and average 2-D pooling in plain NumPy: the oracle for every compiled backend.

x (N, C, H, W) -> y (N, C, H_out, W_out), H_out = (H + 2*ph - KH)//sh + 1 (floor mode, as PyTorch's default).

    max:  y[n, c, p, q] = max over the window of x_pad (padding counts as -inf), argmax[n, c, p, q] = ih*W + iw,
          the flat index of the (first) maximum inside the unpadded (n, c) plane; NaN wins, and of several
          NaNs the last in row-major order (PyTorch's `val > max || isnan(val)` scan, on CPU and CUDA).
    avg:  y[n, c, p, q] = sum over the window of x_pad (padding counts as 0) / (KH*KW)   (count_include_pad=True)

Backward is a scatter-add: windows overlap when stride < kernel, so gradients of shared inputs add up.

>>> import numpy as np
>>> y, idx = max_pool2d_forward(np.arange(16.).reshape(1, 1, 4, 4), (2, 2), (2, 2), (0, 0))
>>> y[0, 0], idx[0, 0]
(array([[ 5.,  7.],
       [13., 15.]]), array([[ 5,  7],
       [13, 15]]))
"""
import numpy as np

from kernels.reference.gemm import check_float_array


def _check_pair(kernel, name, value, minimum):
    if (not isinstance(value, tuple) or len(value) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        raise TypeError(f"{kernel}: {name} must be a tuple of two ints, got {value!r}")
    if value[0] < minimum or value[1] < minimum:
        raise ValueError(f"{kernel}: {name} must be >= {minimum}, got {value}")


def check_pool_args(kernel, input_shape, kernel_size, stride, padding):
    """Validate the pooling geometry for an (N, C, H, W) input; return (H_out, W_out). Shared with cpu."""
    _check_pair(kernel, "kernel_size", kernel_size, 1)
    _check_pair(kernel, "stride", stride, 1)
    _check_pair(kernel, "padding", padding, 0)
    if padding[0] > kernel_size[0] // 2 or padding[1] > kernel_size[1] // 2:
        raise ValueError(f"{kernel}: padding {padding} must be at most half the kernel {kernel_size}")
    if len(input_shape) != 4:
        raise ValueError(f"{kernel}: input must be 4-D (N, C, H, W), got shape {tuple(input_shape)}")
    height, width = input_shape[2], input_shape[3]
    h_out = (height + 2 * padding[0] - kernel_size[0]) // stride[0] + 1
    w_out = (width + 2 * padding[1] - kernel_size[1]) // stride[1] + 1
    if h_out < 1 or w_out < 1:
        raise ValueError(f"{kernel}: input {tuple(input_shape)} padded by {padding} is smaller than the "
                         f"kernel {kernel_size}")
    return h_out, w_out


def check_pool_grad(kernel, grad_y, input_shape, h_out, w_out):
    """Raise unless grad_y is a float (N, C, H_out, W_out) array for this input shape."""
    check_float_array(kernel, "grad_y", grad_y, 4)
    expected = (input_shape[0], input_shape[1], h_out, w_out)
    if grad_y.shape != expected:
        raise ValueError(f"{kernel}: grad_y {grad_y.shape} must be (N, C, H_out, W_out) = {expected}")


def _tap(i, j, stride, h_out, w_out):
    """Slices of the padded plane that tap (i, j) reads for every output position."""
    return (slice(i, i + stride[0] * (h_out - 1) + 1, stride[0]),
            slice(j, j + stride[1] * (w_out - 1) + 1, stride[1]))


def max_pool2d_forward(x, kernel_size, stride, padding):
    """(y, argmax) of max pooling; argmax is int64 flat indices ih*W + iw into each input plane."""
    check_float_array("max_pool2d_forward", "x", x, 4)
    h_out, w_out = check_pool_args("max_pool2d_forward", x.shape, kernel_size, stride, padding)
    n_batch, channels, height, width = x.shape
    ph, pw = padding
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    # flat index of every padded position in the unpadded plane (-1 on the padding)
    rows = np.arange(height + 2 * ph) - ph
    cols = np.arange(width + 2 * pw) - pw
    inside = (rows[:, None] >= 0) & (rows[:, None] < height) & (cols[None, :] >= 0) & (cols[None, :] < width)
    flat = np.where(inside, rows[:, None] * width + cols[None, :], -1)
    y = np.full((n_batch, channels, h_out, w_out), -np.inf, dtype=x.dtype)
    argmax = np.full((n_batch, channels, h_out, w_out), -1, dtype=np.int64)
    for i in range(kernel_size[0]):
        for j in range(kernel_size[1]):
            rs, cs = _tap(i, j, stride, h_out, w_out)
            value = x_pad[:, :, rs, cs]
            index = np.broadcast_to(flat[rs, cs], value.shape)
            # take the tap if it is larger, if it is NaN (a later NaN too), or if nothing inside the image was
            # taken yet
            take = (value > y) | np.isnan(value) | ((argmax < 0) & (index >= 0))
            y = np.where(take, value, y)
            argmax = np.where(take, index, argmax)
    return y, argmax


def check_max_pool_backward_args(grad_y, argmax, input_shape):
    """Validate max_pool2d_backward's arguments (shared with the cpu backend); return input_shape as a tuple."""
    check_float_array("max_pool2d_backward", "grad_y", grad_y, 4)
    if not isinstance(argmax, np.ndarray) or argmax.dtype != np.int64 or argmax.shape != grad_y.shape:
        raise TypeError(f"max_pool2d_backward: argmax must be an int64 array shaped like grad_y {grad_y.shape}")
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) != 4 or input_shape[:2] != grad_y.shape[:2]:
        raise ValueError(f"max_pool2d_backward: input_shape {input_shape} does not fit grad_y {grad_y.shape}")
    return input_shape


def max_pool2d_backward(grad_y, argmax, input_shape):
    """grad_x (input_shape) with grad_y scattered (added) to the argmax of every window."""
    n_batch, channels, height, width = check_max_pool_backward_args(grad_y, argmax, input_shape)
    grad_x = np.zeros((n_batch * channels, height * width), dtype=grad_y.dtype)
    planes = np.repeat(np.arange(n_batch * channels), grad_y.shape[2] * grad_y.shape[3])
    np.add.at(grad_x, (planes, argmax.reshape(-1)), grad_y.reshape(-1))
    return grad_x.reshape(input_shape)


def avg_pool2d_forward(x, kernel_size, stride, padding):
    """Average pooling with zero padding counted in the divisor (count_include_pad=True)."""
    check_float_array("avg_pool2d_forward", "x", x, 4)
    h_out, w_out = check_pool_args("avg_pool2d_forward", x.shape, kernel_size, stride, padding)
    ph, pw = padding
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    total = np.zeros(x.shape[:2] + (h_out, w_out), dtype=x.dtype)
    for i in range(kernel_size[0]):
        for j in range(kernel_size[1]):
            rs, cs = _tap(i, j, stride, h_out, w_out)
            total += x_pad[:, :, rs, cs]
    return total / x.dtype.type(kernel_size[0] * kernel_size[1])


def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride, padding):
    """grad_x: every window spreads grad_y / (KH*KW) over its inputs; overlapping windows add."""
    check_float_array("avg_pool2d_backward", "grad_y", grad_y, 4)
    input_shape = tuple(int(v) for v in input_shape)
    h_out, w_out = check_pool_args("avg_pool2d_backward", input_shape, kernel_size, stride, padding)
    check_pool_grad("avg_pool2d_backward", grad_y, input_shape, h_out, w_out)
    n_batch, channels, height, width = input_shape
    ph, pw = padding
    share = grad_y / grad_y.dtype.type(kernel_size[0] * kernel_size[1])
    grad_pad = np.zeros((n_batch, channels, height + 2 * ph, width + 2 * pw), dtype=grad_y.dtype)
    for i in range(kernel_size[0]):
        for j in range(kernel_size[1]):
            rs, cs = _tap(i, j, stride, h_out, w_out)
            grad_pad[:, :, rs, cs] += share
    return np.ascontiguousarray(grad_pad[:, :, ph:ph + height, pw:pw + width])
