"""Neural-network layers with PyTorch's API: `Module`, layers, losses, `functional`, `init` and `utils`."""
from tinygrad_edu.nn import functional, init, utils
from tinygrad_edu.nn.activation import (
    GELU,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from tinygrad_edu.nn.attention import MultiheadAttention
from tinygrad_edu.nn.container import ModuleDict, ModuleList, ParameterList, Sequential
from tinygrad_edu.nn.conv import AvgPool2d, Conv2d, MaxPool2d
from tinygrad_edu.nn.dropout import Dropout
from tinygrad_edu.nn.embedding import Embedding
from tinygrad_edu.nn.linear import Flatten, Identity, Linear, Unflatten
from tinygrad_edu.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from tinygrad_edu.nn.module import Module, Parameter
from tinygrad_edu.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from tinygrad_edu.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from tinygrad_edu.nn.transformer import TransformerEncoder, TransformerEncoderLayer

__all__ = [
    "AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "Conv2d", "CrossEntropyLoss",
    "Dropout", "Embedding", "Flatten", "GELU", "GRU", "GRUCell", "HuberLoss", "Identity", "L1Loss", "LSTM",
    "LSTMCell", "LayerNorm", "LeakyReLU", "Linear", "LogSigmoid", "LogSoftmax", "MSELoss", "MaxPool2d", "Module",
    "ModuleDict", "ModuleList", "MultiheadAttention",
    "NLLLoss", "Parameter", "ParameterList", "RNN", "RNNCell", "ReLU", "Sequential", "Sigmoid", "SmoothL1Loss",
    "Softmax", "Softplus", "Tanh", "TransformerEncoder", "TransformerEncoderLayer", "Unflatten", "functional", "init",
    "utils",
]
