"""tg.save / tg.load: nested round-trips, refusal of corrupt / foreign / pickled files, atomic overwrite."""
import collections
import os
import pickle

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import serialization
from tinygrad_edu.serialization import load, save


def _nested():
    return {
        "model": collections.OrderedDict([
            ("fc1.weight", tg.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))),
            ("fc1.bias", tg.tensor([0.5, -0.5], dtype=np.float64, requires_grad=True)),
            ("steps_seen", tg.tensor(np.array([7], dtype=np.int64))),
        ]),
        "arrays": {"f32": np.array([1.5, np.nan], dtype=np.float32), "f64": np.linspace(0, 1, 5),
                   "i64": np.array([[1, -2]], dtype=np.int64), "flags": np.array([True, False]),
                   "scalar0d": np.array(3.25)},
        "optim": {"state": {0: {"step": 3, "exp_avg": np.ones((2, 3), dtype=np.float32)}, 2: {}},
                  "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "amsgrad": False, "params": [0, 1, 2]}]},
        "epoch": 12,
        "best_loss": 0.123456789012345678,
        "huge": 2 ** 70,
        "infinity": float("inf"),
        "name": "run/α: \"quoted\"",
        "nothing": None,
        "numpy_scalar": np.float32(2.5),
        "history": [1, 2.5, "three", None, [True, {"deep": np.zeros(2)}]],
        "a/b": np.ones(1),  # a '/' inside a key must not collide with the nested path a → b
        "a": {"b": np.zeros(1)},
        "": "empty key",
    }


def _assert_same(loaded, original, where="obj"):
    if isinstance(original, tg.Tensor):
        assert isinstance(loaded, tg.Tensor), where
        assert loaded.dtype == original.dtype and loaded.requires_grad == original.requires_grad, where
        np.testing.assert_array_equal(loaded.data, original.data, err_msg=where)
    elif isinstance(original, np.ndarray):
        assert isinstance(loaded, np.ndarray) and loaded.dtype == original.dtype, where
        np.testing.assert_array_equal(loaded, original, err_msg=where)
    elif isinstance(original, np.generic):
        assert type(loaded) is type(original) and loaded == original, where
    elif isinstance(original, dict):
        assert isinstance(loaded, dict) and list(loaded) == list(original), where
        for key in original:
            _assert_same(loaded[key], original[key], f"{where}[{key!r}]")
    elif isinstance(original, (list, tuple)):
        assert type(loaded) is type(original) and len(loaded) == len(original), where
        for index, (got, want) in enumerate(zip(loaded, original)):
            _assert_same(got, want, f"{where}[{index}]")
    else:
        assert type(loaded) is type(original) and loaded == original, where


def test_nested_round_trip_keeps_structure_types_and_values(tmp_path):
    original = _nested()
    path = tmp_path / "ckpt.npz"
    save(original, path)
    _assert_same(load(path), original)
    assert load(str(path))["optim"]["param_groups"][0]["betas"] == (0.9, 0.999)


def test_file_is_a_plain_npz_with_readable_entry_names(tmp_path):
    path = tmp_path / "ckpt.bin"  # the name is used as given: no .npz appended
    save({"model": {"fc1.weight": np.ones(2)}, "optim": {"state": {0: {"exp_avg": np.ones(2)}}}}, path)
    assert sorted(os.listdir(tmp_path)) == ["ckpt.bin"]
    with np.load(path, allow_pickle=False) as archive:
        assert set(archive.files) == {"__meta__", "arrays/model/fc1.weight", "arrays/optim/state/#0/exp_avg"}


def test_round_trip_of_a_module_like_and_an_optimizer_state_dict(tmp_path):
    from tinygrad_edu.optim import Adam
    weight = tg.tensor(np.ones((2, 2)), dtype=np.float32, requires_grad=True)
    optimizer = Adam([weight], lr=0.01)
    weight.grad = tg.ones(2, 2)
    optimizer.step()
    save({"model": {"weight": weight.detach()}, "optim": optimizer.state_dict()}, tmp_path / "ckpt")
    _assert_same(load(tmp_path / "ckpt"), {"model": {"weight": weight.detach()}, "optim": optimizer.state_dict()})


def test_truncated_file_raises_value_error_naming_the_path(tmp_path):
    path = tmp_path / "ckpt.npz"
    save(_nested(), path)
    data = path.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 30, 1):
        truncated = tmp_path / f"cut{cut}.npz"
        truncated.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=f"cut{cut}.npz"):
            load(truncated)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.npz"):
        load(empty)


def test_corrupted_bytes_raise_value_error(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"w": np.arange(1000, dtype=np.float64)}, path)
    data = bytearray(path.read_bytes())
    data[200:210] = b"\xff" * 10  # inside the array's bytes: the zip CRC check catches it
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="ckpt.npz"):
        load(path)


def test_random_bytes_and_foreign_files_raise_value_error(tmp_path):
    noise = tmp_path / "noise.npz"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="noise.npz"):
        load(noise)
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="notes.txt"):
        load(text)
    plain_npz = tmp_path / "plain.npz"
    np.savez(plain_npz, weights=np.ones(3))
    with pytest.raises(ValueError, match="not written by tinygrad_edu.save"):
        load(plain_npz)
    single_npy = tmp_path / "single.npy"
    np.save(single_npy, np.ones(3))
    with pytest.raises(ValueError, match="single .npy"):
        load(single_npy)


class _Boom:
    """Unpickling this would call os.system-like code: here, it flips a flag the test checks."""
    executed = False

    def __reduce__(self):
        return (_mark_executed, ())


def _mark_executed():
    _Boom.executed = True
    return "pwned"


def test_pickled_object_array_is_refused_without_executing_code(tmp_path):
    path = tmp_path / "evil.npz"
    evil = np.empty(1, dtype=object)
    evil[0] = _Boom()
    # A real tinygrad_edu header pointing at a pickled object array, as an attacker would craft it.
    save({"w": np.ones(1)}, tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as good:
        meta = good["__meta__"]
    np.savez(path, **{"__meta__": meta, "arrays/w": evil})
    _Boom.executed = False
    with pytest.raises(ValueError, match="evil.npz"):
        load(path)
    assert not _Boom.executed
    for name, payload in (("evil_npy.bin", None), ("evil.pkl", pickle.dumps(_Boom()))):
        target = tmp_path / name
        with open(target, "wb") as file:
            if payload is None:
                np.save(file, evil, allow_pickle=True)  # a .npy whose payload is a pickle
            else:
                file.write(payload)  # a bare pickle stream
        with pytest.raises(ValueError, match=name):
            load(target)
    assert not _Boom.executed


def test_wrong_format_marker_or_version_is_refused(tmp_path):
    import json
    for meta, message in (({"format": "other", "version": 1, "structure": None}, "format marker"),
                          ({"format": serialization.FORMAT, "version": 99, "structure": None}, "version 99")):
        path = tmp_path / "meta.npz"
        np.savez(path, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
        with pytest.raises(ValueError, match=message):
            load(path)


def test_failed_overwrite_leaves_the_old_file_intact_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save({"version": "old", "w": np.ones(3)}, path)
    old_bytes = path.read_bytes()

    def failing_replace(source, destination):
        raise OSError("disk on fire")

    monkeypatch.setattr(serialization.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk on fire"):
        save({"version": "new", "w": np.zeros(3)}, path)
    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_error_while_writing_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save({"version": "old"}, path)
    old_bytes = path.read_bytes()

    def failing_savez(file, **arrays):
        file.write(b"partial")
        raise KeyboardInterrupt  # even an interrupt mid-write must clean up

    monkeypatch.setattr(serialization.np, "savez", failing_savez)
    with pytest.raises(KeyboardInterrupt):
        save({"version": "new"}, path)
    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_successful_overwrite_replaces_the_file(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"version": "old"}, path)
    save({"version": "new"}, path)
    assert load(path) == {"version": "new"}
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_missing_directory_and_missing_file_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save({"w": np.ones(1)}, tmp_path / "no_such_dir" / "ckpt.npz")
    with pytest.raises(IsADirectoryError):
        save({"w": np.ones(1)}, tmp_path)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.npz")


@pytest.mark.parametrize("value, message", [
    ({"w": {1, 2}}, "set"),
    ({"w": np.array([object()], dtype=object)}, "dtype object"),
    ({(1, 2): 3}, "key"),
    ({True: 3}, "key"),
    ({"f": print}, "builtin_function_or_method"),
])
def test_unsupported_values_raise_type_error_and_write_nothing(tmp_path, value, message):
    with pytest.raises(TypeError, match=message):
        save(value, tmp_path / "ckpt.npz")
    assert os.listdir(tmp_path) == []


def test_self_containing_structure_is_refused(tmp_path):
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="contains itself"):
        save({"loop": loop}, tmp_path / "ckpt.npz")
