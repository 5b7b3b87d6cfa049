"""Artificial load for `bench --load N`: N processes that spin on a core, as other programs on a laptop do.

    with BusyLoad(3) as load:      # three busy-loop processes start now
        ...                        # timed under load
        with load.paused():        # SIGSTOP: the machine is as quiet as it was before
            ...                    # timed without the load, in the same run
    # the processes are killed here

Pausing the load instead of stopping it lets the suite alternate loaded and quiet samples of one case, so the
slowdown a busy machine causes is a ratio taken minutes apart at most, not across two runs.
"""
import contextlib
import os
import signal
import subprocess
import sys
import time

BUSY_LOOP = "while True:\n    pass\n"


class BusyLoad:
    def __init__(self, processes):
        if processes < 0:
            raise ValueError(f"--load: the number of busy processes must be >= 0, got {processes}")
        self.count = processes
        self.processes = []

    def __enter__(self):
        for _ in range(self.count):
            self.processes.append(subprocess.Popen([sys.executable, "-c", BUSY_LOOP], stdin=subprocess.DEVNULL))
        time.sleep(0.2 if self.count else 0.0)  # let the scheduler see them before the first sample
        return self

    def __exit__(self, *exc_info):
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait()
        self.processes = []
        return False

    def _signal(self, number):
        for process in self.processes:
            os.kill(process.pid, number)

    @contextlib.contextmanager
    def paused(self):
        """Stop the busy processes for the block (SIGSTOP), then let them run again (SIGCONT)."""
        self._signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self._signal(signal.SIGCONT)
