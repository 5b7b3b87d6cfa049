import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_edu as tg
from op_checks import assert_forward_matches, assert_gradients_match
from tinygrad_edu.testing import arrays, shapes


@given(data=st.data())
def test_reshape_and_flatten(data):
    x = data.draw(arrays(shapes(min_dims=1)))
    assert_forward_matches(lambda t: t.reshape(-1), lambda a: a.reshape(-1), x)
    assert_forward_matches(lambda t: t.reshape(1, *x.shape[::-1]), lambda a: a.reshape(1, *x.shape[::-1]), x)
    assert_forward_matches(lambda t: t.flatten(), lambda a: a.reshape(-1), x)
    assert_gradients_match(lambda t: t.reshape(x.shape[::-1]) * t.view(x.size).sum(), x)


@given(data=st.data())
def test_permute_transpose_and_T(data):
    x = data.draw(arrays(shapes(min_dims=2)))
    axes = data.draw(st.permutations(range(x.ndim)))
    assert_forward_matches(lambda t: t.permute(*axes), lambda a: np.transpose(a, axes), x)
    assert_forward_matches(lambda t: t.transpose(0, -1), lambda a: np.swapaxes(a, 0, -1), x)
    assert_forward_matches(lambda t: t.T, lambda a: a.T, x)
    assert_gradients_match(lambda t: t.permute(*axes), x)


@given(data=st.data())
def test_expand_sums_gradient_over_the_broadcast_axes(data):
    x = data.draw(arrays(shapes(max_dims=3, max_side=3)))
    target = tuple(data.draw(st.integers(1, 3)) for _ in range(data.draw(st.integers(0, 2)))) + tuple(
        data.draw(st.integers(2, 3)) if n == 1 else n for n in x.shape
    )
    assert_forward_matches(lambda t: t.expand(*target), lambda a: np.broadcast_to(a, target), x)
    assert_gradients_match(lambda t: t.expand(target), x)


@given(data=st.data())
def test_squeeze_unsqueeze(data):
    x = data.draw(arrays(shapes(max_dims=3)))
    axis = data.draw(st.integers(-x.ndim - 1, x.ndim))
    assert_forward_matches(lambda t: t.unsqueeze(axis), lambda a: np.expand_dims(a, axis), x)
    assert_forward_matches(lambda t: t.squeeze(), lambda a: np.squeeze(a), x)
    assert_gradients_match(lambda t: t.unsqueeze(axis).squeeze(), x)


@given(data=st.data())
def test_pad(data):
    x = data.draw(arrays(shapes(min_dims=1, max_dims=3)))
    pad_width = [tuple(data.draw(st.integers(0, 2)) for _ in range(2)) for _ in range(x.ndim)]
    assert_forward_matches(lambda t: t.pad(pad_width, 1.5), lambda a: np.pad(a, pad_width, constant_values=1.5), x)
    assert_gradients_match(lambda t: t.pad(pad_width), x)


@given(data=st.data())
def test_concatenate_and_stack(data):
    base = data.draw(shapes(min_dims=1, max_dims=3))
    axis = data.draw(st.integers(0, len(base) - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    parts = [data.draw(arrays(base[:axis] + (n,) + base[axis + 1:])) for n in sizes]
    assert_forward_matches(lambda *ts: tg.concatenate(ts, axis=axis), lambda *a: np.concatenate(a, axis=axis), *parts)
    assert_gradients_match(lambda *ts: tg.concatenate(ts, axis=axis), *parts)
    same = [data.draw(arrays(base)) for _ in sizes]
    assert_forward_matches(lambda *ts: tg.stack(ts, axis=axis), lambda *a: np.stack(a, axis=axis), *same)
    assert_gradients_match(lambda *ts: tg.stack(ts, axis=-1), *same)


INDEXES = {
    "int": lambda shape: 1 % shape[0],
    "negative_int": lambda shape: -1,
    "slice": lambda shape: slice(1, None, 2),
    "int_and_slice": lambda shape: (0, slice(None, None, -1)),
    "ellipsis_and_newaxis": lambda shape: (Ellipsis, None, 0),
    "int_array_with_repeats": lambda shape: np.array([0, shape[0] - 1, 0, 0]),
    "int_arrays_per_axis": lambda shape: (np.array([0, 1, 1]) % shape[0], np.array([2, 0, 2]) % shape[1]),
    "bool_mask": lambda shape: np.arange(np.prod(shape)).reshape(shape) % 3 == 0,
}


@pytest.mark.parametrize("name", sorted(INDEXES))
@given(data=st.data())
def test_getitem_forward_and_scatter_add_gradient(name, data):
    x = data.draw(arrays(shapes(min_dims=2, max_dims=3, min_side=2)))
    index = INDEXES[name](x.shape)
    assert_forward_matches(lambda t: t[index], lambda a: a[index], x)
    assert_gradients_match(lambda t: t[index], x)


def test_getitem_with_repeated_indices_accumulates_gradient():
    x = tg.Tensor([10.0, 20.0, 30.0], requires_grad=True)
    x[tg.Tensor([0, 2, 0, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


def test_float_index_is_a_type_error():
    x = tg.ones(3, 4)
    with pytest.raises(TypeError, match=r"getitem: tensors used as indices must be integer or bool, got dtype float32 \(indexing a tensor of shape \(3, 4\)\)"):
        x[tg.Tensor([0.0, 1.0])]
    with pytest.raises(TypeError, match="getitem: index 1.0 is a float"):
        x[1.0]


def test_out_of_range_index_names_the_shape():
    with pytest.raises(IndexError, match=r"getitem: .* tensor of shape \(3, 4\)"):
        tg.ones(3, 4)[5]


def test_movement_errors_name_op_and_shapes():
    with pytest.raises(RuntimeError, match=r"reshape: cannot reshape tensor of shape \(2, 3\) \(6 elements\) into \(4, 2\)"):
        tg.ones(2, 3).reshape(4, 2)
    with pytest.raises(RuntimeError, match=r"permute: repeated dim in \(0, 0\)"):
        tg.ones(2, 3).permute(0, 0)
    with pytest.raises(RuntimeError, match=r"expand: tensor of shape \(2, 3\) cannot be broadcast to \(4, 3\)"):
        tg.ones(2, 3).expand(4, 3)
    with pytest.raises(RuntimeError, match=r"cat: sizes of tensors must match except in dimension 0; got \(2, 3\) and \(2, 4\)"):
        tg.concatenate([tg.ones(2, 3), tg.ones(2, 4)])
    with pytest.raises(RuntimeError, match="stack: expects each tensor to be equal size"):
        tg.stack([tg.ones(2), tg.ones(3)])


def test_setitem_refuses_tensors_in_a_graph():
    x = tg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="__setitem__: in-place assignment"):
        x[0] = 5.0
    y = tg.zeros(3)
    y[1] = 2.0
    np.testing.assert_array_equal(y.numpy(), [0, 2, 0])
