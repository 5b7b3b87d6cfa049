"""Sections 2 and 3: framework overhead (tiny ops, the DQN MLP) and whole train steps of the toy models.

Each case builds one step twice, for the engine and for PyTorch eager on the twin model in
`benchmarks/torch_models.py`, so both sides do the same work: same layer sizes, same batch, same loss, same
optimizer, same gradient clipping. Input batches are made once; converting them to tensors is part of the step,
as it is in training. `targets` are the issue's goals (ours_time / torch_time), measured, never asserted.
"""
from dataclasses import dataclass

import numpy as np

TARGET_TINY_OP = 2.0      # tiny-op overhead <= 2x PyTorch eager
TARGET_TOY_MODEL = 1.5    # toy-model train step <= 1.5x PyTorch CPU time
TARGET_DQN = 1.0          # the DQN MLP update <= 1.0x
TARGET_GATED_RNN = 1.0    # nn.LSTM / nn.GRU forward + backward <= 1.0x
TARGET_MNIST_CNN = 1.0    # the MNIST-sized ConvNet train step <= 1.0x
TARGET_TEXTCLS = 1.0      # the textcls train step (each arch) <= 1.0x
TEXT_ARCHS = ("lstm", "gru", "transformer")
TEXT_MAX_LENGTH = 64      # the Transformer's position table, as `train textcls` builds it


@dataclass
class ModelCase:
    name: str
    section: str          # "overhead" or "models"
    make_ours: object     # (sizes) -> zero-arg step
    make_torch: object    # (sizes, torch) -> zero-arg step
    target: float = None  # goal for ours_time / torch_time; None: reported only
    profile: bool = False  # print where the step's time goes (end-to-end models)


# ----- the engine's steps ---------------------------------------------------------------------------------------

def _tg():
    import tinygrad_edu as tg
    from tinygrad_edu.nn import functional as F

    return tg, F


def ours_add_forward(sizes):
    tg, _ = _tg()
    a, b = tg.randn(sizes["tiny_side"], sizes["tiny_side"]), tg.randn(sizes["tiny_side"], sizes["tiny_side"])
    return lambda: a + b


def ours_add_forward_backward(sizes):
    tg, _ = _tg()
    side = sizes["tiny_side"]
    a, b = tg.randn(side, side, requires_grad=True), tg.randn(side, side, requires_grad=True)
    seed = tg.ones(side, side)

    def step():
        a.grad = b.grad = None
        (a + b).backward(seed)
    return step


def ours_mlp_forward_backward(sizes):
    tg, F = _tg()
    from tinygrad_edu.models import QNetwork

    network = QNetwork(4, 2, sizes["dqn_hidden"])
    rng = np.random.default_rng(0)
    observations = rng.standard_normal((sizes["batch"], 4)).astype(np.float32)
    targets = rng.standard_normal((sizes["batch"], 2)).astype(np.float32)

    def step():
        network.zero_grad()
        loss = F.huber_loss(network(tg.Tensor(observations)), tg.Tensor(targets))
        loss.backward()
    return step


def _replay_batch(sizes):
    rng = np.random.default_rng(1)
    batch = sizes["batch"]
    return (rng.standard_normal((batch, 4)).astype(np.float32), rng.integers(0, 2, batch),
            np.ones(batch, np.float32), rng.standard_normal((batch, 4)).astype(np.float32),
            (rng.random(batch) < 0.05).astype(np.float32))


def ours_dqn_update(sizes):
    """The update of `train dqn` (tinygrad_edu/tasks/dqn.py): Double-DQN target, Huber, clip 10, Adam."""
    tg, F = _tg()
    from tinygrad_edu.models import QNetwork
    from tinygrad_edu.models.dqn import td_targets

    online, target = QNetwork(4, 2, sizes["dqn_hidden"]), QNetwork(4, 2, sizes["dqn_hidden"])
    target.load_state_dict(online.state_dict())
    optimizer = tg.optim.Adam(online.parameters(), lr=5e-4)
    observations, actions, rewards, next_observations, dones = _replay_batch(sizes)
    rows = np.arange(len(actions))

    def step():
        with tg.no_grad():
            next_input = tg.Tensor(next_observations)
            next_q_target = target(next_input).numpy()  # (B, actions)
            next_q_online = online(next_input).numpy()
        targets = td_targets(rewards, dones, next_q_target, 0.99, next_q_online)  # (B,)
        chosen = online(tg.Tensor(observations))[rows, actions]  # (B,)
        loss = F.huber_loss(chosen, tg.Tensor(targets))
        optimizer.zero_grad()
        loss.backward()
        tg.optim.clip_grad_norm_(online.parameters(), 10.0)
        optimizer.step()
        return loss.item()
    return step


def _image_batch(batch, side):
    rng = np.random.default_rng(2)
    return rng.random((batch, 1, side, side)).astype(np.float32), rng.integers(0, 10, batch)


def ours_cnn(sizes, side=None, channels=(16, 32)):
    tg, F = _tg()
    from tinygrad_edu.models import ConvNet

    side = side or sizes["image_size"]
    model = ConvNet(image_size=side, channels=tuple(channels))
    optimizer = tg.optim.Adam(model.parameters(), lr=3e-3)
    images, labels = _image_batch(sizes["batch"], side)

    def step():
        loss = F.cross_entropy(model(tg.Tensor(images)), tg.Tensor(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


def ours_mnist_cnn(sizes):
    """ConvNet on 28×28: conv 1→32 → pool → conv 32→64 → pool → linear, Adam."""
    return ours_cnn(sizes, sizes["mnist_side"], sizes["mnist_channels"])


def _sort_batch(sizes):
    from tinygrad_edu.tasks.transformer import sort_batch

    return sort_batch(sizes["batch"], sizes["sort_length"], np.random.default_rng(3))


def ours_transformer(sizes):
    """As `train transformer --task sort`: vocab 11, block 2L, AdamW (weight decay 0.01), clip 1.0."""
    tg, F = _tg()
    from tinygrad_edu.models import DecoderTransformer

    length = sizes["sort_length"]
    model = DecoderTransformer(11, 2 * length, d_model=sizes["d_model"], n_heads=sizes["heads"], n_layers=sizes["layers"])
    optimizer = tg.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    inputs, targets = _sort_batch(sizes)

    def step():
        logits = model(tg.Tensor(inputs))  # (B, T, vocab)
        loss = F.cross_entropy(logits.reshape(-1, 11), targets.reshape(-1), ignore_index=-100)
        optimizer.zero_grad()
        loss.backward()
        tg.optim.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()
    return step


def _adding_batch(sizes):
    from tinygrad_edu.tasks.rnn import adding_problem

    return adding_problem(sizes["batch"], sizes["rnn_length"], np.random.default_rng(4))


def ours_rnn_adding(sizes):
    """As `train rnn`: SequenceRegressor on the adding problem, MSE, clip 1.0, Adam."""
    tg, F = _tg()
    from tinygrad_edu.models import SequenceRegressor

    model = SequenceRegressor(input_size=2, hidden_size=sizes["rnn_hidden"])
    optimizer = tg.optim.Adam(model.parameters(), lr=3e-3)
    sequences, targets = _adding_batch(sizes)

    def step():
        loss = F.mse_loss(model(tg.Tensor(sequences)), tg.Tensor(targets))
        optimizer.zero_grad()
        loss.backward()
        tg.optim.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()
    return step


def ours_rnn_perf(sizes, layer="RNN"):
    """nn.RNN / nn.LSTM / nn.GRU on (T, N, F): forward + backward of the mean output, no optimizer."""
    tg, _ = _tg()
    from tinygrad_edu import nn

    inputs, hidden, length, batch = sizes["perf_rnn"]
    rnn = getattr(nn, layer)(inputs, hidden)
    sequences = np.random.default_rng(5).standard_normal((length, batch, inputs)).astype(np.float32)

    def step():
        rnn.zero_grad()
        output, _ = rnn(tg.Tensor(sequences))  # (T, N, hidden)
        output.mean().backward()
    return step


def ours_lstm_perf(sizes):
    return ours_rnn_perf(sizes, "LSTM")


def ours_gru_perf(sizes):
    return ours_rnn_perf(sizes, "GRU")


def _text_batch(sizes):
    """Word ids (B, T) in [2, vocab) padded with 0 at the end of each row, mask (B, T) True at real words, labels (B,).

    Row lengths are drawn from 6..T (the first row is full), as `train textcls` pads a batch to its longest row.
    """
    vocab, classes, batch, length, _ = sizes["text"]
    rng = np.random.default_rng(7)
    lengths = rng.integers(min(6, length), length + 1, batch)
    lengths[0] = length
    ids = np.zeros((batch, length), np.int64)
    mask = np.zeros((batch, length), bool)
    for row, real_words in enumerate(lengths):
        ids[row, :real_words] = rng.integers(2, vocab, real_words)
        mask[row, :real_words] = True
    return ids, mask, rng.integers(0, classes, batch)


def _text_model_arguments(sizes, arch):
    """(args, kwargs) that build the same classifier on both sides."""
    vocab, classes, _, _, width = sizes["text"]
    if arch == "transformer":
        return (vocab, classes, TEXT_MAX_LENGTH), {"d_model": width, "n_heads": 4, "n_layers": 1,
                                                   "dim_feedforward": 2 * width}
    return (vocab, classes), {"cell": arch, "embedding_dim": width, "hidden_size": width, "dense_size": width}


def ours_textcls(sizes, arch):
    """As `train textcls`: cross-entropy of the logits, AdamW (lr 3e-3, weight decay 0.05)."""
    tg, F = _tg()
    from tinygrad_edu.models.textcls import RecurrentTextClassifier, TransformerTextClassifier

    args, kwargs = _text_model_arguments(sizes, arch)
    model = (TransformerTextClassifier if arch == "transformer" else RecurrentTextClassifier)(*args, **kwargs)
    optimizer = tg.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
    ids, mask, labels = _text_batch(sizes)

    def step():
        loss = F.cross_entropy(model(tg.Tensor(ids), tg.Tensor(mask)), tg.Tensor(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


# ----- PyTorch's steps ------------------------------------------------------------------------------------------

def torch_add_forward(sizes, torch):
    a, b = torch.randn(sizes["tiny_side"], sizes["tiny_side"]), torch.randn(sizes["tiny_side"], sizes["tiny_side"])
    return lambda: a + b


def torch_add_forward_backward(sizes, torch):
    side = sizes["tiny_side"]
    a, b = torch.randn(side, side, requires_grad=True), torch.randn(side, side, requires_grad=True)
    seed = torch.ones(side, side)

    def step():
        a.grad = b.grad = None
        (a + b).backward(seed)
    return step


def torch_mlp_forward_backward(sizes, torch):
    from benchmarks.torch_models import QNetwork

    network = QNetwork(4, 2, sizes["dqn_hidden"])
    rng = np.random.default_rng(0)
    observations = rng.standard_normal((sizes["batch"], 4)).astype(np.float32)
    targets = rng.standard_normal((sizes["batch"], 2)).astype(np.float32)

    def step():
        network.zero_grad()
        loss = torch.nn.functional.huber_loss(network(torch.from_numpy(observations)), torch.from_numpy(targets))
        loss.backward()
    return step


def torch_dqn_update(sizes, torch):
    from benchmarks.torch_models import QNetwork

    online, target = QNetwork(4, 2, sizes["dqn_hidden"]), QNetwork(4, 2, sizes["dqn_hidden"])
    target.load_state_dict(online.state_dict())
    optimizer = torch.optim.Adam(online.parameters(), lr=5e-4)
    observations, actions, rewards, next_observations, dones = (torch.from_numpy(a) for a in _replay_batch(sizes))
    rows = torch.arange(len(actions))

    def step():
        with torch.no_grad():
            next_input = next_observations.clone()
            next_q_target = target(next_input)  # (B, actions)
            best = online(next_input).argmax(dim=1)  # Double DQN: the online net picks, the target net values
            targets = rewards + 0.99 * (1.0 - dones) * next_q_target[rows, best]
        chosen = online(observations.clone())[rows, actions]  # (B,)
        loss = torch.nn.functional.huber_loss(chosen, targets)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(online.parameters(), 10.0)
        optimizer.step()
        return loss.item()
    return step


def torch_cnn(sizes, torch, side=None, channels=(16, 32)):
    from benchmarks.torch_models import ConvNet

    side = side or sizes["image_size"]
    model = ConvNet(image_size=side, channels=tuple(channels))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    images, labels = _image_batch(sizes["batch"], side)

    def step():
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(images)), torch.from_numpy(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


def torch_mnist_cnn(sizes, torch):
    return torch_cnn(sizes, torch, sizes["mnist_side"], sizes["mnist_channels"])


def torch_transformer(sizes, torch):
    from benchmarks.torch_models import DecoderTransformer

    length = sizes["sort_length"]
    model = DecoderTransformer(11, 2 * length, d_model=sizes["d_model"], n_heads=sizes["heads"], n_layers=sizes["layers"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    inputs, targets = _sort_batch(sizes)

    def step():
        logits = model(torch.from_numpy(inputs))  # (B, T, vocab)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 11), torch.from_numpy(targets).reshape(-1),
                                                 ignore_index=-100)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()
    return step


def torch_rnn_adding(sizes, torch):
    from benchmarks.torch_models import SequenceRegressor

    model = SequenceRegressor(input_size=2, hidden_size=sizes["rnn_hidden"])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    sequences, targets = _adding_batch(sizes)

    def step():
        loss = torch.nn.functional.mse_loss(model(torch.from_numpy(sequences)), torch.from_numpy(targets))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()
    return step


def torch_rnn_perf(sizes, torch, layer="RNN"):
    inputs, hidden, length, batch = sizes["perf_rnn"]
    rnn = getattr(torch.nn, layer)(inputs, hidden)
    sequences = torch.from_numpy(np.random.default_rng(5).standard_normal((length, batch, inputs)).astype(np.float32))

    def step():
        rnn.zero_grad()
        output, _ = rnn(sequences)  # (T, N, hidden)
        output.mean().backward()
    return step


def torch_lstm_perf(sizes, torch):
    return torch_rnn_perf(sizes, torch, "LSTM")


def torch_gru_perf(sizes, torch):
    return torch_rnn_perf(sizes, torch, "GRU")


def torch_textcls(sizes, torch, arch):
    from benchmarks.torch_models import RecurrentTextClassifier, TransformerTextClassifier

    args, kwargs = _text_model_arguments(sizes, arch)
    model = (TransformerTextClassifier if arch == "transformer" else RecurrentTextClassifier)(*args, **kwargs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
    ids, mask, labels = (torch.from_numpy(array) for array in _text_batch(sizes))

    def step():
        loss = torch.nn.functional.cross_entropy(model(ids, mask), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


def textcls_cases(sizes):
    vocab, classes, batch, length, width = sizes["text"]
    cases = []
    for arch in TEXT_ARCHS:
        if arch == "transformer":
            shape = f"d{width} h4 L1 ff{2 * width}"
        else:
            shape = f"bi{arch.upper()} emb {width} hidden {width} dense {width}"
        cases.append(ModelCase(
            f"textcls {arch} step {shape} vocab {vocab} b{batch} T{length} masked, {classes} classes, AdamW",
            "models", lambda sizes, arch=arch: ours_textcls(sizes, arch),
            lambda sizes, torch, arch=arch: torch_textcls(sizes, torch, arch), TARGET_TEXTCLS, profile=True))
    return cases


def cases_for(sizes):
    side, batch = sizes["tiny_side"], sizes["batch"]
    h = sizes["dqn_hidden"]
    rnn_in, rnn_hidden, rnn_t, rnn_b = sizes["perf_rnn"]
    mnist = sizes["mnist_side"]
    first, second = sizes["mnist_channels"]
    return [
        ModelCase(f"add {side}×{side} forward", "overhead", ours_add_forward, torch_add_forward, TARGET_TINY_OP),
        ModelCase(f"add {side}×{side} forward+backward", "overhead", ours_add_forward_backward,
                  torch_add_forward_backward, TARGET_TINY_OP),
        ModelCase(f"MLP 4→{h}→{h}→2 b{batch} Huber fwd+bwd", "overhead", ours_mlp_forward_backward,
                  torch_mlp_forward_backward),
        ModelCase(f"DQN update (MLP 4→{h}→{h}→2 b{batch}, target net, Huber, clip, Adam)", "models", ours_dqn_update,
                  torch_dqn_update, TARGET_DQN, profile=True),
        ModelCase(f"ConvNet b{batch} {sizes['image_size']}×{sizes['image_size']} Adam", "models", ours_cnn, torch_cnn,
                  TARGET_TOY_MODEL, profile=True),
        ModelCase(f"ConvNet MNIST-sized b{batch} {mnist}×{mnist} conv 1→{first}→{second} Adam", "models",
                  ours_mnist_cnn, torch_mnist_cnn, TARGET_MNIST_CNN, profile=True),
        ModelCase(f"Transformer sort d{sizes['d_model']} h{sizes['heads']} L{sizes['layers']} b{batch} "
                  f"T{2 * sizes['sort_length']} AdamW+clip", "models", ours_transformer, torch_transformer,
                  TARGET_TOY_MODEL, profile=True),
        ModelCase(f"RNN adding T{sizes['rnn_length']} hidden {sizes['rnn_hidden']} b{batch} Adam+clip", "models",
                  ours_rnn_adding, torch_rnn_adding, TARGET_TOY_MODEL, profile=True),
        ModelCase(f"nn.RNN {rnn_in}→{rnn_hidden} T{rnn_t} b{rnn_b} fwd+bwd", "models", ours_rnn_perf, torch_rnn_perf,
                  TARGET_TOY_MODEL, profile=True),
        ModelCase(f"nn.LSTM {rnn_in}→{rnn_hidden} T{rnn_t} b{rnn_b} fwd+bwd", "models", ours_lstm_perf,
                  torch_lstm_perf, TARGET_GATED_RNN, profile=True),
        ModelCase(f"nn.GRU {rnn_in}→{rnn_hidden} T{rnn_t} b{rnn_b} fwd+bwd", "models", ours_gru_perf,
                  torch_gru_perf, TARGET_GATED_RNN, profile=True),
    ] + textcls_cases(sizes)
