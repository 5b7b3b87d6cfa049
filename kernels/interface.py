"""The kernel interface: every function a kernel set must offer, with its exact parameters, written down once.

Each declaration below is a stub: its name and parameters are the contract (tests/kernels/test_interface.py checks
them against every kernel set with `inspect.signature`), its docstring says what it computes. `@family("conv")`
files it under the module that implements it, so `kernels/<set>/conv.py` defines `conv2d_forward`:

    kernels/reference/<family>.py   plain NumPy, the oracle
    kernels/cpu/<family>.py         Numba CPU kernels
    kernels/cuda/<family>.py        Numba CUDA kernels (and kernels/cuda/engine.py, the same on CudaArray)

Each kernel set's `__init__.py` exports exactly these functions, read from this table by `implementations`, so
adding a kernel is one stub here plus its implementation in every set.

What holds for all of them: arrays are float32 or float64 (integer targets, argmax and shapes aside) and the
result has the input's dtype; inputs may be non-contiguous; any dimension may be 0. Non-finite inputs give
PyTorch's answers (the reference is tested against torch, the other sets against the reference, in tests/kernels/):
a -inf logit gets probability 0, a row of all -inf or holding +inf or NaN is NaN, an attention row whose scores are
all -inf is 0. Bad arguments raise TypeError / ValueError naming the kernel and the argument.
"""
import importlib

FAMILIES = {}  # family name -> the stubs declared for kernels/<set>/<family>.py, in the order written


KERNEL_SETS = ("reference", "cpu", "cuda")


def family(name, sets=KERNEL_SETS):
    """Declare the decorated stub as a kernel that kernels/<set>/<name>.py must define, for each set in `sets`.

    A kernel only some sets offer (a CPU-only fast path) names them; callers then check `hasattr` and fall back
    to a kernel every set has.
    """

    def declare(stub):
        stub.kernel_sets = tuple(sets)
        FAMILIES.setdefault(name, []).append(stub)
        return stub

    return declare


def declared_in(package):
    """[(family, stub)] of the kernels `package` ("kernels.cpu", ...) must define."""
    kernel_set = package.split(".")[1]
    return [(name, stub) for name, stubs in FAMILIES.items() for stub in stubs if kernel_set in stub.kernel_sets]


def implementations(package):
    """{name: function} of every declared kernel, taken from `package`'s family modules (e.g. "kernels.cpu").

    >>> implementations("kernels.reference")["matmul"].__module__
    'kernels.reference.gemm'
    """
    functions = {}
    for family_name, stub in declared_in(package):
        module = importlib.import_module(f"{package}.{family_name}")
        if not hasattr(module, stub.__name__):
            declared = f"{stub.__name__}, which kernels/interface.py declares"
            raise ImportError(f"{module.__name__} does not define {declared}")
        functions[stub.__name__] = getattr(module, stub.__name__)
    return functions


# ----- matmul ---------------------------------------------------------------------------------------------------
@family("gemm")
def matmul(a, b):
    """Batched product a (B, M, K) @ b (B, K, N) -> a new (B, M, N) array."""


# ----- conv -----------------------------------------------------------------------------------------------------
@family("conv")
def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y (N, C_out, H_out, W_out) = cross-correlation of x (N, C_in, H, W) with w (C_out, C_in/groups, KH, KW),
    plus b (C_out,) or None; stride, padding, dilation are (h, w) pairs."""


@family("conv")
def conv2d_backward(x, w, grad_y, stride, padding, dilation, groups, need_input, need_weight, need_bias):
    """(grad_x, grad_w, grad_b) of conv2d_forward for upstream grad_y; each is None unless its need_* is true."""


# ----- pool -----------------------------------------------------------------------------------------------------
@family("pool")
def max_pool2d_forward(x, kernel_size, stride, padding):
    """(y, argmax): the max of every window of x (N, C, H, W) (floor mode, padding never wins) and its int64 flat
    index ih*W + iw within the input plane."""


@family("pool")
def max_pool2d_backward(grad_y, argmax, input_shape):
    """grad_x (input_shape): grad_y added at the argmax of every window."""


@family("pool")
def avg_pool2d_forward(x, kernel_size, stride, padding):
    """The mean of every window of x (N, C, H, W); zero padding counts in the divisor (count_include_pad=True)."""


@family("pool")
def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride, padding):
    """grad_x (input_shape): every window spreads grad_y / (KH*KW) over its inputs; overlapping windows add."""


# ----- softmax --------------------------------------------------------------------------------------------------
@family("softmax")
def softmax_forward(x):
    """y = exp(x - max) / Σ exp(x - max) over the last axis."""


@family("softmax")
def softmax_backward(y, grad_y):
    """grad_x = y * (grad_y - Σ grad_y·y) over the last axis, from the forward's output y."""


@family("softmax")
def log_softmax_forward(x):
    """y = (x - max) - log Σ exp(x - max) over the last axis."""


@family("softmax")
def log_softmax_backward(y, grad_y):
    """grad_x = grad_y - exp(y) Σ grad_y over the last axis, from the forward's output y."""


@family("softmax")
def cross_entropy_forward(logits, target, ignore_index=-100, label_smoothing=0.0):
    """(loss (N,), log_probs (N, C)) for logits (N, C) and int targets (N,): loss_i = -(1-ε) logp[i, t_i] -
    (ε/C) Σ_c logp[i, c], 0 where t_i == ignore_index."""


@family("softmax")
def cross_entropy_backward(log_probs, target, grad_loss, ignore_index=-100, label_smoothing=0.0):
    """grad_logits (N, C) = grad_loss_i · (softmax_i - (1-ε) onehot(t_i) - ε/C); zero rows where t_i is ignored."""


# ----- attention ------------------------------------------------------------------------------------------------
@family("attention")
def attention_forward(q, k, v, mask=None, causal=False, scale=None):
    """(out (B, Tq, Dv), probs (B, Tq, Tk)) = softmax(q kᵀ·scale + mask) v for q (B, Tq, D), k (B, Tk, D),
    v (B, Tk, Dv), mask (B, Tq, Tk) or None; scale None is 1/√D; probs is kept for the backward."""


@family("attention")
def attention_backward(q, k, v, probs, grad_out, scale=None):
    """(grad_q, grad_k, grad_v) for upstream grad_out, from the probs of attention_forward."""


@family("attention", sets=("reference", "cpu"))
def attention_forward_lse(q, k, v, mask=None, causal=False, scale=None):
    """(out (B, Tq, Dv), lse (B, Tq)): attention_forward without the (Tq, Tk) probabilities, tiled over key blocks
    with a running max and sum (online softmax); lse_i = log Σ_j exp(S_ij) is -inf for a fully masked row."""


@family("attention", sets=("reference", "cpu"))
def attention_backward_lse(q, k, v, mask, causal, out, lse, grad_out, scale=None):
    """(grad_q, grad_k, grad_v) for attention_forward_lse, recomputing the probabilities block by block from lse."""


@family("attention", sets=("reference", "cpu"))
def packed_attention_forward(packed, heads, mask=None, causal=False, scale=None):
    """(out (N, L, E), lse (N·heads, L)): attention_forward_lse on MultiheadAttention's packed in-projection
    packed (N, L, 3E) = [q | k | v], each third split into `heads` heads of E/heads columns, with out's heads merged;
    mask (N·heads, L, L) or None; scale None is 1/√(E/heads)."""


@family("attention", sets=("reference", "cpu"))
def packed_attention_backward(packed, heads, mask, causal, out, lse, grad_out, scale=None):
    """grad_packed (N, L, 3E) for packed_attention_forward: each head's dQ, dK, dV at the columns its q, k, v
    came from."""


# ----- rnn ------------------------------------------------------------------------------------------------------
@family("rnn")
def rnn_tanh_cell_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' (N, H) = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) for x (N, I), h (N, H)."""


@family("rnn")
def rnn_tanh_cell_backward(x, h, w_ih, w_hh, h_new, grad_h_new):
    """(grad_x, grad_h, grad_w_ih, grad_w_hh, grad_bias); grad_bias serves both b_ih and b_hh."""


@family("rnn")
def lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """(h', c', gates (N, 4H)): one LSTM step, PyTorch's gate order i, f, g, o; gates are kept for the backward."""


@family("rnn")
def lstm_cell_backward(x, h, c, w_ih, w_hh, c_new, gates, grad_h_new, grad_c_new):
    """(grad_x, grad_h, grad_c, grad_w_ih, grad_w_hh, grad_bias) of one LSTM step."""


@family("rnn")
def gru_cell_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """(h', gates (N, 4H)): one GRU step, PyTorch's gate order r, z, n; gates are kept for the backward."""


@family("rnn")
def gru_cell_backward(x, h, w_ih, w_hh, gates, grad_h_new):
    """(grad_x, grad_h, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh) of one GRU step."""


@family("rnn")
def rnn_sequence_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, nonlinearity="tanh"):
    """hs (T, N, H): the Elman RNN (act = tanh or relu) over a whole sequence x (T, N, I) from h0, in time order or
    (reverse) backwards; hs is in time order either way."""


@family("rnn")
def rnn_sequence_backward(x, h0, w_ih, w_hh, hs, grad_hs, reverse=False, need_grad_x=True, nonlinearity="tanh"):
    """(grad_x (T, N, I), grad_h0, grad_w_ih, grad_w_hh, grad_bias): backprop through time for
    rnn_sequence_forward, grad_hs (T, N, H) the gradients at hs; grad_bias serves both biases; grad_x is None
    unless need_grad_x."""


@family("rnn")
def lstm_sequence_forward(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """(states (2, T, N, H) = [hs ; cs], gates (T, N, 4H)): the LSTM over a whole sequence x (T, N, I) from (h0, c0),
    in time order or (reverse) backwards; states are in time order either way."""


@family("rnn")
def lstm_sequence_backward(x, h0, c0, w_ih, w_hh, states, gates, grad_states, reverse=False, need_grad_x=True):
    """(grad_x (T, N, I), grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_bias): backprop through time for
    lstm_sequence_forward, grad_states (2, T, N, H) the gradients at [hs ; cs]; grad_x is None unless
    need_grad_x."""


@family("rnn")
def gru_sequence_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """(hs (T, N, H), gates (T, N, 4H)): the GRU over a whole sequence x (T, N, I) from h0, in time order or
    (reverse) backwards; hs is in time order either way."""


@family("rnn")
def gru_sequence_backward(x, h0, w_ih, w_hh, hs, gates, grad_hs, reverse=False, need_grad_x=True):
    """(grad_x (T, N, I), grad_h0, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh): backprop through time for
    gru_sequence_forward, grad_hs (T, N, H) the gradients at hs; grad_x is None unless need_grad_x."""


# ----- embedding ------------------------------------------------------------------------------------------------
@family("embedding")
def embedding_backward(ids, grad_out, num_rows, padding_idx=None):
    """grad (num_rows, D) of the lookup table for y = W[ids]: np.add.at(zeros, ids, grad_out), positions added in
    order (the same floats on every run and thread count), the padding_idx row 0; ids (any shape) in [0, num_rows)
    (IndexError otherwise), grad_out (*ids.shape, D)."""


# ----- elementwise ----------------------------------------------------------------------------------------------
@family("elementwise")
def erf(x):
    """The error function erf(x) = 2/√π ∫₀ˣ e^(-t²) dt, elementwise (NumPy has none)."""


@family("elementwise")
def gelu_forward(x, approximate="none"):
    """y = x·Φ(x), Φ(x) = ½(1 + erf(x/√2)) the normal CDF (PyTorch's GELU), elementwise over any shape;
    approximate="tanh": y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³). ±inf give inf and NaN, as torch."""


@family("elementwise")
def gelu_backward(x, grad_y, approximate="none"):
    """grad_x = grad_y·(Φ(x) + x·φ(x)), φ(x) = e^(-x²/2)/√(2π) (tanh form: grad_y·(½(1 + tanh u) + ½x(1 -
    tanh²u)·du/dx)), recomputed from x; x, grad_y: one shape and dtype. ±inf give NaN, as torch."""


@family("elementwise")
def relu_backward(y, grad_y):
    """ReLU's input gradient from its output y = max(x, 0): 0 where y ≤ 0, else grad_y (a NaN y passes grad_y
    through and a NaN grad_y where y ≤ 0 gives 0, as in PyTorch). y, grad_y: one shape and one dtype."""


# ----- linear ---------------------------------------------------------------------------------------------------
@family("linear")
def add_bias(y, bias):
    """y[r, :] += bias for every row of y (R, N), in place (y C-contiguous and writeable); bias (N,). Returns None."""


@family("linear")
def bias_grad(grad_y):
    """Σ_r grad_y[r, :] for grad_y (R, N): the (N,) gradient of a bias added to every row, rows summed in order."""


# ----- norm -----------------------------------------------------------------------------------------------------
@family("norm")
def layer_norm_forward(x, weight=None, bias=None, eps=1e-5):
    """(y, mean, rstd) for x (R, D): x̂ = (x - μ)·rstd, rstd = 1/sqrt(var + eps), y = x̂·weight + bias."""


@family("norm")
def layer_norm_backward(grad_y, x, weight, mean, rstd):
    """(grad_x, grad_weight, grad_bias); the last two are None when weight is None."""


# ----- optim ----------------------------------------------------------------------------------------------------
@family("optim")
def adam_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """One Adam step in place (param, exp_avg, exp_avg_sq are updated), L2 decay folded into the gradient."""


@family("optim")
def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
               weight_decay=1e-2):
    """One AdamW step in place: decoupled decay param·(1 - lr·weight_decay), then the Adam update."""


@family("optim")
def adam_step_foreach(params, grads, exp_avgs, exp_avg_sqs, steps, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                      weight_decay=0.0):
    """adam_step on every tensor of equal-length lists (steps: each tensor's step count), as torch.optim's foreach
    form: one call for a whole param group."""


@family("optim")
def adamw_step_foreach(params, grads, exp_avgs, exp_avg_sqs, steps, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                       weight_decay=1e-2):
    """adamw_step on every tensor of equal-length lists (steps: each tensor's step count), in one call."""


@family("optim")
def sum_of_squares_foreach(arrays):
    """Σ over a list of float arrays of Σ x², accumulated in float64: a Python float (clip_grad_norm_'s ‖g‖²)."""
