"""--early-stop PATIENCE: stop after PATIENCE evaluations without improvement and end with the best weights."""
import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import cli, nn
from tinygrad_edu.tasks import cnn, rnn
from tinygrad_edu.tasks.early_stopping import EarlyStopping, validation_split


def parse(*argv):
    return cli.build_parser().parse_args(["train", *argv, "--quiet"])


def _weights(model):
    return {name: tensor.numpy().copy() for name, tensor in model.state_dict().items()}


def test_stops_after_patience_evaluations_without_improvement_and_restores_the_best_weights(capsys):
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=2, metric_name="validation loss", mode="min", unit="epoch")
    snapshots = {}
    stopped = []
    for epoch, loss in enumerate([0.9, 0.5, 0.6, 0.55, 0.4], start=1):
        with tg.no_grad():
            model.weight.data += 1.0  # each epoch's weights differ
        snapshots[epoch] = _weights(model)
        stopped.append(stopper.should_stop(model, loss, epoch))
        if stopped[-1]:
            break
    assert stopped == [False, False, False, True]  # 0.6 and 0.55 are not below 0.5: two epochs without improvement
    stopper.restore_best(model)
    assert "no better validation loss for 2 epochs, stopped after epoch 4" in capsys.readouterr().out
    for name, value in _weights(model).items():
        np.testing.assert_array_equal(value, snapshots[2][name])


def test_max_mode_and_nan_never_counts_as_an_improvement(capsys):
    model = nn.Linear(1, 1)
    stopper = EarlyStopping(patience=3, metric_name="accuracy", mode="max", unit="step")
    assert not stopper.should_stop(model, float("nan"), 10)
    assert not stopper.should_stop(model, 0.5, 20)
    assert not stopper.should_stop(model, 0.7, 30)
    assert not stopper.should_stop(model, float("nan"), 40)
    assert stopper.best == 0.7 and stopper.best_at == 30
    stopper.restore_best(model)
    assert "the patience of 3 evaluations was not used up; restored the weights of step 30 (accuracy 0.7000)" in \
        capsys.readouterr().out
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        EarlyStopping(1, "x", "lowest", "epoch")


def test_validation_split_is_fixed_disjoint_and_a_tenth():
    train, validation = validation_split(100)
    again_train, again_validation = validation_split(100)
    assert np.array_equal(train, again_train) and np.array_equal(validation, again_validation)
    assert len(validation) == 10 and not set(train) & set(validation) and len(train) + len(validation) == 100


def test_train_cnn_early_stop_restores_the_best_epoch_and_says_which(monkeypatch, capsys):
    # The validation losses are scripted (the weights are real), so the stop does not hang on a training trajectory.
    scripted_losses = iter([0.9, 0.5, 0.6])
    snapshots = []
    real_evaluate = cnn.evaluate

    def scripted_evaluate(model, images, labels, batch_size=512, device="cpu"):
        loss, accuracy = real_evaluate(model, images, labels, batch_size, device)
        scripted = next(scripted_losses, None)
        if scripted is None:  # the final test accuracy, after the loop
            return loss, accuracy
        snapshots.append(_weights(model))
        return scripted, accuracy

    monkeypatch.setattr(cnn, "evaluate", scripted_evaluate)
    result = cnn.run(parse("cnn", "--epochs", "30", "--early-stop", "1", "--batch-size", "256"))
    out = capsys.readouterr().out
    assert "early stop: no better validation loss for 1 epochs, stopped after epoch 3; restored the weights of " \
           "epoch 2 (validation loss 0.5000)" in out
    assert result["epochs"] == 3 and [row["epoch"] for row in result["log"]] == [1, 2, 3]
    assert set(result["log"][0]) == {"epoch", "loss", "val_loss", "val_accuracy"}  # chosen on validation, not test
    for name, value in _weights(result["model"]).items():
        np.testing.assert_array_equal(value, snapshots[1][name])


def test_train_rnn_early_stop_ends_with_the_best_validation_weights(capsys):
    result = rnn.run(parse("rnn", "--steps", "40", "--length", "3", "--hidden", "4", "--lr", "0.05", "--early-stop", "1"))
    out = capsys.readouterr().out
    best = min(result["log"], key=lambda row: row["val_mse"])
    assert f"restored the weights of step {best['step']} (validation MSE {best['val_mse']:.4f})" in out
    last = result["log"][-1]["step"]
    assert last == 40 or last == best["step"] + 4  # patience 1: one evaluation (every 4 steps) past the best


def test_train_textcls_early_stop_selects_on_a_validation_part_of_the_training_sentences(tmp_path, capsys):
    rows = ["text,label"] + [f"{word} {filler} today,{label}" for label, words in
                             (("a", ("goal", "team", "coach")), ("b", ("rain", "storm", "wind")))
                             for word in words for filler in ("we", "saw", "some", "new", "old", "big", "the")]
    data = tmp_path / "easy.csv"
    data.write_text("\n".join(rows) + "\n")
    code = cli.main(["train", "textcls", "--data", str(data), "--epochs", "3", "--early-stop", "1", "--embed", "8",
                     "--heads", "2", "--batch-size", "8", "--min-freq", "1", "--log", str(tmp_path / "log.csv")])
    out = capsys.readouterr().out
    assert code == 0
    assert "train / 4 validation / 8 held-out test sentences" in out  # 42 rows: 34 train, 4 validation, 8 test
    assert "restored the weights of epoch" in out
    assert (tmp_path / "log.csv").read_text().startswith("epoch,loss,val_loss,val_accuracy")
