"""Character-level text: a vocabulary, encoding, and a default corpus that is always there offline."""
import ast
import os
import sysconfig

import numpy as np

DEFAULT_MODULES = ("functools", "itertools", "collections/__init__", "json/__init__", "textwrap", "string", "random", "heapq", "bisect", "statistics", "fractions", "difflib")


def stdlib_docstrings(max_chars=200_000):
    """Docstrings of a fixed list of Python standard-library modules: English prose shipped with every Python."""
    stdlib = sysconfig.get_paths()["stdlib"]
    pieces = []
    for module in DEFAULT_MODULES:
        path = os.path.join(stdlib, module + ".py")
        try:
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read())
        except (OSError, SyntaxError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    pieces.append(doc.strip())
    text = "\n\n".join(pieces)
    if not text:
        raise RuntimeError(f"stdlib_docstrings: found no standard-library sources under {stdlib}; pass --text PATH")
    return text[:max_chars]


class CharVocabulary:
    """Maps each distinct character of a text to an integer id and back."""

    def __init__(self, chars):
        self.chars = sorted(set(chars))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        unknown = set(text) - set(self.index)
        if unknown:
            raise ValueError(f"CharVocabulary.encode: characters not in the vocabulary: {sorted(unknown)[:10]}")
        return np.array([self.index[c] for c in text], dtype=np.int64)

    def decode(self, ids):
        return "".join(self.chars[int(i)] for i in ids)
