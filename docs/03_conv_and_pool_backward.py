"""Lesson 3: the conv2d backward from the im2col view, and how pooling routes gradients.

Convolution as one matrix product (im2col). Copy every KH x KW window of the padded input into a column:

    cols[(c, i, j), (p, q)] = x_pad[c, p + i, q + j]          (C·KH·KW, Ho·Wo)       stride 1, one image
    Y = Wm @ cols            Wm = w.reshape(C_out, C·KH·KW)   Y (C_out, Ho·Wo)

Now the backward is lesson 1's matmul rule, plus the adjoint of the copy:

    dWm   = dY @ colsᵀ                      each weight met every window
    dcols = Wmᵀ @ dY                        each window entry's share of the output gradient
    dx    = col2im(dcols)                   put every entry back where it was copied FROM, ADDING where
                                            windows overlap (a pixel sits in up to KH·KW windows)
    db    = Σ_(p,q) dY                      the bias was broadcast over positions: lesson 2

`im2col` is a gather, so its backward `col2im` is a scatter-add. kernels/reference/conv.py is this lesson in
production form: `_windows` (im2col, with stride/dilation), `_scatter_windows` (col2im) and
`conv2d_backward` (the three gradients as einsums, with batch and groups).

kernels/cpu/conv.py computes the same products without materialising cols (an "implicit GEMM"). The flat
index of x_pad[c, p + i, q + j] is (p·Wp + q) + (c·Hp + i)·Wp + j: a part that depends only on the output
position plus a part that depends only on the tap (c, i, j). Lesson 6's micro-kernel reads its operand A
through exactly such a pair of offset tables, so it reads each window where it lies in x_pad. The backward
needs no col2im either: dx is itself a correlation, of dY (padded, and spread out by the stride) with the
flipped kernel whose in/out channel axes are swapped, so each input pixel gathers from the outputs whose
windows covered it instead of being scattered into. Section 2 checks that identity too.

Pooling has no weights; its backward only decides where each output's gradient goes:

    max pool:  the whole dY[p, q] goes to the ONE input that was the window's maximum (saved as argmax in
               the forward); the others get 0. `max_pool2d_backward` in kernels/reference/pool.py is one
               np.add.at over those saved indices.
    avg pool:  dY[p, q] is split evenly, dY / (KH·KW), over the window (`avg_pool2d_backward`).
    Overlapping windows (stride < kernel) add, as in col2im.

    python docs/03_conv_and_pool_backward.py
"""
import numpy as np

import tinygrad_edu as tg
from tinygrad_edu.nn import functional as F

rng = np.random.default_rng(0)
C_in, C_out, H, W, K, PAD = 2, 3, 5, 5, 3, 1
x = rng.standard_normal((1, C_in, H, W))
w = rng.standard_normal((C_out, C_in, K, K))
b = rng.standard_normal(C_out)
Ho, Wo = H + 2 * PAD - K + 1, W + 2 * PAD - K + 1


# ----- 1. im2col and col2im, written as loops so they can be read ---------------------------------------
def im2col(image):
    """(C, H, W) -> cols (C·K·K, Ho·Wo): column (p, q) is the window under output position (p, q)."""
    padded = np.pad(image, ((0, 0), (PAD, PAD), (PAD, PAD)))
    cols = np.empty((C_in, K, K, Ho, Wo))
    for i in range(K):
        for j in range(K):
            cols[:, i, j] = padded[:, i:i + Ho, j:j + Wo]
    return cols.reshape(C_in * K * K, Ho * Wo)


def col2im(cols):
    """The adjoint of im2col: add each entry back where it was read from, then drop the padding."""
    cols = cols.reshape(C_in, K, K, Ho, Wo)
    padded = np.zeros((C_in, H + 2 * PAD, W + 2 * PAD))
    for i in range(K):
        for j in range(K):
            padded[:, i:i + Ho, j:j + Wo] += cols[:, i, j]
    return padded[:, PAD:PAD + H, PAD:PAD + W]


cols = im2col(x[0])
weight_matrix = w.reshape(C_out, -1)
y_by_hand = (weight_matrix @ cols + b[:, None]).reshape(1, C_out, Ho, Wo)

# ----- 2. forward and backward by hand vs the engine's fused Conv2d ------------------------------------------
x_t = tg.Tensor(x, requires_grad=True)
w_t = tg.Tensor(w, requires_grad=True)
b_t = tg.Tensor(b, requires_grad=True)
y_t = F.conv2d(x_t, w_t, b_t, padding=PAD)
np.testing.assert_allclose(y_t.numpy(), y_by_hand, rtol=1e-12, atol=1e-12)

grad_y = rng.standard_normal((1, C_out, Ho, Wo))  # a random cotangent: loss = Σ y ∘ grad_y
(y_t * tg.Tensor(grad_y)).sum().backward()

dY = grad_y.reshape(C_out, Ho * Wo)
grad_w_by_hand = (dY @ cols.T).reshape(w.shape)
grad_x_by_hand = col2im(weight_matrix.T @ dY)[None]
grad_b_by_hand = dY.sum(axis=1)
np.testing.assert_allclose(w_t.grad.numpy(), grad_w_by_hand, rtol=1e-10, atol=1e-12)
np.testing.assert_allclose(x_t.grad.numpy(), grad_x_by_hand, rtol=1e-10, atol=1e-12)
np.testing.assert_allclose(b_t.grad.numpy(), grad_b_by_hand, rtol=1e-12)
print("conv2d: dW = dY colsᵀ, dx = col2im(Wᵀ dY), db = Σ dY  -- match the engine")

# The same dx without col2im, as kernels/cpu/conv.py computes it: pad dY by K - 1 - PAD and correlate it with the
# flipped kernel whose channel axes are swapped, w'[c, o, i, j] = w[o, c, K-1-i, K-1-j]. Every pixel gathers.
grad_y_padded = np.pad(grad_y[0], ((0, 0), (K - 1 - PAD,) * 2, (K - 1 - PAD,) * 2))
flipped_swapped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C_in, C_out, K, K)
grad_x_gathered = np.array([[[np.sum(grad_y_padded[:, h:h + K, v:v + K] * flipped_swapped[c])
                              for v in range(W)] for h in range(H)] for c in range(C_in)])[None]
np.testing.assert_allclose(grad_x_gathered, grad_x_by_hand, rtol=1e-10, atol=1e-12)
print("conv2d: dx is also a correlation of the padded dY with the flipped kernel (no scatter-add)")

# col2im really is im2col's adjoint: <im2col(u), v> = <u, col2im(v)> for any u, v.
u = rng.standard_normal((C_in, H, W))
v = rng.standard_normal((C_in * K * K, Ho * Wo))
assert np.isclose(np.sum(im2col(u) * v), np.sum(u * col2im(v)))

# The centre pixel sits in K·K = 9 windows, a corner pixel (with padding 1) in 4: that is why col2im adds.
ones_window_count = col2im(np.ones((C_in * K * K, Ho * Wo)))[0]
assert ones_window_count[2, 2] == 9 and ones_window_count[0, 0] == 4
print(f"how many windows read each pixel:\n{ones_window_count.astype(int)}")

# ----- 3. max pooling routes the whole gradient to each window's maximum ------------------------------------
image = tg.Tensor(np.array([[[[1.0, 5.0, 2.0, 0.0],
                              [3.0, 4.0, 8.0, 1.0],
                              [0.0, 2.0, 1.0, 1.0],
                              [7.0, 1.0, 3.0, 6.0]]]]), requires_grad=True)
pooled = F.max_pool2d(image, 2)                  # windows 2x2, stride 2: maxima 5, 8, 7, 6
assert pooled.numpy()[0, 0].tolist() == [[5.0, 8.0], [7.0, 6.0]]
upstream = np.array([[[[10.0, 20.0], [30.0, 40.0]]]])
(pooled * tg.Tensor(upstream)).sum().backward()
expected = np.zeros((4, 4))
expected[0, 1], expected[1, 2], expected[3, 0], expected[3, 3] = 10.0, 20.0, 30.0, 40.0
np.testing.assert_array_equal(image.grad.numpy()[0, 0], expected)
print(f"max pool: each window's gradient lands on its maximum:\n{image.grad.numpy()[0, 0]}")

# Overlapping windows (kernel 2, stride 1): an input that is the max of several windows collects them all.
image.zero_grad()
overlapping = F.max_pool2d(image, 2, stride=1)   # (3, 3) outputs; the 8 at (1, 2) is the max of 4 windows
overlapping.sum().backward()
assert image.grad.numpy()[0, 0, 1, 2] == 4.0
assert image.grad.numpy().sum() == 9.0            # nine windows, each sends 1 somewhere

# ----- 4. average pooling spreads the gradient evenly ---------------------------------------------------------
image.zero_grad()
(F.avg_pool2d(image, 2) * tg.Tensor(upstream)).sum().backward()
np.testing.assert_allclose(image.grad.numpy()[0, 0], np.kron(upstream[0, 0], np.ones((2, 2))) / 4.0)
print("lesson 3: conv2d and pooling backward checks passed")
