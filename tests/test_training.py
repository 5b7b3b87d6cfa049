import numpy as np

import tinygrad_edu as tg


def test_mlp_trained_with_plain_sgd_drives_the_loss_down():
    tg.manual_seed(0)
    rng = np.random.default_rng(0)
    inputs = tg.Tensor(rng.standard_normal((64, 2)).astype(np.float32))
    targets = tg.Tensor((inputs.numpy()[:, :1] * inputs.numpy()[:, 1:] > 0).astype(np.float32))  # XOR-like quadrants
    w1 = (tg.randn(2, 16) * 0.5).detach().requires_grad_()
    b1 = tg.zeros(16, requires_grad=True)
    w2 = (tg.randn(16, 1) * 0.5).detach().requires_grad_()
    b2 = tg.zeros(1, requires_grad=True)
    params = [w1, b1, w2, b2]

    def loss_fn():
        hidden = (inputs @ w1 + b1).tanh()
        probability = (hidden @ w2 + b2).sigmoid()
        return ((probability - targets) ** 2).mean()

    losses = []
    for _ in range(300):
        loss = loss_fn()
        for p in params:
            p.zero_grad()
        loss.backward()
        with tg.no_grad():
            for p in params:
                p.data -= 0.5 * p.grad.data
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert losses[-1] < 0.1
