"""Run `train dqn` for several seeds and print one row per seed: when 475 was reached, the best return, wall time.

    python -m benchmarks.dqn_seeds [--seeds 0 1 2] [-- any extra `train dqn` options, e.g. --hidden 128]

Each seed runs in this process, one after another, with the task's defaults (50k environment steps, greedy
evaluation over 20 episodes every 2,500 steps, early stop once the average reaches 475). The issue's bar: at
least 2 of 3 seeds reach 475 within 50k steps.
"""
import argparse
import sys

from tinygrad_edu.cli import build_parser
from tinygrad_edu.tasks import dqn


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    argv = sys.argv[1:] if argv is None else argv
    extra = []
    if "--" in argv:
        split = argv.index("--")
        argv, extra = argv[:split], argv[split + 1:]
    options = parser.parse_args(argv)
    rows = []
    for seed in options.seeds:
        args = build_parser().parse_args(["train", "dqn", "--seed", str(seed), "--quiet", *extra])
        result = dqn.run(args)
        rows.append((seed, result))
        sys.stdout.flush()
    print()
    print(f"train dqn {' '.join(extra)}".rstrip())
    print("| seed | env steps to avg ≥ 475 | best eval avg (20 ep) | last eval avg | updates | ms/update | wall (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for seed, result in rows:
        reached = result["reached_at"] if result["reached_at"] is not None else f"not within {result['steps']}"
        print(f"| {seed} | {reached} | {result['best_return']:.1f} | {result['last_return']:.1f} | {result['updates']} "
              f"| {result['update_ms']:.3f} | {result['wall']:.1f} |")
    solved = sum(result["reached_at"] is not None for _, result in rows)
    print(f"\nreached 475: {solved} of {len(rows)} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
