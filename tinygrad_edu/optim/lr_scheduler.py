"""Learning-rate schedules: each sets `group["lr"]` of every param group from a closed form in the step count.

Usage, as in PyTorch: call `scheduler.step()` once per epoch (or per iteration), after `optimizer.step()`.

    optimizer = SGD(model.parameters(), lr=0.1)
    scheduler = StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(...)
        scheduler.step()

Every schedule here is a closed form lr(t) = f(base_lr, t), evaluated fresh at each step, where PyTorch's
`get_lr()` updates the previous lr recursively. The values agree (up to rounding); the closed form is easier to
read, cannot drift, and makes a resumed run identical to an uninterrupted one.

A scheduler remembers each group's starting lr as `group["initial_lr"]` (saved with the optimizer's
state_dict) and counts steps in `last_epoch`; construction already takes step 0, so right after
`StepLR(optimizer, ...)` the lr is lr(0).
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

from tinygrad_edu.optim.optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses define `lr_at(base_lr, epoch)`, the closed form."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        self.optimizer = optimizer
        if last_epoch == -1:
            # The first scheduler on this optimizer records the starting lr; later ones (SequentialLR) reuse it.
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for number, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise ValueError(f"{type(self).__name__}: resuming at last_epoch={last_epoch} needs "
                                     f"'initial_lr' in param group {number}; load the optimizer's state_dict first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr: list[float] = []  # set by step(), below
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError(f"{type(self).__name__} must define lr_at(base_lr, epoch)")

    def get_lrs(self, epoch: int) -> list[float]:
        """The lr of every param group at step `epoch`."""
        return [self.lr_at(base_lr, epoch) for base_lr in self.base_lrs]

    def step(self) -> None:
        """Advance one step and write the new lr into every param group."""
        self.last_epoch += 1
        lrs = self.get_lrs(self.last_epoch)
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = list(lrs)

    def get_last_lr(self) -> list[float]:
        """The lr of every param group as set by the last `step()` (a list, one per group)."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer (which has its own state_dict): plain numbers and lists."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the step count and settings. Like PyTorch, this does not touch the optimizer's lr: load the
        optimizer's state_dict too (it holds the current lr)."""
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """lr(t) = base_lr · gamma^⌊t / step_size⌋: divide the lr by 1/gamma every `step_size` steps.

    >>> import tinygrad_edu as tg
    >>> from tinygrad_edu.optim import SGD
    >>> opt = SGD([tg.zeros(1, requires_grad=True)], lr=1.0)
    >>> scheduler = StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(scheduler.get_last_lr()[0])
    ...     scheduler.step()
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        if int(step_size) != step_size or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size}")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr(t) = eta_min + (base_lr - eta_min) · (1 + cos(π t / T_max)) / 2: half a cosine from base_lr to eta_min.

    Past T_max the cosine continues (the lr climbs back up), exactly as PyTorch's closed form does.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be > 0, got {T_max}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1.0 + math.cos(math.pi * epoch / self.T_max)) / 2.0


class LinearLR(LRScheduler):
    """lr(t) = base_lr · (start_factor + (end_factor - start_factor) · min(t, total_iters) / total_iters).

    A linear ramp of the multiplicative factor from start_factor at step 0 to end_factor at step `total_iters`,
    then constant: PyTorch's LinearLR, same signature and defaults. (PyTorch's `get_lr()` multiplies the previous
    lr by a ratio each step; this is its closed form, `LinearLR._get_closed_form_lr`.)

    >>> import tinygrad_edu as tg
    >>> from tinygrad_edu.optim import SGD
    >>> opt = SGD([tg.zeros(1, requires_grad=True)], lr=1.0)
    >>> scheduler = LinearLR(opt, start_factor=0.25, total_iters=3)
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(scheduler.get_last_lr()[0])
    ...     scheduler.step()
    >>> lrs
    [0.25, 0.5, 0.75, 1.0, 1.0]
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError(f"{type(self).__name__}: Starting multiplicative factor (start_factor) expected to be "
                             f"greater than 0 and less or equal to 1, got {start_factor}")
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError(f"{type(self).__name__}: Ending multiplicative factor (end_factor) expected to be "
                             f"between 0 and 1, got {end_factor}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        progress = min(self.total_iters, epoch) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class LinearWarmup(LinearLR):
    """A linear warm-up from start_factor·base_lr to base_lr over `warmup_steps` steps, then constant:
    `LinearLR(optimizer, start_factor, end_factor=1.0, total_iters=warmup_steps)` under the name the training
    tasks use."""

    def __init__(self, optimizer: Optimizer, warmup_steps: int, start_factor: float = 1.0 / 3.0,
                 last_epoch: int = -1) -> None:
        if int(warmup_steps) != warmup_steps or warmup_steps < 1:
            raise ValueError(f"LinearWarmup: warmup_steps must be a positive integer, got {warmup_steps}")
        super().__init__(optimizer, start_factor, 1.0, int(warmup_steps), last_epoch)

    @property
    def warmup_steps(self) -> int:
        return self.total_iters


class SequentialLR(LRScheduler):
    """Run `schedulers[0]` until `milestones[0]`, then `schedulers[1]` from its own step 0, and so on.

    At global step t, with i = number of milestones ≤ t, the lr is schedulers[i]'s closed form at
    t - milestones[i-1] (or t when i = 0), as PyTorch's SequentialLR restarts each scheduler at its milestone.

    >>> import tinygrad_edu as tg
    >>> from tinygrad_edu.optim import SGD
    >>> opt = SGD([tg.zeros(1, requires_grad=True)], lr=1.0)
    >>> warmup = LinearWarmup(opt, warmup_steps=2, start_factor=0.5)
    >>> cosine = CosineAnnealingLR(opt, T_max=2)
    >>> scheduler = SequentialLR(opt, [warmup, cosine], milestones=[2])
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(round(scheduler.get_last_lr()[0], 3))
    ...     scheduler.step()
    >>> lrs
    [0.5, 0.75, 1.0, 0.5, 0.0]
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int],
                 last_epoch: int = -1) -> None:
        if len(schedulers) == 0 or len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expected len(schedulers) - 1 = {len(schedulers) - 1} milestones, got "
                             f"{len(milestones)}")
        if list(milestones) != sorted(milestones):
            raise ValueError(f"SequentialLR: milestones must be increasing, got {milestones}")
        for scheduler in schedulers:
            if scheduler.optimizer is not optimizer:
                raise ValueError("SequentialLR: every scheduler must drive the same optimizer as SequentialLR")
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        super().__init__(optimizer, last_epoch)

    def get_lrs(self, epoch: int) -> list[float]:
        index = bisect.bisect_right(self._milestones, epoch)
        local_epoch = epoch - self._milestones[index - 1] if index > 0 else epoch
        scheduler = self._schedulers[index]
        # Each sub-scheduler keeps its own last_epoch in step, so its state_dict stays meaningful.
        scheduler.last_epoch = local_epoch
        lrs = scheduler.get_lrs(local_epoch)
        scheduler._last_lr = list(lrs)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        state = {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [scheduler.state_dict() for scheduler in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        saved_schedulers = state.pop("_schedulers")
        if len(saved_schedulers) != len(self._schedulers):
            raise ValueError(f"SequentialLR.load_state_dict: the checkpoint has {len(saved_schedulers)} schedulers, "
                             f"this SequentialLR has {len(self._schedulers)}")
        self.__dict__.update(state)
        for scheduler, saved in zip(self._schedulers, saved_schedulers):
            scheduler.load_state_dict(saved)


def warmup_cosine(optimizer: Optimizer, warmup_steps: int, total_steps: int, start_factor: float = 1.0 / 3.0,
                  eta_min: float = 0.0) -> SequentialLR:
    """Linear warm-up for `warmup_steps`, then cosine decay to `eta_min` at `total_steps`: the usual LM schedule."""
    if not 0 < warmup_steps < total_steps:
        raise ValueError(f"warmup_cosine: need 0 < warmup_steps < total_steps, got {warmup_steps}, {total_steps}")
    warmup = LinearWarmup(optimizer, warmup_steps, start_factor=start_factor)
    cosine = CosineAnnealingLR(optimizer, T_max=total_steps - warmup_steps, eta_min=eta_min)
    return SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_steps])
