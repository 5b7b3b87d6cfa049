"""F.linear forward (bias added in place into the product) and backward against torch, on widening and narrowing
layers, non-contiguous inputs and every requires_grad combination."""
import numpy as np
import pytest
import torch

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F

SHAPES = [  # (leading dims of x, in_features K, out_features N)
    ((6,), 4, 12),      # widening, N > K
    ((2, 5), 3, 9),     # widening, with leading dims folded into rows
    ((2, 5), 9, 3),     # narrowing
    ((7,), 5, 5),
    ((0,), 3, 6),       # no rows: dW and db are zeros
]


def _torch_linear(x, weight, bias, cotangent, needs):
    tensors = [torch.tensor(a, requires_grad=need) if a is not None else None
               for a, need in zip((x, weight, bias), needs)]
    out = torch.nn.functional.linear(*tensors)
    if any(needs):
        (out * torch.tensor(cotangent)).sum().backward()
    return out.detach().numpy(), [t.grad.numpy() if t is not None and t.grad is not None else None for t in tensors]


@pytest.mark.parametrize("leading, in_features, out_features", SHAPES)
@pytest.mark.parametrize("needs", [(True, True, True), (True, False, False), (False, True, False), (False, False, True),
                                   (False, True, True)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_torch_forward_and_backward(backend, leading, in_features, out_features, needs, with_bias):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(leading + (in_features,))
    weight = rng.standard_normal((out_features, in_features))
    bias = rng.standard_normal(out_features) if with_bias else None
    needs = needs if with_bias else needs[:2] + (False,)
    cotangent = rng.standard_normal(leading + (out_features,))
    ours = [tg.Tensor(a, requires_grad=need) if a is not None else None for a, need in zip((x, weight, bias), needs)]
    out = F.linear(*ours)
    if any(needs):
        (out * tg.Tensor(cotangent)).sum().backward()
    expected_out, expected_grads = _torch_linear(x, weight, bias, cotangent, needs)
    np.testing.assert_allclose(out.numpy(), expected_out, rtol=1e-12, atol=1e-12)
    for tensor, expected in zip(ours, expected_grads):
        if expected is None:
            assert tensor is None or tensor.grad is None
        else:
            assert tensor.grad.numpy().flags.c_contiguous
            np.testing.assert_allclose(tensor.grad.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_linear_takes_transposed_and_sliced_inputs_and_cotangents(backend):
    rng = np.random.default_rng(1)
    x_full = rng.standard_normal((5, 4, 6))
    x = tg.Tensor(x_full, requires_grad=True)
    weight = tg.Tensor(rng.standard_normal((12, 4)), requires_grad=True)
    bias = tg.Tensor(rng.standard_normal(12), requires_grad=True)
    view = x.transpose(1, 2)[:, ::2]  # (5, 3, 4), not contiguous
    out = F.linear(view, weight, bias).transpose(0, 1)  # (3, 5, 12): the cotangent reaches Linear transposed
    cotangent = rng.standard_normal((3, 5, 12))
    (out * tg.Tensor(cotangent)).sum().backward()
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x_full, weight.numpy(), bias.numpy()))
    expected = torch.nn.functional.linear(tx.transpose(1, 2)[:, ::2], tw, tb).transpose(0, 1)
    (expected * torch.tensor(cotangent)).sum().backward()
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12)
    for ours, theirs in ((x, tx), (weight, tw), (bias, tb)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_linear_keeps_the_input_and_bias_unchanged_by_the_in_place_bias_add():
    x = tg.Tensor(np.ones((2, 3), np.float32))
    weight = tg.Tensor(np.ones((3, 3), np.float32))
    bias = tg.Tensor(np.arange(3, dtype=np.float32))
    first = F.linear(x, weight, bias)
    second = F.linear(x, weight, bias)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    np.testing.assert_array_equal(bias.numpy(), [0, 1, 2])
    np.testing.assert_array_equal(x.numpy(), np.ones((2, 3)))


def test_linear_gradients_pass_gradcheck_when_widening():
    x = tg.Tensor(np.random.default_rng(3).standard_normal((2, 3, 2)), requires_grad=True)
    weight = tg.Tensor(np.random.default_rng(4).standard_normal((7, 2)), requires_grad=True)
    assert tg.gradcheck(lambda a, w: F.linear(a, w), x, weight)
