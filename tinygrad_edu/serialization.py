"""`save` and `load`: checkpoints (model and optimizer state dicts) as a plain .npz file that never runs code.

What gets saved: a (possibly nested) dict / list / tuple whose leaves are Tensors, NumPy arrays or scalars,
Python int / float / str / bool / None. `Module.state_dict()` and `Optimizer.state_dict()` both fit.

The file is an ordinary NumPy .npz (a zip of .npy files), written with `np.savez` and read with
`np.load(allow_pickle=False)`, so loading parses bytes and nothing else: no pickle, no code execution.

    arrays/<key>/<key>/...   one .npy entry per array or Tensor, named by its path in the nested structure
                             (each key %-escaped, so '/' in a key cannot fake a level; int keys written #3)
    __meta__                 UTF-8 JSON stored as a uint8 array: a format marker, a version, and the structure:
                             every dict / list / tuple, every scalar value, and for each array the entry that
                             holds it and whether it was a Tensor (and its requires_grad)

`load` rebuilds the same structure: Tensors come back as `tg.Tensor` (as `torch.load` returns tensors),
NumPy arrays as `np.ndarray`, tuples as tuples, and every dict (OrderedDict included) as a plain dict. An object
saved twice in the structure comes back as two independent copies (sharing is not recorded).

`save` is atomic: it writes a temporary file next to the target, fsyncs it, and renames it over the target
with `os.replace`, so a crash or error mid-save leaves the old checkpoint intact.
"""
import json
import os
import secrets
import zipfile
import zlib
from urllib.parse import quote

import numpy as np

from tinygrad_edu.tensor import Tensor, is_device_array

FORMAT = "tinygrad_edu.checkpoint"
VERSION = 1
_META_ENTRY = "__meta__"
_ARRAY_PREFIX = "arrays"  # also keeps entry names clear of np.savez's own keyword arguments (file, allow_pickle)
_ARRAY_KINDS = "biufc"  # bool, int, uint, float, complex: dtypes an .npy stores without pickle
_SCALAR_TYPES = (bool, int, float, str, type(None))


# ----- save ------------------------------------------------------------------------------------------------------
def save(obj, path):
    """Write `obj` (e.g. `{"model": model.state_dict(), "optim": optimizer.state_dict(), "epoch": 3}`) to `path`.

    The path is used exactly as given (no `.npz` is appended). Raises TypeError for a value that cannot be
    stored without pickle, and FileNotFoundError when the directory does not exist.

    >>> import os, tempfile, numpy as np
    >>> import tinygrad_edu as tg
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
    >>> save({"w": tg.ones(2), "step": 3}, path)
    >>> load(path)
    {'w': tensor([1., 1.]), 'step': 3}
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: cannot write {path!r}: directory {directory!r} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"save: cannot write {path!r}: it is a directory")

    # Encode everything before touching the disk, so an unsupported value fails with no file written.
    arrays = {}
    structure = _encode(obj, [], arrays, in_progress=set())
    meta = {"format": FORMAT, "version": VERSION, "structure": structure}
    arrays[_META_ENTRY] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)

    # A random name in the target's own directory: os.replace is only atomic within one file system.
    temp_path = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    try:
        with open(temp_path, "xb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the rename makes them the checkpoint
        os.replace(temp_path, path)
    except BaseException:
        try:
            os.unlink(temp_path)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)  # makes the rename itself survive a power cut


def _fsync_directory(directory):
    if not hasattr(os, "O_DIRECTORY"):
        return  # Windows cannot open a directory for fsync; the rename is still atomic there
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _describe(path):
    return "obj" + "".join(f"[{component!r}]" for component in path)


def _entry_name(path):
    """Entry name for the array at `path`: keys %-escaped (no '/' inside), int dict keys as #n, list indices n."""
    components = [_ARRAY_PREFIX]
    for component in path:
        if isinstance(component, _ListIndex):
            components.append(str(int(component)))
        elif isinstance(component, int):
            components.append(f"#{component}")
        else:
            components.append(quote(component, safe=""))
    return "/".join(components)


class _ListIndex(int):
    """A list/tuple position in a path (so it is named n, not #n like an int dict key)."""


def _encode(obj, path, arrays, in_progress):
    """The JSON node describing `obj`; arrays found on the way go into `arrays` under their entry names."""
    if isinstance(obj, (Tensor, np.ndarray, np.generic)) or is_device_array(obj):
        array = obj.data if isinstance(obj, Tensor) else obj
        # Device data (a cuda tensor, or optimizer state on the GPU) is copied to the host here: files hold
        # NumPy arrays, and load() gives CPU tensors (move them with .to("cuda") / Module.load_state_dict).
        array = array.get() if is_device_array(array) else np.asarray(array)
        if array.dtype.kind not in _ARRAY_KINDS:
            raise TypeError(f"save: {_describe(path)} has dtype {array.dtype}, which cannot be saved without pickle")
        entry = _entry_name(path)
        arrays[entry] = array
        if isinstance(obj, Tensor):
            return {"type": "tensor", "entry": entry, "requires_grad": bool(obj.requires_grad)}
        if isinstance(obj, np.generic):
            return {"type": "numpy_scalar", "entry": entry}
        return {"type": "ndarray", "entry": entry}
    if isinstance(obj, _SCALAR_TYPES):
        return {"type": "value", "value": obj}
    if not isinstance(obj, (dict, list, tuple)):
        raise TypeError(f"save: {_describe(path)} is a {type(obj).__name__}; supported: dict, list, tuple, Tensor, "
                        f"numpy array or scalar, int, float, str, bool, None")
    if id(obj) in in_progress:
        raise ValueError(f"save: {_describe(path)} contains itself")
    in_progress.add(id(obj))
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if isinstance(key, (bool, np.bool_)) or not isinstance(key, (str, int, np.integer)):
                raise TypeError(f"save: {_describe(path)} has a key {key!r} of type {type(key).__name__}; dict keys "
                                f"must be str or int")
            key = key if isinstance(key, str) else int(key)
            items.append([key, _encode(value, path + [key], arrays, in_progress)])
        node = {"type": "dict", "items": items}
    else:
        items = [_encode(value, path + [_ListIndex(index)], arrays, in_progress) for index, value in enumerate(obj)]
        node = {"type": "tuple" if isinstance(obj, tuple) else "list", "items": items}
    in_progress.discard(id(obj))
    return node


# ----- load ------------------------------------------------------------------------------------------------------
# What a damaged, truncated or foreign file can raise while being parsed; all become one clear ValueError.
_CORRUPT_FILE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, IndexError, ValueError,
                        TypeError, AttributeError, RecursionError)
_ZIP_MAGIC = b"PK\x03\x04"  # every .npz is a zip archive
_NPY_MAGIC = b"\x93NUMPY"
_WHAT_A_CHECKPOINT_IS = "a tinygrad_edu checkpoint is an .npz file written by tinygrad_edu.save (or a command's --save)"


def _not_a_zip(head):
    """What a file that does not start like a zip archive is, in words, from its first bytes."""
    if not head:
        return "it is empty"
    if head.startswith(_NPY_MAGIC):
        return "it holds a single .npy array, not a tinygrad_edu checkpoint (.npz)"
    if head[:1] == b"\x80":  # pickle protocol 2 and later start with PROTO
        return ("it looks like a Python pickle (pickle.dump, or an old torch.save); pickles are never loaded, because "
                "loading one can run code")
    if all(32 <= byte < 127 or byte in b"\t\r\n" for byte in head):
        return "it is a text file, not an .npz archive"
    return f"it is not an .npz (zip) archive: it starts with bytes {head[:8].hex(' ')}"


def load(path):
    """Read a file written by `save` and return the same structure (Tensors as `tg.Tensor`).

    Never executes code from the file: arrays are read with allow_pickle=False, and an array that would need pickle
    is refused. Raises FileNotFoundError if there is no file, and ValueError naming the path and saying what the file
    is instead when it is truncated, corrupt, not an .npz, holds pickled objects, or was not written by `save`.
    """
    path = os.fspath(path)
    with open(path, "rb") as file:
        head = file.read(len(_ZIP_MAGIC) + 4)
        file.seek(0)
        try:
            if not head.startswith(_ZIP_MAGIC):
                raise ValueError(_not_a_zip(head))
            with np.load(file, allow_pickle=False) as archive:
                if _META_ENTRY not in archive.files:
                    kind = ("a PyTorch file (torch.save), which holds pickles"
                            if any(name.endswith("data.pkl") for name in archive.files) else "an .npz/zip archive")
                    raise ValueError(f"{kind} with no {_META_ENTRY!r} entry, not written by tinygrad_edu.save")
                meta = json.loads(_read_array(archive, _META_ENTRY).tobytes().decode("utf-8"))
                if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                    raise ValueError(f"format marker is not {FORMAT!r}")
                if meta.get("version") != VERSION:
                    raise ValueError(f"format version {meta.get('version')!r} is not supported (this reader knows "
                                     f"version {VERSION})")
                return _decode(meta["structure"], archive)
        except zipfile.BadZipFile as error:
            raise ValueError(f"load: {path!r} is not a readable tinygrad_edu checkpoint: the .npz (zip) archive is "
                             f"truncated or damaged ({error})") from error
        except _CORRUPT_FILE_ERRORS as error:
            reason = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
            raise ValueError(f"load: {path!r} is not a tinygrad_edu checkpoint: {reason}; "
                             f"{_WHAT_A_CHECKPOINT_IS}") from error


def _read_array(archive, entry):
    """archive[entry], refusing (not unpickling) an entry that holds Python objects; KeyError if it is missing.

    NumPy's own message for such an entry suggests loading with allow_pickle=True: exactly what must not be done."""
    try:
        return archive[entry]
    except ValueError as error:
        if "allow_pickle" not in str(error):
            raise
        raise ValueError(f"entry {entry!r} holds pickled Python objects, which tinygrad_edu.save never writes; "
                         f"refused, because unpickling can run code") from None


def _decode(node, archive):
    kind = node["type"]
    if kind == "value":
        value = node["value"]
        if not isinstance(value, _SCALAR_TYPES):
            raise ValueError(f"a scalar node holds a {type(value).__name__}")
        return value
    if kind in ("tensor", "ndarray", "numpy_scalar"):
        entry = node["entry"]
        if not isinstance(entry, str) or not entry.startswith(_ARRAY_PREFIX):
            raise ValueError(f"bad array entry name {entry!r}")
        array = _read_array(archive, entry)
        if kind == "tensor":
            return Tensor(array, requires_grad=bool(node["requires_grad"]))
        if kind == "numpy_scalar":
            return array[()]
        return array
    if kind == "dict":
        result = {}
        for key, value in node["items"]:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise ValueError(f"bad dict key {key!r}")
            result[key] = _decode(value, archive)
        return result
    if kind == "list":
        return [_decode(item, archive) for item in node["items"]]
    if kind == "tuple":
        return tuple(_decode(item, archive) for item in node["items"])
    raise ValueError(f"unknown node type {kind!r}")
