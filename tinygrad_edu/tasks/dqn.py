"""`tinygrad-edu train dqn`: Double DQN on gymnasium's CartPole-v1 (needs the `rl` extra: gymnasium).

One environment step, then (after --learning-starts) one gradient step on a replay mini-batch:

    act       ε-greedy on Q_online(s); ε falls linearly from 1 to --epsilon-final over --epsilon-decay steps
    store     (s, a, r, s', terminated) in a ring buffer of --buffer-size transitions
    learn     y = r + γ(1 - terminated) Q_target(s', argmax_a Q_online(s', a));  Huber(Q_online(s, a), y);
              Adam, gradient norm clipped to --clip-grad
    sync      Q_target ← τ Q_online + (1-τ) Q_target every step (--tau 0.005), or with --tau 1 a hard copy
              every --target-update steps

Every --eval-every environment steps the greedy policy plays --eval-episodes episodes (fixed seeds, not counted
as training steps). The best network by evaluation return is kept; the run stops as soon as the average return
reaches --target-return (475: CartPole-v1 counts as solved there; 500 is the most an episode can give).

--save writes the online, target and best networks, Adam's moments, the step counter, ε, the replay buffer and
every random generator; --resume continues from there. The environment's own state is not saved: a resumed run
starts a fresh episode (seeded from --seed and the step), so it continues correctly but is not bit-identical to
an uninterrupted run.
"""
import numpy as np

import tinygrad_edu as tg
from tinygrad_edu.models.dqn import DQNAgent, ReplayBuffer, td_targets
from tinygrad_edu.nn import functional as F
from tinygrad_edu.tasks import common
from tinygrad_edu.tasks.early_stopping import EarlyStopping

DEFAULTS = {"steps": 50000, "batch_size": 128, "lr": 1e-3}
DEVICES = ("cpu",)
WHY_CPU_ONLY = ("train dqn's batches of 128 four-number observations are far too small for a GPU to pay off: each op "
                "would be a kernel launch")
# --resume: left out, these continue as saved; given, they apply with a note (see RESUME_HELP)
TUNABLE = ("lr", "batch_size", "seed", "gamma", "learning_starts", "train_every", "target_update", "tau",
           "epsilon_final", "epsilon_decay", "clip_grad", "eval_every", "eval_episodes", "target_return", "early_stop")
EARLY_STOP_HELP = ("stop after PATIENCE evaluations (every --eval-every steps) without a higher greedy return, and "
                   "end with the best evaluation's network as the online one (printed)")
RETURN_FORMAT = ".2f"  # an average of 20 episode returns is a multiple of 0.05: two decimals show it exactly
ENV_ID = "CartPole-v1"
EVAL_SEED_OFFSET = 1_000_000  # evaluation episodes use seeds far from the training environment's


def configure(parser):
    parser.add_argument("--hidden", type=int, default=128, help="width of the two hidden layers (default 128)")
    parser.add_argument("--gamma", type=float, default=0.99, help="discount factor γ (default 0.99)")
    parser.add_argument("--buffer-size", type=int, default=50000, help="replay capacity in transitions (default 50000)")
    parser.add_argument("--learning-starts", type=int, default=1000, help="random steps before the first update (default 1000)")
    parser.add_argument("--train-every", type=int, default=1, help="environment steps per gradient step (default 1)")
    parser.add_argument("--target-update", type=int, default=500, help="steps between target-network copies when --tau is 1 (default 500)")
    parser.add_argument("--tau", type=float, default=0.005,
                        help="target update: below 1, Polyak averaging θ' ← τθ + (1-τ)θ' every step; "
                             "1 copies the online net every --target-update steps (default 0.005)")
    parser.add_argument("--epsilon-final", type=float, default=0.05, help="exploration rate after the decay (default 0.05)")
    parser.add_argument("--epsilon-decay", type=int, default=10000, help="steps over which ε falls from 1 (default 10000)")
    parser.add_argument("--clip-grad", type=float, default=10.0, help="max gradient norm (default 10)")
    parser.add_argument("--no-double", action="store_true", help="plain DQN targets: max_a Q_target(s', a)")
    parser.add_argument("--eval-every", type=int, default=2500, help="environment steps between evaluations (default 2500)")
    parser.add_argument("--eval-episodes", type=int, default=20, help="greedy episodes per evaluation (default 20)")
    parser.add_argument("--target-return", type=float, default=475.0, help="stop once the evaluation average reaches this (default 475)")


def _import_gymnasium():
    try:
        import gymnasium
    except ImportError:
        raise RuntimeError("train dqn needs gymnasium: pip install 'tinygrad_edu[rl]'") from None
    return gymnasium


def epsilon_at(step, final, decay_steps):
    """Linear decay from 1 at step 0 to `final` at `decay_steps`, then constant."""
    fraction = min(step / max(decay_steps, 1), 1.0)
    return 1.0 + fraction * (final - 1.0)


@tg.no_grad()
def greedy_actions(network, observations):
    """argmax_a Q(s, a) for a (B, obs) batch of observations, as a NumPy int array (B,)."""
    return network(tg.Tensor(np.asarray(observations, dtype=np.float32))).numpy().argmax(axis=1)


def evaluate(network, gymnasium, episodes, seed):
    """Average undiscounted return of the greedy policy over `episodes` episodes with fixed seeds.

    The episodes run side by side, one batched forward pass per time step, so an evaluation costs at most
    500 forward passes (CartPole-v1's time limit) instead of 500 per episode.
    """
    envs = [gymnasium.make(ENV_ID) for _ in range(episodes)]
    observations = [env.reset(seed=seed + EVAL_SEED_OFFSET + i)[0] for i, env in enumerate(envs)]
    returns = np.zeros(episodes)
    running = list(range(episodes))
    while running:
        actions = greedy_actions(network, [observations[i] for i in running])
        still_running = []
        for i, action in zip(running, actions):
            observations[i], reward, terminated, truncated, _ = envs[i].step(int(action))
            returns[i] += reward
            if not (terminated or truncated):
                still_running.append(i)
        running = still_running
    for env in envs:
        env.close()
    return float(returns.mean())


@tg.no_grad()
def soft_update(target, online, tau):
    """Polyak averaging θ' ← τθ + (1-τ)θ', in place on the target's arrays."""
    for target_param, online_param in zip(target.parameters(), online.parameters()):
        target_param.data *= 1.0 - tau
        target_param.data += tau * online_param.data


def update(agent, optimizer, batch, gamma, double, clip_grad):
    """One gradient step on a replay mini-batch; returns the loss as a float."""
    observations, actions, rewards, next_observations, dones = batch
    with tg.no_grad():
        next_input = tg.Tensor(next_observations)
        next_q_target = agent.target(next_input).numpy()  # (B, actions)
        next_q_online = agent.online(next_input).numpy() if double else None
    targets = td_targets(rewards, dones, next_q_target, gamma, next_q_online)  # (B,)
    q_values = agent.online(tg.Tensor(observations))  # (B, actions)
    chosen = q_values[np.arange(len(actions)), actions]  # (B,): Q(s, a) of the actions taken
    loss = F.huber_loss(chosen, tg.Tensor(targets))
    optimizer.zero_grad()
    loss.backward()
    tg.optim.clip_grad_norm_(agent.online.parameters(), clip_grad)
    optimizer.step()
    return loss.item()


def run(args):
    if args.device != "cpu":
        raise ValueError(f"train dqn runs on the CPU: {WHY_CPU_ONLY}; use --device cpu")
    gymnasium = _import_gymnasium()
    checkpoint = common.prepare_resume(args, "dqn", "env_step", TUNABLE)
    rng = common.seed_everything(args.seed)  # exploration and replay sampling
    env = gymnasium.make(ENV_ID)
    observation_size = env.observation_space.shape[0]
    num_actions = env.action_space.n
    double = not args.no_double
    config = {"task": "dqn", "env": ENV_ID, "seed": args.seed, "lr": args.lr, "batch_size": args.batch_size,
              "hidden": args.hidden, "gamma": args.gamma, "buffer_size": args.buffer_size,
              "learning_starts": args.learning_starts, "train_every": args.train_every,
              "target_update": args.target_update, "tau": args.tau, "epsilon_final": args.epsilon_final,
              "epsilon_decay": args.epsilon_decay, "clip_grad": args.clip_grad, "double": double,
              "eval_every": args.eval_every, "eval_episodes": args.eval_episodes, "target_return": args.target_return,
              "early_stop": args.early_stop}
    agent = DQNAgent(observation_size, num_actions, args.hidden)
    optimizer = tg.optim.Adam(agent.online.parameters(), lr=args.lr)
    buffer = ReplayBuffer(args.buffer_size, observation_size, rng)
    log = common.MetricLog(args.log)
    start_step, best_return, reached_at, last_return = 0, -np.inf, None, float("nan")
    episodes = []  # (env step at its end, return) of every training episode: the plot's dense curve
    if checkpoint is not None:
        progress_state = common.resume(args.resume, checkpoint, config, agent, optimizer, log,
                                       must_match=("env", "hidden", "buffer_size"))
        start_step = progress_state["env_step"]
        best_return, reached_at = progress_state["best_return"], progress_state["reached_at"]
        last_return = progress_state["last_return"]
        rng.bit_generator.state = progress_state["rng"]
        buffer.load_state_dict(progress_state["buffer"])
        episodes = [tuple(row) for row in np.asarray(progress_state.get("episodes", np.zeros((0, 2)))).tolist()]
        if reached_at is not None:
            if not last_return < args.target_return:
                raise ValueError(f"--resume: {args.resume} already reached --target-return {args.target_return:g} "
                                 f"at env step {reached_at} (last evaluation {last_return:{RETURN_FORMAT}}); pass a "
                                 f"higher --target-return to train on")
            reached_at = None  # a higher --target-return than the checkpoint reached: train on towards it
    if not args.quiet:
        print(f"train dqn: {ENV_ID}, {'Double ' if double else ''}DQN, {agent.online.num_parameters():,} parameters "
              f"per network, env steps {start_step}->{args.steps}")

    # a resumed run cannot restore the environment's state: it starts a new episode seeded by (seed, step)
    observation, _ = env.reset(seed=args.seed if start_step == 0 else args.seed + 7919 * start_step)
    env.action_space.seed(args.seed)
    progress = common.Progress(args.steps - start_step, "train dqn", args.quiet,
                               formats={"eval_return": RETURN_FORMAT, "epsilon": ".3f"})
    stopper = EarlyStopping(args.early_stop, "evaluation return", "max", "env step") if args.early_stop else None
    clock, update_clock = common.Stopwatch(), 0.0
    updates, losses, step, episode_return = 0, [], start_step, 0.0
    epsilon = epsilon_at(step, args.epsilon_final, args.epsilon_decay)
    while step < args.steps and reached_at is None:
        epsilon = epsilon_at(step, args.epsilon_final, args.epsilon_decay)
        if rng.random() < epsilon:
            action = int(rng.integers(num_actions))
        else:
            action = int(greedy_actions(agent.online, observation[None])[0])
        next_observation, reward, terminated, truncated, _ = env.step(action)
        buffer.add(observation, action, reward, next_observation, terminated)  # truncation still bootstraps
        observation = next_observation
        episode_return += reward
        step += 1
        if terminated or truncated:
            episodes.append((step, episode_return))
            observation, _ = env.reset()
            episode_return = 0.0

        if step > args.learning_starts and step % args.train_every == 0:
            started = common.Stopwatch()
            losses.append(update(agent, optimizer, buffer.sample(args.batch_size), args.gamma, double, args.clip_grad))
            update_clock += started.elapsed()
            updates += 1
        if args.tau < 1.0:
            soft_update(agent.target, agent.online, args.tau)
        elif step % args.target_update == 0:
            agent.target.load_state_dict(agent.online.state_dict())
        progress.update()

        if step % args.eval_every == 0 or step == args.steps:
            last_return = evaluate(agent.online, gymnasium, args.eval_episodes, args.seed)
            if last_return > best_return:
                best_return = last_return
                agent.best.load_state_dict(agent.online.state_dict())
            if last_return >= args.target_return:
                reached_at = step
            mean_loss = float(np.mean(losses)) if losses else float("nan")
            losses = []
            log.append(env_step=step, eval_return=last_return, epsilon=epsilon, loss=mean_loss)
            progress.update(0, eval_return=last_return, epsilon=epsilon)
            if stopper is not None and stopper.should_stop(agent.online, last_return, step):
                break
    progress.close()
    env.close()
    wall = clock.elapsed()
    if stopper is not None:
        stopper.restore_best(agent.online)
    if args.save:
        state = {"env_step": step, "epsilon": epsilon, "best_return": best_return, "reached_at": reached_at,
                 "last_return": last_return, "rng": rng.bit_generator.state, "buffer": buffer.state_dict(),
                 "episodes": np.array(episodes, dtype=np.float64).reshape(-1, 2)}
        common.save_checkpoint(args.save, agent, optimizer, state, config, log.rows)
    if args.plot and log.rows:
        common.plot_metrics(log.rows, args.plot, "env_step", "train dqn",
                            extra_series=[("return", "training episodes (ε-greedy)", [s for s, _ in episodes],
                                           [r for _, r in episodes])],
                            panel_of={"eval_return": ("return", f"greedy evaluation ({args.eval_episodes} episodes)")})
    update_ms = 1e3 * update_clock / updates if updates else float("nan")
    if not args.quiet:
        where = f"reached {args.target_return:g} at env step {reached_at}" if reached_at else f"{args.target_return:g} not reached"
        print(f"train dqn: {where}; best eval return {best_return:{RETURN_FORMAT}}, "
              f"last {last_return:{RETURN_FORMAT}}; {updates} updates at {update_ms:.3f} ms each")
    print(common.summary_line("train dqn", "best eval return", best_return, wall, step - start_step,
                              metric_format=RETURN_FORMAT))
    return {"best_return": best_return, "last_return": last_return, "reached_at": reached_at, "steps": step,
            "updates": updates, "update_ms": update_ms, "wall": wall, "log": log.rows, "agent": agent,
            "episode_returns": episodes}
