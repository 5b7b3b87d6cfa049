"""Every nn module against PyTorch: torch's module (randomised weights and buffers) is copied into ours with
`load_state_dict({k: v.numpy()})`; outputs, the input gradients, every parameter's gradient (by name) and the
state_dict after the forward pass (running statistics) must match torch's, on both backends, float32 and float64.

`MODULE_SPECS` is the table: how to build the module (`make(nn)`, the same call for both libraries), which inputs
to draw (`inputs`: a list of argument templates), how to call it (`call(module, *inputs)`, PyTorch spelling), and
whether it runs in training mode.
"""
import copy
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_edu as tg

from .harness import TOLERANCES, arrays, assert_matches, error_scale, float_array, integers, torch_oracle

FLOAT_DTYPES = st.sampled_from([np.float32, np.float64])
SEEDS = st.integers(0, 2**31 - 1)
# Sizes a template letter may take; one draw per letter per example, so "N" is the same in every input.
LETTER_SIZES = {"N": (0, 3), "B": (1, 3), "L": (1, 3), "S": (1, 3), "H": (2, 5), "W": (2, 5), "K": (1, 4)}


@st.composite
def templated_inputs(draw, dtype, templates):
    """Inputs from templates: ("float", shape) (may hold inf/NaN), ("unit", shape), ("int", shape, high),
    ("bool", shape); shape entries are ints or letters of LETTER_SIZES."""
    sizes = {letter: draw(integers(*bounds), label=letter) for letter, bounds in LETTER_SIZES.items()}
    inputs = []
    for kind, template, *extra in templates:
        shape = tuple(sizes[d] if isinstance(d, str) else d for d in template)
        if kind in ("float", "unit"):
            inputs.append(float_array(draw, dtype, shape, "real" if kind == "float" else "unit"))
        elif kind == "int":
            inputs.append(draw(arrays(np.int64, shape, elements=integers(0, extra[0] - 1))))
        else:
            inputs.append(draw(arrays(np.bool_, shape)))
    return inputs


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    make: object  # make(nn) -> module, the same call for torch.nn and tinygrad_edu.nn
    inputs: tuple  # templates for templated_inputs
    call: object = lambda module, *inputs: module(*inputs)
    train: bool = True
    degree: int = 1  # as OpSpec.degree: 2 where two projections of the input multiply (attention scores)


def _spec(name, make, *inputs, call=None, train=True, degree=1):
    return ModuleSpec(name, make, inputs, call or (lambda module, *xs: module(*xs)), train, degree)


X3 = ("float", ("N", 3))
IMAGE = ("float", ("N", 2, "H", "W"))
SEQUENCE = ("float", ("L", "N", 3))  # (L, N, features): PyTorch's default, batch second
BATCH_SEQUENCE = ("float", ("B", "L", 4))
LOGITS = ("float", ("N", 3))
TARGET = ("int", ("N",), 3)

MODULE_SPECS = [
    _spec("Linear", lambda nn: nn.Linear(3, 4), ("float", ("N", "L", 3))),
    _spec("Linear_no_bias", lambda nn: nn.Linear(3, 2, bias=False), X3),
    _spec("Conv2d", lambda nn: nn.Conv2d(2, 3, 2), IMAGE),
    _spec("Conv2d_stride_padding_groups_no_bias", lambda nn: nn.Conv2d(2, 4, 3, stride=2, padding=1, groups=2, bias=False),
          IMAGE),
    _spec("Conv2d_dilation", lambda nn: nn.Conv2d(2, 2, 2, dilation=2, padding=1), IMAGE),
    _spec("MaxPool2d", lambda nn: nn.MaxPool2d(2), IMAGE),
    _spec("MaxPool2d_stride_padding", lambda nn: nn.MaxPool2d(3, stride=2, padding=1), IMAGE),
    _spec("AvgPool2d", lambda nn: nn.AvgPool2d(2, stride=1), IMAGE),
    _spec("BatchNorm1d_train", lambda nn: nn.BatchNorm1d(3), X3),
    _spec("BatchNorm1d_train_sequence", lambda nn: nn.BatchNorm1d(3), ("float", ("N", 3, "L"))),
    _spec("BatchNorm1d_eval", lambda nn: nn.BatchNorm1d(3), X3, train=False),
    _spec("BatchNorm1d_momentum_none", lambda nn: nn.BatchNorm1d(3, momentum=None), X3),
    _spec("BatchNorm1d_no_affine", lambda nn: nn.BatchNorm1d(3, affine=False), X3),
    _spec("BatchNorm1d_no_running_stats", lambda nn: nn.BatchNorm1d(3, track_running_stats=False), X3),
    _spec("BatchNorm2d_train", lambda nn: nn.BatchNorm2d(2), IMAGE),
    _spec("BatchNorm2d_eval", lambda nn: nn.BatchNorm2d(2), IMAGE, train=False),
    _spec("LayerNorm", lambda nn: nn.LayerNorm(4), ("float", ("N", 4))),
    _spec("LayerNorm_two_dims", lambda nn: nn.LayerNorm((2, 4)), ("float", ("N", 2, 4))),
    _spec("LayerNorm_no_affine", lambda nn: nn.LayerNorm(4, elementwise_affine=False), ("float", ("N", 4))),
    _spec("Embedding", lambda nn: nn.Embedding(5, 3), ("int", ("N", "L"), 5)),
    _spec("Embedding_padding_idx", lambda nn: nn.Embedding(5, 3, padding_idx=1), ("int", ("N", "L"), 5)),
    _spec("Embedding_negative_padding_idx", lambda nn: nn.Embedding(6, 3, padding_idx=-1), ("int", ("N", "L"), 6)),
    _spec("Dropout_p0_train", lambda nn: nn.Dropout(p=0.0), X3),
    _spec("Dropout_eval", lambda nn: nn.Dropout(0.5), X3, train=False),
    _spec("RNN_output", lambda nn: nn.RNN(3, 4), SEQUENCE, call=lambda m, x: m(x)[0]),
    _spec("RNN_h_n", lambda nn: nn.RNN(3, 4), SEQUENCE, call=lambda m, x: m(x)[1]),
    _spec("RNN_two_layers_batch_first_with_h0", lambda nn: nn.RNN(3, 4, num_layers=2, batch_first=True),
          ("float", ("N", "L", 3)), ("float", (2, "N", 4)), call=lambda m, x, h: m(x, h)[0]),
    _spec("RNN_relu_no_bias", lambda nn: nn.RNN(3, 2, nonlinearity="relu", bias=False), SEQUENCE,
          call=lambda m, x: m(x)[1]),
    _spec("RNNCell", lambda nn: nn.RNNCell(3, 4), X3, ("float", ("N", 4))),
    _spec("MultiheadAttention_output", lambda nn: nn.MultiheadAttention(4, 2), ("float", ("L", "B", 4)),
          call=lambda m, x: m(x, x, x)[0], degree=2),
    _spec("MultiheadAttention_default_weights", lambda nn: nn.MultiheadAttention(4, 2), ("float", ("L", "B", 4)),
          call=lambda m, x: m(x, x, x)[1], degree=2),
    _spec("MultiheadAttention_batch_first_cross", lambda nn: nn.MultiheadAttention(4, 1, batch_first=True),
          BATCH_SEQUENCE, ("float", ("B", "S", 4)), call=lambda m, q, kv: m(q, kv, kv, need_weights=False)[0], degree=2),
    _spec("MultiheadAttention_masks", lambda nn: nn.MultiheadAttention(4, 2, batch_first=True), BATCH_SEQUENCE,
          ("bool", ("B", "L")), ("bool", ("L", "L")),
          call=lambda m, x, pad, mask: m(x, x, x, key_padding_mask=pad, attn_mask=mask)[0], degree=2),
    _spec("MultiheadAttention_unaveraged_weights", lambda nn: nn.MultiheadAttention(4, 2, batch_first=True),
          BATCH_SEQUENCE, call=lambda m, x: m(x, x, x, average_attn_weights=False)[1], degree=2),
    _spec("TransformerEncoderLayer", lambda nn: nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0,
                                                                           batch_first=True), BATCH_SEQUENCE, degree=2),
    _spec("TransformerEncoderLayer_norm_first_gelu", lambda nn: nn.TransformerEncoderLayer(
        4, 2, dim_feedforward=8, dropout=0.0, activation="gelu", norm_first=True), ("float", ("L", "B", 4)), degree=2),
    _spec("TransformerEncoderLayer_causal", lambda nn: nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0,
                                                                                  batch_first=True),
          BATCH_SEQUENCE, call=lambda m, x: m(x, src_mask=_causal_mask(m, x.shape[1]), is_causal=True), degree=2),
    _spec("TransformerEncoder_two_layers", lambda nn: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0, batch_first=True), 2,
        enable_nested_tensor=False), BATCH_SEQUENCE, degree=2),
    _spec("Sequential_mlp", lambda nn: nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)), X3),
    _spec("ReLU", lambda nn: nn.ReLU(), X3),
    _spec("Sigmoid", lambda nn: nn.Sigmoid(), X3),
    _spec("Tanh", lambda nn: nn.Tanh(), X3),
    _spec("GELU", lambda nn: nn.GELU(), X3),
    _spec("GELU_tanh", lambda nn: nn.GELU(approximate="tanh"), X3),
    _spec("LeakyReLU", lambda nn: nn.LeakyReLU(0.2), X3),
    _spec("Softmax", lambda nn: nn.Softmax(dim=-1), X3),
    _spec("LogSoftmax", lambda nn: nn.LogSoftmax(dim=1), X3),
    _spec("Flatten", lambda nn: nn.Flatten(), IMAGE),
    _spec("Identity", lambda nn: nn.Identity(), X3),
    _spec("CrossEntropyLoss", lambda nn: nn.CrossEntropyLoss(), LOGITS, TARGET),
    _spec("CrossEntropyLoss_ignore_smoothing_sum", lambda nn: nn.CrossEntropyLoss(
        ignore_index=0, label_smoothing=0.1, reduction="sum"), LOGITS, TARGET),
    _spec("NLLLoss", lambda nn: nn.NLLLoss(), LOGITS, TARGET),
    _spec("MSELoss", lambda nn: nn.MSELoss(), X3, X3),
    _spec("SmoothL1Loss", lambda nn: nn.SmoothL1Loss(beta=0.5), X3, X3),
    _spec("HuberLoss", lambda nn: nn.HuberLoss(delta=0.5, reduction="sum"), X3, X3),
    _spec("BCEWithLogitsLoss", lambda nn: nn.BCEWithLogitsLoss(), X3, ("unit", ("N", 3))),
    _spec("BCELoss", lambda nn: nn.BCELoss(), ("unit", ("N", 3)), ("unit", ("N", 3))),
    _spec("L1Loss", lambda nn: nn.L1Loss(reduction="sum"), X3, X3),
    _spec("LogSigmoid", lambda nn: nn.LogSigmoid(), X3),
    _spec("Softplus", lambda nn: nn.Softplus(beta=0.5), X3),
    _spec("Unflatten", lambda nn: nn.Unflatten(1, (2, 2)), ("float", ("N", 4))),
    _spec("ModuleList_of_linears", lambda nn: _Stack(nn), X3),
]


def _Stack(nn):
    """A user-defined Module holding a ModuleList, a ModuleDict and a Parameter (torch's container API)."""
    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(3, 3), nn.Linear(3, 2)])
            self.heads = nn.ModuleDict({"out": nn.Linear(2, 2)})
            self.scale = nn.Parameter(torch_or_ours(nn).ones(2))

        def forward(self, x):
            for layer in self.layers:
                x = layer(x).tanh()
            return self.heads["out"](x) * self.scale

    return Stack()


def torch_or_ours(nn):
    return torch if nn is torch.nn else tg


def _causal_mask(module, length):
    """A bool mask, True above the diagonal (positions a query may not attend to), in the module's library."""
    library = torch if isinstance(module, torch.nn.Module) else tg
    return library.tensor(np.triu(np.ones((length, length), dtype=bool), 1))


# ----- running one module in both libraries ------------------------------------------------------------------
def _randomise(module, seed):
    """Random parameters and buffers, so a gradient or statistic that ignores them cannot pass by accident."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.rand(parameter.shape, generator=generator, dtype=parameter.dtype) * 2 - 1)
        for name, buffer in module.named_buffers():
            if buffer.is_floating_point():
                buffer.copy_(torch.rand(buffer.shape, generator=generator, dtype=buffer.dtype) + 0.5)


def _torch_module(spec, dtype, seed):
    torch.manual_seed(seed)
    module = spec.make(torch.nn)
    module = module.double() if dtype == np.float64 else module
    _randomise(module, seed)
    return module.train(spec.train)


def _our_module(spec, dtype, torch_module):
    module = spec.make(tg.nn)
    module = module.double() if dtype == np.float64 else module
    module.load_state_dict({name: value.detach().numpy().copy() for name, value in torch_module.state_dict().items()})
    return module.train(spec.train)


def _run(library, module, spec, inputs, seed):
    """Forward, then backward of sum(out * c): output, input grads, parameter grads by name, state after."""
    if library is torch:
        with torch_oracle():
            return _forward_backward(library, module, spec, inputs, seed)
    return _forward_backward(library, module, spec, inputs, seed)


def _forward_backward(library, module, spec, inputs, seed):
    tensors = []
    for value in inputs:
        floating = value.dtype.kind == "f"
        if library is torch:
            tensor = torch.tensor(np.array(value, order="C"))
            tensors.append(tensor.requires_grad_(True) if floating else tensor)
        else:
            tensors.append(tg.tensor(value, requires_grad=floating))
    out = spec.call(module, *tensors)
    output = out.detach().numpy() if library is torch else np.asarray(out.numpy())
    grads = {}
    if output.dtype.kind == "f":
        c = np.random.default_rng(seed).standard_normal(output.shape).astype(output.dtype)
        (out * library.tensor(c)).sum().backward()
        grads = {f"input {n}": t.grad for n, t in enumerate(tensors) if inputs[n].dtype.kind == "f"}
        grads.update({name: p.grad for name, p in module.named_parameters()})
        grads = {k: None if g is None else (g.detach().numpy() if library is torch else np.asarray(g.numpy()))
                 for k, g in grads.items()}
    state = {k: (v.detach().numpy() if library is torch else np.asarray(v.numpy())) for k, v in module.state_dict().items()}
    return output, grads, state


@pytest.mark.parametrize("spec", MODULE_SPECS, ids=lambda spec: spec.name)
@given(data=st.data())
def test_module_matches_torch(backend, spec, data):
    dtype = data.draw(FLOAT_DTYPES, label="dtype")  # drawn: half the tests, same coverage
    inputs = data.draw(templated_inputs(dtype, spec.inputs), label="inputs")
    seed = data.draw(SEEDS, label="seed")
    torch_module = _torch_module(spec, dtype, seed)
    truth_module = copy.deepcopy(torch_module).double() if dtype == np.float32 else None
    ours = _our_module(spec, dtype, torch_module)
    try:
        expected = _run(torch, torch_module, spec, inputs, seed)
    except (RuntimeError, IndexError, ValueError, TypeError, AssertionError):
        # torch refuses these inputs (e.g. batch norm over one value): we must refuse them too.
        with pytest.raises(Exception):
            _run(tg, ours, spec, inputs, seed)
        return
    truth = None
    if truth_module is not None:
        upcast = [v.astype(np.float64) if v.dtype == np.float32 else v for v in inputs]
        truth = _run(torch, truth_module, spec, upcast, seed)
    got = _run(tg, ours, spec, inputs, seed)
    tolerance = TOLERANCES[np.dtype(dtype)]
    # Weights are in [-1, 1], so a module's terms have the magnitude of its inputs to the power spec.degree.
    scale = error_scale(inputs, spec.degree)
    assert_matches(f"{spec.name} output", got[0], expected[0], truth and truth[0], tolerance, scale)
    assert sorted(got[1]) == sorted(expected[1]), f"{spec.name}: parameter names {sorted(got[1])}, torch {sorted(expected[1])}"
    for name, theirs in expected[1].items():
        ours_grad = got[1][name]
        if theirs is None:
            assert ours_grad is None or not np.any(ours_grad), f"{spec.name} grad of {name}: torch None, ours {ours_grad}"
            continue
        assert ours_grad is not None, f"{spec.name} grad of {name}: None, torch {theirs}"
        assert_matches(f"{spec.name} grad of {name}", ours_grad, theirs, truth and truth[1][name], tolerance, scale)
    assert sorted(got[2]) == sorted(expected[2]), f"{spec.name}: state_dict keys {sorted(got[2])}, torch {sorted(expected[2])}"
    for name, theirs in expected[2].items():
        truth_state = truth[2][name] if truth is not None else None
        assert_matches(f"{spec.name} state_dict[{name!r}] after forward", got[2][name], theirs, truth_state, tolerance, scale)
