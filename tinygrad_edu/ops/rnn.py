"""The tanh RNN cell as one fused op: h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)."""
from tinygrad_edu import backend
from tinygrad_edu.autograd import ArrayFunction


class RNNTanhCell(ArrayFunction):
    """h' = tanh(z), z = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh.

    Backward with dz = dh' ∘ (1 - h'²): dx = dz W_ih, dh = dz W_hh, dW_ih = dzᵀ x, dW_hh = dzᵀ h,
    db_ih = db_hh = Σ_batch dz. Backprop through time is this rule applied once per step, newest first.
    """

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih, b_hh):
        h_new = backend.kernels(x).rnn_tanh_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh)
        ctx.save_for_backward(x, h, w_ih, w_hh, h_new)
        ctx.has_bias = (b_ih is not None, b_hh is not None)
        return h_new

    @staticmethod
    def backward(ctx, grad_out):
        x, h, w_ih, w_hh, h_new = ctx.saved_tensors
        grad_x, grad_h, grad_w_ih, grad_w_hh, grad_bias = backend.kernels(x).rnn_tanh_cell_backward(
            x, h, w_ih, w_hh, h_new, grad_out
        )
        bias_grads = tuple(grad_bias for present in ctx.has_bias if present)
        return (grad_x, grad_h, grad_w_ih, grad_w_hh) + bias_grads


def rnn_tanh_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """x (N, I), h (N, H), w_ih (H, I), w_hh (H, H), b_ih / b_hh (H,) or None -> h' (N, H)."""
    hidden = w_hh.shape[0]
    if x.ndim != 2 or h.ndim != 2 or w_ih.shape != (hidden, x.shape[1]) or w_hh.shape != (hidden, hidden) or h.shape != (x.shape[0], hidden):
        raise ValueError(
            f"rnn_tanh_cell: expected x (N, I), h (N, H), w_ih (H, I), w_hh (H, H); got x {x.shape}, h {h.shape}, "
            f"w_ih {w_ih.shape}, w_hh {w_hh.shape}"
        )
    for name, bias in (("b_ih", b_ih), ("b_hh", b_hh)):
        if bias is not None and bias.shape != (hidden,):
            raise ValueError(f"rnn_tanh_cell: {name} must have shape ({hidden},), got {bias.shape}")
    dtypes = {t.dtype for t in (x, h, w_ih, w_hh, b_ih, b_hh) if t is not None}
    if len(dtypes) != 1:
        raise TypeError(f"rnn_tanh_cell: all inputs must share one float dtype, got {sorted(map(str, dtypes))}")
    return RNNTanhCell.apply(x, h, w_ih, w_hh, b_ih, b_hh)
