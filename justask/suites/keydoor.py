"""Dark Key-to-Door: Dark Room with two hidden cells — find the key, then the door.

``justask/DarkKeyToDoor-v0`` (``reset(options={"task": [key, door]})``): the agent starts in the
centre of the 9x9 room and sees its (x, y) and its stage (0: no key, 1: holding the key, 2: door
opened). Stepping onto the key pays 1 and picks it up; stepping onto the door while holding it
pays 1 and ends the episode; 50 steps at most. Exploration and memory both matter: the key must
be found before the door can be, and what an episode taught about either has to carry over.

Training tasks use only Dark Room's training cells for both key and door; ``HELD_OUT_PAIRS`` use
only its held-out cells, so no held-out key or door ever appears as a task in training data.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

import justask.suites.darkroom as darkroom
from justask.errors import JustAskError

ENV_ID = "justask/DarkKeyToDoor-v0"
HORIZON = 50
TRAIN_PAIRS: tuple[tuple[int, int], ...] = tuple(
    (k, d) for k in darkroom.TRAIN_GOALS for d in darkroom.TRAIN_GOALS if k != d
)
HELD_OUT_PAIRS: tuple[tuple[int, int], ...] = tuple(
    (k, d) for k in darkroom.HELD_OUT_GOALS for d in darkroom.HELD_OUT_GOALS if k != d
)
OPTIMAL_RETURN = 2.0  # key and door are always reachable within the horizon (at most 8 + 16 steps)


def check_task(task: Any) -> tuple[int, int]:
    try:
        key, door = (darkroom.check_goal(int(c)) for c in task)
    except (TypeError, ValueError) as exc:
        raise JustAskError(f"a Key-to-Door task is [key cell, door cell], got {task!r}") from exc
    if key == door:
        raise JustAskError(f"the key and the door must be different cells, got {key} twice")
    return key, door


def path_length(tasks: Any) -> np.ndarray:
    """Steps of the shortest solution: centre -> key -> door."""
    tasks = np.asarray(tasks).reshape(-1, 2)
    key, door = darkroom.cell_xy(tasks[:, 0]), darkroom.cell_xy(tasks[:, 1])
    return darkroom.goal_distance(tasks[:, 0]) + np.abs(key - door).sum(-1)


def expert_actions(observations: np.ndarray, tasks: Any) -> np.ndarray:
    """Walk to the key, then to the door (Dark Room's expert toward the current target)."""
    obs = np.asarray(observations).reshape(-1, 3)
    tasks = np.broadcast_to(np.asarray(tasks).reshape(-1, 2), (len(obs), 2))
    target = np.where(obs[:, 2] >= 1, tasks[:, 1], tasks[:, 0])
    return darkroom.expert_actions(obs[:, :2], target)


class KeyToDoorEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(self, task: Any = None, horizon: int = HORIZON, render_mode: str | None = None) -> None:
        self.fixed = None if task is None else check_task(task)
        self.horizon = int(horizon)
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0.0, darkroom.SIZE - 1.0, shape=(3,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(len(darkroom.MOVES))
        self.task = self.fixed or (0, 1)
        self._pos, self._stage, self._t = np.array(darkroom.CENTER), 0, 0

    def _obs(self) -> np.ndarray:
        return np.array([*self._pos, self._stage], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options and "task" in options:
            self.task = check_task(options["task"])
        elif self.fixed is not None:
            self.task = self.fixed
        else:
            pair = self.np_random.choice(darkroom.N_GOALS, size=2, replace=False)
            self.task = (int(pair[0]), int(pair[1]))
        self._pos, self._stage, self._t = np.array(darkroom.CENTER, dtype=np.int64), 0, 0
        return self._obs(), {"task": list(self.task)}

    def step(self, action: Any):
        if self._t >= self.horizon or self._stage == 2:
            raise JustAskError("Key-to-Door episode is over; call reset()")
        self._pos = np.clip(self._pos + darkroom.MOVES[int(action)], 0, darkroom.SIZE - 1)
        self._t += 1
        cell, reward = int(darkroom.xy_cell(self._pos)), 0.0
        if self._stage == 0 and cell == self.task[0]:
            self._stage, reward = 1, 1.0
        elif self._stage == 1 and cell == self.task[1]:
            self._stage, reward = 2, 1.0
        terminated = self._stage == 2
        return self._obs(), reward, terminated, self._t >= self.horizon and not terminated, {"task": list(self.task)}

    def render(self) -> np.ndarray:
        """The key (yellow, until picked up), the door (brown) and the agent (white)."""
        image = np.full((darkroom.SIZE, darkroom.SIZE, 3), 40, dtype=np.uint8)
        kx, ky = darkroom.cell_xy(self.task[0])
        dx, dy = darkroom.cell_xy(self.task[1])
        image[dy, dx] = (150, 90, 40)
        if self._stage == 0:
            image[ky, kx] = (230, 200, 40)
        image[self._pos[1], self._pos[0]] = (240, 240, 240)
        return np.kron(image, np.ones((16, 16, 1), dtype=np.uint8))


gym.register(id=ENV_ID, entry_point="justask.suites.keydoor:KeyToDoorEnv")


def annealed_history(task: Any, episodes: int, seed: int, *, floor: float = 0.0) -> list[dict[str, Any]]:
    """AD-ε on one task: the expert with random actions at a share annealed from 1 to ``floor``."""
    env = KeyToDoorEnv(task=check_task(task))
    rng = np.random.default_rng(seed)
    out = []
    for i in range(episodes):
        eps = 1.0 - (1.0 - floor) * i / max(1, episodes - 1)
        obs, _ = env.reset()
        observations, actions, rewards = [obs], [], []
        terminated = truncated = False
        while not (terminated or truncated):
            a = int(rng.integers(5)) if rng.random() < eps else int(expert_actions(obs[None], env.task)[0])
            obs, r, terminated, truncated, _ = env.step(a)
            observations.append(obs)
            actions.append(a)
            rewards.append(r)
        n = len(actions)
        out.append(
            {
                "observations": np.array(observations, dtype=np.float32),
                "actions": np.array(actions, dtype=np.int64),
                "rewards": np.array(rewards, dtype=np.float32),
                "terminations": np.arange(1, n + 1) == n if terminated else np.zeros(n, bool),
                "truncations": np.arange(1, n + 1) == n if truncated else np.zeros(n, bool),
                "metadata": {"task": list(env.task), "position": i, "noise": eps, "source": "annealed"},
            }
        )
    return out


# ---- as an in-context task family: one belief for the key, one for the door ---------------------
# A step's outcome for the key: 0 not the key (ended there without a key), 1 the key (picked up
# there), 2 says nothing (the key was already held). For the door: 0 says nothing (no key yet),
# 1 not the door (ended there holding the key), 2 the door (opened there).
def _key_tokens(actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    obs = np.asarray(next_obs).reshape(-1, 3)
    paid = np.asarray(rewards).reshape(-1) > 0
    outcome = np.where(obs[:, 2] == 0, 0, np.where((obs[:, 2] == 1) & paid, 1, 2))
    return darkroom.xy_cell(obs[:, :2]), outcome.astype(np.int64)


def _door_tokens(actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    obs = np.asarray(next_obs).reshape(-1, 3)
    paid = np.asarray(rewards).reshape(-1) > 0
    outcome = np.where(obs[:, 2] == 2, 2, np.where((obs[:, 2] == 1) & ~paid, 1, 0))
    return darkroom.xy_cell(obs[:, :2]), outcome.astype(np.int64)


def _falsified(tokens: Any, confirm: int, deny: int) -> Any:
    def falsified(next_obs: np.ndarray, rewards: np.ndarray, guesses: np.ndarray) -> np.ndarray:
        cells, outcome = tokens(None, rewards, next_obs)
        return ((cells == guesses) & (outcome == deny)) | ((outcome == confirm) & (cells != guesses))

    return falsified


def families() -> tuple[Any, Any]:
    """The key's and the door's in-context families (the same steps, read for each part)."""
    from justask.suites.families import InContextFamily

    common = dict(
        env_id=ENV_ID,
        n_tasks=darkroom.N_GOALS,
        n_outcomes=3,
        reset_options=lambda task: {"task": list(task)},
        optimal_return=lambda task: OPTIMAL_RETURN,
    )
    key = InContextFamily(
        name="keydoor/key",
        step_tokens=_key_tokens,
        label=lambda meta: int(meta["task"][0]),
        falsified=_falsified(_key_tokens, confirm=1, deny=0),
        **common,
    )
    door = InContextFamily(
        name="keydoor/door",
        step_tokens=_door_tokens,
        label=lambda meta: int(meta["task"][1]),
        falsified=_falsified(_door_tokens, confirm=2, deny=1),
        **common,
    )
    return key, door
