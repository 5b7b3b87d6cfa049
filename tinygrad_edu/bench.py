"""`tinygrad-edu bench`: kernels, framework overhead and toy-model train steps against NumPy and PyTorch CPU.

    tinygrad-edu bench --quick                  # a few minutes: the GEMM ladder 64-2048, kernels, models
    tinygrad-edu bench --quick --cases matmul   # only the cases whose name contains "matmul"
    tinygrad-edu bench --load 1                 # the same ratios with one busy-loop process beside
    tinygrad-edu bench --out results/           # the full run: JSON, markdown table, PNG plots

Every side (ours, NumPy's BLAS, PyTorch) runs in its own warm process and their samples alternate over several
rounds; a ratio is the median of the per-round ratios, with its interquartile range.

The harness is the `benchmarks/` folder of a source checkout, which is not installed with the package: run this
command from a checkout installed with `pip install -e '.[bench]'` (an editable install finds the folder next
to this package). PyTorch (the `bench` extra) and matplotlib (the `plot` extra) are optional: without them the
torch columns say "n/a" and the plots are skipped with a note.
"""
import importlib
import os
import sys

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FROM_A_WHEEL = ("bench: the benchmarks/ folder is not installed with the package; run `tinygrad-edu bench` from a "
                "source checkout: git clone the repository, then `pip install -e '.[bench]'` in it")


def benchmarks_folder():
    """The checkout's benchmarks/ folder next to this package, or None (an installed wheel has none)."""
    folder = os.path.join(CHECKOUT, "benchmarks")
    return folder if os.path.isfile(os.path.join(folder, "suite.py")) else None


def _suite():
    """benchmarks.suite from the checkout this package sits in; never an unrelated `benchmarks` package."""
    folder = benchmarks_folder()
    if folder is None:
        raise RuntimeError(FROM_A_WHEEL)
    loaded = sys.modules.get("benchmarks")
    if loaded is not None and os.path.dirname(os.path.abspath(getattr(loaded, "__file__", "") or "")) != folder:
        raise RuntimeError(f"bench: another package named `benchmarks` is already imported ({loaded.__file__}); "
                           f"run from the checkout ({CHECKOUT})")
    if CHECKOUT not in sys.path:
        sys.path.insert(0, CHECKOUT)
    return importlib.import_module("benchmarks.suite")


def add_parser(subparsers):
    """Add the `bench` subcommand to the CLI's subparsers.

    Without a checkout (an installed wheel) the subcommand still exists: it takes any arguments, --help included,
    and answers with what to do instead of argparse's "unrecognized arguments".
    """
    help_text = "benchmark kernels and train steps against NumPy and PyTorch CPU"
    if benchmarks_folder() is None:
        parser = subparsers.add_parser("bench", help=help_text, description=__doc__, prefix_chars="+", add_help=False)
        parser.add_argument("arguments", nargs="*")
    else:
        parser = subparsers.add_parser("bench", help=help_text, description=__doc__)
        _suite().add_arguments(parser)
    parser.set_defaults(handler=run, func=run)
    return parser


def run(args):
    return _suite().run_from_args(args, " ".join(["tinygrad-edu", *sys.argv[1:]]))
