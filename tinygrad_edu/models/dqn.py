"""Deep Q-learning pieces: the Q-network, the online/target/best bundle, the replay buffer and the TD target.

The update that `tinygrad-edu train dqn` makes, for a mini-batch of transitions (s, a, r, s', terminated):

    y      = r + γ · (1 - terminated) · Q_target(s', a*)        a* = argmax_a Q_online(s', a)   (Double DQN)
                                                                a* = argmax_a Q_target(s', a)   (plain DQN)
    loss   = mean Huber(Q_online(s, a) - y)                     y is a constant: no gradient flows into it
"""
import numpy as np

from tinygrad_edu import nn


class QNetwork(nn.Module):
    """MLP from an observation to one Q-value per action: obs → hidden → hidden → actions (ReLU).

    `train dqn` uses hidden=128 (3 of 3 seeds solve CartPole by 25k steps; 64 solved 2 of 3 by 47.5k).
    """

    def __init__(self, observation_size=4, num_actions=2, hidden=128):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(observation_size, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, num_actions),
        )

    def forward(self, observations):
        return self.layers(observations)  # (B, obs) -> (B, actions)


class DQNAgent(nn.Module):
    """The three copies of the Q-network a DQN run keeps, in one Module so one state_dict holds them all.

    online: the network trained by Adam; target: a lagged copy used for the bootstrap y; best: the online
    weights at the best greedy evaluation so far (what a finished run reports and what you would deploy).
    Only `online.parameters()` go to the optimizer.
    """

    def __init__(self, observation_size=4, num_actions=2, hidden=128):
        super().__init__()
        self.online = QNetwork(observation_size, num_actions, hidden)
        self.target = QNetwork(observation_size, num_actions, hidden)
        self.best = QNetwork(observation_size, num_actions, hidden)
        self.target.load_state_dict(self.online.state_dict())
        self.best.load_state_dict(self.online.state_dict())

    def forward(self, observations):
        return self.online(observations)


def td_targets(rewards, terminated, next_q_target, gamma, next_q_online=None):
    """The bootstrap target y for each transition, as a float32 NumPy array (no autograd: y is a constant).

    rewards, terminated: (B,); next_q_target, next_q_online: (B, actions) Q-values of s' from each network.
    With `next_q_online` the action is chosen by the online net and valued by the target (Double DQN).
    `terminated` is 1 only for a real end of the episode; a time-limit truncation still bootstraps.

    >>> td_targets(np.array([1., 1.]), np.array([0., 1.]), np.array([[2., 3.], [5., 4.]]), 0.5)
    array([2.5, 1. ], dtype=float32)
    >>> td_targets(np.array([1.]), np.array([0.]), np.array([[2., 3.]]), 0.5, next_q_online=np.array([[9., 0.]]))
    array([2.], dtype=float32)
    """
    if next_q_online is None:
        next_value = next_q_target.max(axis=1)  # NumPy arrays here
    else:
        chosen = next_q_online.argmax(axis=1)  # (B,)
        next_value = next_q_target[np.arange(len(chosen)), chosen]
    return (rewards + gamma * (1.0 - terminated) * next_value).astype(np.float32)


class ReplayBuffer:
    """A ring buffer of transitions (s, a, r, s', terminated), sampled uniformly; arrays preallocated once.

    >>> buffer = ReplayBuffer(2, observation_size=1, generator=np.random.default_rng(0))
    >>> for step in range(3):
    ...     buffer.add([step], 0, 1.0, [step + 1], False)
    >>> len(buffer), buffer.observations[:, 0].tolist()   # the third transition overwrote the first
    (2, [2.0, 1.0])
    """

    def __init__(self, capacity, observation_size, generator):
        self.capacity, self.generator = capacity, generator
        self.observations = np.zeros((capacity, observation_size), dtype=np.float32)
        self.next_observations = np.zeros((capacity, observation_size), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.dones = np.zeros(capacity, dtype=np.float32)
        self.position = 0
        self.size = 0

    def add(self, observation, action, reward, next_observation, done):
        i = self.position
        self.observations[i], self.actions[i], self.rewards[i] = observation, action, reward
        self.next_observations[i], self.dones[i] = next_observation, done
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def __len__(self):
        return self.size

    def sample(self, batch_size):
        idx = self.generator.integers(0, self.size, size=batch_size)
        return self.observations[idx], self.actions[idx], self.rewards[idx], self.next_observations[idx], self.dones[idx]

    def state_dict(self):
        """The filled part of the buffer and the write position, for a checkpoint (arrays and ints only)."""
        filled = slice(0, self.size)
        return {"observations": self.observations[filled], "actions": self.actions[filled],
                "rewards": self.rewards[filled], "next_observations": self.next_observations[filled],
                "dones": self.dones[filled], "position": self.position, "size": self.size}

    def load_state_dict(self, state):
        size = int(state["size"])
        if size > self.capacity:
            raise ValueError(f"ReplayBuffer: checkpoint holds {size} transitions, capacity is {self.capacity}")
        for name in ("observations", "actions", "rewards", "next_observations", "dones"):
            getattr(self, name)[:size] = np.asarray(state[name])
        self.size, self.position = size, int(state["position"]) % self.capacity
