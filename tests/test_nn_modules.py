import math

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from op_checks import assert_module_gradients_match

rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape)


LAYERS = {
    "linear": (lambda: nn.Linear(3, 2), (randn(4, 3),)),
    "linear_3d_input": (lambda: nn.Linear(3, 2, bias=False), (randn(2, 2, 3),)),
    "conv2d": (lambda: nn.Conv2d(2, 4, 3, stride=2, padding=1, groups=2), (randn(1, 2, 5, 5),)),
    "mlp_sequential": (lambda: nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2), nn.Tanh()), (randn(2, 3),)),
    "cnn_sequential": (
        lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.LeakyReLU(0.1), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8, 2), nn.Sigmoid()),
        (randn(2, 1, 4, 4),),
    ),
    "layer_norm": (lambda: nn.LayerNorm(4), (randn(3, 4),)),
    "batch_norm1d_train": (lambda: nn.BatchNorm1d(3), (randn(4, 3),)),
    "batch_norm2d_train": (lambda: nn.BatchNorm2d(2), (randn(2, 2, 2, 2),)),
    "rnn_cell": (lambda: nn.RNNCell(3, 4), (randn(2, 3), randn(2, 4))),
    "rnn_two_layers": (lambda: _first_output(nn.RNN(3, 4, num_layers=2, batch_first=True)), (randn(2, 3, 3),)),
    "multihead_attention": (lambda: _self_attention(nn.MultiheadAttention(4, 2, batch_first=True)), (randn(2, 3, 4),)),
    "multihead_attention_fused": (lambda: _self_attention(nn.MultiheadAttention(4, 2, batch_first=True), need_weights=False),
                                  (randn(2, 3, 4),)),
    "batch_norm1d_eval": (lambda: nn.BatchNorm1d(3).eval(), (randn(4, 3),)),
    "rnn_relu": (lambda: _first_output(nn.RNN(3, 4, nonlinearity="relu")), (randn(2, 2, 3),)),
    "transformer_pre_norm": (
        lambda: nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0, batch_first=True, norm_first=True),
        (randn(1, 3, 4),),
    ),
}


class _first_output(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)[0]


class _self_attention(nn.Module):
    def __init__(self, inner, need_weights=True):
        super().__init__()
        self.inner = inner
        self.need_weights = need_weights

    def forward(self, x):
        return self.inner(x, x, x, is_causal=True, need_weights=self.need_weights)[0]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_gradients_match_finite_differences(backend, name):
    make, inputs = LAYERS[name]
    tg.manual_seed(0)
    assert_module_gradients_match(make(), *inputs)


def test_embedding_gradient_scatter_adds_and_skips_padding():
    embedding = nn.Embedding(5, 3, padding_idx=0)
    indices = tg.Tensor([[1, 0, 1], [4, 4, 2]])
    out = embedding(indices)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.numpy()[0, 1], np.zeros(3))
    out.sum().backward()
    np.testing.assert_array_equal(embedding.weight.grad.numpy()[:, 0], [0, 2, 1, 0, 2])
    with pytest.raises(IndexError, match="embedding: index out of range for a table of 5 rows"):
        embedding(tg.Tensor([5]))


def test_dropout_scales_in_training_and_is_identity_in_eval():
    tg.manual_seed(0)
    dropout = nn.Dropout(0.25)
    x = tg.ones(10_000)
    y = dropout(x).numpy()
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02
    assert dropout.eval() is dropout and not dropout.training
    np.testing.assert_array_equal(dropout(x).numpy(), x.numpy())


def test_batch_norm_tracks_running_stats_and_uses_them_in_eval():
    norm = nn.BatchNorm1d(2, momentum=0.5)
    x = np.array([[1.0, 10.0], [3.0, 30.0]], dtype=np.float32)
    y = norm(tg.Tensor(x)).numpy()
    np.testing.assert_allclose(y, [[-1, -1], [1, 1]], atol=1e-2)
    np.testing.assert_allclose(norm.running_mean.numpy(), 0.5 * np.array([2.0, 20.0]), rtol=1e-6)
    np.testing.assert_allclose(norm.running_var.numpy(), 0.5 * 1 + 0.5 * np.array([2.0, 200.0]), rtol=1e-6)
    assert norm.num_batches_tracked.item() == 1
    norm.eval()
    expected = (x - norm.running_mean.numpy()) / np.sqrt(norm.running_var.numpy() + 1e-5)
    np.testing.assert_allclose(norm(tg.Tensor(x)).numpy(), expected, rtol=1e-5)
    assert norm.num_batches_tracked.item() == 1


def test_named_parameters_use_pytorch_names_without_duplicates():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared, nn.RNN(2, 3))
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "3.weight_ih_l0", "3.weight_hh_l0", "3.bias_ih_l0", "3.bias_hh_l0"]
    assert model.num_parameters() == 6 + 6 + 9 + 3 + 3


def test_train_and_eval_recurse_and_return_self():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5)))
    assert model.eval() is model
    assert all(not m.training for m in model.modules())
    assert all(m.training for m in model.train().modules())


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'weights'"):
        nn.Linear(2, 2).weights


def test_state_dict_round_trip_and_buffers():
    tg.manual_seed(1)
    source = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    source(tg.randn(2, 1, 4, 4))  # updates running stats
    target = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert list(source.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"]
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_strict_loading_reports_missing_unexpected_and_mismatched_keys_as_pytorch():
    model = nn.Linear(3, 2)
    state = model.state_dict()
    with pytest.raises(RuntimeError, match=r'Error\(s\) in loading state_dict for Linear:\n\tMissing key\(s\) in state_dict: "bias"'):
        model.load_state_dict({"weight": state["weight"]})
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "extra"'):
        model.load_state_dict({**state, "extra": tg.ones(1)})
    with pytest.raises(RuntimeError, match=r"size mismatch for weight: copying a param with shape \(3, 3\) from checkpoint, "
                                           r"the shape in current model is \(2, 3\)"):
        model.load_state_dict({**state, "weight": tg.ones(3, 3)}, strict=False)
    result = model.load_state_dict({"weight": state["weight"], "extra": tg.ones(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]


def test_default_initialisation_matches_pytorch_bounds():
    tg.manual_seed(0)
    linear = nn.Linear(100, 50)
    bound = 1 / math.sqrt(100)
    assert np.abs(linear.weight.numpy()).max() <= bound and np.abs(linear.weight.numpy()).max() > 0.9 * bound
    assert np.abs(linear.bias.numpy()).max() <= bound
    conv = nn.Conv2d(4, 8, 3)
    conv_bound = 1 / math.sqrt(4 * 9)
    assert np.abs(conv.weight.numpy()).max() <= conv_bound and np.abs(conv.weight.numpy()).max() > 0.9 * conv_bound
    assert linear.weight.dtype == np.float32


def test_repr_reads_like_pytorch():
    text = repr(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    assert text == "Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): ReLU()\n)"


def test_rnn_matches_an_explicit_loop_over_rnn_cells():
    tg.manual_seed(0)
    rnn = nn.RNN(3, 4, num_layers=1, batch_first=True)
    x = tg.randn(2, 5, 3)
    output, h_n = rnn(x)
    assert output.shape == (2, 5, 4) and h_n.shape == (1, 2, 4)
    h = np.zeros((2, 4), dtype=np.float32)
    for t in range(5):
        h = np.tanh(x.numpy()[:, t] @ rnn.weight_ih_l0.numpy().T + rnn.bias_ih_l0.numpy() + h @ rnn.weight_hh_l0.numpy().T + rnn.bias_hh_l0.numpy())
        np.testing.assert_allclose(output.numpy()[:, t], h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_n.numpy()[0], h, rtol=1e-5, atol=1e-6)


def test_multihead_attention_matches_a_per_head_composite_on_both_paths():
    tg.manual_seed(0)
    attention = nn.MultiheadAttention(4, 2, batch_first=True).double()
    x = np.random.default_rng(2).standard_normal((2, 3, 4))
    padding = np.array([[False, False, True], [False, False, False]])
    w, b = attention.in_proj_weight.numpy(), attention.in_proj_bias.numpy()
    q, k, v = (x @ w[i * 4:(i + 1) * 4].T + b[i * 4:(i + 1) * 4] for i in range(3))
    heads, probabilities = [], []
    for h in range(2):
        cols = slice(2 * h, 2 * h + 2)
        scores = q[..., cols] @ np.swapaxes(k[..., cols], 1, 2) / np.sqrt(2) + np.where(padding[:, None, :], -np.inf, 0)
        p = np.exp(scores - scores.max(-1, keepdims=True))
        p = p / p.sum(-1, keepdims=True)
        probabilities.append(p)
        heads.append(p @ v[..., cols])
    expected = np.concatenate(heads, -1) @ attention.out_proj.weight.numpy().T + attention.out_proj.bias.numpy()
    fused, no_weights = attention(tg.Tensor(x), tg.Tensor(x), tg.Tensor(x), key_padding_mask=padding, need_weights=False)
    assert no_weights is None
    np.testing.assert_allclose(fused.numpy(), expected, rtol=1e-10)
    composite, weights = attention(tg.Tensor(x), tg.Tensor(x), tg.Tensor(x), key_padding_mask=padding)
    np.testing.assert_allclose(composite.numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(weights.numpy(), np.mean(probabilities, axis=0), rtol=1e-10)
    _, per_head = attention(tg.Tensor(x), tg.Tensor(x), tg.Tensor(x), key_padding_mask=padding, average_attn_weights=False)
    np.testing.assert_allclose(per_head.numpy(), np.stack(probabilities, axis=1), rtol=1e-10)


def test_transformer_encoder_stacks_independent_copies():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, norm_first=True)
    encoder = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(8))
    out = encoder(tg.randn(5, 3, 8), is_causal=True)
    assert out.shape == (5, 3, 8)
    first, second = encoder.layers
    assert first.linear1.weight is not second.linear1.weight
    assert encoder.num_parameters() == 2 * layer.num_parameters() + 16


def test_losses_match_their_formulas(backend):
    prediction = np.array([0.5, -2.0, 3.0])
    target = np.array([0.0, -0.5, 1.0])
    d = prediction - target
    cases = {
        nn.MSELoss(): np.mean(d ** 2),
        nn.SmoothL1Loss(beta=1.0): np.mean(np.where(np.abs(d) < 1, 0.5 * d ** 2, np.abs(d) - 0.5)),
        nn.HuberLoss(delta=2.0): np.mean(np.where(np.abs(d) <= 2, 0.5 * d ** 2, 2 * (np.abs(d) - 1))),
        nn.BCEWithLogitsLoss(): np.mean(-(target * np.log(1 / (1 + np.exp(-prediction)))
                                          + (1 - target) * np.log(1 - 1 / (1 + np.exp(-prediction))))),
    }
    for loss_fn, expected in cases.items():
        np.testing.assert_allclose(loss_fn(tg.Tensor(prediction), tg.Tensor(target)).item(), expected, rtol=1e-10)
        assert tg.gradcheck(lambda p, t: loss_fn(p, t), tg.Tensor(prediction), tg.Tensor(target))
    sums = nn.MSELoss(reduction="sum")(tg.Tensor(prediction), tg.Tensor(target))
    np.testing.assert_allclose(sums.item(), np.sum(d ** 2))


def test_bce_with_logits_is_stable_at_extreme_logits():
    logits = tg.Tensor(np.array([1e4, -1e4], dtype=np.float32), requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(logits, tg.Tensor(np.array([0.0, 1.0], dtype=np.float32)), reduction="none")
    np.testing.assert_allclose(loss.numpy(), [1e4, 1e4])
    loss.sum().backward()
    np.testing.assert_allclose(logits.grad.numpy(), [1.0, -1.0])


def test_loss_errors_are_clear():
    with pytest.raises(ValueError, match=r"mse_loss: input \(3,\) and target \(2,\) must have the same shape"):
        F.mse_loss(tg.ones(3), tg.ones(2))
    with pytest.raises(ValueError, match="CrossEntropyLoss: 'avg' is not a valid value for reduction"):
        nn.CrossEntropyLoss(reduction="avg")
