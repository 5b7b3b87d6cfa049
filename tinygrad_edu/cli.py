"""The `tinygrad-edu` command line (also `python -m tinygrad_edu`)."""
import argparse
import contextlib
import importlib
import os
import shutil
import sys
import time

import numpy as np

import tinygrad_edu as tg
from tinygrad_edu import backend, bench, explain
from tinygrad_edu.tasks import common


def run_demo(args):
    """Train a 2-16-1 MLP on a toy problem with plain SGD, then gradcheck it: autograd end to end in seconds."""
    tg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    points = rng.standard_normal((128, 2)).astype(np.float32)
    labels = (points[:, 0] * points[:, 1] > 0).astype(np.float32)[:, None]  # which quadrant pair: not linear
    inputs, targets = tg.Tensor(points), tg.Tensor(labels)
    w1 = (tg.randn(2, 16) * 0.5).detach().requires_grad_()
    b1 = tg.zeros(16, requires_grad=True)
    w2 = (tg.randn(16, 1) * 0.5).detach().requires_grad_()
    b2 = tg.zeros(1, requires_grad=True)
    params = [w1, b1, w2, b2]

    def forward(x, first_w, first_b, second_w, second_b):
        hidden = (x @ first_w + first_b).tanh()
        return (hidden @ second_w + second_b).sigmoid()

    print(f"demo: training a 2-16-1 MLP with SGD on {len(points)} points (backend {tg.get_backend()})")
    start = time.perf_counter()
    for step in range(args.steps + 1):
        loss = ((forward(inputs, *params) - targets) ** 2).mean()
        for p in params:
            p.zero_grad()
        loss.backward()
        with tg.no_grad():
            for p in params:
                p.data -= args.lr * p.grad.data
        if step % max(args.steps // 10, 1) == 0:
            accuracy = float(((forward(inputs, *params).numpy() > 0.5) == (labels > 0.5)).mean())
            print(f"  step {step:4d}  loss {loss.item():.4f}  accuracy {accuracy:.2%}")
    print(f"trained in {time.perf_counter() - start:.2f} s")
    small_batch = tg.Tensor(points[:4].astype(np.float64))
    tg.gradcheck(lambda *ps: forward(small_batch, *ps), *[p.detach() for p in params])
    print("gradcheck: analytic gradients of all 4 parameters match finite differences (float64) - passed")
    return 0


TASKS = ("cnn", "transformer", "rnn", "dqn", "textcls")
DEVICES = ("cpu", "cuda")


def _task_module(name):
    return importlib.import_module(f"tinygrad_edu.tasks.{name}")


class _TrainingCommandParser(argparse.ArgumentParser):
    """The parser of one `train MODEL` command. It also records which options the command line gave, as
    `args.given_options` (dest names), so that --resume can tell a value you typed from a default."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        namespace.given_options = self._given_options(sys.argv[1:] if args is None else args)
        return namespace, extras

    def _given_options(self, tokens):
        long_options = [option for option in self._option_string_actions if option.startswith("--")]
        given = set()
        for token in tokens:
            if token == "--":
                break
            if not token.startswith("--"):
                continue
            name = token.split("=", 1)[0]
            # argparse accepts an unambiguous prefix (--batch for --batch-size); so does this
            matches = [name] if name in self._option_string_actions else [o for o in long_options if o.startswith(name)]
            if len(matches) == 1:
                given.add(self._option_string_actions[matches[0]].dest)
        return given


class _TrainingHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the task's description as written, and asks an action with a `live_help()` for its help when the help
    is shown: whether cuda can run is a question to numba that costs half a second, too much for every start."""

    def _get_help_string(self, action):
        live_help = getattr(action, "live_help", None)
        return live_help() if live_help is not None else super()._get_help_string(action)


def _cuda_unavailable_reason():
    """None when `--device cuda` can run here, else why not (the help and the error say it)."""
    try:
        if tg.cuda.is_available():
            return None
    except ImportError as error:  # numba-cuda missing or broken: the CPU commands must still work
        return f"the CUDA kernels cannot be imported ({error})"
    return ("no NVIDIA GPU is usable here (tinygrad_edu.cuda.is_available() is False): install the `cuda` extra on a "
            "machine with a GPU and driver, or set NUMBA_ENABLE_CUDASIM=1 to run the CUDA kernels in Numba's slow "
            "simulator")


def _device_option(devices, why_cpu_only):
    """The --device type and help: offers cuda only where the task supports it and tinygrad_edu.cuda says it runs."""

    def parse(text):
        if text not in DEVICES:
            raise argparse.ArgumentTypeError(f"unknown device {text!r}; choose {' or '.join(devices)}")
        if text not in devices:
            raise argparse.ArgumentTypeError(f"{text} is not offered: {why_cpu_only}")
        reason = _cuda_unavailable_reason() if text == "cuda" else None
        if reason:
            raise argparse.ArgumentTypeError(f"cuda is not available: {reason}")
        return text

    def live_help():
        if "cuda" not in devices:
            return f"where tensors live: cpu only ({why_cpu_only})"
        reason = _cuda_unavailable_reason()
        if reason:
            return f"where tensors live: cpu only here; cuda is not offered because {reason}"
        return "where tensors live: cpu (default) or cuda"

    return parse, live_help


def _add_training_options(parser, task):
    """The options every `train` command shares; `task` is the task's module (DEFAULTS, EARLY_STOP_HELP, and
    DEVICES with WHY_CPU_ONLY where it runs on the CPU only)."""
    defaults = task.DEFAULTS
    parse_device, device_help = _device_option(getattr(task, "DEVICES", DEVICES), getattr(task, "WHY_CPU_ONLY", ""))
    device = parser.add_argument("--device", type=parse_device, default="cpu", help="where tensors live")
    device.live_help = device_help
    parser.add_argument("--backend", choices=sorted(backend.BACKEND_MODULES), help="CPU kernel set: cpu (Numba, default) or numpy (reference)")
    parser.add_argument("--threads", type=_positive_int, metavar="N",
                        help="threads of the Numba CPU kernels, fixed (tinygrad_edu.set_num_threads; default: one "
                             "per core that other programs leave free, followed during the run)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same result (default 0)")
    if "epochs" in defaults:
        parser.add_argument("--epochs", type=_positive_int, default=defaults["epochs"],
                            help=f"passes over the training data in all; with --resume the total, not how many more "
                                 f"(default {defaults['epochs']})")
    if "steps" in defaults:
        parser.add_argument("--steps", type=_positive_int, default=defaults["steps"],
                            help=f"training steps in all; with --resume the total, not how many more "
                                 f"(default {defaults['steps']})")
    parser.add_argument("--batch-size", type=_positive_int, default=defaults["batch_size"],
                        help=f"mini-batch size (default {defaults['batch_size']}; with --resume: the checkpoint's)")
    parser.add_argument("--lr", type=_positive_float, default=defaults["lr"],
                        help=f"learning rate (default {defaults['lr']}; with --resume: the checkpoint's)")
    parser.add_argument("--early-stop", type=_positive_int, metavar="PATIENCE", help=task.EARLY_STOP_HELP)
    parser.add_argument("--save", metavar="PATH", help="write a checkpoint here at the end (atomic; never half-written)")
    parser.add_argument("--resume", metavar="PATH", help=common.RESUME_HELP)
    parser.add_argument("--log", metavar="PATH", help="write metrics as CSV (.csv) or JSON lines (any other extension)")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG of the training curves, training and validation "
                                                      "together (needs matplotlib)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, only the summary line")
    parser.add_argument("--summary", action="store_true",
                        help="print the model's layers, output shapes and parameter counts (at its first forward pass)")
    parser.add_argument("--detect-anomaly", action="store_true",
                        help="stop at the first op whose output or gradient holds NaN/inf, naming it and the line "
                             "that created it (tinygrad_edu.detect_anomaly; slower)")


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _non_negative_float(text):
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _engine_function(name, option):
    """tinygrad_edu.<name>, or a clear error naming the option when this version of the engine lacks it."""
    function = getattr(tg, name, None)
    if function is None:
        raise RuntimeError(f"{option} needs tinygrad_edu.{name}, which this version of tinygrad_edu does not have")
    return function


def run_training(args):
    if args.backend:
        tg.set_backend(args.backend)
    # before --threads starts Numba's thread pool, so that the compile workers can be forked from this process
    with _compiling_in_background(args):
        if args.threads:
            _engine_function("set_num_threads", "--threads")(args.threads)
        anomaly_check = contextlib.nullcontext()
        if args.detect_anomaly:
            anomaly_check = _engine_function("detect_anomaly", "--detect-anomaly")()
        with anomaly_check, common.summary_if_asked(args.summary):
            _task_module(args.model).run(args)
    return 0


def _compiling_in_background(args):
    """On a cold kernel cache, compile the CPU kernels the task calls in worker processes while it reads its data and
    builds its model (tinygrad_edu/precompile.py); a context that waits for or stops the workers at its end."""
    if args.device != "cpu" or tg.get_backend() != "cpu":
        return contextlib.nullcontext()
    from tinygrad_edu import precompile

    return precompile.start(args.model) or contextlib.nullcontext()


def run_gradcheck(args):
    """Print one row per op: the largest gap between analytic and finite-difference gradients."""
    from tinygrad_edu import op_catalog

    if args.backend:
        tg.set_backend(args.backend)
    print(f"gradcheck: central finite differences in float64, random cotangent, backend {tg.get_backend()}")
    print(f"{'op':34s} {'max abs err':>12s} {'max rel err':>12s}  result")
    failures = 0
    for name, abs_error, rel_error, passed in op_catalog.check_all(args.seed):
        failures += not passed
        print(f"{name:34s} {abs_error:12.2e} {rel_error:12.2e}  {'pass' if passed else 'FAIL'}")
    print(f"{len(op_catalog.OPS) - failures}/{len(op_catalog.OPS)} ops pass")
    return 1 if failures else 0


def run_sample(args):
    from tinygrad_edu.tasks import transformer

    return transformer.sample(args)


def run_explain(args):
    """`explain`, refusing a picture it cannot draw before it prints anything (not after the explanation)."""
    if args.render and not args.render.lower().endswith((".dot", ".gv")) and shutil.which("dot") is None:
        raise RuntimeError(f"--render {args.render} needs Graphviz's `dot` program, which is not on PATH (apt-get "
                           f"install graphviz, brew install graphviz or conda install graphviz); --dot PATH writes the "
                           f"graph as DOT text without it, for any Graphviz viewer")
    return explain.run(args)


def _add_doctor(commands):
    """`doctor`, from tinygrad_edu/doctor.py, where that module is there (imported only here, on purpose late)."""
    try:
        doctor = importlib.import_module("tinygrad_edu.doctor")
    except ModuleNotFoundError as error:
        if error.name != "tinygrad_edu.doctor":
            raise
        return None
    return doctor.add_parser(commands)


def build_parser():
    parser = argparse.ArgumentParser(prog="tinygrad-edu", description="A small deep learning engine: train, check, benchmark.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser("demo", help="train a tiny MLP and run a gradcheck (a few seconds)")
    demo.add_argument("--steps", type=_positive_int, default=300, help="SGD steps (default 300)")
    demo.add_argument("--lr", type=_positive_float, default=0.5, help="learning rate (default 0.5)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(handler=run_demo)

    train = commands.add_parser("train", help="train a toy model: cnn, transformer, rnn, dqn or textcls")
    models = train.add_subparsers(dest="model", required=True, metavar="MODEL", parser_class=_TrainingCommandParser)
    for name in TASKS:
        module = _task_module(name)
        task_parser = models.add_parser(name, help=module.__doc__.splitlines()[0], description=module.__doc__,
                                        formatter_class=_TrainingHelpFormatter)
        _add_training_options(task_parser, module)
        module.configure(task_parser)
        task_parser.set_defaults(handler=run_training)
    sample = commands.add_parser("sample", help="generate text from a `train transformer --task lm` checkpoint")
    sample.add_argument("checkpoint", help="checkpoint written by train transformer --task lm --save PATH")
    sample.add_argument("--prompt", default="", help="text to start from (default: the first character of the vocabulary)")
    sample.add_argument("--tokens", type=_positive_int, default=300, help="characters to generate (default 300)")
    sample.add_argument("--temperature", type=_non_negative_float, default=0.8,
                        help="sampling temperature: lower is more predictable, 0 always takes the most likely "
                             "character (greedy) (default 0.8)")
    sample.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sample.set_defaults(handler=run_sample)

    gradcheck = commands.add_parser("gradcheck", help="check every op's backward against finite differences and print a table")
    gradcheck.add_argument("--backend", choices=sorted(backend.BACKEND_MODULES), help="kernel set to check (default: cpu)")
    gradcheck.add_argument("--seed", type=int, default=0, help="seed of the example inputs (default 0)")
    gradcheck.set_defaults(handler=run_gradcheck)

    explain.add_parser(commands).set_defaults(handler=run_explain)
    bench_parser = bench.add_parser(commands)
    bench_parser.formatter_class = argparse.RawDescriptionHelpFormatter  # its description lists examples, one a line
    _add_doctor(commands)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, TypeError, RuntimeError, OSError, KeyError) as error:
        if os.environ.get("TINYGRAD_EDU_DEBUG"):
            raise
        print(f"tinygrad-edu: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tinygrad-edu: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
