"""The toy models that `tinygrad-edu train` trains."""
from tinygrad_edu.models.cnn import ConvNet
from tinygrad_edu.models.dqn import QNetwork, ReplayBuffer
from tinygrad_edu.models.rnn import SequenceRegressor
from tinygrad_edu.models.transformer import DecoderTransformer

__all__ = ["ConvNet", "DecoderTransformer", "QNetwork", "ReplayBuffer", "SequenceRegressor"]
