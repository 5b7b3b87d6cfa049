"""scikit-learn's bundled 8×8 digits (1,797 images, offline), split 80/20 with a fixed seed."""
import importlib.util
import os

import numpy as np

INSTALL_HINT = "the digits data set needs scikit-learn: pip install 'tinygrad_edu[models]' (or pip install scikit-learn)"


def _digits_file():
    """Path of scikit-learn's bundled digits.csv.gz, found without importing sklearn (the import costs ~1 s of CPU
    at every start of `train cnn`; the file is what `sklearn.datasets.load_digits` itself reads)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(INSTALL_HINT)
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "digits.csv.gz")
    if not os.path.exists(path):
        raise RuntimeError(f"{INSTALL_HINT}; this scikit-learn has no {path}")
    return path


def load_digits_raw():
    """(images (1797, 8, 8) float64 in 0..16, labels (1797,) int64), as `sklearn.datasets.load_digits()` gives
    `images` and `target`: each row of the file is 64 pixel values and the label."""
    table = np.loadtxt(_digits_file(), delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


def load_digits_split(test_fraction=0.2, split_seed=0):
    """(train_images, train_labels, test_images, test_labels): images (N, 1, 8, 8) float32 in [0, 1], labels int64.

    The split is fixed by `split_seed`, independent of the training seed, so accuracies are comparable.
    """
    raw_images, raw_labels = load_digits_raw()
    images = (raw_images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    labels = raw_labels
    order = np.random.default_rng(split_seed).permutation(len(images))
    n_test = int(round(len(images) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return images[train], labels[train], images[test], labels[test]
