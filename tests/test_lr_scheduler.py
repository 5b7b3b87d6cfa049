"""Learning-rate schedules: values at given steps against their closed forms, and checkpoint round-trips."""
import math

import pytest

import tinygrad_edu as tg
from tinygrad_edu.optim import SGD
from tinygrad_edu.optim.lr_scheduler import CosineAnnealingLR, LinearWarmup, SequentialLR, StepLR, warmup_cosine
from tinygrad_edu.serialization import load, save


def _optimizer(lr=1.0, second_group_lr=None):
    groups = [{"params": [tg.zeros(1, requires_grad=True)]}]
    if second_group_lr is not None:
        groups.append({"params": [tg.zeros(1, requires_grad=True)], "lr": second_group_lr})
    return SGD(groups, lr=lr)


def _lrs(scheduler, steps):
    """lr of group 0 at steps 0 .. steps-1 (construction already took step 0)."""
    values = []
    for _ in range(steps):
        values.append(scheduler.get_last_lr()[0])
        scheduler.step()
    return values


def test_step_lr_values():
    scheduler = StepLR(_optimizer(lr=0.5), step_size=3, gamma=0.1)
    expected = [0.5 * 0.1 ** (t // 3) for t in range(8)]  # 0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.005, 0.005
    assert _lrs(scheduler, 8) == pytest.approx(expected, rel=1e-12)


def test_cosine_annealing_values_and_end_points():
    scheduler = CosineAnnealingLR(_optimizer(lr=0.1), T_max=4, eta_min=0.01)
    values = _lrs(scheduler, 5)
    expected = [0.01 + 0.09 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)]
    assert values == pytest.approx(expected, rel=1e-12)
    assert values[0] == pytest.approx(0.1) and values[2] == pytest.approx(0.055) and values[4] == pytest.approx(0.01)


def test_linear_warmup_values_then_constant():
    scheduler = LinearWarmup(_optimizer(lr=0.3), warmup_steps=4, start_factor=0.25)
    # factor = 0.25 + 0.75·min(t, 4)/4 → 0.25, 0.4375, 0.625, 0.8125, 1, 1
    expected = [0.3 * f for f in (0.25, 0.4375, 0.625, 0.8125, 1.0, 1.0)]
    assert _lrs(scheduler, 6) == pytest.approx(expected, rel=1e-12)


def test_scheduler_writes_lr_into_every_param_group():
    optimizer = _optimizer(lr=1.0, second_group_lr=0.1)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.5)
    scheduler.step()
    assert scheduler.get_last_lr() == pytest.approx([0.5, 0.05])
    assert [group["lr"] for group in optimizer.param_groups] == pytest.approx([0.5, 0.05])
    assert [group["initial_lr"] for group in optimizer.param_groups] == [1.0, 0.1]


def test_sequential_warmup_then_cosine():
    scheduler = warmup_cosine(_optimizer(lr=1.0), warmup_steps=2, total_steps=6, start_factor=0.5)
    cosine = [(1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)]
    assert _lrs(scheduler, 7) == pytest.approx([0.5, 0.75] + cosine, rel=1e-12, abs=1e-15)


def test_scheduler_drives_the_optimizer_update():
    param = tg.tensor([0.0], requires_grad=True)
    optimizer = SGD([param], lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.5)
    for _ in range(3):
        param.grad = tg.ones(1)
        optimizer.step()
        scheduler.step()
    assert param.data[0] == pytest.approx(-(1.0 + 0.5 + 0.25))


@pytest.mark.parametrize("make_scheduler", [
    lambda opt: StepLR(opt, step_size=2, gamma=0.3),
    lambda opt: CosineAnnealingLR(opt, T_max=5, eta_min=0.001),
    lambda opt: LinearWarmup(opt, warmup_steps=5),
    lambda opt: warmup_cosine(opt, warmup_steps=2, total_steps=7),
], ids=["step", "cosine", "warmup", "sequential"])
def test_state_dict_round_trip_continues_the_schedule(make_scheduler, tmp_path):
    optimizer = _optimizer(lr=0.2, second_group_lr=0.02)
    scheduler = make_scheduler(optimizer)
    for _ in range(3):
        scheduler.step()
    save({"optim": optimizer.state_dict(), "sched": scheduler.state_dict()}, tmp_path / "ckpt.npz")
    uninterrupted = [_lrs(scheduler, 1)[0] for _ in range(4)]

    checkpoint = load(tmp_path / "ckpt.npz")
    fresh_optimizer = _optimizer(lr=0.2, second_group_lr=0.02)
    fresh_scheduler = make_scheduler(fresh_optimizer)
    fresh_optimizer.load_state_dict(checkpoint["optim"])
    fresh_scheduler.load_state_dict(checkpoint["sched"])
    resumed = [_lrs(fresh_scheduler, 1)[0] for _ in range(4)]
    assert resumed == uninterrupted
    assert fresh_scheduler.get_last_lr() == scheduler.get_last_lr()
    assert fresh_optimizer.param_groups[1]["lr"] == optimizer.param_groups[1]["lr"]


def test_invalid_arguments():
    with pytest.raises(ValueError, match="step_size"):
        StepLR(_optimizer(), step_size=0)
    with pytest.raises(ValueError, match="T_max"):
        CosineAnnealingLR(_optimizer(), T_max=0)
    with pytest.raises(ValueError, match="start_factor"):
        LinearWarmup(_optimizer(), warmup_steps=3, start_factor=0.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        LinearWarmup(_optimizer(), warmup_steps=0)
    with pytest.raises(ValueError, match="initial_lr"):
        StepLR(_optimizer(), step_size=1, last_epoch=5)
    optimizer = _optimizer()
    with pytest.raises(ValueError, match="milestones"):
        SequentialLR(optimizer, [StepLR(optimizer, 1), StepLR(optimizer, 1)], milestones=[])


@pytest.mark.parametrize("ours, theirs", [
    (lambda opt: StepLR(opt, step_size=3, gamma=0.5),
     lambda torch, opt: torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)),
    (lambda opt: CosineAnnealingLR(opt, T_max=6, eta_min=0.01),
     lambda torch, opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6, eta_min=0.01)),
    (lambda opt: LinearWarmup(opt, warmup_steps=4, start_factor=0.1),
     lambda torch, opt: torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=4)),
    (lambda opt: warmup_cosine(opt, warmup_steps=3, total_steps=10, start_factor=0.2),
     lambda torch, opt: torch.optim.lr_scheduler.SequentialLR(
         opt, [torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.2, total_iters=3),
               torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7)], milestones=[3])),
], ids=["step", "cosine", "warmup", "warmup_cosine"])
def test_matches_pytorch_schedules(ours, theirs):
    torch = pytest.importorskip("torch")
    our_scheduler = ours(_optimizer(lr=0.5))
    their_scheduler = theirs(torch, torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5))
    our_lrs = []
    their_lrs = []
    for _ in range(12):
        our_lrs.append(our_scheduler.get_last_lr()[0])
        their_lrs.append(their_scheduler.get_last_lr()[0])
        our_scheduler.step()
        their_scheduler.optimizer.step()  # PyTorch warns when the scheduler steps before the optimizer
        their_scheduler.step()
    assert our_lrs == pytest.approx(their_lrs, rel=1e-9, abs=1e-12)
