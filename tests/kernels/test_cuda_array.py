"""CudaArray (kernels/cuda/array.py) against NumPy: ufuncs, reductions, movement and indexing on tiny arrays.

Runs on a GPU, or under NUMBA_ENABLE_CUDASIM=1 (tests/conftest.py sets it when there is no NVIDIA driver).
"""
import numpy as np
import pytest

from kernels.cuda.array import CudaArray, to_cuda

DTYPES = [np.float32, np.float64]
RNG = np.random.default_rng(0)


def close(device_result, expected, dtype=np.float64):
    assert isinstance(device_result, CudaArray)
    assert device_result.dtype == np.asarray(expected).dtype
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(device_result.get(), expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_ufuncs_broadcast_like_numpy(dtype):
    a = RNG.uniform(0.5, 2.0, (2, 3)).astype(dtype)
    b = RNG.uniform(0.5, 2.0, (3,)).astype(dtype)
    da, db = to_cuda(a), to_cuda(b)
    for ufunc in (np.add, np.subtract, np.multiply, np.true_divide, np.maximum, np.minimum, np.power):
        close(ufunc(da, db), ufunc(a, b), dtype)
    for ufunc in (np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal):
        close(ufunc(da, db), ufunc(a, b), dtype)
    close(da * 2 + 1.5, a * 2 + 1.5, dtype)  # Python scalars keep the array's dtype (NEP 50)
    close(1 - da, 1 - a, dtype)
    close(da ** 2, a ** 2, dtype)
    close(np.logical_and(da > 1, db < 1.5), np.logical_and(a > 1, b < 1.5))


@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_ufuncs_match_numpy(dtype):
    x = np.array([[-1.5, -0.0, 0.25], [0.5, 1.0, 2.0]], dtype=dtype)
    dx = to_cuda(x)
    for ufunc in (np.negative, np.exp, np.tanh, np.absolute, np.sign, np.isfinite, np.expm1):
        close(ufunc(dx), ufunc(x), dtype)
    positive = np.abs(x) + 0.5
    for ufunc in (np.log, np.sqrt, np.log1p):
        close(ufunc(to_cuda(positive)), ufunc(positive), dtype)
    close(np.isfinite(to_cuda(np.array([1.0, np.inf, np.nan], dtype))), np.array([True, False, False]))


def test_mixed_dtypes_promote_as_numpy():
    x = np.array([0.5, -1.0, 2.0], np.float32)
    dx = to_cuda(x)
    close(dx * (dx > 0), x * (x > 0), np.float32)  # float32 * bool
    close((dx > 0) + 0.5 * (dx == dx), (x > 0) + 0.5 * (x == x))  # bool + float64 scalar product
    close(dx.astype(np.int64), x.astype(np.int64))
    close(np.clip(dx, -0.5, 1.0), np.clip(x, -0.5, 1.0), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reductions_match_numpy(dtype):
    x = RNG.standard_normal((2, 3, 4)).astype(dtype)
    dx = to_cuda(x)
    close(dx.sum(), x.sum(), dtype)
    close(np.sum(dx, axis=(0, 2), keepdims=True), x.sum(axis=(0, 2), keepdims=True), dtype)
    close(np.max(dx, axis=1), x.max(axis=1), dtype)
    close(dx.min(axis=-1, keepdims=True), x.min(axis=-1, keepdims=True), dtype)
    close(dx.mean(axis=0), x.mean(axis=0), dtype)
    close(np.argmax(dx, axis=2), x.argmax(axis=2))
    close(np.sum(dx > 0, axis=0), np.sum(x > 0, axis=0))
    close(np.add.reduce(dx, axis=1), np.add.reduce(x, axis=1), dtype)


def test_any_all_and_arg_reductions_treat_negatives_zeros_and_nan_as_numpy():
    x = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [2.0, -3.0, 1.0], [np.nan, 0.0, 1.0], [1.0, np.nan, 5.0]])
    dx = to_cuda(x)
    close(dx.any(axis=1), x.any(axis=1))
    close(dx.all(axis=1), x.all(axis=1))
    close(np.logical_or.reduce(dx, axis=0), np.logical_or.reduce(x, axis=0))
    close(dx.argmax(axis=1), x.argmax(axis=1))
    close(dx.argmin(axis=1), x.argmin(axis=1))
    close(dx.max(axis=1), x.max(axis=1))
    close(to_cuda(np.array([[3, -7, 2]])).sum(axis=1), np.array([-2]))


def test_movement_functions_match_numpy():
    x = RNG.standard_normal((2, 3, 4))
    dx = to_cuda(x)
    close(dx.reshape(6, -1), x.reshape(6, -1))
    close(dx.T, x.T)
    close(np.transpose(dx, (1, 0, 2)), np.transpose(x, (1, 0, 2)))
    close(np.swapaxes(dx, -1, -2), np.swapaxes(x, -1, -2))
    close(np.moveaxis(dx, 0, -1), np.moveaxis(x, 0, -1))
    close(np.broadcast_to(to_cuda(x[:, :1]), (2, 3, 4)), np.broadcast_to(x[:, :1], (2, 3, 4)))
    close(np.squeeze(dx[:, :1], axis=1), np.squeeze(x[:, :1], axis=1))
    close(np.expand_dims(dx, 1), np.expand_dims(x, 1))
    close(np.pad(dx, ((0, 0), (1, 2), (0, 1)), constant_values=-1.0), np.pad(x, ((0, 0), (1, 2), (0, 1)), constant_values=-1.0))
    close(np.concatenate([dx, dx[:, :1]], axis=1), np.concatenate([x, x[:, :1]], axis=1))
    for got, want in zip(np.split(dx, [1, 3], axis=2), np.split(x, [1, 3], axis=2)):
        close(got, want)
    close(np.where(dx > 0, dx, 0.0), np.where(x > 0, x, 0.0))
    close(np.zeros_like(dx, shape=(2, 2)), np.zeros((2, 2)))
    close(np.ones_like(dx, dtype=bool), np.ones_like(x, dtype=bool))


def test_indexing_matches_numpy():
    x = RNG.standard_normal((4, 3))
    dx = to_cuda(x)
    close(dx[1], x[1])
    close(dx[::-2, 1:], x[::-2, 1:])
    close(dx[None, :, -1], x[None, :, -1])
    index = np.array([3, 0, 3])
    close(dx[index], x[index])
    close(dx[np.arange(3), np.array([2, 0, 1])], x[np.arange(3), [2, 0, 1]])
    close(dx[:, np.array([2, 0])], x[:, [2, 0]])
    close(dx[to_cuda(index)], x[index])  # an index array already on the device
    close(dx[x[:, 0] > 0], x[x[:, 0] > 0])  # a host boolean mask


def test_setitem_and_add_at_match_numpy():
    x = np.zeros((4, 3))
    dx = to_cuda(x)
    dx[1:3] = to_cuda(np.ones(3))
    x[1:3] = 1
    close(dx, x)
    np.add.at(dx, np.array([0, 0, 3]), to_cuda(np.full((3, 3), 2.0)))
    np.add.at(x, [0, 0, 3], 2.0)
    close(dx, x)
    dx *= 3  # in place, through out=
    x *= 3
    close(dx, x)


def test_host_conversion_is_explicit_and_unsupported_ops_name_cuda():
    dx = to_cuda(np.arange(3.0))
    with pytest.raises(TypeError, match="get"):
        np.asarray(dx)
    with pytest.raises(NotImplementedError, match="on cuda"):
        np.sort(dx)
    with pytest.raises(NotImplementedError, match="on cuda"):
        np.cumsum(dx)
    assert dx.sum().item() == 3.0
