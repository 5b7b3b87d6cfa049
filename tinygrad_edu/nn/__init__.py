"""Neural-network layers with PyTorch's API: `Module`, layers, losses, `functional` and `init`."""
from tinygrad_edu.nn import functional, init
from tinygrad_edu.nn.activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from tinygrad_edu.nn.attention import MultiheadAttention
from tinygrad_edu.nn.conv import AvgPool2d, Conv2d, MaxPool2d
from tinygrad_edu.nn.dropout import Dropout
from tinygrad_edu.nn.embedding import Embedding
from tinygrad_edu.nn.linear import Flatten, Identity, Linear
from tinygrad_edu.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, MSELoss, NLLLoss, SmoothL1Loss
from tinygrad_edu.nn.module import Module, ModuleList, Parameter, Sequential
from tinygrad_edu.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from tinygrad_edu.nn.rnn import RNN, RNNCell
from tinygrad_edu.nn.transformer import TransformerEncoder, TransformerEncoderLayer

__all__ = [
    "AvgPool2d", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "Conv2d", "CrossEntropyLoss", "Dropout",
    "Embedding", "Flatten", "GELU", "HuberLoss", "Identity", "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax",
    "MSELoss", "MaxPool2d", "Module", "ModuleList", "MultiheadAttention", "NLLLoss", "Parameter", "RNN", "RNNCell",
    "ReLU", "Sequential", "Sigmoid", "SmoothL1Loss", "Softmax", "Tanh", "TransformerEncoder",
    "TransformerEncoderLayer", "functional", "init",
]
