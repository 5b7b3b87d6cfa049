"""`tinygrad-edu train cnn`: the ConvNet on scikit-learn's 8×8 digits (default) or MNIST IDX files (--data DIR)."""
import numpy as np

import tinygrad_edu as tg
from tinygrad_edu.data import DataLoader, TensorDataset, load_digits_split, load_mnist
from tinygrad_edu.models import ConvNet
from tinygrad_edu.nn import functional as F
from tinygrad_edu.tasks import common
from tinygrad_edu.tasks.early_stopping import EarlyStopping, validation_split

DEFAULTS = {"epochs": 30, "batch_size": 64, "lr": 3e-3}
TUNABLE = ("lr", "batch_size", "seed", "early_stop")  # --resume: left out, they continue as saved (see RESUME_HELP)
EARLY_STOP_HELP = ("hold out 10%% of the training images for validation, stop after PATIENCE epochs without a lower "
                   "validation loss, and end with the best epoch's weights (printed); the test images only give "
                   "the final accuracy")


def configure(parser):
    parser.add_argument("--data", metavar="DIR", help="directory with MNIST's four IDX files, gzipped or raw "
                        "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                        "t10k-labels-idx1-ubyte); default: scikit-learn's 8x8 digits")


@tg.no_grad()
def evaluate(model, images, labels, batch_size=DEFAULTS["batch_size"], device="cpu"):
    """(mean cross-entropy, accuracy) of `model` on the images, in eval mode.

    `run` evaluates in batches of the training batch size: the kernels then take the same compiled variants as
    the training steps (kernels/cpu/variants.py), where a larger batch would cross a serial/parallel threshold
    and compile a second variant of the convolution and pooling kernels on a cold cache (seconds each).
    """
    model.eval()
    correct, total_loss = 0, 0.0
    for start in range(0, len(images), batch_size):
        batch_labels = labels[start:start + batch_size]
        logits = model(tg.Tensor(images[start:start + batch_size], device=device))
        total_loss += F.cross_entropy(logits, batch_labels).item() * len(batch_labels)
        correct += int((logits.numpy().argmax(axis=1) == batch_labels).sum())
    model.train()
    return total_loss / len(images), correct / len(images)


def accuracy(model, images, labels, batch_size=DEFAULTS["batch_size"], device="cpu"):
    return evaluate(model, images, labels, batch_size, device)[1]


def run(args):
    checkpoint = common.prepare_resume(args, "cnn", "epoch", TUNABLE)
    common.seed_everything(args.seed)  # the data order comes from (seed, epoch): a resumed run sees the same batches
    if args.data:
        train_x, train_y, test_x, test_y = load_mnist(args.data)
        image_size, source = 28, f"MNIST ({args.data})"
    else:
        train_x, train_y, test_x, test_y = load_digits_split()
        image_size, source = 8, "8x8 digits (scikit-learn)"
    # The per-epoch curve is on the test images, unless early stopping chooses an epoch: then on a validation part
    # of the training images, so the test accuracy stays a fair estimate.
    held_out, held_x, held_y = "test", test_x, test_y
    if args.early_stop:
        train_rows, validation_rows = validation_split(len(train_x))
        held_out, held_x, held_y = "val", train_x[validation_rows], train_y[validation_rows]
        train_x, train_y = train_x[train_rows], train_y[train_rows]
    config = {"task": "cnn", "image_size": image_size, "lr": args.lr, "batch_size": args.batch_size, "seed": args.seed,
              "early_stop": args.early_stop}
    model = ConvNet(image_size=image_size).to(args.device)
    optimizer = tg.optim.Adam(model.parameters(), lr=args.lr)
    start_epoch, log = 0, common.MetricLog(args.log)
    if checkpoint is not None:
        start_epoch = common.resume(args.resume, checkpoint, config, model, optimizer, log,
                                    must_match=("image_size",))["epoch"]
    if not args.quiet:
        validation = f", {len(held_x)} of them held out for validation" if args.early_stop else ""
        print(f"train cnn: {source}, {len(train_x) + (len(held_x) if args.early_stop else 0)} train{validation} / "
              f"{len(test_x)} test images, {model.num_parameters():,} parameters, epochs {start_epoch}->{args.epochs}")

    dataset = TensorDataset(train_x, train_y)
    batches_per_epoch = -(-len(dataset) // args.batch_size)
    progress = common.Progress((args.epochs - start_epoch) * batches_per_epoch, "train cnn", args.quiet)
    stopper = EarlyStopping(args.early_stop, "validation loss", "min", "epoch") if args.early_stop else None
    clock, steps, epochs_done = common.Stopwatch(), 0, start_epoch
    for epoch in range(start_epoch, args.epochs):
        loader = DataLoader(dataset, args.batch_size, shuffle=True, generator=np.random.default_rng([args.seed, epoch]))
        total_loss = 0.0
        for images, labels in loader:
            loss = F.cross_entropy(model(images.to(args.device)), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item()
            steps += 1
            progress.update(loss=loss.item())
        held_loss, held_accuracy = evaluate(model, held_x, held_y, args.batch_size, args.device)
        progress.update(0, **{f"{held_out}_acc": held_accuracy})
        log.append(epoch=epoch + 1, loss=total_loss / batches_per_epoch,
                   **{f"{held_out}_loss": held_loss, f"{held_out}_accuracy": held_accuracy})
        epochs_done = epoch + 1
        if stopper is not None and stopper.should_stop(model, held_loss, epochs_done):
            break
    progress.close()
    wall = clock.elapsed()
    if stopper is not None:
        stopper.restore_best(model)
    if args.save:
        common.save_checkpoint(args.save, model, optimizer, {"epoch": epochs_done}, config, log.rows)
    if args.plot and log.rows:
        common.plot_metrics(log.rows, args.plot, "epoch", "train cnn")
    test_accuracy = accuracy(model, test_x, test_y, args.batch_size, args.device)
    print(common.summary_line("train cnn", "test accuracy", test_accuracy, wall, steps, args.device))
    return {"test_accuracy": test_accuracy, "steps": steps, "epochs": epochs_done, "wall": wall, "log": log.rows,
            "model": model}
