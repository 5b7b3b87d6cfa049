"""Warm timing processes: each side of a comparison (ours, PyTorch, NumPy-BLAS) lives in its own process.

    with open_workers(config, ["ours:cpu", "torch"]) as workers:
        once = workers["ours:cpu"].prepare("models:ConvNet b64 8×8 Adam")   # build the step, warm it up
        seconds = workers["ours:cpu"].sample("models:ConvNet b64 8×8 Adam", inner=20)

Why separate processes: Numba's OpenMP workers keep spinning for a while after a `prange` kernel, and a threaded
BLAS or PyTorch call made in that window competes with them for the cores (a 0.1 ms matmul took 8 ms). In their
own processes, with one side timed at a time and a short pause between samples, neither side's figures carry the
other's threads. Why warm: a process that stays up keeps its compiled kernels, caches and allocator, so the
coordinator can alternate samples of both sides over several rounds (see suite.py) instead of timing one side
first and the other minutes later, which is where run-to-run drift came from.

The child runs `python -m benchmarks.workers SIDE`: it reads the config as one JSON line, then answers requests
(one JSON object per line) until "quit". `LocalWorker` answers the same requests in this process (the smoke tests
use it: no process start-up).
"""
import contextlib
import json
import os
import subprocess
import sys
import time
import traceback

from benchmarks import kernel_cases, model_cases, timing

KERNEL_SETS = {"numpy": "kernels.reference", "cpu": "kernels.cpu", "cuda": "kernels.cuda"}
CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def case_id(section, name):
    return f"{section}:{name}"


def all_cases(config):
    """{case id: (section, case)} for every case the config describes."""
    cases = {}
    if "kernels" in config.sections:
        for case in kernel_cases.cases_for(config):
            cases[case_id("kernels", case.name)] = ("kernels", case)
    for case in model_cases.cases_for(config.sizes):
        if case.section in config.sections:
            cases[case_id(case.section, case.name)] = (case.section, case)
    return cases


def sides_of(section, case, backends, torch_available):
    """The sides that time this case: ours on each backend, then the baselines it has."""
    sides = [f"ours:{backend}" for backend in backends]
    if section != "kernels":
        sides = [side for side in sides if side != "ours:cuda"]  # the Tensor-level models run on CPU data here
        return sides + (["torch"] if torch_available else [])
    for name in ("numpy_blas", "torch"):
        if name in case.baselines and (name != "torch" or torch_available):
            sides.append(name)
    return sides


# ----- the side that runs in a worker ---------------------------------------------------------------------------

class Side:
    """Builds and runs the cases of one side: "ours:<backend>", "torch" or "numpy_blas"."""

    def __init__(self, name, config, threads):
        self.name, self.config, self.threads = name, config, threads
        self.kind, _, self.backend = name.partition(":")
        self.cases = all_cases(config)
        self.calls = {}  # case id -> (zero-arg callable, synchronize or None)
        self.torch = None
        if self.kind == "torch":
            self.torch = timing.import_torch(threads)
        if self.kind == "ours" and config.threads:  # --threads N fixes the count; else it follows the load as shipped
            import tinygrad_edu as tg

            tg.set_num_threads(threads)

    def _backend(self):
        """The engine's kernel set for this side while a call runs (sides may share a process: LocalWorker)."""
        if self.kind == "ours" and self.backend in ("numpy", "cpu"):
            import tinygrad_edu as tg

            return tg.set_backend(self.backend)
        return contextlib.nullcontext()

    def _build(self, identifier):
        section, case = self.cases[identifier]
        if self.kind == "ours":
            return self._build_ours(section, case)
        if section == "kernels":
            return case.baselines[self.kind](_copy(case.make_inputs()), self.torch), None
        self.torch.manual_seed(0)
        return case.make_torch(self.config.sizes, self.torch), None

    def _build_ours(self, section, case):
        import importlib

        if section == "kernels":
            kernel_set = importlib.import_module(KERNEL_SETS[self.backend])
            arrays = _copy(case.make_inputs())
            synchronize = None
            if self.backend == "cuda":
                from numba import cuda

                arrays = {key: kernel_set.to_device(value) for key, value in arrays.items()}
                synchronize = cuda.synchronize
            return (lambda: case.run(kernel_set, arrays)), synchronize
        import tinygrad_edu as tg

        tg.manual_seed(0)
        return case.make_ours(self.config.sizes), None

    def prepare(self, identifier, warmup):
        """Build the case's callable and warm it up; returns the time of one more call (sizes the samples)."""
        with self._backend():
            call, synchronize = self._build(identifier)
            self.calls[identifier] = (call, synchronize)
            for _ in range(warmup):
                _run_once(call, synchronize)
            start = time.perf_counter()
            _run_once(call, synchronize)
        return {"once_s": time.perf_counter() - start}

    def sample(self, identifier, inner):
        """Seconds per call, from `inner` calls back to back."""
        call, synchronize = self.calls[identifier]
        with self._backend():
            start = time.perf_counter()
            for _ in range(inner):
                _run_once(call, synchronize)
            seconds = (time.perf_counter() - start) / inner
        return {"seconds": seconds}

    def profile(self, identifier, steps):
        from benchmarks import suite

        call, _ = self.calls[identifier]
        with self._backend():
            return suite.profile_step(self.cases[identifier][1].name, self.backend, call, steps)

    def info(self):
        facts = {"side": self.name, "pid": os.getpid()}
        if self.kind == "ours":
            import tinygrad_edu as tg

            facts.update(numba_threads=tg.get_num_threads(), numba_threading_layer=timing.threading_layer(),
                         blas=timing.blas_info())
        if self.torch is not None:
            facts.update(torch=self.torch.__version__, torch_threads=self.torch.get_num_threads())
        return facts

    def cliff(self, repeats):
        from benchmarks import suite

        return suite.measure_cliff(timing.import_torch(self.threads) if self.config.use_torch else None, repeats)

    def handle(self, request):
        operation = request["op"]
        try:
            if operation == "prepare":
                return self.prepare(request["case"], request["warmup"])
            if operation == "sample":
                return self.sample(request["case"], request["inner"])
            if operation == "profile":
                return self.profile(request["case"], request["steps"])
            if operation == "info":
                return self.info()
            if operation == "cliff":
                return self.cliff(request["repeats"])
            return {"error": f"unknown request {operation!r}"}
        except Exception as error:  # one broken case must not stop the run: the coordinator reports it in its row
            return {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(limit=4)}


def _run_once(call, synchronize):
    call()
    if synchronize is not None:
        synchronize()


def _copy(inputs):
    """Fresh copies: in-place kernels (Adam) must not change another case's inputs."""
    return {key: value.copy() for key, value in inputs.items()}


# ----- the coordinator's handles --------------------------------------------------------------------------------

class LocalWorker:
    """A side run in this process (no start-up cost; both sides then share one process and its threads)."""

    def __init__(self, name, config, threads):
        self.name = name
        self.side = Side(name, config, threads)

    def request(self, **request):
        return self.side.handle(request)

    def prepare(self, identifier, warmup):
        return self.request(op="prepare", case=identifier, warmup=warmup)

    def sample(self, identifier, inner):
        return self.request(op="sample", case=identifier, inner=inner)

    def close(self):
        pass


class WorkerProcess(LocalWorker):
    """A side run in its own process, started now and kept warm until close()."""

    def __init__(self, name, config, threads, environment=None):
        self.name = name
        from benchmarks import suite

        env = dict(os.environ if environment is None else environment)
        if threads:
            # BLAS reads its thread count when NumPy loads: it must be in the child's environment.
            env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [CHECKOUT, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen([sys.executable, "-m", "benchmarks.workers", name], cwd=CHECKOUT, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        setup = {"config": suite.jsonable(suite.config_dict(config)), "threads": threads}
        self.process.stdin.write(json.dumps(setup) + "\n")

    def request(self, **request):
        self.process.stdin.write(json.dumps(request) + "\n")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker {self.name!r} exited (code {self.process.poll()}); see stderr above")
        return json.loads(line)

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.process.stdin.flush()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


class open_workers:
    """{side name: worker} for a `with` block; every process is closed when the block ends."""

    def __init__(self, config, names, threads=0, in_process=False, environments=None):
        self.workers = {}
        try:
            for name in names:
                if in_process:
                    self.workers[name] = LocalWorker(name, config, threads)
                else:
                    environment = (environments or {}).get(name)
                    self.workers[name] = WorkerProcess(name, config, threads, environment)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self.workers

    def __exit__(self, *exc_info):
        self.close()
        return False

    def close(self):
        for worker in self.workers.values():
            worker.close()


def main(name):
    """The child: read the setup line, then answer requests until "quit" or end of input."""
    from benchmarks import suite

    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # anything a library prints must not corrupt the protocol
    setup = json.loads(sys.stdin.readline())
    side = Side(name, suite.config_from_dict(setup["config"]), setup["threads"])
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "quit":
            break
        protocol.write(json.dumps(side.handle(request), default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
