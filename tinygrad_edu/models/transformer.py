"""A decoder-only Transformer (GPT-style): token + learned position embeddings, pre-norm causal blocks, LM head."""
import numpy as np

from tinygrad_edu import nn
from tinygrad_edu.autograd import no_grad
from tinygrad_edu.nn import functional as F
from tinygrad_edu.tensor import Tensor, default_generator


class DecoderTransformer(nn.Module):
    """Predicts token t+1 from tokens ≤ t. Blocks are `TransformerEncoderLayer(norm_first=True)` run causally."""

    def __init__(self, vocab_size, block_size, d_model=64, n_heads=4, n_layers=2, dim_feedforward=None, dropout=0.0):
        super().__init__()
        self.block_size = block_size
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding = nn.Embedding(block_size, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, dim_feedforward=dim_feedforward or 4 * d_model, dropout=dropout,
            activation="gelu", batch_first=True, norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, n_layers, norm=nn.LayerNorm(d_model))
        self.head = nn.Linear(d_model, vocab_size)
        # nanoGPT's small-init: N(0, 0.02) embeddings keep early logits near uniform.
        for embedding in (self.token_embedding, self.position_embedding):
            nn.init.normal_(embedding.weight, 0.0, 0.02)

    def forward(self, tokens):
        batch, length = tokens.shape
        if length > self.block_size:
            raise ValueError(f"DecoderTransformer: sequence length {length} exceeds block_size {self.block_size}")
        positions = np.arange(length)
        x = self.token_embedding(tokens) + self.position_embedding(positions)  # (B, T, d_model)
        x = self.blocks(x, is_causal=True)  # (B, T, d_model)
        return self.head(x)  # (B, T, vocab)

    @no_grad()
    def generate(self, tokens, new_tokens, temperature=1.0, greedy=False):
        """Extend (B, T) integer tokens by sampling one token at a time from softmax(logits / temperature).

        temperature 0 (or greedy=True) takes the most likely token each time (argmax), the limit of a vanishing
        temperature; a negative temperature is refused.
        """
        if temperature < 0:
            raise ValueError(f"generate: temperature must be 0 (greedy) or positive, got {temperature}")
        greedy = greedy or temperature == 0
        tokens = np.asarray(tokens, dtype=np.int64)
        for _ in range(new_tokens):
            context = tokens[:, -self.block_size:]
            logits = self(Tensor._from_array(context)).numpy()[:, -1, :]  # (B, vocab)
            if greedy:
                next_token = logits.argmax(axis=-1)
            else:
                probs = F.softmax(Tensor._from_array(logits / temperature), -1).numpy().astype(np.float64)
                probs /= probs.sum(axis=-1, keepdims=True)
                next_token = np.array([default_generator().choice(len(p), p=p) for p in probs])
            tokens = np.concatenate([tokens, next_token[:, None]], axis=1)
        return tokens
