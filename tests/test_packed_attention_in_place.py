"""The packed self-attention op on the kernels that read the heads in place (packed_attention_forward/_backward):
the op takes them without dropout, its gradient passes float64 finite differences with masks, and dropout still
takes the path that keeps the probabilities."""
import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.backend as tg_backend
from tinygrad_edu.ops.attention import packed_self_attention

N, L, HEADS, HEAD_DIM = 2, 5, 2, 3
E = HEADS * HEAD_DIM


def _refuse(*args):
    raise AssertionError("the per-head attention kernels ran although the kernel set reads the heads in place")


@pytest.fixture
def in_place_only(backend, monkeypatch):
    """The current kernel set with its per-head attention kernels made to fail: a test using this fixture proves
    the op took packed_attention_forward / packed_attention_backward."""
    kernel_set = tg_backend.kernels()
    for name in ("attention_forward", "attention_backward", "attention_forward_lse", "attention_backward_lse"):
        monkeypatch.setattr(kernel_set, name, _refuse)
    return kernel_set


@pytest.mark.parametrize("mask_kind", ["causal", "padding", "per_head"])
def test_packed_self_attention_in_place_passes_gradcheck_in_float64(in_place_only, mask_kind):
    rng = np.random.default_rng(0)
    packed = tg.Tensor(rng.standard_normal((N, L, 3 * E)), requires_grad=True)
    mask = None
    if mask_kind == "padding":
        mask = np.zeros((N, 1, 1, L))
        mask[0, ..., -2:] = -np.inf
    elif mask_kind == "per_head":
        mask = rng.standard_normal((N, HEADS, L, L))
        mask[1, 0, 3, :] = -np.inf  # a query with every key masked: zero output and gradient
    causal = mask_kind == "causal"
    assert tg.gradcheck(lambda x: packed_self_attention(x, HEADS, mask, 0.0, causal), packed)


def test_packed_self_attention_with_dropout_keeps_the_probability_path(backend, monkeypatch):
    kernel_set = tg_backend.kernels()
    for name in ("packed_attention_forward", "packed_attention_backward"):
        monkeypatch.setattr(kernel_set, name, _refuse)
    packed = tg.Tensor(np.random.default_rng(1).standard_normal((N, L, 3 * E)), requires_grad=True)

    def attention_with_seeded_dropout(x):
        tg.manual_seed(3)  # the same keep mask on every evaluation
        return packed_self_attention(x, HEADS, None, 0.3, False)

    assert tg.gradcheck(attention_with_seeded_dropout, packed)


def test_transformer_encoder_layer_float32_matches_the_per_head_path(backend, monkeypatch):
    """One training-shaped layer (causal, float32) gives the same output and gradients with the in-place kernels
    as with the kernels removed (the heads copied out and attended one by one)."""
    rng = np.random.default_rng(2)
    tg.manual_seed(0)
    layer = tg.nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, batch_first=True, norm_first=True)
    x_values = rng.standard_normal((3, 12, 16)).astype(np.float32)
    cotangent = tg.Tensor(rng.standard_normal((3, 12, 16)).astype(np.float32))
    results = []
    for in_place in (True, False):
        if not in_place:
            for name in ("packed_attention_forward", "packed_attention_backward"):
                monkeypatch.delattr(tg_backend.kernels(), name)
        layer.zero_grad()
        x = tg.Tensor(x_values, requires_grad=True)
        out = layer(x, is_causal=True)
        out.backward(cotangent)
        results.append([out.numpy(), x.grad.numpy()] + [p.grad.numpy() for p in layer.parameters()])
    for with_in_place, per_head in zip(*results):
        np.testing.assert_allclose(with_in_place, per_head, rtol=1e-5, atol=1e-6)
