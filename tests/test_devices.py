"""Every `nn.functional` op and every `nn` module gives the same values and gradients on "cpu" and on "cuda", and
keeps its results and gradients on the device of its inputs (a tensor's device comes from its data).

On a machine without an NVIDIA driver the cuda side runs under Numba's CUDA simulator (tests/conftest.py sets
NUMBA_ENABLE_CUDASIM=1), which runs each GPU thread in Python: the shapes are tiny. Values are float64, so the
two devices agree to rounding; the cotangent of each backward is random (a sum would hide a wrong softmax
backward, whose columns sum to zero).
"""
import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F

DEVICES = ("cpu", "cuda")
RTOL, ATOL = 1e-9, 1e-12  # float64 on both devices: only the summation order differs


def _normal(*shape):
    return np.random.default_rng(sum(shape) + len(shape)).standard_normal(shape)


def _uniform(low, high, *shape):
    return np.random.default_rng(len(shape)).uniform(low, high, shape)


def _labels(*values):
    return np.array(values, dtype=np.int64)


def _to_device(array, device):
    """A float array becomes a leaf that requires grad; indices, targets and masks are constants."""
    return tg.tensor(array, requires_grad=array.dtype.kind == "f", device=device)


def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


def _run(function, arrays, device, cotangent_seed=1):
    """function(*tensors) on `device`, then backward with a random cotangent on every float output; returns the
    outputs and the input gradients as NumPy arrays, after checking that everything stayed on `device`."""
    tg.manual_seed(0)  # dropout draws its mask from the global generator: the same mask on both devices
    inputs = [_to_device(array, device) for array in arrays]
    outputs = _as_tuple(function(*inputs))
    assert all(out.device == device for out in outputs), [out.device for out in outputs]
    rng = np.random.default_rng(cotangent_seed)
    loss = None
    for out in outputs:
        if out.requires_grad:
            term = (out * tg.tensor(rng.standard_normal(out.shape), device=device)).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    grads = []
    for tensor in inputs:
        if tensor.grad is not None:
            assert tensor.grad.device == device, f"gradient on {tensor.grad.device}, input on {device}"
            grads.append(tensor.grad.numpy())
        else:
            grads.append(None)
    return [out.numpy() for out in outputs], grads


def _assert_same(cpu_arrays, cuda_arrays, what):
    assert len(cpu_arrays) == len(cuda_arrays)
    for index, (on_cpu, on_cuda) in enumerate(zip(cpu_arrays, cuda_arrays)):
        if on_cpu is None or on_cuda is None:
            assert on_cpu is None and on_cuda is None, f"{what} {index}: present on one device only"
            continue
        assert on_cuda.dtype == on_cpu.dtype, f"{what} {index}: {on_cuda.dtype} on cuda, {on_cpu.dtype} on cpu"
        np.testing.assert_allclose(on_cuda, on_cpu, rtol=RTOL, atol=ATOL, err_msg=f"{what} {index}")


# ----- nn.functional ----------------------------------------------------------------------------------------------
# name -> (function of tensors, input arrays). Float arrays require grad; integer and bool arrays are constants.
FUNCTIONAL_CASES = {
    "relu": (F.relu, [_normal(2, 3)]),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), [_normal(2, 3)]),
    "gelu": (F.gelu, [_normal(2, 3)]),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), [_normal(2, 3)]),
    "tanh": (F.tanh, [_normal(2, 3)]),
    "sigmoid": (F.sigmoid, [_normal(2, 3)]),
    "softplus": (lambda x: F.softplus(x, beta=2.0, threshold=1.0), [_normal(2, 3)]),
    "logsigmoid": (F.logsigmoid, [_normal(2, 3)]),
    "softmax": (lambda x: F.softmax(x, dim=1), [_normal(2, 3)]),
    "log_softmax": (lambda x: F.log_softmax(x, dim=0), [_normal(2, 3)]),
    "normalize": (lambda x: F.normalize(x, dim=1), [_normal(2, 3)]),
    "dropout": (lambda x: F.dropout(x, p=0.5, training=True), [_normal(2, 3)]),
    "linear": (F.linear, [_normal(2, 3), _normal(4, 3), _normal(4)]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=1, padding=1),
               [_normal(1, 2, 3, 3), _normal(2, 2, 2, 2), _normal(2)]),
    "conv2d_same_groups": (lambda x, w: F.conv2d(x, w, padding="same", groups=2),
                           [_normal(1, 2, 3, 3), _normal(2, 1, 2, 2)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [_normal(1, 1, 2, 4)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 2, stride=1, padding=1), [_normal(1, 1, 2, 3)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (3,), w, b), [_normal(2, 3), _normal(3), _normal(3)]),
    "layer_norm_bias_only": (lambda x, b: F.layer_norm(x, (3,), None, b), [_normal(2, 3), _normal(3)]),
    "batch_norm_train": (
        lambda x, w, b: _batch_norm_with_stats(x, w, b, training=True),
        [_normal(3, 2, 2), _normal(2), _normal(2)],
    ),
    "batch_norm_eval": (
        lambda x, w, b: _batch_norm_with_stats(x, w, b, training=False),
        [_normal(3, 2), _normal(2), _normal(2)],
    ),
    "embedding": (lambda w, i: F.embedding(i, w), [_normal(4, 2), _labels(3, 0, 3)]),
    "embedding_padding_idx": (lambda w, i: F.embedding(i, w, padding_idx=0), [_normal(4, 2), _labels(0, 2, 0, 1)]),
    "one_hot": (lambda i: F.one_hot(i, 4), [_labels(3, 0, 1)]),
    "pad": (lambda x: F.pad(x, (1, 0, -1, 1), value=0.5), [_normal(2, 3)]),
    "scaled_dot_product_attention": (
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        [_normal(1, 2, 2), _normal(1, 2, 2), _normal(1, 2, 2)],
    ),
    "scaled_dot_product_attention_mask": (
        lambda q, k, v, mask: F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        [_normal(1, 2, 2), _normal(1, 3, 2), _normal(1, 3, 2), np.array([[True, False, True], [True, True, False]])],
    ),
    "rnn_tanh_cell": (F.rnn_tanh_cell, [_normal(1, 2), _normal(1, 2), _normal(2, 2), _normal(2, 2)]),
    "mse_loss": (F.mse_loss, [_normal(2, 3), _normal(2, 3)]),
    "mse_loss_weight": (lambda x, y, w: F.mse_loss(x, y, weight=w),
                        [_normal(2, 3), _normal(2, 3), _uniform(0, 1, 2, 3)]),
    "l1_loss": (lambda x, y: F.l1_loss(x, y, reduction="sum"), [_normal(2, 3), _normal(2, 3)]),
    "smooth_l1_loss": (lambda x, y: F.smooth_l1_loss(x, y, beta=0.5, reduction="none"), [_normal(2, 3), _normal(2, 3)]),
    "huber_loss": (lambda x, y: F.huber_loss(x, y, delta=0.5), [_normal(2, 3), _normal(2, 3)]),
    "binary_cross_entropy": (F.binary_cross_entropy, [_uniform(0.1, 0.9, 2, 3), _uniform(0, 1, 2, 3)]),
    "binary_cross_entropy_with_logits": (
        lambda x, y, pos: F.binary_cross_entropy_with_logits(x, y, pos_weight=pos),
        [_normal(2, 3), _uniform(0, 1, 2, 3), _uniform(0.5, 2, 3)],
    ),
    "cross_entropy": (F.cross_entropy, [_normal(2, 3), _labels(2, 0)]),
    "cross_entropy_weight_ignore_smoothing": (
        lambda x, y, w: F.cross_entropy(x, y, weight=w, ignore_index=1, label_smoothing=0.1),
        [_normal(3, 3), _labels(2, 1, 0), _uniform(0.5, 2, 3)],
    ),
    "cross_entropy_spatial": (lambda x, y: F.cross_entropy(x, y, reduction="none"),
                              [_normal(1, 3, 2), _labels(0, 2).reshape(1, 2)]),
    "cross_entropy_probabilities": (F.cross_entropy, [_normal(2, 3), _uniform(0, 1, 2, 3)]),
    "nll_loss": (F.nll_loss, [_normal(2, 3), _labels(1, 2)]),
    "nll_loss_weight_ignore": (
        lambda x, y, w: F.nll_loss(x, y, weight=w, ignore_index=0),
        [_normal(3, 3), _labels(0, 2, 1), _uniform(0.5, 2, 3)],
    ),
}


def _batch_norm_with_stats(x, weight, bias, training):
    """batch_norm with running statistics made on x's device; returns them too, so their update is compared."""
    channels = x.shape[1]
    running_mean = tg.tensor(np.linspace(-0.5, 0.5, channels), device=x.device)
    running_var = tg.tensor(np.linspace(0.5, 1.5, channels), device=x.device)
    out = F.batch_norm(x, running_mean, running_var, weight, bias, training=training, momentum=0.3)
    return out, running_mean, running_var


@pytest.mark.parametrize("name", sorted(FUNCTIONAL_CASES))
def test_functional_op_gives_the_same_values_and_gradients_on_cpu_and_cuda(name):
    function, arrays = FUNCTIONAL_CASES[name]
    cpu_outputs, cpu_grads = _run(function, arrays, "cpu")
    cuda_outputs, cuda_grads = _run(function, arrays, "cuda")
    _assert_same(cpu_outputs, cuda_outputs, f"{name} output")
    _assert_same(cpu_grads, cuda_grads, f"{name} gradient of input")


def _uncovered(names, cases):
    """The names with no case: a case is named after what it runs, a suffix telling variants apart."""
    return {name for name in names if not any(case == name or case.startswith(name + "_") for case in cases)}


def test_every_functional_op_is_run_on_both_devices():
    assert _uncovered(F.__all__, FUNCTIONAL_CASES) == set()


# ----- Tensor methods -----------------------------------------------------------------------------------------------
def _in_place(method, *args):
    """An in-place method applied, outside the graph, to a copy of the input (a leaf that requires grad refuses
    in-place changes, as in PyTorch)."""
    def run(x, *tensors):
        with tg.no_grad():
            out = x.detach().clone()
            getattr(out, method)(*args, *tensors)
        return out
    return run


def _set_items(x):
    with tg.no_grad():
        out = x.detach().clone()
        out[0, 1:] = 7.0
        out[:, 0] = tg.tensor([1.0, 2.0], device=x.device)
    return out


def _clipped_gradient_norm(x, norm_type):
    from tinygrad_edu.nn.utils import clip_grad_norm_

    parameter = x.detach().clone().requires_grad_()
    (parameter * parameter).sum().backward()
    total = clip_grad_norm_([parameter], 0.5, norm_type)
    return tg.stack([total, parameter.grad.sum()])


_MASK = np.array([[True, False, True], [False, False, True]])
_INDEX = _labels(0, 2, 1, 1).reshape(2, 2)
# Tensor methods that build their result from arrays (not through an op of nn.functional): the device rule at work.
TENSOR_METHOD_CASES = {
    "masked_fill": (lambda x, mask: x.masked_fill(mask, 2.0), [_normal(2, 3), _MASK]),
    "tril": (lambda x: x.tril(), [_normal(2, 3)]),
    "triu": (lambda x: x.triu(1), [_normal(2, 3)]),
    "argmax": (lambda x: x.argmax(), [_normal(2, 3)]),
    "argmax_dim_keepdim": (lambda x: x.argmax(1, keepdim=True), [_normal(2, 3)]),
    "argmin_of_a_scalar": (lambda x: x.argmin(0), [_normal(1).reshape(())]),
    "max_dim": (lambda x: x.max(1), [_normal(2, 3)]),
    "min_of_a_scalar": (lambda x: x.min(0), [_normal(1).reshape(())]),
    "sort_descending": (lambda x: x.sort(1, descending=True), [_normal(2, 3)]),
    "sort_of_a_scalar": (lambda x: x.sort(), [_normal(1).reshape(())]),
    "topk": (lambda x: x.topk(2), [_normal(2, 3)]),
    "argsort": (lambda x: x.argsort(0), [_normal(2, 3)]),
    "isnan_isinf_isfinite": (lambda x: (x.isnan(), x.isinf(), x.isfinite()),
                             [np.array([1.0, np.inf, np.nan, -np.inf])]),
    "logical_ops": (lambda m: (m.logical_not(), ~m, m & m.flip(0), m | True, m ^ m.flip(1)), [_MASK]),
    "all_any": (lambda m: (m.all(1), m.any()), [_MASK]),
    "nonzero": (lambda m: (m.nonzero(),) + m.nonzero(as_tuple=True), [_MASK]),
    "where": (lambda x, mask: x.where(mask, 0.5), [_normal(2, 3), _MASK]),
    "clamp": (lambda x, low: (x.clamp(-0.5, 0.5), x.clamp(low)), [_normal(2, 3), _normal(3)]),
    "new_full_new_zeros": (lambda x: (x.new_full((2,), 3.0), x.new_zeros(2, 2), x.new_ones(1)), [_normal(2, 3)]),
    "fill_": (_in_place("fill_", 2.0), [_normal(2, 3)]),
    "zero_": (_in_place("zero_"), [_normal(2, 3)]),
    "add_": (_in_place("add_", 1.0, 2.0), [_normal(2, 3)]),
    "copy_": (_in_place("copy_", np.ones(3)), [_normal(2, 3)]),
    "index_add_": (lambda x, i, y: _in_place("index_add_", 1, i, y)(x), [_normal(2, 3), _labels(2, 0), _normal(2, 2)]),
    "setitem": (_set_items, [_normal(2, 3)]),
    "norm": (lambda x: (x.norm(), x.norm(float("inf"), dim=1), x.norm(1, dim=0, keepdim=True)), [_normal(2, 3)]),
    "var_std_logsumexp": (lambda x: (x.var(1), x.std(), x.logsumexp(1), x.amin(0)), [_normal(2, 3)]),
    "flip": (lambda x: x.flip(0, 1), [_normal(2, 3)]),
    "gather_scatter_add": (lambda x, i, y: (x.gather(1, i), x.scatter_add(1, i, y)),
                           [_normal(2, 3), _INDEX, _normal(2, 2)]),
    "index_select": (lambda x, i: x.index_select(0, i), [_normal(2, 3), _labels(1, 1, 0)]),
    "movement": (lambda x: (x.unflatten(1, (3, 1)), x.repeat(2, 1), x.pad(((1, 0), (0, 2)), 1.5)) + x.chunk(2, 1)
                 + x.split([1, 2], 1) + x.unbind(1), [_normal(2, 3)]),
    "stack_cat": (lambda x, y: (tg.stack([x, y], 1), tg.cat([x, y])), [_normal(2, 3), _normal(2, 3)]),
    "comparisons": (lambda x: (x == 0.5, x.lt(0.1), x >= x.flip(0)), [_normal(2, 3)]),
    "arithmetic_with_numbers": (lambda x: (2.0 ** x, x ** 3, 1.0 / x, tg.maximum(x, 0.0), x.rsqrt().abs()),
                                [_uniform(0.5, 1.5, 2, 3)]),
    "integer_arithmetic": (lambda i: (i ** 2, i / 2, i.sum(0), i.mean(dtype=tg.float64), i.type_as(i.double())),
                           [_labels(-3, 0, 2, 5, 1, -1).reshape(2, 3)]),
    "outer": (tg.outer, [_normal(3), _normal(2)]),
    "clip_grad_norm_": (lambda x: _clipped_gradient_norm(x, 2.0), [_normal(2, 3)]),
    "clip_grad_norm_inf": (lambda x: _clipped_gradient_norm(x, float("inf")), [_normal(2, 3)]),
}
# Methods whose CUDA kernel does not exist yet: on cuda they raise NotImplementedError naming the NumPy function.
# When kernels/cuda gains one, this test fails: move the case into TENSOR_METHOD_CASES.
NO_CUDA_KERNEL_YET = {
    "cumsum": (lambda x: x.cumsum(1), [_normal(2, 3)]),
    "prod": (lambda x: x.prod(1), [_normal(2, 3)]),
    "sin": (lambda x: x.sin(), [_normal(2, 3)]),
    "einsum": (lambda x: tg.einsum("ij,kj->ik", x, x), [_normal(2, 3)]),
    "remainder": (lambda x: x % 0.7, [_normal(2, 3)]),
    "floor_divide": (lambda x: x // 0.7, [_normal(2, 3)]),
    "invert_integers": (lambda i: ~i, [_labels(1, 2)]),
    "masked_select": (lambda x, mask: x.masked_select(mask), [_normal(2, 3), _MASK]),
    "index_select_along_a_later_dim": (lambda x, i: x.index_select(1, i), [_normal(2, 3), _labels(2, 0)]),  # backward
}


@pytest.mark.parametrize("name", sorted(TENSOR_METHOD_CASES))
def test_tensor_method_gives_the_same_values_and_gradients_on_cpu_and_cuda(name):
    function, arrays = TENSOR_METHOD_CASES[name]
    cpu_outputs, cpu_grads = _run(function, arrays, "cpu")
    cuda_outputs, cuda_grads = _run(function, arrays, "cuda")
    _assert_same(cpu_outputs, cuda_outputs, f"{name} output")
    _assert_same(cpu_grads, cuda_grads, f"{name} gradient of input")


@pytest.mark.parametrize("name", sorted(NO_CUDA_KERNEL_YET))
def test_tensor_method_without_a_cuda_kernel_says_so_on_cuda(name):
    function, arrays = NO_CUDA_KERNEL_YET[name]
    _run(function, arrays, "cpu")
    with pytest.raises(NotImplementedError, match="on cuda"):
        _run(function, arrays, "cuda")


# ----- nn modules ---------------------------------------------------------------------------------------------------
def _loss(module_class, **kwargs):
    """A loss module as a model: (input, target) -> loss."""
    return lambda: module_class(**kwargs)


class _FirstOutput(nn.Module):
    """The first element of a module's tuple output (RNN/LSTM/GRU return (output, state))."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, *inputs):
        return self.inner(*inputs)[0]


class _SelfAttention(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        out, weights = self.inner(x, x, x, is_causal=True, need_weights=True)
        return out, weights


# name -> (module factory, input arrays); the factory runs under the same seed on both devices.
MODULE_CASES = {
    "Linear": (lambda: nn.Linear(3, 2), [_normal(2, 3)]),
    "Identity": (lambda: nn.Identity(), [_normal(2, 3)]),
    "Flatten": (lambda: nn.Flatten(), [_normal(2, 1, 3)]),
    "Unflatten": (lambda: nn.Unflatten(1, (3, 1)), [_normal(2, 3)]),
    "Conv2d": (lambda: nn.Conv2d(1, 2, 2, padding=1), [_normal(1, 1, 2, 3)]),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), [_normal(1, 1, 2, 4)]),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), [_normal(1, 1, 2, 4)]),
    "ReLU": (lambda: nn.ReLU(), [_normal(2, 3)]),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.1), [_normal(2, 3)]),
    "GELU": (lambda: nn.GELU(), [_normal(2, 3)]),
    "Tanh": (lambda: nn.Tanh(), [_normal(2, 3)]),
    "Sigmoid": (lambda: nn.Sigmoid(), [_normal(2, 3)]),
    "Softplus": (lambda: nn.Softplus(), [_normal(2, 3)]),
    "LogSigmoid": (lambda: nn.LogSigmoid(), [_normal(2, 3)]),
    "Softmax": (lambda: nn.Softmax(dim=-1), [_normal(2, 3)]),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=-1), [_normal(2, 3)]),
    "Dropout": (lambda: nn.Dropout(0.5), [_normal(2, 3)]),
    "Embedding": (lambda: nn.Embedding(4, 2, padding_idx=1), [_labels(1, 3, 1)]),
    "LayerNorm": (lambda: nn.LayerNorm(3), [_normal(2, 3)]),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(2), [_normal(3, 2)]),
    "BatchNorm1d_eval": (lambda: _trained_batch_norm(nn.BatchNorm1d(2)).eval(), [_normal(3, 2)]),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(2), [_normal(2, 2, 1, 2)]),
    "RNNCell": (lambda: nn.RNNCell(2, 2), [_normal(1, 2), _normal(1, 2)]),
    "LSTMCell": (lambda: _FirstOutput(nn.LSTMCell(2, 2)), [_normal(1, 2)]),
    "GRUCell": (lambda: nn.GRUCell(2, 2), [_normal(1, 2)]),
    "RNN": (lambda: _FirstOutput(nn.RNN(2, 2, batch_first=True)), [_normal(1, 2, 2)]),
    "LSTM": (lambda: _FirstOutput(nn.LSTM(2, 2)), [_normal(2, 1, 2)]),
    "GRU": (lambda: _FirstOutput(nn.GRU(2, 2)), [_normal(2, 1, 2)]),
    "MultiheadAttention": (lambda: _SelfAttention(nn.MultiheadAttention(2, 1, batch_first=True)), [_normal(1, 2, 2)]),
    "TransformerEncoderLayer": (
        lambda: nn.TransformerEncoderLayer(2, 1, dim_feedforward=2, dropout=0.0, batch_first=True), [_normal(1, 2, 2)],
    ),
    "TransformerEncoder": (
        lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(2, 1, dim_feedforward=2, dropout=0.0), num_layers=1),
        [_normal(2, 1, 2)],
    ),
    "Sequential": (lambda: nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)), [_normal(2, 2)]),
    "MSELoss": (_loss(nn.MSELoss), [_normal(2, 3), _normal(2, 3)]),
    "L1Loss": (_loss(nn.L1Loss), [_normal(2, 3), _normal(2, 3)]),
    "SmoothL1Loss": (_loss(nn.SmoothL1Loss, beta=0.5), [_normal(2, 3), _normal(2, 3)]),
    "HuberLoss": (_loss(nn.HuberLoss, delta=0.5), [_normal(2, 3), _normal(2, 3)]),
    "BCELoss": (_loss(nn.BCELoss), [_uniform(0.1, 0.9, 2, 3), _uniform(0, 1, 2, 3)]),
    "BCEWithLogitsLoss": (_loss(nn.BCEWithLogitsLoss), [_normal(2, 3), _uniform(0, 1, 2, 3)]),
    "CrossEntropyLoss": (_loss(nn.CrossEntropyLoss, label_smoothing=0.1), [_normal(2, 3), _labels(2, 0)]),
    "NLLLoss": (_loss(nn.NLLLoss), [_normal(2, 3), _labels(1, 2)]),
}
# Modules with nothing to run: containers that are not callable, and the base classes.
NOT_CALLABLE = {"Module", "Parameter", "ModuleList", "ModuleDict", "ParameterList"}


def _trained_batch_norm(module):
    """A BatchNorm whose running statistics are not the initial zeros and ones."""
    module(tg.tensor(_normal(4, module.num_features).astype(np.float32)))
    return module


def _run_module(name, device):
    factory, arrays = MODULE_CASES[name]
    tg.manual_seed(0)
    model = factory().double().to(device)
    outputs, input_grads = _run(model, arrays, device)
    parameters = dict(model.named_parameters())
    assert all(p.device == device for p in parameters.values())
    parameter_grads = [None if p.grad is None else p.grad.numpy() for p in parameters.values()]
    buffers = [buffer.numpy() for _, buffer in model.named_buffers()]
    return outputs, input_grads, parameter_grads, buffers


@pytest.mark.parametrize("name", sorted(MODULE_CASES))
def test_module_gives_the_same_outputs_and_gradients_on_cpu_and_cuda(name):
    on_cpu = _run_module(name, "cpu")
    on_cuda = _run_module(name, "cuda")
    kinds = ("output", "input gradient", "parameter gradient", "buffer")
    for kind, cpu_arrays, cuda_arrays in zip(kinds, on_cpu, on_cuda):
        _assert_same(cpu_arrays, cuda_arrays, f"{name} {kind}")


def test_every_module_is_run_on_both_devices():
    modules = {name for name in nn.__all__ if isinstance(getattr(nn, name), type)}
    assert _uncovered(modules - NOT_CALLABLE, MODULE_CASES) == set()


# ----- the device rule ------------------------------------------------------------------------------------------------
def test_a_tensor_made_from_device_data_is_on_that_device():
    on_gpu = tg.ones(2, device="cuda")
    assert tg.Tensor._from_array(on_gpu.data).device == "cuda"
    assert tg.Tensor._from_array(np.ones(2)).device == "cpu"
    assert tg.tensor(on_gpu).device == "cuda" and tg.Tensor(on_gpu.data).device == "cuda"
    assert tg.tensor(on_gpu, device="cpu").device == "cpu"
    assert tg.as_tensor(on_gpu.data).device == "cuda"


def test_a_device_that_contradicts_the_data_is_refused():
    on_gpu = tg.ones(2, device="cuda")
    with pytest.raises(RuntimeError, match=r"device='cpu'.*CudaArray of shape \(2,\) is on cuda"):
        tg.Tensor._from_array(on_gpu.data, device="cpu")
    with pytest.raises(RuntimeError, match=r"device='cuda'.*ndarray of shape \(3,\) is on cpu"):
        tg.Tensor._from_array(np.zeros(3), device="cuda")


def test_copying_a_cuda_tensor_keeps_it_on_the_device_and_independent():
    on_gpu = tg.tensor([1.0, 2.0], device="cuda")
    copy = tg.tensor(on_gpu, dtype=tg.float64)
    assert copy.device == "cuda" and copy.dtype == np.float64
    with tg.no_grad():
        on_gpu.add_(1.0)
    np.testing.assert_array_equal(copy.numpy(), [1.0, 2.0])
