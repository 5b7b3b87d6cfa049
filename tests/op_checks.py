"""Helpers shared by the op tests: forward against NumPy, gradient against finite differences."""
import numpy as np

import tinygrad_edu as tg

# float32 results are compared with the float64 computation of the same op: 1e-5 relative error is what
# float32's 24-bit mantissa gives after a handful of rounding steps.
FLOAT32_RTOL = 1e-5
FLOAT32_ATOL = 1e-5


def assert_forward_matches(tensor_fn, numpy_fn, *arrays):
    """Check tensor_fn against numpy_fn in float64 (tight) and float32 against float64 (FLOAT32 tolerances)."""
    expected = numpy_fn(*[a.astype(np.float64) for a in arrays])
    got64 = tensor_fn(*[tg.Tensor(a.astype(np.float64)) for a in arrays])
    assert got64.dtype == np.float64
    np.testing.assert_allclose(got64.numpy(), expected, rtol=1e-12, atol=1e-12)
    got32 = tensor_fn(*[tg.Tensor(a.astype(np.float32)) for a in arrays])
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32.numpy(), expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


def assert_gradients_match(tensor_fn, *arrays):
    """gradcheck in float64 with a random cotangent on every input."""
    inputs = [tg.Tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
    assert tg.gradcheck(tensor_fn, *inputs)


def assert_module_gradients_match(module, *inputs):
    """gradcheck a module in float64 with respect to its inputs and every parameter.

    Each parameter is swapped for the float64 copy that gradcheck perturbs, so finite differences see the change
    and the analytic gradient lands on the copy (a small `functional_call`).
    """
    module.double()
    names = [name for name, _ in module.named_parameters()]
    owners = {}
    for name in names:
        owner_path, _, attr = name.rpartition(".")
        owner = module
        for part in filter(None, owner_path.split(".")):
            owner = getattr(owner, part)
        owners[name] = (owner, attr)

    def call(*tensors):
        for name, tensor in zip(names, tensors[len(inputs):]):
            owner, attr = owners[name]
            owner._parameters[attr] = tensor
        return module(*tensors[:len(inputs)])

    params = [tg.Tensor(p.data, requires_grad=True) for _, p in module.named_parameters()]
    float_inputs = [tg.Tensor(np.asarray(x, dtype=np.float64), requires_grad=True) for x in inputs]
    assert tg.gradcheck(call, *float_inputs, *params)
