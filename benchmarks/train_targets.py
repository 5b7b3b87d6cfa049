"""The full-accuracy runs behind the models' targets, with their wall times: `python -m benchmarks.train_targets`.

    target                                              command
    CNN ≥ 97% test accuracy on digits within 15 s       tinygrad-edu train cnn
    Transformer ≥ 95% exact-sequence sort accuracy      tinygrad-edu train transformer
    tanh RNN clearly below the trivial adding baseline  tinygrad-edu train rnn
    DQN ≥ 475 average return on CartPole, 2 of 3 seeds  python -m benchmarks.dqn_seeds  (minutes; separate)

Wall time is measured around the whole command in a fresh process, start-up and kernel cache loads included.
Writes a markdown table to stdout and, with --out, JSON.
"""
import argparse
import json
import re
import subprocess
import sys
import time

RUNS = [
    ("cnn", ["train", "cnn"], "test accuracy", ">= 0.97 within 15 s"),
    ("transformer", ["train", "transformer"], "exact-sequence accuracy", ">= 0.95"),
    ("rnn", ["train", "rnn"], "test MSE", "well below the trivial 0.1667"),
]


def run_one(argv):
    start = time.perf_counter()
    finished = subprocess.run([sys.executable, "-m", "tinygrad_edu", *argv, "--quiet"], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if finished.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {finished.stderr.strip()}")
    summary = finished.stdout.strip().splitlines()[-1]
    metric = float(re.search(r": [^|]*? ([0-9.]+) \|", summary).group(1))
    return metric, wall, summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds to run each model with (default 0)")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    results = []
    print("| model | seed | metric | reached | target | wall (s, whole command) |")
    print("|---|---|---|---|---|---|")
    for name, command, metric_name, target in RUNS:
        for seed in args.seeds:
            metric, wall, summary = run_one(command + ["--seed", str(seed)])
            results.append({"model": name, "seed": seed, "metric": metric_name, "value": metric, "target": target,
                            "wall_s": wall, "summary": summary, "command": "tinygrad-edu " + " ".join(command)})
            print(f"| {name} | {seed} | {metric_name} | {metric:.4f} | {target} | {wall:.1f} |", flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
