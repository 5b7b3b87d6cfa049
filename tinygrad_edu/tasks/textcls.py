"""`tinygrad-edu train textcls`: sentence classification with a Transformer encoder or a bidirectional LSTM/GRU.

Data: by default, sentences of the Python standard library's docstrings labelled by the family of modules they
come from (text processing, numbers & math, files & os, networking, concurrency; 600 of each, a fixed 20% held
out; see tinygrad_edu/data/textcls.py), or your own `--data FILE`: CSV or TSV with text,label columns (header
optional). Words seen at least --min-freq times in the training split form the vocabulary (<unk> for the rest,
<pad> for padding); batches group sentences of similar length, and a mask keeps the padding out of attention and
pooling. At the end: held-out accuracy, a confusion matrix, and a bag-of-words logistic regression (scikit-learn)
trained on the same split as the baseline to beat.

Predict: `--predict "some text"` (repeatable) classifies the text after training; with `--resume CHECKPOINT` it
only loads the checkpoint (which holds the vocabulary and the label names) and classifies, without data or training.
"""
import hashlib
import json

import numpy as np

import tinygrad_edu as tg
from tinygrad_edu.data.textcls import (
    WordVocabulary,
    pad_batch,
    read_labelled_text,
    stdlib_topic_sentences,
    stratified_split,
    tokenize,
)
from tinygrad_edu.models.textcls import RecurrentTextClassifier, TransformerTextClassifier
from tinygrad_edu.nn import functional as F
from tinygrad_edu.tasks import common
from tinygrad_edu.tasks.early_stopping import VALIDATION_FRACTION, VALIDATION_SEED, EarlyStopping

DEFAULTS = {"epochs": 10, "batch_size": 32, "lr": 3e-3}
LR_DECAY = 0.8  # lr · 0.8^epoch: a function of the epoch alone, so a resumed run continues exactly
BUCKET_BATCHES = 20  # batches per length bucket (see length_bucketed_batches)
EVAL_BATCH = 256
ARCHITECTURE_KEYS = ("arch", "embed", "hidden", "layers", "heads", "max_length", "data_digest")
# --resume: left out, these continue as saved; given, they apply with a note (see RESUME_HELP)
TUNABLE = ("lr", "batch_size", "seed", "weight_decay", "word_dropout", "early_stop")
EARLY_STOP_HELP = ("hold out 10%% of each class of the training sentences for validation, stop after PATIENCE epochs "
                   "without a lower validation loss, and end with the best epoch's weights (printed); the held-out "
                   "test sentences only give the final accuracy")


def configure(parser):
    parser.add_argument("--arch", choices=("transformer", "lstm", "gru"), default="transformer",
                        help="Transformer encoder with mean pooling (default), or a bidirectional LSTM/GRU with max pooling")
    parser.add_argument("--data", metavar="FILE", help="CSV or TSV with text,label columns (header optional); "
                        "default: Python standard-library docstring sentences labelled by topic")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="share of each class held out (default 0.2)")
    parser.add_argument("--min-freq", type=int, default=2, help="keep words seen this often in training (default 2)")
    parser.add_argument("--max-length", type=int, default=64, help="words per sentence; longer ones are cut (default 64)")
    parser.add_argument("--embed", type=int, default=64, help="word-vector size (d_model for the Transformer; default 64)")
    parser.add_argument("--hidden", type=int, default=64, help="RNN state size per direction, and the Dense size (default 64)")
    parser.add_argument("--layers", type=int, default=1, help="Transformer encoder layers (default 1)")
    parser.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    parser.add_argument("--word-dropout", type=float, default=0.25,
                        help="share of training words replaced by <unk> each step: teaches <unk> and regularises (default 0.25)")
    parser.add_argument("--weight-decay", type=float, default=0.05, help="AdamW's decoupled weight decay (default 0.05)")
    parser.add_argument("--predict", metavar="TEXT", action="append",
                        help="classify TEXT (repeatable); with --resume: only load the checkpoint and classify")


# ----- data ------------------------------------------------------------------------------------------------------
def load_data(args):
    """(texts, labels, label_names, source description)."""
    if args.data:
        texts, labels, names = read_labelled_text(args.data)
        return texts, labels, names, args.data
    texts, labels, names = stdlib_topic_sentences()
    return texts, labels, names, "Python standard-library docstring sentences by topic"


def data_digest(vocabulary, label_names, train_texts):
    """A short fingerprint of what the model was trained on: --resume refuses a checkpoint made on other data."""
    blob = json.dumps([vocabulary.words, list(label_names), train_texts]).encode("utf-8")
    return hashlib.sha1(blob).hexdigest()[:16]


def length_bucketed_batches(lengths, batch_size, rng):
    """Lists of row indices: shuffled, then sorted by length within buckets of BUCKET_BATCHES batches, so each batch
    holds sentences of about the same length (little padding), and the batch order shuffled again."""
    order = rng.permutation(len(lengths))
    batches = []
    bucket_rows = batch_size * BUCKET_BATCHES
    for start in range(0, len(order), bucket_rows):
        bucket = order[start:start + bucket_rows]
        bucket = bucket[np.argsort(lengths[bucket], kind="stable")]
        batches += [bucket[i:i + batch_size] for i in range(0, len(bucket), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def drop_words(ids, mask, rate, unk_id, rng):
    """Replace a share `rate` of the real words by <unk> (word dropout, a data-side regulariser)."""
    if rate <= 0:
        return ids
    dropped = (rng.random(ids.shape) < rate) & mask
    return np.where(dropped, unk_id, ids)


def to_tensors(ids, mask, device):
    # Word ids stay on the host (they only index the embedding table); the mask goes where the activations are.
    return tg.Tensor(ids), tg.Tensor(mask, device=device)


# ----- model, evaluation, baseline --------------------------------------------------------------------------------
def build_model(config):
    if config["arch"] == "transformer":
        return TransformerTextClassifier(config["vocab_size"], config["num_classes"], config["max_length"],
                                         d_model=config["embed"], n_heads=config["heads"], n_layers=config["layers"],
                                         dim_feedforward=2 * config["embed"])
    return RecurrentTextClassifier(config["vocab_size"], config["num_classes"], cell=config["arch"],
                                   embedding_dim=config["embed"], hidden_size=config["hidden"],
                                   dense_size=config["hidden"])


@tg.no_grad()
def predict_ids(model, encoded, max_length, device="cpu"):
    """(predicted class (N,), probabilities (N, classes)) for N encoded sentences, batched by length."""
    model.eval()
    order = np.argsort([len(e) for e in encoded], kind="stable")
    probabilities = None
    for start in range(0, len(order), EVAL_BATCH):
        rows = order[start:start + EVAL_BATCH]
        ids, mask = pad_batch([encoded[i] for i in rows], max_length)
        probs = F.softmax(model(*to_tensors(ids, mask, device)), dim=-1).numpy()
        if probabilities is None:
            probabilities = np.zeros((len(encoded), probs.shape[1]), dtype=np.float64)
        probabilities[rows] = probs
    model.train()
    return probabilities.argmax(axis=1), probabilities


def confusion_matrix(true, predicted, num_classes):
    """matrix[t, p] = how many sentences of class t were predicted as p."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (true, predicted), 1)
    return matrix


def format_confusion(matrix, names):
    columns = [name.split()[0][:10] if name.split() else name for name in names]  # "networking" for "networking"
    width = max([len(c) for c in columns] + [len(str(v)) for v in matrix.ravel()]) + 2
    name_width = max(len(n) for n in names)
    lines = [f"confusion matrix (rows: true class, columns: predicted; {matrix.trace()} of {matrix.sum()} on the diagonal)",
             " " * name_width + "".join(f"{c:>{width}}" for c in columns)]
    for name, row in zip(names, matrix):
        lines.append(f"{name:>{name_width}}" + "".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def bag_of_words_baseline(train_texts, train_labels, test_texts, test_labels):
    """Test accuracy of scikit-learn's LogisticRegression on word counts (same tokenizer, same split), or None when
    scikit-learn is not installed."""
    try:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        return None
    vectorizer = CountVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None)
    classifier = LogisticRegression(max_iter=2000)
    classifier.fit(vectorizer.fit_transform(train_texts), train_labels)
    return float((classifier.predict(vectorizer.transform(test_texts)) == test_labels).mean())


def print_predictions(model, vocabulary, label_names, texts, max_length, device):
    encoded = [vocabulary.encode(tokenize(text)) for text in texts]
    predicted, probabilities = predict_ids(model, encoded, max_length, device)
    results = []
    for text, label, probs in zip(texts, predicted, probabilities):
        results.append((label_names[label], float(probs[label])))
        print(f"{text!r} -> {label_names[label]} ({probs[label]:.2f})")
    return results


def predict_from_checkpoint(args):
    """--resume CHECKPOINT --predict TEXT: classify with the saved model; no data, no training."""
    checkpoint = common.load_checkpoint(args.resume, "textcls")
    config = checkpoint["config"]
    model = build_model(config).to(args.device)
    model.load_state_dict(checkpoint["model"])
    vocabulary = WordVocabulary.from_words(config["vocabulary"])
    predictions = print_predictions(model, vocabulary, config["labels"], args.predict, config["max_length"], args.device)
    return {"predictions": predictions}


# ----- training ---------------------------------------------------------------------------------------------------
def _check_args(args):
    if not 0 < args.test_fraction < 1:
        raise ValueError(f"train textcls: --test-fraction must be in (0, 1), got {args.test_fraction}")
    if args.weight_decay < 0:
        raise ValueError(f"train textcls: --weight-decay must be at least 0, got {args.weight_decay}")
    if not 0 <= args.word_dropout < 1:
        raise ValueError(f"train textcls: --word-dropout must be in [0, 1), got {args.word_dropout}")
    for name in ("min_freq", "max_length", "embed", "hidden", "layers", "heads"):
        if getattr(args, name) < 1:
            raise ValueError(f"train textcls: --{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.arch == "transformer" and args.embed % args.heads:
        raise ValueError(f"train textcls: --embed {args.embed} must be divisible by --heads {args.heads}")


class PreparedData:
    """The split, the vocabulary built from its training part, and both parts encoded as word-id arrays."""

    def __init__(self, args):
        texts, labels, self.label_names, self.source = load_data(args)
        train_rows, test_rows = stratified_split(labels, args.test_fraction)
        validation_rows = np.array([], dtype=np.int64)
        if args.early_stop:
            # early stopping chooses on a validation part of the training split; the test split stays unseen
            kept, held = stratified_split(labels[train_rows], VALIDATION_FRACTION, seed=VALIDATION_SEED)
            train_rows, validation_rows = train_rows[kept], train_rows[held]
        self.train_texts, self.test_texts = [texts[i] for i in train_rows], [texts[i] for i in test_rows]
        self.validation_texts = [texts[i] for i in validation_rows]
        self.train_labels, self.test_labels = labels[train_rows], labels[test_rows]
        self.validation_labels = labels[validation_rows]
        train_tokens = [tokenize(t) for t in self.train_texts]
        self.vocabulary = WordVocabulary(train_tokens, min_freq=args.min_freq)
        self.train_encoded = [self.vocabulary.encode(t)[:args.max_length] for t in train_tokens]
        self.test_encoded = [self.vocabulary.encode(tokenize(t))[:args.max_length] for t in self.test_texts]
        self.validation_encoded = [self.vocabulary.encode(tokenize(t))[:args.max_length] for t in self.validation_texts]
        self.train_lengths = np.array([len(e) for e in self.train_encoded])

    def describe(self, min_freq):
        counts = ", ".join(f"{name} {int((self.train_labels == i).sum())}" for i, name in enumerate(self.label_names))
        validation = f" / {len(self.validation_texts)} validation" if self.validation_texts else ""
        return (f"{self.source}: {len(self.train_texts)} train{validation} / {len(self.test_texts)} held-out test "
                f"sentences ({counts}); "
                f"{len(self.vocabulary)} words (min freq {min_freq})")


def train_epoch(model, optimizer, data, args, epoch, progress):
    """One pass over the training split; returns the mean loss."""
    for group in optimizer.param_groups:
        group["lr"] = args.lr * LR_DECAY ** epoch
    epoch_rng = np.random.default_rng([args.seed, epoch])  # batches and word dropout of `epoch`, also when resumed
    losses = []
    for rows in length_bucketed_batches(data.train_lengths, args.batch_size, epoch_rng):
        ids, mask = pad_batch([data.train_encoded[i] for i in rows])
        ids = drop_words(ids, mask, args.word_dropout, data.vocabulary.unk_id, epoch_rng)
        loss = F.cross_entropy(model(*to_tensors(ids, mask, args.device)), data.train_labels[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        progress.update(loss=losses[-1])
    return float(np.mean(losses))


def held_out_accuracy(model, data, args):
    predicted, _ = predict_ids(model, data.test_encoded, args.max_length, args.device)
    return float((predicted == data.test_labels).mean()), predicted


def loss_and_accuracy(model, encoded, labels, args):
    """(mean cross-entropy, accuracy) on encoded sentences with their labels."""
    predicted, probabilities = predict_ids(model, encoded, args.max_length, args.device)
    chosen = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.maximum(chosen, 1e-30)))), float((predicted == labels).mean())


def run(args):
    _check_args(args)
    if args.resume and args.predict:
        common.seed_everything(args.seed)
        return predict_from_checkpoint(args)
    checkpoint = common.prepare_resume(args, "textcls", "epoch", TUNABLE)
    common.seed_everything(args.seed)
    data = PreparedData(args)
    config = {"task": "textcls", "arch": args.arch, "embed": args.embed, "hidden": args.hidden,
              "layers": args.layers, "heads": args.heads, "max_length": args.max_length, "lr": args.lr,
              "batch_size": args.batch_size, "seed": args.seed, "weight_decay": args.weight_decay,
              "word_dropout": args.word_dropout, "early_stop": args.early_stop,
              "vocab_size": len(data.vocabulary), "num_classes": len(data.label_names),
              "vocabulary": data.vocabulary.words, "labels": list(data.label_names),
              "data_digest": data_digest(data.vocabulary, data.label_names, data.train_texts)}
    model = build_model(config).to(args.device)
    # A few thousand sentences are easy to memorise: word dropout and weight decay keep the models from it.
    optimizer = tg.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    start_epoch, log = 0, common.MetricLog(args.log)
    if checkpoint is not None:
        start_epoch = common.resume(args.resume, checkpoint, config, model, optimizer, log,
                                    must_match=ARCHITECTURE_KEYS)["epoch"]
        for group in optimizer.param_groups:
            group["weight_decay"] = args.weight_decay
    if not args.quiet:
        print(f"train textcls: {data.describe(args.min_freq)}; {args.arch}, {model.num_parameters():,} parameters, "
              f"epochs {start_epoch}->{args.epochs}")

    # The per-epoch curve is on the test sentences, unless early stopping chooses an epoch (then on validation ones).
    held_out, held_encoded, held_labels = "test", data.test_encoded, data.test_labels
    if args.early_stop:
        held_out, held_encoded, held_labels = "val", data.validation_encoded, data.validation_labels
    batches_per_epoch = -(-len(data.train_encoded) // args.batch_size)
    progress = common.Progress((args.epochs - start_epoch) * batches_per_epoch, "train textcls", args.quiet)
    stopper = EarlyStopping(args.early_stop, "validation loss", "min", "epoch") if args.early_stop else None
    clock, epochs_done = common.Stopwatch(), start_epoch
    for epoch in range(start_epoch, args.epochs):
        loss = train_epoch(model, optimizer, data, args, epoch, progress)
        held_loss, held_accuracy = loss_and_accuracy(model, held_encoded, held_labels, args)
        progress.update(0, **{f"{held_out}_acc": held_accuracy})
        log.append(epoch=epoch + 1, loss=loss, **{f"{held_out}_loss": held_loss, f"{held_out}_accuracy": held_accuracy})
        epochs_done = epoch + 1
        if stopper is not None and stopper.should_stop(model, held_loss, epochs_done):
            break
    progress.close()
    wall = clock.elapsed()
    if stopper is not None:
        stopper.restore_best(model)
    steps = (epochs_done - start_epoch) * batches_per_epoch
    if args.save:
        common.save_checkpoint(args.save, model, optimizer, {"epoch": epochs_done}, config, log.rows)
    if args.plot and log.rows:
        common.plot_metrics(log.rows, args.plot, "epoch", "train textcls")

    accuracy, predicted = held_out_accuracy(model, data, args)
    matrix = confusion_matrix(data.test_labels, predicted, len(data.label_names))
    baseline = bag_of_words_baseline(data.train_texts, data.train_labels, data.test_texts, data.test_labels)
    if not args.quiet:
        print(format_confusion(matrix, data.label_names))
    if baseline is None:
        versus = " | bag-of-words baseline skipped (needs scikit-learn: pip install 'tinygrad_edu[models]')"
    else:
        verdict = "beaten" if accuracy > baseline else "not beaten"
        versus = f" | bag-of-words logistic regression {baseline:.4f} ({verdict})"
    print(common.summary_line(f"train textcls ({args.arch})", "test accuracy", accuracy, wall, steps, args.device)
          + versus)
    result = {"test_accuracy": accuracy, "baseline_accuracy": baseline, "confusion": matrix, "steps": steps,
              "epochs": epochs_done, "wall": wall, "log": log.rows}
    if args.predict:
        result["predictions"] = print_predictions(model, data.vocabulary, data.label_names, args.predict,
                                                  args.max_length, args.device)
    return result
