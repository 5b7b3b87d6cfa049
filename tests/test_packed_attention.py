"""MultiheadAttention's packed self-attention op against the chain of tensor ops it replaces, and against torch."""
import numpy as np
import pytest
import torch

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from tinygrad_edu.ops.attention import packed_self_attention

N, L, HEADS, HEAD_DIM = 2, 5, 2, 3
E = HEADS * HEAD_DIM


def _composite(packed, heads, mask, dropout_p, is_causal):
    """The chain the op replaces: slice q, k, v, split heads, scaled_dot_product_attention, merge heads."""
    batch, length, width = packed.shape
    embed = width // 3
    parts = (packed[..., :embed], packed[..., embed:2 * embed], packed[..., 2 * embed:])
    q, k, v = (part.reshape(batch, length, heads, embed // heads).transpose(1, 2) for part in parts)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal)
    return out.transpose(1, 2).reshape(batch, length, embed)


def _padding_mask(dtype):
    padding = np.zeros((N, 1, 1, L), dtype)
    padding[0, ..., -2:] = -np.inf  # the first sequence ends two positions early
    return padding


MASKS = {
    "none": lambda dtype: None,
    "padding": _padding_mask,  # (N, 1, 1, L), as MultiheadAttention builds it from a key_padding_mask
    "per_head": lambda dtype: np.random.default_rng(3).standard_normal((N, HEADS, L, L)).astype(dtype),
}


# scaled_dot_product_attention takes a mask or is_causal, not both.
@pytest.mark.parametrize("mask_kind, is_causal", [("none", False), ("none", True), ("padding", False),
                                                  ("per_head", False)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_packed_self_attention_matches_the_composite_chain_forward_and_backward(backend, mask_kind, is_causal, dtype):
    rng = np.random.default_rng(0)
    packed_values = rng.standard_normal((N, L, 3 * E)).astype(dtype)
    cotangent = rng.standard_normal((N, L, E)).astype(dtype)
    mask = MASKS[mask_kind](dtype)
    results = []
    for attend in (packed_self_attention, _composite):
        packed = tg.Tensor(packed_values, requires_grad=True)
        out = attend(packed, HEADS, mask, 0.0, is_causal)
        (out * tg.Tensor(cotangent)).sum().backward()
        results.append((out.numpy(), packed.grad.numpy()))
    (fused_out, fused_grad), (chain_out, chain_grad) = results
    assert fused_out.dtype == chain_out.dtype == dtype and fused_grad.dtype == dtype
    tolerance = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fused_out, chain_out, **tolerance)
    np.testing.assert_allclose(fused_grad, chain_grad, **tolerance)


def test_packed_self_attention_with_dropout_draws_the_same_mask_as_the_composite_chain(backend):
    packed_values = np.random.default_rng(1).standard_normal((N, L, 3 * E))
    results = []
    for attend in (packed_self_attention, _composite):
        tg.manual_seed(7)
        packed = tg.Tensor(packed_values, requires_grad=True)
        out = attend(packed, HEADS, _padding_mask(np.float64), 0.4, False)
        (out * out).sum().backward()
        results.append((out.numpy(), packed.grad.numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("is_causal", [False, True])
def test_packed_self_attention_gradient_matches_finite_differences(backend, is_causal):
    packed = tg.Tensor(np.random.default_rng(2).standard_normal((N, L, 3 * E)), requires_grad=True)
    mask = None if is_causal else _padding_mask(np.float64)
    assert tg.gradcheck(lambda x: packed_self_attention(x, HEADS, mask, 0.0, is_causal), packed)


def test_packed_self_attention_gradient_is_laid_out_as_q_k_v_columns():
    """Only v's columns get a gradient when the output depends on v alone (all queries attend to one key)."""
    packed = tg.Tensor(np.random.default_rng(4).standard_normal((1, 3, 3 * E)), requires_grad=True)
    out = packed_self_attention(packed, HEADS, None, 0.0, True)  # causal: query 0 sees only key 0
    out[:, 0].sum().backward()
    grad = packed.grad.numpy()
    np.testing.assert_array_equal(grad[..., :2 * E], 0.0)  # one key: the softmax is 1 whatever q and k are
    np.testing.assert_allclose(grad[0, 0, 2 * E:], 1.0)
    np.testing.assert_array_equal(grad[0, 1:, 2 * E:], 0.0)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_gradients_match_torch_with_padding_and_causal_masks(norm_first):
    torch.manual_seed(0)
    theirs = torch.nn.TransformerEncoderLayer(E, HEADS, dim_feedforward=8, dropout=0.0, batch_first=True,
                                              norm_first=norm_first).double()
    ours = nn.TransformerEncoderLayer(E, HEADS, dim_feedforward=8, dropout=0.0, batch_first=True,
                                      norm_first=norm_first).double()
    ours.load_state_dict({name: value.detach().numpy() for name, value in theirs.state_dict().items()})
    rng = np.random.default_rng(5)
    x = rng.standard_normal((N, L, E))
    cotangent = rng.standard_normal((N, L, E))
    padding = np.zeros((N, L), dtype=bool)
    padding[0, -2:] = True
    causal = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64)
    for kwargs_ours, kwargs_theirs in (
            (dict(src_key_padding_mask=padding), dict(src_key_padding_mask=torch.tensor(padding))),
            (dict(src_mask=causal.numpy(), is_causal=True), dict(src_mask=causal, is_causal=True))):
        ours.zero_grad()
        theirs.zero_grad()
        x_ours = tg.Tensor(x, requires_grad=True)
        x_theirs = torch.tensor(x, requires_grad=True)
        out_ours = ours(x_ours, **kwargs_ours)
        out_theirs = theirs(x_theirs, **kwargs_theirs)
        np.testing.assert_allclose(out_ours.numpy(), out_theirs.detach().numpy(), rtol=1e-9, atol=1e-12)
        (out_ours * tg.Tensor(cotangent)).sum().backward()
        (out_theirs * torch.tensor(cotangent)).sum().backward()
        np.testing.assert_allclose(x_ours.grad.numpy(), x_theirs.grad.numpy(), rtol=1e-9, atol=1e-12)
        for name, param in theirs.named_parameters():
            np.testing.assert_allclose(ours.get_parameter(name).grad.numpy(), param.grad.numpy(), rtol=1e-9,
                                       atol=1e-12, err_msg=name)


def test_self_attention_with_no_positions_still_takes_the_general_path():
    attention = nn.MultiheadAttention(E, HEADS, batch_first=True)
    x = tg.Tensor(np.zeros((N, 0, E), np.float32), requires_grad=True)
    out, weights = attention(x, x, x, need_weights=False)
    assert out.shape == (N, 0, E) and weights is None
    out.sum().backward()
    assert x.grad.shape == (N, 0, E)
