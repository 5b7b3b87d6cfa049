"""The reduced cross-entropy (CrossEntropy with a scale: per-sample loss, sum and scale in one op) against its composite,
CrossEntropy followed by sum and a multiply, bit for bit; against torch; and finite differences in float64."""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu.ops.softmax import cross_entropy_per_sample, cross_entropy_total

BACKENDS = ["numpy", "cpu"]


def _composite(logits, target, reduction, ignore_index, smoothing):
    """The oracle: the unreduced op, then Sum and a multiply by 1 / count, as F.cross_entropy did before."""
    loss = cross_entropy_per_sample(logits, target, ignore_index, smoothing).sum()
    if reduction == "sum":
        return loss
    count = int((target != ignore_index).sum())
    return loss * float("nan") if count == 0 else loss * (1.0 / count)


@pytest.mark.parametrize("backend", BACKENDS)
@given(rows=st.integers(1, 9), classes=st.integers(1, 6), dtype=st.sampled_from([np.float32, np.float64]),
       reduction=st.sampled_from(["mean", "sum"]), ignored=st.floats(0, 1), smoothing=st.sampled_from([0.0, 0.1]),
       seed=st.integers(0, 2**16))
def test_fused_reduced_cross_entropy_equals_its_composite_bit_for_bit(backend, rows, classes, dtype, reduction,
                                                                      ignored, smoothing, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((rows, classes)).astype(dtype) * 3
    target = rng.integers(0, classes, rows)
    target[rng.random(rows) < ignored] = -100  # some, none or all rows ignored
    cotangent = tg.Tensor(np.asarray(rng.standard_normal(), dtype))
    results = []
    with tg.set_backend(backend):
        for function in (F.cross_entropy, _composite):
            x = tg.Tensor(logits, requires_grad=True)
            if function is F.cross_entropy:
                loss = F.cross_entropy(x, target, reduction=reduction, label_smoothing=smoothing)
            else:
                loss = _composite(x, target, reduction, -100, smoothing)
            (loss * cotangent).backward()
            results.append((loss.numpy(), x.grad.numpy()))
    (fused_loss, fused_grad), (composite_loss, composite_grad) = results
    assert fused_loss.dtype == dtype and fused_loss.shape == ()
    np.testing.assert_array_equal(fused_loss, composite_loss)
    np.testing.assert_array_equal(fused_grad, composite_grad)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reduced_cross_entropy_with_ignore_index_matches_torch_and_finite_differences(backend, reduction):
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((12, 5))
    target = rng.integers(0, 5, 12)
    target[[1, 4, 5]] = 3  # a custom ignore_index that is also a valid class
    with tg.set_backend(backend):
        assert tg.gradcheck(lambda x: F.cross_entropy(x, target, ignore_index=3, reduction=reduction), tg.Tensor(logits))
        for dtype, tolerance in ((np.float64, 1e-13), (np.float32, 1e-5)):
            x = tg.Tensor(logits.astype(dtype), requires_grad=True)
            loss = F.cross_entropy(x, target, ignore_index=3, reduction=reduction, label_smoothing=0.2)
            loss.backward()
            expected = torch.tensor(logits, requires_grad=True)
            torch_loss = torch.nn.functional.cross_entropy(expected, torch.from_numpy(target), ignore_index=3,
                                                           reduction=reduction, label_smoothing=0.2)
            torch_loss.backward()
            np.testing.assert_allclose(loss.item(), torch_loss.item(), rtol=tolerance)
            np.testing.assert_allclose(x.grad.numpy(), expected.grad.numpy(), rtol=tolerance, atol=tolerance)


def test_mean_cross_entropy_of_only_ignored_targets_is_nan_as_torch():
    x = tg.Tensor(np.zeros((2, 3), np.float32), requires_grad=True)
    theirs = torch.nn.functional.cross_entropy(torch.zeros(2, 3), torch.tensor([-100, -100]))
    assert np.isnan(F.cross_entropy(x, np.array([-100, -100])).item()) and torch.isnan(theirs)


def test_reduced_cross_entropy_is_one_graph_node():
    x = tg.Tensor(np.zeros((4, 3), np.float32), requires_grad=True)
    loss = F.cross_entropy(x, np.array([0, 1, -100, 2]), ignore_index=-100)
    assert loss._ctx.op_name == "CrossEntropy" and loss._ctx.parents == [x]


def test_reduced_cross_entropy_refuses_an_out_of_range_target_naming_it():
    with pytest.raises(IndexError, match=r"cross_entropy: target value 7 is out of range for C=4 classes"):
        cross_entropy_total(tg.ones(2, 4), np.array([0, 7]), 0.5)
