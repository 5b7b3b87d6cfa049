"""`tinygrad_edu.cuda`: is there a GPU to put tensors on?

    import tinygrad_edu as tg
    device = "cuda" if tg.cuda.is_available() else "cpu"
    model = Net().to(device)
    x = tg.randn(8, 3, device=device)

Tensors on "cuda" keep their data on the GPU as `kernels.cuda.array.CudaArray` (a NumPy-compatible device
array), and every engine op runs numba.cuda kernels on it. Without a GPU, Numba's CUDA simulator runs the same
kernels in Python threads (slow, exact semantics): set NUMBA_ENABLE_CUDASIM=1 before numba is imported, e.g.

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/test_cuda_device.py

Asking for "cuda" with neither raises RuntimeError("CUDA requested but no GPU and no simulator ...").
This module imports numba only when one of its functions is called, so `import tinygrad_edu` stays light.
"""


def is_available():
    """True when tensors can be put on "cuda": an NVIDIA GPU with a working driver, or the simulator."""
    from kernels.cuda._device import is_available as kernels_available

    return kernels_available()


def device_count():
    """Number of usable GPUs (1 under the simulator, 0 without a GPU). The engine uses the current one."""
    if not is_available():
        return 0
    import numba
    from numba import cuda

    if numba.config.ENABLE_CUDASIM:
        return 1
    return len(cuda.gpus)
