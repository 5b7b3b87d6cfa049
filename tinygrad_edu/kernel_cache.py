"""Numba's on-disk cache of the CPU kernels: where it lives and whether it is warm.

    from tinygrad_edu import kernel_cache
    kernel_cache.location()            # e.g. '/path/to/checkout/kernels/cpu/__pycache__'
    kernel_cache.is_warm()             # False on a fresh clone: the first command compiles the kernels
    kernel_cache.is_warm(kernel_cache.FAMILIES_BY_TASK["cnn"])   # the kernels `train cnn` needs

Every CPU kernel is compiled with `@njit(cache=True)`: the first call with new argument types compiles it
(about a second per kernel, a few seconds for the parallel GEMM) and saves the machine code next to the sources
(kernels/cpu/__pycache__, or under NUMBA_CACHE_DIR when that is set or the sources are read-only); later
processes load it in milliseconds. An entry counts only when it was written by this Numba version, for the
sources as they are now (Numba checks their modification time and size) and for this CPU, exactly as Numba
decides whether it can use it.

On a cold cache `train` does not wait for them one after another: tinygrad_edu/precompile.py compiles the
kernels the command will call in worker processes, one per core, while the command reads its data and builds
its model, and `has_entry` below is how it finds which ones are missing.

A kernel family (kernels/interface.py: matmul, conv, pool, ...) is warm when at least one of its compiled
kernels is in the cache: the kernels of a family are called together, so a family that ran once has its
kernels there. `is_warm()` asks about the families every `train` command uses.
"""
import importlib
import os

FAMILIES_BY_TASK = {
    "cnn": ("gemm", "conv", "pool", "softmax", "optim"),
    "transformer": ("gemm", "attention", "norm", "softmax", "optim", "elementwise"),
    "rnn": ("gemm", "rnn", "optim"),
    "dqn": ("gemm", "optim"),
    "textcls": ("gemm", "attention", "norm", "rnn", "softmax", "optim", "elementwise"),
}
COMMON_FAMILIES = ("gemm", "optim")  # every `train` command has linear layers and an Adam-style optimizer


def _family_module(family):
    return importlib.import_module(f"kernels.cpu.{family}")


def cached_dispatchers(module):
    """The Numba dispatchers defined in `module` that have an on-disk cache (cache=True)."""
    found = []
    for value in vars(module).values():
        cache = getattr(value, "_cache", None)
        if cache is not None and hasattr(cache, "_cache_file") and getattr(value, "__module__", "") == module.__name__:
            found.append(value)
    return found


def _has_entry_for_this_machine(dispatcher):
    """Whether the cache index holds machine code this process could load (this Numba, these sources, this CPU)."""
    try:
        index = dispatcher._cache._cache_file._load_index()  # {} when missing, from another Numba, or stale sources
        magic = dispatcher.targetctx.codegen().magic_tuple()
    except Exception:  # an unreadable or foreign index counts as cold: Numba would recompile too
        return False
    return any(key[1] == magic for key in index)


def has_entry(dispatcher, argument_types):
    """Whether the cache holds machine code of `dispatcher` for exactly these argument types (a tuple of Numba
    types) that this process could load: the key Numba itself looks up (signature, CPU, bytecode hashes)."""
    try:
        index = dispatcher._cache._cache_file._load_index()
        key = dispatcher._cache._index_key(tuple(argument_types), dispatcher.targetctx.codegen())
    except Exception:  # an unreadable or foreign index counts as missing: Numba would recompile too
        return False
    return key in index


def family_status(family):
    """(cached kernels, all cached-kernel dispatchers) of one family, e.g. (6, 8) for "conv"."""
    dispatchers = cached_dispatchers(_family_module(family))
    return sum(_has_entry_for_this_machine(d) for d in dispatchers), len(dispatchers)


def is_warm(families=None):
    """True when the on-disk cache holds compiled kernels of every family in `families` for this Numba version.

    families: names from kernels/interface.py (FAMILIES_BY_TASK gives each `train` command's); default: the
    families every `train` command uses (matmul, optim). False on a fresh clone, after a Numba upgrade or an
    edit of the kernel sources: the next command compiles.

    >>> isinstance(is_warm(), bool)
    True
    """
    if os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        return True  # nothing is compiled: the kernels run as plain Python
    for family in families or COMMON_FAMILIES:
        cached, total = family_status(family)
        if total and not cached:
            return False
    return True


def location():
    """The directory where Numba keeps the CPU kernels' compiled code (chosen as Numba chooses it)."""
    for family in COMMON_FAMILIES:
        for dispatcher in cached_dispatchers(_family_module(family)):
            return dispatcher._cache._cache_path
    return os.path.join(os.path.dirname(_family_module("gemm").__file__), "__pycache__")


def summary():
    """{family: (cached kernels, kernels)} for every family: what `tinygrad-edu doctor` prints."""
    from kernels.interface import FAMILIES

    return {family: family_status(family) for family in FAMILIES}
