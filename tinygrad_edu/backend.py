"""Which kernel set runs the heavy math: `numpy` (the reference) or `cpu` (Numba, the default).

    tinygrad_edu.set_backend("numpy")          # from now on
    with tinygrad_edu.set_backend("numpy"):    # only inside the block
        ...
    TINYGRAD_EDU_BACKEND=numpy python train.py # for a whole run

Both kernel sets expose the same functions (see `kernels/__init__.py`), so ops call `kernels()` and never
care which one they got.
"""
import importlib
import os

BACKEND_MODULES = {"numpy": "kernels.reference", "cpu": "kernels.cpu"}
DEFAULT_BACKEND = "cpu"


def _validated(name):
    if name not in BACKEND_MODULES:
        raise ValueError(f"set_backend: unknown backend {name!r}; choose one of {sorted(BACKEND_MODULES)}")
    return name


_current_name = _validated(os.environ.get("TINYGRAD_EDU_BACKEND", DEFAULT_BACKEND))
_current_module = None
_kernel_wrapper = None  # set by tinygrad_edu.profile() to time every kernel call


def set_kernel_wrapper(wrapper):
    """Install a function that wraps the kernel module (the profiler's timer); returns the previous one."""
    global _kernel_wrapper
    previous, _kernel_wrapper = _kernel_wrapper, wrapper
    return previous


def get_backend():
    """Name of the kernel set in use."""
    return _current_name


def kernels():
    """The module of the kernel set in use (imported on first use, so `import tinygrad_edu` stays light)."""
    global _current_module
    if _current_module is None:
        _current_module = importlib.import_module(BACKEND_MODULES[_current_name])
    if _kernel_wrapper is not None:
        return _kernel_wrapper(_current_module)
    return _current_module


def _switch(name):
    global _current_name, _current_module
    _current_name, _current_module = name, None


class set_backend:
    """Switch the kernel set now; used as a context manager, switch back when the block ends."""

    def __init__(self, name):
        self.previous = _current_name
        _switch(_validated(name))

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        _switch(self.previous)
        return False
