"""How many threads the Numba CPU kernels use, and what happens on a busy machine.

    import tinygrad_edu as tg
    tg.set_num_threads(1)        # as torch.set_num_threads: the CPU kernels now run on one thread
    tg.get_num_threads()         # 1

By default the parallel kernels use every core (NUMBA_NUM_THREADS, which Numba reads once at start) while the
machine is otherwise idle, and follow the load: when other programs' threads keep cores busy, the kernels use
only the cores left free, down to one thread (`follow_load` below says how and what was measured). Idle OpenMP
threads spin only briefly before they sleep (kernels/cpu/variants.py), so they never take the core a late peer
thread needs. Calling this function (or `train --threads N`) fixes the count: it no longer follows the load;
TINYGRAD_EDU_FOLLOW_LOAD=0 keeps the default count fixed.

Like numba.set_num_threads, the count belongs to the thread that calls it: call it from the thread that trains.
The NumPy reference backend is not affected (NumPy's BLAS has its own threads: OPENBLAS_NUM_THREADS).
"""
import numbers
import os
import time


def _numba():
    import numba  # imported on first use: `import tinygrad_edu` does not load Numba

    return numba


def set_num_threads(count):
    """Use `count` threads (1 to the number Numba started, by default the cores) for the parallel CPU kernels.

    >>> import tinygrad_edu as tg
    >>> tg.set_num_threads(1); tg.get_num_threads()
    1
    """
    global _follow_load
    numba = _numba()
    most = numba.config.NUMBA_NUM_THREADS
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or not 1 <= count <= most:
        raise ValueError(f"set_num_threads: the thread count must be an integer from 1 to {most} (the threads "
                         f"Numba starts; set NUMBA_NUM_THREADS before the first kernel to change that), got {count!r}")
    _follow_load = False  # the user's count stands: no longer following the load
    numba.set_num_threads(int(count))


def get_num_threads():
    """The number of threads the parallel CPU kernels use on this thread."""
    return _numba().get_num_threads()


def max_threads():
    """The threads Numba starts (NUMBA_NUM_THREADS, by default the number of cores): set_num_threads' upper bound."""
    return _numba().config.NUMBA_NUM_THREADS


# ----- following the load ---------------------------------------------------------------------------------------
# A parallel kernel returns when its last thread is done. When other programs keep every core busy, each of our
# threads waits its turn for a core, and every parallel call of a step waits for the slowest of them: time slices
# of milliseconds. One thread waits for nothing. Measured on the 2-core machine with three busy-loop processes
# beside (docs/perf.md, "Threads under load"): the Transformer step took 11× its quiet time on a fixed two threads
# and 2.7× following the load; the MNIST CNN step 4.7× and 3.0×. So, unless the user fixed the count (set_num_threads, `train --threads`,
# TINYGRAD_EDU_FOLLOW_LOAD=0), the engine looks at the machine's run queue before a CPU kernel call, at most every
# FOLLOW_LOAD_INTERVAL_S, and gives the kernels the cores that no other program's runnable thread is using, at
# least one. A look is one read of /proc/loadavg (µs), plus this process's thread states when others are running.
FOLLOW_LOAD_INTERVAL_S = 0.02

_follow_load = os.environ.get("TINYGRAD_EDU_FOLLOW_LOAD", "1") != "0"
_next_look = 0.0


def runnable_tasks():
    """Threads running or waiting for a core right now, machine-wide: the first number of /proc/loadavg's fourth
    field ("running/total"; it counts the thread that reads it). None where there is no /proc/loadavg."""
    try:
        with open("/proc/loadavg") as file:
            return int(file.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def own_runnable_threads():
    """This process's threads that are running or waiting for a core (state R in /proc/self/task/*/stat): the
    reading thread, and any OpenMP worker still spinning after a kernel. At least 1."""
    count = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/stat") as file:
                state = file.read().rpartition(")")[2].split()[0]  # after "pid (name)": the name may hold spaces
        except (OSError, IndexError):
            continue
        count += state == "R"
    return max(count, 1)


def usable_cores():
    """The cores this process may run on (its CPU affinity), or os.cpu_count() where affinity is unknown."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def threads_for_load(others, cores, most):
    """Threads to use when `others` threads of other programs are runnable: the cores they leave, from 1 to `most`.

    >>> threads_for_load(0, cores=2, most=2), threads_for_load(1, cores=2, most=2), threads_for_load(3, 8, 8)
    (2, 1, 5)
    """
    return max(1, min(most, cores - others))


def follow_load():
    """Called by the engine before each CPU kernel call; at most every FOLLOW_LOAD_INTERVAL_S it looks at the
    run queue and sets the Numba thread count as the section above says. Otherwise it costs a clock read."""
    global _next_look, _follow_load
    if not _follow_load:
        return
    now = time.monotonic()
    if now < _next_look:
        return
    _next_look = now + FOLLOW_LOAD_INTERVAL_S
    runnable = runnable_tasks()
    if runnable is None:  # no /proc (not Linux): nothing to follow
        _follow_load = False
        return
    others = 0 if runnable <= 1 else max(runnable - own_runnable_threads(), 0)
    numba = _numba()
    wanted = threads_for_load(others, usable_cores(), numba.config.NUMBA_NUM_THREADS)
    if numba.get_num_threads() != wanted:
        numba.set_num_threads(wanted)


def following_load():
    """Whether the thread count follows the load (see follow_load), or was fixed by the user."""
    return _follow_load
