"""MultiheadAttention, as `torch.nn.MultiheadAttention` (packed in-projection, out_proj, same parameter names).

Two paths compute the same function (attention-weight dropout `dropout` applies in training on both):
  * the fused scaled-dot-product-attention kernel, when the caller does not want the attention weights
    (need_weights=False, as TransformerEncoderLayer asks); for self-attention (query is key is value) one op
    takes the packed in-projection and does the split into q, k, v and heads, the attention and the merge;
  * the composite softmax(q kᵀ/√d + mask) v, written with tensor ops, which hands back the weights (PyTorch's
    default need_weights=True).
"""
import math

import numpy as np

from tinygrad_edu.nn import functional as F
from tinygrad_edu.nn import init
from tinygrad_edu.nn.linear import Linear
from tinygrad_edu.nn.module import Module, empty_parameter
from tinygrad_edu.ops.attention import packed_self_attention, packed_self_attention_applies
from tinygrad_edu.tensor import Tensor, array_to_device, as_array


class NonDynamicallyQuantizableLinear(Linear):
    """A plain Linear under the class name PyTorch gives MultiheadAttention's out_proj (so reprs match)."""


class MultiheadAttention(Module):
    """Attention with `num_heads` heads of size embed_dim / num_heads.

    Inputs are (L, N, E) or, with batch_first=True, (N, L, E), or unbatched (L, E). Masks follow PyTorch's
    MultiheadAttention: a bool `attn_mask` (L, S) or (N·heads, L, S), or a bool `key_padding_mask` (N, S), is
    True where attention is NOT allowed; a float mask is added to the scores. Returns (output, weights), the
    weights averaged over heads (N, L, S) unless average_attn_weights=False (N, heads, L, S), or None with
    need_weights=False.

    is_causal=True without an attn_mask applies the causal mask (PyTorch insists on the mask as well); with an
    attn_mask, the mask is what is used, as in PyTorch.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise AssertionError(f"MultiheadAttention: embed_dim must be divisible by num_heads (got embed_dim="
                                 f"{embed_dim}, num_heads={num_heads})")
        for name, given in (("kdim", kdim), ("vdim", vdim)):
            if given not in (None, embed_dim):
                raise NotImplementedError(f"MultiheadAttention: {name}={given} different from embed_dim={embed_dim} "
                                          f"(separate projection weights) is not supported")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are not supported")
        self.embed_dim = embed_dim
        self.kdim = embed_dim
        self.vdim = embed_dim
        self._qkv_same_embed_dim = True
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        self.in_proj_weight = empty_parameter((3 * embed_dim, embed_dim), device, dtype)
        if bias:
            self.in_proj_bias = empty_parameter((3 * embed_dim,), device, dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        init.xavier_uniform_(self.in_proj_weight)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        self.bias_k = self.bias_v = None
        self.add_zero_attn = False
        if bias:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _split_heads(self, x, length, batch):
        # (N, L, E) -> (N, heads, L, head_dim)
        return x.reshape(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"MultiheadAttention: query, key and value must all be 3-D (batched) or 2-D (unbatched), "
                             f"got {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        same_kv = key is value  # before the reshapes below, which make new tensors: PyTorch's packing test
        same_qkv = same_kv and query is key
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = (t.unsqueeze(0) for t in (query, key, value))  # (1, L, E)
            if key_padding_mask is not None:
                key_padding_mask = as_array(key_padding_mask).reshape((1, -1))
        elif not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))  # (N, L, E)
        batch, target_length, embed = query.shape
        source_length = key.shape[1]
        if embed != self.embed_dim:
            raise ValueError(f"MultiheadAttention: was expecting embedding dimension of {self.embed_dim}, but got "
                             f"query {tuple(query.shape)}")
        if key.shape != value.shape or key.shape[0] != batch or key.shape[2] != embed:
            raise ValueError(f"MultiheadAttention: key {tuple(key.shape)} and value {tuple(value.shape)} must be "
                             f"(N, S, E) with the query's N = {batch} and E = {embed} (batch-first view)")
        mask = self._additive_mask(attn_mask, key_padding_mask, batch, target_length, source_length, query.dtype)
        is_causal = bool(is_causal) and attn_mask is None  # a given attn_mask wins over the hint, as PyTorch
        weights = None
        dropout_p = self.dropout if self.training else 0.0
        if not need_weights and is_causal and mask is not None:
            # SDPA takes attn_mask or is_causal, as torch's: fold causal in
            mask = mask + np.triu(np.full((target_length, source_length), -np.inf, dtype=mask.dtype), k=1)
            is_causal = False
        packed = None
        if same_qkv:
            packed = F.linear(query, self.in_proj_weight, self.in_proj_bias)  # (N, L, 3E)
        if packed is not None and not need_weights and packed_self_attention_applies(packed, self.num_heads):
            # Self-attention without the weights (TransformerEncoderLayer): split, attend and merge in one op.
            out = packed_self_attention(packed, self.num_heads, mask, dropout_p, is_causal)  # (N, L, E)
        else:
            q, k, v = self._in_projection(query, key, value, same_kv, packed)
            q = self._split_heads(q, target_length, batch)  # (N, heads, L, head_dim)
            k = self._split_heads(k, source_length, batch)  # (N, heads, S, head_dim)
            v = self._split_heads(v, source_length, batch)  # (N, heads, S, head_dim)
            if need_weights:
                out, weights = self._composite_attention(q, k, v, mask, is_causal, dropout_p)  # (N, heads, L, hd)
            else:
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p,
                                                     is_causal=is_causal)  # (N, heads, L, head_dim)
            out = out.transpose(1, 2).reshape(batch, target_length, embed)  # (N, L, E)
        out = self.out_proj(out)
        if weights is not None and average_attn_weights:
            weights = weights.mean(dim=1)  # (N, L, S)
        if unbatched:
            return out.squeeze(0), (None if weights is None else weights.squeeze(0))
        if not self.batch_first:
            out = out.transpose(0, 1)  # (L, N, E)
        return out, weights

    def _in_projection(self, query, key, value, same_kv, packed):
        """q, k, v = x W_qᵀ + b_q, ... with the projections packed as PyTorch packs them: one linear with the whole
        in_proj_weight for self-attention (`packed`, (N, L, 3E), computed by the caller), one with its k and v
        rows when key is value.

        The packing decides which gradients are NaN: a NaN in the input reaches every row of a packed weight's
        gradient (0 · NaN), whether or not the loss uses that projection.
        """
        embed = self.embed_dim
        weight, bias = self.in_proj_weight, self.in_proj_bias
        if packed is not None:
            return packed[..., :embed], packed[..., embed:2 * embed], packed[..., 2 * embed:]
        q = F.linear(query, weight[:embed], None if bias is None else bias[:embed])  # (N, L, E)
        if same_kv:
            packed = F.linear(key, weight[embed:], None if bias is None else bias[embed:])  # (N, S, 2E)
            return q, packed[..., :embed], packed[..., embed:]
        k = F.linear(key, weight[embed:2 * embed], None if bias is None else bias[embed:2 * embed])  # (N, S, E)
        v = F.linear(value, weight[2 * embed:], None if bias is None else bias[2 * embed:])  # (N, S, E)
        return q, k, v

    def _composite_attention(self, q, k, v, mask, is_causal, dropout_p):
        """softmax(q kᵀ/√d + mask), with dropout p, times v; returns (output, weights after dropout, as PyTorch)."""
        target_length, source_length = q.shape[2], k.shape[2]
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))  # (N, heads, L, S)
        if mask is not None:
            scores = scores + Tensor._from_array(array_to_device(mask, q.device), device=q.device)
        if is_causal:
            causal = np.triu(np.full((target_length, source_length), -np.inf, dtype=q.dtype), k=1)
            scores = scores + Tensor._from_array(array_to_device(causal, q.device), device=q.device)
        weights = F.softmax(scores, dim=-1)
        if dropout_p > 0:
            weights = F.dropout(weights, dropout_p)
        return weights @ v, weights

    def _additive_mask(self, attn_mask, key_padding_mask, batch, target_length, source_length, dtype):
        """Both masks as one additive float array, (N, 1, L, S) or (N, heads, L, S); None when there is none."""
        if attn_mask is None and key_padding_mask is None:
            return None
        heads = 1
        mask = np.zeros((batch, 1, target_length, source_length), dtype=dtype)
        if attn_mask is not None:
            array = as_array(attn_mask)
            if array.ndim == 2:
                expected = (target_length, source_length)
            elif array.ndim == 3:
                expected = (batch * self.num_heads, target_length, source_length)
            else:
                raise ValueError(f"MultiheadAttention: attn_mask must be 2-D (L, S) or 3-D (N·num_heads, L, S), got "
                                 f"shape {tuple(array.shape)}")
            if tuple(array.shape) != expected:
                raise ValueError(f"MultiheadAttention: The shape of the {array.ndim}D attn_mask is {tuple(array.shape)}, "
                                 f"but should be {expected} (L = target length, S = source length)")
            if array.ndim == 3:
                heads = self.num_heads
                array = array.reshape(batch, heads, target_length, source_length)
            mask = mask + self._as_additive(array, dtype)
        if key_padding_mask is not None:
            array = as_array(key_padding_mask)
            if tuple(array.shape) != (batch, source_length):
                raise ValueError(f"MultiheadAttention: key_padding_mask must have shape (N, S) = "
                                 f"{(batch, source_length)} (batch size, source length), got {tuple(array.shape)}")
            mask = mask + self._as_additive(array, dtype).reshape(batch, 1, 1, source_length)
        return mask if heads == 1 else mask.reshape(batch, heads, target_length, source_length)

    @staticmethod
    def _as_additive(array, dtype):
        # Bool masks are True where attention is NOT allowed (MultiheadAttention's convention, unlike SDPA's).
        if array.dtype == np.bool_:
            return np.where(array, -np.inf, 0.0).astype(dtype)
        return array.astype(dtype)
