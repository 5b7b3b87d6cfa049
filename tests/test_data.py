import gzip
import struct

import numpy as np
import pytest

from tinygrad_edu.data import CharVocabulary, DataLoader, TensorDataset, load_digits_split, load_mnist, read_idx, stdlib_docstrings


def write_idx(path, array, type_code=0x08):
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(">u1" if type_code == 0x08 else array.dtype).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(payload)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_round_trips_raw_and_gzipped_files(tmp_path, suffix):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / f"images-idx3-ubyte{suffix}"
    write_idx(path, images)
    np.testing.assert_array_equal(read_idx(path), images)


def test_load_mnist_reads_the_four_standard_files(tmp_path):
    rng = np.random.default_rng(0)
    for name, array in {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 5),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3),
    }.items():
        write_idx(tmp_path / name, array)
    train_x, train_y, test_x, test_y = load_mnist(str(tmp_path))
    assert train_x.shape == (5, 1, 28, 28) and train_x.dtype == np.float32 and train_x.max() <= 1.0
    assert train_y.dtype == np.int64 and test_x.shape == (3, 1, 28, 28) and test_y.shape == (3,)


def test_malformed_idx_files_give_clear_errors(tmp_path):
    bad_magic = tmp_path / "bad"
    bad_magic.write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad_magic)
    truncated = tmp_path / "truncated"
    write_idx(truncated, np.zeros((4, 4), dtype=np.uint8))
    truncated.write_bytes(truncated.read_bytes()[:-3])
    with pytest.raises(ValueError, match=r"should hold 16 data bytes for shape \(4, 4\), found 13"):
        read_idx(truncated)
    unknown = tmp_path / "unknown"
    unknown.write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01a")
    with pytest.raises(ValueError, match="unknown IDX data type 0x07"):
        read_idx(unknown)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(str(tmp_path))


def test_digits_split_is_fixed_and_disjoint():
    train_x, train_y, test_x, test_y = load_digits_split()
    assert train_x.shape[1:] == (1, 8, 8) and len(train_x) + len(test_x) == 1797
    assert abs(len(test_x) / 1797 - 0.2) < 0.01
    again = load_digits_split()
    np.testing.assert_array_equal(again[3], test_y)


def test_digits_read_from_the_bundled_file_equal_sklearns_load_digits():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    from tinygrad_edu.data.digits import load_digits_raw
    images, labels = load_digits_raw()
    reference = sklearn_datasets.load_digits()
    np.testing.assert_array_equal(images, reference.images)
    np.testing.assert_array_equal(labels, reference.target)
    assert labels.dtype == np.int64


def test_dataloader_batches_shuffles_reproducibly_and_covers_every_row():
    dataset = TensorDataset(np.arange(10, dtype=np.float32)[:, None], np.arange(10))
    batches = list(DataLoader(dataset, batch_size=4, shuffle=True, generator=np.random.default_rng(1)))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    seen = np.concatenate([labels.numpy() for _, labels in batches])
    assert sorted(seen) == list(range(10)) and list(seen) != list(range(10))
    again = [labels.numpy() for _, labels in DataLoader(dataset, 4, shuffle=True, generator=np.random.default_rng(1))]
    np.testing.assert_array_equal(np.concatenate(again), seen)
    assert len(DataLoader(dataset, 4, drop_last=True)) == 2
    with pytest.raises(ValueError, match="TensorDataset: tensors must share their first dimension"):
        TensorDataset(np.zeros(3), np.zeros(4))


def test_character_vocabulary_and_default_corpus():
    text = stdlib_docstrings(max_chars=5000)
    assert len(text) == 5000
    vocabulary = CharVocabulary(text)
    assert vocabulary.decode(vocabulary.encode(text[:100])) == text[:100]
    with pytest.raises(ValueError, match="characters not in the vocabulary"):
        CharVocabulary("ab").encode("abc")
