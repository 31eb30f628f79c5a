"""Rewards learned from rankings (T-REX / D-REX): no reward labels, only "this episode is better
than that one".

A ``RewardNet`` scores states (optionally state-action pairs). It is fitted with the T-REX loss
(Brown et al. 2019): for a pair of sub-trajectory *snippets* from a better and a worse episode,
maximise the Bradley-Terry likelihood that the better snippet has the larger predicted return,
``-log softmax(sum r(better), sum r(worse))[better]``. As in T-REX, the snippet of the better
episode starts no earlier in its episode than the worse one's, so the model cannot win by
rewarding progress through time alone.

Rankings come from anywhere: noise levels (D-REX: less noise ranks higher, see
``ranks_from_metadata``), user-given ranks, or explicit pairwise preferences.

Episodes that *terminate* (a crash, a landing) are read as running on to the env's horizon in an
absorbing state: their final observation, repeated (Kostrikov et al. 2019 treat absorbing states
the same way). Without that, a learned reward's sign decides whether ending early pays: T-REX
fixes r̂ only up to a per-step constant, negative per-step rewards teach an optimiser to crash at
once and positive ones to never finish. With it every episode spans the horizon, the constant
cancels, and what an episode ends in is scored for the steps it no longer runs
(``RewardConfig.absorbing_horizon``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from justask.checkpoint import MODEL_FILE, load_state_checked, load_tensors, read_json, read_run_config, save_tensors
from justask.configs import TrainConfig
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.training import fit


@dataclasses.dataclass
class RewardConfig:
    """A reward network and the snippets it is fitted on (how long to fit it: a ``TrainConfig``,
    ``RANKER_TRAINING`` by default)."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    """MLP layers of the reward network."""
    use_actions: bool = False
    """Score (state, action) instead of the state alone."""
    snippet_min: int = 20
    """Shortest snippet (steps); shorter episodes give their whole length."""
    snippet_max: int = 60
    """Longest snippet (steps)."""
    ensemble: int = 1
    """Independently initialised nets averaged (the paper used several)."""
    absorbing_horizon: int = 0
    """> 0: terminated episodes run on to this many steps in their final state."""

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise JustAskError(f"hidden_sizes must be positive, got {list(self.hidden_sizes)}")
        if not 1 <= self.snippet_min <= self.snippet_max:
            raise JustAskError(f"need 1 <= snippet_min <= snippet_max, got {self.snippet_min}, {self.snippet_max}")
        if self.ensemble < 1 or self.absorbing_horizon < 0:
            raise JustAskError("ensemble must be >= 1 and absorbing_horizon >= 0")


# The ranker's defaults: T-REX trains at a constant learning rate; weight decay keeps r̂'s scale in check.
RANKER_TRAINING = TrainConfig(
    steps=3000, batch_size=64, learning_rate=3e-4, weight_decay=1e-3, warmup_steps=0, schedule="constant"
)
RUN_KIND = "reward"


class RewardNet(nn.Module):
    """r̂(s) or r̂(s, a) for a batch ``(..., obs_dim)`` -> ``(...)``."""

    def __init__(self, obs_dim: int, action_dim: int, discrete: bool, cfg: RewardConfig) -> None:
        super().__init__()
        self.discrete, self.action_dim, self.use_actions = discrete, action_dim, cfg.use_actions
        width = obs_dim + (action_dim if cfg.use_actions else 0)
        layers: list[nn.Module] = []
        for hidden in cfg.hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.LeakyReLU()]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))

    def forward(self, observations: torch.Tensor, actions: torch.Tensor | None = None) -> torch.Tensor:
        x = (observations - self.obs_mean) / self.obs_std
        if self.use_actions:
            if actions is None:  # an absorbing state: no action is taken there
                a = x.new_zeros(*x.shape[:-1], self.action_dim)
            elif self.discrete:  # action -1 (absorbing) encodes as all zeros
                a = nn.functional.one_hot(actions.long() + 1, self.action_dim + 1)[..., 1:].float()
            else:
                a = actions.float()
            x = torch.cat([x, a], dim=-1)
        return self.net(x).squeeze(-1)


class LearnedReward(nn.Module):
    """An ensemble of ``RewardNet``s (mean prediction), with the config that built it."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, cfg: RewardConfig) -> None:
        super().__init__()
        self.config = cfg
        self.obs_dim = int(np.prod(observation_space.shape))
        discrete = isinstance(action_space, gym.spaces.Discrete)
        self.action_dim = int(action_space.n) if discrete else int(np.prod(action_space.shape))
        self.discrete = discrete
        self.nets = nn.ModuleList(RewardNet(self.obs_dim, self.action_dim, discrete, cfg) for _ in range(cfg.ensemble))
        # Subtracted from every prediction. The T-REX loss compares snippets of equal length, so
        # it fixes r̂ only up to a constant; a user of r̂ chooses one (see recipes/drex.py).
        self.register_buffer("offset", torch.zeros(()))

    def forward(self, observations: torch.Tensor, actions: torch.Tensor | None = None) -> torch.Tensor:
        return torch.stack([net(observations, actions) for net in self.nets]).mean(0) - self.offset

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """T-REX: each ensemble member's Bradley-Terry loss that the better snippet has the larger
        predicted return (summed over members: each gets the same snippets), and how often it does."""
        mask = batch["mask"].to(batch["better_obs"].dtype)
        target = torch.zeros(len(mask), dtype=torch.long, device=mask.device)
        loss = torch.zeros((), device=mask.device)
        accuracy = torch.zeros((), device=mask.device)
        for net in self.nets:
            ret_b = (net(batch["better_obs"], batch.get("better_actions")) * mask).sum(1)
            ret_w = (net(batch["worse_obs"], batch.get("worse_actions")) * mask).sum(1)
            loss = loss + nn.functional.cross_entropy(torch.stack([ret_b, ret_w], dim=1), target)
            accuracy = accuracy + (ret_b > ret_w).float().mean()
        n = len(self.nets)
        return loss, {"member_loss": loss.detach() / n, "snippet_accuracy": accuracy / n}

    def __call__(self, observations: Any, actions: Any = None) -> Any:
        """On tensors: the module; on numpy arrays: ``predict`` (so it is a ``reward_fn``)."""
        if isinstance(observations, np.ndarray):
            return self.predict(observations, actions if self.config.use_actions else None)
        return super().__call__(observations, actions)

    @torch.no_grad()
    def predict(
        self, observations: np.ndarray, actions: np.ndarray | None = None, pessimism: float = 0.0
    ) -> np.ndarray:
        """r̂ for ``(N, *obs_shape)`` observations (and actions; none for absorbing states), ``(N,)`` float64. With
        ``pessimism`` λ > 0: the ensemble mean minus λ times its standard deviation, lower where
        the members disagree (states unlike the ranked data)."""
        obs = torch.as_tensor(np.asarray(observations, dtype=np.float32)).reshape(len(observations), -1)
        acts = None if actions is None else torch.as_tensor(np.asarray(actions))
        out = []
        for i in range(0, len(obs), 65536):
            a = None if acts is None else acts[i : i + 65536]
            members = torch.stack([net(obs[i : i + 65536], a) for net in self.nets])
            value = members.mean(0) - self.offset
            if pessimism and len(self.nets) > 1:
                value = value - pessimism * members.std(0)
            out.append(value)
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    def step_rewards(self, episodes: Episodes) -> np.ndarray:
        """r̂ of every step: the score of the state each action was taken in, ``(N,)``. With an
        absorbing horizon H, the last step of an episode that terminated after T steps also
        carries ``(H - T) * r̂(final observation)``: the steps it spends in its absorbing state."""
        actions = episodes.actions if self.config.use_actions else None
        rewards = self.predict(episodes.step_observations(), actions)
        horizon = self.config.absorbing_horizon
        ended = ends_absorbed(episodes, horizon)
        if ended.any():
            finals = episodes.observations[episodes.observation_starts[ended] + episodes.lengths[ended]]
            last_steps = episodes.episode_starts[ended] + episodes.lengths[ended] - 1
            rewards[last_steps] += self.absorbing_value(finals, horizon - episodes.lengths[ended])
        return rewards

    def absorbing_value(self, final_observations: np.ndarray, remaining: np.ndarray) -> np.ndarray:
        """What ending in ``final_observations`` is worth: r̂ of the absorbing state times the
        ``remaining`` steps to the horizon, ``(N,)``."""
        if len(final_observations) == 0:
            return np.zeros(0)
        value = self.predict(final_observations, None)
        return value * np.asarray(remaining, dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        return {
            "reward": {**dataclasses.asdict(self.config), "hidden_sizes": list(self.config.hidden_sizes)},
            "obs_dim": self.obs_dim,
            "action_dim": self.action_dim,
            "discrete": self.discrete,
        }

    def save(self, folder: Path) -> None:
        """Write the weights (with the fitted offset) into the run folder ``folder``."""
        save_tensors(Path(folder) / MODEL_FILE, self.state_dict())

    @staticmethod
    def load(folder: Path) -> LearnedReward:
        """A learned reward's run folder (``train_reward``): JSON + safetensors, nothing unpickled."""
        folder = Path(folder)
        what = f"learned reward in {folder}"
        meta = read_run_config(folder, RUN_KIND, "a learned reward")
        try:
            cfg = RewardConfig(**meta["reward"])
            obs_dim, action_dim, discrete = int(meta["obs_dim"]), int(meta["action_dim"]), bool(meta["discrete"])
        except (KeyError, TypeError, ValueError) as exc:
            raise JustAskError(f"{what}: config.json is invalid ({exc})") from exc
        obs_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        act_space = gym.spaces.Discrete(action_dim) if discrete else gym.spaces.Box(-1, 1, (action_dim,), np.float32)
        model = LearnedReward(obs_space, act_space, cfg)
        load_state_checked(model, load_tensors(folder / MODEL_FILE, what), what)
        return model.eval()


@dataclasses.dataclass
class GuardedReward:
    """r̂ made safe to optimise. An optimiser goes where the ranked data never went, and there r̂
    is a guess. Guarded: the ensemble mean minus ``pessimism`` times its spread, clipped to the
    range r̂ takes on the ranked data, and the lowest of that range for any state outside the box
    (per observation dimension, widened by ``margin`` of its width) that the ranked data spans.
    Call it as a ``reward_fn``; ``absorbing`` scores endings."""

    reward: LearnedReward
    low: float
    high: float
    box_low: np.ndarray
    box_high: np.ndarray
    scale: float  # spread of r̂ on the ranked data: a sensible unit for an optimiser
    pessimism: float = 1.0

    @staticmethod
    def fit(reward: LearnedReward, episodes: Episodes, pessimism: float = 1.0, margin: float = 0.05) -> GuardedReward:
        actions = episodes.actions if reward.config.use_actions else None
        seen = np.concatenate(
            [
                reward.predict(episodes.step_observations(), actions),
                reward.predict(episodes.observations[episodes.observation_starts + episodes.lengths]),  # endings
            ]
        )
        flat = episodes.observations.reshape(len(episodes.observations), -1).astype(np.float64)
        lo, hi = flat.min(0), flat.max(0)
        width = hi - lo
        return GuardedReward(
            reward,
            float(seen.min()),
            float(seen.max()),
            lo - margin * width,
            hi + margin * width,
            float(np.std(seen)) or 1.0,
            pessimism,
        )

    def inside(self, observations: np.ndarray) -> np.ndarray:
        flat = np.asarray(observations, dtype=np.float64).reshape(len(observations), -1)
        return ((flat >= self.box_low) & (flat <= self.box_high)).all(axis=1)

    def __call__(self, observations: np.ndarray, actions: np.ndarray | None = None) -> np.ndarray:
        acts = actions if self.reward.config.use_actions else None
        value = np.clip(self.reward.predict(observations, acts, pessimism=self.pessimism), self.low, self.high)
        return np.where(self.inside(observations), value, self.low)

    def absorbing(self, final_observations: np.ndarray, remaining: np.ndarray) -> np.ndarray:
        return self(final_observations, None) * np.asarray(remaining, dtype=np.float64)


def ends_absorbed(episodes: Episodes, horizon: int) -> np.ndarray:
    """Which episodes terminated before ``horizon`` and so run on in an absorbing state, ``(E,)``
    bool (none when ``horizon`` is 0)."""
    lengths = episodes.lengths
    if horizon <= 0 or episodes.num_episodes == 0:
        return np.zeros(episodes.num_episodes, dtype=bool)
    ends = np.maximum(episodes.episode_starts + lengths - 1, 0)
    return (lengths > 0) & (lengths < horizon) & episodes.terminations[ends].astype(bool)


def absorbing_lengths(episodes: Episodes, horizon: int) -> np.ndarray:
    """Each episode's length counting its absorbing steps, ``(E,)``."""
    return np.where(ends_absorbed(episodes, horizon), horizon, episodes.lengths).astype(np.int64)


# ---- rankings and preferences ---------------------------------------------------------------------
def ranks_from_metadata(episodes: Episodes, key: str = "noise_eps", lower_is_better: bool = True) -> np.ndarray:
    """A rank per episode from a metadata value (D-REX: ``noise_eps``, less noise is better).
    Higher rank = better. Episodes without the key are an error."""
    values = []
    for i, meta in enumerate(episodes.metadata):
        value = meta.get(key, (meta.get("policy_params") or {}).get(key))
        if value is None:
            raise JustAskError(f"episode {i} has no metadata '{key}' to rank by")
        values.append(float(value))
    values_arr = np.asarray(values)
    return -values_arr if lower_is_better else values_arr


def preference_pairs(ranks: Sequence[float] | np.ndarray) -> np.ndarray:
    """All ``(better, worse)`` episode index pairs with strictly different ranks, ``(P, 2)``."""
    ranks = np.asarray(ranks, dtype=np.float64)
    better, worse = np.nonzero(ranks[:, None] > ranks[None, :])
    return np.stack([better, worse], axis=1).astype(np.int64)


def check_pairs(pairs: np.ndarray, num_episodes: int) -> np.ndarray:
    pairs = np.asarray(pairs, dtype=np.int64)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise JustAskError(f"preferences must be (better, worse) index pairs, got an array of shape {pairs.shape}")
    if len(pairs) == 0:
        raise JustAskError("no preferences: a reward needs at least one pair of episodes ranked differently")
    if pairs.min() < 0 or pairs.max() >= num_episodes:
        raise JustAskError(f"a preference names an episode outside 0..{num_episodes - 1}")
    if (pairs[:, 0] == pairs[:, 1]).any():
        raise JustAskError("a preference compares an episode with itself")
    return pairs


# ---- fitting -----------------------------------------------------------------------------------
class SnippetSampler:
    """Pairs of equal-length snippets (better, worse) cut on the device, T-REX style. With an
    absorbing horizon, a terminated episode's positions past its end are its final observation
    (with no action)."""

    def __init__(self, episodes: Episodes, pairs: np.ndarray, cfg: RewardConfig, device: torch.device) -> None:
        n = episodes.num_steps
        observations = episodes.step_observations().reshape(n, -1).astype(np.float32)
        actions = np.asarray(episodes.actions)
        lengths = episodes.lengths.astype(np.int64)
        virtual = lengths.copy()
        absorbing = np.zeros(episodes.num_episodes, dtype=np.int64)  # row of each episode's absorbing state
        horizon = cfg.absorbing_horizon
        ended = ends_absorbed(episodes, horizon)
        if ended.any():
            finals = episodes.observations[episodes.observation_starts[ended] + lengths[ended]]
            observations = np.concatenate([observations, finals.reshape(len(finals), -1).astype(np.float32)])
            no_action = np.full((len(finals), *actions.shape[1:]), -1 if actions.dtype.kind in "iu" else 0)
            actions = np.concatenate([actions, no_action.astype(actions.dtype)])
            absorbing[ended] = n + np.arange(int(ended.sum()))
            virtual[ended] = horizon
        self.observations = torch.as_tensor(observations, device=device)
        self.actions = torch.as_tensor(actions, device=device)
        self.starts = torch.as_tensor(episodes.episode_starts, device=device)
        self.real_lengths = torch.as_tensor(lengths, device=device)
        self.lengths = torch.as_tensor(virtual, device=device)
        self.absorbing = torch.as_tensor(absorbing, device=device)
        self.pairs = torch.as_tensor(pairs, device=device)
        self.cfg = cfg
        self.device = device
        self.steps = torch.arange(cfg.snippet_max, device=device)

    def _rows(self, episode: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        position = start[:, None] + self.steps[None, :]
        inside = position < self.real_lengths[episode, None]
        rows = torch.where(inside, self.starts[episode, None] + position, self.absorbing[episode, None])
        return rows.clamp(max=self.observations.shape[0] - 1)

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        g, dev = generator, self.device
        return {
            "pair": torch.randint(len(self.pairs), (batch,), generator=g, device=dev),
            "want": torch.randint(self.cfg.snippet_min, self.cfg.snippet_max + 1, (batch,), generator=g, device=dev),
            "u1": torch.rand(batch, generator=g, device=dev),
            "u2": torch.rand(batch, generator=g, device=dev),
        }

    def gather(self, draws: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Better and worse snippets ``(B, L, obs_dim)`` (and actions) and a mask ``(B, L)``."""
        chosen = self.pairs[draws["pair"]]
        better, worse = chosen[:, 0], chosen[:, 1]
        lb, lw = self.lengths[better], self.lengths[worse]
        length = torch.minimum(draws["want"], torch.minimum(lb, lw))  # (B,)
        # worse snippet starts at tw in [0, lw - length]; better at tb in [tw, lb - length] (T-REX)
        tw = (draws["u1"] * (lw - length + 1).float()).long().clamp(max=(lw - length))
        tw = torch.minimum(tw, lb - length)
        tb = tw + (draws["u2"] * (lb - length - tw + 1).float()).long().clamp(max=(lb - length - tw))
        rows_b, rows_w = self._rows(better, tb), self._rows(worse, tw)
        batch = {
            "better_obs": self.observations[rows_b],
            "worse_obs": self.observations[rows_w],
            "mask": self.steps[None, :] < length[:, None],
        }
        if self.cfg.use_actions:
            batch["better_actions"], batch["worse_actions"] = self.actions[rows_b], self.actions[rows_w]
        return batch


@dataclasses.dataclass
class RankingLearner:
    """A ``LearnedReward`` fitted to ``(better, worse)`` episode pairs by the T-REX loss."""

    episodes: Episodes
    pairs: np.ndarray
    config: RewardConfig
    run_kind: str = RUN_KIND

    def describe(self) -> dict[str, Any]:
        return {**self._template().describe(), "pairs": int(len(self.pairs))}

    def _template(self) -> LearnedReward:
        return LearnedReward(self.episodes.observation_space, self.episodes.action_space, self.config)

    def build(self) -> LearnedReward:
        model = self._template()
        obs = self.episodes.step_observations().reshape(self.episodes.num_steps, -1).astype(np.float64)
        for net in model.nets:
            net.obs_mean.copy_(torch.as_tensor(obs.mean(0), dtype=torch.float32))
            net.obs_std.copy_(torch.as_tensor(obs.std(0) + 1e-6, dtype=torch.float32).clamp(min=1e-3))
        return model

    def sampler(self, placement: Any) -> SnippetSampler:
        return SnippetSampler(self.episodes, self.pairs, self.config, placement.device)

    def weight(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.tensor(float(len(batch["mask"])), device=batch["mask"].device)


def train_reward(
    episodes: Episodes,
    pairs: np.ndarray,
    run_dir: str | Path,
    cfg: RewardConfig | None = None,
    train_config: TrainConfig | None = None,
    *,
    resume: bool = False,
    stop_at: int | None = None,
) -> tuple[LearnedReward, dict[str, Any]]:
    """Fit a ``LearnedReward`` to ``(better, worse)`` episode pairs through the one training loop
    (``training.fit``: its run folder, TensorBoard, resume); returns it and a log (final loss per
    member, pairwise accuracy on sampled snippets)."""
    pairs = check_pairs(pairs, episodes.num_episodes)
    learner = RankingLearner(episodes, pairs, cfg or RewardConfig())
    model = fit(learner, train_config or RANKER_TRAINING, run_dir, resume=resume, stop_at=stop_at)
    summary = Path(run_dir) / "train_summary.json"  # written when the run reaches its last step
    final = (read_json(summary, "reward training").get("final") or {}) if summary.is_file() else {}
    log = {
        "final_loss": final.get("member_loss"),
        "final_snippet_accuracy": final.get("snippet_accuracy"),
        "pairs": int(len(pairs)),
    }
    return model, log


def fit_offset(reward: LearnedReward, episodes: Episodes, pairs: np.ndarray) -> tuple[float, float]:
    """The per-step constant to subtract from r̂, fitted to whole-episode preferences.

    The T-REX loss compares snippets of equal length, so it leaves r̂ free up to a constant c —
    and c decides how episode length counts: ``sum(r̂) - c * T``. Whole episodes of different
    lengths do pin it down: choose the c under which the most ranked pairs of *whole* episodes
    come out in order. Returns (c, that pairwise accuracy). Uses only the ranked data.
    """
    pairs = check_pairs(pairs, episodes.num_episodes)
    saved = float(reward.offset)
    reward.offset.zero_()
    try:
        sums = np.add.reduceat(reward.step_rewards(episodes), episodes.episode_starts)
    finally:
        reward.offset.fill_(saved)
    lengths = absorbing_lengths(episodes, reward.config.absorbing_horizon).astype(np.float64)
    ds = sums[pairs[:, 0]] - sums[pairs[:, 1]]  # in order iff ds > c * dt
    dt = lengths[pairs[:, 0]] - lengths[pairs[:, 1]]
    moving = dt != 0
    if not moving.any():  # all whole episodes as long (an absorbing horizon): the constant cancels
        return 0.0, float((ds > 0).mean())
    candidates = np.unique(ds[moving] / dt[moving])
    # test between and beyond the breakpoints
    mids = np.concatenate([[candidates[0] - 1.0], (candidates[:-1] + candidates[1:]) / 2, [candidates[-1] + 1.0]])
    best_c, best_acc = 0.0, -1.0
    for chunk in np.array_split(mids, max(1, len(mids) // 512)):
        acc = (ds[None, :] > chunk[:, None] * dt[None, :]).mean(axis=1)
        i = int(np.argmax(acc))
        if acc[i] > best_acc:
            best_c, best_acc = float(chunk[i]), float(acc[i])
    return best_c, best_acc
