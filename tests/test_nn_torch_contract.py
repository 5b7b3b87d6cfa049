"""nn, nn.functional, nn.init, nn.utils and utils.data against PyTorch itself: signatures, numbers, errors.

The signatures are a contract written down as data (the tables below) and compared with torch's own
`inspect.signature`, so a renamed or reordered argument fails here rather than in a user's script.
"""
import inspect
import math
import warnings
from collections import OrderedDict, namedtuple

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
import tinygrad_edu.nn.utils
from tinygrad_edu.utils.data import DataLoader, Dataset, TensorDataset, default_collate, random_split


def as_torch(x, requires_grad=False):
    array = x.numpy() if isinstance(x, tg.Tensor) else np.asarray(x)
    return torch.tensor(array, requires_grad=requires_grad)


def torch_state(module):
    return {key: value.detach().numpy().copy() for key, value in module.state_dict().items()}


# ----- signatures: argument names, order and defaults as torch's ----------------------------------------------------
MODULE_SIGNATURES = [
    (nn.Linear, tnn.Linear), (nn.Conv2d, tnn.Conv2d), (nn.MaxPool2d, tnn.MaxPool2d), (nn.AvgPool2d, tnn.AvgPool2d),
    (nn.Dropout, tnn.Dropout), (nn.Embedding, tnn.Embedding), (nn.LayerNorm, tnn.LayerNorm),
    (nn.BatchNorm1d, tnn.BatchNorm1d), (nn.BatchNorm2d, tnn.BatchNorm2d), (nn.ReLU, tnn.ReLU),
    (nn.LeakyReLU, tnn.LeakyReLU), (nn.GELU, tnn.GELU), (nn.Softmax, tnn.Softmax), (nn.LogSoftmax, tnn.LogSoftmax),
    (nn.Softplus, tnn.Softplus), (nn.Flatten, tnn.Flatten), (nn.Unflatten, tnn.Unflatten), (nn.MSELoss, tnn.MSELoss),
    (nn.L1Loss, tnn.L1Loss), (nn.SmoothL1Loss, tnn.SmoothL1Loss), (nn.HuberLoss, tnn.HuberLoss),
    (nn.CrossEntropyLoss, tnn.CrossEntropyLoss), (nn.NLLLoss, tnn.NLLLoss), (nn.BCELoss, tnn.BCELoss),
    (nn.BCEWithLogitsLoss, tnn.BCEWithLogitsLoss), (nn.MultiheadAttention, tnn.MultiheadAttention),
    (nn.TransformerEncoderLayer, tnn.TransformerEncoderLayer), (nn.TransformerEncoder, tnn.TransformerEncoder),
    (nn.RNNCell, tnn.RNNCell), (nn.ModuleList, tnn.ModuleList), (nn.ModuleDict, tnn.ModuleDict),
    (nn.ParameterList, tnn.ParameterList),
]

FORWARD_SIGNATURES = [
    (nn.MultiheadAttention.forward, tnn.MultiheadAttention.forward),
    (nn.TransformerEncoderLayer.forward, tnn.TransformerEncoderLayer.forward),
    (nn.TransformerEncoder.forward, tnn.TransformerEncoder.forward),
    (nn.RNNCell.forward, tnn.RNNCell.forward), (nn.Embedding.forward, tnn.Embedding.forward),
]

FUNCTION_SIGNATURES = [
    (F.relu, TF.relu), (F.leaky_relu, TF.leaky_relu), (F.softmax, TF.softmax), (F.log_softmax, TF.log_softmax),
    (F.dropout, TF.dropout), (F.layer_norm, TF.layer_norm), (F.batch_norm, TF.batch_norm),
    (F.embedding, TF.embedding), (F.pad, TF.pad), (F.mse_loss, TF.mse_loss), (F.l1_loss, TF.l1_loss),
    (F.smooth_l1_loss, TF.smooth_l1_loss), (F.huber_loss, TF.huber_loss), (F.cross_entropy, TF.cross_entropy),
    (F.nll_loss, TF.nll_loss), (F.binary_cross_entropy, TF.binary_cross_entropy),
    (F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits),
    (nn.init.uniform_, tnn.init.uniform_), (nn.init.normal_, tnn.init.normal_), (nn.init.constant_, tnn.init.constant_),
    (nn.init.xavier_uniform_, tnn.init.xavier_uniform_), (nn.init.xavier_normal_, tnn.init.xavier_normal_),
    (nn.init.kaiming_uniform_, tnn.init.kaiming_uniform_), (nn.init.kaiming_normal_, tnn.init.kaiming_normal_),
    (nn.init.orthogonal_, tnn.init.orthogonal_), (nn.init.trunc_normal_, tnn.init.trunc_normal_),
    (nn.init.calculate_gain, tnn.init.calculate_gain),
    (tinygrad_edu.nn.utils.clip_grad_value_, torch.nn.utils.clip_grad_value_),
    (tinygrad_edu.nn.utils.clip_grad_norm_, torch.nn.utils.clip_grad_norm_),
    (tinygrad_edu.nn.utils.parameters_to_vector, torch.nn.utils.parameters_to_vector),
    (tg.nn.Module.named_parameters, tnn.Module.named_parameters), (tg.nn.Module.named_buffers, tnn.Module.named_buffers),
    (tg.nn.Module.named_modules, tnn.Module.named_modules), (tg.nn.Module.register_buffer, tnn.Module.register_buffer),
    (tg.nn.Module.load_state_dict, tnn.Module.load_state_dict), (tg.nn.Module.zero_grad, tnn.Module.zero_grad),
    (tg.nn.Module.train, tnn.Module.train), (tg.nn.Module.state_dict, tnn.Module.state_dict),
    (random_split, torch.utils.data.random_split), (TensorDataset.__init__, torch.utils.data.TensorDataset.__init__),
]


def _parameters(function):
    """(name, kind, default) of each parameter; defaults that are torch objects (a Generator, F.relu) by name."""
    described = []
    for parameter in inspect.signature(function).parameters.values():
        default = parameter.default
        if callable(default) or type(default).__module__.startswith("torch"):
            default = getattr(default, "__name__", type(default).__name__)
        described.append((parameter.name, parameter.kind, default))
    return described


@pytest.mark.parametrize("ours, theirs", MODULE_SIGNATURES + FORWARD_SIGNATURES,
                         ids=lambda f: getattr(f, "__qualname__", str(f)))
def test_module_constructors_and_forwards_have_torch_signatures(ours, theirs):
    if isinstance(ours, type):
        ours, theirs = ours.__init__, theirs.__init__
    assert _parameters(ours) == _parameters(theirs)


@pytest.mark.parametrize("ours, theirs", FUNCTION_SIGNATURES, ids=lambda f: getattr(f, "__qualname__", str(f)))
def test_functions_have_torch_signatures(ours, theirs):
    mine, torchs = _parameters(ours), _parameters(theirs)
    if theirs is torch.utils.data.random_split:  # torch's default is its global Generator, ours None (the global one)
        torchs[-1] = (torchs[-1][0], torchs[-1][1], None)
    # Keyword-only aliases of our own (axis= for dim=) may follow torch's parameters.
    assert mine[:len(torchs)] == torchs
    assert all(kind == inspect.Parameter.KEYWORD_ONLY for _, kind, _ in mine[len(torchs):])


def test_torch_names_exist_in_nn_functional_init_and_utils():
    for name in ["relu", "leaky_relu", "gelu", "tanh", "sigmoid", "softplus", "logsigmoid", "softmax", "log_softmax",
                 "dropout", "linear", "conv2d", "max_pool2d", "avg_pool2d", "layer_norm", "batch_norm", "embedding",
                 "one_hot", "pad", "scaled_dot_product_attention", "mse_loss", "l1_loss", "smooth_l1_loss",
                 "huber_loss", "cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"]:
        assert callable(getattr(F, name)), name
    for name in ["uniform_", "normal_", "constant_", "zeros_", "ones_", "eye_", "xavier_uniform_", "xavier_normal_",
                 "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "trunc_normal_", "calculate_gain",
                 "_calculate_fan_in_and_fan_out"]:
        assert callable(getattr(nn.init, name)), name
    assert nn.utils is tinygrad_edu.nn.utils
    assert nn.utils.clip_grad_norm_ is tg.optim.clip_grad_norm_


# ----- Embedding ----------------------------------------------------------------------------------------------------
def test_embedding_negative_padding_idx_is_normalised_and_gets_no_gradient_as_torch():
    tg.manual_seed(0)
    ours = nn.Embedding(6, 3, padding_idx=-1)
    theirs = tnn.Embedding(6, 3, padding_idx=-1)
    assert ours.padding_idx == theirs.padding_idx == 5
    np.testing.assert_array_equal(ours.weight.numpy()[5], 0)
    theirs.load_state_dict({"weight": torch.tensor(ours.weight.numpy())})
    indices = np.array([[5, 1, 5], [0, 5, 2]])
    cotangent = np.random.default_rng(0).standard_normal((2, 3, 3)).astype(np.float32)
    (ours(tg.Tensor(indices)) * tg.Tensor(cotangent)).sum().backward()
    (theirs(torch.tensor(indices)) * torch.tensor(cotangent)).sum().backward()
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(ours.weight.grad.numpy()[5], 0)


def test_functional_embedding_returns_the_padding_row_and_blocks_only_its_gradient():
    weight = np.arange(12.0).reshape(4, 3)
    indices = np.array([2, 0, 2, 3])
    ours_weight = tg.Tensor(weight, requires_grad=True)
    theirs_weight = torch.tensor(weight, requires_grad=True)
    ours = F.embedding(tg.Tensor(indices), ours_weight, padding_idx=2)
    theirs = TF.embedding(torch.tensor(indices), theirs_weight, padding_idx=2)
    np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())  # row 2 itself, not zeros
    cotangent = np.random.default_rng(1).standard_normal((4, 3))
    (ours * tg.Tensor(cotangent)).sum().backward()
    (theirs * torch.tensor(cotangent)).sum().backward()
    np.testing.assert_allclose(ours_weight.grad.numpy(), theirs_weight.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("padding_idx", [6, -7])
def test_embedding_padding_idx_out_of_range_raises_as_torch(padding_idx):
    with pytest.raises(AssertionError):
        tnn.Embedding(6, 3, padding_idx=padding_idx)
    with pytest.raises(AssertionError, match="padding_idx must be within num_embeddings"):
        nn.Embedding(6, 3, padding_idx=padding_idx)


def test_embedding_arguments_without_an_implementation_raise_naming_them():
    with pytest.raises(NotImplementedError, match="embedding: max_norm"):
        F.embedding(tg.Tensor(np.array([0])), tg.ones(2, 2), max_norm=1.0)
    with pytest.raises(NotImplementedError, match="Embedding: max_norm"):
        nn.Embedding(3, 2, max_norm=1.0)
    pretrained = nn.Embedding.from_pretrained(tg.ones(3, 2))
    assert not pretrained.weight.requires_grad and pretrained.weight.shape == (3, 2)


# ----- BatchNorm ----------------------------------------------------------------------------------------------------
def test_batch_norm_in_eval_without_running_stats_raises_as_torch():
    x = tg.randn(4, 3)
    with pytest.raises(RuntimeError, match="running_mean must be defined in evaluation mode"):
        F.batch_norm(x, None, None, training=False)
    batch_stats = F.batch_norm(x, None, None, training=True)
    np.testing.assert_allclose(batch_stats.numpy(), TF.batch_norm(as_torch(x), None, None, training=True).numpy(),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("momentum", [None, 0.3])
def test_batch_norm_running_statistics_follow_torch_including_cumulative_average(momentum):
    ours = nn.BatchNorm1d(3, momentum=momentum).double()
    theirs = tnn.BatchNorm1d(3, momentum=momentum).double()
    rng = np.random.default_rng(0)
    for step in range(3):
        x = rng.standard_normal((5, 3)) * (step + 1) + step
        np.testing.assert_allclose(ours(tg.Tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10)
    for key, value in torch_state(theirs).items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value, rtol=1e-12, err_msg=key)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((2, 3))
    np.testing.assert_allclose(ours(tg.Tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10)


def test_batch_norm_without_tracked_stats_has_torch_state_dict_and_uses_batch_stats_in_eval():
    ours = nn.BatchNorm2d(2, track_running_stats=False)
    theirs = tnn.BatchNorm2d(2, track_running_stats=False)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    x = np.random.default_rng(1).standard_normal((2, 2, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(ours.eval()(tg.Tensor(x)).numpy(), theirs.eval()(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    assert repr(nn.BatchNorm1d(3)) == repr(tnn.BatchNorm1d(3))


def test_batch_norm_errors_name_the_module_and_the_shape():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(3)(tg.ones(2, 3, 4))
    with pytest.raises(RuntimeError, match=r"BatchNorm1d: expected input with 3 channels"):
        nn.BatchNorm1d(3)(tg.ones(2, 4))


# ----- losses -------------------------------------------------------------------------------------------------------
def _compare_with_torch(ours_fn, theirs_fn, inputs, differentiable=(0,), rtol=1e-10):
    """Forward and (for a random cotangent) backward, ours against torch's, in float64."""
    ours_inputs = [tg.Tensor(a, requires_grad=i in differentiable) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
                   else (tg.Tensor(a) if isinstance(a, np.ndarray) else a) for i, a in enumerate(inputs)]
    theirs_inputs = [torch.tensor(a, requires_grad=i in differentiable and a.dtype.kind == "f")
                     if isinstance(a, np.ndarray) else a for i, a in enumerate(inputs)]
    ours, theirs = ours_fn(*ours_inputs), theirs_fn(*theirs_inputs)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=rtol, atol=1e-12)
    cotangent = np.random.default_rng(5).standard_normal(theirs.shape)
    (ours * tg.Tensor(cotangent)).sum().backward()
    (theirs * torch.tensor(cotangent)).sum().backward()
    for i in differentiable:
        np.testing.assert_allclose(ours_inputs[i].grad.numpy(), theirs_inputs[i].grad.numpy(), rtol=rtol, atol=1e-12)


rng = np.random.default_rng(0)
PREDICTION = rng.standard_normal((3, 4)) * 2
TARGET = rng.standard_normal((3, 4))
WEIGHT = rng.uniform(0.5, 2.0, (3, 4))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name, kwargs", [
    ("mse_loss", {}), ("l1_loss", {}), ("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.0}),
    ("smooth_l1_loss", {"beta": 2.5}), ("huber_loss", {}), ("huber_loss", {"delta": 0.3}),
])
def test_regression_losses_match_torch(name, kwargs, reduction):
    _compare_with_torch(lambda p, t: getattr(F, name)(p, t, reduction=reduction, **kwargs),
                  lambda p, t: getattr(TF, name)(p, t, reduction=reduction, **kwargs), [PREDICTION, TARGET], (0, 1))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_elementwise_weighted_losses_match_torch(name, reduction):
    _compare_with_torch(lambda p, t, w: getattr(F, name)(p, t, reduction=reduction, weight=w),
                  lambda p, t, w: getattr(TF, name)(p, t, reduction=reduction, weight=w), [PREDICTION, TARGET, WEIGHT])


def test_smooth_l1_with_beta_zero_is_l1_not_a_division_by_zero():
    loss = F.smooth_l1_loss(tg.Tensor(PREDICTION), tg.Tensor(TARGET), beta=0)
    np.testing.assert_allclose(loss.item(), F.l1_loss(tg.Tensor(PREDICTION), tg.Tensor(TARGET)).item())
    with pytest.raises(RuntimeError, match="smooth_l1_loss does not support negative values for beta"):
        F.smooth_l1_loss(tg.ones(2), tg.ones(2), beta=-1.0)
    with pytest.raises(RuntimeError, match="huber_loss does not support non-positive values for delta"):
        F.huber_loss(tg.ones(2), tg.ones(2), delta=0.0)


def test_a_broadcast_target_warns_and_broadcasts_as_torch():
    with pytest.warns(UserWarning, match="target size"):
        ours = F.mse_loss(tg.Tensor(PREDICTION), tg.Tensor(TARGET[:, :1]))
    with pytest.warns(UserWarning, match="target size"):
        theirs = TF.mse_loss(torch.tensor(PREDICTION), torch.tensor(TARGET[:, :1]))
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)


def test_legacy_size_average_and_reduce_arguments_map_to_a_reduction_as_torch():
    with pytest.warns(UserWarning, match="reduction='sum'"):
        ours = F.mse_loss(tg.Tensor(PREDICTION), tg.Tensor(TARGET), size_average=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = TF.mse_loss(torch.tensor(PREDICTION), torch.tensor(TARGET), size_average=False)
        assert nn.MSELoss(reduce=False).reduction == tnn.MSELoss(reduce=False).reduction == "none"
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)


LOGITS = rng.standard_normal((5, 4)) * 3
LABELS = np.array([1, 0, 3, 3, 2])
CLASS_WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kwargs", [
    {}, {"label_smoothing": 0.2}, {"ignore_index": 3}, {"weight": CLASS_WEIGHT},
    {"weight": CLASS_WEIGHT, "label_smoothing": 0.2}, {"weight": CLASS_WEIGHT, "label_smoothing": 0.1, "ignore_index": 0},
])
def test_cross_entropy_with_class_weights_smoothing_and_ignore_index_matches_torch(kwargs, reduction):
    def call(function, tensor_type):
        options = {k: tensor_type(v) if k == "weight" else v for k, v in kwargs.items()}
        return lambda logits, labels: function(logits, labels, reduction=reduction, **options)

    _compare_with_torch(call(F.cross_entropy, tg.Tensor), call(TF.cross_entropy, torch.tensor), [LOGITS, LABELS])
    log_probs = LOGITS - np.log(np.exp(LOGITS).sum(1, keepdims=True))
    if "label_smoothing" not in kwargs:
        _compare_with_torch(call(F.nll_loss, tg.Tensor), call(TF.nll_loss, torch.tensor), [log_probs, LABELS])


@pytest.mark.parametrize("kwargs", [{}, {"weight": CLASS_WEIGHT}, {"weight": CLASS_WEIGHT, "label_smoothing": 0.3}])
def test_cross_entropy_with_probability_targets_matches_torch(kwargs):
    probabilities = np.exp(TARGET[:, :4]) / np.exp(TARGET[:, :4]).sum(1, keepdims=True)
    logits = LOGITS[:3]

    def call(function, tensor_type):
        options = {k: tensor_type(v) if k == "weight" else v for k, v in kwargs.items()}
        return lambda x, p: function(x, p, **options)

    _compare_with_torch(call(F.cross_entropy, tg.Tensor), call(TF.cross_entropy, torch.tensor), [logits, probabilities], (0, 1))


def test_cross_entropy_shapes_follow_torch_for_spatial_and_unbatched_inputs():
    spatial = rng.standard_normal((2, 3, 4))
    labels = np.array([[0, 2, 1, 1], [2, 2, 0, 1]])
    for reduction in ("none", "mean"):
        _compare_with_torch(lambda x, y: F.cross_entropy(x, y, reduction=reduction, weight=tg.Tensor(CLASS_WEIGHT[:3])),
                      lambda x, y: TF.cross_entropy(x, y, reduction=reduction, weight=torch.tensor(CLASS_WEIGHT[:3])),
                      [spatial, labels])
        _compare_with_torch(lambda x, y: F.nll_loss(x, y, reduction=reduction),
                      lambda x, y: TF.nll_loss(x, y, reduction=reduction), [spatial, labels])
        _compare_with_torch(lambda x, y: F.cross_entropy(x, y, reduction=reduction),
                      lambda x, y: TF.cross_entropy(x, y, reduction=reduction), [LOGITS[0], np.array(2)])


def test_cross_entropy_mean_over_no_targets_is_nan_as_torch():
    everything_ignored = np.array([-100, -100])
    assert np.isnan(F.cross_entropy(tg.Tensor(LOGITS[:2]), everything_ignored).item())
    assert np.isnan(F.nll_loss(tg.Tensor(LOGITS[:2]), everything_ignored).item())
    assert np.isnan(TF.cross_entropy(torch.tensor(LOGITS[:2]), torch.tensor(everything_ignored)).item())


def test_an_ignored_row_with_minus_inf_log_probabilities_adds_nothing_as_torch():
    log_probs = np.array([[-np.inf, -0.1, -2.0], [-1.0, -1.0, -1.5]])
    labels = np.array([-100, 1])
    for kwargs in ({}, {"weight": CLASS_WEIGHT[:3]}):
        ours = F.nll_loss(tg.Tensor(log_probs), labels, **{k: tg.Tensor(v) for k, v in kwargs.items()})
        theirs = TF.nll_loss(torch.tensor(log_probs), torch.tensor(labels), **{k: torch.tensor(v) for k, v in kwargs.items()})
        np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)
    ours = F.cross_entropy(tg.Tensor(log_probs), labels, weight=tg.Tensor(CLASS_WEIGHT[:3]), label_smoothing=0.1)
    theirs = TF.cross_entropy(torch.tensor(log_probs), torch.tensor(labels), weight=torch.tensor(CLASS_WEIGHT[:3]),
                              label_smoothing=0.1)
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_matches_torch_including_clamped_logs(reduction):
    probabilities = np.array([[0.2, 0.0, 1.0, 0.7], [0.5, 0.99, 0.01, 0.3]])
    targets = np.array([[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 0.2]])
    weight = np.array([1.0, 2.0, 3.0, 4.0])
    ours = F.binary_cross_entropy(tg.Tensor(probabilities), tg.Tensor(targets), weight=tg.Tensor(weight), reduction=reduction)
    theirs = TF.binary_cross_entropy(torch.tensor(probabilities), torch.tensor(targets), weight=torch.tensor(weight),
                                     reduction=reduction)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)  # log(0) clamped at -100 in both
    interior = np.clip(probabilities, 0.05, 0.95)  # gradients agree wherever p is not exactly 0 or 1
    _compare_with_torch(lambda p, t: F.binary_cross_entropy(p, t, reduction=reduction),
                  lambda p, t: TF.binary_cross_entropy(p, t, reduction=reduction), [interior, targets], (0, 1))
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(tg.Tensor(probabilities + 1), tg.Tensor(targets))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_weight_and_pos_weight_match_torch(reduction):
    logits = np.array([[1.0, -2.0, 30.0], [0.5, 0.0, -40.0]])
    targets = np.array([[1.0, 0.0, 1.0], [0.0, 0.3, 1.0]])
    weight, pos_weight = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 0.5])
    _compare_with_torch(lambda x, t: F.binary_cross_entropy_with_logits(x, t, weight=tg.Tensor(weight), reduction=reduction,
                                                                  pos_weight=tg.Tensor(pos_weight)),
                  lambda x, t: TF.binary_cross_entropy_with_logits(x, t, weight=torch.tensor(weight), reduction=reduction,
                                                                   pos_weight=torch.tensor(pos_weight)),
                  [logits, targets], (0, 1))
    module = nn.BCEWithLogitsLoss(pos_weight=tg.Tensor(pos_weight))
    assert list(module.state_dict()) == list(tnn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight)).state_dict())
    with pytest.raises(ValueError, match=r"Target size \(\(3,\)\) must be the same as input size \(\(2, 3\)\)"):
        F.binary_cross_entropy_with_logits(tg.Tensor(logits), tg.Tensor(targets[0]))


def test_loss_modules_pass_their_options_on():
    ours = nn.CrossEntropyLoss(weight=tg.Tensor(CLASS_WEIGHT), label_smoothing=0.1, reduction="sum")
    theirs = tnn.CrossEntropyLoss(weight=torch.tensor(CLASS_WEIGHT), label_smoothing=0.1, reduction="sum")
    np.testing.assert_allclose(ours(tg.Tensor(LOGITS), LABELS).item(),
                               theirs(torch.tensor(LOGITS), torch.tensor(LABELS)).item(), rtol=1e-12)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    ours_bce = nn.BCELoss()(tg.Tensor([0.3, 0.8]), tg.Tensor([0.0, 1.0])).item()
    np.testing.assert_allclose(ours_bce, tnn.BCELoss()(torch.tensor([0.3, 0.8]), torch.tensor([0.0, 1.0])).item(),
                               rtol=1e-6)
    np.testing.assert_allclose(nn.L1Loss(reduction="sum")(tg.Tensor(PREDICTION), tg.Tensor(TARGET)).item(),
                               np.abs(PREDICTION - TARGET).sum(), rtol=1e-12)


# ----- MultiheadAttention and the Transformer --------------------------------------------------------------------------
def test_multihead_attention_loads_a_torch_state_dict_and_gives_torch_outputs_and_weights():
    torch.manual_seed(0)
    theirs = tnn.MultiheadAttention(4, 2).double()
    ours = nn.MultiheadAttention(4, 2).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(torch_state(theirs))
    query = np.random.default_rng(0).standard_normal((3, 2, 4))  # (L, N, E)
    memory = np.random.default_rng(1).standard_normal((5, 2, 4))  # (S, N, E)
    padding = np.array([[False, False, True, False, True], [False] * 5])
    attn_mask = np.triu(np.ones((3, 5), dtype=bool), k=3)
    out, weights = ours(tg.Tensor(query), tg.Tensor(memory), tg.Tensor(memory), key_padding_mask=padding,
                        attn_mask=attn_mask)
    expected, expected_weights = theirs(torch.tensor(query), torch.tensor(memory), torch.tensor(memory),
                                        key_padding_mask=torch.tensor(padding), attn_mask=torch.tensor(attn_mask))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(weights.numpy(), expected_weights.detach().numpy(), rtol=1e-10, atol=1e-15)
    fused, none = ours(tg.Tensor(query), tg.Tensor(memory), tg.Tensor(memory), key_padding_mask=padding,
                       attn_mask=attn_mask, need_weights=False)
    assert none is None
    np.testing.assert_allclose(fused.numpy(), expected.detach().numpy(), rtol=1e-10)
    unbatched, unbatched_weights = ours(tg.Tensor(query[:, 0]), tg.Tensor(memory[:, 0]), tg.Tensor(memory[:, 0]))
    expected_unbatched, expected_unbatched_weights = theirs(*(torch.tensor(a[:, 0]) for a in (query, memory, memory)))
    np.testing.assert_allclose(unbatched.numpy(), expected_unbatched.detach().numpy(), rtol=1e-10)
    assert unbatched_weights.shape == tuple(expected_unbatched_weights.shape) == (3, 5)


def test_multihead_attention_wrong_mask_shapes_name_the_argument_and_the_expected_shape():
    attention = nn.MultiheadAttention(4, 2, batch_first=True)
    x = tg.randn(2, 3, 4)
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(N, S\) = \(2, 3\).*got \(3, 2\)"):
        attention(x, x, x, key_padding_mask=np.zeros((3, 2), dtype=bool))
    with pytest.raises(ValueError, match=r"The shape of the 2D attn_mask is \(2, 2\), but should be \(3, 3\)"):
        attention(x, x, x, attn_mask=np.zeros((2, 2), dtype=bool))
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(5, 2)


def test_transformer_encoder_layer_loads_torch_weights_and_matches_torch():
    torch.manual_seed(0)
    theirs = tnn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, activation="gelu",
                                         batch_first=True).double().eval()
    ours = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, activation="gelu", batch_first=True).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(torch_state(theirs))
    x = np.random.default_rng(0).standard_normal((2, 5, 8))
    padding = np.array([[False] * 4 + [True], [False] * 5])
    expected = theirs(torch.tensor(x), src_key_padding_mask=torch.tensor(padding)).detach().numpy()
    np.testing.assert_allclose(ours.eval()(tg.Tensor(x), src_key_padding_mask=padding).numpy(), expected, rtol=1e-9)
    causal = tnn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    expected_causal = theirs(torch.tensor(x), src_mask=causal, is_causal=True).detach().numpy()
    np.testing.assert_allclose(ours(tg.Tensor(x), src_mask=causal.numpy(), is_causal=True).numpy(), expected_causal,
                               rtol=1e-9)
    np.testing.assert_allclose(ours(tg.Tensor(x), is_causal=True).numpy(), expected_causal, rtol=1e-9)


@pytest.mark.parametrize("make", [
    lambda m: m.Linear(3, 2), lambda m: m.Conv2d(2, 4, 3, padding=1, groups=2), lambda m: m.LayerNorm(4),
    lambda m: m.Embedding(5, 3, padding_idx=1), lambda m: m.RNN(3, 4, num_layers=2, batch_first=True),
    lambda m: m.RNN(3, 4, nonlinearity="relu"), lambda m: m.RNNCell(3, 4), lambda m: m.BatchNorm1d(4),
    lambda m: m.Sequential(m.Linear(3, 4), m.ReLU(), m.Linear(4, 2)),
])
def test_layers_load_torch_state_dicts_and_give_torch_outputs(make):
    torch.manual_seed(0)
    theirs = make(tnn).double().eval()
    ours = make(nn).double().eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(torch_state(theirs))
    if isinstance(theirs, tnn.Embedding):
        x = np.array([[0, 1, 4], [2, 2, 3]])
    elif isinstance(theirs, tnn.Conv2d):
        x = np.random.default_rng(0).standard_normal((2, 2, 5, 5))
    elif isinstance(theirs, tnn.RNN):
        x = np.random.default_rng(0).standard_normal((2, 3, 3))
    else:
        x = np.random.default_rng(0).standard_normal((2, theirs.weight.shape[-1] if hasattr(theirs, "weight") else 3))
    expected = theirs(torch.tensor(x))
    got = ours(tg.Tensor(x))
    expected, got = (expected[0], got[0]) if isinstance(expected, tuple) else (expected, got)
    np.testing.assert_allclose(got.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_unbatched_rnn_inputs_are_accepted_as_torch():
    torch.manual_seed(0)
    theirs = tnn.RNN(3, 4, num_layers=2).double()
    ours = nn.RNN(3, 4, num_layers=2).double()
    ours.load_state_dict(torch_state(theirs))
    x = np.random.default_rng(0).standard_normal((5, 3))  # (L, input_size)
    out, h_n = ours(tg.Tensor(x))
    expected_out, expected_h = theirs(torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), expected_out.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(h_n.numpy(), expected_h.detach().numpy(), rtol=1e-10)


# ----- the Module attribute protocol -------------------------------------------------------------------------------
def test_reassigning_a_buffer_keeps_it_in_the_state_dict():
    norm = nn.BatchNorm1d(2)
    norm.running_mean = tg.ones(2)
    assert "running_mean" in norm.state_dict()
    np.testing.assert_array_equal(norm.state_dict()["running_mean"].numpy(), [1, 1])
    norm.running_mean = None
    theirs = tnn.BatchNorm1d(2)
    theirs.running_mean = None
    assert list(norm.state_dict()) == list(theirs.state_dict())
    with pytest.raises(TypeError, match="cannot assign 'list' as buffer 'running_var'"):
        norm.running_var = [1.0, 2.0]


def test_assigning_to_a_parameter_name_follows_torch():
    linear = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"cannot assign 'Tensor' as parameter 'weight' \(nn.Parameter or None expected\)"):
        linear.weight = tg.ones(2, 2)
    linear.bias = None
    assert list(linear.state_dict()) == ["weight"] and linear.bias is None
    linear.bias = nn.Parameter(tg.zeros(2))
    assert list(linear.state_dict()) == ["weight", "bias"]
    linear.extra = nn.Parameter(tg.zeros(1))  # a new Parameter registers itself
    assert [name for name, _ in linear.named_parameters()] == ["weight", "bias", "extra"]
    linear.note = tg.zeros(1)  # a plain tensor under a new name is a plain attribute
    assert "note" not in linear.state_dict()
    with pytest.raises(TypeError, match="cannot assign 'int' as child module"):
        nn.Sequential(nn.ReLU())[0] = 3


def test_a_module_or_parameter_replaces_an_attribute_of_another_kind():
    module = nn.Module()
    module.thing = tg.zeros(1)
    module.thing = nn.Linear(1, 1)  # a module takes the name over
    assert "thing.weight" in module.state_dict()
    module.thing = nn.Parameter(tg.zeros(3))  # and a parameter takes it from the module
    assert list(module.state_dict()) == ["thing"] and module._modules == {}


@pytest.mark.parametrize("call, error, message", [
    (lambda m, lib: m.register_buffer("a.b", None), KeyError, 'buffer name can\'t contain "."'),
    (lambda m, lib: m.register_buffer("", None), KeyError, 'buffer name can\'t be empty string ""'),
    (lambda m, lib: m.register_buffer("plain", None), KeyError, "attribute 'plain' already exists"),
    (lambda m, lib: m.register_buffer("x", [1]), TypeError, "cannot assign 'list' object to buffer 'x'"),
    (lambda m, lib: m.register_buffer(3, None), TypeError, "buffer name should be a string. Got int"),
    (lambda m, lib: m.register_parameter("a.b", None), KeyError, 'parameter name can\'t contain "."'),
    (lambda m, lib: m.register_parameter("plain", None), KeyError, "attribute 'plain' already exists"),
    (lambda m, lib: m.register_parameter("w", lib.ones(1)), TypeError, "cannot assign 'Tensor' object to parameter 'w'"),
    (lambda m, lib: m.add_module("a.b", lib.nn.ReLU()), KeyError, 'module name can\'t contain ".", got: a.b'),
    (lambda m, lib: m.add_module("plain", lib.nn.ReLU()), KeyError, "attribute 'plain' already exists"),
    (lambda m, lib: m.add_module("q", 3), TypeError, "int is not a Module subclass"),
    (lambda m, lib: m.get_submodule("lin.foo"), AttributeError, "Linear has no attribute `foo`"),
    (lambda m, lib: m.get_submodule("lin.weight"), AttributeError, "`weight` is not an nn.Module"),
    (lambda m, lib: m.get_parameter("lin"), AttributeError, "`lin` is not an nn.Parameter"),
    (lambda m, lib: m.train(1), ValueError, "training mode is expected to be boolean"),
])
def test_registration_errors_match_torch(call, error, message):
    for lib in (tg, torch):
        module = lib.nn.Module()
        module.plain = 3
        module.lin = lib.nn.Linear(1, 1)
        with pytest.raises(error) as raised:
            call(module, lib)
        if lib is tg:  # torch raises the same error type; ours carries torch's message
            assert message in str(raised.value.args[0])


def test_traversal_and_state_dict_keys_match_torch_for_shared_modules():
    def build(m):
        shared = m.Linear(2, 2)
        model = m.Sequential(shared, m.ReLU(), shared, m.Sequential(m.Linear(2, 1)))
        model.register_buffer("scale", (tg if m is nn else torch).ones(1))
        model.register_buffer("cache", (tg if m is nn else torch).ones(1), persistent=False)
        return model

    ours, theirs = build(nn), build(tnn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for kwargs in ({}, {"prefix": "model"}, {"recurse": False}, {"remove_duplicate": False}):
        assert [n for n, _ in ours.named_parameters(**kwargs)] == [n for n, _ in theirs.named_parameters(**kwargs)]
        assert [n for n, _ in ours.named_buffers(**kwargs)] == [n for n, _ in theirs.named_buffers(**kwargs)]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_modules(remove_duplicate=False)] == [n for n, _ in theirs.named_modules(remove_duplicate=False)]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert ours.get_parameter("3.0.weight") is ours[3][0].weight
    assert ours.get_submodule("3.0") is ours[3][0]
    assert ours.get_buffer("scale") is ours.scale


def test_zero_grad_train_eval_and_requires_grad_follow_torch():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    model(tg.ones(1, 2)).sum().backward()
    model.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    calls = []

    class Recording(nn.Module):
        def train(self, mode=True):
            calls.append(mode)
            return super().train(mode)

    outer = nn.Sequential(Recording())
    assert outer.eval() is outer and calls == [False]  # train() recurses through each child's own train()
    assert outer.requires_grad_(False) is outer
    assert all(not p.requires_grad for p in model.requires_grad_(False).parameters())


def test_call_passes_keyword_arguments_to_forward():
    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    assert Scale()(tg.ones(2), factor=3.0).tolist() == [3.0, 3.0]


def test_load_state_dict_copies_in_place_and_assign_replaces():
    source, target = nn.Linear(2, 2), nn.Linear(2, 2)
    weight = target.weight
    target.load_state_dict(source.state_dict())
    assert target.weight is weight
    np.testing.assert_array_equal(target.weight.numpy(), source.weight.numpy())
    assert target.weight.numpy() is not source.weight.numpy()
    target.load_state_dict({"weight": tg.zeros(2, 2), "bias": tg.zeros(2)}, assign=True)
    assert target.weight is not weight and isinstance(target.weight, nn.Parameter) and target.weight.requires_grad


def test_parameter_shares_the_data_of_its_tensor_as_torch():
    data = tg.zeros(3)
    param = nn.Parameter(data)
    assert param.data is data.data and param.is_leaf and param.requires_grad
    assert repr(param).startswith("Parameter containing:")
    assert nn.Parameter().shape == (0,)


def test_containers_index_slice_and_edit_as_torch():
    def build(m):
        return m.Sequential(OrderedDict(a=m.Linear(1, 2), b=m.ReLU(), c=m.Tanh()))

    ours, theirs = build(nn), build(tnn)
    assert list(ours[1:]._modules) == list(theirs[1:]._modules) == ["b", "c"]
    assert type(ours[-1]).__name__ == "Tanh"
    with pytest.raises(IndexError, match="index 5 is out of range"):
        ours[5]
    del ours[0]
    del theirs[0]
    assert list(ours._modules) == list(theirs._modules) == ["0", "1"]
    ours.insert(1, nn.GELU())
    ours.append(nn.Sigmoid())
    assert [type(m).__name__ for m in ours] == ["ReLU", "GELU", "Tanh", "Sigmoid"] and len(ours) == 4
    layers = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 1)])
    layers.extend([nn.ReLU()])
    layers += [nn.Tanh()]
    assert len(layers) == 4 and isinstance(layers[:2], nn.ModuleList) and layers.pop(2).__class__ is nn.ReLU
    with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable, but got int"):
        layers.extend(3)
    heads = nn.ModuleDict({"a": nn.Linear(1, 1)})
    heads["b"] = nn.Linear(1, 2)
    assert list(heads) == ["a", "b"] and "a" in heads and [n for n, _ in heads.named_parameters()][-1] == "b.bias"
    params = nn.ParameterList([nn.Parameter(tg.ones(1)), tg.zeros(2)])
    assert isinstance(params[1], nn.Parameter) and [n for n, _ in params.named_parameters()] == ["0", "1"]


def test_module_repr_matches_torch():
    for make in (lambda m: m.Sequential(m.Conv2d(1, 2, 3), m.ReLU(inplace=True), m.MaxPool2d(2), m.Flatten(),
                                        m.Linear(2, 3), m.Dropout(0.1), m.LayerNorm(3), m.Softmax(dim=1)),
                 lambda m: m.Embedding(5, 3, padding_idx=-1), lambda m: m.RNN(2, 3, num_layers=2, batch_first=True),
                 lambda m: m.TransformerEncoderLayer(4, 2, 8), lambda m: m.Conv2d(2, 2, (3, 1), padding="same", bias=False)):
        assert repr(make(nn)) == repr(make(tnn))


# ----- init -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
    ("leaky_relu", 0.2), ("selu", None),
])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert nn.init.calculate_gain(nonlinearity, param) == tnn.init.calculate_gain(nonlinearity, param)


@pytest.mark.parametrize("initialise, bound_or_std", [
    (lambda t: nn.init.kaiming_uniform_(t, a=math.sqrt(5)), ("uniform", 1 / math.sqrt(40))),
    (lambda t: nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), ("normal", math.sqrt(2 / 1600))),
    (lambda t: nn.init.xavier_uniform_(t, gain=2.0), ("uniform", 2 * math.sqrt(6 / 1640))),
    (lambda t: nn.init.xavier_normal_(t), ("normal", math.sqrt(2 / 1640))),
    (lambda t: nn.init.trunc_normal_(t, std=0.02, a=-0.03, b=0.03), ("truncated", 0.03)),
])
def test_initialisers_draw_from_torchs_distributions(initialise, bound_or_std):
    tg.manual_seed(0)
    weight = initialise(tg.zeros(400, 10, 2, 2))  # fan_in = 10·2·2 = 40, fan_out = 400·2·2 = 1600
    values = weight.numpy().ravel()
    kind, scale = bound_or_std
    if kind == "uniform":
        assert np.abs(values).max() <= scale and np.abs(values).max() > 0.99 * scale
        np.testing.assert_allclose(values.std(), scale / math.sqrt(3), rtol=0.03)
    elif kind == "normal":
        np.testing.assert_allclose(values.std(), scale, rtol=0.03)
    else:
        assert np.abs(values).max() <= scale


def test_orthogonal_init_gives_orthonormal_rows_scaled_by_gain():
    weight = nn.init.orthogonal_(tg.zeros(3, 5), gain=2.0).numpy().astype(np.float64)
    np.testing.assert_allclose(weight @ weight.T, 4 * np.eye(3), atol=1e-5)


def test_layer_default_initialisation_bounds_match_torch():
    tg.manual_seed(0)
    rnn = nn.RNNCell(5, 400)
    for weight, bias, bound in (
        (nn.Linear(40, 300).weight, nn.Linear(40, 300).bias, 1 / math.sqrt(40)),
        (nn.Conv2d(4, 200, 3).weight, nn.Conv2d(4, 200, 3).bias, 1 / math.sqrt(4 * 3 * 3)),
        (rnn.weight_ih, rnn.bias_ih, 1 / math.sqrt(400)),
    ):
        assert bound * 0.98 < np.abs(weight.numpy()).max() <= bound
        assert bound * 0.9 < np.abs(bias.numpy()).max() <= bound
    attention = nn.MultiheadAttention(8, 2)
    assert np.abs(attention.in_proj_weight.numpy()).max() <= math.sqrt(6 / (8 + 24))  # xavier over (3E, E)
    assert np.all(attention.in_proj_bias.numpy() == 0) and np.all(attention.out_proj.bias.numpy() == 0)


# ----- functional odds and ends -------------------------------------------------------------------------------------------
def test_softmax_without_dim_warns_and_picks_torchs_implicit_dim():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        ours = F.softmax(tg.Tensor(x))
    with pytest.warns(UserWarning):
        theirs = TF.softmax(torch.tensor(x))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(tg.Tensor(x), dim=-1, dtype=np.float32).numpy(),
                               TF.log_softmax(torch.tensor(x), dim=-1, dtype=torch.float32).numpy(), rtol=1e-6)


@pytest.mark.parametrize("pad, value", [((1, 2), None), ((1, 0, 0, 2), 5.0), ((-1, 2, 1, -1), 0.5), ((0, 0, 1, 1, 2, 0), 1.0)])
def test_pad_uses_torchs_last_dim_first_order_and_crops_with_negative_amounts(pad, value):
    x = np.arange(24.0).reshape(2, 3, 4)
    _compare_with_torch(lambda t: F.pad(t, pad, value=value), lambda t: TF.pad(t, pad, value=value), [x])
    with pytest.raises(RuntimeError, match="Padding length must be divisible by 2"):
        F.pad(tg.ones(2, 3), (1,))
    with pytest.raises(NotImplementedError, match="mode='reflect'"):
        F.pad(tg.ones(1, 2, 3), (1, 1), mode="reflect")


def test_one_hot_matches_torch_and_rejects_bad_classes():
    indices = np.array([[0, 2], [1, 3]])
    for num_classes in (-1, 5):
        ours = F.one_hot(tg.Tensor(indices), num_classes)
        theirs = TF.one_hot(torch.tensor(indices), num_classes)
        assert ours.dtype == np.int64
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes"):
        F.one_hot(tg.Tensor(indices), 3)
    with pytest.raises(RuntimeError, match="Class values must be non-negative"):
        F.one_hot(tg.Tensor(np.array([-1])))


def test_softplus_and_logsigmoid_match_torch_at_both_tails():
    x = np.array([-100.0, -20.0, -1.0, 0.0, 1.0, 15.0, 25.0, 1e4])
    for beta, threshold in ((1.0, 20.0), (2.0, 10.0)):
        _compare_with_torch(lambda t: F.softplus(t, beta, threshold), lambda t: TF.softplus(t, beta, threshold), [x])
        assert nn.Softplus(beta, threshold)(tg.Tensor(x)).shape == x.shape
    _compare_with_torch(F.logsigmoid, TF.logsigmoid, [x])


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
def test_conv2d_same_and_valid_padding_match_torch():
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 6))
    w = np.random.default_rng(1).standard_normal((3, 2, 2, 3))  # even kernel height: asymmetric 'same' padding
    for padding in ("same", "valid"):
        _compare_with_torch(lambda a, b: F.conv2d(a, b, padding=padding), lambda a, b: TF.conv2d(a, b, padding=padding),
                      [x, w], (0, 1))
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(NotImplementedError, match="padding_mode='reflect'"):
        nn.Conv2d(1, 1, 3, padding_mode="reflect")


def test_pooling_options_torch_has_are_honoured_or_refused_by_name():
    x = np.random.default_rng(0).standard_normal((1, 1, 4, 4))
    _compare_with_torch(lambda t: F.max_pool2d(t, 2, ceil_mode=True), lambda t: TF.max_pool2d(t, 2, ceil_mode=True), [x])
    _compare_with_torch(lambda t: F.avg_pool2d(t, 2, divisor_override=3), lambda t: TF.avg_pool2d(t, 2, divisor_override=3), [x])
    with pytest.raises(NotImplementedError, match="ceil_mode=True"):
        F.max_pool2d(tg.Tensor(np.zeros((1, 1, 5, 5))), 2, ceil_mode=True)
    with pytest.raises(NotImplementedError, match="return_indices"):
        nn.MaxPool2d(2, return_indices=True)(tg.Tensor(x))


def test_dropout_validates_p_as_torch_and_inplace_is_accepted():
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)
    x = tg.ones(4)
    assert nn.ReLU(inplace=True)(x - 2).tolist() == [0.0] * 4
    assert nn.Dropout(0.0, inplace=True)(x).tolist() == [1.0] * 4


def test_parameters_to_vector_and_back_round_trip():
    model = nn.Linear(3, 2)
    vector = nn.utils.parameters_to_vector(model.parameters())
    assert vector.shape == (8,)
    nn.utils.vector_to_parameters(vector * 0 + 1, model.parameters())
    assert np.all(model.weight.numpy() == 1) and np.all(model.bias.numpy() == 1)


# ----- utils.data ------------------------------------------------------------------------------------------------------
Pair = namedtuple("Pair", ["x", "y"])


class Squares(Dataset):
    """A map-style dataset returning mixed Python and NumPy values, as user datasets do."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.float32), i, float(i) / 2, {"flag": i % 2 == 0, "name": f"n{i}"}


def test_default_collate_gives_torchs_dtypes_and_structure():
    samples = [Squares()[i] for i in range(3)]
    ours, theirs = default_collate(samples), torch.utils.data.default_collate(samples)
    assert isinstance(ours, list) and isinstance(theirs, list)
    for mine, expected in zip(ours[:3], theirs[:3]):
        assert mine.dtype == np.dtype(str(expected.dtype).replace("torch.", ""))
        np.testing.assert_array_equal(mine.numpy(), expected.numpy())
    assert ours[3]["flag"].dtype == np.bool_ and ours[3]["name"] == theirs[3]["name"] == ["n0", "n1", "n2"]
    pairs = default_collate([Pair(tg.ones(2), 1), Pair(tg.zeros(2), 2)])
    assert isinstance(pairs, Pair) and pairs.x.shape == (2, 2) and pairs.y.tolist() == [1, 2]


def test_dataloader_over_a_user_dataset_batches_like_torch():
    ours = [batch for batch in DataLoader(Squares(), batch_size=2)]
    theirs = [batch for batch in torch.utils.data.DataLoader(Squares(), batch_size=2)]
    assert len(ours) == len(theirs) == 3
    for mine, expected in zip(ours, theirs):
        for field in range(3):
            np.testing.assert_array_equal(mine[field].numpy(), expected[field].numpy())
    assert len(DataLoader(Squares(), batch_size=2, drop_last=True)) == 2
    single = next(iter(DataLoader(Squares(), batch_size=None)))
    assert isinstance(single[0], tg.Tensor) and single[1] == 0


def test_tensor_dataset_returns_tensor_rows_and_the_loader_yields_lists():
    dataset = TensorDataset(tg.arange(10.0).reshape(5, 2), tg.arange(5))
    x, y = dataset[3]
    assert isinstance(x, tg.Tensor) and x.tolist() == [6.0, 7.0] and y.item() == 3
    batches = list(DataLoader(dataset, batch_size=2))
    assert isinstance(batches[0], list) and [b[1].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int64


def test_shuffling_follows_manual_seed_when_no_generator_is_given():
    dataset = TensorDataset(tg.arange(20))

    def one_epoch():
        return np.concatenate([batch[0].numpy() for batch in loader])

    tg.manual_seed(3)
    loader = DataLoader(dataset, batch_size=6, shuffle=True)
    first, second = one_epoch(), one_epoch()
    tg.manual_seed(3)
    loader = DataLoader(dataset, batch_size=6, shuffle=True)
    assert np.array_equal(one_epoch(), first) and np.array_equal(one_epoch(), second)
    assert not np.array_equal(first, second) and sorted(first) == list(range(20))
    seeded = [b[0].tolist() for b in DataLoader(dataset, batch_size=6, shuffle=True, generator=tg.Generator().manual_seed(0))]
    again = [b[0].tolist() for b in DataLoader(dataset, batch_size=6, shuffle=True, generator=tg.Generator().manual_seed(0))]
    assert seeded == again
    with pytest.raises(TypeError, match="generator must be a tinygrad_edu.Generator or a numpy.random.Generator"):
        DataLoader(dataset, shuffle=True, generator=3)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(dataset, shuffle=True, sampler=[0, 1])


def test_random_split_sizes_match_torch_and_cover_the_dataset():
    dataset = TensorDataset(tg.arange(10))
    for lengths in ([0.5, 0.3, 0.2], [0.33, 0.33, 0.34], [3, 7]):
        ours = random_split(dataset, lengths, generator=np.random.default_rng(0))
        theirs = torch.utils.data.random_split(range(10), lengths, generator=torch.Generator().manual_seed(0))
        assert [len(s) for s in ours] == [len(s) for s in theirs]
        assert sorted(i for s in ours for i in s.indices) == list(range(10))
    tg.manual_seed(1)
    first = random_split(dataset, [5, 5])[0].indices
    tg.manual_seed(1)
    assert random_split(dataset, [5, 5])[0].indices == first
    with pytest.raises(ValueError, match="sum of input lengths"):
        random_split(dataset, [3, 3])
