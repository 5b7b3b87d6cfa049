"""`tinygrad-edu train transformer`: a decoder-only Transformer on digit sorting (default) or character-level text.

--task sort: read L random digits, a separator, then write them in sorted order. Only attention can solve it
(each output digit depends on the whole input), and success is exact-sequence accuracy with greedy decoding.
--task lm:   next-character prediction on --text PATH, by default the docstrings of Python's standard library
(always there, offline); `tinygrad-edu sample CHECKPOINT` then writes text in that style.
"""
import os

import numpy as np

import tinygrad_edu as tg
from tinygrad_edu.data import CharVocabulary, stdlib_docstrings
from tinygrad_edu.models import DecoderTransformer
from tinygrad_edu.nn import functional as F
from tinygrad_edu.tasks import common
from tinygrad_edu.tasks.early_stopping import EarlyStopping

DEFAULTS = {"steps": 900, "batch_size": 64, "lr": 2e-3}
TUNABLE = ("lr", "batch_size", "seed", "early_stop")  # --resume: left out, they continue as saved (see RESUME_HELP)
EARLY_STOP_HELP = ("stop after PATIENCE evaluations (one every --steps/10 steps) without a better validation metric "
                   "(sort: exact-sequence accuracy on fresh validation sequences; lm: loss on the held-out last 10%% "
                   "of the text), and end with the best evaluation's weights (printed)")
SEPARATOR = 10  # token id after the ten digits
IGNORE = -100


def configure(parser):
    parser.add_argument("--task", choices=("sort", "lm"), default="sort", help="sort digits (default) or a character language model")
    parser.add_argument("--text", metavar="PATH", help="text file for --task lm (default: Python standard-library docstrings)")
    parser.add_argument("--length", type=int, default=6, help="digits per sequence for --task sort (default 6)")
    parser.add_argument("--block-size", type=int, default=64, help="context length for --task lm (default 64)")
    parser.add_argument("--d-model", type=int, default=64, help="model width (default 64)")
    parser.add_argument("--layers", type=int, default=2, help="Transformer blocks (default 2)")
    parser.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")


def sort_batch(batch_size, length, rng):
    """(inputs (N, 2L), targets (N, 2L)): targets are the next tokens, ignored except where the sorted digits are."""
    digits = rng.integers(0, 10, (batch_size, length))
    sequence = np.concatenate([digits, np.full((batch_size, 1), SEPARATOR), np.sort(digits, axis=1)], axis=1)
    inputs, targets = sequence[:, :-1], sequence[:, 1:].copy()
    targets[:, :length] = IGNORE  # the unsorted digits are random: nothing to learn there
    return inputs, targets


@tg.no_grad()
def sort_accuracy(model, length, rng, count=1000):
    """Exact-sequence accuracy of greedy decoding: the model writes all L sorted digits itself."""
    model.eval()
    digits = rng.integers(0, 10, (count, length))
    prompt = np.concatenate([digits, np.full((count, 1), SEPARATOR)], axis=1)
    written = model.generate(prompt, length, greedy=True)[:, length + 1:]
    model.train()
    return float(np.mean(np.all(written == np.sort(digits, axis=1), axis=1)))


def text_batch(encoded, batch_size, block_size, rng):
    starts = rng.integers(0, len(encoded) - block_size - 1, batch_size)
    windows = np.stack([encoded[s:s + block_size + 1] for s in starts])
    return windows[:, :-1], windows[:, 1:]


@tg.no_grad()
def text_loss(model, encoded, block_size, rng, batches=8, batch_size=64):
    model.eval()
    losses = []
    for _ in range(batches):
        inputs, targets = text_batch(encoded, batch_size, block_size, rng)
        logits = model(tg.Tensor(inputs))  # token ids stay on the host: they only index the embedding tables
        losses.append(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).item())
    model.train()
    return float(np.mean(losses))


def _load_text(path):
    if path is None:
        return stdlib_docstrings(), "Python standard-library docstrings"
    if not os.path.exists(path):
        raise FileNotFoundError(f"--text: file {path} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"--text: {path} is a directory; expected a UTF-8 text file")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if len(text) < 1000:
        raise ValueError(f"--text: {path} has {len(text)} characters; need at least 1000 to train on")
    return text, path


def run(args):
    checkpoint = common.prepare_resume(args, "transformer", "step", TUNABLE)
    common.seed_everything(args.seed)
    config = {"task": "transformer", "mode": args.task, "d_model": args.d_model, "layers": args.layers,
              "heads": args.heads, "lr": args.lr, "batch_size": args.batch_size, "seed": args.seed,
              "early_stop": args.early_stop}
    if args.task == "sort":
        if not 1 <= args.length <= 32:
            raise ValueError(f"train transformer: --length must be in [1, 32], got {args.length}")
        vocab_size, block_size = 11, 2 * args.length
        config.update(length=args.length)
        description = f"sort {args.length} digits"
    else:
        text, source = _load_text(args.text)
        vocabulary = CharVocabulary(text)
        encoded = vocabulary.encode(text)
        split = int(0.9 * len(encoded))
        train_ids, val_ids = encoded[:split], encoded[split:]
        vocab_size, block_size = len(vocabulary), args.block_size
        if len(val_ids) <= block_size + 1:
            raise ValueError(f"--text: {source} is too short for --block-size {block_size}")
        config.update(chars="".join(vocabulary.chars))
        description = f"character LM on {source} ({len(text):,} chars, {vocab_size} symbols)"
    config.update(vocab_size=vocab_size, block_size=block_size)
    model = DecoderTransformer(vocab_size, block_size, d_model=args.d_model, n_heads=args.heads, n_layers=args.layers)
    model.to(args.device)
    optimizer = tg.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    start_step, log = 0, common.MetricLog(args.log)
    if checkpoint is not None:
        architecture = ("mode", "d_model", "layers", "heads", "vocab_size", "block_size")
        start_step = common.resume(args.resume, checkpoint, config, model, optimizer, log,
                                   must_match=architecture)["step"]
    # A warm-up that does not depend on --steps, so a run resumed with a larger --steps continues exactly as an
    # uninterrupted one would (a cosine decay to --steps would not).
    schedule = tg.optim.lr_scheduler.LinearWarmup(optimizer, warmup_steps=50, start_factor=0.1)
    for _ in range(start_step):
        schedule.step()
    if not args.quiet:
        print(f"train transformer: {description}, {model.num_parameters():,} parameters")

    progress = common.Progress(args.steps - start_step, "train transformer", args.quiet)
    clock, step_done = common.Stopwatch(), start_step
    evaluate_every = max(args.steps // 10, 1)
    metric_name = "exact-sequence accuracy" if args.task == "sort" else "validation loss (nats/char)"
    metric_key = "val_accuracy" if args.task == "sort" else "val_loss"  # the log's column and the bar's name
    stopper = None
    if args.early_stop:
        if args.task == "sort":
            stopper = EarlyStopping(args.early_stop, "validation exact-sequence accuracy", "max", "step")
        else:
            stopper = EarlyStopping(args.early_stop, "validation loss", "min", "step")
    eval_rng_seed = [args.seed, 10**9]  # the validation draws; the final sort accuracy uses fresh ones (10**9 + 1)
    metric = float("nan")
    for step in range(start_step, args.steps):
        batch_rng = np.random.default_rng([args.seed, step])  # batch `step` is the same in a resumed run
        if args.task == "sort":
            inputs, targets = sort_batch(args.batch_size, args.length, batch_rng)
        else:
            inputs, targets = text_batch(train_ids, args.batch_size, block_size, batch_rng)
        logits = model(tg.Tensor(inputs))  # (B, T, vocab) on the model's device; the ids only index embeddings
        loss = F.cross_entropy(logits.reshape(-1, vocab_size), targets.reshape(-1), ignore_index=IGNORE)
        optimizer.zero_grad()
        loss.backward()
        tg.optim.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        progress.update(loss=loss.item())
        step_done = step + 1
        if step_done % evaluate_every == 0 or step_done == args.steps:
            if args.task == "sort":
                metric = sort_accuracy(model, args.length, np.random.default_rng(eval_rng_seed), count=500)
            else:
                metric = text_loss(model, val_ids, block_size, np.random.default_rng(eval_rng_seed))
            progress.update(0, **{metric_key: metric})
            log.append(step=step_done, loss=loss.item(), **{metric_key: metric})
            if stopper is not None and stopper.should_stop(model, metric, step_done):
                break
    progress.close()
    wall = clock.elapsed()
    if stopper is not None:
        stopper.restore_best(model)
    if args.task == "sort":
        metric = sort_accuracy(model, args.length, np.random.default_rng([args.seed, 10**9 + 1]), count=1000)
    elif stopper is not None:  # the restored weights' loss (the best evaluation's, recomputed)
        metric = text_loss(model, val_ids, block_size, np.random.default_rng(eval_rng_seed))
    if args.save:
        common.save_checkpoint(args.save, model, optimizer, {"step": step_done}, config, log.rows)
    if args.plot and log.rows:
        common.plot_metrics(log.rows, args.plot, "step", "train transformer")
    print(common.summary_line("train transformer", metric_name, metric, wall, step_done - start_step, args.device))
    if args.task == "lm" and not args.quiet:
        sample_ids = model.generate(vocabulary.encode(text[:8])[None], 120, temperature=0.8)[0]
        print("sample:", repr(vocabulary.decode(sample_ids)))
    return {"metric": metric, "steps": step_done, "wall": wall, "log": log.rows}


def sample(args):
    """`tinygrad-edu sample CHECKPOINT`: generate text from a `train transformer --task lm` checkpoint."""
    common.seed_everything(args.seed)
    checkpoint = common.load_checkpoint(args.checkpoint, "transformer")
    config = checkpoint["config"]
    if config.get("mode") != "lm":
        raise ValueError(f"sample: {args.checkpoint} is a '{config.get('mode')}' checkpoint; sampling needs --task lm")
    vocabulary = CharVocabulary(config["chars"])
    model = DecoderTransformer(config["vocab_size"], config["block_size"], d_model=config["d_model"],
                               n_heads=config["heads"], n_layers=config["layers"])
    model.load_state_dict(checkpoint["model"])
    model.eval()
    prompt = vocabulary.encode(args.prompt) if args.prompt else np.array([0], dtype=np.int64)
    tokens = model.generate(prompt[None], args.tokens, temperature=args.temperature)[0]
    print(vocabulary.decode(tokens))
    return 0
