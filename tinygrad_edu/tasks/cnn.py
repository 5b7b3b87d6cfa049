"""`tinygrad-edu train cnn`: the ConvNet on scikit-learn's 8×8 digits (default) or MNIST IDX files (--data DIR)."""
import numpy as np

import tinygrad_edu as tg
from tinygrad_edu.data import DataLoader, TensorDataset, load_digits_split, load_mnist
from tinygrad_edu.models import ConvNet
from tinygrad_edu.nn import functional as F
from tinygrad_edu.tasks import common

DEFAULTS = {"epochs": 30, "batch_size": 64, "lr": 3e-3}


def configure(parser):
    parser.add_argument("--data", metavar="DIR", help="directory with the MNIST IDX files (gz or raw); default: 8x8 digits")


@tg.no_grad()
def accuracy(model, images, labels, batch_size=512, device="cpu"):
    model.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = model(tg.Tensor(images[start:start + batch_size], device=device))
        correct += int((logits.numpy().argmax(axis=1) == labels[start:start + batch_size]).sum())
    model.train()
    return correct / len(images)


def run(args):
    seed_rng = common.seed_everything(args.seed)
    del seed_rng  # the data order comes from (seed, epoch) so that a resumed run sees the same batches
    if args.data:
        train_x, train_y, test_x, test_y = load_mnist(args.data)
        image_size, source = 28, f"MNIST ({args.data})"
    else:
        train_x, train_y, test_x, test_y = load_digits_split()
        image_size, source = 8, "8x8 digits (scikit-learn)"
    config = {"task": "cnn", "image_size": image_size, "lr": args.lr, "batch_size": args.batch_size, "seed": args.seed}
    model = ConvNet(image_size=image_size).to(args.device)
    optimizer = tg.optim.Adam(model.parameters(), lr=args.lr)
    start_epoch, log = 0, common.MetricLog(args.log)
    if args.resume:
        start_epoch = common.resume(args.resume, config, model, optimizer, log, must_match=("image_size",))["epoch"]
    if not args.quiet:
        print(f"train cnn: {source}, {len(train_x)} train / {len(test_x)} test images, "
              f"{model.num_parameters():,} parameters, epochs {start_epoch}->{args.epochs}")

    dataset = TensorDataset(train_x, train_y)
    batches_per_epoch = -(-len(dataset) // args.batch_size)
    progress = common.Progress((args.epochs - start_epoch) * batches_per_epoch, "train cnn", args.quiet)
    clock, steps, test_accuracy = common.Stopwatch(), 0, float("nan")
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
        test_accuracy = accuracy(model, test_x, test_y, device=args.device)
        progress.update(0, test_acc=test_accuracy)
        log.append(epoch=epoch + 1, loss=total_loss / batches_per_epoch, test_accuracy=test_accuracy)
    progress.close()
    wall = clock.elapsed()
    if args.save:
        common.save_checkpoint(args.save, model, optimizer, {"epoch": args.epochs}, config, log.rows)
    if args.plot and log.rows:
        common.plot_metrics(log.rows, args.plot, "epoch", "train cnn")
    if start_epoch >= args.epochs:
        test_accuracy = accuracy(model, test_x, test_y, device=args.device)
    print(common.summary_line("train cnn", "test accuracy", test_accuracy, wall, steps, args.device))
    return {"test_accuracy": test_accuracy, "steps": steps, "wall": wall, "log": log.rows}
