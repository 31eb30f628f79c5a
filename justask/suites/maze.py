"""PointMaze goal suite: sparse-reward mazes whose goal is a request, a planner expert, explorers.

``justask/PointMazeGoal-Medium-v0`` and ``justask/PointMazeGoal-Large-v0`` wrap
gymnasium-robotics' ``PointMaze_Medium-v3`` / ``PointMaze_Large-v3`` (MuJoCo, continuous
actions, reward 1 within 0.45 of the goal, episode ends there). What changes:

- the observation is the flat ``(x, y, vx, vy)``: the goal is *not* in it. The goal is what the
  model is asked for (a condition), so a model trained on hindsight goals never sees the goal the
  data's collector happened to have;
- each episode's goal and start cell are a pure function of its seed (``episode_goal``), drawn as
  the env draws them (a uniform free cell, uniform noise of ±0.25 cells), so an agent asked for
  "the env's goal" gets it from the seed, like every other per-episode request in the project;
- ``task="explore"`` removes the goal's termination and reward (data collection: the episode runs
  to the time limit while the collector follows its own waypoints).

The expert plans over the maze's cells (breadth-first search from every goal cell, once) and
tracks the next cell's centre with a PD controller, as D4RL's maze2d controller did; the
``WaypointExplorer`` drives it through random cells, independent of the env's goal.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import io
from typing import Any

import gymnasium as gym
import numpy as np

from justask.errors import JustAskError

GOAL_RADIUS = 0.45  # the env's success distance
POSITION_NOISE = 0.25  # the env's goal and start noise, in cells
MAZES = ("Medium", "Large")


def env_id(maze: str) -> str:
    if maze not in MAZES:
        raise JustAskError(f"unknown maze '{maze}' (known: {', '.join(MAZES)})")
    return f"justask/PointMazeGoal-{maze}-v0"


def maze_map(maze: str) -> list[list[int]]:
    _register_point_maze()
    from gymnasium_robotics.envs.maze import maps

    return {"Medium": maps.MEDIUM_MAZE, "Large": maps.LARGE_MAZE}[maze]


@dataclasses.dataclass(frozen=True)
class MazeGeometry:
    """A maze's free cells, their centres in the env's coordinates, and shortest paths.

    ``next_cell[g, c]``: the free cell after ``c`` on a shortest path from ``c`` to goal cell
    ``g`` (indices into ``cells``; ``g`` itself when ``c == g``)."""

    walls: np.ndarray  # (rows, cols) bool
    scaling: float
    cells: np.ndarray  # (F, 2) row, col of the free cells
    next_cell: np.ndarray  # (F, F)
    distance: np.ndarray  # (F, F) cell steps from c to g

    @staticmethod
    def from_map(layout: list[list[Any]], scaling: float = 1.0) -> MazeGeometry:
        walls = np.array([[cell == 1 for cell in row] for row in layout], dtype=bool)
        cells = np.argwhere(~walls)
        index = {tuple(c): i for i, c in enumerate(cells.tolist())}
        n = len(cells)
        next_cell = np.full((n, n), -1, dtype=np.int64)
        distance = np.full((n, n), -1, dtype=np.int64)
        for g in range(n):
            next_cell[g, g], distance[g, g] = g, 0
            queue = collections.deque([g])
            while queue:
                c = queue.popleft()
                r, k = cells[c]
                for dr, dk in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                    nb = index.get((r + dr, k + dk))
                    if nb is not None and distance[g, nb] < 0:
                        distance[g, nb] = distance[g, c] + 1
                        next_cell[g, nb] = c  # from nb, step to c (one closer to g)
                        queue.append(nb)
        return MazeGeometry(walls, float(scaling), cells, next_cell, distance)

    @property
    def shape(self) -> tuple[int, int]:
        return self.walls.shape

    def centre(self, cell_index: np.ndarray | int) -> np.ndarray:
        """Centres ``(..., 2)`` (x, y) of free cells given by index."""
        rc = self.cells[np.asarray(cell_index)].astype(np.float64)
        rows, cols = self.shape
        x = (rc[..., 1] + 0.5) * self.scaling - cols / 2 * self.scaling
        y = rows / 2 * self.scaling - (rc[..., 0] + 0.5) * self.scaling
        return np.stack([x, y], axis=-1)

    def cell_of(self, xy: np.ndarray) -> np.ndarray:
        """Indices of the free cells containing points ``(..., 2)``; -1 for walls or outside."""
        xy = np.asarray(xy, dtype=np.float64)
        rows, cols = self.shape
        col = np.floor((xy[..., 0] + cols / 2 * self.scaling) / self.scaling).astype(np.int64)
        row = np.floor((rows / 2 * self.scaling - xy[..., 1]) / self.scaling).astype(np.int64)
        lookup = np.full(self.shape, -1, dtype=np.int64)
        lookup[self.cells[:, 0], self.cells[:, 1]] = np.arange(len(self.cells))
        inside = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
        out = np.full(row.shape, -1, dtype=np.int64)
        out[inside] = lookup[row[inside], col[inside]]
        return out

    def check_goal(self, goal: Any) -> np.ndarray:
        """A user's goal as ``(2,)`` float, or a one-line error if it is not a point in the maze."""
        arr = np.asarray(goal, dtype=np.float64).ravel()
        if arr.shape != (2,) or not np.isfinite(arr).all():
            raise JustAskError(f"a maze goal is two finite numbers x,y; got {goal!r}")
        if self.cell_of(arr) < 0:
            rows, cols = self.shape
            raise JustAskError(
                f"goal {arr.tolist()} is not in a free cell of the maze "
                f"(x in ±{cols / 2 * self.scaling:g}, y in ±{rows / 2 * self.scaling:g}, walls excluded)"
            )
        return arr


_GEOMETRY: dict[str, MazeGeometry] = {}


def geometry(maze: str) -> MazeGeometry:
    env_id(maze)  # validates the name
    if maze not in _GEOMETRY:
        _GEOMETRY[maze] = MazeGeometry.from_map(maze_map(maze))
    return _GEOMETRY[maze]


def episode_goal(maze: str, seed: int) -> tuple[np.ndarray, int, int]:
    """The goal ``(2,)``, goal cell and start cell of the episode reset with ``seed``: a uniform
    free cell plus uniform noise of ±0.25 cells (the env's own distribution), and a different
    uniform free cell to start in."""
    geo = geometry(maze)
    rng = np.random.default_rng([int(seed), 0x6A61])
    goal_cell, start_cell = rng.choice(len(geo.cells), size=2, replace=False)
    goal = geo.centre(goal_cell) + rng.uniform(-POSITION_NOISE, POSITION_NOISE, 2) * geo.scaling
    return goal, int(goal_cell), int(start_cell)


EVAL_SEED = 2_000_000  # evaluation episodes' seeds start here (their goals follow from them)


def env_goals(maze: str) -> Any:
    """Each episode's own goal as a function of the episodes' seeds: the per-episode request of
    a goal model asked what the env poses (``ask(model, goal=env_goals(maze))``)."""
    return lambda seeds: episode_goals(maze, seeds)


def goal_success(returns: np.ndarray, lengths: np.ndarray) -> dict[str, Any]:
    """Success rate (Wilson 95% CI) and median steps to the goal of episodes on the env's goals
    (a return of 1: the goal reached)."""
    from justask.stats import wilson_ci

    success = np.asarray(returns) >= 1.0
    wins = int(success.sum())
    return {
        "success": wins / len(success),
        "success_ci95": list(wilson_ci(wins, len(success))),
        "episodes": len(success),
        "steps_to_goal_median": float(np.median(np.asarray(lengths)[success])) if wins else None,
    }


def episode_goals(maze: str, seeds: np.ndarray) -> np.ndarray:
    """``(n, 2)`` goals of the episodes reset with ``seeds`` (an Agent's ``request_fn``)."""
    return np.stack([episode_goal(maze, int(s))[0] for s in np.asarray(seeds).ravel()]).astype(np.float32)


def _register_point_maze() -> None:
    # gymnasium_robotics prints a notice about its Adroit envs to stderr on import; keep it quiet.
    with contextlib.redirect_stderr(io.StringIO()):
        import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)


class MazeGoalEnv(gym.Env):
    """A PointMaze whose goal comes from the episode's seed and stays out of the observation."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, maze: str = "Medium", task: str = "goal", render_mode: str | None = None) -> None:
        if task not in ("goal", "explore"):
            raise JustAskError(f"maze task must be 'goal' or 'explore', got '{task}'")
        self.maze, self.task = maze, task
        self.geometry = geometry(maze)
        _register_point_maze()
        self._env = gym.make(
            f"PointMaze_{maze}-v3",
            continuing_task=(task == "explore"),
            reset_target=False,
            max_episode_steps=None,
        ).unwrapped
        self.render_mode = render_mode
        self.observation_space = self._env.observation_space["observation"]
        self.action_space = self._env.action_space
        self.goal = np.zeros(2)
        self._rng = np.random.default_rng()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        if seed is None:
            seed = int(self._rng.integers(2**31))
        goal, goal_cell, start_cell = episode_goal(self.maze, seed)
        if options and "goal" in options:
            goal = self.geometry.check_goal(options["goal"])
            goal_cell = int(self.geometry.cell_of(goal))
            start_cell = start_cell if start_cell != goal_cell else (goal_cell + 1) % len(self.geometry.cells)
        cells = self.geometry.cells
        first, _ = self._env.reset(seed=seed, options={"goal_cell": cells[goal_cell], "reset_cell": cells[start_cell]})
        obs = first["observation"]
        self.goal = np.asarray(goal, dtype=np.float64)
        self._env.goal = self.goal.copy()
        self._env.update_target_site_pos()
        return obs.astype(np.float64), {"desired_goal": self.goal.copy(), "success": self._reached(obs)}

    def _reached(self, obs: np.ndarray) -> bool:
        return bool(np.linalg.norm(obs[:2] - self.goal) <= GOAL_RADIUS)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs, _, _, _, info = self._env.point_env.step(np.asarray(action, dtype=np.float64))
        success = self._reached(obs)
        if self.task == "explore":
            reward, terminated = 0.0, False
        else:
            reward, terminated = float(success), success
        return obs.astype(np.float64), reward, terminated, False, {"desired_goal": self.goal.copy(), "success": success}

    def render(self) -> np.ndarray | None:
        """A top-down picture drawn here (walls, goal, ball): MuJoCo's own renderer needs an
        OpenGL platform (EGL/OSMesa) that headless machines often lack."""
        if self.render_mode != "rgb_array":
            return None
        return self._picture(self.goal, self._env.point_env.data.qpos[:2])

    def map_picture(self) -> np.ndarray:
        """The maze's walls alone, drawn as ``render`` draws them (a map to click a goal on)."""
        return self._picture(None, None)

    def _picture(self, goal: np.ndarray | None, ball: np.ndarray | None) -> np.ndarray:
        from PIL import Image, ImageDraw

        geo, px = self.geometry, 48
        rows, cols = geo.shape
        image = Image.new("RGB", (cols * px, rows * px), (235, 235, 228))
        draw = ImageDraw.Draw(image)
        for r, c in np.argwhere(geo.walls):
            draw.rectangle([c * px, r * px, (c + 1) * px - 1, (r + 1) * px - 1], fill=(90, 90, 90))

        def to_px(xy: np.ndarray) -> tuple[float, float]:
            return ((xy[0] / geo.scaling + cols / 2) * px, (rows / 2 - xy[1] / geo.scaling) * px)

        if goal is not None:
            gx, gy = to_px(goal)
            radius = GOAL_RADIUS / geo.scaling * px
            draw.ellipse([gx - radius, gy - radius, gx + radius, gy + radius], fill=(240, 150, 150))
        if ball is not None:
            bx, by = to_px(ball)
            size = 0.1 / geo.scaling * px * 1.5
            draw.ellipse([bx - size, by - size, bx + size, by + size], fill=(30, 120, 40))
        return np.asarray(image)

    def map_extent(self) -> tuple[float, float, float, float]:
        """The maze coordinates at the edges of ``render``'s and ``map_picture``'s picture: (left
        x, right x, top y, bottom y), so a click on the picture can be read as a goal."""
        rows, cols = self.geometry.shape
        half_w, half_h = cols / 2 * self.geometry.scaling, rows / 2 * self.geometry.scaling
        return (-half_w, half_w, half_h, -half_h)

    def close(self) -> None:
        self._env.close()


def _register() -> None:
    for maze, steps in (("Medium", 600), ("Large", 800)):
        gym.register(
            id=env_id(maze),
            entry_point="justask.suites.maze:MazeGoalEnv",
            kwargs={"maze": maze},
            max_episode_steps=steps,
        )


_register()


def pd_action(position: np.ndarray, velocity: np.ndarray, target: np.ndarray, gain: float = 10.0) -> np.ndarray:
    """The PD controller's action toward ``target``: ``clip(gain·(target − pos) − vel, ±1)``."""
    return np.clip(gain * (target - position) - velocity, -1.0, 1.0)


def planner_targets(geo: MazeGeometry, positions: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """The point each agent should head for now: the next cell's centre on a shortest path
    from its cell to its goal's cell, or the goal itself once in the goal's cell."""
    here = geo.cell_of(positions)
    there = geo.cell_of(goals)
    lost = here < 0  # inside a wall's square by a hair (contact): head straight on
    step = geo.next_cell[there, np.where(lost, there, here)]
    targets = geo.centre(step)
    arrived = (here == there) | lost
    targets[arrived] = goals[arrived]
    return targets


class MazePlanner:
    """The privileged expert: told each episode's goal (from its seed), it plans over cells and
    tracks waypoints with a PD controller. ``action_noise``: std of Gaussian noise added to its
    actions (the noisy experts), clipped to the action bounds."""

    def __init__(self, maze: str, action_noise: float = 0.0, seed: int = 0, name: str | None = None) -> None:
        self.maze = maze
        self.geometry = geometry(maze)
        self.action_noise = float(action_noise)
        self.name = name or ("planner" if action_noise == 0 else f"planner-noise{action_noise:g}")
        self.info = {"maze": maze, "action_noise": self.action_noise}
        self._goals: dict[int, np.ndarray] = {}
        self._rng = np.random.default_rng(seed)

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        for slot, seed in zip(slots, seeds, strict=True):
            self._goals[int(slot)] = episode_goal(self.maze, int(seed))[0]

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        obs = np.asarray(observations, dtype=np.float64)
        goals = np.stack([self._goals[int(s)] for s in slots])
        actions = pd_action(obs[:, :2], obs[:, 2:4], planner_targets(self.geometry, obs[:, :2], goals))
        if self.action_noise > 0:
            actions = np.clip(actions + self._rng.normal(0.0, self.action_noise, actions.shape), -1.0, 1.0)
        return actions.astype(np.float32)


class WaypointExplorer(MazePlanner):
    """Data collector: the planner driven through random free cells, one after another,
    regardless of the env's goal (D4RL maze2d's data: the controller sent to random waypoints).
    A waypoint counts as reached within ``GOAL_RADIUS`` of it; then a new one is drawn."""

    def __init__(self, maze: str, action_noise: float = 0.0, seed: int = 0, name: str | None = None) -> None:
        super().__init__(
            maze, action_noise, seed, name or ("explorer" if action_noise == 0 else f"explorer-noise{action_noise:g}")
        )
        self._waypoint_rngs: dict[int, np.random.Generator] = {}

    def _draw(self, slot: int) -> np.ndarray:
        rng = self._waypoint_rngs[slot]
        cell = rng.integers(len(self.geometry.cells))
        return self.geometry.centre(cell) + rng.uniform(-POSITION_NOISE, POSITION_NOISE, 2) * self.geometry.scaling

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        for slot, seed in zip(slots, seeds, strict=True):
            self._waypoint_rngs[int(slot)] = np.random.default_rng([int(seed), 0x7770])
            self._goals[int(slot)] = self._draw(int(slot))

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        obs = np.asarray(observations, dtype=np.float64)
        for i, s in enumerate(slots):
            while np.linalg.norm(obs[i, :2] - self._goals[int(s)]) <= GOAL_RADIUS:
                self._goals[int(s)] = self._draw(int(s))
        return super().act(obs, slots)
