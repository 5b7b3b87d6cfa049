"""The Tensor and autograd contracts a PyTorch user relies on, checked against PyTorch itself.

dim/keepdim, elementwise ==, size()/numel()/dim(), max(dim) -> (values, indices), gather/scatter_add/topk/sort,
in-place ops with version counters, PyTorch-style autograd.Function, backward result checks, type promotion.
"""
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_edu as tg
from tinygrad_edu.testing import arrays, shapes


def as_torch(x, requires_grad=False):
    return torch.tensor(np.asarray(x.numpy() if isinstance(x, tg.Tensor) else x), requires_grad=requires_grad)


# ----- shape queries and comparisons ---------------------------------------------------------------------------
def test_size_numel_dim_as_in_pytorch():
    x = tg.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) and x.size(0) == 2 and x.size(-1) == 4
    assert x.numel() == 24 and x.dim() == 3 and x.ndim == 3
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.size(3)
    with pytest.raises(IndexError, match="no dimensions"):
        tg.tensor(1.0).size(0)


def test_equality_is_elementwise_and_hash_is_identity():
    a = tg.tensor([1.0, 2.0, 3.0])
    assert (a == tg.tensor([1.0, 0.0, 3.0])).tolist() == [True, False, True]
    assert (a == a.detach()).all().item()  # was identity (False) before
    assert (a != 2.0).tolist() == [True, False, True]
    assert (a == None) is False  # noqa: E711 - PyTorch answers False, not an error
    assert len({a, a.detach()}) == 2
    pred, y = tg.tensor([1, 2, 0]), tg.tensor([1, 2, 2])
    assert (pred == y).float().mean().item() == pytest.approx(2 / 3)


def test_python_number_conversions_and_format():
    assert float(tg.tensor(2.5)) == 2.5 and int(tg.tensor(3)) == 3
    assert f"{tg.tensor(0.123456):.3f}" == "0.123"
    assert list(range(tg.tensor(3))) == [0, 1, 2]
    assert [row.tolist() for row in tg.tensor([[1, 2], [3, 4]])] == [[1, 2], [3, 4]]
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted"):
        tg.tensor([1.0, 2.0]).item()


# ----- dim arguments: torch names, numpy aliases, one validation ---------------------------------------------
REDUCTIONS_WITH_DIM = ["sum", "mean", "logsumexp", "amax", "amin", "std", "var", "argmax", "argmin"]


@pytest.mark.parametrize("name", REDUCTIONS_WITH_DIM)
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions_take_dim_and_keepdim_and_match_pytorch(name, keepdim):
    x = np.random.default_rng(0).standard_normal((3, 4, 2))
    ours = getattr(tg.tensor(x), name)(dim=1, keepdim=keepdim)
    theirs = getattr(torch.tensor(x), name)(dim=1, keepdim=keepdim)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    alias = getattr(tg.tensor(x), name)(axis=1, keepdims=keepdim)
    np.testing.assert_array_equal(alias.numpy(), ours.numpy())


@pytest.mark.parametrize("call", [
    lambda x: x.sum(dim=2), lambda x: x.mean(2), lambda x: x.softmax(2), lambda x: x.squeeze(2),
    lambda x: x.unsqueeze(3), lambda x: x.transpose(0, 5), lambda x: tg.cat([x, x], dim=2),
    lambda x: tg.stack([x, x], dim=4), lambda x: x.flatten(0, 2), lambda x: x.argmax(dim=-3),
    lambda x: x.max(dim=2), lambda x: x.gather(2, tg.zeros(2, 3, dtype=tg.long)), lambda x: x.topk(1, dim=2),
])
def test_dim_out_of_range_raises_index_error_like_pytorch(call):
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-\d, \d\], but got -?\d\)"):
        call(tg.ones(2, 3))


def test_zero_dim_tensors_accept_dim_0_and_minus_1_as_in_pytorch():
    x = tg.tensor(2.0)
    assert x.squeeze(0).shape == () and x.sum(dim=0).item() == 2.0 and x.unsqueeze(0).shape == (1,)
    assert x.transpose(0, -1).shape == () and torch.tensor(2.0).transpose(0, -1).shape == ()


# ----- max/min with dim, topk, sort, gather, scatter_add ------------------------------------------------------
def _grad_pair(our_fn, torch_fn, x, cotangent_shape_of=None):
    ours_in = tg.tensor(x, requires_grad=True)
    theirs_in = torch.tensor(x, requires_grad=True)
    ours_out, theirs_out = our_fn(ours_in), torch_fn(theirs_in)
    c = np.random.default_rng(1).standard_normal(theirs_out.shape)
    (ours_out * tg.tensor(c)).sum().backward()
    (theirs_out * torch.tensor(c)).sum().backward()
    np.testing.assert_allclose(ours_out.numpy(), theirs_out.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours_in.grad.numpy(), theirs_in.grad.numpy(), rtol=1e-12)


@given(arrays(shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), distinct=True), st.data())
def test_max_min_with_dim_match_pytorch_values_indices_and_gradient(x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    keepdim = data.draw(st.booleans())
    for name in ("max", "min"):
        ours = getattr(tg.tensor(x), name)(dim, keepdim)
        theirs = getattr(torch.tensor(x), name)(dim, keepdim)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
        _grad_pair(lambda t: getattr(t, name)(dim, keepdim)[0], lambda t: getattr(t, name)(dim, keepdim)[0], x)


@given(arrays(shapes(min_dims=1, max_dims=3, min_side=1, max_side=5), distinct=True), st.data())
def test_topk_and_sort_match_pytorch(x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    k = data.draw(st.integers(0, x.shape[dim]))
    largest = data.draw(st.booleans())
    ours, theirs = tg.tensor(x).topk(k, dim, largest), torch.tensor(x).topk(k, dim, largest)
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    _grad_pair(lambda t: t.topk(k, dim, largest).values, lambda t: t.topk(k, dim, largest).values, x)
    descending = data.draw(st.booleans())
    ours, theirs = tg.tensor(x).sort(dim, descending), torch.tensor(x).sort(dim, descending)
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())


def test_sort_puts_nan_last_ascending_and_first_descending_as_pytorch():
    x = np.array([2.0, np.nan, -1.0, 5.0])
    for descending in (False, True):
        ours, theirs = tg.tensor(x).sort(descending=descending), torch.tensor(x).sort(descending=descending)
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())


@given(arrays(shapes(min_dims=2, max_dims=3, min_side=1, max_side=4), dtype=np.float64), st.data())
def test_gather_and_scatter_add_match_pytorch_with_gradients(x, data):
    dim = data.draw(st.integers(0, x.ndim - 1))
    index_shape = tuple(data.draw(st.integers(1, n)) if d != dim else data.draw(st.integers(1, 5)) for d, n in enumerate(x.shape))
    index = np.random.default_rng(2).integers(0, x.shape[dim], size=index_shape)
    _grad_pair(lambda t: t.gather(dim, tg.tensor(index)), lambda t: t.gather(dim, torch.tensor(index)), x)
    src = np.random.default_rng(3).standard_normal(index_shape)
    ours_src, theirs_src = tg.tensor(src, requires_grad=True), torch.tensor(src, requires_grad=True)
    _grad_pair(lambda t: t.scatter_add(dim, tg.tensor(index), ours_src),
               lambda t: t.scatter_add(dim, torch.tensor(index), theirs_src), x)
    np.testing.assert_allclose(ours_src.grad.numpy(), theirs_src.grad.numpy(), rtol=1e-12)


def test_gather_refuses_out_of_range_and_negative_indices():
    with pytest.raises(RuntimeError, match=r"gather\(\): index -1 is out of bounds for dimension 1 with size 3"):
        tg.ones(2, 3).gather(1, tg.tensor([[-1], [0]]))
    with pytest.raises(RuntimeError, match=r"gather\(\): index 3 is out of bounds"):
        tg.ones(2, 3).gather(1, tg.tensor([[3], [0]]))


def test_dqn_style_q_value_selection_matches_pytorch():
    q = np.random.default_rng(4).standard_normal((5, 3))
    actions = np.array([0, 2, 1, 1, 0])
    _grad_pair(lambda t: t.gather(1, tg.tensor(actions).unsqueeze(1)).squeeze(1),
               lambda t: t.gather(1, torch.tensor(actions).unsqueeze(1)).squeeze(1), q)
    np.testing.assert_array_equal(tg.tensor(q).max(1)[0].numpy(), torch.tensor(q).max(1)[0].numpy())


def test_split_chunk_repeat_masked_fill_match_pytorch():
    x = np.arange(24.0).reshape(4, 6)
    for our_fn, torch_fn in [
        (lambda t: tg.cat(t.split(4, dim=1), 1), lambda t: torch.cat(t.split(4, dim=1), 1)),
        (lambda t: tg.cat(t.split([1, 3], dim=0), 0) * 2, lambda t: torch.cat(t.split([1, 3], dim=0), 0) * 2),
        (lambda t: tg.cat(t.chunk(3, dim=1), 0), lambda t: torch.cat(t.chunk(3, dim=1), 0)),
        (lambda t: t.repeat(2, 1, 3), lambda t: t.repeat(2, 1, 3)),
        (lambda t: t.masked_fill(tg.tensor(x > 10), -1.0), lambda t: t.masked_fill(torch.tensor(x > 10), -1.0)),
    ]:
        _grad_pair(our_fn, torch_fn, x)


# ----- type promotion ------------------------------------------------------------------------------------------
_VALUES = {"bool": True, "int64": 3, "int32": 3, "uint8": 3, "float32": 1.5, "float64": 1.5}


def _operand(lib, dtype_name, kind):
    value = _VALUES[dtype_name]
    if kind == "python":
        return value
    dtype = getattr(torch, dtype_name) if lib is torch else getattr(tg, dtype_name)
    return lib.tensor([value] if kind == "dimensioned" else value, dtype=dtype)


@pytest.mark.parametrize("kind_a,kind_b", [("dimensioned", "dimensioned"), ("dimensioned", "zero-dim"),
                                           ("dimensioned", "python"), ("zero-dim", "zero-dim"), ("zero-dim", "python")])
def test_result_dtype_of_binary_ops_matches_pytorch(kind_a, kind_b):
    for name_a, name_b in itertools.product(_VALUES, repeat=2):
        for op in (lambda a, b: a + b, lambda a, b: a * b, lambda a, b: b - a if name_a != "bool" and name_b != "bool" else a * b):
            ours = op(_operand(tg, name_a, kind_a), _operand(tg, name_b, kind_b))
            theirs = op(_operand(torch, name_a, kind_a), _operand(torch, name_b, kind_b))
            assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), (name_a, kind_a, name_b, kind_b)


def test_cat_promotes_as_pytorch():
    assert tg.cat([tg.ones(2), tg.tensor([1, 2])]).dtype == tg.float32
    assert tg.cat([tg.ones(2, dtype=tg.float64), tg.ones(2)]).dtype == tg.float64


# ----- in-place ops and version counters -----------------------------------------------------------------------
def test_inplace_change_of_a_saved_tensor_raises_at_backward_naming_the_op():
    w = tg.ones(3, requires_grad=True)
    loss = (w * w).sum()
    optimizer = tg.optim.SGD([w], lr=0.1)
    w.grad = tg.ones(3)
    optimizer.step()  # changes w in place between forward and backward
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation: \[float32 \(3,\)\] is at version 1; expected version 0 instead \(saved by Mul\)"):
        loss.backward()


def test_inplace_change_through_detach_or_setitem_is_seen_by_backward():
    x = tg.ones(3, requires_grad=True)
    y = x.exp()
    y.detach().zero_()  # shares the data and the version counter with y, as in PyTorch
    with pytest.raises(RuntimeError, match="saved by Exp"):
        y.sum().backward()
    a = tg.ones(2, requires_grad=True)
    b = tg.tensor([1.0, 2.0])
    out = (a * b).sum()
    b[0] = 5.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


def test_inplace_ops_match_pytorch_values():
    for name, args in [("add_", (2.0,)), ("sub_", (1.0,)), ("mul_", (3.0,)), ("div_", (2.0,)), ("clamp_", (0.0, 1.5)),
                       ("fill_", (7.0,)), ("zero_", ())]:
        ours, theirs = tg.tensor([0.5, 1.0, 2.0]), torch.tensor([0.5, 1.0, 2.0])
        assert getattr(ours, name)(*args) is ours
        getattr(theirs, name)(*args)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    target = tg.zeros(2, 3)
    target.copy_(tg.tensor([1.0, 2.0, 3.0]))
    assert target.tolist() == [[1.0, 2.0, 3.0]] * 2
    with pytest.raises(RuntimeError, match="result type float32 can't be cast to the desired output type int64"):
        tg.tensor([1, 2]).add_(1.5)


def test_soft_update_under_no_grad_as_dqn_code_writes_it():
    online, target = tg.ones(2, requires_grad=True), tg.zeros(2, requires_grad=True)
    with tg.no_grad():
        target.copy_(0.1 * online + 0.9 * target)
    assert target.tolist() == pytest.approx([0.1, 0.1]) and target.requires_grad and target.is_leaf


# ----- autograd.Function as PyTorch users write it, and the backward result checks -----------------------------
class Cube(tg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        assert isinstance(x, tg.Tensor) and isinstance(grad_output, tg.Tensor)
        return 3 * x * x * grad_output


def test_pytorch_style_function_gets_tensors_and_matches_finite_differences():
    x = tg.randn(4, dtype=tg.float64, requires_grad=True)
    y = Cube.apply(x)
    assert y.grad_fn == "CubeBackward"
    assert tg.gradcheck(Cube.apply, x)


def test_pytorch_style_function_with_two_outputs_and_a_non_tensor_argument():
    class ScaledSplit(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale):
            ctx.scale = scale
            return x * scale, x.sum() * 2

        @staticmethod
        def backward(ctx, grad_a, grad_b):
            return grad_a * ctx.scale + grad_b * 2, None

    x = tg.randn(3, dtype=tg.float64, requires_grad=True)
    assert tg.gradcheck(lambda t: ScaledSplit.apply(t, 3.0)[0] * 2 + ScaledSplit.apply(t, 3.0)[1], x)
    a, _ = ScaledSplit.apply(x, 3.0)
    a.sum().backward()  # the second output unused: its gradient is zeros, as PyTorch materialises it
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0, 3.0])


def test_function_returning_the_wrong_number_of_gradients_is_an_error_naming_it():
    class TwoInputs(tg.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output

    a, b = tg.ones(2, requires_grad=True), tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"function TwoInputsBackward.backward returned an incorrect number of gradients \(expected 2"):
        TwoInputs.apply(a, b).sum().backward()


def test_function_returning_a_gradient_of_the_wrong_shape_is_an_error_naming_it():
    class WrongShape(tg.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad_output):
            return tg.ones(5)

    with pytest.raises(RuntimeError, match=r"function WrongShapeBackward.backward returned an invalid gradient at index 0 - got \[5\] but expected shape compatible with \[2, 3\]"):
        WrongShape.apply(tg.ones(2, 3, requires_grad=True)).sum().backward()


def test_array_level_op_with_wrong_gradient_count_is_caught_by_the_engine():
    class Broken(tg.autograd.ArrayFunction):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, grad_out):
            return (grad_out,)

    with pytest.raises(RuntimeError, match="function Broken.backward returned an incorrect number of gradients"):
        Broken.apply(tg.ones(2, requires_grad=True), tg.ones(2, requires_grad=True)).sum().backward()


def test_saved_tensors_of_a_function_check_versions():
    x = tg.ones(3, requires_grad=True)
    y = Cube.apply(x)
    with tg.no_grad():
        x.mul_(2)
    with pytest.raises(RuntimeError, match="saved by CubeBackward"):
        y.sum().backward()


def test_autograd_grad_returns_gradients_and_leaves_dot_grad_alone():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    w = tg.tensor([3.0, 4.0], requires_grad=True)
    (gx,) = tg.autograd.grad((x * w).sum(), x)
    assert gx.tolist() == [3.0, 4.0] and x.grad is None and w.grad is None


# ----- creation and conversion ---------------------------------------------------------------------------------
def test_from_numpy_shares_memory_and_keeps_dtype():
    array = np.arange(3, dtype=np.int32)
    t = tg.from_numpy(array)
    array[0] = 7
    assert t.dtype == tg.int32 and t.tolist() == [7, 1, 2]
    with pytest.raises(TypeError, match="from_numpy: can't convert np.ndarray of type float16"):
        tg.from_numpy(np.zeros(2, dtype=np.float16))


def test_to_accepts_dtype_device_and_tensor_positionally():
    x = tg.ones(2)
    assert x.to(tg.float64).dtype == tg.float64
    assert x.to("cpu", tg.float64).dtype == tg.float64
    assert x.to(tg.device("cpu")).device == "cpu"
    assert x.to(tg.ones(1, dtype=tg.float64)).dtype == tg.float64
    assert tg.randint(0, 5, (3,)).dtype == tg.long and tg.randint(5, (2, 2)).shape == (2, 2)


# ----- the rest of the tensor tour: trig, scans, norms, einsum, flips, triangles, remainders ------------------
TOUR = {
    "sin_cos": lambda lib, t: t.sin() * t.cos(),
    "cumsum": lambda lib, t: t.cumsum(dim=1),
    "prod_dim": lambda lib, t: t.prod(dim=0),
    "prod_all": lambda lib, t: t.prod(),
    "norm_fro": lambda lib, t: t.norm(),
    "norm_p1_dim": lambda lib, t: t.norm(p=1, dim=0),
    "norm_inf": lambda lib, t: t.norm(p=float("inf"), dim=1, keepdim=True),
    "flip": lambda lib, t: t.flip(0, 1),
    "tril": lambda lib, t: t.tril(diagonal=-1) + t.triu(1) * 2,
    "remainder": lambda lib, t: t % 0.7 + ((t * 3) // 1).detach(),
    "masked_select": lambda lib, t: t.masked_select(t > 0),
    "einsum_matmul": lambda lib, t: lib.einsum("ij,kj->ik", t, t * 2),
    "einsum_summed_away": lambda lib, t: lib.einsum("ij->i", t),
    "einsum_outer": lambda lib, t: lib.einsum("i,j->ij", t[0], t[1]),
}


@pytest.mark.parametrize("name", sorted(TOUR))
def test_tensor_tour_ops_match_pytorch_forward_and_backward(name):
    x = np.random.default_rng(5).standard_normal((3, 4))
    x[1, 2] = 0.0  # a zero for prod's and norm's special cases
    _grad_pair(lambda t: TOUR[name](tg, t), lambda t: TOUR[name](torch, t), x)


def test_prod_and_norm_gradients_are_exact_at_zeros():
    for x in (np.zeros((2, 3)), np.array([[1.0, 0.0, 2.0], [3.0, 4.0, 0.0]]), np.array([[0.0, 0.0, 2.0]])):
        _grad_pair(lambda t: t.prod(dim=1) + t.prod(), lambda t: t.prod(dim=1) + t.prod(), x)
        _grad_pair(lambda t: t.norm(dim=1), lambda t: t.norm(dim=1), x)


def test_einsum_gradients_match_finite_differences():
    a, b = tg.randn(2, 3, 4, dtype=tg.float64), tg.randn(2, 4, 5, dtype=tg.float64)
    assert tg.gradcheck(lambda x, y: tg.einsum("bij,bjk->bik", x, y), a.requires_grad_(), b.requires_grad_())


def test_inplace_index_ops_match_pytorch():
    for make in (lambda lib: lib.zeros(3, 2).index_add_(0, lib.tensor([0, 2, 0]), lib.ones(3, 2)),
                 lambda lib: lib.zeros(2, 3).scatter_add_(1, lib.tensor([[0, 0], [2, 1]]), lib.ones(2, 2)),
                 lambda lib: lib.zeros(2, 2).masked_fill_(lib.tensor([[True, False], [False, True]]), 5.0)):
        np.testing.assert_array_equal(make(tg).numpy(), make(torch).numpy())
