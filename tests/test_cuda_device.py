"""Tensors on device="cuda": moves, ops and gradients on the device, device mixing, and a device-resident
training run that matches the CPU. Runs on a GPU, or under NUMBA_ENABLE_CUDASIM=1 (set by tests/conftest.py
when there is no NVIDIA driver); shapes are tiny because the simulator runs each GPU thread in Python.
"""
import gc

import numpy as np
import pytest

import tinygrad_edu as tg
from kernels.cuda.array import CudaArray
from tinygrad_edu import nn
from tinygrad_edu.nn import functional as F
from tinygrad_edu.ops.attention import scaled_dot_product_attention
from tinygrad_edu.ops.conv import conv2d, max_pool2d
from tinygrad_edu.ops.norm import layer_norm
from tinygrad_edu.ops.rnn import rnn_tanh_cell
from tinygrad_edu.ops.softmax import cross_entropy_per_sample, softmax

from finite_differences import numerical_gradients

RNG = np.random.default_rng(0)


def grads_of(function, arrays, cotangent, device):
    """Output and input gradients of sum(function(*inputs) * cotangent), computed on `device`, as NumPy."""
    inputs = [tg.Tensor(a, requires_grad=True, device=device) for a in arrays]
    out = function(*inputs)
    assert out.device == device and all(t.device == device for t in inputs)
    (out * tg.Tensor(cotangent, device=device)).sum().backward()
    return out.numpy(), [t.grad.numpy() for t in inputs]


def finite_differences(function, arrays, cotangent):
    """Central differences of sum(function(*inputs) * cotangent) on the CPU, every element (float64)."""
    def loss(*values):
        return float((function(*[tg.Tensor(v) for v in values]).numpy() * cotangent).sum())

    return numerical_gradients(loss, arrays)


def check_on_cuda(function, *shapes, positive=False):
    """The op on cuda matches the CPU forward, the CPU analytic gradient and finite differences (float64)."""
    arrays = [RNG.uniform(0.5, 1.5, s) if positive else RNG.standard_normal(s) for s in shapes]
    cotangent = _cotangent(function, arrays)
    cpu_out, cpu_grads = grads_of(function, arrays, cotangent, "cpu")
    cuda_out, cuda_grads = grads_of(function, arrays, cotangent, "cuda")
    np.testing.assert_allclose(cuda_out, cpu_out, rtol=1e-9, atol=1e-12)
    numeric = finite_differences(function, arrays, cotangent)
    for cuda_grad, cpu_grad, fd_grad in zip(cuda_grads, cpu_grads, numeric):
        np.testing.assert_allclose(cuda_grad, cpu_grad, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(cuda_grad, fd_grad, rtol=1e-5, atol=1e-6)


def _cotangent(function, arrays):
    shape = function(*[tg.Tensor(a) for a in arrays]).shape
    return np.random.default_rng(1).standard_normal(shape)


def test_to_cuda_and_back_round_trips_data_and_keeps_it_on_the_device():
    host = RNG.standard_normal((2, 3)).astype(np.float32)
    on_gpu = tg.Tensor(host).to("cuda")
    assert on_gpu.device == "cuda" and isinstance(on_gpu.data, CudaArray)
    back = on_gpu.to("cpu")
    assert back.device == "cpu" and isinstance(back.data, np.ndarray)
    np.testing.assert_array_equal(back.numpy(), host)
    np.testing.assert_array_equal(on_gpu.numpy(), host)  # numpy() of a cuda tensor is a copy
    assert tg.zeros(2, 2, device="cuda").device == "cuda"
    assert tg.cuda.is_available() and tg.cuda.device_count() >= 1


def test_to_device_is_differentiable():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    (x.to("cuda") * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    assert x.grad.device == "cpu"


def test_mixing_devices_in_one_op_names_the_op():
    with pytest.raises(RuntimeError, match="Add.*same device"):
        tg.ones(2) + tg.ones(2, device="cuda")
    with pytest.raises(RuntimeError, match="MatMul.*same device"):
        tg.ones(2, 2) @ tg.ones(2, 2, device="cuda")


def test_cuda_without_gpu_or_simulator_is_a_clear_error(monkeypatch):
    from kernels.cuda import _device

    monkeypatch.setattr(_device, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="no GPU and no simulator"):
        tg.Tensor([1.0]).to("cuda")
    assert not tg.cuda.is_available()


def test_elementwise_with_broadcasting_on_cuda():
    check_on_cuda(lambda a, b: (a * b + a / (b * b + 1)).tanh() - b.exp() * 0.5, (2, 3), (3,))
    check_on_cuda(lambda a: a.sigmoid() + a.relu() * a.abs() + (a * a).sqrt().log() + a.maximum(a * 0.5), (2, 2))


def test_reductions_on_cuda():
    check_on_cuda(lambda a: a.sum(dim=0) * a.amax(dim=1, keepdim=True) + a.max(dim=0).values + a.mean(), (2, 3))
    check_on_cuda(lambda a: a.logsumexp(axis=-1) + a.var(axis=0).sum(), (3, 2))


def test_movement_and_getitem_on_cuda():
    check_on_cuda(lambda a: a.reshape(3, 2).permute(1, 0)[:, 1:] * a[0, :2].reshape(1, 2), (2, 3))
    check_on_cuda(lambda a: a[tg.Tensor(np.array([2, 0, 2]), device=a.device)].pad(((0, 1), (1, 0))), (3, 2))
    check_on_cuda(lambda a, b: tg.concatenate([a, b], axis=1).transpose(0, 1).reshape(2, 1, 2).expand(2, 3, 2), (2, 1), (2, 1))


def test_matmul_and_softmax_cross_entropy_on_cuda():
    check_on_cuda(lambda a, b: a @ b, (2, 3), (3, 2))
    check_on_cuda(lambda a: softmax(a, axis=0), (3, 2))
    target = np.array([1, 0])
    check_on_cuda(lambda a: cross_entropy_per_sample(a, target), (2, 3))


def test_conv2d_and_max_pool2d_on_cuda():
    check_on_cuda(lambda x, w, b: conv2d(x, w, b, padding=1), (1, 1, 3, 3), (2, 1, 2, 2), (2,))
    check_on_cuda(lambda x: max_pool2d(x, 2), (1, 1, 2, 4))


def test_attention_rnn_cell_and_layer_norm_on_cuda():
    check_on_cuda(lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True), (1, 2, 2), (1, 2, 2), (1, 2, 2))
    check_on_cuda(lambda x, h, wi, wh: rnn_tanh_cell(x, h, wi, wh), (1, 2), (1, 2), (2, 2), (2, 2))
    check_on_cuda(lambda x, w, b: layer_norm(x, 3, w, b), (2, 3), (3,), (3,))


def _tiny_cnn():
    tg.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3))


def _train(model, images, labels, steps, device):
    model.to(device)
    optimizer = tg.optim.Adam(model.parameters(), lr=0.05)
    x = tg.Tensor(images, device=device)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, {name: p.numpy() for name, p in model.named_parameters()}


def test_tiny_cnn_trains_on_cuda_like_on_cpu_without_host_round_trips(monkeypatch):
    images = np.random.default_rng(2).standard_normal((2, 1, 4, 4)).astype(np.float32)
    labels = np.array([0, 2])
    cpu_losses, cpu_params = _train(_tiny_cnn(), images, labels, 3, "cpu")

    model = _tiny_cnn().to("cuda")
    assert all(p.device == "cuda" and isinstance(p.data, CudaArray) for p in model.parameters())
    device_array_type = type(model[0].weight.data._buffer)
    copies = []
    original = device_array_type.copy_to_host
    monkeypatch.setattr(device_array_type, "copy_to_host", lambda self, *a, **k: copies.append(1) or original(self, *a, **k))
    cuda_losses, cuda_params = _train(model, images, labels, 3, "cuda")
    # Only loss.item() per step, then the final parameters (5 tensors) for the comparison, copy to the host.
    assert len(copies) == 3 + len(cuda_params)
    assert cuda_losses[-1] < cuda_losses[0]
    np.testing.assert_allclose(cuda_losses, cpu_losses, rtol=1e-4)
    for name in cpu_params:
        np.testing.assert_allclose(cuda_params[name], cpu_params[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_save_copies_device_tensors_to_the_host(tmp_path):
    model = _tiny_cnn().to("cuda")
    tg.save(model.state_dict(), tmp_path / "model.npz")
    state = tg.load(tmp_path / "model.npz")
    assert all(isinstance(t.data, np.ndarray) for t in state.values())
    fresh = _tiny_cnn()
    fresh.to("cuda").load_state_dict(state)
    assert fresh[0].weight.device == "cuda"
    np.testing.assert_array_equal(fresh[0].weight.numpy(), model[0].weight.numpy())


def test_train_rnn_runs_on_cuda_and_matches_the_cpu_run(monkeypatch):
    """`tinygrad-edu train rnn --device cuda`, tiny, against the same run on the CPU (simulator-sized shapes)."""
    from tinygrad_edu import cli
    from tinygrad_edu.tasks import rnn

    monkeypatch.setattr(rnn, "TEST_SEQUENCES", 8)

    def run(device):
        args = cli.build_parser().parse_args(["train", "rnn", "--steps", "2", "--length", "3", "--hidden", "3",
                                              "--batch-size", "2", "--device", device, "--quiet"])
        return rnn.run(args)

    on_cpu, on_cuda = run("cpu"), run("cuda")
    np.testing.assert_allclose(on_cuda["test_mse"], on_cpu["test_mse"], rtol=1e-4)
    np.testing.assert_allclose([r["loss"] for r in on_cuda["log"]], [r["loss"] for r in on_cpu["log"]], rtol=1e-4)


def test_encoder_layer_with_padding_and_causal_masks_on_cuda_matches_cpu():
    """Masks that live on the GPU stay there (as_array keeps device arrays): the textcls Transformer on cuda."""
    tg.manual_seed(0)
    layer = tg.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    x = np.random.default_rng(0).standard_normal((2, 3, 8)).astype(np.float32)
    padding = np.array([[False, False, True], [False, False, False]])
    expected = [layer(tg.tensor(x), src_key_padding_mask=tg.tensor(padding), is_causal=causal).numpy()
                for causal in (False, True)]
    layer.to("cuda")
    for causal, want in zip((False, True), expected):
        got = layer(tg.tensor(x).to("cuda"), src_key_padding_mask=tg.tensor(padding).to("cuda"), is_causal=causal)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


def _count_driver_allocations_and_launches(monkeypatch, optimizer_class, steps):
    """Per training step of the tiny CNN on cuda: (device allocations from the driver, kernel launches)."""
    from numba import cuda

    from kernels.cuda import allocator, indexing

    allocator.empty_cache()  # earlier tests' free blocks would serve the first step too
    counts = {"driver": 0, "launches": 0}

    def counting(function, key):
        def call(*args, **kwargs):
            counts[key] += 1
            return function(*args, **kwargs)
        return call

    monkeypatch.setattr(cuda, "device_array", counting(cuda.device_array, "driver"))
    monkeypatch.setattr(cuda, "to_device", counting(cuda.to_device, "driver"))  # nothing may bypass the allocator
    kernel_type = type(indexing._fill_kernel)  # every `kernel[grid, block](...)` launch configures one of these
    monkeypatch.setattr(kernel_type, "__getitem__", counting(kernel_type.__getitem__, "launches"))

    model = _tiny_cnn().to("cuda")
    optimizer = optimizer_class(model.parameters(), lr=0.05)
    x = tg.Tensor(np.random.default_rng(2).standard_normal((2, 1, 4, 4)).astype(np.float32), device="cuda")
    labels = np.array([0, 2])
    per_step = []
    for _ in range(steps):
        # The engine's graph holds reference cycles (an op that saves its own output lists that tensor among its
        # saved versions), so some arrays are freed by the cyclic collector, whenever it runs. Collecting before
        # each step and not during it makes every step start from the same live arrays.
        gc.collect()
        gc.disable()
        try:
            before = dict(counts)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), labels)
            loss.backward()
            optimizer.step()
            loss.item()
            del loss
            per_step.append((counts["driver"] - before["driver"], counts["launches"] - before["launches"]))
        finally:
            gc.enable()
    return per_step


def test_training_steps_take_device_memory_from_the_cache_not_the_driver(monkeypatch):
    """The caching allocator (kernels/cuda/allocator.py): after the first step, whose intermediates fill the free
    lists, a step with a stateless optimizer asks the driver for nothing. Adam's two moments per parameter are made
    during the first step and stay, holding blocks the first step's intermediates had freed, so its second step
    asks the driver for those once more; from the third step on nothing. Launches are the same every step."""
    sgd = _count_driver_allocations_and_launches(monkeypatch, tg.optim.SGD, steps=3)
    assert sgd[0][0] > 0 and [driver for driver, _ in sgd[1:]] == [0, 0]
    assert sgd[1][1] == sgd[2][1] > 0
    adam = _count_driver_allocations_and_launches(monkeypatch, tg.optim.Adam, steps=3)
    parameters = len(list(_tiny_cnn().parameters()))
    assert 0 < adam[1][0] <= 2 * parameters and adam[2][0] == 0
    assert adam[1][1] == adam[2][1] > 0
