"""The command line explains itself: honest errors, the compile notice, named metrics, greedy sampling, --device,
--threads, --detect-anomaly, `doctor`, `bench --help`, `explain --render` without Graphviz, and --plot's curves."""
import contextlib
import sys
import types

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import cli
from tinygrad_edu.models import DecoderTransformer
from tinygrad_edu.tasks import common, rnn, transformer

TINY_RNN = ["--steps", "2", "--length", "3", "--hidden", "4", "--batch-size", "4"]


def parse(*argv):
    return cli.build_parser().parse_args(["train", *argv])


# ----- missing data -----------------------------------------------------------------------------------------------
def test_data_directory_that_does_not_exist_says_so(tmp_path, capsys):
    missing = tmp_path / "nonexistent"
    assert cli.main(["train", "cnn", "--data", str(missing), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"directory {missing} does not exist" in err and len(err.strip().splitlines()) == 1


def test_data_directory_missing_files_lists_the_files_mnist_needs(tmp_path, capsys):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"")
    assert cli.main(["train", "cnn", "--data", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "lacks t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (gzipped or raw)" in err
    assert ("MNIST needs these four IDX files: train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
            "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]") in err


def test_text_and_labelled_data_files_that_do_not_exist_say_so(tmp_path, capsys):
    missing = tmp_path / "missing.txt"
    assert cli.main(["train", "transformer", "--task", "lm", "--text", str(missing), "--quiet"]) == 2
    assert f"--text: file {missing} does not exist" in capsys.readouterr().err
    assert cli.main(["train", "textcls", "--data", str(tmp_path), "--quiet"]) == 2
    assert f"--data: {tmp_path} is a directory; expected a CSV or TSV file" in capsys.readouterr().err


# ----- the compile notice and the progress bar --------------------------------------------------------------------
def _fake_kernel_cache(monkeypatch, warm):
    fake = types.ModuleType("tinygrad_edu.kernel_cache")
    fake.asked = []
    fake.is_warm = lambda families=None: fake.asked.append(families) or warm
    fake.location = lambda: "/nowhere"
    fake.FAMILIES_BY_TASK = {"rnn": ("gemm", "rnn", "optim")}
    monkeypatch.setitem(sys.modules, "tinygrad_edu.kernel_cache", fake)
    return fake


@pytest.mark.parametrize("warm", [False, True])
def test_a_cold_kernel_cache_prints_one_compile_notice_before_training(monkeypatch, capsys, warm):
    fake = _fake_kernel_cache(monkeypatch, warm)
    monkeypatch.setattr(tg, "get_backend", lambda: "cpu")
    assert cli.main(["train", "rnn", *TINY_RNN]) == 0
    err = capsys.readouterr().err
    assert err.count(common.COMPILE_NOTICE) == (0 if warm else 1)
    assert fake.asked == [("gemm", "rnn", "optim")]  # the kernel families `train rnn` calls, not a fixed list
    assert common.COMPILE_NOTICE == "compiling kernels (first run only) ..."


def test_no_compile_notice_with_the_numpy_backend_or_quiet(monkeypatch, capsys):
    _fake_kernel_cache(monkeypatch, warm=False)
    assert cli.main(["train", "rnn", *TINY_RNN, "--backend", "numpy"]) == 0
    assert cli.main(["train", "rnn", *TINY_RNN, "--quiet"]) == 0
    assert common.COMPILE_NOTICE not in capsys.readouterr().err


class _RecordingBar:
    made = []

    def __init__(self, **options):
        self.options, self.updates = options, []
        _RecordingBar.made.append(self)

    def update(self, steps):
        self.updates.append(steps)

    def set_postfix(self, postfix, refresh=True):
        self.postfix = postfix

    def close(self):
        pass


def test_the_progress_bar_starts_its_clock_after_the_first_step(monkeypatch):
    # tqdm's rate and ETA count from the bar's creation and its `initial`: a bar made after step 1 with initial=1
    # never extrapolates from the first step, which compiles the kernels on a cold cache.
    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=_RecordingBar))
    _RecordingBar.made = []
    progress = common.Progress(10, "train x", formats={"eval_return": ".2f"})
    assert _RecordingBar.made == []  # nothing timed before the first step
    progress.update(loss=2.0)
    progress.update(eval_return=175.15)
    progress.update(0, eval_return=175.15)
    (bar,) = _RecordingBar.made
    assert bar.options["initial"] == 1 and bar.options["total"] == 10
    assert bar.updates == [1, 0]
    assert bar.postfix == {"loss": "2", "eval_return": "175.15"}


def test_the_transformer_progress_bar_names_its_metric(monkeypatch):
    shown = set()

    class RecordingProgress(common.Progress):
        def update(self, steps=1, **metrics):
            shown.update(metrics)
            super().update(steps, **metrics)

    monkeypatch.setattr(common, "Progress", RecordingProgress)
    transformer.run(parse("transformer", "--steps", "2", "--length", "2", "--d-model", "8", "--heads", "2",
                          "--layers", "1", "--quiet"))
    assert shown == {"loss", "val_accuracy"}


# ----- summaries that say what is compared ------------------------------------------------------------------------
def test_rnn_summary_says_what_the_test_mse_is_compared_with():
    learned = rnn.versus_baseline(0.01)
    assert learned.startswith("test MSE 16.7x lower than the trivial baseline MSE 0.1667 (always answering 1.0")
    barely = rnn.versus_baseline(0.16)
    assert "only 1.04x lower than the trivial baseline" in barely and "not yet learned to remember" in barely
    assert rnn.versus_baseline(0.2).startswith("test MSE above the trivial baseline")


# ----- sampling ---------------------------------------------------------------------------------------------------
def test_generate_at_temperature_zero_is_greedy_and_a_negative_temperature_is_refused():
    tg.manual_seed(0)
    model = DecoderTransformer(vocab_size=7, block_size=6, d_model=8, n_heads=2, n_layers=1)
    prompt = np.array([[1, 2], [3, 4]])
    greedy = model.generate(prompt, 4, greedy=True)
    for seed in (0, 1):
        tg.manual_seed(seed)
        np.testing.assert_array_equal(model.generate(prompt, 4, temperature=0), greedy)
    with pytest.raises(ValueError, match="temperature must be 0 \\(greedy\\) or positive, got -0.5"):
        model.generate(prompt, 1, temperature=-0.5)


def test_sample_accepts_temperature_zero_and_refuses_a_negative_one(capsys):
    assert cli.build_parser().parse_args(["sample", "ck.npz", "--temperature", "0"]).temperature == 0.0
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["sample", "ck.npz", "--temperature", "-1"])
    assert "--temperature: must be 0 or more, got -1" in capsys.readouterr().err


# ----- --device ---------------------------------------------------------------------------------------------------
def _help_of(capsys, *argv):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_device_offers_cuda_only_where_it_can_run(monkeypatch, capsys):
    monkeypatch.setattr(tg.cuda, "is_available", lambda: False)
    assert "cuda is not offered because no NVIDIA GPU is usable here" in _help_of(capsys, "train", "rnn")
    with pytest.raises(SystemExit):
        parse("rnn", "--device", "cuda")
    assert "cuda is not available: no NVIDIA GPU is usable here" in capsys.readouterr().err

    monkeypatch.setattr(tg.cuda, "is_available", lambda: True)
    assert "where tensors live: cpu (default) or cuda" in _help_of(capsys, "train", "rnn")
    assert parse("rnn", "--device", "cuda").device == "cuda"


def test_dqn_never_offers_cuda_and_says_why(monkeypatch, capsys):
    monkeypatch.setattr(tg.cuda, "is_available", lambda: True)
    assert "cpu only (train dqn's batches" in _help_of(capsys, "train", "dqn")
    with pytest.raises(SystemExit):
        parse("dqn", "--device", "cuda")
    assert "cuda is not offered: train dqn's batches of 128 four-number observations" in capsys.readouterr().err


# ----- --threads, --detect-anomaly, doctor ------------------------------------------------------------------------
def test_threads_sets_the_kernel_thread_count(monkeypatch):
    calls = []
    monkeypatch.setattr(tg, "set_num_threads", calls.append, raising=False)
    assert cli.main(["train", "rnn", *TINY_RNN, "--threads", "2", "--quiet"]) == 0
    assert calls == [2]


def test_threads_without_set_num_threads_in_the_engine_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.delattr(tg, "set_num_threads", raising=False)
    assert cli.main(["train", "rnn", *TINY_RNN, "--threads", "2", "--quiet"]) == 2
    assert "--threads needs tinygrad_edu.set_num_threads" in capsys.readouterr().err


def test_detect_anomaly_wraps_the_whole_training_run(monkeypatch):
    events = []

    @contextlib.contextmanager
    def recording_detect_anomaly():
        events.append("enter")
        yield
        events.append("exit")

    real_run = rnn.run
    monkeypatch.setattr(tg, "detect_anomaly", recording_detect_anomaly, raising=False)
    monkeypatch.setattr(rnn, "run", lambda args: events.append("train") or real_run(args))
    assert cli.main(["train", "rnn", *TINY_RNN, "--detect-anomaly", "--quiet"]) == 0
    assert events == ["enter", "train", "exit"]


def test_detect_anomaly_run_of_a_healthy_model_passes():
    if not hasattr(tg, "detect_anomaly"):
        pytest.fail("tinygrad_edu.detect_anomaly is missing: --detect-anomaly cannot work")
    assert cli.main(["train", "rnn", *TINY_RNN, "--detect-anomaly", "--quiet"]) == 0


def test_doctor_is_registered_from_its_module_and_the_cli_works_without_it(monkeypatch, capsys):
    fake = types.ModuleType("tinygrad_edu.doctor")

    def add_parser(subparsers):
        parser = subparsers.add_parser("doctor", help="check the installation")
        parser.set_defaults(handler=lambda args: print("doctor ran") or 0)
        return parser

    fake.add_parser = add_parser
    monkeypatch.setitem(sys.modules, "tinygrad_edu.doctor", fake)
    assert cli.main(["doctor"]) == 0 and "doctor ran" in capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "tinygrad_edu.doctor", None)  # as if the module were not there
    assert "doctor" not in _help_of(capsys)


# ----- bench and explain ------------------------------------------------------------------------------------------
def test_bench_help_keeps_its_examples_one_per_line(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert any(line.startswith("tinygrad-edu bench --quick") for line in lines)
    assert any(line.startswith("tinygrad-edu bench --out results/") for line in lines)


def test_explain_render_without_graphviz_refuses_first_and_points_to_dot(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli.shutil, "which", lambda program: None)
    picture = tmp_path / "x.svg"
    assert cli.main(["explain", "rnn", "--render", str(picture)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing explained and then failed
    assert "needs Graphviz's `dot` program" in captured.err and "--dot PATH writes the graph as DOT text" in captured.err
    assert "viz.graph" not in captured.err and len(captured.err.strip().splitlines()) == 1
    dot_file = tmp_path / "x.dot"  # a .dot "picture" is text: no Graphviz needed
    assert cli.main(["explain", "rnn", "--render", str(dot_file)]) == 0
    assert dot_file.read_text().startswith("digraph")


# ----- --plot -----------------------------------------------------------------------------------------------------
def test_curve_panels_put_train_validation_and_test_curves_of_a_metric_together():
    rows = [{"epoch": 1, "loss": 0.9, "val_loss": 1.0, "val_accuracy": 0.5, "lr": 0.1},
            {"epoch": 2, "loss": 0.5, "val_loss": 0.7, "val_accuracy": 0.6, "lr": 0.1}]
    panels = common.curve_panels(rows, "epoch", extra_series=[("loss", "test", [2], [0.8])])
    assert list(panels) == ["loss", "accuracy", "lr"]
    assert panels["loss"] == [("train", [1, 2], [0.9, 0.5]), ("validation", [1, 2], [1.0, 0.7]), ("test", [2], [0.8])]
    assert panels["accuracy"] == [("validation", [1, 2], [0.5, 0.6])]
