"""MultiheadAttention, as `torch.nn.MultiheadAttention` (packed in-projection, out_proj), on the fused kernel."""
import math

import numpy as np

from tinygrad_edu.nn import functional as F
from tinygrad_edu.nn import init
from tinygrad_edu.nn.linear import Linear
from tinygrad_edu.nn.module import Module, Parameter
from tinygrad_edu.tensor import as_array


class MultiheadAttention(Module):
    """Attention with `num_heads` heads of size embed_dim / num_heads.

    Inputs are (L, N, E) or, with batch_first=True, (N, L, E). Masks follow PyTorch's MultiheadAttention: a bool
    `attn_mask` (L, S) or `key_padding_mask` (N, S) is True where attention is NOT allowed; a float mask is added
    to the scores. Returns (output, None): the fused kernel does not hand back the attention weights, so
    need_weights must be False (choice: speed over PyTorch's default of returning averaged weights).
    Attention-weight dropout is not supported by the fused kernel; dropout must be 0.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, batch_first=False, dtype=np.float32):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by num_heads {num_heads}")
        if dropout != 0.0:
            raise ValueError("MultiheadAttention: attention-weight dropout is not supported by the fused kernel; use dropout=0.0")
        self.embed_dim, self.num_heads, self.batch_first = embed_dim, num_heads, batch_first
        self.head_dim = embed_dim // num_heads
        self.in_proj_weight = Parameter(np.empty((3 * embed_dim, embed_dim), dtype=dtype))
        init.xavier_uniform_(self.in_proj_weight)
        if bias:
            self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if bias:
            init.zeros_(self.out_proj.bias)

    def _split_heads(self, x, length, batch):
        # (N, L, E) -> (N, heads, L, head_dim)
        return x.reshape(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=False, attn_mask=None, is_causal=False):
        if need_weights:
            raise ValueError("MultiheadAttention: need_weights=True is not supported (the fused kernel keeps the weights internal)")
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))  # (N, L, E)
        batch, target_length, embed = query.shape
        source_length = key.shape[1]
        if embed != self.embed_dim:
            raise ValueError(f"MultiheadAttention: expected embed_dim {self.embed_dim}, got query {query.shape}")
        w_q, w_k, w_v = (self.in_proj_weight[i * embed:(i + 1) * embed] for i in range(3))
        b_q, b_k, b_v = ((None, None, None) if self.in_proj_bias is None else
                         (self.in_proj_bias[i * embed:(i + 1) * embed] for i in range(3)))
        q = self._split_heads(F.linear(query, w_q, b_q), target_length, batch)  # (N, heads, L, head_dim)
        k = self._split_heads(F.linear(key, w_k, b_k), source_length, batch)  # (N, heads, S, head_dim)
        v = self._split_heads(F.linear(value, w_v, b_v), source_length, batch)  # (N, heads, S, head_dim)
        mask = self._additive_mask(attn_mask, key_padding_mask, batch, target_length, source_length, query.dtype)
        out = F.scaled_dot_product_attention(q, k, v, mask=mask, causal=is_causal)  # (N, heads, L, head_dim)
        out = out.transpose(1, 2).reshape(batch, target_length, embed)  # (N, L, E)
        out = self.out_proj(out)
        if not self.batch_first:
            out = out.transpose(0, 1)  # (L, N, E)
        return out, None

    @staticmethod
    def _additive_mask(attn_mask, key_padding_mask, batch, target_length, source_length, dtype):
        """Combine both masks into one additive (N, 1, L, S) float array; None when there is no mask."""
        if attn_mask is None and key_padding_mask is None:
            return None
        mask = np.zeros((batch, 1, target_length, source_length), dtype=dtype)
        for given, shape in ((attn_mask, (target_length, source_length)), (key_padding_mask, None)):
            if given is None:
                continue
            array = as_array(given)
            if shape is None:
                array = array.reshape(batch, 1, 1, source_length)
            if array.dtype == np.bool_:
                array = np.where(array, -np.inf, 0.0)
            mask = mask + array.astype(dtype)
        return mask

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"
