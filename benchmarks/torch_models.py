"""PyTorch twins of the toy models in `tinygrad_edu.models`: same layers, same sizes, so a train step does the same work.

Only the benchmarks import this module, and only after `import torch` worked (torch is the optional `bench`
extra). Initialisation schemes are left at PyTorch's defaults: they do not change the cost of a step.

    tinygrad_edu.models.ConvNet            <->  ConvNet
    tinygrad_edu.models.QNetwork           <->  QNetwork
    tinygrad_edu.models.SequenceRegressor  <->  SequenceRegressor
    tinygrad_edu.models.DecoderTransformer <->  DecoderTransformer
    tinygrad_edu.models.textcls.RecurrentTextClassifier   <->  RecurrentTextClassifier
    tinygrad_edu.models.textcls.TransformerTextClassifier <->  TransformerTextClassifier
"""
import torch
from torch import nn


class ConvNet(nn.Module):
    """conv 1→16 (3×3, pad 1) → ReLU → pool 2 → conv 16→32 → ReLU → pool 2 → linear, as the engine's ConvNet."""

    def __init__(self, in_channels=1, num_classes=10, image_size=8, channels=(16, 32)):
        super().__init__()
        first, second = channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, first, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(first, second, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.classifier = nn.Linear(second * side * side, num_classes)

    def forward(self, images):
        batch = images.shape[0]
        features = self.features(images)  # (N, 32, H/4, W/4)
        return self.classifier(features.reshape(batch, -1))  # (N, classes)


class QNetwork(nn.Module):
    """obs → hidden → hidden → actions with ReLU: the DQN network."""

    def __init__(self, observation_size=4, num_actions=2, hidden=64):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(observation_size, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, num_actions),
        )

    def forward(self, observations):
        return self.layers(observations)  # (B, obs) -> (B, actions)


class SequenceRegressor(nn.Module):
    """nn.RNN (tanh, batch_first) → linear read-out of the last layer's final hidden state."""

    def __init__(self, input_size=2, hidden_size=64, num_layers=1, outputs=1):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.readout = nn.Linear(hidden_size, outputs)

    def forward(self, sequences):
        _, final_hidden = self.rnn(sequences)  # (layers, N, hidden)
        return self.readout(final_hidden[-1])  # (N, outputs)


class DecoderTransformer(nn.Module):
    """Token + position embeddings, pre-norm GELU blocks run causally, a final LayerNorm, the LM head."""

    def __init__(self, vocab_size, block_size, d_model=64, n_heads=4, n_layers=2, dim_feedforward=None, dropout=0.0):
        super().__init__()
        self.block_size = block_size
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding = nn.Embedding(block_size, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, dim_feedforward=dim_feedforward or 4 * d_model, dropout=dropout,
            activation="gelu", batch_first=True, norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, n_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):
        batch, length = tokens.shape
        positions = torch.arange(length)
        x = self.token_embedding(tokens) + self.position_embedding(positions)  # (B, T, d_model)
        mask = nn.Transformer.generate_square_subsequent_mask(length)  # (T, T): -inf above the diagonal
        x = self.blocks(x, mask=mask, is_causal=True)  # (B, T, d_model)
        return self.head(x)  # (B, T, vocab)


class RecurrentTextClassifier(nn.Module):
    """Embedding → bidirectional LSTM or GRU (all steps) → Dropout → Dense(relu) per step → max over the real steps
    → Linear: the Keras text classifier, as the engine's."""

    def __init__(self, vocab_size, num_classes, cell="lstm", embedding_dim=64, hidden_size=64, dense_size=64,
                 dropout=0.5, pad_id=0):
        super().__init__()
        recurrent_layer = nn.LSTM if cell == "lstm" else nn.GRU
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        self.rnn = recurrent_layer(embedding_dim, hidden_size, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(2 * hidden_size, dense_size)
        self.classifier = nn.Linear(dense_size, num_classes)

    def forward(self, ids, mask):
        outputs, _ = self.rnn(self.embedding(ids))  # (B, T, 2·hidden)
        features = torch.relu(self.dense(self.dropout(outputs)))  # (B, T, dense)
        features = features.masked_fill(~mask.unsqueeze(-1), float("-inf"))  # padding never wins the max
        return self.classifier(features.max(dim=1).values)  # (B, classes)


class TransformerTextClassifier(nn.Module):
    """Word + learned position embeddings → nn.TransformerEncoder (padded keys masked) → mean over real words → Linear."""

    def __init__(self, vocab_size, num_classes, max_length, d_model=64, n_heads=4, n_layers=1, dim_feedforward=128,
                 dropout=0.2, pad_id=0):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.position_embedding = nn.Embedding(max_length, d_model)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=dim_feedforward, dropout=dropout,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.classifier = nn.Linear(d_model, num_classes)

    def forward(self, ids, mask):
        length = ids.shape[1]
        x = self.token_embedding(ids) + self.position_embedding(torch.arange(length))  # (B, T, d_model)
        x = self.encoder(x, src_key_padding_mask=~mask)  # True marks a key to ignore
        weights = mask.unsqueeze(-1).float()  # (B, T, 1)
        return self.classifier((x * weights).sum(dim=1) / weights.sum(dim=1))  # (B, classes)
