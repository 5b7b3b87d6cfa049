"""optim.RMSprop: PyTorch's update over several steps for every option combination, a step worked by hand,
param groups, checkpoints, the version counter and bad hyper-parameters.

Like tests/torch_diff/test_optim.py, both libraries get the same gradient formula g = p³ - t + 0.1, evaluated on
each library's own current parameters, so a wrong step shows up in every later step.
"""
import itertools

import numpy as np
import pytest
import torch

import tinygrad_edu as tg
from tinygrad_edu.optim import RMSprop
from tinygrad_edu.serialization import load, save

STEPS = 6
# (weight_decay, momentum, centered): every combination of the three options that change the update's form.
COMBINATIONS = list(itertools.product([0.0, 0.1], [0.0, 0.9], [False, True]))
COMBINATION_IDS = [f"wd{wd}-momentum{m}-{'centered' if c else 'plain'}" for wd, m, c in COMBINATIONS]


def _initial_values():
    rng = np.random.default_rng(0)
    params = [rng.uniform(-1.5, 1.5, size=(3,)), rng.uniform(-1.5, 1.5, size=(2, 2))]
    targets = [rng.uniform(-1.5, 1.5, size=(3,)), rng.uniform(-1.5, 1.5, size=(2, 2))]
    return params, targets


def _trajectory(library, make, dtype, steps=STEPS):
    """The parameters after each step, and the optimizer, for `make(library.optim, params)`."""
    initial, targets = _initial_values()
    params = [library.tensor(p.astype(dtype), requires_grad=True) for p in initial]
    optimizer = make(library.optim, params)
    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        for param, target in zip(params, targets):
            value = np.array(param.detach().numpy(), copy=True)
            param.grad = library.tensor(value ** 3 - target.astype(dtype) + 0.1)
        optimizer.step()
        history.append([np.array(p.detach().numpy(), copy=True) for p in params])
    return history, optimizer


def _assert_same_trajectory(got, expected, dtype):
    tolerance = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    for step, (got_params, expected_params) in enumerate(zip(got, expected), start=1):
        for number, (got_value, expected_value) in enumerate(zip(got_params, expected_params)):
            np.testing.assert_allclose(got_value, expected_value, err_msg=f"step {step} parameter {number}",
                                       **tolerance)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("weight_decay, momentum, centered", COMBINATIONS, ids=COMBINATION_IDS)
def test_rmsprop_steps_match_torch_for_every_option_combination(backend, weight_decay, momentum, centered, dtype):
    def make(optim, params):
        return optim.RMSprop(params, lr=0.01, weight_decay=weight_decay, momentum=momentum, centered=centered)

    expected, torch_optimizer = _trajectory(torch, make, dtype)
    got, optimizer = _trajectory(tg, make, dtype)
    _assert_same_trajectory(got, expected, dtype)
    # The same state, under the same names (a checkpoint reads the same in both libraries).
    torch_state = torch_optimizer.state_dict()["state"]
    state = optimizer.state_dict()["state"]
    relative = 1e-12 if dtype == np.float64 else 1e-5
    for index in torch_state:
        assert sorted(state[index]) == sorted(torch_state[index])
        assert state[index]["step"] == int(torch_state[index]["step"]) == STEPS
        for name in ("square_avg", "momentum_buffer", "grad_avg"):
            if name in torch_state[index]:
                theirs = torch_state[index][name].numpy()
                # atol relative to the largest entry: a buffer sums terms of every size, so a small entry
                # carries the rounding error of the large ones.
                np.testing.assert_allclose(state[index][name], theirs, rtol=relative,
                                           atol=relative * np.abs(theirs).max(), err_msg=name)


@pytest.mark.parametrize("name, make", [
    ("defaults", lambda optim, ps: optim.RMSprop(ps)),
    ("alpha_eps_lr", lambda optim, ps: optim.RMSprop(ps, lr=0.05, alpha=0.5, eps=1e-3)),
    ("everything", lambda optim, ps: optim.RMSprop(ps, lr=0.02, alpha=0.9, eps=1e-4, weight_decay=0.2,
                                                   momentum=0.5, centered=True)),
    ("param_groups", lambda optim, ps: optim.RMSprop([{"params": [ps[0]], "centered": True},
                                                      {"params": [ps[1]], "lr": 0.002, "momentum": 0.8}],
                                                     lr=0.01, alpha=0.95)),
])
def test_rmsprop_other_hyper_parameters_and_param_groups_match_torch(name, make):
    expected, torch_optimizer = _trajectory(torch, make, np.float64)
    got, optimizer = _trajectory(tg, make, np.float64)
    _assert_same_trajectory(got, expected, np.float64)
    ours = optimizer.state_dict()["param_groups"]
    theirs = torch_optimizer.state_dict()["param_groups"]
    for our_group, their_group in zip(ours, theirs):
        assert {key: their_group[key] for key in our_group} == our_group


def test_rmsprop_first_step_worked_by_hand():
    # g = 3: v = (1 - 0.75)·9 = 2.25, √v = 1.5, p ← 1 - 0.1·3/1.5 = 0.8 (eps = 0 keeps the numbers round);
    # g = 3 again: v = 0.75·2.25 + 2.25 = 3.9375, p ← 0.8 - 0.1·3/√3.9375
    param = tg.tensor([1.0], dtype=np.float64, requires_grad=True)
    optimizer = RMSprop([param], lr=0.1, alpha=0.75, eps=0.0)
    param.grad = tg.tensor([3.0], dtype=np.float64)
    optimizer.step()
    np.testing.assert_allclose(param.data, [0.8], rtol=1e-15)
    np.testing.assert_allclose(optimizer.state[param]["square_avg"], [2.25], rtol=1e-15)
    optimizer.step()
    np.testing.assert_allclose(param.data, [0.8 - 0.3 / np.sqrt(3.9375)], rtol=1e-15)


def test_rmsprop_default_first_step_is_ten_times_the_learning_rate():
    # No bias correction: v1 = (1 - 0.99)·g², so |g|/√v1 = 1/√0.01 = 10 whatever g is.
    param = tg.tensor([0.0, 0.0], dtype=np.float64, requires_grad=True)
    optimizer = RMSprop([param])
    grad = np.array([5.0, -0.02])
    param.grad = tg.tensor(grad)
    optimizer.step()
    np.testing.assert_allclose(param.data, -0.01 * grad / (np.sqrt(0.01 * grad ** 2) + 1e-8), rtol=1e-15)
    np.testing.assert_allclose(param.data, [-0.1, 0.1], rtol=1e-5)  # eps only shows below |g| ≈ 1e-3


def test_rmsprop_skips_parameters_without_grad_and_creates_only_the_buffers_it_needs(backend):
    used = tg.tensor([1.0, 2.0], requires_grad=True)
    unused = tg.tensor([3.0, 4.0], requires_grad=True)
    optimizer = RMSprop([used, unused])
    used.grad = tg.ones(2)
    optimizer.step()
    np.testing.assert_array_equal(unused.data, [3.0, 4.0])
    assert unused not in optimizer.state
    assert sorted(optimizer.state[used]) == ["square_avg", "step"]
    assert optimizer.state[used]["square_avg"].dtype == np.float32


def test_rmsprop_step_bumps_the_version_so_a_stale_graph_refuses_backward():
    weight = tg.ones(3, requires_grad=True)
    loss = (weight * weight).sum()
    optimizer = RMSprop([weight], momentum=0.9, centered=True)
    weight.grad = tg.ones(3)
    optimizer.step()
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation.*saved by Mul"):
        loss.backward()


def _train(optimizer, params, steps, first_step):
    for step in range(first_step, first_step + steps):
        x = tg.tensor(np.random.default_rng(step).standard_normal((4, 3)), dtype=np.float32)
        optimizer.zero_grad()
        out = x @ params[0] + params[1]
        (out * out).sum().backward()
        optimizer.step()


def _make_params():
    rng = np.random.default_rng(1)
    return [tg.tensor(rng.standard_normal((3, 2)), dtype=np.float32, requires_grad=True),
            tg.tensor(rng.standard_normal(2), dtype=np.float32, requires_grad=True)]


def test_rmsprop_state_dict_round_trip_resumes_training_exactly(backend, tmp_path):
    def make(params):
        return RMSprop([{"params": params[:1]}, {"params": params[1:], "lr": 0.005}], lr=0.01, momentum=0.9,
                       centered=True, weight_decay=1e-3)

    params = _make_params()
    optimizer = make(params)
    _train(optimizer, params, steps=3, first_step=0)
    save({"params": [p.detach() for p in params], "optim": optimizer.state_dict()}, tmp_path / "ckpt.npz")
    _train(optimizer, params, steps=2, first_step=3)

    checkpoint = load(tmp_path / "ckpt.npz")
    restored_params = [tg.tensor(saved.data.copy(), requires_grad=True) for saved in checkpoint["params"]]
    restored = make(restored_params)
    restored.load_state_dict(checkpoint["optim"])
    assert restored.param_groups[1]["lr"] == 0.005 and restored.state[restored_params[0]]["step"] == 3
    _train(restored, restored_params, steps=2, first_step=3)
    for original, resumed in zip(params, restored_params):
        np.testing.assert_array_equal(original.data, resumed.data)


@pytest.mark.parametrize("options, message", [
    (dict(lr=-0.1), "learning rate"),
    (dict(alpha=-0.5), "alpha"),
    (dict(eps=-1e-8), "eps"),
    (dict(momentum=-0.9), "momentum"),
    (dict(weight_decay=-0.1), "weight_decay"),
])
def test_rmsprop_invalid_hyper_parameters_raise_value_error_naming_them(options, message):
    with pytest.raises(ValueError, match=f"RMSprop: invalid {message}"):
        RMSprop([tg.tensor([1.0], requires_grad=True)], **options)


def test_rmsprop_on_cuda_keeps_its_state_on_the_device_and_matches_the_cpu():
    from kernels.cuda.array import CudaArray

    results = {}
    for device in ("cpu", "cuda"):
        param = tg.tensor([1.0, -2.0, 0.5], requires_grad=True, device=device)
        optimizer = RMSprop([param], lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)
        for step in range(3):
            param.grad = tg.tensor([0.3, -1.0, 2.0], device=device) * (step + 1)
            optimizer.step()
        if device == "cuda":
            assert isinstance(param.data, CudaArray)
            for name in ("square_avg", "momentum_buffer", "grad_avg"):
                assert isinstance(optimizer.state[param][name], CudaArray), name
        results[device] = param.numpy()
    np.testing.assert_allclose(results["cuda"], results["cpu"], rtol=1e-6, atol=1e-7)
