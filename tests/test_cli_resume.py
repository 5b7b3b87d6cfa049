"""--resume: --epochs/--steps is the total to reach; left-out options continue as saved, given ones apply with a note."""
import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import cli
from tinygrad_edu.tasks import rnn

TINY_RNN = ("--length", "4", "--hidden", "8")


def parse(*argv):
    return cli.build_parser().parse_args(["train", *argv, "--quiet"])


def test_the_train_parsers_record_which_options_the_command_line_gave():
    args = cli.build_parser().parse_args(["train", "rnn", "--batch", "8", "--lr=0.1", "--steps", "5"])
    assert {"batch_size", "lr", "steps"} <= args.given_options  # --batch is argparse's prefix of --batch-size
    assert "seed" not in args.given_options and "hidden" not in args.given_options


@pytest.mark.parametrize("total", ["3", "4"])
def test_a_total_at_or_below_the_saved_progress_is_an_error_naming_both_numbers(tmp_path, capsys, total):
    checkpoint = tmp_path / "rnn.npz"
    rnn.run(parse("rnn", "--steps", "4", "--save", str(checkpoint), *TINY_RNN))
    capsys.readouterr()
    assert cli.main(["train", "rnn", "--steps", total, "--resume", str(checkpoint), "--quiet", *TINY_RNN]) == 2
    err = capsys.readouterr().err
    assert f"has already trained 4 steps, and --steps {total} is the total to reach" in err
    assert f"pass --steps {4 + int(total)} to train {total} more" in err


def test_the_default_total_at_or_below_the_saved_progress_says_it_is_the_default(tmp_path):
    checkpoint = tmp_path / "rnn.npz"
    rnn.run(parse("rnn", "--steps", "1", "--save", str(checkpoint), *TINY_RNN))
    checkpoint_state = tg.load(checkpoint)
    checkpoint_state["progress"]["step"] = 3000  # as if the default 3000 steps had run
    tg.save(checkpoint_state, checkpoint)
    with pytest.raises(ValueError, match=r"already trained 3000 steps, and --steps 3000 \(the default\) is the total"):
        rnn.run(parse("rnn", "--resume", str(checkpoint), *TINY_RNN))


def test_left_out_options_continue_with_the_checkpoints_values(tmp_path):
    saved_with = ("--lr", "0.01", "--batch-size", "8", "--seed", "4", *TINY_RNN)
    straight = rnn.run(parse("rnn", "--steps", "8", *saved_with))
    checkpoint = tmp_path / "half.npz"
    rnn.run(parse("rnn", "--steps", "4", "--save", str(checkpoint), *saved_with))
    resumed = rnn.run(parse("rnn", "--steps", "8", "--resume", str(checkpoint), *TINY_RNN))  # no --lr/--batch-size/--seed
    assert resumed["log"] == straight["log"]
    assert resumed["test_mse"] == straight["test_mse"]


def test_lr_and_batch_size_given_with_resume_both_apply_with_a_note(tmp_path, capsys):
    checkpoint, continued = tmp_path / "half.npz", tmp_path / "continued.npz"
    rnn.run(parse("rnn", "--steps", "4", "--lr", "0.01", "--batch-size", "8", "--save", str(checkpoint), *TINY_RNN))
    capsys.readouterr()
    rnn.run(parse("rnn", "--steps", "6", "--resume", str(checkpoint), "--lr", "0.5", "--batch-size", "16",
                  "--save", str(continued), *TINY_RNN))
    err = capsys.readouterr().err
    assert "--lr 0.5 from the command line replaces the checkpoint's 0.01" in err
    assert "--batch-size 16 from the command line replaces the checkpoint's 8" in err
    state = tg.load(continued)
    assert state["config"]["lr"] == 0.5 and state["config"]["batch_size"] == 16
    assert state["optimizer"]["param_groups"][0]["lr"] == 0.5  # Adam really steps with the new lr


def test_an_option_given_with_the_checkpoints_own_value_prints_no_note(tmp_path, capsys):
    checkpoint = tmp_path / "half.npz"
    rnn.run(parse("rnn", "--steps", "2", "--lr", "0.01", "--save", str(checkpoint), *TINY_RNN))
    capsys.readouterr()
    rnn.run(parse("rnn", "--steps", "3", "--lr", "0.01", "--resume", str(checkpoint), *TINY_RNN))
    assert "note:" not in capsys.readouterr().err


def test_architecture_options_must_still_match_the_checkpoint(tmp_path):
    checkpoint = tmp_path / "half.npz"
    rnn.run(parse("rnn", "--steps", "2", "--save", str(checkpoint), *TINY_RNN))
    with pytest.raises(ValueError, match=r"was trained with \{'length': 4, 'hidden': 8\}; this run asks for "
                                         r"\{'length': 4, 'hidden': 16\}"):
        rnn.run(parse("rnn", "--steps", "3", "--resume", str(checkpoint), "--length", "4", "--hidden", "16"))


def test_resume_continues_the_transformer_warmup_with_a_new_lr_as_its_base(tmp_path):
    from tinygrad_edu.tasks import transformer

    small = ("--length", "2", "--d-model", "8", "--heads", "2", "--layers", "1", "--batch-size", "4")
    checkpoint, continued = tmp_path / "t.npz", tmp_path / "t2.npz"
    transformer.run(parse("transformer", "--steps", "2", "--lr", "0.002", "--save", str(checkpoint), *small))
    transformer.run(parse("transformer", "--steps", "3", "--lr", "0.001", "--resume", str(checkpoint),
                          "--save", str(continued), *small))
    group = tg.load(continued)["optimizer"]["param_groups"][0]
    # the linear warm-up (0.1 -> 1 over 50 steps) after 3 steps, from the new base lr
    assert group["initial_lr"] == 0.001 and np.isclose(group["lr"], 0.001 * (0.1 + 0.9 * 3 / 50))


def test_save_into_a_missing_directory_fails_before_training(tmp_path, capsys):
    missing = tmp_path / "no" / "such"
    assert cli.main(["train", "rnn", "--steps", "1", "--save", str(missing / "x.npz"), "--quiet", *TINY_RNN]) == 2
    captured = capsys.readouterr()
    assert f"--save: directory {missing} does not exist" in captured.err
    assert "test MSE" not in captured.out  # refused before the run, not after it


def test_resume_from_a_pickle_is_refused_without_running_it(tmp_path, capsys):
    import pickle

    class Payload:
        ran = False

        def __reduce__(self):
            return (print, ("unpickled!",))

    evil = tmp_path / "model.pkl"
    evil.write_bytes(pickle.dumps(Payload()))
    assert cli.main(["train", "rnn", "--resume", str(evil), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "unpickled!" not in captured.out
    assert "looks like a Python pickle" in captured.err and "never loaded" in captured.err
    assert "allow_pickle" not in captured.err and ".npz file written by tinygrad_edu.save" in captured.err
