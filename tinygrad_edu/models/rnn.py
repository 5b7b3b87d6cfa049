"""A tanh RNN that reads a sequence and answers with one number from its final hidden state."""
from tinygrad_edu import nn


class SequenceRegressor(nn.Module):
    """nn.RNN (tanh) over (N, T, features) → linear read-out of the last hidden state → (N, outputs)."""

    def __init__(self, input_size=2, hidden_size=64, num_layers=1, outputs=1):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.readout = nn.Linear(hidden_size, outputs)

    def forward(self, sequences):
        _, final_hidden = self.rnn(sequences)  # (layers, N, hidden)
        return self.readout(final_hidden[-1])  # (N, outputs)
