import numpy as np
import pytest

import tinygrad_edu as tg


def test_deep_chain_does_not_hit_the_recursion_limit():
    x = tg.Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 10_000], rtol=1e-3)


def test_tensor_used_twice_accumulates_both_gradients():
    x = tg.Tensor([2.0, 3.0], requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])


def test_diamond_graph_sums_both_paths():
    x = tg.Tensor(1.5, requires_grad=True)
    a = x.exp()
    b = x * 2
    (a * b).backward()
    # d/dx (eˣ · 2x) = 2eˣ·x + 2eˣ: one term through each path.
    np.testing.assert_allclose(x.grad.item(), 2 * np.exp(1.5) * 1.5 + 2 * np.exp(1.5), rtol=1e-6)


def test_backward_twice_accumulates_into_grad_and_zero_grad_resets():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])
    x.zero_grad()
    assert x.grad is None


def test_non_scalar_backward_needs_a_gradient():
    x = tg.ones(2, 3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"grad can be implicitly created only for scalar outputs.*\(2, 3\)"):
        y.backward()
    y.backward(tg.full((2, 3), 0.5))
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\) but the output has shape \(2, 3\)"):
        (x * 2).backward(tg.ones(3))


def test_graph_is_freed_after_backward_unless_retained():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"backward through the graph a second time \(op Sum"):
        loss.backward()
    kept = (x.exp()).sum()
    x.zero_grad()
    kept.backward(retain_graph=True)
    kept.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([1.0, 2.0]), rtol=1e-6)


def test_backward_of_a_tensor_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.ones(3).sum().backward()


def test_no_grad_as_context_manager_and_decorator():
    x = tg.ones(3, requires_grad=True)
    with tg.no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf
    assert tg.is_grad_enabled()

    @tg.no_grad()
    def double(t):
        return t * 2

    assert not double(x).requires_grad
    assert (x * 2).requires_grad


def test_detach_cuts_the_graph_but_shares_data():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach()
    assert y.is_leaf and not y.requires_grad
    z = (y * x).sum()
    z.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_requires_grad_only_for_floats_and_leaves():
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients, got int64"):
        tg.arange(3).requires_grad_()
    x = tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="only change requires_grad of leaf tensors"):
        (x * 2).requires_grad_(False)


def test_leaf_and_grad_fn_and_retain_grad():
    x = tg.ones(2, requires_grad=True)
    hidden = (x * 3).retain_grad()
    assert x.is_leaf and x.grad_fn is None
    assert not hidden.is_leaf and hidden.grad_fn == "Mul"
    (hidden * hidden).sum().backward()
    np.testing.assert_array_equal(hidden.grad.numpy(), [6.0, 6.0])
    np.testing.assert_array_equal(x.grad.numpy(), [18.0, 18.0])


def test_only_inputs_that_need_grad_get_it():
    a = tg.ones(2, requires_grad=True)
    b = tg.ones(2)
    (a * b).sum().backward()
    assert a.grad is not None and b.grad is None


def test_broadcast_gradient_is_summed_back_to_input_shape():
    bias = tg.zeros(3, requires_grad=True)
    x = tg.ones(4, 3)
    (x + bias).sum().backward()
    np.testing.assert_array_equal(bias.grad.numpy(), [4.0, 4.0, 4.0])


def test_custom_function_follows_the_pytorch_contract():
    class Cube(tg.Function):
        """y = x³;  dx = 3x² dy."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad_out):
            (x,) = ctx.saved_tensors
            return 3 * x * x * grad_out

    x = tg.Tensor([1.0, -2.0], dtype=np.float64, requires_grad=True)
    Cube.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 12.0])
    assert tg.gradcheck(Cube.apply, tg.randn(4, dtype=np.float64))


def test_inplace_operators_change_plain_tensors_and_refuse_leaves_that_require_grad():
    x = tg.ones(2)
    alias = x
    x += 1
    assert alias is x and x.tolist() == [2.0, 2.0]  # in place, as in PyTorch
    w = tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="add_: a leaf Variable that requires grad is being used in an in-place"):
        w += 1
    with tg.no_grad():
        w -= 0.5
    assert w.tolist() == [0.5, 0.5] and w.requires_grad


def test_unknown_device_is_a_clear_error():
    with pytest.raises(RuntimeError, match="unknown or unavailable device 'tpu'"):
        tg.ones(2).to("tpu")
