"""How many threads the Numba CPU kernels use, and what happens on a busy machine.

    import tinygrad_edu as tg
    tg.set_num_threads(1)        # as torch.set_num_threads: the CPU kernels now run on one thread
    tg.get_num_threads()         # 1

By default the parallel kernels use every core (NUMBA_NUM_THREADS, which Numba reads once at start). When other
programs keep cores busy a training step slows down by about the share of the CPU it lost, no more: idle
OpenMP threads spin only briefly before they sleep (kernels/cpu/variants.py says why and what was measured),
so they never take the core a late peer thread needs. Fewer threads than cores pays only when you want to leave
cores to other work: `train --threads N`, or this function.

Like numba.set_num_threads, the count belongs to the thread that calls it: call it from the thread that trains.
The NumPy reference backend is not affected (NumPy's BLAS has its own threads: OPENBLAS_NUM_THREADS).
"""
import numbers


def _numba():
    import numba  # imported on first use: `import tinygrad_edu` does not load Numba

    return numba


def set_num_threads(count):
    """Use `count` threads (1 to the number Numba started, by default the cores) for the parallel CPU kernels.

    >>> import tinygrad_edu as tg
    >>> tg.set_num_threads(1); tg.get_num_threads()
    1
    """
    numba = _numba()
    most = numba.config.NUMBA_NUM_THREADS
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or not 1 <= count <= most:
        raise ValueError(f"set_num_threads: the thread count must be an integer from 1 to {most} (the threads "
                         f"Numba starts; set NUMBA_NUM_THREADS before the first kernel to change that), got {count!r}")
    numba.set_num_threads(int(count))


def get_num_threads():
    """The number of threads the parallel CPU kernels use on this thread."""
    return _numba().get_num_threads()


def max_threads():
    """The threads Numba starts (NUMBA_NUM_THREADS, by default the number of cores): set_num_threads' upper bound."""
    return _numba().config.NUMBA_NUM_THREADS
