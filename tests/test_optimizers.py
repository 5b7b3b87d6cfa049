"""Optimizers and gradient clipping: update equations step by step, param groups, checkpoints, validation.

The expected numbers for SGD are worked by hand in the comments; for Adam they come from `_adam_scalar` below,
PyTorch's published update written with plain Python floats, evaluated once and pasted in as literals (the
function stays here so the literals can be re-derived).
"""
import math

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import backend as backend_module
from tinygrad_edu.optim import SGD, Adam, AdamW, Optimizer, clip_grad_norm_, clip_grad_value_
from tinygrad_edu.serialization import load, save

P0 = [1.0, -2.0]
GRADS = [[0.5, -1.0], [0.25, 2.0]]


def _adam_scalar(p, grads, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad):
    """PyTorch's Adam/AdamW for one scalar parameter, in Python floats: the oracle for the literals below."""
    m = v = v_max = 0.0
    trajectory = []
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)
        v_used = v_max if amsgrad else v
        p = p - lr / (1 - beta1 ** t) * m / (math.sqrt(v_used) / math.sqrt(1 - beta2 ** t) + eps)
        trajectory.append(p)
    return trajectory


def _run_two_steps(make_optimizer, dtype=np.float64):
    """Apply GRADS to a parameter starting at P0 (grads set directly); return the parameter after each step."""
    param = tg.tensor(P0, dtype=dtype, requires_grad=True)
    optimizer = make_optimizer([param])
    after = []
    for grad in GRADS:
        param.grad = tg.tensor(grad, dtype=dtype)
        optimizer.step()
        after.append(param.data.copy())
    return after


def _assert_trajectory(actual, expected, dtype):
    tolerance = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-6, atol=1e-6)
    for step, (got, want) in enumerate(zip(actual, expected), start=1):
        np.testing.assert_allclose(got, want, err_msg=f"after step {step}", **tolerance)


# ----- SGD ---------------------------------------------------------------------------------------------------------
SGD_CASES = {
    # p1 = p0 - 0.1·g1 = [0.95, -1.9];  p2 = p1 - 0.1·g2 = [0.925, -2.1]
    "plain": (dict(lr=0.1), [[0.95, -1.9], [0.925, -2.1]]),
    # b1 = g1, p1 = [0.95, -1.9];  b2 = 0.9·b1 + g2 = [0.7, 1.1], p2 = p1 - 0.1·b2 = [0.88, -2.01]
    "momentum": (dict(lr=0.1, momentum=0.9), [[0.95, -1.9], [0.88, -2.01]]),
    # b1 = g1 (undamped on the first step);  b2 = 0.9·b1 + 0.5·g2 = [0.575, 0.1], p2 = [0.8925, -1.91]
    "dampening": (dict(lr=0.1, momentum=0.9, dampening=0.5), [[0.95, -1.9], [0.8925, -1.91]]),
    # d1 = g1 + 0.9·b1 = 1.9·g1, p1 = [0.905, -1.81];  b2 = [0.7, 1.1], d2 = g2 + 0.9·b2 = [0.88, 2.99],
    # p2 = [0.817, -2.109]
    "nesterov": (dict(lr=0.1, momentum=0.9, nesterov=True), [[0.905, -1.81], [0.817, -2.109]]),
    # d1 = g1 + 0.1·p0 = [0.6, -1.2], p1 = [0.94, -1.88];  d2 = g2 + 0.1·p1 = [0.344, 1.812], p2 = [0.9056, -2.0612]
    "weight_decay": (dict(lr=0.1, weight_decay=0.1), [[0.94, -1.88], [0.9056, -2.0612]]),
}


@pytest.mark.parametrize("case", sorted(SGD_CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sgd_two_steps_match_hand_computed_updates(backend, case, dtype):
    options, expected = SGD_CASES[case]
    _assert_trajectory(_run_two_steps(lambda params: SGD(params, **options), dtype), expected, dtype)


def test_sgd_momentum_buffer_starts_as_a_copy_of_the_gradient(backend):
    param = tg.tensor([1.0], requires_grad=True)
    optimizer = SGD([param], lr=0.1, momentum=0.9)
    param.grad = tg.tensor([2.0])
    optimizer.step()
    param.grad.data[...] = 100.0  # mutating the gradient afterwards must not reach the buffer
    np.testing.assert_array_equal(optimizer.state[param]["momentum_buffer"], [2.0])


# ----- Adam / AdamW ------------------------------------------------------------------------------------------------
ADAM_CASES = {
    # Step 1 moves each weight by ≈ lr·sign(g) (m̂ = g, v̂ = g²); step 2 from _adam_scalar.
    "adam": (lambda ps: Adam(ps, lr=0.1), dict(weight_decay=0.0, decoupled=False, amsgrad=False, beta2=0.999),
             [[0.900000002, -1.900000001], [0.8067820404774624, -1.9366103534720749]]),
    "adam_weight_decay": (lambda ps: Adam(ps, lr=0.1, weight_decay=0.1),
                          dict(weight_decay=0.1, decoupled=False, amsgrad=False, beta2=0.999),
                          [[0.9000000016666666, -1.9000000008333333], [0.8050097658613199, -1.9250178784643248]]),
    "adamw": (lambda ps: AdamW(ps, lr=0.1, weight_decay=0.1),
              dict(weight_decay=0.1, decoupled=True, amsgrad=False, beta2=0.999),
              [[0.890000002, -1.880000001], [0.7878820404574624, -1.897810353462075]]),
    # beta2 = 0.5 so v shrinks on step 2 for the first element: AMSGrad keeps v̂ = v1 there (without amsgrad
    # that element would be 0.7957947950882981); the second element's v grows, so both variants agree.
    "adam_amsgrad": (lambda ps: Adam(ps, lr=0.1, betas=(0.9, 0.5), amsgrad=True),
                     dict(weight_decay=0.0, decoupled=False, amsgrad=True, beta2=0.5),
                     [[0.900000002, -1.900000001], [0.8097556452658828, -1.9334255427074696]]),
    "adamw_amsgrad": (lambda ps: AdamW(ps, lr=0.1, betas=(0.9, 0.5), weight_decay=0.1, amsgrad=True),
                      dict(weight_decay=0.1, decoupled=True, amsgrad=True, beta2=0.5),
                      [[0.890000002, -1.880000001], [0.7908556452458828, -1.8946255426974696]]),
}


@pytest.mark.parametrize("case", sorted(ADAM_CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_two_steps_match_published_update(backend, case, dtype):
    make_optimizer, _, expected = ADAM_CASES[case]
    _assert_trajectory(_run_two_steps(make_optimizer, dtype), expected, dtype)


@pytest.mark.parametrize("case", sorted(ADAM_CASES))
def test_adam_literals_match_the_scalar_formula(case):
    _, formula, expected = ADAM_CASES[case]
    for element in range(2):
        trajectory = _adam_scalar(P0[element], [GRADS[0][element], GRADS[1][element]], lr=0.1, beta1=0.9,
                                  eps=1e-8, **formula)
        assert trajectory == pytest.approx([expected[0][element], expected[1][element]], rel=1e-15)


@pytest.mark.parametrize("optimizer_class, kernel_name",
                         [(Adam, "adam_step_foreach"), (AdamW, "adamw_step_foreach")])
def test_adam_calls_the_fused_backend_kernel_once_per_param_group(backend, monkeypatch, optimizer_class, kernel_name):
    kernels = backend_module.kernels()
    real_kernel = getattr(kernels, kernel_name)
    calls = []

    def spy(params, grads, exp_avgs, exp_avg_sqs, steps, **hyper):
        for param, *arrays in zip(params, grads, exp_avgs, exp_avg_sqs):
            for array in (param, *arrays):
                assert array.flags.c_contiguous and array.dtype == param.dtype and array.shape == param.shape
        calls.append([param.shape for param in params] + list(steps))
        real_kernel(params, grads, exp_avgs, exp_avg_sqs, steps, **hyper)

    monkeypatch.setattr(kernels, kernel_name, spy)
    first = tg.tensor(np.ones((2, 3)), requires_grad=True)
    second = tg.tensor([1.0, 2.0], requires_grad=True)
    without_grad = tg.tensor([3.0], requires_grad=True)
    optimizer = optimizer_class([first, without_grad, second], lr=0.01)
    for _ in range(2):
        first.grad = tg.ones(2, 3)
        second.grad = tg.ones(2)
        optimizer.step()
    assert calls == [[(2, 3), (2,), 1, 1], [(2, 3), (2,), 2, 2]]
    assert without_grad not in optimizer.state


def test_adam_handles_a_non_contiguous_parameter_and_a_grad_of_another_dtype(backend):
    base = np.arange(6, dtype=np.float32).reshape(2, 3)
    strided = tg.tensor([[0.0]], requires_grad=True)
    strided.data = base.T  # a transposed (Fortran-ordered) view
    contiguous = tg.tensor(np.ascontiguousarray(base.T), requires_grad=True)
    optimizer = Adam([strided, contiguous], lr=0.1)
    for param in (strided, contiguous):
        param.grad = tg.tensor(np.full((3, 2), 0.5), dtype=np.float64)
    optimizer.step()
    assert strided.dtype == np.float32
    np.testing.assert_array_equal(strided.data, contiguous.data)
    np.testing.assert_array_equal(base, np.arange(6, dtype=np.float32).reshape(2, 3))  # not written through


# ----- behaviour shared by all optimizers ---------------------------------------------------------------------------
@pytest.mark.parametrize("make_optimizer", [lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: Adam(ps),
                                            lambda ps: AdamW(ps, amsgrad=True)])
def test_parameters_without_grad_are_skipped(backend, make_optimizer):
    used = tg.tensor([1.0, 2.0], requires_grad=True)
    unused = tg.tensor([3.0, 4.0], requires_grad=True)
    optimizer = make_optimizer([used, unused])
    used.grad = tg.ones(2)
    optimizer.step()
    np.testing.assert_array_equal(unused.data, [3.0, 4.0])
    assert unused not in optimizer.state
    assert not np.array_equal(used.data, [1.0, 2.0])


def test_param_groups_take_their_own_options_and_the_defaults_for_the_rest(backend):
    frozen = tg.tensor([1.0], requires_grad=True)
    moving = tg.tensor([1.0], requires_grad=True)
    optimizer = SGD([{"params": [frozen], "lr": 0.0}, {"params": [moving]}], lr=0.5, momentum=0.9)
    assert optimizer.param_groups[0]["momentum"] == 0.9
    assert optimizer.param_groups[1]["lr"] == 0.5
    frozen.grad = tg.ones(1)
    moving.grad = tg.ones(1)
    optimizer.step()
    np.testing.assert_array_equal(frozen.data, [1.0])
    np.testing.assert_array_equal(moving.data, [0.5])


def test_step_with_a_closure_returns_its_loss_and_trains():
    weight = tg.tensor([3.0], requires_grad=True)
    optimizer = SGD([weight], lr=0.25)

    def closure():
        optimizer.zero_grad()
        loss = (weight * weight).sum()
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    assert loss.item() == 9.0
    np.testing.assert_array_equal(weight.data, [1.5])  # 3 - 0.25·6


def test_backward_then_step_on_a_real_graph_matches_the_analytic_gradient():
    weight = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    x = tg.tensor([[1.0, -1.0]])
    optimizer = SGD([weight], lr=0.1)
    (x @ weight).sum().backward()  # d/dW sum(x W) = xᵀ·1 = [[1, 1], [-1, -1]]
    optimizer.step()
    np.testing.assert_allclose(weight.data, [[0.9, 1.9], [3.1, 4.1]], rtol=1e-6)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    param = tg.tensor([1.0, 2.0], requires_grad=True)
    optimizer = SGD([param], lr=0.1)
    param.grad = tg.ones(2)
    optimizer.zero_grad(set_to_none=set_to_none)
    if set_to_none:
        assert param.grad is None
    else:
        np.testing.assert_array_equal(param.grad.data, [0.0, 0.0])
        assert param.grad.dtype == param.dtype


def test_rejects_bad_parameter_lists():
    leaf = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="non-leaf"):
        SGD([leaf * 2.0], lr=0.1)
    with pytest.raises(TypeError, match="float32/float64"):
        SGD([tg.tensor([1, 2])], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        SGD(leaf, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="more than one param group"):
        SGD([{"params": [leaf]}, {"params": [leaf]}], lr=0.1)
    with pytest.raises(TypeError, match="only optimize Tensors"):
        SGD([np.ones(2)], lr=0.1)


@pytest.mark.parametrize("make_optimizer, message", [
    (lambda ps: SGD(ps, lr=-0.1), "learning rate"),
    (lambda ps: SGD(ps, lr=0.1, momentum=-1.0), "momentum"),
    (lambda ps: SGD(ps, lr=0.1, weight_decay=-1.0), "weight_decay"),
    (lambda ps: SGD(ps, lr=0.1, nesterov=True), "Nesterov"),
    (lambda ps: SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (lambda ps: Adam(ps, lr=-1e-3), "learning rate"),
    (lambda ps: Adam(ps, betas=(1.0, 0.999)), "beta parameter at index 0"),
    (lambda ps: Adam(ps, betas=(0.9, -0.1)), "beta parameter at index 1"),
    (lambda ps: AdamW(ps, eps=-1e-8), "eps"),
    (lambda ps: AdamW(ps, weight_decay=-0.1), "weight_decay"),
    (lambda ps: Adam([{"params": ps, "lr": -1.0}]), "learning rate"),
])
def test_invalid_hyper_parameters_raise_value_error(make_optimizer, message):
    with pytest.raises(ValueError, match=message):
        make_optimizer([tg.tensor([1.0], requires_grad=True)])


# ----- checkpoints: state_dict / load_state_dict ------------------------------------------------------------------
def _make_model():
    """Three parameters in two groups, deterministic."""
    rng = np.random.default_rng(0)
    weight = tg.tensor(rng.standard_normal((3, 2)), dtype=np.float32, requires_grad=True)
    bias = tg.tensor(rng.standard_normal(2), dtype=np.float32, requires_grad=True)
    scale = tg.tensor(rng.standard_normal(2), dtype=np.float32, requires_grad=True)
    return [weight, bias, scale]


def _train(optimizer, params, steps, first_step):
    weight, bias, scale = params
    for step in range(first_step, first_step + steps):
        x = tg.tensor(np.random.default_rng(step).standard_normal((4, 3)), dtype=np.float32)
        optimizer.zero_grad()
        out = (x @ weight + bias) * scale
        (out * out).sum().backward()
        optimizer.step()


OPTIMIZER_FACTORIES = {
    "sgd_nesterov": lambda groups: SGD(groups, lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda groups: Adam(groups, lr=0.01, weight_decay=1e-3),
    "adamw_amsgrad": lambda groups: AdamW(groups, lr=0.01, amsgrad=True),
}


def _groups(params):
    return [{"params": params[:2]}, {"params": params[2:], "lr": 0.005}]


@pytest.mark.parametrize("name", sorted(OPTIMIZER_FACTORIES))
def test_state_dict_round_trip_resumes_training_exactly(backend, name, tmp_path):
    make_optimizer = OPTIMIZER_FACTORIES[name]
    params = _make_model()
    optimizer = make_optimizer(_groups(params))
    _train(optimizer, params, steps=3, first_step=0)
    save({"params": [p.detach() for p in params], "optim": optimizer.state_dict()}, tmp_path / "ckpt.npz")
    _train(optimizer, params, steps=2, first_step=3)

    checkpoint = load(tmp_path / "ckpt.npz")
    restored_params = [tg.tensor(saved.data.copy(), requires_grad=True) for saved in checkpoint["params"]]
    restored = make_optimizer(_groups(restored_params))
    restored.load_state_dict(checkpoint["optim"])
    _train(restored, restored_params, steps=2, first_step=3)
    for original, resumed in zip(params, restored_params):
        np.testing.assert_array_equal(original.data, resumed.data)


def test_state_dict_layout_and_copies():
    params = _make_model()
    optimizer = Adam(_groups(params), lr=0.01)
    _train(optimizer, params, steps=1, first_step=0)
    state = optimizer.state_dict()
    assert [group["params"] for group in state["param_groups"]] == [[0, 1], [2]]
    assert state["param_groups"][1]["lr"] == 0.005 and state["param_groups"][0]["betas"] == (0.9, 0.999)
    assert sorted(state["state"]) == [0, 1, 2]
    assert state["state"][0]["step"] == 1
    saved_exp_avg = state["state"][0]["exp_avg"].copy()
    _train(optimizer, params, steps=1, first_step=1)
    np.testing.assert_array_equal(state["state"][0]["exp_avg"], saved_exp_avg)  # a copy, not a live view


def test_load_state_dict_rejects_mismatches_and_changes_nothing():
    params = _make_model()
    optimizer = SGD(_groups(params), lr=0.1, momentum=0.9)
    _train(optimizer, params, steps=1, first_step=0)
    good = optimizer.state_dict()

    fresh_params = _make_model()
    fresh = SGD(_groups(fresh_params), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="param groups"):
        SGD(fresh_params, lr=0.1).load_state_dict(good)
    with pytest.raises(ValueError, match="param group 0 has 2 parameters"):
        SGD([{"params": fresh_params[:1]}, {"params": fresh_params[1:]}], lr=0.1).load_state_dict(good)
    wrong_shape = optimizer.state_dict()
    wrong_shape["state"][0]["momentum_buffer"] = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*shape \(3, 2\)"):
        fresh.load_state_dict(wrong_shape)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        fresh.load_state_dict({"state": {}})
    assert fresh.state == {}
    assert fresh.param_groups[1]["lr"] == 0.005


def test_base_optimizer_needs_an_update_rule():
    optimizer = Optimizer([tg.tensor([1.0], requires_grad=True)], {"lr": 0.1})
    with pytest.raises(NotImplementedError):
        optimizer.step()


# ----- gradient clipping -------------------------------------------------------------------------------------------
def _params_with_grads(*grads, dtype=np.float32):
    params = []
    for grad in grads:
        param = tg.tensor(np.zeros(np.shape(grad)), dtype=dtype, requires_grad=True)
        param.grad = tg.tensor(grad, dtype=dtype)
        params.append(param)
    return params


def test_clip_grad_norm_returns_total_norm_and_scales_all_grads_together():
    params = _params_with_grads([3.0, 0.0], [[4.0]])  # total L2 norm = √(9 + 16) = 5
    total = clip_grad_norm_(params, max_norm=1.0)
    assert isinstance(total, tg.Tensor) and total.shape == ()
    assert total.item() == pytest.approx(5.0)
    scale = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(params[0].grad.data, [3.0 * scale, 0.0], rtol=1e-6)
    np.testing.assert_allclose(params[1].grad.data, [[4.0 * scale]], rtol=1e-6)


def test_clip_grad_norm_leaves_small_grads_untouched():
    params = _params_with_grads([0.3, 0.4])
    total = clip_grad_norm_(params, max_norm=1.0)
    assert total.item() == pytest.approx(0.5)
    np.testing.assert_array_equal(params[0].grad.data, np.array([0.3, 0.4], dtype=np.float32))


def test_clip_grad_norm_inf_and_other_orders():
    params = _params_with_grads([1.0, -7.0], [2.0])
    total = clip_grad_norm_(params, max_norm=3.5, norm_type=math.inf)
    assert total.item() == 7.0
    np.testing.assert_allclose(params[0].grad.data, [0.5, -3.5], rtol=1e-6)
    np.testing.assert_allclose(params[1].grad.data, [1.0], rtol=1e-6)

    params = _params_with_grads([1.0, -2.0], [3.0], dtype=np.float64)
    assert clip_grad_norm_(params, max_norm=100.0, norm_type=1).item() == pytest.approx(6.0)
    assert clip_grad_norm_(params, max_norm=100.0, norm_type=3).item() == pytest.approx(36.0 ** (1 / 3))


def test_clip_grad_norm_skips_params_without_grad_and_handles_none_at_all():
    params = _params_with_grads([3.0, 4.0])
    params.append(tg.tensor([1.0], requires_grad=True))  # no grad: ignored
    assert clip_grad_norm_(params, max_norm=10.0).item() == pytest.approx(5.0)
    assert clip_grad_norm_([tg.tensor([1.0], requires_grad=True)], max_norm=1.0).item() == 0.0
    assert clip_grad_norm_(params[0], max_norm=10.0).item() == pytest.approx(5.0)  # a single Tensor works too


def test_clip_grad_norm_nonfinite():
    params = _params_with_grads([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="error_if_nonfinite"):
        clip_grad_norm_(params, max_norm=1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_(params, max_norm=1.0, norm_type=0)


def test_clip_grad_value_clamps_each_element():
    params = _params_with_grads([-3.0, 0.5, 2.0])
    clip_grad_value_(params, 1.0)
    np.testing.assert_array_equal(params[0].grad.data, [-1.0, 0.5, 1.0])
    assert params[0].grad.dtype == np.float32


# ----- against PyTorch (skipped when torch is not installed) ------------------------------------------------------
TORCH_CASES = {
    "sgd_nesterov_wd": (lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
                        lambda torch, ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "sgd_dampening": (lambda ps: SGD(ps, lr=0.05, momentum=0.8, dampening=0.3),
                      lambda torch, ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3)),
    "adam_wd": (lambda ps: Adam(ps, lr=0.01, weight_decay=0.1),
                lambda torch, ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1)),
    "adam_amsgrad": (lambda ps: Adam(ps, lr=0.01, betas=(0.8, 0.9), amsgrad=True),
                     lambda torch, ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.9), amsgrad=True)),
    "adamw": (lambda ps: AdamW(ps, lr=0.01, weight_decay=0.1),
              lambda torch, ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_pytorch_over_five_steps(backend, case):
    torch = pytest.importorskip("torch")
    make_ours, make_theirs = TORCH_CASES[case]
    rng = np.random.default_rng(1)
    start = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(5)]
    ours = tg.tensor(start, dtype=np.float64, requires_grad=True)
    theirs = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    our_optimizer = make_ours([ours])
    their_optimizer = make_theirs(torch, [theirs])
    for grad in grads:
        ours.grad = tg.tensor(grad, dtype=np.float64)
        theirs.grad = torch.tensor(grad, dtype=torch.float64)
        our_optimizer.step()
        their_optimizer.step()
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_clip_grad_norm_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    for norm_type in (1.0, 2.0, 3.0, math.inf):
        ours = _params_with_grads(*grads, dtype=np.float64)
        theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
        for tensor, grad in zip(theirs, grads):
            tensor.grad = torch.tensor(grad)
        our_norm = clip_grad_norm_(ours, max_norm=0.5, norm_type=norm_type)
        their_norm = torch.nn.utils.clip_grad_norm_(theirs, max_norm=0.5, norm_type=norm_type)
        assert our_norm.item() == pytest.approx(their_norm.item(), rel=1e-12)
        for param, tensor in zip(ours, theirs):
            np.testing.assert_allclose(param.grad.data, tensor.grad.numpy(), rtol=1e-12)
