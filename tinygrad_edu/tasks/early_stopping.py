"""`--early-stop PATIENCE` for the training commands, and the validation split it selects on.

Early stopping picks the weights by their validation metric, so that metric is no longer an unbiased estimate;
the tasks whose held-out data is a test split (cnn, textcls) hold out a validation part of the training data
instead (`validation_split`), and report the test split only at the end. The generated-data tasks (rnn,
transformer) evaluate on their own fresh validation draws, dqn on its greedy evaluation episodes.
"""
import math

import numpy as np

VALIDATION_FRACTION = 0.1
VALIDATION_SEED = 2024  # fixed: the validation rows do not change with --seed, so seeds compare on one split


def validation_split(count, fraction=VALIDATION_FRACTION):
    """(train_rows, validation_rows), both sorted: `fraction` of `count` rows held out by a fixed generator."""
    order = np.random.default_rng(VALIDATION_SEED).permutation(count)
    held_out = min(max(int(round(fraction * count)), 1), count - 1)
    return np.sort(order[held_out:]), np.sort(order[:held_out])


class EarlyStopping:
    """`--early-stop PATIENCE`: stop once the validation metric has not improved for PATIENCE evaluations in a row,
    and end the run with the weights of the best evaluation (whether or not the patience ran out).

    mode "min" for a loss or MSE, "max" for an accuracy or a return. A NaN never counts as an improvement.
    """

    def __init__(self, patience, metric_name, mode, unit):
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.metric_name, self.mode, self.unit = patience, metric_name, mode, unit
        self.best, self.best_at, self.best_state, self.waited = None, None, None, 0
        self.stopped_at = None

    def _better(self, value):
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def should_stop(self, model, value, at):
        """Record the evaluation `value` made after `at` epochs/steps; True when the patience has run out."""
        if self._better(value):
            self.best, self.best_at, self.waited = value, at, 0
            # .numpy() copies device arrays to the host; copy() detaches host arrays from the live parameters
            self.best_state = {name: np.array(tensor.numpy(), copy=True) for name, tensor in model.state_dict().items()}
        else:
            self.waited += 1
        if self.waited >= self.patience:
            self.stopped_at = at
            return True
        return False

    def restore_best(self, model, print_fn=print):
        """Load the best weights into `model` and say which evaluation they come from."""
        if self.best_state is None:
            print_fn(f"early stop: no finite {self.metric_name} was seen; the last weights are kept")
            return None
        model.load_state_dict(self.best_state)
        waited = "epochs" if self.unit == "epoch" else "evaluations"
        why = (f"no better {self.metric_name} for {self.patience} {waited}, stopped after {self.unit} {self.stopped_at}"
               if self.stopped_at is not None else f"the patience of {self.patience} {waited} was not used up")
        print_fn(f"early stop: {why}; restored the weights of {self.unit} {self.best_at} "
                 f"({self.metric_name} {self.best:.4f})")
        return self.best_at
