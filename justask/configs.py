"""Every command's settings as dataclasses: defaults and a one-line meaning per field.

They live in one light module (no torch import) so that the CLI can build its options from them
quickly; each round-trips to JSON in the run folder it configures.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class TrainConfig:
    """How to fit a model."""

    steps: int = 2000  # gradient steps in total
    batch_size: int = 64  # segments per step
    learning_rate: float = 1e-3  # peak AdamW learning rate
    weight_decay: float = 1e-4  # AdamW weight decay on weight matrices
    warmup_steps: int = 100  # linear warmup, then cosine decay to 10% of the peak
    grad_clip: float = 1.0  # max gradient norm
    seed: int = 0  # seeds the initial weights and the batch sampler
    device: str = "auto"  # "auto" (cuda if present, else cpu), "cpu", "cuda", "cuda:1", ...
    threads: int = 0  # CPU threads for torch (0: torch's default)
    log_every: int = 50  # steps between TensorBoard scalars / progress-bar updates
    checkpoint_every: int = 500  # steps between checkpoints (and at the end)
    micro_batch: int = -1  # forward/backward in chunks of this many segments, same gradient (-1: 64 for a DT on CPU, else the whole batch; 0: whole batch)
    bf16: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    compile: bool = False  # torch.compile the loss (under torchrun: the DDP-wrapped module)
    cuda_graph: bool = True  # on CUDA, capture the whole step (batch, forward, backward, AdamW) as one CUDA graph
    progress: bool = True  # show a progress bar
    data_placement: str = "auto"  # device (columns on the training device), host (written to the run folder as .npy columns and memory-mapped by every process: one copy in RAM per node; batches cut there and moved each step), shard (under torchrun: each rank keeps every N-th episode on its device), auto (device if it fits in half the free memory, else host)
    dist_timeout_s: float = 600.0  # under torchrun: how long a rank waits for the others before failing

    @staticmethod
    def quiet(steps: int, batch_size: int, seed: int, threads: int, device: str) -> TrainConfig:
        """A fit inside a larger job (a benchmark, a demo): no progress bar, ten log points, one
        checkpoint at the end."""
        return TrainConfig(
            steps=steps,
            batch_size=batch_size,
            seed=seed,
            progress=False,
            threads=threads,
            device=device,
            log_every=max(1, steps // 10),
            checkpoint_every=steps,
        )


@dataclasses.dataclass
class WorldsDemoConfig:
    """Domain randomization on CartPole with a hidden actuator sign; the defaults are the quick
    variant (one training seed, about 10 minutes on 2 CPU cores)."""

    out: str = "runs/demo-worlds"  # run folder: report.md/json, returns.png, rollout.gif, the trained models
    family: str = "CartPoleWorlds"  # world family: CartPoleWorlds (hidden actuator sign) or LunarLanderWorlds (swapped side engines)
    seed: int = 0  # training seed (data, weights, batches)
    episodes: int = 200  # training episodes of the privileged expert, split over the noise levels
    noise: str = "0,0.1,0.2,0.3"  # shares of random actions in the data (comma-separated)
    labels: str = "expert"  # actions the models learn: expert (labels on every visited state) or executed
    dagger_rounds: int = 0  # rounds of: history model acts, the expert relabels, retrain on all data
    mistakes: int = 0  # > 0: in one window of up to this many steps per episode the expert acts for the other wiring (labels stay right)
    dt_steps: int = 2500  # gradient steps of the history DTs
    mlp_steps: int = 2000  # gradient steps of the MLPs (memoryless, oracle)
    context_len: int = 8  # steps the history DT sees
    eval_worlds: int = 100  # fresh worlds per world box
    ppo_steps: int = 100000  # env steps of the SB3 PPO peers (memoryless and 4 stacked observations); 0: none
    threads: int = 2  # CPU threads for torch while training
    gif: bool = True  # render the history model in a held-out world
    overwrite: bool = False  # replace an existing run folder


@dataclasses.dataclass
class ImproveConfig:
    """In-context improvement with frozen weights (Dark Room, bandits); the defaults are the quick
    variant on Dark Room (about 10 minutes on 2 CPU cores)."""

    out: str = "runs/demo-improve"  # run folder: report.md/json, curves.png, rollout.gif, the trained models
    family: str = "darkroom"  # task family: darkroom (9x9, hidden goal) or bandit (5 Bernoulli arms)
    seed: int = 0  # training seed (histories, weights, batches); evaluation tasks do not depend on it
    source: str = ""  # learning histories ("": annealed for darkroom, thompson for bandit): annealed (expert, noise 1 -> floor: AD-eps), q_learning (darkroom), thompson, ucb or random (bandit)
    noise_floor: float = (
        0.0  # annealed sources: the least noise any training episode has (> 0: no near-optimal episode in training)
    )
    histories: int = 0  # training histories (0: 244 for darkroom, 4 per training goal; 2000 for bandit)
    history_episodes: int = 0  # episodes per history (0: 40 for darkroom; 100 pulls for bandit)
    posterior_steps: int = 3000  # gradient steps of p(task | experience)
    batch_size: int = 64  # contexts per step
    policy_steps: int = 1500  # darkroom: gradient steps of the goal-conditioned policy that acts for a guessed goal
    policy_labels: str = "expert"  # darkroom: what that policy learns — expert (the action optimal for the history's goal, DPT-style) or hindsight (the executed action, asked for a cell the episode reached later: no expert anywhere)
    dt_steps: int = (
        1500  # gradient steps of the memoryless return-conditioned DT (the control that cannot improve); 0: skip
    )
    ad_steps: int = (
        0  # gradient steps of plain AD (a causal DT over whole histories, predicting their next action); 0: skip
    )
    ad_context: int = 60  # steps plain AD sees, across episode boundaries (darkroom: 3 episodes)
    eval_episodes: int = 0  # in-context episodes per evaluation task (0: 40 for darkroom; 100 pulls for bandit)
    eval_tasks: int = (
        100  # evaluation task instances (darkroom: spread over the 20 held-out goals; bandit: per distribution)
    )
    sb3_episodes: int = 0  # darkroom: episodes of SB3 DQN and PPO learning each task from scratch (0: skip; Q-learning then runs as long too)
    sb3_tasks: int = 20  # darkroom: held-out task instances the SB3 peers learn (one fresh learner each)
    threads: int = 2  # CPU threads for torch
    device: str = "auto"  # where the models train: auto, cpu, cuda
    gif: bool = True  # render the improvement operator on a held-out goal (darkroom)
    overwrite: bool = False  # replace an existing run folder


@dataclasses.dataclass
class LanguageDemoConfig:
    """Hindsight language on BabyAI; the defaults are the quick variant (one training seed, about
    ten minutes on 2 CPU cores)."""

    out: str = "runs/demo-language"  # run folder: report.md/json, success.png, rollout.gif, the models
    level: str = "GoToLocal"  # GoToLocal, PickupLoc, PutNextLocal or GoTo (BabyAI)
    seed: int = 0  # training seed (data, weights, batches)
    play_episodes: int = 200  # play episodes (bot on random missions, noisy bot, random walks)
    kind: str = "mlp"  # the text-conditioned model: mlp or dt
    steps: int = 2000  # gradient steps (each model)
    eval_episodes: int = 100  # evaluation episodes per set (own missions, held-out, paraphrases)
    action_rule: str = "best"  # argmax, sample, or best: each model's better one on as many validation episodes
    peer: bool = True  # also train instruction BC on the bot's demos with true missions (equal env steps)
    threads: int = 2  # CPU threads for torch while training
    gif: bool = True  # render the model asked for a held-out composition
    overwrite: bool = False  # replace an existing run folder


@dataclasses.dataclass
class MazeDemoConfig:
    """Hindsight goals on PointMaze, offline; the defaults are the quick variant (one training
    seed, a few minutes on 2 CPU cores)."""

    out: str = "runs/demo-maze"  # run folder: report.md/json, success.png, paths.png, rollout.gif, the trained models
    maze: str = "Medium"  # Medium or Large (gymnasium-robotics PointMaze)
    seed: int = 0  # training seed (data, weights, batches)
    episodes: int = 100  # explorer episodes (the planner sent to random waypoints, to the time limit)
    action_noise: float = 0.2  # std of the explorer's Gaussian action noise
    strategy: str = "future"  # hindsight goals: future (cut at random points), final, random
    horizon: int = 200  # at most this many steps between a step and the goal it is relabeled with
    copies: int = 2  # relabeled copies of the data
    models: str = "dt,mlp"  # goal models (comma-separated): dt (goal-conditioned DT), mlp (RvS-G)
    dt_steps: int = 1500  # gradient steps of the goal DT
    mlp_steps: int = 3000  # gradient steps of the RvS-G MLP
    eval_episodes: int = 200  # evaluation episodes per model on the env's own goals
    threads: int = 2  # CPU threads for torch while training
    gif: bool = True  # render a goal model asked for a far goal
    overwrite: bool = False  # replace an existing run folder


@dataclasses.dataclass
class GCSLConfig:
    """Goal-conditioned supervised learning from scratch on a maze (no expert, no reward): act
    for the env's goals, relabel what happened with the goals actually reached, refit, repeat."""

    out: str = "runs/gcsl"  # run folder: report.md/json, curve.png, the last round's model
    maze: str = "Medium"  # Medium or Large
    seed: int = 0  # seeds the episodes, the weights and the batches
    rounds: int = 10  # collect -> relabel -> fit rounds (the first collects with uniform random actions)
    episodes_per_round: int = 20  # episodes collected each round (the first with uniform random actions)
    action_rule: str = "sample"  # how the model acts while collecting: sample (explores) or argmax
    horizon: int = 200  # hindsight goals at most this many steps ahead
    train_steps: int = 1500  # gradient steps of the RvS-G MLP each round (refit from scratch on all data)
    batch_size: int = 256
    eval_episodes: int = 100  # evaluation episodes (argmax) on the env's goals after each round
    threads: int = 2  # CPU threads for torch
    overwrite: bool = False  # replace an existing run folder


@dataclasses.dataclass
class DemoConfig:
    """The LunarLander demo; the defaults are the quick variant (about 10 minutes on 2 CPU cores)."""

    out: str = "runs/demo"  # run folder; each trained model gets a sub-folder
    env_id: str = "LunarLander-v3"  # Gymnasium env id (discrete LunarLander)
    dataset: str = ""  # use this Minari dataset (id or path) instead of collecting one
    episodes_per_policy: int = 150  # episodes collected from each policy of the population
    data_seed: int = 0  # seeds of the collected episodes start here
    seed: int = 0  # training seed (weights, batches)
    return_scale: float = 100.0  # return-to-go is divided by this for the models
    dt_steps: int = 2500  # Decision Transformer gradient steps
    dt_batch: int = 64  # DT segments per step
    dt_context: int = 10  # DT context length (steps)
    dt_layers: int = 2  # DT transformer blocks
    dt_dim: int = 64  # DT width
    dt_action_tokens: bool = False  # DT sees its past actions (see ModelConfig.action_tokens)
    dt_condition_token: bool = False  # DT reads the return as its own token (False: added to the state token)
    mlp_steps: int = 6000  # gradient steps of each MLP (RvS, BC, filtered BC)
    mlp_batch: int = 256  # MLP batch size
    cql_steps: int = 5000  # d3rlpy DiscreteCQL gradient steps (batch 256)
    top_fraction: float = 0.1  # filtered BC trains on this top share of episodes by return
    eval_episodes: int = 300  # evaluation episodes per agent and action rule (the larger benchmark: 500)
    sweep_points: int = 8  # asked returns inside the data's range (plus 2 above its best)
    sweep_episodes: int = 60  # episodes per asked return
    sweep_models: str = "rvs,dt"  # which return-conditioned models to sweep
    num_envs: int = 250  # envs stepped together during evaluation
    threads: int = 2  # CPU threads for torch while training (acting uses one)
    gif: bool = True  # render a rollout GIF of the DT asked for the best
    overwrite: bool = False  # replace an existing run folder


@dataclasses.dataclass
class CollectConfig:
    """Collect episodes from a population of policies."""

    out: str = "data/lunarlander-population"  # Minari dataset to write: a path (./x, /x) or an id (ns/name-v0)
    env: str = "LunarLander-v3"  # Gymnasium env id
    population: str = "demo"  # LunarLander: demo (7 suboptimal landers), expert; mazes: explorer (random waypoints, to the time limit), planner (the env's goals); any env: random
    action_noise: float = 0.2  # mazes: std of the explorer's / planner's Gaussian action noise
    episodes: int = 150  # episodes per policy of the population
    seed: int = 0  # first episode seed
    num_envs: int = 64  # envs stepped together (per Ray worker with --ray)
    overwrite: bool = False  # replace an existing dataset
    ray: bool = False  # collect on a local Ray instance (needs pip install 'justask[ray]')
    ray_address: str = ""  # collect on the Ray cluster at this address (host:port or ray://host:port)
    ray_workers: int = 0  # Ray actors, each with its own envs (0: one per CPU of the cluster)


@dataclasses.dataclass
class TrainCommandConfig:
    """What to train on, and the model."""

    dataset: str = "data/lunarlander-population"  # Minari dataset: path or id
    run: str = "runs/model"  # run folder to write (config, weights, TensorBoard logs)
    model: str = "dt"  # dt (Decision Transformer) or mlp (RvS-style MLP)
    condition: str = "return_to_go"  # condition column: return_to_go, goal (hindsight goals: the observation's x, y reached later), or none for behaviour cloning
    goal_strategy: str = "future"  # --condition goal: future (goals reached within --goal-horizon steps), final, random
    goal_horizon: int = 200  # --condition goal, future: at most this many steps between a step and its goal
    return_scale: float = 100.0  # return-to-go is divided by this for the model
    top_fraction: float = 1.0  # train on this top share of episodes by return (0.1: filtered BC)
    context_len: int = 10  # DT context (steps)
    d_model: int = 64  # DT width
    n_layer: int = 2  # DT blocks
    n_head: int = 1  # DT attention heads
    action_tokens: bool = False  # DT sees its past actions
    condition_token: bool = False  # DT reads the request as its own token (False: added to the state token)
    resume: bool = False  # continue a killed run from its last checkpoint


@dataclasses.dataclass
class DrexConfig:
    """D-REX: learn a reward from ranked noise-injected rollouts of behaviour cloning, then a
    policy from that reward. Defaults are the quick variant (about 10 minutes on 2 CPU cores)."""

    out: str = "runs/drex"  # run folder
    env_id: str = "LunarLander-v3"  # LunarLander-v3 or LunarLanderContinuous-v3
    demos: str = ""  # Minari dataset of demonstrations (rewards never read); empty: built-in demonstrator
    demonstrator: str = "trigger-happy"  # built-in: trigger-happy (hovers, never lands), hard-lander (crashes), hoverer
    demo_episodes: int = 20  # demonstrations to make with the built-in demonstrator
    seed: int = 0  # seeds data collection and training
    bc_steps: int = 3000  # gradient steps of behaviour cloning on the demonstrations
    noise_levels: str = "0.02,0.25,0.5,0.75,1.0"  # epsilon of the noise injected into BC, comma-separated
    demos_rank: str = (
        "out"  # the demonstrations in the ranking: out (only BC's rollouts ranked), or top (above them all)
    )
    episodes_per_noise: int = 20  # rollouts of BC per noise level
    reward_steps: int = 3000  # T-REX gradient steps
    reward_ensemble: int = 3  # reward networks averaged
    reward_use_actions: bool = False  # the reward scores (state, action) instead of states
    absorbing: bool = True  # a terminated episode runs on to the env's time limit in its final state (see rewards.py)
    policy_model: str = "mlp"  # return-conditioned model on learned returns: mlp (RvS) or dt
    policy_steps: int = 6000  # its gradient steps
    improve_rounds: int = 0  # rounds of: ask for the best learned return, collect, relabel with r̂, refit
    ppo_steps: int = 0  # env steps for SB3 PPO on the learned and on the true reward (0: skip)
    ppo_pessimism: float = 1.0  # PPO's reward: r̂ minus this many ensemble standard deviations
    heldout_episodes: int = 30  # held-out rollouts per source for the reward diagnostics
    eval_episodes: int = 300  # evaluation episodes per agent and action rule
    num_envs: int = 100  # envs stepped together
    threads: int = 2  # CPU threads for torch while training
    overwrite: bool = False  # replace an existing run folder


def command_line(prefix: str, cfg: Any) -> str:
    """The command that reproduces ``cfg``: ``prefix`` and the flags of the fields that differ
    from the defaults (``--flag``/``--no-flag`` for booleans; ``overwrite`` left out)."""
    default = type(cfg)()
    flags = []
    for field in dataclasses.fields(cfg):
        value = getattr(cfg, field.name)
        if field.name == "overwrite" or value == getattr(default, field.name):
            continue
        flag = field.name.replace("_", "-")
        flags.append((f"--{flag}" if value else f"--no-{flag}") if isinstance(value, bool) else f"--{flag} {value}")
    return " ".join([prefix, *flags])
