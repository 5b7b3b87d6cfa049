"""The fused Adam/AdamW kernels update a parameter in its own precision (float32 arithmetic for float32, as
torch.optim does): over many steps they stay within float32 rounding of torch.optim.AdamW / Adam, and float64
parameters agree with torch to float64 rounding."""
import numpy as np
import pytest
import torch

import tinygrad_edu as tg


@pytest.mark.parametrize("decoupled", [True, False], ids=["AdamW", "Adam"])
@pytest.mark.parametrize("dtype, tolerance", [(np.float32, dict(rtol=2e-5, atol=1e-6)),
                                              (np.float64, dict(rtol=1e-12, atol=1e-14))], ids=["float32", "float64"])
@pytest.mark.parametrize("size", [7, 9000])  # the serial kernel, and the parallel one (8192 elements and up)
def test_adam_updates_follow_torch_over_twenty_steps(backend, decoupled, dtype, tolerance, size):
    rng = np.random.default_rng(size)
    start = rng.standard_normal(size).astype(dtype)
    grads = [(rng.standard_normal(size) * 10.0 ** rng.integers(-4, 2)).astype(dtype) for _ in range(20)]
    ours = tg.Tensor(start.copy(), requires_grad=True)
    theirs = torch.nn.Parameter(torch.tensor(start.copy()))
    options = dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.05)
    our_optimizer = (tg.optim.AdamW if decoupled else tg.optim.Adam)([ours], **options)
    their_optimizer = (torch.optim.AdamW if decoupled else torch.optim.Adam)([theirs], **options)
    for grad in grads:
        ours.grad = tg.Tensor(grad)
        theirs.grad = torch.tensor(grad)
        our_optimizer.step()
        their_optimizer.step()
    assert ours.data.dtype == dtype
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), **tolerance)
    state = our_optimizer.state_dict()["state"][0]
    their_state = their_optimizer.state_dict()["state"][0]
    np.testing.assert_allclose(np.asarray(state["exp_avg"]), their_state["exp_avg"].numpy(), **tolerance)
    np.testing.assert_allclose(np.asarray(state["exp_avg_sq"]), their_state["exp_avg_sq"].numpy(), **tolerance)
