"""Child process of the benchmark: time the NumPy-BLAS and PyTorch baselines of every case, write them as JSON.

    python -m benchmarks.baselines CONFIG.json OUT.json

Run by benchmarks/suite.py so the baselines never share a process (and OpenMP thread pools) with Numba kernels.
"""
import json
import sys

from benchmarks import suite, timing


def main(config_path, out_path):
    with open(config_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    config = suite.Config(**{key: tuple(value) if isinstance(value, list) else value for key, value in spec["config"].items()})
    torch = timing.import_torch(spec["threads"]) if config.use_torch else None
    baselines = suite.measure_baselines(config, torch)
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(baselines, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
