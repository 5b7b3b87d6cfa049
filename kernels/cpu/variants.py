"""One loop nest, two compiled variants; and how idle OpenMP threads wait, so a busy machine does not stall them.

The toy models call every kernel on small arrays (an RNN cell on (64, 64), a softmax on (64, 10)),
where a `parallel=True` launch costs more than the work. So each kernel body is written once as a plain Python
function and compiled twice:

    _softmax_forward_body(x, out): for i in prange(R): ...          # the one source of the loop nest
    _softmax_forward_serial, _softmax_forward_parallel = serial_and_parallel(_softmax_forward_body, fastmath=...)

With parallel=False Numba runs `prange` as `range`. The public wrapper picks a variant by a work threshold that
was set by measurement (the numbers sit next to each threshold).

Why a helper and not two plain `njit(...)(body)` calls: Numba's on-disk cache names its files after the
function's qualified name and line and keys the entries by signature and CPU, not by `parallel=`. Two
dispatchers made from the same function would share one cache entry, and a warm cache could hand the serial
dispatcher the parallel machine code (or the reverse). Each variant is therefore compiled from a renamed copy
of the function (`<name>_serial`, `<name>_parallel`), which gets its own cache files.

Threads on a busy machine. A `prange` loop is cut into one share per thread and returns when the last share is
done. OpenMP's default wait policy has an idle thread spin for a long while (libgomp: 300,000 pause
instructions, milliseconds) before it sleeps, to answer the next launch fast. On a machine where other programs
run, that spinning takes the core that a late peer thread or another program needs: a toy-model training step
took 10-30x its time, and a threaded BLAS call right after a kernel stalled for milliseconds. So, unless the user
chose (OMP_WAIT_POLICY or GOMP_SPINCOUNT set), importing this module sets

    GOMP_SPINCOUNT = SPIN_COUNT (1000 spins, tens of µs), then the idle thread sleeps

which still catches a launch that follows at once, and frees the core right after. Measured against the other
choices, alternating them round by round in warm processes on a shared 2-core machine, with 0, 1 and 3
busy-loop processes beside: the default spin collapsed (toy-model steps 10-30x slower); OMP_WAIT_POLICY=PASSIVE
did as well as this short spin under load, but a launch costs ~15 µs instead of ~3 µs; spins of 3,000 and
10,000 were 1.3-2.5x slower under load; Numba's workqueue layer takes ~40 µs per launch; tbb (a separate
package) was robust too. The short spin does not stop a parallel call from waiting for a peer thread that lost
its core, which every busy core makes likely: the engine therefore also drops to fewer threads while other
programs keep the cores busy (tinygrad_edu/threads.py, `follow_load`). libgomp reads the variable when it loads, at the first parallel launch, so this works when
nothing loaded it earlier (PyTorch brings its own copy, which does not count).
"""
import os
import types

from numba import njit

SPIN_COUNT = "1000"  # pause instructions an idle OpenMP thread spins before it sleeps (libgomp's default: 300000)
_USER_CHOSE = any(name in os.environ for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"))
if not _USER_CHOSE:
    os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
# the variables this module set: a benchmark removes them from a PyTorch process to time PyTorch as shipped
ENVIRONMENT_SET = () if _USER_CHOSE else ("GOMP_SPINCOUNT",)


def _renamed_copy(function, suffix):
    """A copy of a plain Python function whose __name__ and __qualname__ end in suffix (same code, globals)."""
    copy = types.FunctionType(function.__code__, function.__globals__, function.__name__ + suffix,
                              function.__defaults__, function.__closure__)
    copy.__qualname__ = function.__qualname__ + suffix
    copy.__doc__ = function.__doc__
    copy.__module__ = function.__module__
    return copy


def serial_and_parallel(body, **options):
    """-> (serial, parallel) cached Numba dispatchers compiled from the one Python function `body`.

    options go to both `njit` calls (e.g. fastmath=FASTMATH); `cache=True` is always on.
    """
    serial = njit(parallel=False, cache=True, **options)(_renamed_copy(body, "_serial"))
    parallel = njit(parallel=True, cache=True, **options)(_renamed_copy(body, "_parallel"))
    return serial, parallel
