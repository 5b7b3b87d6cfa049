import numpy as np

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F


def test_profile_records_ops_forward_backward_and_kernels():
    x = tg.randn(2, 1, 4, 4, requires_grad=True)
    w = tg.randn(3, 1, 3, 3, requires_grad=True)
    with tg.profile() as profile:
        loss = F.cross_entropy(F.conv2d(x, w, padding=1).reshape(2, -1), np.array([0, 1]))
        loss.backward()
    names = {(kind, name) for kind, name, _, _ in profile.rows()}
    assert {("forward", "Conv2d"), ("backward", "Conv2d"), ("kernel", "conv2d_forward"), ("kernel", "conv2d_backward"),
            ("forward", "CrossEntropy"), ("kernel", "cross_entropy_forward")} <= names
    calls = {(kind, name): count for kind, name, count, _ in profile.rows()}
    assert calls[("forward", "Conv2d")] == 1 and calls[("kernel", "conv2d_backward")] == 1
    totals = [seconds for _, _, _, seconds in profile.rows()]
    assert totals == sorted(totals, reverse=True) and all(t >= 0 for t in totals)
    assert "conv2d_forward" in profile.table()


def test_profile_hooks_are_removed_after_the_block():
    with tg.profile() as profile:
        pass
    (tg.ones(2, requires_grad=True) * 2).sum().backward()
    assert profile.rows() == []
