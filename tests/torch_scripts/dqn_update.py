"""DQN updates with a target network on random transitions (no environment needed).

Q-learning loss with gather on the taken actions, the target network's max over actions, smooth L1 (Huber)
loss, gradient-norm clipping and a soft (Polyak) target update under no_grad. Weights come from NumPy, so the
loss must match PyTorch's.
"""
import copy
import json
import math
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

STATE_DIM, NUM_ACTIONS = 4, 3
GAMMA, TAU = 0.99, 0.05


def numpy_init_(model, seed=0):
    """Overwrite every weight and bias from NumPy (uniform, PyTorch's fan-in bound), one stream per name."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            if p.dim() > 1:
                bound = 1.0 / math.sqrt(p.size(1))
            else:
                bound = 0.1
            p.copy_(torch.from_numpy(rng.uniform(-bound, bound, size=tuple(p.shape)).astype(np.float32)))


class QNetwork(nn.Module):
    def __init__(self, state_dim=STATE_DIM, num_actions=NUM_ACTIONS, hidden=32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(state_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, num_actions),
        )

    def forward(self, state):
        return self.net(state)


def sample_transitions(rng, batch_size=32):
    states = torch.tensor(rng.standard_normal((batch_size, STATE_DIM)), dtype=torch.float32)
    actions = torch.tensor(rng.integers(0, NUM_ACTIONS, size=batch_size), dtype=torch.long)
    rewards = torch.tensor(rng.standard_normal(batch_size), dtype=torch.float32)
    next_states = torch.tensor(rng.standard_normal((batch_size, STATE_DIM)), dtype=torch.float32)
    dones = torch.tensor(rng.random(batch_size) < 0.1, dtype=torch.float32)
    return states, actions, rewards, next_states, dones


def select_action(policy_net, state, epsilon, rng):
    if rng.random() < epsilon:
        return int(rng.integers(NUM_ACTIONS))
    with torch.no_grad():
        return policy_net(state.unsqueeze(0)).max(1)[1].item()


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    policy_net = QNetwork()
    numpy_init_(policy_net)
    target_net = QNetwork()
    target_net.load_state_dict(policy_net.state_dict())
    target_net.eval()
    optimizer = optim.Adam(policy_net.parameters(), lr=1e-3)

    losses, grad_norms = [], []
    for step in range(40):
        states, actions, rewards, next_states, dones = sample_transitions(rng)

        # Q(s, a) for the actions actually taken
        state_action_values = policy_net(states).gather(1, actions.unsqueeze(1)).squeeze(1)   # (B,)
        with torch.no_grad():
            next_state_values = target_net(next_states).max(1)[0]                              # (B,)
            expected = rewards + GAMMA * next_state_values * (1 - dones)

        loss = F.smooth_l1_loss(state_action_values, expected)
        optimizer.zero_grad()
        loss.backward()
        total_norm = nn.utils.clip_grad_norm_(policy_net.parameters(), max_norm=0.2)
        optimizer.step()

        # soft update: theta_target <- tau * theta + (1 - tau) * theta_target
        with torch.no_grad():
            for tp, p in zip(target_net.parameters(), policy_net.parameters()):
                tp.copy_(TAU * p + (1 - TAU) * tp)

        losses.append(loss.item())
        grad_norms.append(float(total_norm))

    # the same update written with the other common spellings
    huber = nn.HuberLoss()(state_action_values, expected).item()
    best_values = target_net(next_states).max(dim=1).values
    greedy = [select_action(policy_net, s, epsilon=0.0, rng=rng) for s in next_states[:5]]

    # a hard update, as many DQN implementations do every N steps
    frozen = copy.deepcopy(policy_net)
    frozen_matches = all(torch.equal(a, b) for a, b in zip(frozen.parameters(), policy_net.parameters()))

    return {
        "first_loss": losses[0],
        "final_loss": losses[-1],
        "mean_loss": sum(losses) / len(losses),
        "grad_norms_head": grad_norms[:5],
        "huber_equals_smooth_l1": abs(huber - losses[-1]) < 1e-6,
        "best_values_sum": best_values.sum().item(),
        "target_param_abs_sum": sum(p.abs().sum().item() for p in target_net.parameters()),
        "greedy_actions": greedy,
        "frozen_matches": frozen_matches,
    }


if __name__ == "__main__":
    print(json.dumps(main()))
