"""Adam / AdamW: reference on hand-computed steps, cpu vs reference over several steps, in-place contract, errors.

Tolerances: float64 cpu vs reference rtol 1e-12, atol 1e-12 after 5 steps (FMA rounding); float32 rtol 1e-5, atol 1e-6.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from kernels.cpu import optim as cpu
from kernels.reference import optim as ref

HYPER = dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)


def test_reference_adam_matches_two_hand_computed_steps():
    # step 1, g = 0.5:  m = 0.05, v = 0.00025, m̂ = 0.5, √v̂ = 0.5, p = 1 - 0.1·0.5/(0.5 + 1e-8) = 0.900000002
    # step 2, g = -0.25: m = 0.045 - 0.025 = 0.02, v = 0.00024975 + 0.0000625 = 0.00031225,
    #   m̂ = 0.02/0.19 = 0.10526315789473684, √v̂ = √(0.00031225/0.001999) = 0.39522538070166685,
    #   update = 0.1·m̂/(√v̂ + 1e-8) = 0.026633703292153622, p = 0.8733662987078463
    param, m, v = np.array([1.0]), np.zeros(1), np.zeros(1)
    ref.adam_step(param, np.array([0.5]), m, v, 1, weight_decay=0.0, **HYPER)
    np.testing.assert_allclose(param, [0.900000002], rtol=1e-14)
    ref.adam_step(param, np.array([-0.25]), m, v, 2, weight_decay=0.0, **HYPER)
    np.testing.assert_allclose(m, [0.02], rtol=1e-14)
    np.testing.assert_allclose(v, [0.00031225], rtol=1e-14)
    np.testing.assert_allclose(param, [0.8733662987078463], rtol=1e-14)


def test_reference_adamw_matches_two_hand_computed_steps():
    # wd = 0.1, lr = 0.1: decay factor 1 - 0.01 = 0.99 applied before each Adam update (same m, v as above)
    # step 1: p = 0.99 - 0.1·0.5/(0.5 + 1e-8) = 0.890000002
    # step 2: p = 0.890000002·0.99 - 0.026633703292153622 = 0.8544662986878463
    param, m, v = np.array([1.0]), np.zeros(1), np.zeros(1)
    ref.adamw_step(param, np.array([0.5]), m, v, 1, weight_decay=0.1, **HYPER)
    np.testing.assert_allclose(param, [0.890000002], rtol=1e-14)
    ref.adamw_step(param, np.array([-0.25]), m, v, 2, weight_decay=0.1, **HYPER)
    np.testing.assert_allclose(param, [0.8544662986878463], rtol=1e-14)


def test_reference_adam_l2_decay_is_folded_into_the_gradient():
    # g = 0.5 + 0.1·1.0 = 0.6: one step moves p by lr·m̂/(√v̂ + eps) = 0.1·0.6/(0.6 + 1e-8)
    param, m, v = np.array([1.0]), np.zeros(1), np.zeros(1)
    ref.adam_step(param, np.array([0.5]), m, v, 1, weight_decay=0.1, **HYPER)
    np.testing.assert_allclose(param, [1.0 - 0.1 * 0.6 / (0.6 + 1e-8)], rtol=1e-14)


@given(size=st.sampled_from([1, 7, 13, 40_000]), decoupled=st.booleans(), dtype=st.sampled_from(
    [np.float32, np.float64]), seed=st.integers(0, 99))
def test_adam_cpu_matches_reference_over_five_steps(size, decoupled, dtype, seed):
    rng = np.random.default_rng(seed)
    states = []
    for _ in range(2):
        states.append([rng.standard_normal(size).astype(dtype), np.zeros(size, dtype), np.zeros(size, dtype)])
    states[1] = [a.copy() for a in states[0]]
    step_fn = ("adamw_step" if decoupled else "adam_step")
    for step in range(1, 6):
        grad = rng.standard_normal((2, size)).astype(dtype)[0]  # a row of a 2-D array: a strided-free view
        getattr(ref, step_fn)(*states[0][:1], grad, *states[0][1:], step, weight_decay=0.05, **HYPER)
        getattr(cpu, step_fn)(*states[1][:1], grad, *states[1][1:], step, weight_decay=0.05, **HYPER)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    for got, want in zip(states[1], states[0]):
        np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_adam_accepts_non_contiguous_grad_and_updates_two_dim_params_in_place(module):
    param = np.ones((3, 4))
    before = param
    m, v = np.zeros((3, 4)), np.zeros((3, 4))
    grad = np.full((4, 3), 0.5).T  # non-contiguous
    module.adam_step(param, grad, m, v, 1, weight_decay=0.0, **HYPER)
    assert param is before
    np.testing.assert_allclose(param, 0.900000002, rtol=1e-14)


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_adam_errors_name_the_kernel(module):
    param, m, v = np.ones(4), np.zeros(4), np.zeros(4)
    with pytest.raises(ValueError, match="adam_step.*contiguous"):
        module.adam_step(np.ones((4, 2))[:, 0], np.ones(4), m, v, 1)
    with pytest.raises(ValueError, match="adamw_step.*grad"):
        module.adamw_step(param, np.ones(5), m, v, 1)
    with pytest.raises(TypeError, match="adam_step.*exp_avg"):
        module.adam_step(param, np.ones(4), m.astype(np.float32), v, 1)
    with pytest.raises(ValueError, match="adam_step.*step"):
        module.adam_step(param, np.ones(4), m, v, 0)


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_foreach_equals_one_adam_step_per_tensor_with_mixed_steps_and_dtypes(module, decoupled):
    rng = np.random.default_rng(3)
    shapes_and_dtypes = [((3, 4), np.float32), ((5,), np.float64), ((9000,), np.float32), ((2, 1), np.float32)]
    steps = [1, 4, 4, 2]  # tensors of one group may have taken different numbers of steps
    tensors = [[rng.standard_normal(shape).astype(dtype) for _ in range(4)] for shape, dtype in shapes_and_dtypes]
    for param, grad, exp_avg, exp_avg_sq in tensors:
        exp_avg_sq[...] = np.abs(exp_avg_sq)
    expected = [[array.copy() for array in arrays] for arrays in tensors]
    name = "adamw_step" if decoupled else "adam_step"
    for (param, grad, exp_avg, exp_avg_sq), step in zip(expected, steps):
        getattr(ref, name)(param, grad, exp_avg, exp_avg_sq, step, weight_decay=0.05, **HYPER)
    params, grads, exp_avgs, exp_avg_sqs = (list(column) for column in zip(*tensors))
    getattr(module, name + "_foreach")(params, grads, exp_avgs, exp_avg_sqs, steps, weight_decay=0.05, **HYPER)
    for got_arrays, want_arrays in zip(tensors, expected):
        tol = dict(rtol=1e-12, atol=1e-12) if got_arrays[0].dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
        for got, want in zip(got_arrays, want_arrays):
            np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_adam_foreach_errors_name_the_kernel_and_the_list(module):
    param, m, v = np.ones(4), np.zeros(4), np.zeros(4)
    with pytest.raises(ValueError, match="adamw_step_foreach.*one length"):
        module.adamw_step_foreach([param], [np.ones(4)], [m], [v], [1, 2])
    with pytest.raises(TypeError, match="adam_step_foreach: grads must be a list"):
        module.adam_step_foreach([param], np.ones(4), [m], [v], [1])
    with pytest.raises(ValueError, match="adam_step_foreach.*exp_avg_sq"):
        module.adam_step_foreach([param], [np.ones(4)], [m], [np.zeros(3)], [1])
    with pytest.raises(ValueError, match="adamw_step_foreach.*step"):
        module.adamw_step_foreach([param], [np.ones(4)], [m], [v], [0])


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_sum_of_squares_foreach_matches_float64_sum_over_mixed_arrays(module):
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(40_000).astype(np.float32) * 1e-3,
              rng.standard_normal((5, 2)).T, np.zeros((0, 3), np.float32), np.float32([1e20, -1e20])]
    expected = sum(float((a.astype(np.float64) ** 2).sum()) for a in arrays)  # 1e40 overflows float32, not float64
    total = module.sum_of_squares_foreach(arrays)
    assert isinstance(total, float)
    assert total == pytest.approx(expected, rel=1e-12)
    assert module.sum_of_squares_foreach([]) == 0.0
    assert np.isnan(module.sum_of_squares_foreach([np.float32([1.0, np.nan])]))


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_sum_of_squares_foreach_errors_name_the_kernel(module):
    with pytest.raises(TypeError, match="sum_of_squares_foreach: arrays must be a list"):
        module.sum_of_squares_foreach(np.ones(3))
    with pytest.raises(TypeError, match=r"sum_of_squares_foreach: arrays\[1\] must be a float32 or float64"):
        module.sum_of_squares_foreach([np.ones(3), np.ones(3, np.int32)])
