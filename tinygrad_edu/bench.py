"""`tinygrad-edu bench`: kernels, framework overhead and toy-model train steps against NumPy and PyTorch CPU.

    tinygrad-edu bench --quick                 # under two minutes
    tinygrad-edu bench --out results/          # the full run: JSON, markdown table, PNG plots

The harness lives in the source checkout's `benchmarks/` package (benchmarks/suite.py); this module only adds the
subcommand. PyTorch (the `bench` extra) and matplotlib (the `plot` extra) are optional: without them the torch
columns say "n/a" and the plots are skipped with a note.
"""
import os
import sys


def _suite():
    """benchmarks.suite, found on sys.path or next to this package (an editable install of the checkout)."""
    try:
        from benchmarks import suite
    except ImportError:
        checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        if not os.path.isfile(os.path.join(checkout, "benchmarks", "suite.py")):
            raise RuntimeError("bench: the benchmarks/ package is not here; run it from a source checkout "
                               "(git clone ... && pip install -e '.[bench]')") from None
        sys.path.insert(0, checkout)
        from benchmarks import suite
    return suite


def add_parser(subparsers):
    """Add the `bench` subcommand to the CLI's subparsers."""
    parser = subparsers.add_parser("bench", help="benchmark kernels and train steps against NumPy and PyTorch CPU",
                                   description=__doc__)
    _suite().add_arguments(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args):
    return _suite().run_from_args(args, " ".join(["tinygrad-edu", *sys.argv[1:]]))
