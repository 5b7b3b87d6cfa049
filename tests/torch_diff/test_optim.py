"""Optimizers, learning-rate schedules and gradient clipping against PyTorch.

Optimizers are compared in isolation from autograd: each step, both libraries get the same gradient formula
g = p³ - t + 0.1 (evaluated on each library's own current parameters) written into `.grad`, and the parameters
after every step must match torch's (float64 tight, float32 against torch's float64 run as in specs.py).
"""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_edu as tg

from .harness import TOLERANCES, assert_matches

DTYPES = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]
STEPS = 5

# name: make(optim, [p0, p1]) -> optimizer, the same call for torch.optim and tinygrad_edu.optim
OPTIMIZERS = {
    "SGD": lambda optim, ps: optim.SGD(ps, lr=0.1),
    "SGD_momentum": lambda optim, ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    "SGD_momentum_dampening": lambda optim, ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5),
    "SGD_nesterov_weight_decay": lambda optim, ps: optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1),
    "SGD_param_groups": lambda optim, ps: optim.SGD([{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.01}], lr=0.1,
                                                    momentum=0.5),
    "Adam": lambda optim, ps: optim.Adam(ps, lr=0.01),
    "Adam_betas_eps": lambda optim, ps: optim.Adam(ps, lr=0.1, betas=(0.5, 0.9), eps=1e-3),
    "Adam_weight_decay_amsgrad": lambda optim, ps: optim.Adam(ps, lr=0.01, weight_decay=0.1, amsgrad=True),
    "AdamW": lambda optim, ps: optim.AdamW(ps, lr=0.01),
    "AdamW_weight_decay_amsgrad": lambda optim, ps: optim.AdamW(ps, lr=0.05, weight_decay=0.5, amsgrad=True),
    "RMSprop": lambda optim, ps: optim.RMSprop(ps),
    "RMSprop_centered_momentum_weight_decay": lambda optim, ps: optim.RMSprop(ps, lr=0.02, alpha=0.9, momentum=0.5,
                                                                              centered=True, weight_decay=0.1),
}


def _trajectory(library, make, initial, targets, dtype):
    """The parameters after each of STEPS steps, and every param group's lr at the end."""
    if library is torch:
        params = [torch.tensor(p.astype(dtype), requires_grad=True) for p in initial]
        to_numpy = lambda t: t.detach().numpy().copy()  # noqa: E731
    else:
        params = [tg.tensor(p.astype(dtype), requires_grad=True) for p in initial]
        to_numpy = lambda t: np.array(t.numpy(), copy=True)  # noqa: E731
    optimizer = make(library.optim, params)
    history = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        for p, t in zip(params, targets):
            value = to_numpy(p)
            p.grad = library.tensor(value ** 3 - t.astype(dtype) + 0.1)
        optimizer.step()
        history.append([to_numpy(p) for p in params])
    return history, [group["lr"] for group in optimizer.param_groups]


@st.composite
def parameters_and_targets(draw):
    shapes = [(3,), (2, 2)]
    elements = st.floats(-1.5, 1.5, allow_subnormal=False)
    return ([draw(hnp.arrays(np.float64, s, elements=elements)) for s in shapes],
            [draw(hnp.arrays(np.float64, s, elements=elements)) for s in shapes])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", OPTIMIZERS)
@given(values=parameters_and_targets())
def test_optimizer_steps_match_torch(backend, name, dtype, values):
    initial, targets = values
    make = OPTIMIZERS[name]
    expected, expected_lrs = _trajectory(torch, make, initial, targets, dtype)
    rounded = [[array.astype(dtype) for array in arrays] for arrays in (initial, targets)]
    truth = _trajectory(torch, make, *rounded, np.float64)[0] if dtype == np.float32 else None
    got, got_lrs = _trajectory(tg, make, initial, targets, dtype)
    assert got_lrs == expected_lrs
    for step in range(STEPS):
        for number in range(len(initial)):
            truth_value = truth[step][number] if truth is not None else None
            assert_matches(f"{name} step {step + 1} parameter {number}", got[step][number], expected[step][number],
                           truth_value, TOLERANCES[np.dtype(dtype)], 1.0)


# name: make(lr_scheduler, optimizer) -> scheduler
SCHEDULERS = {
    "StepLR": lambda s, opt: s.StepLR(opt, step_size=2, gamma=0.5),
    "CosineAnnealingLR": lambda s, opt: s.CosineAnnealingLR(opt, T_max=4, eta_min=0.01),
    "LinearLR": lambda s, opt: s.LinearLR(opt, start_factor=0.25, total_iters=3),
    "SequentialLR_warmup_then_cosine": lambda s, opt: s.SequentialLR(
        opt, [s.LinearLR(opt, start_factor=0.5, total_iters=2), s.CosineAnnealingLR(opt, T_max=5)], milestones=[2]),
    "SequentialLR_step_then_step": lambda s, opt: s.SequentialLR(
        opt, [s.StepLR(opt, step_size=1, gamma=0.9), s.StepLR(opt, step_size=2, gamma=0.5)], milestones=[3]),
}


def _lr_history(library, make, steps=10):
    param = library.tensor(np.zeros(2), requires_grad=True)
    optimizer = library.optim.SGD([{"params": [param]}, {"params": [library.tensor(np.ones(1), requires_grad=True)],
                                                         "lr": 0.3}], lr=0.1)
    scheduler = make(library.optim.lr_scheduler, optimizer)
    history = [scheduler.get_last_lr()]
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        history.append(scheduler.get_last_lr())
        assert [group["lr"] for group in optimizer.param_groups] == history[-1]
    return history


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", SCHEDULERS)
def test_lr_scheduler_matches_torch(name):
    expected = _lr_history(torch, SCHEDULERS[name])
    got = _lr_history(tg, SCHEDULERS[name])
    np.testing.assert_allclose(np.array(got), np.array(expected), rtol=1e-12, atol=1e-15)


CLIPPING = {
    "clip_grad_norm_2": lambda utils, ps: utils.clip_grad_norm_(ps, max_norm=1.0),
    "clip_grad_norm_inf": lambda utils, ps: utils.clip_grad_norm_(ps, max_norm=0.5, norm_type=float("inf")),
    "clip_grad_norm_not_needed": lambda utils, ps: utils.clip_grad_norm_(ps, max_norm=100.0),
    "clip_grad_value_": lambda utils, ps: utils.clip_grad_value_(ps, clip_value=0.3),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", CLIPPING)
def test_gradient_clipping_matches_torch(name, dtype):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(3), rng.standard_normal((2, 2))]
    results = {}
    for library in (torch, tg):
        params = [library.tensor(np.zeros_like(g, dtype=dtype), requires_grad=True) for g in grads]
        for p, g in zip(params, grads):
            p.grad = library.tensor(g.astype(dtype))
        returned = CLIPPING[name](library.nn.utils, params)
        as_numpy = (lambda t: t.detach().numpy()) if library is torch else (lambda t: np.asarray(t.numpy()))
        results[library.__name__] = ([as_numpy(p.grad) for p in params], None if returned is None else as_numpy(returned))
    (got_grads, got_norm), (expected_grads, expected_norm) = results["tinygrad_edu"], results["torch"]
    tolerance = TOLERANCES[np.dtype(dtype)]
    for got, expected in zip(got_grads, expected_grads):
        assert_matches(f"{name} grad", got, expected, None, tolerance, 1.0)
    if expected_norm is not None:
        assert got_norm is not None, f"{name}: returns None, torch returns the total norm {expected_norm}"
        assert_matches(f"{name} total norm", np.asarray(got_norm), expected_norm, None, tolerance, 1.0)
