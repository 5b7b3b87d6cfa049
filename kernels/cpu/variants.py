"""One loop nest, two compiled variants: `prange` on both cores, or the same loops on one thread.

Why: the toy models call every kernel on small arrays (an RNN cell on (64, 64), a softmax on (64, 10)), where a
`parallel=True` launch costs more than the work, and — worse — on a busy 2-core machine the OpenMP workers wait
at the barrier for a descheduled thread: measured 4–14 ms per launch instead of a few µs. A serial call cannot
stall that way. So each kernel body is written once as a plain Python function and compiled twice:

    _softmax_forward_body(x, out): for i in prange(R): ...          # the one source of the loop nest
    _softmax_forward_serial, _softmax_forward_parallel = serial_and_parallel(_softmax_forward_body, fastmath=...)

With parallel=False Numba runs `prange` as `range`. The public wrapper picks a variant by a work threshold that
was set by measurement (the numbers sit next to each threshold).

Why a helper and not two plain `njit(...)(body)` calls: Numba's on-disk cache names its files after the
function's qualified name and line and keys the entries by signature and CPU, not by `parallel=`. Two
dispatchers made from the same function would share one cache entry, and a warm cache could hand the serial
dispatcher the parallel machine code (or the reverse). Each variant is therefore compiled from a renamed copy
of the function (`<name>_serial`, `<name>_parallel`), which gets its own cache files.
"""
import types

from numba import njit


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
