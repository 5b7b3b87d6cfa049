"""Section 1: the kernels alone, per backend, against NumPy (BLAS) and PyTorch CPU doing the same work.

A case is a name, a function that makes its input arrays, a function that runs it on a kernel set (the
`kernels.reference`, `kernels.cpu` or `kernels.cuda` package: they share one interface) and, optionally, the
floating-point operations it does (for GFLOP/s) and baselines. Shapes are the toy models' shapes: the CNN's two
convolutions on 8×8 digits, the Transformer's attention (batch 64 × 4 heads, 12 tokens, head size 16), the RNN
cells of the adding problem and of an `nn.RNN` 16→64 layer (batch 32), the configuration the models section times;
and the shapes people train at: 3×3 convolutions of an MNIST-sized CNN and beyond (1→32 at 28×28, 32→64 at 14×14,
16→32 at 8×8 and 4×4, batch 64), causal attention at T = 64, 128 and 256 (batch × heads 128, head size 16).
Each case's name says its shapes, so `--cases` picks them: `--cases conv2d attention`.
"""
from dataclasses import dataclass, field

import numpy as np

CONV_GEOMETRY = ((1, 1), (1, 1), (1, 1), 1)  # stride, padding, dilation, groups: a 3×3 "same" convolution


@dataclass
class KernelCase:
    name: str
    family: str
    make_inputs: object          # () -> dict of NumPy arrays
    run: object                  # (kernel set, inputs) -> None; does the work once
    flops: float = 0.0           # 0: no GFLOP/s for this case
    baselines: dict = field(default_factory=dict)  # "numpy_blas" / "torch" -> (inputs, torch) -> zero-arg callable


def _rng(seed):
    return np.random.default_rng(seed)


def _normal(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def matmul_cases(sizes):
    cases = []
    for size in sizes:
        def make(size=size):
            rng = _rng(size)
            return {"a": _normal(rng, 1, size, size), "b": _normal(rng, 1, size, size)}

        cases.append(KernelCase(
            f"matmul {size}", "matmul", make, lambda ks, x: ks.matmul(x["a"], x["b"]), 2.0 * size ** 3,
            {"numpy_blas": lambda x, torch: (lambda: np.matmul(x["a"], x["b"])),
             "torch": lambda x, torch: _torch_call(torch, x, lambda t: torch.matmul(t["a"], t["b"]))}))
    return cases


def _torch_call(torch, inputs, body, grad=()):
    """A zero-arg callable running `body` on torch views of `inputs`; names in `grad` require gradients."""
    tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
    for name in grad:
        tensors[name] = tensors[name].clone().requires_grad_()
    return lambda: body(tensors)


def conv_cases(shapes):
    cases = []
    for batch, c_in, c_out, side in shapes:
        def make(batch=batch, c_in=c_in, c_out=c_out, side=side):
            rng = _rng(c_in * 100 + c_out)
            return {"x": _normal(rng, batch, c_in, side, side), "w": _normal(rng, c_out, c_in, 3, 3),
                    "b": _normal(rng, c_out), "gy": _normal(rng, batch, c_out, side, side)}

        def forward(ks, x):
            ks.conv2d_forward(x["x"], x["w"], x["b"], *CONV_GEOMETRY)

        def forward_backward(ks, x):
            ks.conv2d_forward(x["x"], x["w"], x["b"], *CONV_GEOMETRY)
            ks.conv2d_backward(x["x"], x["w"], x["gy"], *CONV_GEOMETRY, True, True, True)

        def torch_forward(x, torch):
            return _torch_call(torch, x, lambda t: torch.nn.functional.conv2d(t["x"], t["w"], t["b"], 1, 1))

        def torch_forward_backward(x, torch):
            return _torch_call(torch, x, lambda t: torch.nn.functional.conv2d(t["x"], t["w"], t["b"], 1, 1).backward(t["gy"]),
                               grad=("x", "w", "b"))

        flops = 2.0 * batch * c_out * side * side * c_in * 9
        label = f"{c_in}→{c_out} {side}×{side} b{batch}"
        cases.append(KernelCase(f"conv2d fwd {label}", "conv", make, forward, flops, {"torch": torch_forward}))
        cases.append(KernelCase(f"conv2d fwd+bwd {label}", "conv", make, forward_backward, 3 * flops,
                                {"torch": torch_forward_backward}))
    return cases


def pool_cases(batch):
    def make():
        return {"x": _normal(_rng(2), batch, 16, 8, 8)}

    def torch_max(x, torch):
        return _torch_call(torch, x, lambda t: torch.nn.functional.max_pool2d(t["x"], 2))

    def torch_max_backward(x, torch):
        def body(t):
            t["x"].grad = None
            torch.nn.functional.max_pool2d(t["x"], 2).sum().backward()
        return _torch_call(torch, x, body, grad=("x",))

    def max_forward_backward(ks, x):
        y, argmax = ks.max_pool2d_forward(x["x"], (2, 2), (2, 2), (0, 0))
        ks.max_pool2d_backward(y, argmax, x["x"].shape)

    return [
        KernelCase(f"max_pool2d fwd {batch}×16×8×8 k2", "pool", make,
                   lambda ks, x: ks.max_pool2d_forward(x["x"], (2, 2), (2, 2), (0, 0)), 0.0, {"torch": torch_max}),
        KernelCase(f"max_pool2d fwd+bwd {batch}×16×8×8 k2", "pool", make, max_forward_backward, 0.0,
                   {"torch": torch_max_backward}),
    ]


def softmax_cases(shape):
    def make():
        return {"x": _normal(_rng(3), *shape)}

    label = "×".join(map(str, shape))
    return [KernelCase(f"softmax fwd {label}", "softmax", make, lambda ks, x: ks.softmax_forward(x["x"]), 0.0,
                       {"torch": lambda x, torch: _torch_call(torch, x, lambda t: torch.softmax(t["x"], -1))})]


def attention_cases(shapes):
    cases = []
    for batch_heads, length, head_size in shapes:
        def make(batch_heads=batch_heads, length=length, head_size=head_size):
            rng = _rng(length)
            return {name: _normal(rng, batch_heads, length, head_size) for name in ("q", "k", "v", "gy")}

        scale = head_size ** -0.5

        # Ours: the pair tinygrad_edu.ops.attention uses, the tiled log-sum-exp one where the kernel set has it.
        def forward(ks, x, scale=scale):
            if hasattr(ks, "attention_forward_lse"):
                ks.attention_forward_lse(x["q"], x["k"], x["v"], None, True, scale)
            else:
                ks.attention_forward(x["q"], x["k"], x["v"], None, True, scale)

        def forward_backward(ks, x, scale=scale):
            q, k, v = x["q"], x["k"], x["v"]
            if hasattr(ks, "attention_forward_lse"):
                out, lse = ks.attention_forward_lse(q, k, v, None, True, scale)
                ks.attention_backward_lse(q, k, v, None, True, out, lse, x["gy"], scale)
            else:
                out, probs = ks.attention_forward(q, k, v, None, True, scale)
                ks.attention_backward(q, k, v, probs, x["gy"], scale)

        # PyTorch gets 4-D (batch, 4 heads, T, d) views, as nn.MultiheadAttention passes them: that selects its
        # fused flash kernel on the CPU (3-D inputs take its slower math path).
        def heads(t, length=length, head_size=head_size):
            return t.view(-1, 4, length, head_size)

        def torch_forward(x, torch):
            sdpa = torch.nn.functional.scaled_dot_product_attention
            return _torch_call(torch, x, lambda t: sdpa(heads(t["q"]), heads(t["k"]), heads(t["v"]), is_causal=True))

        def torch_forward_backward(x, torch):
            sdpa = torch.nn.functional.scaled_dot_product_attention
            return _torch_call(
                torch, x,
                lambda t: sdpa(heads(t["q"]), heads(t["k"]), heads(t["v"]), is_causal=True).backward(heads(t["gy"])),
                grad=("q", "k", "v"))

        flops = 4.0 * batch_heads * length * length * head_size  # QK^T and PV (the causal half is not skipped)
        label = f"{batch_heads}×{length}×{head_size} causal"
        cases.append(KernelCase(f"attention fwd {label}", "attention", make, forward, flops, {"torch": torch_forward}))
        cases.append(KernelCase(f"attention fwd+bwd {label}", "attention", make, forward_backward, 3 * flops,
                                {"torch": torch_forward_backward}))
    return cases


def rnn_cases(shapes):
    cases = []
    for batch, inputs, hidden in shapes:
        def make(batch=batch, inputs=inputs, hidden=hidden):
            rng = _rng(inputs)
            return {"x": _normal(rng, batch, inputs), "h": _normal(rng, batch, hidden),
                    "w_ih": _normal(rng, hidden, inputs), "w_hh": _normal(rng, hidden, hidden),
                    "b_ih": _normal(rng, hidden), "b_hh": _normal(rng, hidden)}

        def forward(ks, x):
            ks.rnn_tanh_cell_forward(x["x"], x["h"], x["w_ih"], x["w_hh"], x["b_ih"], x["b_hh"])

        def torch_forward(x, torch):
            return _torch_call(torch, x, lambda t: torch.rnn_tanh_cell(t["x"], t["h"], t["w_ih"], t["w_hh"], t["b_ih"], t["b_hh"]))

        flops = 2.0 * batch * hidden * (inputs + hidden)
        cases.append(KernelCase(f"rnn_tanh_cell fwd b{batch} {inputs}→{hidden}", "rnn", make, forward, flops,
                                {"torch": torch_forward}))
    return cases


def adam_cases(sizes):
    cases = []
    for size in sizes:
        def make(size=size):
            rng = _rng(size)
            return {"p": _normal(rng, size), "g": _normal(rng, size), "m": np.zeros(size, np.float32),
                    "v": np.zeros(size, np.float32)}

        def step(ks, x):
            ks.adam_step(x["p"], x["g"], x["m"], x["v"], 1, 1e-3, 0.9, 0.999, 1e-8, 0.0)

        def torch_step(x, torch):
            parameter = torch.nn.Parameter(torch.from_numpy(x["p"].copy()))
            parameter.grad = torch.from_numpy(x["g"])
            optimizer = torch.optim.Adam([parameter], lr=1e-3)
            return optimizer.step

        cases.append(KernelCase(f"adam_step {size:,} params", "optim", make, step, 0.0, {"torch": torch_step}))
    return cases


def cases_for(config):
    return (matmul_cases(config.matmul_sizes) + conv_cases(config.conv_shapes) + pool_cases(config.batch)
            + softmax_cases(config.softmax_shape) + attention_cases(config.attention_shapes)
            + rnn_cases(config.rnn_cell_shapes) + adam_cases(config.adam_sizes))
