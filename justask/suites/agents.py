"""Many agents: a small grid of coloured objects, walls and lava, and a population of agents with
hidden traits — the world of "behave as π_test" (in-context imitation of agents never seen).

``justask/ManyAgents-v0``: a 9x9 room (the border is wall), a few inner walls and lava cells, five
objects (``OBJECTS``), all drawn from the reset seed so that every layout is reachable without
crossing lava. The observation is the whole grid, one-hot per cell (``CHANNELS``), the same grid
centred on the agent, then which objects have been touched: everything an imitator needs, and more than an agent with a narrow view
knows. Actions: up, down, left, right (into a wall or an object: stay). Objects block the way, as
in MiniGrid; moving into one touches it (so an agent on its way never touches another by passing);
the episode ends when ``TOUCHES`` objects have been touched (terminated) or after ``HORIZON``
steps (truncated). Reward 1 per new touch — unused by imitation, kept so the data are an ordinary
RL dataset.

``TraitAgent`` acts by its traits (``Traits``): a preference order over the objects (it goes for
the most preferred untouched object it knows of), a style (``direct``: a shortest path, vertical
moves first; ``wandering``: a shortest path with a random move 30% of the time; ``wall_hugging``:
the cheapest path where cells away from walls cost three; held out, ``zigzag``: a shortest path
alternating horizontal and vertical moves), caution (avoids lava where it can, or walks through
it) and view (sees the whole room, or only cells within two steps, remembering what it has seen
and exploring towards the nearest unseen cell while its target is unknown).

``population()`` is every combination of traits; ``held_out()`` splits off the agents training
never sees: every agent of the held-out style, and a fixed fifth of the other combinations.
``describe(traits)`` says an agent in words, as a hindsight caption would.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np

from justask.errors import JustAskError
from justask.policies import SlotRandomness

ENV_ID = "justask/ManyAgents-v0"
SIZE = 9
HORIZON = 40
TOUCHES = 2
OBJECTS = ("red ball", "blue key", "green box", "yellow ball", "purple key")
N_OBJECTS = len(OBJECTS)
INNER_WALLS = 8
LAVA = 5
CHANNELS = ("wall", "lava", *OBJECTS, "agent")
EGO = 2 * SIZE - 1  # the agent-centred view: every cell of the room at every position of the agent
GRID_DIM = len(CHANNELS) * SIZE * SIZE
OBS_DIM = GRID_DIM + (len(CHANNELS) - 1) * EGO * EGO + N_OBJECTS
# up, down, left, right as (dx, dy)
MOVES = np.array([(0, -1), (0, 1), (-1, 0), (1, 0)], dtype=np.int64)
STYLES = ("direct", "wandering", "wall_hugging")
HELD_OUT_STYLE = "zigzag"
VIEW_RADIUS = 2
WANDER = 0.3
HELD_OUT_SHARE = 0.2


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where everything is: wall and lava masks ``(SIZE, SIZE)`` bool (indexed [y, x]), each
    object's (x, y), the agent's start (x, y)."""

    walls: np.ndarray
    lava: np.ndarray
    objects: tuple[tuple[int, int], ...]
    start: tuple[int, int]


def draw_layout(rng: np.random.Generator) -> Layout:
    """A random layout in which the start reaches every object without crossing lava."""
    while True:
        walls = np.zeros((SIZE, SIZE), dtype=bool)
        walls[0, :] = walls[-1, :] = walls[:, 0] = walls[:, -1] = True
        inner = [(x, y) for y in range(1, SIZE - 1) for x in range(1, SIZE - 1)]
        picks = rng.permutation(len(inner))
        cells = [inner[i] for i in picks]
        for x, y in cells[:INNER_WALLS]:
            walls[y, x] = True
        lava = np.zeros_like(walls)
        for x, y in cells[INNER_WALLS : INNER_WALLS + LAVA]:
            lava[y, x] = True
        rest = cells[INNER_WALLS + LAVA :]
        objects = tuple(rest[:N_OBJECTS])
        start = rest[N_OBJECTS]
        blocked = walls | lava
        for x, y in objects:
            blocked[y, x] = True
        reach = distances(blocked, start)
        if all(min(reach[y + dy, x + dx] for dx, dy in MOVES) < np.inf for x, y in objects):
            return Layout(walls, lava, objects, start)


def distances(blocked: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    """Steps from ``source`` to every cell avoiding ``blocked`` cells, ``(SIZE, SIZE)`` (inf: unreachable)."""
    out = np.full(blocked.shape, np.inf)
    x0, y0 = source
    out[y0, x0] = 0
    queue = deque([(x0, y0)])
    while queue:
        x, y = queue.popleft()
        for dx, dy in MOVES:
            nx, ny = x + dx, y + dy
            if 0 <= nx < SIZE and 0 <= ny < SIZE and not blocked[ny, nx] and out[ny, nx] == np.inf:
                out[ny, nx] = out[y, x] + 1
                queue.append((nx, ny))
    return out


def observe(layout: Layout, objects: list[tuple[int, int]], agent: tuple[int, int], touched: np.ndarray) -> np.ndarray:
    """The observation: one-hot channels ``(len(CHANNELS), SIZE, SIZE)`` flattened; the same room
    centred on the agent, ``(len(CHANNELS) - 1, EGO, EGO)`` (outside the room: wall), so that
    "the object is two cells up" reads the same wherever the agent is; then the touched flags."""
    grid = np.zeros((len(CHANNELS), SIZE, SIZE), dtype=np.float32)
    grid[0] = layout.walls
    grid[1] = layout.lava
    for k, (x, y) in enumerate(objects):
        grid[2 + k, y, x] = 1.0
    grid[-1, agent[1], agent[0]] = 1.0
    ego = np.zeros((len(CHANNELS) - 1, EGO, EGO), dtype=np.float32)
    ego[0] = 1.0
    top, left = SIZE - 1 - agent[1], SIZE - 1 - agent[0]
    ego[:, top : top + SIZE, left : left + SIZE] = grid[:-1]
    return np.concatenate([grid.reshape(-1), ego.reshape(-1), touched.astype(np.float32)])


def parse(observation: np.ndarray) -> dict[str, Any]:
    """An observation back into walls, lava, objects' (x, y) (None where none), agent (x, y), touched."""
    obs = np.asarray(observation, dtype=np.float32)
    if obs.shape != (OBS_DIM,):
        raise JustAskError(f"a ManyAgents observation has {OBS_DIM} numbers, got shape {obs.shape}")
    grid = obs[:GRID_DIM].reshape(len(CHANNELS), SIZE, SIZE) > 0.5
    objects: list[tuple[int, int] | None] = []
    for k in range(N_OBJECTS):
        ys, xs = np.nonzero(grid[2 + k])
        objects.append((int(xs[0]), int(ys[0])) if len(xs) else None)
    ys, xs = np.nonzero(grid[-1])
    return {
        "walls": grid[0],
        "lava": grid[1],
        "objects": objects,
        "agent": (int(xs[0]), int(ys[0])),
        "touched": obs[-N_OBJECTS:] > 0.5,
    }


class ManyAgentsEnv(gym.Env):
    """The room (module doc). ``reset(options={"layout": Layout})`` plays a given layout;
    ``move_object(k, (x, y))`` moves an object mid-episode (the false-belief test)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, render_mode: str | None = None) -> None:
        self.observation_space = gym.spaces.Box(0.0, 1.0, (OBS_DIM,), np.float32)
        self.action_space = gym.spaces.Discrete(len(MOVES))
        self.render_mode = render_mode
        self.layout: Layout | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        layout = (options or {}).get("layout")
        if layout is not None and not isinstance(layout, Layout):
            raise JustAskError("ManyAgents: options['layout'] must be a Layout")
        self.layout = layout or draw_layout(self.np_random)
        self.objects = list(self.layout.objects)
        self.agent = self.layout.start
        self.touched = np.zeros(N_OBJECTS, dtype=bool)
        self.order: list[int] = []
        self.steps = 0
        return self._obs(), {"touched": []}

    def _obs(self) -> np.ndarray:
        return observe(self.layout, self.objects, self.agent, self.touched)

    def move_object(self, k: int, cell: tuple[int, int]) -> None:
        x, y = cell
        if self.layout.walls[y, x] or cell in self.objects or cell == self.agent:
            raise JustAskError(f"ManyAgents: cannot move {OBJECTS[k]} to {cell}: not a free cell")
        self.objects[k] = (int(x), int(y))

    def step(self, action: Any):
        dx, dy = MOVES[int(action)]
        cell = (int(self.agent[0] + dx), int(self.agent[1] + dy))
        reward = 0.0
        if cell in self.objects:
            k = self.objects.index(cell)
            if not self.touched[k]:
                self.touched[k] = True
                self.order.append(k)
                reward = 1.0
        elif not self.layout.walls[cell[1], cell[0]]:
            self.agent = cell
        self.steps += 1
        done = len(self.order) >= TOUCHES
        info = {"touched": list(self.order), "on_lava": bool(self.layout.lava[self.agent[1], self.agent[0]])}
        return self._obs(), reward, done, self.steps >= HORIZON and not done, info

    def render(self) -> np.ndarray:
        colours = {"red": (220, 50, 50), "blue": (50, 90, 230), "green": (40, 170, 70), "yellow": (230, 200, 40)}
        colours["purple"] = (150, 60, 190)
        cell = 24
        img = np.full((SIZE * cell, SIZE * cell, 3), 235, dtype=np.uint8)
        for y, x in itertools.product(range(SIZE), range(SIZE)):
            box = img[y * cell : (y + 1) * cell, x * cell : (x + 1) * cell]
            if self.layout.walls[y, x]:
                box[:] = (90, 90, 90)
            elif self.layout.lava[y, x]:
                box[:] = (250, 120, 30)
        for k, (x, y) in enumerate(self.objects):
            colour = colours[OBJECTS[k].split()[0]]
            pad = 4 if "box" in OBJECTS[k] else 7
            img[y * cell + pad : (y + 1) * cell - pad, x * cell + pad : (x + 1) * cell - pad] = (
                colour if not self.touched[k] else tuple(c // 3 + 150 for c in colour)
            )
        x, y = self.agent
        img[y * cell + 9 : (y + 1) * cell - 9, x * cell + 2 : (x + 1) * cell - 2] = 0
        img[y * cell + 2 : (y + 1) * cell - 2, x * cell + 9 : (x + 1) * cell - 9] = 0
        return img


gym.register(id=ENV_ID, entry_point="justask.suites.agents:ManyAgentsEnv", max_episode_steps=None)


# ---- the population -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Traits:
    """What makes an agent itself (module doc)."""

    preference: tuple[int, ...]  # object indices, most preferred first
    style: str
    cautious: bool
    sees_all: bool

    def __post_init__(self) -> None:
        if sorted(self.preference) != list(range(N_OBJECTS)):
            raise JustAskError(f"preference must order all {N_OBJECTS} objects, got {self.preference}")
        if self.style not in (*STYLES, HELD_OUT_STYLE):
            raise JustAskError(f"unknown style '{self.style}' ({', '.join((*STYLES, HELD_OUT_STYLE))})")

    @property
    def name(self) -> str:
        pref = "".join(str(k) for k in self.preference)
        return f"{pref}-{self.style}-{'cautious' if self.cautious else 'reckless'}-{'all' if self.sees_all else 'near'}"

    def to_json(self) -> dict[str, Any]:
        return {
            "preference": list(self.preference),
            "style": self.style,
            "cautious": self.cautious,
            "sees_all": self.sees_all,
        }


def population(styles: tuple[str, ...] = (*STYLES, HELD_OUT_STYLE)) -> list[Traits]:
    """Every combination of traits, in a fixed order."""
    return [
        Traits(tuple(p), s, c, v)
        for p in itertools.permutations(range(N_OBJECTS))
        for s in styles
        for c in (True, False)
        for v in (True, False)
    ]


def held_out(agents: list[Traits], seed: int = 2027) -> tuple[list[Traits], list[Traits]]:
    """(training agents, held-out agents): every agent of the held-out style is held out, and a
    fixed share of the rest, drawn by ``seed`` over whole trait combinations."""
    rng = np.random.default_rng(seed)
    seen = [a for a in agents if a.style != HELD_OUT_STYLE]
    keys = sorted({a.name for a in seen})
    out = set(np.asarray(keys)[rng.permutation(len(keys))[: int(round(HELD_OUT_SHARE * len(keys)))]].tolist())
    train = [a for a in seen if a.name not in out]
    test = [a for a in agents if a.style == HELD_OUT_STYLE or a.name in out]
    return train, test


def describe(traits: Traits) -> str:
    """The agent in words: "goes for the red ball first, then the blue key; takes the shortest way;
    keeps away from lava; sees the whole room"."""
    first, second = (OBJECTS[k] for k in traits.preference[:2])
    style = {
        "direct": "takes the shortest way",
        "wandering": "wanders on the way",
        "wall_hugging": "keeps to the walls",
        "zigzag": "zigzags",
    }[traits.style]
    caution = "keeps away from lava" if traits.cautious else "walks through lava"
    view = "sees the whole room" if traits.sees_all else "sees only what is near"
    return f"goes for the {first} first, then the {second}; {style}; {caution}; {view}"


TRAIT_FIELDS = (
    *(f"rank of {o}" for o in OBJECTS),
    *(f"first: {o}" for o in OBJECTS),
    *(f"style: {s}" for s in (*STYLES, HELD_OUT_STYLE)),
    "cautious",
    "sees all",
)


def trait_vector(traits: Traits) -> np.ndarray:
    """The traits as numbers (``TRAIT_FIELDS``): each object's rank in the preference (0: first,
    1: last), the first preference one-hot, the style one-hot, caution, view."""
    rank = np.empty(N_OBJECTS)
    rank[list(traits.preference)] = np.arange(N_OBJECTS) / (N_OBJECTS - 1)
    first = np.eye(N_OBJECTS)[traits.preference[0]]
    styles = (*STYLES, HELD_OUT_STYLE)
    style = np.eye(len(styles))[styles.index(traits.style)]
    return np.concatenate([rank, first, style, [float(traits.cautious), float(traits.sees_all)]]).astype(np.float32)


def _neighbours(x: int, y: int, walls: np.ndarray) -> list[tuple[int, int, int]]:
    """(action, x, y) of the cells a move from (x, y) may lead to (not into ``walls``)."""
    out = []
    for a, (dx, dy) in enumerate(MOVES):
        nx, ny = x + int(dx), y + int(dy)
        if not walls[ny, nx]:
            out.append((a, nx, ny))
    return out


def path_costs(walls: np.ndarray, lava: np.ndarray, target: tuple[int, int], cautious: bool, hug: bool) -> np.ndarray:
    """Cost of stepping onto each cell and then going on to ``target`` (Dijkstra backwards): a
    step costs 1, or 3 onto a cell with no wall beside it for a wall-hugger; stepping onto lava
    costs 50 more for a cautious agent (it crosses lava only where there is no other way)."""
    step = np.ones((SIZE, SIZE))
    if hug:
        near_wall = np.zeros_like(walls)
        for dx, dy in MOVES:
            near_wall |= np.roll(np.roll(walls, -dy, axis=0), -dx, axis=1)
        step = np.where(near_wall, 1.0, 3.0)
    if cautious:
        step = step + 50.0 * lava
    cost = np.full((SIZE, SIZE), np.inf)
    tx, ty = target
    cost[ty, tx] = 0.0
    heap = [(0.0, tx, ty)]
    while heap:
        c, x, y = heapq.heappop(heap)
        if c > cost[y, x]:
            continue
        for _, nx, ny in _neighbours(x, y, walls):
            # moving from (nx, ny) onto (x, y) costs step[y, x]
            nc = c + step[y, x]
            if nc < cost[ny, nx]:
                cost[ny, nx] = nc
                heapq.heappush(heap, (nc, nx, ny))
    return cost + step


class TraitAgent:
    """A scripted agent acting by its ``Traits`` (module doc): a ``justask.policies.Policy``."""

    def __init__(self, traits: Traits) -> None:
        self.traits = traits
        self.name = f"agent {traits.name}"
        self.info = {"agent": traits.name, **traits.to_json()}
        self._rng = SlotRandomness(f"agent {traits.name}")
        self._memory: dict[int, dict[str, Any]] = {}

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        self._rng.reset(slots, seeds)
        for s in slots:
            self._memory[int(s)] = {"seen": np.zeros((SIZE, SIZE), dtype=bool), "objects": {}, "last": None}

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        return np.array([self._act_one(o, int(s)) for o, s in zip(observations, slots, strict=True)], dtype=np.int64)

    def believed_objects(self, state: dict[str, Any], memory: dict[str, Any]) -> dict[int, tuple[int, int]]:
        """Where the agent believes each object is: all of them for a full view; else where it
        last saw each (an object moved while out of view stays where it was seen)."""
        if self.traits.sees_all:
            return {k: xy for k, xy in enumerate(state["objects"]) if xy is not None}
        ax, ay = state["agent"]
        ys, xs = np.mgrid[0:SIZE, 0:SIZE]
        view = (np.abs(xs - ax) <= VIEW_RADIUS) & (np.abs(ys - ay) <= VIEW_RADIUS)
        memory["seen"] |= view
        for k, xy in enumerate(state["objects"]):
            if xy is not None and view[xy[1], xy[0]]:
                memory["objects"][k] = xy
            elif k in memory["objects"] and view[memory["objects"][k][1], memory["objects"][k][0]]:
                del memory["objects"][k]  # looked where it was and it is gone
        return dict(memory["objects"])

    def _act_one(self, observation: np.ndarray, slot: int) -> int:
        memory = self._memory.setdefault(
            slot, {"seen": np.zeros((SIZE, SIZE), dtype=bool), "objects": {}, "last": None}
        )
        state = parse(observation)
        known = self.believed_objects(state, memory)
        targets = [k for k in self.traits.preference if not state["touched"][k] and k in known]
        ax, ay = state["agent"]
        walls = state["walls"].copy()
        for xy in state["objects"]:
            if xy is not None:
                walls[xy[1], xy[0]] = True
        rng = self._rng.for_slot(slot)
        wander = self.traits.style == "wandering" and rng.random() < WANDER
        hug = self.traits.style == "wall_hugging"
        for k in targets:  # the most preferred object it believes it can reach
            x, y = known[k]
            blocked = walls.copy()
            blocked[y, x] = False  # the way ends by moving into it
            cost = path_costs(blocked, state["lava"], (x, y), self.traits.cautious, hug=hug)
            options = [(a, cost[ny, nx]) for a, nx, ny in _neighbours(ax, ay, blocked)]
            if options and min(c for _, c in options) < np.inf:
                break
        else:  # explore: the nearest free cell not yet seen
            reach = distances(walls, (ax, ay))
            unseen = np.where(~memory["seen"] & ~walls, reach, np.inf)
            unseen[ay, ax] = np.inf
            if not np.isfinite(unseen).any():
                return int(rng.integers(len(MOVES)))
            ty, tx = np.unravel_index(int(np.argmin(unseen)), unseen.shape)
            cost = path_costs(walls, state["lava"], (int(tx), int(ty)), self.traits.cautious, hug=hug)
            options = [(a, cost[ny, nx]) for a, nx, ny in _neighbours(ax, ay, walls)]
        if wander:
            return int(rng.integers(len(MOVES)))
        if not options:
            return 0
        best = min(c for _, c in options)
        good = [a for a, c in options if c <= best + 1e-9]
        if self.traits.style == HELD_OUT_STYLE and memory["last"] is not None:
            # alternate axes: prefer a move on the other axis than the last one
            other = [a for a in good if (a < 2) != (memory["last"] < 2)]
            good = other or good
        action = good[0]
        memory["last"] = action
        return int(action)
