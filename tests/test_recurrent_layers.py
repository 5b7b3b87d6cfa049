"""RNN, LSTM and GRU (and their cells) against PyTorch: the same weights (torch's state dict loaded by key) give
the same outputs and the same gradients for the input, the initial states and every parameter.

float64 throughout, tolerance 1e-10: the two engines do the same arithmetic in a different order (≈1e-16 per
step), and these sequences are a few steps long. The cells' own gradients are gradchecked in float64 against
finite differences with a random cotangent, on Hypothesis-drawn shapes, on both CPU kernel sets.
"""
import functools
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
from tinygrad_edu.nn.rnn import _rnn_step
from tinygrad_edu.ops.rnn import gru_cell, gru_sequence, lstm_cell, lstm_sequence, rnn_sequence

TOLERANCE = dict(rtol=1e-10, atol=1e-12)
KINDS = {  # name -> (ours, theirs, extra constructor arguments)
    "lstm": (nn.LSTM, torch.nn.LSTM, {}),
    "gru": (nn.GRU, torch.nn.GRU, {}),
    "rnn_tanh": (nn.RNN, torch.nn.RNN, {}),
    "rnn_relu": (nn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
}


def torch_state(module):
    return {key: value.detach().numpy().copy() for key, value in module.state_dict().items()}


def twin_layers(kind, *args, **kwargs):
    """(ours, theirs) in float64 with torch's freshly initialised weights loaded into ours."""
    ours_class, torch_class, extra = KINDS[kind]
    torch.manual_seed(0)
    theirs = torch_class(*args, **extra, **kwargs).double()
    ours = ours_class(*args, **extra, **kwargs).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(torch_state(theirs))
    return ours, theirs


def leaves(*arrays):
    """The same values as tinygrad_edu and torch leaf tensors that require grad."""
    return [tg.Tensor(a, requires_grad=True) for a in arrays], [torch.tensor(a, requires_grad=True) for a in arrays]


def flat_outputs(result):
    """(output, h_n) or (output, (h_n, c_n)) -> [output, h_n(, c_n)]."""
    output, state = result
    return [output, *state] if isinstance(state, tuple) else [output, state]


def assert_same_forward_and_backward(ours, theirs, our_inputs, torch_inputs, call):
    """Outputs equal; then backward of Σ output_k · c_k (random cotangents c_k) gives equal gradients for every
    input and every parameter."""
    got, expected = flat_outputs(call(ours, our_inputs)), flat_outputs(call(theirs, torch_inputs))
    assert [tuple(g.shape) for g in got] == [tuple(e.shape) for e in expected]
    rng = np.random.default_rng(1)
    cotangents = [rng.standard_normal(tuple(e.shape)) for e in expected]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.numpy(), e.detach().numpy(), **TOLERANCE)
    sum(((g * tg.Tensor(c)).sum() for g, c in zip(got, cotangents)), tg.tensor(0.0, dtype=tg.float64)).backward()
    sum((e * torch.tensor(c)).sum() for e, c in zip(expected, cotangents)).backward()
    for index, (mine, theirs_input) in enumerate(zip(our_inputs, torch_inputs)):
        np.testing.assert_allclose(mine.grad.numpy(), theirs_input.grad.numpy(), **TOLERANCE,
                                   err_msg=f"gradient of input {index}")
    their_parameters = dict(theirs.named_parameters())
    for name, parameter in ours.named_parameters():
        np.testing.assert_allclose(parameter.grad.numpy(), their_parameters[name].grad.numpy(), **TOLERANCE,
                                   err_msg=f"gradient of {name}")


# ----- the stacks against torch --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (2, False), (1, True), (2, True)])
@pytest.mark.parametrize("batch_first", [False, True])
def test_stack_outputs_and_all_gradients_match_torch_with_torchs_weights(backend, kind, num_layers, bidirectional,
                                                                          batch_first):
    steps, batch, features, hidden = 4, 2, 3, 5
    ours, theirs = twin_layers(kind, features, hidden, num_layers=num_layers, bidirectional=bidirectional,
                               batch_first=batch_first)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, features) if batch_first else (steps, batch, features))
    states = [rng.standard_normal((num_layers * (2 if bidirectional else 1), batch, hidden))
              for _ in range(2 if kind == "lstm" else 1)]
    our_inputs, torch_inputs = leaves(x, *states)

    def call(module, inputs):
        return module(inputs[0], tuple(inputs[1:]) if kind == "lstm" else inputs[1])
    assert_same_forward_and_backward(ours, theirs, our_inputs, torch_inputs, call)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_stack_without_bias_and_without_initial_state_matches_torch(kind):
    ours, theirs = twin_layers(kind, 3, 4, num_layers=2, bias=False, bidirectional=True)
    assert not any("bias" in name for name, _ in ours.named_parameters())
    our_inputs, torch_inputs = leaves(np.random.default_rng(2).standard_normal((3, 2, 3)))
    assert_same_forward_and_backward(ours, theirs, our_inputs, torch_inputs, lambda m, inputs: m(inputs[0]))


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_sequences_match_torch(kind, batch_first):
    ours, theirs = twin_layers(kind, 3, 4, num_layers=2, bidirectional=True, batch_first=batch_first)
    rng = np.random.default_rng(3)
    states = [rng.standard_normal((4, 4)) for _ in range(2 if kind == "lstm" else 1)]  # (layers·D, H)
    our_inputs, torch_inputs = leaves(rng.standard_normal((5, 3)), *states)  # (L, input_size)

    def call(module, inputs):
        return module(inputs[0], tuple(inputs[1:]) if kind == "lstm" else inputs[1])
    assert_same_forward_and_backward(ours, theirs, our_inputs, torch_inputs, call)


def test_a_single_step_sequence_and_a_batch_of_one_match_torch():
    ours, theirs = twin_layers("lstm", 2, 3, bidirectional=True, batch_first=True)
    our_inputs, torch_inputs = leaves(np.random.default_rng(4).standard_normal((1, 1, 2)))
    assert_same_forward_and_backward(ours, theirs, our_inputs, torch_inputs, lambda m, inputs: m(inputs[0]))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_parameter_gradients_match_torch_when_the_input_needs_no_gradient(backend, kind):
    """The first layer then skips grad_x (need_grad_x=False in its kernel); the second still gets its input's."""
    ours, theirs = twin_layers(kind, 3, 4, num_layers=2, bidirectional=True)
    x = np.random.default_rng(15).standard_normal((5, 2, 3))
    cotangent = np.random.default_rng(16).standard_normal((5, 2, 8))
    (ours(tg.Tensor(x))[0] * tg.Tensor(cotangent)).sum().backward()
    (theirs(torch.tensor(x))[0] * torch.tensor(cotangent)).sum().backward()
    their_parameters = dict(theirs.named_parameters())
    for name, parameter in ours.named_parameters():
        np.testing.assert_allclose(parameter.grad.numpy(), their_parameters[name].grad.numpy(), **TOLERANCE,
                                   err_msg=f"gradient of {name}")


def test_our_state_dict_loads_into_torch_and_gives_our_outputs():
    tg.manual_seed(3)
    ours = nn.GRU(3, 4, num_layers=2, bidirectional=True).double()
    theirs = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True).double()
    theirs.load_state_dict({key: torch.tensor(value.numpy()) for key, value in ours.state_dict().items()})
    x = np.random.default_rng(5).standard_normal((3, 2, 3))
    got, expected = ours(tg.Tensor(x)), theirs(torch.tensor(x))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.numpy(), e.detach().numpy(), **TOLERANCE)


# ----- dropout between layers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_dropout_of_one_zeroes_what_the_second_layer_sees_as_torch(kind):
    """p = 1 drops every element, so training-mode outputs are deterministic and comparable with torch's: the
    second layer runs on zeros, and its own output (the last layer's) is not dropped."""
    ours, theirs = twin_layers(kind, 3, 4, num_layers=2, dropout=1.0)
    ours.train()
    theirs.train()
    our_inputs, torch_inputs = leaves(np.random.default_rng(6).standard_normal((3, 2, 3)))
    assert_same_forward_and_backward(ours, theirs, our_inputs, torch_inputs, lambda m, inputs: m(inputs[0]))
    assert np.abs(ours(our_inputs[0])[0].numpy()).max() > 0


def test_dropout_acts_in_training_only_and_never_after_the_last_layer():
    tg.manual_seed(0)
    lstm = nn.LSTM(3, 8, num_layers=2, dropout=0.5).double()
    x = tg.Tensor(np.random.default_rng(7).standard_normal((4, 3, 3)))
    evaluated = lstm.eval()(x)[0].numpy()
    trained = lstm.train()(x)[0].numpy()
    assert not np.allclose(trained, evaluated)  # the second layer saw a dropped-out first layer
    single = nn.LSTM(3, 8, num_layers=1).double()
    single.load_state_dict({k: v for k, v in lstm.state_dict().items() if k.endswith("l0")})
    np.testing.assert_array_equal(single.train()(x)[0].numpy(), single.eval()(x)[0].numpy())
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.GRU(3, 4, dropout=0.2)


# ----- cells ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("unbatched", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_and_gru_cells_match_torch(backend, unbatched, bias):
    rng = np.random.default_rng(8)
    batch_shape = () if unbatched else (3,)
    for ours_class, torch_class in ((nn.LSTMCell, torch.nn.LSTMCell), (nn.GRUCell, torch.nn.GRUCell)):
        torch.manual_seed(0)
        theirs = torch_class(4, 5, bias=bias).double()
        ours = ours_class(4, 5, bias=bias).double()
        assert list(ours.state_dict()) == list(theirs.state_dict())
        ours.load_state_dict(torch_state(theirs))
        is_lstm = ours_class is nn.LSTMCell
        arrays = [rng.standard_normal(batch_shape + (4,))] + [rng.standard_normal(batch_shape + (5,))
                                                               for _ in range(2 if is_lstm else 1)]
        our_inputs, torch_inputs = leaves(*arrays)

        def call(module, inputs):
            result = module(inputs[0], tuple(inputs[1:]) if is_lstm else inputs[1])
            return (result[0], result[1:]) if is_lstm else (result, ())
        assert_same_forward_and_backward(ours, theirs, our_inputs, torch_inputs, call)


def test_cells_start_from_zero_states_when_none_are_given():
    for ours_class, torch_class in ((nn.LSTMCell, torch.nn.LSTMCell), (nn.GRUCell, torch.nn.GRUCell)):
        torch.manual_seed(1)
        theirs = torch_class(2, 3).double()
        ours = ours_class(2, 3).double()
        ours.load_state_dict(torch_state(theirs))
        x = np.random.default_rng(9).standard_normal((4, 2))
        got, expected = ours(tg.Tensor(x)), theirs(torch.tensor(x))
        got, expected = (got, expected) if isinstance(got, tuple) else ((got,), (expected,))
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g.numpy(), e.detach().numpy(), **TOLERANCE)


cell_shapes = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))  # (N, I, H)


@given(shape=cell_shapes, bias=st.booleans(), seed=st.integers(0, 2**16))
def test_lstm_cell_gradients_match_finite_differences(backend, shape, bias, seed):
    n, i, h = shape
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((n, i)), rng.standard_normal((n, 2 * h)),  # x, [h | c]
              rng.standard_normal((4 * h, i)), rng.standard_normal((4 * h, h))]  # w_ih, w_hh
    arrays += [rng.standard_normal(4 * h), rng.standard_normal(4 * h)] if bias else []
    assert tg.gradcheck(lstm_cell, *[tg.Tensor(a, requires_grad=True) for a in arrays], seed=seed)


@given(shape=cell_shapes, bias=st.booleans(), seed=st.integers(0, 2**16))
def test_gru_cell_gradients_match_finite_differences(backend, shape, bias, seed):
    n, i, h = shape
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((n, i)), rng.standard_normal((n, h)),  # x, h
              rng.standard_normal((3 * h, i)), rng.standard_normal((3 * h, h))]  # w_ih, w_hh
    arrays += [rng.standard_normal(3 * h), rng.standard_normal(3 * h)] if bias else []
    assert tg.gradcheck(gru_cell, *[tg.Tensor(a, requires_grad=True) for a in arrays], seed=seed)


@pytest.mark.parametrize("cell, shapes", [
    (lstm_cell, [(1, 2), (1, 4), (8, 2), (8, 2), (8,), (8,)]),  # x, [h | c], w_ih, w_hh, b_ih, b_hh
    (gru_cell, [(1, 2), (1, 2), (6, 2), (6, 2), (6,), (6,)]),
])
def test_cell_ops_on_cuda_match_the_cpu(cell, shapes):
    """Device data runs the cuda kernels (through kernels/cuda/engine.py); tiny shapes for the simulator."""
    rng = np.random.default_rng(10)
    arrays = [rng.standard_normal(shape) for shape in shapes]
    cotangent = rng.standard_normal(cell(*[tg.Tensor(a) for a in arrays]).shape)
    results = {}
    for device in ("cpu", "cuda"):
        inputs = [tg.Tensor(a, requires_grad=True, device=device) for a in arrays]
        out = cell(*inputs)
        (out * tg.Tensor(cotangent, device=device)).sum().backward()
        assert out.device == device
        results[device] = [out.numpy()] + [t.grad.numpy() for t in inputs]
    for on_cuda, on_cpu in zip(results["cuda"], results["cpu"]):
        np.testing.assert_allclose(on_cuda, on_cpu, **TOLERANCE)


def test_cell_ops_reject_mismatched_shapes_and_dtypes_naming_the_op():
    x, w_ih, w_hh = tg.ones(2, 3), tg.ones(20, 3), tg.ones(20, 5)
    with pytest.raises(ValueError, match=r"lstm_cell: expected x \(N, I\), state \(N, 2H\).*state \(2, 5\)"):
        lstm_cell(x, tg.ones(2, 5), w_ih, w_hh)
    with pytest.raises(ValueError, match=r"lstm_cell: b_ih must have shape \(20,\), got \(5,\)"):
        lstm_cell(x, tg.ones(2, 10), w_ih, w_hh, tg.ones(5), None)
    with pytest.raises(ValueError, match=r"gru_cell: expected .* w_ih \(20, 3\)"):
        gru_cell(x, tg.ones(2, 5), w_ih, w_hh)
    with pytest.raises(TypeError, match="gru_cell: all inputs must share one float dtype"):
        gru_cell(x, tg.ones(2, 5), tg.ones(15, 3), tg.ones(15, 5, dtype=tg.float64))


# ----- whole sequences: the ops the stacks run, one per layer and direction ----------------------------------------
sequence_shapes = st.tuples(st.integers(1, 3), st.integers(1, 2), st.integers(1, 3), st.integers(1, 3))  # T N I H


SEQUENCE_CELLS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
GATE_BLOCKS = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def _sequence_op(cell):
    """The whole-sequence op of a cell: lstm_sequence, gru_sequence, or rnn_sequence with its nonlinearity."""
    if cell.startswith("rnn_"):
        return functools.partial(rnn_sequence, nonlinearity=cell[len("rnn_"):])
    return lstm_sequence if cell == "lstm" else gru_sequence


def _cell_step(cell):
    """One step of the cell the sequence op replaces: (x_t, state, *weights) -> state."""
    if cell.startswith("rnn_"):
        return functools.partial(_rnn_step, cell[len("rnn_"):])
    return lstm_cell if cell == "lstm" else gru_cell


def _sequence_arrays(cell, shape, bias, rng):
    """float64 (x, h0[, c0], w_ih, w_hh[, b_ih, b_hh]) for the sequence op of `cell`."""
    steps, n, i, h = shape
    rows = GATE_BLOCKS[cell] * h
    arrays = [rng.standard_normal((steps, n, i))] + [rng.standard_normal((n, h)) for _ in range(2 if cell == "lstm" else 1)]
    arrays += [rng.standard_normal((rows, i)), rng.standard_normal((rows, h))]
    return arrays + ([rng.standard_normal(rows), rng.standard_normal(rows)] if bias else [])


@given(cell=st.sampled_from(SEQUENCE_CELLS), shape=sequence_shapes, bias=st.booleans(), reverse=st.booleans(),
       seed=st.integers(0, 2**16))
def test_sequence_op_gradients_match_finite_differences(backend, cell, shape, bias, reverse, seed):
    """Every input (x, initial states, weights, biases), float64, against a random cotangent (tg.gradcheck)."""
    arrays = _sequence_arrays(cell, shape, bias, np.random.default_rng(seed))
    op = _sequence_op(cell)
    assert tg.gradcheck(lambda *inputs: op(*inputs, reverse=reverse),
                        *[tg.Tensor(a, requires_grad=True) for a in arrays], seed=seed)


@pytest.mark.parametrize("cell", SEQUENCE_CELLS)
@pytest.mark.parametrize("reverse", [False, True])
def test_sequence_ops_equal_their_cell_applied_step_by_step(backend, cell, reverse):
    """The fused cell over time (the composite the sequence op replaces) gives the same states and gradients."""
    rng = np.random.default_rng(11)
    arrays = _sequence_arrays(cell, (4, 3, 2, 5), True, rng)
    cotangent = rng.standard_normal((2, 4, 3, 5) if cell == "lstm" else (4, 3, 5))
    results = []
    for fused in (True, False):
        inputs = [tg.Tensor(a, requires_grad=True) for a in arrays]
        if fused:
            out = _sequence_op(cell)(*inputs, reverse=reverse)
        else:
            x, state, weights = inputs[0], inputs[1], inputs[2 + (cell == "lstm"):]
            if cell == "lstm":
                state = tg.concatenate([state, inputs[2]], 1)  # [h | c]
            steps = [None] * 4
            for t in (reversed(range(4)) if reverse else range(4)):
                state = _cell_step(cell)(x[t], state, *weights)
                steps[t] = state
            out = tg.stack(steps, 0)  # (T, N, H) or (T, N, 2H)
            if cell == "lstm":
                out = tg.stack([out[..., :5], out[..., 5:]], 0)  # (2, T, N, H)
        (out * tg.Tensor(cotangent)).sum().backward()
        results.append([out.numpy()] + [t.grad.numpy() for t in inputs])
    for fused, stepped in zip(*results):
        np.testing.assert_allclose(fused, stepped, **TOLERANCE)


@pytest.mark.parametrize("cell", SEQUENCE_CELLS)
def test_sequence_ops_on_cuda_match_the_cpu(cell):
    """Device data runs the cuda sequence kernels (through kernels/cuda/engine.py); tiny shapes for the simulator."""
    rng = np.random.default_rng(12)
    arrays = _sequence_arrays(cell, (3, 2, 2, 2), True, rng)
    op = _sequence_op(cell)
    cotangent = rng.standard_normal(op(*[tg.Tensor(a) for a in arrays]).shape)
    results = {}
    for device in ("cpu", "cuda"):
        inputs = [tg.Tensor(a, requires_grad=True, device=device) for a in arrays]
        out = op(*inputs, reverse=True)
        (out * tg.Tensor(cotangent, device=device)).sum().backward()
        assert out.device == device
        results[device] = [out.numpy()] + [t.grad.numpy() for t in inputs]
    for on_cuda, on_cpu in zip(results["cuda"], results["cpu"]):
        np.testing.assert_allclose(on_cuda, on_cpu, **TOLERANCE)


@pytest.mark.parametrize("kind", SEQUENCE_CELLS)
def test_stacks_on_cuda_match_the_cpu(kind):
    """A bidirectional two-layer stack with initial states keeps working on device="cuda" (the simulator here)."""
    ours, _ = twin_layers(kind, 2, 2, num_layers=2, bidirectional=True, batch_first=True)
    rng = np.random.default_rng(13)
    arrays = [rng.standard_normal((2, 3, 2))] + [rng.standard_normal((4, 2, 2)) for _ in range(2 if kind == "lstm" else 1)]
    results = {}
    for device in ("cpu", "cuda"):
        ours.to(device)
        inputs = [tg.Tensor(a, requires_grad=True, device=device) for a in arrays]
        ours.zero_grad()
        got = flat_outputs(ours(inputs[0], tuple(inputs[1:]) if kind == "lstm" else inputs[1]))
        cotangents = [tg.Tensor(np.random.default_rng(14).standard_normal(g.shape), device=device) for g in got]
        sum(((g * c).sum() for g, c in zip(got, cotangents)), tg.tensor(0.0, dtype=tg.float64, device=device)).backward()
        assert all(g.device == device for g in got)
        results[device] = ([g.numpy() for g in got] + [t.grad.numpy() for t in inputs]
                           + [p.grad.numpy() for p in ours.parameters()])
    for on_cuda, on_cpu in zip(results["cuda"], results["cpu"]):
        np.testing.assert_allclose(on_cuda, on_cpu, **TOLERANCE)


def test_sequence_ops_reject_mismatched_shapes_and_dtypes_naming_the_op():
    x, w_ih, w_hh = tg.ones(4, 2, 3), tg.ones(20, 3), tg.ones(20, 5)
    with pytest.raises(ValueError, match=r"lstm_sequence: expected x \(T, N, I\), h0 \(N, H\), c0 \(N, H\).*c0 \(2, 4\)"):
        lstm_sequence(x, tg.ones(2, 5), tg.ones(2, 4), w_ih, w_hh)
    with pytest.raises(ValueError, match=r"lstm_sequence: expected .* got x \(2, 3\)"):
        lstm_sequence(tg.ones(2, 3), tg.ones(2, 5), tg.ones(2, 5), w_ih, w_hh)
    with pytest.raises(ValueError, match=r"gru_sequence: b_hh must have shape \(15,\), got \(20,\)"):
        gru_sequence(x, tg.ones(2, 5), tg.ones(15, 3), tg.ones(15, 5), None, tg.ones(20))
    with pytest.raises(TypeError, match="gru_sequence: all inputs must share one float dtype"):
        gru_sequence(x, tg.ones(2, 5), tg.ones(15, 3), tg.ones(15, 5, dtype=tg.float64))
    with pytest.raises(ValueError, match=r"rnn_sequence: expected x \(T, N, I\), h0 \(N, H\), w_ih \(H, I\).*w_ih \(4, 3\)"):
        rnn_sequence(x, tg.ones(2, 5), tg.ones(4, 3), tg.ones(5, 5))
    with pytest.raises(ValueError, match="rnn_sequence: Unknown nonlinearity 'gelu'"):
        rnn_sequence(x, tg.ones(2, 5), tg.ones(5, 3), tg.ones(5, 5), nonlinearity="gelu")


# ----- construction: parameters, init, repr and argument checks as torch --------------------------------------
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_parameter_names_shapes_and_order_follow_torch(kind):
    ours_class, torch_class, extra = KINDS[kind]
    for kwargs in ({}, {"num_layers": 3, "bidirectional": True}, {"num_layers": 2, "bias": False}):
        ours, theirs = ours_class(3, 4, **extra, **kwargs), torch_class(3, 4, **extra, **kwargs)
        assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
            [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
        assert repr(ours) == repr(theirs)
        assert [[tuple(p.shape) for p in group] for group in ours.all_weights] == \
            [[tuple(p.shape) for p in group] for group in theirs.all_weights]
    for ours_cell, torch_cell in ((nn.LSTMCell, torch.nn.LSTMCell), (nn.GRUCell, torch.nn.GRUCell)):
        ours, theirs = ours_cell(3, 4, bias=False), torch_cell(3, 4, bias=False)
        assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
            [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
        assert repr(ours) == repr(theirs)


def test_every_parameter_is_drawn_uniformly_within_one_over_root_hidden():
    tg.manual_seed(0)
    for module in (nn.LSTM(10, 400, bidirectional=True), nn.GRU(10, 400), nn.LSTMCell(10, 400), nn.GRUCell(10, 400)):
        bound = 1 / math.sqrt(400)
        for name, parameter in module.named_parameters():
            values = parameter.numpy()
            assert np.abs(values).max() <= bound and np.abs(values).max() > 0.98 * bound, name
            np.testing.assert_allclose(values.std(), bound / math.sqrt(3), rtol=0.1)


def test_constructor_arguments_are_checked_as_torch():
    for bad, error in ((dict(hidden_size=0), ValueError), (dict(dropout=1.5), ValueError),
                       (dict(num_layers=0), ValueError), (dict(hidden_size=4.0), TypeError),
                       (dict(batch_first=1), TypeError), (dict(proj_size=-1), ValueError),
                       (dict(proj_size=9), ValueError)):
        arguments = dict(input_size=3, hidden_size=8) | bad
        with pytest.raises(error) as ours_error:
            nn.LSTM(**arguments)
        with pytest.raises(error) as torch_error:
            torch.nn.LSTM(**arguments)
        assert str(ours_error.value) == str(torch_error.value)
    with pytest.raises(NotImplementedError, match="proj_size"):
        nn.LSTM(3, 8, proj_size=2)
    lstm = nn.LSTM(3, 8)
    assert lstm.proj_size == 0 and lstm.flatten_parameters() is None


# ----- forward-time checks: the same exception and message as torch --------------------------------------------
@pytest.mark.parametrize("call", [
    lambda m, lib: m["lstm"](lib.ones(2, 3, 3, 1)),  # 4-D input
    lambda m, lib: m["lstm"](lib.ones(2, 3, 5)),  # wrong input_size
    lambda m, lib: m["lstm"](lib.ones(2, 3, 3), (lib.ones(1, 3, 4), lib.ones(1, 3, 4))),  # wrong layers·D
    lambda m, lib: m["lstm"](lib.ones(2, 3, 3), (lib.ones(2, 3, 4), lib.ones(2, 2, 4))),  # wrong c_0
    lambda m, lib: m["lstm"](lib.ones(2, 3, 3), (lib.ones(3, 4), lib.ones(3, 4))),  # 2-D hx for 3-D input
    lambda m, lib: m["lstm"](lib.ones(2, 3), (lib.ones(2, 1, 4), lib.ones(2, 1, 4))),  # 3-D hx for 2-D input
    lambda m, lib: m["gru"](lib.ones(2, 3, 3), lib.ones(2, 2, 4)),  # wrong batch in h_0
    lambda m, lib: m["gru"](lib.ones(2, 3), lib.ones(2, 1, 4)),
    lambda m, lib: m["gru"](lib.ones(2, 3, 3, dtype=lib.float64)),  # input dtype differs from the weights'
    lambda m, lib: m["lstm"](lib.ones(0, 3, 3)),  # an empty sequence
    lambda m, lib: m["lstm_cell"](lib.ones(2, 3, 3)),
    lambda m, lib: m["gru_cell"](lib.ones(2, 3), lib.ones(1, 2, 4)),
])
def test_bad_forward_arguments_raise_torchs_exception_and_message(call):
    def modules(lib):
        return {"lstm": lib.nn.LSTM(3, 4, num_layers=2), "gru": lib.nn.GRU(3, 4, bidirectional=True),
                "lstm_cell": lib.nn.LSTMCell(3, 4), "gru_cell": lib.nn.GRUCell(3, 4)}
    with pytest.raises(Exception) as torch_error:
        call(modules(torch), torch)
    with pytest.raises(type(torch_error.value)) as ours_error:
        call(modules(tg), tg)
    # torch names its dtypes torch.float64; ours are NumPy's float64
    assert str(ours_error.value) == str(torch_error.value).replace("torch.", "")


def test_layers_work_in_float32_as_built():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lstm = nn.LSTM(3, 4, bidirectional=True, batch_first=True)
    output, (h_n, c_n) = lstm(tg.randn(2, 5, 3))
    assert output.dtype == tg.float32 and output.shape == (2, 5, 8) and h_n.shape == c_n.shape == (2, 2, 4)
