"""scikit-learn's bundled 8×8 digits (1,797 images, offline), split 80/20 with a fixed seed."""
import numpy as np


def load_digits_split(test_fraction=0.2, split_seed=0):
    """(train_images, train_labels, test_images, test_labels): images (N, 1, 8, 8) float32 in [0, 1], labels int64.

    The split is fixed by `split_seed`, independent of the training seed, so accuracies are comparable.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise RuntimeError(
            "the digits data set needs scikit-learn: pip install 'tinygrad_edu[models]' (or pip install scikit-learn)"
        ) from None
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(split_seed).permutation(len(images))
    n_test = int(round(len(images) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return images[train], labels[train], images[test], labels[test]
