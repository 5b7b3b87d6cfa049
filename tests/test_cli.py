"""Smoke runs of every subcommand with tiny budgets: the loss falls, the metric beats chance, errors are one line."""
import json
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_edu import cli
from tinygrad_edu.tasks import cnn, rnn, transformer


def train(*argv):
    return cli.build_parser().parse_args(["train", *argv, "--quiet"])


def test_cnn_smoke_run_beats_chance_and_loss_falls(tmp_path):
    log = tmp_path / "cnn.jsonl"
    result = cnn.run(train("cnn", "--epochs", "3", "--log", str(log)))
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert result["test_accuracy"] > 0.5  # chance is 0.1


def test_cnn_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    straight = cnn.run(train("cnn", "--epochs", "2", "--seed", "3"))
    checkpoint = tmp_path / "half.ckpt"
    cnn.run(train("cnn", "--epochs", "1", "--seed", "3", "--save", str(checkpoint)))
    resumed = cnn.run(train("cnn", "--epochs", "2", "--seed", "3", "--resume", str(checkpoint)))
    assert resumed["log"] == straight["log"]
    assert resumed["test_accuracy"] == straight["test_accuracy"]


def test_same_seed_same_result_and_csv_log(tmp_path):
    first = rnn.run(train("rnn", "--steps", "30", "--length", "6", "--hidden", "16", "--log", str(tmp_path / "a.csv")))
    second = rnn.run(train("rnn", "--steps", "30", "--length", "6", "--hidden", "16"))
    assert first["test_mse"] == second["test_mse"]
    assert (tmp_path / "a.csv").read_text().startswith("step,loss,val_mse")


def test_rnn_smoke_run_beats_the_trivial_baseline():
    result = rnn.run(train("rnn", "--steps", "250", "--length", "6", "--hidden", "32", "--lr", "0.01"))
    assert result["test_mse"] < 0.5 * result["trivial_mse"]


def test_transformer_sort_smoke_run_learns(tmp_path):
    result = transformer.run(train("transformer", "--steps", "120", "--length", "4", "--d-model", "32", "--heads", "2", "--layers", "1"))
    losses = [row["loss"] for row in result["log"]]
    assert losses[-1] < 0.5 * losses[0]
    assert result["metric"] > 0.2  # chance of writing 4 sorted digits right is far below 1%


def test_transformer_language_model_trains_and_samples(tmp_path, capsys):
    text = tmp_path / "corpus.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 60)
    checkpoint = tmp_path / "lm.ckpt"
    result = transformer.run(train("transformer", "--task", "lm", "--text", str(text), "--steps", "80", "--block-size", "16",
                                   "--d-model", "32", "--heads", "2", "--layers", "1", "--save", str(checkpoint)))
    assert result["metric"] < np.log(28)  # below the loss of a uniform guess over the 28 symbols
    capsys.readouterr()
    assert cli.main(["sample", str(checkpoint), "--prompt", "the ", "--tokens", "20"]) == 0
    assert capsys.readouterr().out.strip().startswith("the ")
    # temperature 0 is greedy: the same text whatever the seed
    greedy = []
    for seed in ("0", "1"):
        assert cli.main(["sample", str(checkpoint), "--prompt", "the ", "--tokens", "20", "--temperature", "0", "--seed", seed]) == 0
        greedy.append(capsys.readouterr().out)
    assert greedy[0] == greedy[1] and greedy[0].startswith("the ")


def test_gradcheck_subcommand_prints_a_passing_table(capsys):
    assert cli.main(["gradcheck", "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "conv2d" in out and "scaled_dot_product_attention" in out and "FAIL" not in out


def test_bad_arguments_and_files_give_one_clear_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "cnn", "--lr", "-1"])
    assert "--lr: must be a positive number" in capsys.readouterr().err
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    assert cli.main(["train", "cnn", "--resume", str(garbage), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinygrad-edu: error:") and str(garbage) in err and len(err.strip().splitlines()) == 1
    assert "it is a text file, not an .npz archive" in err and "allow_pickle" not in err
    assert cli.main(["train", "cnn", "--data", str(tmp_path), "--quiet"]) == 2
    assert "t10k-labels-idx1-ubyte" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "cnn", "--device", "tpu", "--quiet"])
    assert "unknown device 'tpu'; choose cpu or cuda" in capsys.readouterr().err


def test_console_script_and_module_entry_point_show_help():
    out = subprocess.run([sys.executable, "-m", "tinygrad_edu", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("demo", "train", "gradcheck", "sample", "explain"):
        assert command in out
    train_help = subprocess.run([sys.executable, "-m", "tinygrad_edu", "train", "cnn", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--resume PATH" in train_help and "--batch-size" in train_help


def test_plot_writes_a_png_of_the_training_curves(tmp_path):
    pytest.importorskip("matplotlib")
    from tinygrad_edu.tasks import common

    picture = tmp_path / "curves.png"
    result = cnn.run(train("cnn", "--epochs", "2", "--plot", str(picture)))
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    panels = common.curve_panels(result["log"], "epoch")  # the curves drawn: held-out beside training
    assert [label for label, _, _ in panels["loss"]] == ["train", "test"]
    assert [label for label, _, _ in panels["accuracy"]] == ["test"]


def test_transformer_and_rnn_resume_continue_exactly(tmp_path):
    small = {"transformer": ("--length", "3", "--d-model", "16", "--heads", "2", "--layers", "1", "--seed", "4"),
             "rnn": ("--length", "4", "--hidden", "8", "--seed", "4")}
    for name, module in (("transformer", transformer), ("rnn", rnn)):
        straight = module.run(train(name, "--steps", "8", *small[name]))
        checkpoint = tmp_path / f"{name}.ckpt"
        module.run(train(name, "--steps", "4", "--save", str(checkpoint), *small[name]))
        resumed = module.run(train(name, "--steps", "8", "--resume", str(checkpoint), *small[name]))
        assert resumed["log"][-1] == straight["log"][-1], name
