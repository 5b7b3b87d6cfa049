"""Optimizers, learning-rate schedules and gradient clipping, with PyTorch's names and update rules.

Read `optimizer.py` (param groups, state, checkpoints) first, then `sgd.py` and `adam.py` (the update
equations), `lr_scheduler.py` and `clip.py`.
"""
from tinygrad_edu.optim import lr_scheduler
from tinygrad_edu.optim.adam import Adam, AdamW
from tinygrad_edu.optim.clip import clip_grad_norm_, clip_grad_value_
from tinygrad_edu.optim.optimizer import Optimizer
from tinygrad_edu.optim.rmsprop import RMSprop
from tinygrad_edu.optim.sgd import SGD

__all__ = ["Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "clip_grad_norm_", "clip_grad_value_", "lr_scheduler"]
