"""The direct-optimization peer for hindsight language on BabyAI: Stable-Baselines3 PPO from
scratch on a level's own missions, the mission's sentence embedding appended to the observation.

It sees the same observation as the text-conditioned models (the flat one-hot view, no mission
text in it) plus the same all-MiniLM-L6-v2 embedding they are asked with, learns from the level's
own reward (BabyAI's ``1 - 0.9 * steps / max_steps`` on success), and never trains on a mission
that names a held-out colour-object pair (such resets are skipped, as instruction BC's demos
leave them out). It is asked exactly as the other models are: per episode seed, an instruction
(own mission, held-out composition, paraphrase, or a steering control's), embedded and appended.

Hyperparameters follow the MiniGrid authors' PPO starter settings (``rl-starter-files``: lr 1e-3,
128 steps per env per rollout, 4 epochs, batch 256, gamma 0.99, GAE 0.95, entropy 0.01) with
16 envs and a 256x256 MLP (the one-hot view is 984 inputs wide).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from justask.captions import names_pair
from justask.errors import JustAskError
from justask.peers.sb3_peer import import_sb3
from justask.suites import babyai as ba
from justask.text import EMBEDDING_DIM, TextEncoder, shared_encoder

PPO_BABYAI = dict(
    n_steps=128,
    batch_size=256,
    n_epochs=4,
    gamma=0.99,
    gae_lambda=0.95,
    ent_coef=0.01,
    learning_rate=1e-3,
    clip_range=0.2,
    max_grad_norm=0.5,
    policy_kwargs={"net_arch": {"pi": [256, 256], "vf": [256, 256]}},
)
PPO_ENVS = 16


class InstructionInObservation(gym.Wrapper):
    """``justask/BabyAI-<level>`` on its own missions with the mission's embedding appended:
    ``(OBS_DIM + 384,)`` float32. Resets whose mission names a pair in ``held_out`` are skipped
    (the level is reset again from the env's seeded stream)."""

    def __init__(self, level: str, held_out: tuple[tuple[str, str], ...] = (), encoder: TextEncoder | None = None):
        super().__init__(gym.make(ba.env_id(level)))
        self.held_out = tuple(held_out)
        self.encoder = encoder or shared_encoder()
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (ba.OBS_DIM + EMBEDDING_DIM,), dtype=np.float32)
        self._embedding = np.zeros(EMBEDDING_DIM, dtype=np.float32)
        self.skipped = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        for _ in range(1000):
            if not names_pair(info["mission"], self.held_out):
                break
            self.skipped += 1
            obs, info = self.env.reset(options=options)
        else:
            raise JustAskError(f"every mission drawn names a held-out pair {self.held_out}")
        self._embedding = self.encoder.encode([info["mission"]])[0]
        return self._shown(obs), info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._shown(obs), reward, terminated, truncated, info

    def _shown(self, obs: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(obs, dtype=np.float32), self._embedding])


class InstructedSB3Policy:
    """An SB3 model trained on ``InstructionInObservation`` acting in ``justask/BabyAI-*``: each
    episode is asked its instruction — ``instructions(seeds) -> sentences``, a function of the new
    episodes' seeds as ``ask(model, text=...)`` takes it, or a dict by seed — embedded and appended
    to every observation. ``action_rule``: ``argmax`` (SB3's deterministic actions) or ``sample``
    (from the policy, SB3's generator seeded with ``seed``)."""

    def __init__(
        self,
        model: Any,
        instructions: Callable[[np.ndarray], Sequence[str]] | dict[int, str],
        name: str = "ppo",
        encoder: TextEncoder | None = None,
        action_rule: str = "argmax",
        seed: int = 0,
    ):
        if action_rule not in ("argmax", "sample"):
            raise JustAskError(f"unknown action rule '{action_rule}' (choose from argmax, sample)")
        if isinstance(instructions, dict):
            by_seed = {int(k): str(v) for k, v in instructions.items()}
            self.instructions: Callable[[np.ndarray], Sequence[str]] = lambda seeds: [by_seed[int(s)] for s in seeds]
        elif callable(instructions):
            self.instructions = instructions
        else:
            raise JustAskError(f"instructions must be a function of the seeds or a dict by seed, got {instructions!r}")
        self.model, self.name = model, name
        self.encoder = encoder or shared_encoder()
        self.action_rule = action_rule
        self.info = {"condition": "instruction embedding in the observation", "action_rule": action_rule}
        if action_rule == "sample":
            model.set_random_seed(seed)
        self._embeddings: dict[int, np.ndarray] = {}

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        texts = list(self.instructions(np.asarray(seeds)))
        if len(texts) != len(slots):
            raise JustAskError(f"instructions: {len(texts)} sentences for {len(slots)} episodes")
        vectors = self.encoder.encode(texts)
        for slot, vector in zip(slots, vectors, strict=True):
            self._embeddings[int(slot)] = vector

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        shown = np.concatenate(
            [np.asarray(observations, dtype=np.float32), np.stack([self._embeddings[int(s)] for s in slots])], axis=1
        )
        actions, _ = self.model.predict(shown, deterministic=self.action_rule == "argmax")
        return np.asarray(actions, dtype=np.int64)


def train_instruction_ppo(
    level: str,
    total_steps: int,
    *,
    seed: int = 0,
    held_out: tuple[tuple[str, str], ...] = (),
    tensorboard_log: str | None = None,
) -> Any:
    """SB3 PPO for ``total_steps`` env steps on the level's own missions (module doc)."""
    if total_steps < 1:
        raise JustAskError(f"PPO needs total_steps >= 1, got {total_steps}")
    sb3 = import_sb3("the PPO peer")
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env(lambda: InstructionInObservation(level, held_out), n_envs=PPO_ENVS, seed=seed)
    model = sb3.PPO(
        "MlpPolicy", venv, seed=seed, verbose=0, device="cpu", tensorboard_log=tensorboard_log, **PPO_BABYAI
    )
    model.learn(total_timesteps=total_steps, progress_bar=False)
    venv.close()
    return model
