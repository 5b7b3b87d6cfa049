"""Type promotion against PyTorch: every pair of bool/int64/float32/float64 operands, each a dimensioned tensor, a
0-d tensor or a Python scalar, through + * /; result dtype and values must be torch's.

torch's rule, for reference: dimensioned tensors decide among themselves; a 0-d tensor or a Python scalar only
lifts the result to a higher *category* (bool < integer < floating), never to a wider type in the same category
(float32 tensor + float64 0-d tensor -> float32); int / int is true division into the default float (float32).
"""
import itertools
import operator

import numpy as np
import pytest
import torch

import tinygrad_edu as tg

from .harness import OURS, TORCH

DTYPES = ("bool", "int64", "float32", "float64")
KINDS = ("tensor", "0-d tensor", "scalar")
SCALARS = {"bool": True, "int64": 3, "float32": 2.5, "float64": 2.5}  # a Python float is one kind of scalar
VALUES = {"bool": [True, False], "int64": [2, -3], "float32": [1.5, -0.25], "float64": [0.5, 4.0]}
OPS = {"add": operator.add, "mul": operator.mul, "truediv": operator.truediv}


def _operands():
    seen = set()
    for dtype, kind in itertools.product(DTYPES, KINDS):
        key = (kind, "float" if kind == "scalar" and dtype.startswith("float") else dtype)
        if key not in seen:
            seen.add(key)
            yield key


OPERANDS = list(_operands())
CASES = [(op, a, b) for op in OPS for a in OPERANDS for b in OPERANDS if not (a[0] == b[0] == "scalar")]


def _make(library, kind, dtype):
    if kind == "scalar":
        return SCALARS["float64" if dtype == "float" else dtype]
    values = VALUES[dtype] if kind == "tensor" else VALUES[dtype][0]
    return library.tensor(np.array(values, dtype=dtype))


def _result(library, op, a, b):
    out = OPS[op](_make(library, *a), _make(library, *b))
    return library.to_numpy(out)


@pytest.mark.parametrize("op, a, b", CASES, ids=[f"{op}-{a[1]}_{a[0]}-{b[1]}_{b[0]}".replace(" ", "") for op, a, b in CASES])
def test_binary_op_result_dtype_and_values_match_torch(op, a, b):
    try:
        expected = _result(TORCH, op, a, b)
    except RuntimeError:
        with pytest.raises(Exception):
            _result(OURS, op, a, b)
        return
    got = _result(OURS, op, a, b)
    assert got.dtype == expected.dtype, f"{a} {op} {b}: dtype {got.dtype}, torch {expected.dtype}"
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64), rtol=1e-6)


COMPARISON_CASES = [(a, b) for a in OPERANDS for b in OPERANDS if not (a[0] == b[0] == "scalar")]


@pytest.mark.parametrize("a, b", COMPARISON_CASES, ids=[f"{a[1]}_{a[0]}-{b[1]}_{b[0]}".replace(" ", "") for a, b in COMPARISON_CASES])
def test_comparisons_across_dtypes_give_bool_tensors_like_torch(a, b):
    for compare in (operator.lt, operator.ge, operator.eq, operator.ne):
        expected = TORCH.to_numpy(compare(_make(TORCH, *a), _make(TORCH, *b)))
        got = OURS.to_numpy(compare(_make(OURS, *a), _make(OURS, *b)))
        assert got.dtype == np.bool_ and got.shape == expected.shape, f"{compare.__name__}: {got!r}, torch {expected!r}"
        np.testing.assert_array_equal(got, expected)


JOIN_CASES = [(a, b) for a in DTYPES for b in DTYPES]


@pytest.mark.parametrize("a, b", JOIN_CASES, ids=[f"{a}-{b}" for a, b in JOIN_CASES])
def test_cat_stack_and_where_promote_like_torch(a, b):
    results = {}
    for library in (TORCH, OURS):
        x = library.tensor(np.array(VALUES[a], dtype=a))
        y = library.tensor(np.array(VALUES[b], dtype=b))
        condition = library.tensor(np.array([True, False]))
        results[library.name] = [library.to_numpy(out) for out in (
            library.T.cat([x, y]), library.T.stack([x, y]), library.T.where(condition, x, y))]
    for name, got, expected in zip(("cat", "stack", "where"), results["tinygrad_edu"], results["torch"]):
        assert got.dtype == expected.dtype, f"{name}({a}, {b}): dtype {got.dtype}, torch {expected.dtype}"
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("value", [True, 3, 2.5], ids=["bool", "int", "float"])
def test_tensor_from_python_values_has_torch_dtype(value):
    expected = TORCH.to_numpy(torch.tensor(value)).dtype
    assert tg.tensor(value).dtype == expected
    expected_list = TORCH.to_numpy(torch.tensor([value, value])).dtype
    assert tg.tensor([value, value]).dtype == expected_list


# Creation functions: (name, call(T)) -> the tensor; dtype, shape and values must be torch's.
CREATION = [
    ("zeros", lambda T: T.zeros(2, 3)),
    ("zeros_tuple_shape", lambda T: T.zeros((2, 0))),
    ("ones_float64", lambda T: T.ones(3, dtype=T.float64)),
    ("ones_int64", lambda T: T.ones(2, dtype=T.int64)),
    ("full_float", lambda T: T.full((2,), 1.5)),
    ("full_int_fill", lambda T: T.full((2,), 3)),
    ("full_bool_fill", lambda T: T.full((2,), True)),
    ("arange_int", lambda T: T.arange(5)),
    ("arange_start_stop_step", lambda T: T.arange(1, 7, 2)),
    ("arange_float_step", lambda T: T.arange(0, 1, 0.25)),
    ("arange_float64", lambda T: T.arange(3, dtype=T.float64)),
    ("linspace", lambda T: T.linspace(0, 1, 5)),
    ("eye", lambda T: T.eye(3)),
    ("eye_rectangular", lambda T: T.eye(2, 3)),
    ("tensor_int_list", lambda T: T.tensor([1, 2])),
    ("tensor_float_list", lambda T: T.tensor([1.0, 2.0])),
    ("tensor_mixed_list", lambda T: T.tensor([1, 2.5])),
    ("tensor_bool_list", lambda T: T.tensor([True, False])),
    ("tensor_nested", lambda T: T.tensor([[1.0], [2.0]])),
    ("tensor_dtype_keyword", lambda T: T.tensor([1, 2], dtype=T.float64)),
    ("tensor_from_float64_array", lambda T: T.tensor(np.array([1.0, 2.0]))),
    ("tensor_from_float32_array", lambda T: T.tensor(np.array([1.0], dtype=np.float32))),
    ("tensor_from_int32_array", lambda T: T.tensor(np.array([1], dtype=np.int32))),
    ("as_tensor", lambda T: T.as_tensor([1.0, 2.0])),
    ("from_numpy_float64", lambda T: T.from_numpy(np.array([1.0, 2.0]))),
    ("zeros_like_keeps_dtype", lambda T: T.zeros_like(T.tensor([1, 2]))),
    ("ones_like_dtype", lambda T: T.ones_like(T.tensor([1.0]), dtype=T.float64)),
    ("full_like", lambda T: T.full_like(T.tensor([1.0, 2.0]), 7)),
    ("empty_shape_and_dtype", lambda T: T.empty(2, 3).zero_()),
]


@pytest.mark.parametrize("name, call", CREATION, ids=[case[0] for case in CREATION])
def test_creation_function_matches_torch(name, call):
    expected = TORCH.to_numpy(call(torch))
    got = OURS.to_numpy(call(tg))
    assert got.dtype == expected.dtype, f"{name}: dtype {got.dtype}, torch {expected.dtype}"
    assert got.shape == expected.shape, f"{name}: shape {got.shape}, torch {expected.shape}"
    np.testing.assert_allclose(got, expected, rtol=1e-7)


@pytest.mark.parametrize("name", ["rand", "randn", "rand_like", "randn_like", "randint", "randperm"])
def test_random_creation_shape_and_dtype_match_torch(name):
    calls = {
        "rand": lambda T: T.rand(2, 3),
        "randn": lambda T: T.randn(4, dtype=T.float64),
        "rand_like": lambda T: T.rand_like(T.zeros(2, dtype=T.float64)),
        "randn_like": lambda T: T.randn_like(T.zeros(3)),
        "randint": lambda T: T.randint(0, 5, (2, 2)),
        "randperm": lambda T: T.randperm(4),
    }
    expected = TORCH.to_numpy(calls[name](torch))
    got = OURS.to_numpy(calls[name](tg))
    assert (got.dtype, got.shape) == (expected.dtype, expected.shape)
