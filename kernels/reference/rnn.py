"""One step of an Elman RNN with tanh, in plain NumPy: the oracle for the cpu cell.

Shapes: x (N, I), h (N, H), w_ih (H, I), w_hh (H, H), b_ih / b_hh (H,) or None  ->  h_new (N, H).
"""
import numpy as np

_FLOATS = (np.float32, np.float64)


def check_rnn_inputs(kernel, x, h, w_ih, w_hh, extras=()):
    """Validate x, h, weights and (name, array-or-None, shape) extras; shared with the cpu backend."""
    named = [("x", x), ("h", h), ("w_ih", w_ih), ("w_hh", w_hh)] + [(n, a) for n, a, _ in extras if a is not None]
    for name, array in named:
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{kernel}: {name} must be a numpy.ndarray, got {type(array).__name__}")
        if array.dtype not in _FLOATS or array.dtype != x.dtype:
            raise TypeError(f"{kernel}: {name} is {array.dtype}; all arrays must be float32 or float64 like x ({x.dtype})")
    if x.ndim != 2 or h.ndim != 2:
        raise ValueError(f"{kernel}: x {x.shape} and h {h.shape} must be 2-D (N, I) and (N, H)")
    n_batch, n_in = x.shape
    n_hidden = h.shape[1]
    expected = {"h": (n_batch, n_hidden), "w_ih": (n_hidden, n_in), "w_hh": (n_hidden, n_hidden)}
    for name, array in (("h", h), ("w_ih", w_ih), ("w_hh", w_hh)):
        if array.shape != expected[name]:
            raise ValueError(f"{kernel}: {name} {array.shape} must be {expected[name]} for x {x.shape}, h {h.shape}")
    for name, array, shape in extras:
        if array is not None and array.shape != shape:
            raise ValueError(f"{kernel}: {name} {array.shape} must be {shape}")


def rnn_tanh_cell_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh).  dh'/dz = 1 - h'²."""
    n_hidden = h.shape[1] if isinstance(h, np.ndarray) and h.ndim == 2 else -1
    check_rnn_inputs("rnn_tanh_cell_forward", x, h, w_ih, w_hh,
                     [("b_ih", b_ih, (n_hidden,)), ("b_hh", b_hh, (n_hidden,))])
    z = x @ w_ih.T + h @ w_hh.T  # (N, H)
    if b_ih is not None:
        z = z + b_ih
    if b_hh is not None:
        z = z + b_hh
    return np.tanh(z)


def rnn_tanh_cell_backward(x, h, w_ih, w_hh, h_new, grad_h_new):
    """dz = g·(1-h'²); grad_x = dz W_ih; grad_h = dz W_hh; grad_w_ih = dzᵀ x; grad_w_hh = dzᵀ h; grad_b = Σ_n dz.

    Returns (grad_x, grad_h, grad_w_ih, grad_w_hh, grad_bias); grad_bias serves both b_ih and b_hh.
    """
    shape = h.shape if isinstance(h, np.ndarray) else None
    check_rnn_inputs("rnn_tanh_cell_backward", x, h, w_ih, w_hh,
                     [("h_new", h_new, shape), ("grad_h_new", grad_h_new, shape)])
    dz = grad_h_new * (1.0 - h_new * h_new)  # (N, H)
    return dz @ w_ih, dz @ w_hh, dz.T @ x, dz.T @ h, dz.sum(axis=0)
