"""Dropout's multiplier: the same values as the float64 formula keep / (1 - p), rounded once to the tensor's dtype."""
import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu.ops.attention import dropout_scale
from tinygrad_edu.tensor import default_generator


@pytest.mark.parametrize("p", [1e-9, 0.1, 1 / 3, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dropout_scale_equals_the_float64_formula_rounded_to_the_dtype(p, dtype):
    keep = np.random.default_rng(0).random((4, 25)) >= p
    scale = dropout_scale(keep, p, dtype)
    expected = (keep / (1.0 - p)).astype(dtype)
    assert scale.dtype == dtype
    np.testing.assert_array_equal(scale, expected)


def test_dropout_keeps_the_seeded_mask_and_scales_kept_elements_by_one_over_one_minus_p():
    x = np.random.default_rng(1).standard_normal((6, 7)).astype(np.float32)
    tg.manual_seed(3)
    out = F.dropout(tg.Tensor(x), 0.3).numpy()
    tg.manual_seed(3)
    keep = default_generator().random(x.shape) >= 0.3
    np.testing.assert_array_equal(out, x * (keep / 0.7).astype(np.float32))
