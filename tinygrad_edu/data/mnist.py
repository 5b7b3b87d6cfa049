"""MNIST from the standard IDX files (gzipped or raw), for users who have them.

IDX layout (big-endian): two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, one
uint32 size per dimension, then the data in row-major order.
"""
import gzip
import os

import numpy as np

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def read_idx(path):
    """Parse one IDX file into an ndarray; raise ValueError naming the file when it is malformed."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"read_idx: cannot read {path}: {error}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"read_idx: {path} is not an IDX file (bad magic number)")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_TYPES:
        raise ValueError(f"read_idx: {path} has unknown IDX data type 0x{type_code:02x}")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"read_idx: {path} is truncated inside its header")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[type_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header_size != expected:
        raise ValueError(f"read_idx: {path} should hold {expected} data bytes for shape {shape}, found {len(raw) - header_size}")
    return np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape).astype(dtype.newbyteorder("="))


def _candidates(stem):
    """The names a file is found under: gzipped or raw, and with '.idx' in place of '-idx' (as some mirrors name it)."""
    return (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz", stem.replace("-idx", ".idx"))


def _find_files(directory):
    """{key: path} of the four MNIST files in `directory`; a clear error naming what is missing otherwise."""
    directory = os.fspath(directory)
    if not os.path.exists(directory):
        raise FileNotFoundError(f"load_mnist: directory {directory} does not exist")
    if not os.path.isdir(directory):
        raise NotADirectoryError(f"load_mnist: {directory} is a file; expected the directory that holds the four "
                                 f"MNIST IDX files")
    found, missing = {}, []
    for key, stem in FILES.items():
        paths = [os.path.join(directory, name) for name in _candidates(stem)]
        existing = [path for path in paths if os.path.isfile(path)]
        if existing:
            found[key] = existing[0]
        else:
            missing.append(stem)
    if missing:
        needed = ", ".join(f"{stem}[.gz]" for stem in FILES.values())
        raise FileNotFoundError(f"load_mnist: {directory} lacks {', '.join(missing)} (gzipped or raw); MNIST needs "
                                f"these four IDX files: {needed}")
    return found


def load_mnist(directory):
    """(train_images, train_labels, test_images, test_labels): images (N, 1, 28, 28) float32 in [0, 1]."""
    arrays = {key: read_idx(path) for key, path in _find_files(directory).items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"load_mnist: {split} images {images.shape} and labels {labels.shape} do not match")
    as_images = lambda a: (a.astype(np.float32) / 255.0)[:, None]  # noqa: E731
    return (as_images(arrays["train_images"]), arrays["train_labels"].astype(np.int64),
            as_images(arrays["test_images"]), arrays["test_labels"].astype(np.int64))
