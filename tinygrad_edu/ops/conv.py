"""2-D convolution and pooling: fused ops whose forward and backward run in the backend's kernels.

Layout is PyTorch's NCHW: x (N, C, H, W), weight (C_out, C_in / groups, KH, KW).
"""
from tinygrad_edu import backend
from tinygrad_edu.autograd import ArrayFunction


def pair(value, name, op_name):
    """An int or a pair of ints as an (int, int) tuple, as PyTorch's `_pair`."""
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return tuple(value)
    raise TypeError(f"{op_name}: {name} must be an int or a pair of ints, got {value!r}")


def _check_float_nchw(op_name, x):
    if x.ndim != 4:
        raise RuntimeError(f"{op_name}: expected input of shape (N, C, H, W), got {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op_name}: expected a float32 or float64 input, got {x.dtype}")


class Conv2d(ArrayFunction):
    """y[n,o] = b[o] + Σ_c,i,j w[o,c,i,j] · x_pad[n, c, p·s + i·d, q·s + j·d]  (cross-correlation, as PyTorch).

    Backward: dx = the "full" correlation of dy with the flipped kernel (col2im of Wᵀ dy), dw = Σ_n dy ⋆ x
    (im2col(x) dyᵀ), db = Σ_n,p,q dy. See kernels/reference/conv.py for the im2col view.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        ctx.save_for_backward(x, weight)
        ctx.geometry = (stride, padding, dilation, groups)
        ctx.has_bias = bias is not None
        return backend.kernels(x).conv2d_forward(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        grad_x, grad_w, grad_b = backend.kernels(x).conv2d_backward(
            x, weight, grad_out, *ctx.geometry, need[0], need[1], ctx.has_bias and need[2]
        )
        return (grad_x, grad_w, grad_b) if ctx.has_bias else (grad_x, grad_w)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """PyTorch's `F.conv2d`: x (N, C_in, H, W), weight (C_out, C_in / groups, KH, KW), bias (C_out,)."""
    _check_float_nchw("conv2d", x)
    if weight.ndim != 4 or x.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(
            f"conv2d: input {x.shape} and weight {weight.shape} do not match: expected weight (C_out, C_in/groups, KH, KW) "
            f"with C_in/groups = {x.shape[1]}/{groups}"
        )
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        raise TypeError(f"conv2d: input, weight and bias must share a dtype, got {x.dtype} and {weight.dtype}")
    stride, padding, dilation = (pair(v, n, "conv2d") for v, n in ((stride, "stride"), (padding, "padding"), (dilation, "dilation")))
    if weight.shape[0] == 0:
        raise RuntimeError(f"conv2d: Given groups={groups}, expected weight to be at least 1 at dimension 0, but got "
                           f"weight of size {list(weight.shape)} instead")
    padded = tuple(x.shape[2 + i] + 2 * padding[i] for i in range(2))
    dilated_kernel = tuple(dilation[i] * (weight.shape[2 + i] - 1) + 1 for i in range(2))
    if padded[0] < dilated_kernel[0] or padded[1] < dilated_kernel[1]:
        raise RuntimeError(f"conv2d: Calculated padded input size per channel: ({padded[0]} x {padded[1]}). "
                           f"Kernel size: ({dilated_kernel[0]} x {dilated_kernel[1]}). Kernel size can't be greater "
                           f"than actual input size")
    return Conv2d.apply(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)


class MaxPool2d(ArrayFunction):
    """y = max over each window;  dx = dy routed to the position of each window's maximum (saved as argmax)."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding):
        y, argmax = backend.kernels(x).max_pool2d_forward(x, kernel_size, stride, padding)
        ctx.save_for_backward(argmax)
        ctx.input_shape = x.shape
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (argmax,) = ctx.saved_tensors
        return backend.kernels(grad_out).max_pool2d_backward(grad_out, argmax, ctx.input_shape)


class AvgPool2d(ArrayFunction):
    """y = mean over each window (padding counted, as PyTorch's default);  dx = dy / window size, spread back."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding):
        ctx.input_shape, ctx.window = x.shape, (kernel_size, stride, padding)
        return backend.kernels(x).avg_pool2d_forward(x, kernel_size, stride, padding)

    @staticmethod
    def backward(ctx, grad_out):
        return backend.kernels(grad_out).avg_pool2d_backward(grad_out, ctx.input_shape, *ctx.window)


def _pool_args(op_name, x, kernel_size, stride, padding):
    _check_float_nchw(op_name, x)
    if 0 in x.shape[1:]:  # only the batch may be empty, as in PyTorch
        raise RuntimeError(f"{op_name}: Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for "
                           f"input, but got:{list(x.shape)}")
    kernel_size = pair(kernel_size, "kernel_size", op_name)
    stride = kernel_size if stride is None else pair(stride, "stride", op_name)
    padding = pair(padding, "padding", op_name)
    if padding[0] > kernel_size[0] // 2 or padding[1] > kernel_size[1] // 2:
        raise RuntimeError(f"{op_name}: padding {padding} should be at most half of kernel_size {kernel_size}")
    for axis in (0, 1):
        if x.shape[2 + axis] + 2 * padding[axis] < kernel_size[axis]:
            raise RuntimeError(f"{op_name}: input {x.shape} padded by {padding} is smaller than kernel_size {kernel_size}")
    return kernel_size, stride, padding


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """PyTorch's `F.max_pool2d`; stride defaults to kernel_size."""
    kernel_size, stride, padding = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    return MaxPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """PyTorch's `F.avg_pool2d` (count_include_pad=True); stride defaults to kernel_size."""
    kernel_size, stride, padding = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    return AvgPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding)
