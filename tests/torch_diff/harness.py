"""The differential-testing harness: how inputs are drawn and how a result is compared with torch's.

An `OpSpec` (the tables are in specs.py) names one public call. Its `call(T, F, *tensors)` is written ONCE in
PyTorch spelling and run twice: with `T, F = torch, torch.nn.functional` and with `T, F = tinygrad_edu,
tinygrad_edu.nn.functional` -- the import contract of issue 11 (a PyTorch script runs with only the imports
changed) checked op by op.

Inputs come from a Hypothesis strategy (`inputs(dtype)`), a list of:
  * a floating NumPy array -> a tensor that requires grad (when the spec is differentiable);
  * `Const(array)`         -> a tensor that does not (targets, masks, indices, running statistics);
  * anything else          -> passed as is (Python scalars, tuples).
Shapes are small (sides <= 4) and include 0-d, size-1 and size-0; arrays may be laid out non-contiguously
(Fortran order, i.e. a transposed array, or a strided slice), and are then wrapped with `from_numpy` so our
kernels see the strides; values may include ±inf, NaN, ±0 and ±1e4.

The oracle is torch on CPU with its reference ("math") attention backend (`torch_oracle()`): for 4-D inputs
torch's default picks a fused flash kernel that disagrees with torch's own math path at non-finite scores
(and with torch's 3-D path, which is the math path); see DOCUMENTED_DIFFERENCES in test_differences.py.

How results are compared (`assert_matches`):
  * shape and dtype exactly; bool and integer results exactly;
  * NaN positions and ±inf positions exactly (NaN propagates as torch propagates it);
  * finite values: float64 against torch float64 with `FLOAT64` tolerances; float32 against the float64 truth
    (torch run on the same values upcast) with `FLOAT32` tolerances, plus up to 4x torch's own float32 error:
    our float32 result must be about as accurate as torch's, never required to round identically.
  * the absolute tolerance is scaled by the largest finite input magnitude to the power `degree`: rounding error
    in a sum is relative to its largest term, not to its result (x + 1e4 - 1e4 loses x's low bits in any order).
Backward: `(f(x) * c).sum().backward()` with a random cotangent c ~ N(0, 1), and every input's `.grad` compared
the same way (a grad of None where torch has a tensor is a failure).
"""
import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as torch_functional
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch.nn.attention import SDPBackend, sdpa_kernel

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as tg_functional


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float


# float64: both engines compute the same formula in double precision; only summation order may differ.
FLOAT64 = Tolerance(rtol=1e-10, atol=1e-12)
# float32: about 80 ulp relative (a few float32 rounding steps), on top of torch's own error (see module docstring).
FLOAT32 = Tolerance(rtol=1e-5, atol=1e-6)
TORCH_ERROR_FACTOR = 4.0
TOLERANCES = {np.dtype(np.float32): FLOAT32, np.dtype(np.float64): FLOAT64}


class Const:
    """An input that becomes a tensor without requires_grad (targets, masks, indices, statistics)."""

    def __init__(self, array):
        self.array = np.asarray(array)

    def __repr__(self):
        return f"Const({self.array!r})"


# ----- the two libraries under one spelling -----------------------------------------------------------------
@dataclass(frozen=True)
class Library:
    name: str
    T: object
    F: object

    def tensor(self, array, requires_grad=False):
        if self.name == "torch":
            # torch gets contiguous copies: it is the oracle, and some of its CPU kernels mishandle NumPy's
            # Fortran-order strides (batch_norm's bias gradient is wrong for strides (1, 1, 2, 2) in torch 2.13).
            out = torch.tensor(np.array(array, order="C"))
            return out.requires_grad_(True) if requires_grad else out
        if array.ndim and not array.flags.c_contiguous:
            # Wrapped without a copy, as a PyTorch user's torch.from_numpy would: our kernels see the strides.
            return tg.from_numpy(array).requires_grad_(requires_grad)
        return tg.tensor(array, requires_grad=requires_grad)

    def to_numpy(self, tensor):
        if self.name == "torch":
            return tensor.detach().numpy()
        return np.asarray(tensor.numpy())


# One thread: every tensor here is tiny, and waking torch's intra-op thread pool for each call cost 10-30x the
# call itself (measured: a conv2d forward and backward 20 ms with 2 threads on a busy 2-core machine, 0.7 ms with 1).
torch.set_num_threads(1)

TORCH = Library("torch", torch, torch_functional)
OURS = Library("tinygrad_edu", tg, tg_functional)


def torch_oracle():
    """The context torch runs in as the oracle: its math attention backend (see the module docstring)."""
    return sdpa_kernel(SDPBackend.MATH)


@dataclass(frozen=True)
class OpSpec:
    """One public call compared with torch.

    name: test id; call(T, F, *inputs): the call in PyTorch spelling; inputs(dtype): Hypothesis strategy of the
    input list; differentiable: compare gradients too; degree: power of the input magnitude in the error scale
    (2 for products such as matmul, whose terms are x*y).
    """

    name: str
    call: object
    inputs: object
    differentiable: bool = True
    degree: int = 1


# ----- evaluation ---------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    output: np.ndarray
    grads: dict  # input position -> its gradient (an array, or None), for every input that required grad


def _to_library(library, value, differentiable):
    if isinstance(value, Const):
        return library.tensor(value.array)
    if isinstance(value, np.ndarray):
        return library.tensor(value, requires_grad=differentiable and value.dtype.kind == "f")
    return value


def evaluate(library, spec, inputs, cotangent):
    """Run spec.call on `library`; backward with (out * c).sum() when the spec and the output allow it."""
    if library is TORCH:
        with torch_oracle():
            return _evaluate(library, spec, inputs, cotangent)
    return _evaluate(library, spec, inputs, cotangent)


def _evaluate(library, spec, inputs, cotangent):
    tensors = [_to_library(library, value, spec.differentiable) for value in inputs]
    out = spec.call(library.T, library.F, *tensors)
    output = library.to_numpy(out)
    leaves = {n: t for n, (t, v) in enumerate(zip(tensors, inputs)) if isinstance(v, np.ndarray) and v.dtype.kind == "f"}
    if not spec.differentiable or output.dtype.kind != "f":
        return Outcome(output, {})
    c = library.tensor(cotangent(output.shape, output.dtype))
    (out * c).sum().backward()
    grads = {n: None if leaf.grad is None else library.to_numpy(leaf.grad) for n, leaf in leaves.items()}
    return Outcome(output, grads)


def upcast(inputs):
    """float32 arrays (plain or Const) as float64, for the float64 'truth' of a float32 run."""
    def one(value):
        if isinstance(value, Const):
            return Const(one(value.array))
        if isinstance(value, np.ndarray) and value.dtype == np.float32:
            return value.astype(np.float64)
        return value
    return [one(value) for value in inputs]


def error_scale(inputs, degree):
    finite = [np.abs(v[np.isfinite(v)]) for v in inputs if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
    largest = max([1.0] + [float(a.max()) for a in finite if a.size])
    return largest ** degree


def assert_matches(what, got, expected, truth, tolerance, scale):
    """`got` (ours) against `expected` (torch, same dtype); `truth` (torch float64) judges float32 accuracy."""
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, torch {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype}, torch {expected.dtype}"
    if expected.dtype.kind != "f":
        np.testing.assert_array_equal(got, expected, err_msg=f"{what}: values differ from torch")
        return
    got_nan, expected_nan = np.isnan(got), np.isnan(expected)
    if truth is not None:
        # Where torch float32 gives NaN but torch float64 does not (torch's float32 gelu(inf) is NaN, its float64
        # one inf), torch disagrees with itself: we may match either, so those positions take the float64 value.
        torch_disagrees = expected_nan & ~np.isnan(truth)
        agrees_with_float64 = got_nan | (got == truth.astype(got.dtype)) | np.isclose(got, truth, rtol=tolerance.rtol)
        assert agrees_with_float64[torch_disagrees].all(), (
            f"{what}: where torch float32 gives NaN and float64 does not, we match neither\n ours:  {got}\n"
            f" torch: {expected}\n torch float64: {truth}")
        expected = np.where(torch_disagrees & ~got_nan, got, expected)
        expected_nan = np.isnan(expected)
    assert np.array_equal(got_nan, expected_nan), (
        f"{what}: NaN positions differ from torch\n ours:  {got}\n torch: {expected}")
    infinite = np.isinf(expected)
    assert np.array_equal(got[infinite], expected[infinite]), (
        f"{what}: ±inf differ from torch\n ours:  {got}\n torch: {expected}")
    finite = np.isfinite(expected)
    reference = expected if truth is None else np.where(np.isfinite(truth), truth.astype(np.float64), expected)
    reference = reference.astype(np.float64)
    torch_error = np.abs(expected.astype(np.float64) - reference)
    allowed = tolerance.rtol * np.abs(reference) + tolerance.atol * scale + TORCH_ERROR_FACTOR * torch_error
    with np.errstate(invalid="ignore"):
        error = np.abs(got.astype(np.float64) - reference)
        bad = finite & ~(error <= allowed)
    assert not bad.any(), (
        f"{what}: {int(bad.sum())} of {bad.size} values differ from torch beyond rtol={tolerance.rtol}, "
        f"atol={tolerance.atol}*{scale:g}\n ours:  {got}\n torch: {expected}")


def check_against_torch(spec, inputs, seed):
    """The whole comparison for one drawn example: forward, then every input's gradient."""
    dtype = _float_dtype(inputs)
    rng_seed = int(seed)

    def cotangent(shape, out_dtype):
        return np.random.default_rng(rng_seed).standard_normal(shape).astype(dtype).astype(out_dtype)

    try:
        expected = evaluate(TORCH, spec, inputs, cotangent)
    except (RuntimeError, IndexError, ValueError, TypeError) as torch_error:
        # torch refuses these inputs: we must refuse them too (any clear exception), never return a value.
        try:
            evaluate(OURS, spec, inputs, cotangent)
        except Exception:
            return
        raise AssertionError(f"{spec.name}: torch raises {type(torch_error).__name__}({torch_error}) but we return a value")
    truth = None
    if dtype == np.float32:
        truth = evaluate(TORCH, spec, upcast(inputs), cotangent)
    scale = error_scale(inputs, spec.degree)  # before our run: from_numpy shares the arrays an in-place op may change
    got = evaluate(OURS, spec, inputs, cotangent)
    tolerance = TOLERANCES[np.dtype(dtype)]
    assert_matches(f"{spec.name} forward", got.output, expected.output, truth and truth.output, tolerance, scale)
    assert got.grads.keys() == expected.grads.keys()
    for number, theirs in expected.grads.items():
        ours = got.grads[number]
        what = f"{spec.name} grad of input {number}"
        if theirs is None:
            assert ours is None or not np.any(ours), f"{what}: torch gives no gradient, we give {ours}"
            continue
        assert ours is not None, f"{what}: .grad is None, torch gives {theirs}"
        truth_grad = truth.grads[number] if truth is not None else None
        assert_matches(what, ours, theirs, truth_grad, tolerance, scale)


def _float_dtype(inputs):
    for value in inputs:
        array = value.array if isinstance(value, Const) else value
        if isinstance(array, np.ndarray) and array.dtype.kind == "f":
            return array.dtype.type
    return np.float64


# ----- value and shape strategies -----------------------------------------------------------------------------
def _memoised(factory):
    """factory(...) -> a strategy, built once per distinct argument list. Hypothesis validates every new strategy
    object on its first draw; the composites below would otherwise build thousands of identical ones per run
    (measured: about a sixth of the suite's time)."""
    return functools.lru_cache(maxsize=None)(factory)


integers = _memoised(st.integers)
sampled_from = _memoised(st.sampled_from)  # of a tuple (its argument must be hashable)
arrays = _memoised(hnp.arrays)
array_shapes = _memoised(hnp.array_shapes)
broadcastable_shapes = _memoised(hnp.mutually_broadcastable_shapes)
BOOLEANS = st.booleans()

INF, NAN = float("inf"), float("nan")
# Per domain: the finite range drawn from, and the special values mixed in when an example asks for them.
DOMAINS = {
    "real": ((-3.0, 3.0), (INF, -INF, NAN, 1e4, -1e4, 0.0, -0.0)),
    "positive": ((0.125, 5.0), (INF, NAN, 1e4, 0.0)),
    "unit": ((0.0, 1.0), ()),
    "finite": ((-3.0, 3.0), ()),
    "positive_finite": ((0.125, 5.0), ()),
}
# Weights, biases and running statistics stay finite: inf/NaN go into the data (where a model meets them); an inf
# weight is a broken model, and which of inf/-inf/NaN its gradient shows depends only on formula order.
PARAMETER = "finite"


@_memoised
def _elements(dtype, domain, with_specials):
    (low, high), specials = DOMAINS[domain]
    # Subnormals are left out: flush-to-zero differences are not a fidelity target.
    finite = st.floats(low, high, width=np.dtype(dtype).itemsize * 8, allow_subnormal=False)
    if with_specials and specials:
        return st.one_of(finite, sampled_from(specials))
    return finite


def _layout(draw, array):
    """The same values, laid out contiguously, in Fortran order (a transposed array) or as a strided slice."""
    if array.ndim == 0:
        return array
    layout = draw(sampled_from(("contiguous", "fortran", "strided")), label="layout")
    if layout == "fortran" and array.ndim >= 2:
        return np.asfortranarray(array)
    if layout == "strided":
        wide = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), dtype=array.dtype)
        wide[..., ::2] = array
        return wide[..., ::2]
    return array


def float_array(draw, dtype, shape, domain="real", unique=False):
    with_specials = draw(BOOLEANS, label="with special values") if DOMAINS[domain][1] else False
    array = draw(arrays(dtype, shape, elements=_elements(dtype, domain, with_specials and not unique), unique=unique))
    return _layout(draw, array)


SHAPES = dict(min_dims=0, max_dims=3, min_side=0, max_side=4)


def _shape_kwargs(overrides):
    return {**SHAPES, **overrides}


@st.composite
def unary(draw, dtype, domain="real", unique=False, **shape):
    shape = draw(array_shapes(**_shape_kwargs(shape)), label="shape")
    return [float_array(draw, dtype, shape, domain, unique)]


@st.composite
def nary(draw, dtype, domains=("real", "real"), **shape):
    """Float arrays of mutually broadcastable shapes."""
    shapes = draw(broadcastable_shapes(num_shapes=len(domains), **_shape_kwargs(shape)), label="shapes")
    return [float_array(draw, dtype, s, d) for s, d in zip(shapes.input_shapes, domains)]


@st.composite
def bounded_inputs(draw, dtype, count):
    """x and `count` bounds whose shapes broadcast to x's (torch's clamp cannot grow x: its backward refuses)."""
    shape = draw(array_shapes(**SHAPES), label="shape")
    inputs = [float_array(draw, dtype, shape)]
    for _ in range(count):
        # x's trailing dims, each kept or set to 1: broadcasting it never grows x
        trailing = shape[len(shape) - draw(integers(0, len(shape))):]
        bound_shape = tuple(side if draw(BOOLEANS) else 1 for side in trailing)
        inputs.append(float_array(draw, dtype, bound_shape))
    return inputs


@st.composite
def where_inputs(draw, dtype):
    shapes = draw(broadcastable_shapes(num_shapes=3, **SHAPES), label="shapes")
    condition = draw(arrays(np.bool_, shapes.input_shapes[0]))
    return [Const(condition)] + [float_array(draw, dtype, s) for s in shapes.input_shapes[1:]]


@st.composite
def same_shape(draw, dtype, count=2, domains=None, constants=(), **shape):
    """`count` float arrays of one shape; those at the positions in `constants` as Const (no grad)."""
    shape = draw(array_shapes(**_shape_kwargs(shape)), label="shape")
    domains = domains or ("real",) * count
    arrays = [float_array(draw, dtype, shape, d) for d in domains]
    return [Const(array) if n in constants else array for n, array in enumerate(arrays)]


@st.composite
def cat_inputs(draw, dtype, dim):
    """Two arrays equal in every dim but `dim`."""
    shape = list(draw(array_shapes(**_shape_kwargs(dict(min_dims=1))), label="shape"))
    other = list(shape)
    other[dim] = draw(integers(0, 4))
    return [float_array(draw, dtype, tuple(shape)), float_array(draw, dtype, tuple(other))]


MATMUL_SHAPES = {
    # name: shapes of a and b as strings of dimension letters; b=batch, n/k/m the matrix dims, o a size-1 batch
    "vector_vector": ("k", "k"),
    "matrix_matrix": ("nk", "km"),
    "vector_matrix": ("k", "km"),
    "matrix_vector": ("nk", "k"),
    "batched": ("bnk", "bkm"),
    "broadcast_batch": ("bnk", "km"),
    "broadcast_size1_batch": ("obnk", "bkm"),
}


@st.composite
def matmul_inputs(draw, dtype, kind):
    sizes = {letter: draw(integers(0, 3), label=letter) for letter in "bnkm"}
    sizes["o"] = 1
    a, b = MATMUL_SHAPES[kind]
    return [float_array(draw, dtype, tuple(sizes[c] for c in a)), float_array(draw, dtype, tuple(sizes[c] for c in b))]


@st.composite
def index_inputs(draw, dtype, kind):
    """x and an index into its first dim: an int64 array ('integer'), or a bool mask of x's shape ('mask')."""
    shape = draw(array_shapes(**_shape_kwargs(dict(min_dims=1))), label="shape")
    x = float_array(draw, dtype, shape)
    if kind == "mask":
        return [x, Const(draw(arrays(np.bool_, shape)))]
    index_shape = draw(array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    if shape[0] == 0:
        index_shape = index_shape[:-1] + (0,) if index_shape else (0,)
    index = draw(arrays(np.int64, index_shape, elements=integers(-shape[0], max(shape[0] - 1, 0))))
    return [x, Const(index)]


@st.composite
def gather_inputs(draw, dtype, dim, with_source=False):
    """x, an int64 index with index.shape[d] <= x.shape[d] (d != dim), values in [0, x.shape[dim]); and a source."""
    shape = draw(array_shapes(**_shape_kwargs(dict(min_dims=1, min_side=1))), label="shape")
    dim = dim % len(shape)
    index_shape = tuple(draw(integers(0, 4 if d == dim else side)) for d, side in enumerate(shape))
    index = draw(arrays(np.int64, index_shape, elements=integers(0, shape[dim] - 1)))
    x = float_array(draw, dtype, shape)
    if not with_source:
        return [x, Const(index)]
    return [x, Const(index), float_array(draw, dtype, index_shape)]


@st.composite
def linear_inputs(draw, dtype, bias=True):
    batch = draw(array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3), label="batch")
    n_in, n_out = draw(integers(0, 4)), draw(integers(1, 4))
    inputs = [float_array(draw, dtype, batch + (n_in,)), float_array(draw, dtype, (n_out, n_in), PARAMETER)]
    return inputs + [float_array(draw, dtype, (n_out,), PARAMETER)] if bias else inputs


@st.composite
def image_inputs(draw, dtype, channels=2, min_side=1, weight=None):
    """An (N, C, H, W) image and, if asked, a conv weight of shape `weight` (out, in/groups, kh, kw)."""
    n = draw(integers(0, 2), label="N")
    h, w = draw(integers(min_side, 5), label="H"), draw(integers(min_side, 5), label="W")
    x = float_array(draw, dtype, (n, channels, h, w))
    if weight is None:
        return [x]
    return [x, float_array(draw, dtype, weight, PARAMETER), float_array(draw, dtype, weight[:1], PARAMETER)]


@st.composite
def classification_inputs(draw, dtype, classes=3, spatial=False, ignore=False, log_probs=False):
    """Logits (N, C) or (N, C, d) and int64 targets; `ignore` mixes in ignore_index = -100."""
    n = draw(integers(0, 3), label="N")
    shape = (n, classes, draw(integers(0, 2))) if spatial else (n, classes)
    logits = float_array(draw, dtype, shape)
    target_shape = (shape[0],) + shape[2:]
    values = sampled_from(tuple(range(classes)) + (-100,)) if ignore else integers(0, classes - 1)
    target = draw(arrays(np.int64, target_shape, elements=values))
    return [logits, Const(target)]


@st.composite
def attention_inputs(draw, dtype, mask=None):
    """q (B, H, L, E), k and v (B, H, S, E); a bool or float mask (L, S) when asked."""
    b, h, length, source, e = (draw(integers(low, 3), label=n) for low, n in
                               ((0, "B"), (1, "heads"), (0, "L"), (0, "S"), (1, "E")))
    q = float_array(draw, dtype, (b, h, length, e))
    k = float_array(draw, dtype, (b, h, source, e))
    v = float_array(draw, dtype, (b, h, source, e))
    if mask == "bool":
        return [q, k, v, Const(draw(arrays(np.bool_, (length, source))))]
    if mask == "float":
        return [q, k, v, Const(float_array(draw, dtype, (length, source), "finite"))]
    return [q, k, v]


def strategy(builder, **kwargs):
    """`inputs` for an OpSpec: builder(dtype, **kwargs)."""
    return functools.partial(builder, **kwargs)


@st.composite
def layer_norm_inputs(draw, dtype, affine=True):
    shape = draw(array_shapes(**_shape_kwargs(dict(min_dims=1, min_side=1))), label="shape")
    x = float_array(draw, dtype, shape)
    parameters = [float_array(draw, dtype, shape[-1:], PARAMETER) for _ in range(2)]
    return [x] + parameters if affine else [x]


@st.composite
def batch_norm_inputs(draw, dtype):
    """x (N, C, *spatial), running mean and variance (constants), weight and bias."""
    spatial = draw(array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3), label="spatial")
    channels = draw(integers(1, 3), label="C")
    x = float_array(draw, dtype, (draw(integers(1, 3), label="N"), channels) + spatial)
    running_mean = Const(float_array(draw, dtype, (channels,), PARAMETER))
    running_var = Const(float_array(draw, dtype, (channels,), "positive_finite"))
    return [x, running_mean, running_var] + [float_array(draw, dtype, (channels,), PARAMETER) for _ in range(2)]


@st.composite
def embedding_inputs(draw, dtype, rows=4):
    indices = draw(arrays(np.int64, array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3),
                              elements=integers(0, rows - 1)))
    return [Const(indices), float_array(draw, dtype, (rows, draw(integers(1, 3), label="D")), PARAMETER)]



@st.composite
def masked_inputs(draw, dtype):
    """x and a bool mask broadcastable to it (masked_fill)."""
    shapes = draw(broadcastable_shapes(num_shapes=2, **SHAPES), label="shapes")
    x_shape = shapes.result_shape
    mask_shape = shapes.input_shapes[1]
    return [float_array(draw, dtype, x_shape), Const(draw(arrays(np.bool_, mask_shape)))]


@st.composite
def index_select_inputs(draw, dtype, dim):
    shape = draw(array_shapes(**_shape_kwargs(dict(min_dims=1, min_side=1))), label="shape")
    index = draw(arrays(np.int64, (draw(integers(0, 4)),), elements=integers(0, shape[dim] - 1)))
    return [float_array(draw, dtype, shape), Const(index)]


@st.composite
def vectors(draw, dtype, count=2):
    return [float_array(draw, dtype, (draw(integers(0, 4)),)) for _ in range(count)]


@st.composite
def probability_target_inputs(draw, dtype):
    """Logits (N, C) and a class-probability target of the same shape (rows need not sum to 1, as in torch)."""
    shape = (draw(integers(0, 3), label="N"), draw(integers(1, 3), label="C"))
    return [float_array(draw, dtype, shape), Const(float_array(draw, dtype, shape, "unit"))]


@st.composite
def one_hot_inputs(draw, dtype):
    shape = draw(array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    return [Const(draw(arrays(np.int64, shape, elements=integers(0, 3))))]
