"""OGBench's point mazes, its dataset recipe and its evaluation protocol — regenerated here, never
downloaded.

OGBench (Park et al. 2024, ``ogbench`` on PyPI) ships the envs and the oracle its datasets were
collected with; its repository documents the recipe (``data_gen_scripts/generate_locomaze.py``
and ``commands.sh``). This module follows that recipe with justask's own code and only ever
builds the env itself (the package's dataset download is never called):

- ``justask/OGBench-PointMaze-Medium-v0`` / ``-Large-v0``: OGBench's ``pointmaze-{medium,large}-v0``
  (MuJoCo point mass; the observation is its ``(x, y)``; actions in [-1, 1]^2). ``task="evaluate"``
  (the default) is OGBench's evaluation: the episode of seed ``s`` is evaluation task
  ``1 + s % 5`` (its start cell and goal cell, each with OGBench's uniform noise), it ends with
  reward 1 within 1.0 of the goal, and after 1000 steps. The goal is not in the observation: it
  is what a goal model is asked for (``episode_goals``). ``task="collect"`` neither ends nor
  rewards (the generator sets its goals);
- ``generate``: the recipe. *navigate*: 1000 episodes x 1001 steps from a uniform free cell, the
  oracle's direction to its next subgoal cell plus Gaussian noise (std 0.5, clipped to [-1, 1]),
  a new goal among the maze's junction and dead-end cells each time the current one is reached.
  *stitch*: 5000 episodes x 201 steps, each towards one goal 4 cells away, staying there.
- ``task_success``: OGBench's protocol — its five tasks, 50 episodes each, success averaged over
  the tasks — with a Wilson interval per task and overall.

What differs from OGBench's own files: the random draws (their script uses NumPy's global state
unseeded; here every episode's draws follow from the generator's seed), and the validation split
(their script also writes 10% more episodes as a validation file; ``generate`` makes only the
training episodes asked for). OGBench's env draws its start and goal noise from NumPy's global
state; this module seeds it for every reset and restores it afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np

from justask.errors import JustAskError

MAZES = ("Medium", "Large")
KINDS = ("navigate", "stitch")
DATASETS = tuple(f"pointmaze-{m.lower()}-{k}" for m in MAZES for k in KINDS)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One dataset kind's published settings (``commands.sh``)."""

    episodes: int
    steps: int  # transitions per episode (the script's max_episode_steps)
    noise: float = 0.5  # std of the Gaussian action noise


RECIPES = {"navigate": Recipe(1000, 1001), "stitch": Recipe(5000, 201)}
STITCH_CELLS = 4  # a stitch episode's goal is this many cells from its start (breadth-first)
GOAL_TOLERANCE = 1.0  # OGBench's success distance for the point mass
EVAL_STEPS = 1000  # its evaluation episodes' length
EVAL_TASKS = 5
EVAL_EPISODES_PER_TASK = 50  # ``impls/hyperparameters.sh``: --eval_episodes=50
EVAL_SEED = 7_000_000  # evaluation episodes' seeds start here: seed s is task 1 + s % 5
COLLECTOR_GOAL = "collector_goal"  # the generator's own goal at each step (GCBC without relabelling)
PUBLISHED = {  # OGBench paper, Table 2 (success %, on its official files): GCBC / GCIVL / GCIQL / QRL / CRL / HIQL
    "pointmaze-medium-navigate": {"GCBC": 9, "GCIVL": 63, "GCIQL": 53, "QRL": 82, "CRL": 29, "HIQL": 79},
    "pointmaze-large-navigate": {"GCBC": 29, "GCIVL": 45, "GCIQL": 34, "QRL": 86, "CRL": 39, "HIQL": 58},
}


def env_id(maze: str) -> str:
    if maze not in MAZES:
        raise JustAskError(f"unknown OGBench maze '{maze}' (known: {', '.join(MAZES)})")
    return f"justask/OGBench-PointMaze-{maze}-v0"


def parse_dataset(name: str) -> tuple[str, str]:
    """``"pointmaze-medium-navigate"`` -> ``("Medium", "navigate")``."""
    if name not in DATASETS:
        raise JustAskError(f"unknown OGBench dataset '{name}' (known: {', '.join(DATASETS)})")
    _, maze, kind = name.split("-")
    return maze.capitalize(), kind


@contextlib.contextmanager
def numpy_seeded(seed: int) -> Iterator[None]:
    """NumPy's global random state seeded with ``seed`` inside, restored after: OGBench's env
    draws its noise from it."""
    state = np.random.get_state()
    np.random.seed(int(seed) % 2**32)
    try:
        yield
    finally:
        np.random.set_state(state)


def _ogbench_env(maze: str, terminate_at_goal: bool) -> Any:
    """OGBench's own point maze (no time limit: the registration here sets it)."""
    import ogbench.locomaze  # noqa: F401  (registers its envs; no dataset is touched)

    return gym.make(
        f"pointmaze-{maze.lower()}-v0", terminate_at_goal=terminate_at_goal, max_episode_steps=None
    ).unwrapped


class OGBenchPointMazeEnv(gym.Env):
    """An OGBench point maze whose evaluation task and noise follow from the episode's seed and
    whose goal stays out of the observation (module doc)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, maze: str = "Medium", task: str = "evaluate", render_mode: str | None = None) -> None:
        env_id(maze)
        if task not in ("evaluate", "collect"):
            raise JustAskError(f"OGBench task must be 'evaluate' or 'collect', got '{task}'")
        self.maze, self.task, self.render_mode = maze, task, render_mode
        self.inner = _ogbench_env(maze, terminate_at_goal=(task == "evaluate"))
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), dtype=np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        self.goal = np.zeros(2)
        self.task_id: int | None = None
        self._rng = np.random.default_rng()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """``options``: ``task_id`` (1-5; default ``1 + seed % 5``), or ``task_info``
        (``{"init_ij", "goal_ij"}``, as OGBench takes it), and ``goal`` (x, y) to pose instead."""
        if seed is None:
            seed = int(self._rng.integers(2**31))
        options = dict(options or {})
        inner_options: dict[str, Any]
        if "task_info" in options:
            inner_options = {"task_info": options["task_info"]}
            self.task_id = None
        else:
            self.task_id = int(options.get("task_id", 1 + int(seed) % EVAL_TASKS))
            if not 1 <= self.task_id <= EVAL_TASKS:
                raise JustAskError(f"OGBench task_id must be 1-{EVAL_TASKS}, got {self.task_id}")
            inner_options = {"task_id": self.task_id}
        self.inner.action_space.seed(int(seed) % 2**32)
        with numpy_seeded(seed):
            obs, info = self.inner.reset(seed=int(seed) % 2**32, options=inner_options)
        self.goal = np.asarray(info["goal"], dtype=np.float64)[:2]
        if "goal" in options:
            self.goal = _checked_goal(options["goal"])
            self.inner.set_goal(goal_xy=tuple(self.goal))
        return np.asarray(obs, dtype=np.float64), {"goal": self.goal.copy(), "task_id": self.task_id}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        obs, _, _, _, info = self.inner.step(action)
        success = bool(info["success"])
        reward, terminated = (float(success), success) if self.task == "evaluate" else (0.0, False)
        return np.asarray(obs, dtype=np.float64), reward, terminated, False, {"success": success}

    def render(self) -> np.ndarray | None:
        """A top-down picture drawn here (walls, goal, point): MuJoCo's own renderer needs an
        OpenGL platform (EGL/OSMesa) that headless machines often lack."""
        if self.render_mode != "rgb_array":
            return None
        return self._picture(self.goal, np.asarray(self.inner.get_xy()))

    def map_picture(self) -> np.ndarray:
        """The maze's walls alone, drawn as ``render`` draws them (a map to click a goal on)."""
        return self._picture(None, None)

    def map_extent(self) -> tuple[float, float, float, float]:
        """The maze coordinates at the edges of the pictures: (left x, right x, top y, bottom y)."""
        rows, cols = np.asarray(self.inner.maze_map).shape
        unit = self.inner._maze_unit
        left, top = cell_centre((0, 0), unit)
        return (left - unit / 2, left - unit / 2 + cols * unit, top - unit / 2 + rows * unit, top - unit / 2)

    def _picture(self, goal: np.ndarray | None, point: np.ndarray | None) -> np.ndarray:
        from PIL import Image, ImageDraw

        walls = np.asarray(self.inner.maze_map)
        rows, cols = walls.shape
        px = 40
        left, right, top, bottom = self.map_extent()
        image = Image.new("RGB", (cols * px, rows * px), (235, 235, 228))
        draw = ImageDraw.Draw(image)

        def to_px(xy: np.ndarray) -> tuple[float, float]:  # y grows upwards in the maze, down in the picture
            return ((xy[0] - left) / (right - left) * cols * px, (top - xy[1]) / (top - bottom) * rows * px)

        for i, j in np.argwhere(walls == 1):
            x, y = to_px(np.array(cell_centre((int(i), int(j)), self.inner._maze_unit)))
            draw.rectangle([x - px / 2, y - px / 2, x + px / 2 - 1, y + px / 2 - 1], fill=(90, 90, 90))
        scale = px / self.inner._maze_unit
        if goal is not None:
            gx, gy = to_px(goal)
            r = GOAL_TOLERANCE * scale
            draw.ellipse([gx - r, gy - r, gx + r, gy + r], fill=(240, 150, 150))
        if point is not None:
            bx, by = to_px(point)
            r = 0.3 * scale
            draw.ellipse([bx - r, by - r, bx + r, by + r], fill=(30, 120, 40))
        return np.asarray(image)

    def close(self) -> None:
        self.inner.close()


def _checked_goal(goal: Any) -> np.ndarray:
    xy = np.asarray(goal, dtype=np.float64).reshape(-1)
    if xy.shape != (2,) or not np.isfinite(xy).all():
        raise JustAskError(f"an OGBench goal is (x, y), two finite numbers; got {goal!r}")
    return xy


_GOAL_ENVS: dict[str, OGBenchPointMazeEnv] = {}


def episode_goals(maze: str, seeds: np.ndarray) -> np.ndarray:
    """``(n, 2)`` goals of the evaluation episodes reset with ``seeds``, read from a reset of the
    env itself (so they are the env's by construction): an Agent's per-episode request."""
    env = _GOAL_ENVS.get(maze)
    if env is None:
        env = _GOAL_ENVS[maze] = OGBenchPointMazeEnv(maze)
    return np.stack([env.reset(seed=int(s))[1]["goal"] for s in np.asarray(seeds).ravel()]).astype(np.float32)


def env_goals(maze: str) -> Any:
    """Each evaluation episode's own goal as a function of the episodes' seeds."""
    return lambda seeds: episode_goals(maze, seeds)


def task_of(seeds: np.ndarray) -> np.ndarray:
    """The evaluation task (1-5) of the episodes reset with ``seeds``."""
    return 1 + np.asarray(seeds, dtype=np.int64) % EVAL_TASKS


def cell_centre(cell: tuple[int, int], unit: float = 4.0, offset: float = 4.0) -> tuple[float, float]:
    """A maze cell's (x, y) centre, as OGBench's ``ij_to_xy`` places it."""
    i, j = cell
    return j * unit - offset, i * unit - offset


# ---- the dataset recipe ----------------------------------------------------------------------
def maze_cells(maze_map: np.ndarray) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(every free cell, the free cells that are not the middle of a straight corridor): where
    the recipe starts episodes, and where a navigate episode's goals are drawn."""
    free, vertices = [], []
    for i in range(maze_map.shape[0]):
        for j in range(maze_map.shape[1]):
            if maze_map[i, j] != 0:
                continue
            free.append((i, j))
            up, down, left, right = maze_map[i - 1, j], maze_map[i + 1, j], maze_map[i, j - 1], maze_map[i, j + 1]
            corridor = (up == 0 and down == 0 and left == 1 and right == 1) or (
                left == 0 and right == 0 and up == 1 and down == 1
            )
            if not corridor:
                vertices.append((i, j))
    return free, vertices


def cells_at(maze_map: np.ndarray, start: tuple[int, int], distance: int) -> list[tuple[int, int]]:
    """Free cells exactly ``distance`` moves from ``start`` (breadth-first, four neighbours)."""
    seen = {start: 0}
    frontier, found = [start], []
    while frontier:
        nxt = []
        for i, j in frontier:
            for di, dj in ((-1, 0), (0, -1), (1, 0), (0, 1)):
                cell = (i + di, j + dj)
                if cell in seen or not (0 <= cell[0] < maze_map.shape[0] and 0 <= cell[1] < maze_map.shape[1]):
                    continue
                if maze_map[cell] != 0:
                    continue
                seen[cell] = seen[(i, j)] + 1
                if seen[cell] == distance:
                    found.append(cell)
                nxt.append(cell)
        frontier = nxt
    return found


def oracle_direction(inner: Any) -> np.ndarray:
    """The unit vector from the point to OGBench's oracle subgoal (the next cell on a shortest
    path to the current goal) — the recipe's expert for the point mass."""
    xy = inner.get_xy()
    subgoal, _ = inner.get_oracle_subgoal(xy, inner.cur_goal_xy)
    direction = np.asarray(subgoal) - xy
    return direction / (np.linalg.norm(direction) + 1e-6)


def generate(
    dataset: str,
    episodes: int | None = None,
    steps: int | None = None,
    noise: float | None = None,
    seed: int = 0,
    progress: bool = False,
) -> Any:
    """The ``dataset``'s episodes by OGBench's recipe (``RECIPES``; ``episodes``/``steps``/
    ``noise`` override it for a smaller run). Every step records the generator's current goal in
    column ``COLLECTOR_GOAL``; episode metadata: ``seed``, ``init_ij``, ``goals_reached``."""
    from tqdm.auto import tqdm

    from justask.conditions import GOAL as GOAL_KIND
    from justask.episodes import Episodes

    maze, kind = parse_dataset(dataset)
    recipe = RECIPES[kind]
    episodes = recipe.episodes if episodes is None else int(episodes)
    steps = recipe.steps if steps is None else int(steps)
    noise = recipe.noise if noise is None else float(noise)
    if episodes < 1 or steps < 1 or not (np.isfinite(noise) and noise >= 0):
        raise JustAskError(
            f"OGBench data needs episodes >= 1, steps >= 1, noise >= 0; got {episodes}, {steps}, {noise}"
        )
    env = OGBenchPointMazeEnv(maze, task="collect")
    inner = env.inner
    free, vertices = maze_cells(np.asarray(inner.maze_map))
    rng = np.random.default_rng([int(seed), 0x06B])
    pieces, goal_columns = [], []
    try:
        for e in tqdm(range(episodes), desc=f"{dataset}", disable=not progress, unit="ep"):
            init = free[rng.integers(len(free))]
            if kind == "navigate":
                goal = vertices[rng.integers(len(vertices))]
            else:
                near = cells_at(np.asarray(inner.maze_map), init, STITCH_CELLS)
                goal = near[rng.integers(len(near))] if near else init
            episode_seed = int(seed) * 1_000_000 + e
            obs, _ = env.reset(seed=episode_seed, options={"task_info": {"init_ij": init, "goal_ij": goal}})
            observations, actions, goals = [obs], [], []
            reached = 0
            for _ in range(steps):
                goals.append(np.asarray(inner.cur_goal_xy, dtype=np.float64))
                action = np.clip(oracle_direction(inner) + rng.normal(0.0, noise, 2), -1.0, 1.0)
                obs, _, _, _, info = env.step(action)
                observations.append(obs)
                actions.append(action)
                if info["success"] and kind == "navigate":  # a new goal once this one is reached
                    reached += 1
                    with numpy_seeded(int(rng.integers(2**31))):
                        inner.set_goal(goal_ij=vertices[rng.integers(len(vertices))])
            pieces.append(
                {
                    "observations": np.asarray(observations, dtype=np.float64),
                    "actions": np.asarray(actions, dtype=np.float32),
                    "rewards": np.zeros(steps, dtype=np.float32),
                    "terminations": np.zeros(steps, dtype=bool),
                    "truncations": np.arange(steps) == steps - 1,
                    "metadata": {"seed": episode_seed, "init_ij": list(init), "goals_reached": reached},
                }
            )
            goal_columns.append(np.asarray(goals, dtype=np.float32))
    finally:
        env.close()
    data = Episodes.from_episode_list(pieces, env.observation_space, env.action_space, env_id=env_id(maze))
    return data.with_condition(
        COLLECTOR_GOAL, np.concatenate(goal_columns), **GOAL_KIND.describe(strategy="collector", horizon=None)
    )


def task_success(episodes: Any) -> dict[str, Any]:
    """OGBench's score of evaluation episodes: success (a return of 1) per task with a Wilson
    95% CI, and overall — the mean over the tasks, as OGBench reports it — with the Wilson CI of
    all episodes pooled (equal episodes per task make the two means the same)."""
    from justask.stats import wilson_ci

    seeds = np.array([m["seed"] for m in episodes.metadata], dtype=np.int64)
    success = episodes.returns() >= 1.0
    tasks = task_of(seeds)
    per_task = {}
    for t in range(1, EVAL_TASKS + 1):
        mine = success[tasks == t]
        if len(mine):
            per_task[f"task{t}"] = {
                "success": float(mine.mean()),
                "ci95": list(wilson_ci(int(mine.sum()), len(mine))),
                "episodes": int(len(mine)),
            }
    wins = int(success.sum())
    return {
        "success": float(np.mean([v["success"] for v in per_task.values()])),
        "ci95": list(wilson_ci(wins, len(success))),
        "episodes": int(len(success)),
        "per_task": per_task,
        "steps_to_goal_median": float(np.median(episodes.lengths[success])) if wins else None,
    }


def _register() -> None:
    for maze in MAZES:
        gym.register(
            id=env_id(maze),
            entry_point="justask.suites.ogbench:OGBenchPointMazeEnv",
            kwargs={"maze": maze},
            max_episode_steps=EVAL_STEPS,
        )


_register()
