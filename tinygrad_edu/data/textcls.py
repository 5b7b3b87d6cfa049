"""Labelled sentences for text classification: a default corpus that is always there offline, a reader for your own
CSV/TSV file, a word vocabulary and padding with masks.

The default corpus: sentences of the docstrings of Python's own standard library, labelled by the family of modules
they come from (`TOPICS`). It ships with every Python, needs no download, is real English prose written by many
people, and the topics are hard enough that a model has to read words in context ("stream", "buffer", "lock" and
"future" appear in several families). It is deterministic for a given Python version: files are read in sorted
order, sentences are deduplicated in reading order, and each topic is subsampled with a fixed generator. A
different Python version ships different docstrings, so the exact sentences (and accuracies) can differ by version.
"""
import ast
import csv
import os
import re
import sysconfig
from collections import Counter

import numpy as np

# label -> standard-library modules or packages (relative paths without .py) whose docstrings it takes.
TOPICS = {
    "text processing": ("string", "re", "textwrap", "difflib", "codecs", "csv", "html", "gettext", "locale", "shlex",
                        "tokenize", "base64", "quopri", "xml", "json", "pprint"),
    "numbers & math": ("statistics", "_pydecimal", "fractions", "random", "numbers", "colorsys"),
    "files & os": ("os", "pathlib", "shutil", "glob", "tempfile", "fnmatch", "filecmp", "zipfile", "tarfile",
                   "genericpath", "posixpath", "ntpath", "fileinput", "stat", "gzip", "bz2", "lzma"),
    "networking": ("socket", "http", "urllib", "email", "smtplib", "ftplib", "imaplib", "poplib", "ssl",
                   "socketserver", "mailbox", "ipaddress"),
    "concurrency": ("threading", "multiprocessing", "asyncio", "queue", "concurrent", "sched", "selectors",
                    "subprocess"),
}
SENTENCES_PER_TOPIC = 600
CORPUS_SEED = 1234  # fixed: the corpus and its split do not change with --seed, so seeds compare on one split
MIN_WORDS, MAX_WORDS = 5, 40
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
PAD, UNK = "<pad>", "<unk>"
_HEADER_TEXT = {"text", "sentence", "document", "review", "content"}
_HEADER_LABEL = {"label", "labels", "class", "category", "target", "topic"}


def tokenize(text):
    """Lower-cased words and numbers; punctuation is dropped.

    >>> tokenize("Return the file's size, in bytes (an int).")
    ['return', 'the', "file's", 'size', 'in', 'bytes', 'an', 'int']
    """
    return _WORD.findall(text.lower())


# ----- the default corpus ---------------------------------------------------------------------------------------
def _source_files(stdlib, module):
    """The .py files of a module or package under `stdlib`, in sorted order (tests/ folders skipped)."""
    path = os.path.join(stdlib, module)
    if os.path.isdir(path):
        found = []
        for root, folders, names in os.walk(path):
            folders[:] = sorted(f for f in folders if f not in ("__pycache__", "test", "tests"))
            found += [os.path.join(root, name) for name in sorted(names) if name.endswith(".py")]
        return found
    return [path + ".py"] if os.path.isfile(path + ".py") else []


def _docstring_sentences(doc):
    """Prose sentences of a docstring: paragraphs with code (>>> or indented lines) are skipped."""
    for paragraph in re.split(r"\n\s*\n", doc):
        lines = paragraph.splitlines()
        if any(line.startswith((" ", "\t")) or line.lstrip().startswith((">>>", "...")) for line in lines):
            continue
        for sentence in _SENTENCE_END.split(" ".join(line.strip() for line in lines)):
            words = sentence.split()
            letters_only = [w for w in words if w.isalpha() or w[:-1].isalpha()]
            # Keep prose: 5-40 words, mostly plain words (not signatures, tables or paths).
            if MIN_WORDS <= len(words) <= MAX_WORDS and len(letters_only) >= 0.7 * len(words):
                yield sentence


def _topic_sentences(stdlib, modules):
    seen = {}  # a dict keeps first-seen order and drops duplicates
    for module in modules:
        for path in _source_files(stdlib, module):
            try:
                with open(path, encoding="utf-8") as handle:
                    tree = ast.parse(handle.read())
            except (OSError, SyntaxError, UnicodeDecodeError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    for sentence in _docstring_sentences(doc or ""):
                        seen.setdefault(sentence, None)
    return list(seen)


def stdlib_topic_sentences(per_topic=SENTENCES_PER_TOPIC, stdlib=None):
    """(texts, labels, label_names): up to `per_topic` docstring sentences of each family in `TOPICS`.

    labels are ints indexing label_names. The same Python always gives the same list, in the same order.
    A sentence that occurs in two families is dropped from both (its label would be ambiguous).
    """
    stdlib = stdlib or sysconfig.get_paths()["stdlib"]
    names = list(TOPICS)
    per_label = [_topic_sentences(stdlib, TOPICS[name]) for name in names]
    counts = Counter(s for sentences in per_label for s in sentences)
    texts, labels = [], []
    rng = np.random.default_rng(CORPUS_SEED)
    for label, sentences in enumerate(per_label):
        unique = [s for s in sentences if counts[s] == 1]
        if len(unique) < 50:
            raise RuntimeError(f"stdlib_topic_sentences: found only {len(unique)} sentences for {names[label]!r} "
                               f"under {stdlib}; pass --data FILE")
        if len(unique) > per_topic:
            keep = np.sort(rng.choice(len(unique), per_topic, replace=False))
            unique = [unique[i] for i in keep]
        texts += unique
        labels += [label] * len(unique)
    return texts, np.array(labels, dtype=np.int64), names


# ----- your own data ---------------------------------------------------------------------------------------------
def _is_header(row):
    return len(row) == 2 and row[0].strip().lower() in _HEADER_TEXT and row[1].strip().lower() in _HEADER_LABEL


def read_labelled_text(path):
    """(texts, labels, label_names) from a CSV or TSV file with two columns: text, label.

    TSV when the file name ends in .tsv/.tab or its first line has a tab; else CSV (quote a text that contains a
    comma: "like, this",label). The first row is a header, and skipped, when it reads e.g. `text,label` (first
    column one of text/sentence/document/review/content, second one of label/labels/class/category/target/topic;
    any case). Empty lines are skipped. A row without exactly two non-empty fields raises a ValueError naming the
    file and line. label_names are sorted, so the same file always gives the same ids.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"--data: file {path} does not exist (expected a CSV or TSV file of text,label rows)")
    if os.path.isdir(path):
        raise IsADirectoryError(f"--data: {path} is a directory; expected a CSV or TSV file of text,label rows")
    with open(path, encoding="utf-8", newline="") as handle:
        first_line = handle.readline()
        handle.seek(0)
        is_tsv = path.lower().endswith((".tsv", ".tab")) or "\t" in first_line
        delimiter = "\t" if is_tsv else ","
        reader = csv.reader(handle, delimiter=delimiter)
        rows, first_row = [], True
        for row in reader:
            if not row or all(not field.strip() for field in row):
                continue
            if first_row and _is_header(row):
                first_row = False
                continue
            first_row = False
            if len(row) != 2 or not row[0].strip() or not row[1].strip():
                kind = "TSV" if is_tsv else "CSV"
                hint = "" if is_tsv else " (quote a text that contains a comma)"
                raise ValueError(f"--data: {path}, line {reader.line_num}: expected 2 non-empty columns text{delimiter}label "
                                 f"in this {kind} file, found {len(row)} field(s): {row!r}"[:300] + hint)
            rows.append((row[0].strip(), row[1].strip()))
    label_names = sorted({label for _, label in rows})
    if len(label_names) < 2:
        raise ValueError(f"--data: {path} has {len(rows)} rows and {len(label_names)} distinct label(s); need at least 2")
    index = {name: i for i, name in enumerate(label_names)}
    texts = [text for text, _ in rows]
    labels = np.array([index[label] for _, label in rows], dtype=np.int64)
    return texts, labels, label_names


def stratified_split(labels, test_fraction=0.2, seed=CORPUS_SEED):
    """(train_indices, test_indices): `test_fraction` of each class held out (at least one row of each class that
    has two or more), chosen by a fixed generator; both sorted."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"stratified_split: test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    test = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        held_out = int(round(test_fraction * len(members)))
        held_out = min(max(held_out, 1), len(members) - 1) if len(members) > 1 else 0
        test += list(rng.choice(members, held_out, replace=False))
    test = np.sort(np.array(test, dtype=np.int64))
    train = np.setdiff1d(np.arange(len(labels)), test)
    if len(test) == 0 or len(train) == 0:
        raise ValueError(f"stratified_split: {len(labels)} rows are too few to hold out a test split")
    return train, test


# ----- vocabulary and padding -----------------------------------------------------------------------------------
class WordVocabulary:
    """Word -> id, built from training sentences: id 0 is <pad>, 1 is <unk> (any word not kept), then the words seen
    at least `min_freq` times, most frequent first (ties alphabetically, so the order is deterministic).

    >>> vocab = WordVocabulary([["a", "b", "a"], ["a", "c"]], min_freq=2)
    >>> vocab.words, vocab.encode(["a", "c", "z"]).tolist()
    (['<pad>', '<unk>', 'a'], [2, 1, 1])
    """

    def __init__(self, token_lists, min_freq=2, max_size=None):
        if min_freq < 1:
            raise ValueError(f"WordVocabulary: min_freq must be at least 1, got {min_freq}")
        counts = Counter(token for tokens in token_lists for token in tokens)
        kept = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        if max_size is not None:
            kept = kept[:max(max_size - 2, 0)]
        self.words = [PAD, UNK] + kept
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def from_words(cls, words):
        """The vocabulary saved in a checkpoint (its `words` list) back as a WordVocabulary."""
        if list(words[:2]) != [PAD, UNK]:
            raise ValueError(f"WordVocabulary.from_words: the list must start with {PAD!r}, {UNK!r}; got {list(words[:2])}")
        vocabulary = cls([], min_freq=1)
        vocabulary.words = list(words)
        vocabulary.index = {w: i for i, w in enumerate(vocabulary.words)}
        return vocabulary

    def __len__(self):
        return len(self.words)

    @property
    def pad_id(self):
        return 0

    @property
    def unk_id(self):
        return 1

    def encode(self, tokens):
        return np.array([self.index.get(t, 1) for t in tokens], dtype=np.int64)


def pad_batch(sequences, max_length=None, pad_id=0):
    """(ids (B, T) int64, mask (B, T) bool) from B id arrays: rows padded at the end with `pad_id` up to the longest
    (at most `max_length`, longer rows are cut); mask is True at real tokens. An empty row keeps one <pad> token
    marked real, so every row has something to pool over.

    >>> ids, mask = pad_batch([np.array([5, 6, 7]), np.array([8])])
    >>> ids.tolist(), mask.tolist()
    ([[5, 6, 7], [8, 0, 0]], [[True, True, True], [True, False, False]])
    """
    lengths = [max(min(len(s), max_length or len(s)), 1) for s in sequences]
    width = max(lengths)
    ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(sequences), width), dtype=bool)
    for row, (sequence, length) in enumerate(zip(sequences, lengths)):
        ids[row, :min(len(sequence), length)] = sequence[:length]
        mask[row, :length] = True
    return ids, mask
