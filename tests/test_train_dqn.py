import re

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu.cli import build_parser
from tinygrad_edu.models.dqn import DQNAgent, ReplayBuffer, td_targets

gymnasium = pytest.importorskip("gymnasium")

from tinygrad_edu.tasks import dqn  # noqa: E402  (after the skip: the task needs gymnasium at run time)


def _args(*options):
    return build_parser().parse_args(["train", "dqn", "--quiet", *options])


def _states_equal(first, second):
    assert list(first) == list(second)
    return all(np.array_equal(first[key].numpy(), second[key].numpy()) for key in first)


def _same_log(first, second):
    """Rows equal, with NaN equal to NaN (the loss before the first update is NaN)."""
    def key(rows):
        return [{name: ("nan" if value != value else value) for name, value in row.items()} for row in rows]
    return key(first) == key(second)


# ----- pieces -----------------------------------------------------------------------------------------------------
def test_replay_buffer_overwrites_the_oldest_transition_when_full():
    buffer = ReplayBuffer(3, observation_size=2, generator=np.random.default_rng(0))
    for step in range(5):
        buffer.add([step, -step], step % 2, float(step), [step + 1, -step - 1], step == 4)
    assert len(buffer) == 3
    assert buffer.position == 2
    assert buffer.observations[:, 0].tolist() == [3.0, 4.0, 2.0]  # steps 3 and 4 overwrote slots 0 and 1
    assert buffer.rewards.tolist() == [3.0, 4.0, 2.0]
    assert buffer.dones.tolist() == [0.0, 1.0, 0.0]


def test_replay_buffer_samples_batches_of_stored_transitions_with_the_right_shapes():
    buffer = ReplayBuffer(100, observation_size=4, generator=np.random.default_rng(0))
    for step in range(10):
        buffer.add(np.full(4, step), step % 2, float(step), np.full(4, step + 1), False)
    observations, actions, rewards, next_observations, dones = buffer.sample(32)
    assert observations.shape == (32, 4) and next_observations.shape == (32, 4)
    assert actions.shape == rewards.shape == dones.shape == (32,)
    assert observations.dtype == np.float32 and actions.dtype == np.int64
    assert set(rewards.tolist()) <= set(range(10))  # only filled slots are drawn
    np.testing.assert_array_equal(observations[:, 0], rewards)
    np.testing.assert_array_equal(next_observations[:, 0], rewards + 1)


def test_replay_buffer_state_dict_round_trips():
    buffer = ReplayBuffer(4, observation_size=1, generator=np.random.default_rng(0))
    for step in range(6):
        buffer.add([step], 1, 1.0, [step + 1], False)
    copy = ReplayBuffer(4, observation_size=1, generator=np.random.default_rng(0))
    copy.load_state_dict(buffer.state_dict())
    assert (copy.size, copy.position) == (buffer.size, buffer.position)
    np.testing.assert_array_equal(copy.observations, buffer.observations)


def test_td_targets_match_hand_computed_values():
    rewards = np.array([1.0, 0.5, 1.0])
    terminated = np.array([0.0, 0.0, 1.0])
    next_q_target = np.array([[2.0, 3.0], [4.0, -1.0], [10.0, 20.0]])
    # plain DQN: r + γ(1 - done) max_a Q_target(s', a), γ = 0.9
    np.testing.assert_allclose(td_targets(rewards, terminated, next_q_target, 0.9), [1 + 0.9 * 3, 0.5 + 0.9 * 4, 1.0])
    # Double DQN: the online net picks a* (action 0, then 1), the target net values it
    next_q_online = np.array([[5.0, 1.0], [0.0, 2.0], [0.0, 1.0]])
    np.testing.assert_allclose(td_targets(rewards, terminated, next_q_target, 0.9, next_q_online),
                               [1 + 0.9 * 2, 0.5 + 0.9 * -1, 1.0])


def test_epsilon_decays_linearly_then_stays_at_its_floor():
    assert dqn.epsilon_at(0, 0.05, 1000) == 1.0
    assert dqn.epsilon_at(500, 0.05, 1000) == pytest.approx(0.525)
    assert dqn.epsilon_at(1000, 0.05, 1000) == pytest.approx(0.05)
    assert dqn.epsilon_at(5000, 0.05, 1000) == pytest.approx(0.05)


def test_update_fits_q_values_toward_the_targets():
    tg.manual_seed(0)
    agent = DQNAgent(hidden=16)
    optimizer = tg.optim.Adam(agent.online.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    batch = (rng.standard_normal((32, 4)).astype(np.float32), rng.integers(0, 2, 32), np.ones(32, np.float32),
             rng.standard_normal((32, 4)).astype(np.float32), np.ones(32, np.float32))  # all terminal: y = 1
    losses = [dqn.update(agent, optimizer, batch, 0.99, True, 10.0) for _ in range(100)]
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.1 * losses[0]


# ----- the command ------------------------------------------------------------------------------------------------
def test_short_run_beats_a_random_policy_and_logs_finite_losses():
    # a random policy averages ~22 on CartPole-v1; with the defaults, 3,000 steps (2,000 updates) gave a best
    # 5-episode greedy average of 149-401 over seeds 0-4 (225 for seed 0)
    result = dqn.run(_args("--steps", "3000", "--eval-every", "1000", "--eval-episodes", "5", "--seed", "0"))
    assert [row["env_step"] for row in result["log"]] == [1000, 2000, 3000][:len(result["log"])]
    losses = [row["loss"] for row in result["log"][1:]]  # the first evaluation comes before any update
    assert losses and all(np.isfinite(losses))
    assert result["best_return"] > 100
    assert result["updates"] > 0


def test_same_seed_gives_the_same_run():
    options = ("--steps", "1500", "--eval-every", "750", "--eval-episodes", "3", "--seed", "3")
    first, second = dqn.run(_args(*options)), dqn.run(_args(*options))
    assert _same_log(first["log"], second["log"])
    assert _states_equal(first["agent"].state_dict(), second["agent"].state_dict())


def test_save_then_resume_restores_networks_and_progress(tmp_path):
    path = str(tmp_path / "dqn.npz")
    options = ("--eval-every", "600", "--eval-episodes", "2", "--seed", "1", "--target-return", "1e9")
    saved = dqn.run(_args("--steps", "1200", "--save", path, *options))
    checkpoint = tg.load(path)
    assert checkpoint["config"]["task"] == "dqn"
    assert checkpoint["progress"]["env_step"] == 1200
    assert checkpoint["progress"]["buffer"]["size"] == 1200
    restored = DQNAgent()
    restored.load_state_dict(checkpoint["model"])
    assert _states_equal(restored.state_dict(), saved["agent"].state_dict())
    # --steps is the total: one equal to the saved step would train nothing, and says so
    with pytest.raises(ValueError, match="already trained 1200 environment steps, and --steps 1200 is the total"):
        dqn.run(_args("--steps", "1200", "--resume", path, *options))
    # a longer --steps continues from step 1200, with the training episodes' returns so far
    continued = dqn.run(_args("--steps", "1800", "--resume", path, *options))
    assert continued["steps"] == 1800 and continued["updates"] == 600
    assert [row["env_step"] for row in continued["log"]] == [600, 1200, 1800]
    assert continued["episode_returns"][:len(saved["episode_returns"])] == saved["episode_returns"]


def test_missing_gymnasium_gives_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_gymnasium(name, *args, **kwargs):
        if name == "gymnasium":
            raise ImportError("no gymnasium")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gymnasium)
    with pytest.raises(RuntimeError, match=r"pip install 'tinygrad_edu\[rl\]'"):
        dqn.run(_args("--steps", "10"))


def test_command_line_run_writes_a_log_row_per_evaluation(tmp_path, capsys):
    from tinygrad_edu.cli import main

    log_path = tmp_path / "dqn.csv"
    code = main(["train", "dqn", "--steps", "400", "--learning-starts", "100", "--eval-every", "200",
                 "--eval-episodes", "2", "--log", str(log_path), "--quiet"])
    assert code == 0
    assert "train dqn: best eval return" in capsys.readouterr().out
    lines = log_path.read_text().splitlines()
    assert lines[0] == "env_step,eval_return,epsilon,loss"
    assert [line.split(",")[0] for line in lines[1:]] == ["200", "400"]


def test_dqn_refuses_the_cuda_device_with_a_reason(capsys):
    with pytest.raises(SystemExit):
        _args("--steps", "10", "--device", "cuda")
    assert "cuda is not offered: train dqn's batches" in capsys.readouterr().err
    args = _args("--steps", "10")
    args.device = "cuda"  # a Namespace built in Python gets the same reason
    with pytest.raises(ValueError, match="train dqn runs on the CPU: train dqn's batches"):
        dqn.run(args)


def test_returns_are_printed_with_the_same_rounding_everywhere(capsys):
    from tinygrad_edu.cli import main

    assert main(["train", "dqn", "--steps", "300", "--learning-starts", "100", "--eval-every", "300",
                 "--eval-episodes", "3", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    detail = re.search(r"best eval return (\S+), last (\S+);", out)
    summary = re.search(r"train dqn: best eval return (\S+) \|", out)
    assert detail and summary
    assert detail.group(1) == summary.group(1)  # one quantity, one rounding
    assert re.fullmatch(r"\d+\.\d\d", detail.group(1)) and re.fullmatch(r"\d+\.\d\d", detail.group(2))


def test_plot_of_a_short_run_draws_every_training_episode(tmp_path):
    pytest.importorskip("matplotlib")
    from tinygrad_edu.tasks import common

    picture = tmp_path / "dqn.png"
    result = dqn.run(_args("--steps", "400", "--learning-starts", "100", "--eval-every", "200", "--eval-episodes", "2",
                           "--plot", str(picture)))
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(result["log"]) == 2  # two evaluations ...
    episodes = result["episode_returns"]
    assert len(episodes) > 2  # ... but a dozen or more episodes, each a point of the training curve
    steps = [step for step, _ in episodes]
    assert steps == sorted(steps) and all(episode_return >= 1 for _, episode_return in episodes)
    panels = common.curve_panels(result["log"], "env_step", [("return", "training episodes", *zip(*episodes))],
                                 panel_of={"eval_return": ("return", "greedy evaluation")})
    assert [len(xs) for _, xs, _ in panels["return"]] == [2, len(episodes)]


def test_early_stop_ends_with_the_best_evaluated_network_online(capsys):
    result = dqn.run(_args("--steps", "900", "--learning-starts", "100", "--eval-every", "100", "--eval-episodes", "2",
                           "--early-stop", "2", "--seed", "1"))
    out = capsys.readouterr().out
    best = max(result["log"], key=lambda row: row["eval_return"])
    assert f"restored the weights of env step {best['env_step']} (evaluation return {best['eval_return']:.4f})" in out
    assert _states_equal(result["agent"].online.state_dict(), result["agent"].best.state_dict())
