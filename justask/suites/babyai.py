"""BabyAI suite: MiniGrid BabyAI levels as flat-observation envs, play data, and instructions.

``justask/BabyAI-<Level>-v0`` wraps ``BabyAI-<Level>-v0`` (``LEVELS``):

- the observation is the agent's 7x7 egocentric view one-hot encoded (object, colour, state
  channels) plus its direction, a flat ``uint8`` vector of ``OBS_DIM``. The mission text is *not*
  in it: the instruction is what a model is asked for (a text condition);
- ``task="mission"`` (default) is the level itself: its own mission, reward and termination;
  ``options={"instruction": "pick up the blue key"}`` replaces the mission with any instruction in
  the BabyAI grammar that ``parse_instruction`` reads, checked by BabyAI's own verifier — one about
  objects absent from the room is accepted and can never succeed;
- ``task="play"`` removes reward and termination and fixes the episode length (``PLAY_STEPS``,
  or ``play_length``):
  data collection, where no mission is pursued on the env's side.

Play data comes from ``PlayBot``: BabyAI's bot pursuing a stream of randomly drawn missions
(go to / pick up / put next to / open, over the objects in the room), one after another, with a
share of random actions. The missions it pursued are not recorded anywhere — what happened is
recovered afterwards by the captioner (``justask.captions``), which replays the episode.
"""

from __future__ import annotations

import contextlib
import io
import re
from typing import Any

import gymnasium as gym
import numpy as np

from justask.errors import JustAskError

LEVELS = ("GoToLocal", "PickupLoc", "PutNextLocal", "GoTo")
PLAY_STEPS = {"GoToLocal": 128, "PickupLoc": 128, "PutNextLocal": 128, "GoTo": 576}
N_OBJECTS, N_COLOURS, N_STATES = 11, 6, 3  # minigrid's OBJECT_TO_IDX, COLOR_TO_IDX, STATE_TO_IDX
VIEW = 7
OBS_DIM = VIEW * VIEW * (N_OBJECTS + N_COLOURS + N_STATES) + 4
ACTIONS = ("left", "right", "forward", "pickup", "drop", "toggle", "done")
OBJECT_TYPES = ("key", "ball", "box", "door")
COLOURS = ("red", "green", "blue", "purple", "yellow", "grey")


def env_id(level: str) -> str:
    if level not in LEVELS:
        raise JustAskError(f"unknown BabyAI level '{level}' (known: {', '.join(LEVELS)})")
    return f"justask/BabyAI-{level}-v0"


def encode_observation(obs: dict[str, Any]) -> np.ndarray:
    """MiniGrid's ``{"image": (7, 7, 3), "direction"}`` -> the flat one-hot ``uint8`` vector."""
    image = np.asarray(obs["image"], dtype=np.int64)
    parts = [np.eye(n, dtype=np.uint8)[image[..., c]] for c, n in enumerate((N_OBJECTS, N_COLOURS, N_STATES))]
    direction = np.eye(4, dtype=np.uint8)[int(obs["direction"])]
    return np.concatenate([np.concatenate(parts, axis=-1).ravel(), direction])


def make_level(level: str, max_steps: int | None = None, render_mode: str | None = None) -> Any:
    """The raw (unwrapped) BabyAI level env."""
    import minigrid

    gym.register_envs(minigrid)
    env_id(level)
    kwargs: dict[str, Any] = {"render_mode": render_mode}
    if max_steps is not None:
        kwargs["max_steps"] = max_steps
    return gym.make(f"BabyAI-{level}-v0", **kwargs).unwrapped


def quiet_reset(env: Any, seed: int) -> dict[str, Any]:
    """``env.reset(seed=seed)``; minigrid prints 'Sampling rejected' to stdout on some resets."""
    with contextlib.redirect_stdout(io.StringIO()):
        obs, _ = env.reset(seed=int(seed))
    return obs


# ---- instructions -----------------------------------------------------------------------------
# BabyAI's location clauses, relative to where the agent starts (ObjDesc.loc)
LOCATIONS = {"on your left": "left", "on your right": "right", "in front of you": "front", "behind you": "behind"}
_OBJ = (
    rf"(?:the|a)\s+(?:({'|'.join(COLOURS)})\s+)?({'|'.join(OBJECT_TYPES)})"
    rf"(?:\s+({'|'.join(LOCATIONS)}))?"
)
_PATTERNS = {
    "goto": re.compile(rf"^go to {_OBJ}$"),
    "pickup": re.compile(rf"^pick up {_OBJ}$"),
    "open": re.compile(rf"^open {_OBJ}$"),
    "putnext": re.compile(rf"^put {_OBJ} next to {_OBJ}$"),
}


MANNERS = ("quickly", "after wandering")  # clauses a caption may end in (``captions.with_manner``)


def split_manner(text: str) -> tuple[str, str | None]:
    """``"go to the red ball quickly"`` -> ``("go to the red ball", "quickly")``; no clause: None."""
    sentence = " ".join(str(text).lower().strip().rstrip(".").split())
    for manner in MANNERS:
        if sentence.endswith(" " + manner):
            return sentence[: -len(manner) - 1].rstrip(" ,"), manner
    return sentence, None


def parse_instruction(text: str) -> Any:
    """A sentence of BabyAI's grammar (``go to / pick up / open / put .. next to ..`` with
    ``the|a [colour] key|ball|box|door [on your left|on your right|in front of you|behind
    you]``), optionally ending in a manner clause (``MANNERS``,
    which the verifier does not check) -> a BabyAI ``Instr`` for its verifier."""
    from minigrid.envs.babyai.core.verifier import GoToInstr, ObjDesc, OpenInstr, PickupInstr, PutNextInstr

    sentence, _ = split_manner(text)
    for kind, pattern in _PATTERNS.items():
        m = pattern.match(sentence)
        if not m:
            continue
        if kind == "putnext":
            colour_a, type_a, loc_a, colour_b, type_b, loc_b = m.groups()
            if type_a == "door":
                raise JustAskError(f"'{text}': a door cannot be moved")
            return PutNextInstr(
                ObjDesc(type_a, colour_a, LOCATIONS.get(loc_a)), ObjDesc(type_b, colour_b, LOCATIONS.get(loc_b))
            )
        colour, obj, loc = m.groups()
        if kind == "open" and obj != "door":
            raise JustAskError(f"'{text}': only doors can be opened")
        if kind == "pickup" and obj == "door":
            raise JustAskError(f"'{text}': a door cannot be picked up")
        return {"goto": GoToInstr, "pickup": PickupInstr, "open": OpenInstr}[kind](
            ObjDesc(obj, colour, LOCATIONS.get(loc))
        )
    raise JustAskError(
        f"'{text}' is not an instruction the BabyAI verifier can check (it checks: go to / pick up / open / "
        "put ... next to ..., about the|a [colour] key|ball|box|door [on your left|right, in front of you, behind you], "
        "optionally ending in 'quickly' or "
        "'after wandering')"
    )


def set_instruction(level_env: Any, instr: Any, text: str) -> None:
    """Make ``instr`` the mission of a freshly reset level env (its verifier starts now)."""
    level_env.instrs = instr
    instr.reset_verifier(level_env)
    level_env.mission = text
    if not level_env.fixed_max_steps:  # the level's time limit for this instruction
        nav_time = level_env.room_size**2 * level_env.num_rows * level_env.num_cols
        level_env.max_steps = level_env.num_navs_needed(instr) * nav_time


class BabyAIEnv(gym.Env):
    """A BabyAI level with flat observations; ``task`` is ``mission`` or ``play`` (module doc)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(
        self,
        level: str = "GoToLocal",
        task: str = "mission",
        render_mode: str | None = None,
        instructions: dict[int, str] | None = None,
        play_length: int | None = None,
    ) -> None:
        """``instructions``: per reset seed, an instruction that replaces the level's mission
        (how a batch of episodes is asked for given instructions). ``play_length``: the length of
        a play episode (default ``PLAY_STEPS[level]``)."""
        if task not in ("mission", "play"):
            raise JustAskError(f"BabyAI task must be 'mission' or 'play', got '{task}'")
        if play_length is not None and (task != "play" or play_length < 1):
            raise JustAskError(f"play_length applies to task 'play' and must be >= 1, got {play_length} ({task})")
        self.level, self.task, self.render_mode = level, task, render_mode
        self.instructions = {int(k): str(v) for k, v in (instructions or {}).items()}
        length = (play_length or PLAY_STEPS[level]) if task == "play" else None
        self._env = make_level(level, length, render_mode)
        self.observation_space = gym.spaces.Box(0, 1, (OBS_DIM,), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(len(ACTIONS))

    @property
    def level_env(self) -> Any:
        return self._env

    @property
    def mission(self) -> str:
        return self._env.mission

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)  # an unseeded reset draws its level from the last seed's stream
        if seed is None:
            seed = int(self.np_random.integers(2**31))
        obs = quiet_reset(self._env, seed)
        text = (options or {}).get("instruction") or self.instructions.get(int(seed))
        if text is not None:
            set_instruction(self._env, parse_instruction(str(text)), str(text))
        return encode_observation(obs), {"mission": self._env.mission}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs, reward, terminated, truncated, _ = self._env.step(int(action))
        if self.task == "play":
            reward, terminated = 0.0, False
        return encode_observation(obs), float(reward), bool(terminated), bool(truncated), {"mission": self._env.mission}

    def render(self) -> np.ndarray | None:
        return self._env.render() if self.render_mode == "rgb_array" else None

    def close(self) -> None:
        self._env.close()


def _register() -> None:
    for level in LEVELS:
        gym.register(id=env_id(level), entry_point="justask.suites.babyai:BabyAIEnv", kwargs={"level": level})


_register()


def env_missions(level: str, seeds: np.ndarray) -> list[str]:
    """The level's own mission for each episode seed (the env is reset to read it)."""
    env = make_level(level)
    try:
        out = []
        for s in np.asarray(seeds).ravel():
            quiet_reset(env, int(s))
            out.append(env.mission)
        return out
    finally:
        env.close()


# ---- geometry -----------------------------------------------------------------------------------
DIRECTIONS = ((1, 0), (0, 1), (-1, 0), (0, -1))  # minigrid's agent_dir 0..3: right, down, left, up


def steps_to_face(level_env: Any, target: tuple[int, int]) -> np.ndarray:
    """Fewest actions (left, right, forward) from every agent state ``[x, y, dir]`` to facing the
    cell ``target`` in the grid as it is now; ``-1`` where it cannot be done. Cells the agent may
    enter are the empty ones and those it can overlap (open doors); objects and closed doors block
    (opening one is an event of its own), and so does ``target`` itself (asked just after the
    event, the object picked up or the door opened is still in the way)."""
    grid = level_env.grid
    w, h = grid.width, grid.height
    free = np.zeros((w, h), dtype=bool)
    for x in range(w):
        for y in range(h):
            cell = grid.get(x, y)
            free[x, y] = cell is None or cell.can_overlap()
    free[tuple(target)] = False
    dist = np.full((w, h, 4), -1, dtype=np.int64)
    frontier = []
    tx, ty = target
    for d, (dx, dy) in enumerate(DIRECTIONS):
        x, y = tx - dx, ty - dy
        if 0 <= x < w and 0 <= y < h and free[x, y]:
            dist[x, y, d] = 0
            frontier.append((x, y, d))
    while frontier:  # breadth first, backwards: which states reach these in one action
        nxt = []
        for x, y, d in frontier:
            step = dist[x, y, d] + 1
            previous = [(x, y, (d + 1) % 4), (x, y, (d - 1) % 4)]  # turned left / right into d
            dx, dy = DIRECTIONS[d]
            px, py = x - dx, y - dy
            if 0 <= px < w and 0 <= py < h and free[px, py]:
                previous.append((px, py, d))  # moved forward into (x, y)
            for state in previous:
                if dist[state] < 0:
                    dist[state] = step
                    nxt.append(state)
        frontier = nxt
    return dist


# ---- play -------------------------------------------------------------------------------------
def objects_in(level_env: Any) -> list[Any]:
    """The keys, balls, boxes and doors on the grid (not what the agent carries)."""
    return [c for c in level_env.grid.grid if c is not None and c.type in OBJECT_TYPES]


def random_instruction(level_env: Any, rng: np.random.Generator) -> Any:
    """A mission over the objects in the env: go to / pick up / put next to / open, as available."""
    from minigrid.envs.babyai.core.verifier import GoToInstr, ObjDesc, OpenInstr, PickupInstr, PutNextInstr

    objects = objects_in(level_env)
    movable = [o for o in objects if o.type != "door"]
    closed_doors = [o for o in objects if o.type == "door" and not o.is_open]
    kinds = ["goto"] + (["pickup", "putnext"] if movable else []) + (["open"] if closed_doors else [])
    kind = kinds[rng.integers(len(kinds))]

    def desc(obj: Any) -> Any:
        return ObjDesc(obj.type, obj.color)

    if kind == "goto":
        return GoToInstr(desc(objects[rng.integers(len(objects))]))
    if kind == "pickup":
        return PickupInstr(desc(movable[rng.integers(len(movable))]))
    if kind == "open":
        return OpenInstr(desc(closed_doors[rng.integers(len(closed_doors))]))
    a = movable[rng.integers(len(movable))]
    others = [o for o in objects if o is not a and o.type != "door"] or [o for o in objects if o is not a]
    if not others:
        return PickupInstr(desc(a))
    return PutNextInstr(desc(a), desc(others[rng.integers(len(others))]))


class _BotGaveUp(Exception):
    pass


class _BoundedStack(list):
    """The bot's subgoal stack, allowed ``limit`` pushes per ``replan``: on some crowded rooms
    (carrying an object with nowhere to drop it) BabyAI's bot pushes and pops subgoals forever."""

    def __init__(self, items: list[Any], limit: int = 200) -> None:
        super().__init__(items)
        self.limit, self.pushes = limit, 0

    def append(self, item: Any) -> None:
        self.pushes += 1
        if self.pushes > self.limit:
            raise _BotGaveUp()
        super().append(item)


class PlayBot:
    """BabyAI's bot at play: per episode, missions drawn at random one after another (a new one
    once the last is done or the bot gives up), with a share ``noise`` of uniformly random actions.

    The bot needs the env's full state, which a batched collector does not hand to policies, so
    each slot keeps a shadow copy of its level, reset with the episode's seed and stepped with
    the same actions (MiniGrid is deterministic); ``act`` checks that the shadow still sees the
    observation the collector passed."""

    def __init__(
        self, level: str, noise: float = 0.0, seed: int = 0, name: str | None = None, own_mission: bool = False
    ) -> None:
        """``own_mission``: pursue the level's own mission instead (the instruction-following
        demonstrator of BabyAI's imitation baseline); after it, random missions as at play."""
        if not 0.0 <= noise <= 1.0:
            raise JustAskError(f"play noise must be in [0, 1], got {noise}")
        env_id(level)
        self.level, self.noise, self.seed, self.own_mission = level, float(noise), seed, own_mission
        base = "bot-mission" if own_mission else "bot-play"
        self.name = name or (base if noise == 0 else f"{base}-noise{noise:g}")
        self.info = {"level": level, "noise": self.noise, "own_mission": own_mission}
        self._slots: dict[int, dict[str, Any]] = {}

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        for slot, seed in zip(slots, seeds, strict=True):
            state = self._slots.get(int(slot))
            if state is None:
                state = {"env": make_level(self.level, max_steps=10**6)}
                self._slots[int(slot)] = state
            state["obs"] = quiet_reset(state["env"], int(seed))
            state["rng"] = np.random.default_rng([int(seed), self.seed, 0x706C6179])
            state["last_action"] = None
            if self.own_mission:
                self._follow(state)
            else:
                self._new_mission(state)

    def _new_mission(self, state: dict[str, Any]) -> None:
        env = state["env"]
        set_instruction(env, random_instruction(env, state["rng"]), "")
        self._follow(state)

    def _follow(self, state: dict[str, Any]) -> None:
        """A fresh bot for the shadow env's current mission."""
        from minigrid.utils.baby_ai_bot import BabyAIBot

        bot = BabyAIBot(state["env"])
        bot.stack = _BoundedStack(bot.stack)
        state["bot"], state["last_action"] = bot, None

    def _bot_action(self, state: dict[str, Any]) -> int | None:
        bot = state["bot"]
        bot.stack.pushes = 0
        try:
            action = bot.replan(state["last_action"])
        except Exception:  # the bot gives up on some states (crowded rooms, after random actions)
            return None
        return None if action is None or int(action) == ACTIONS.index("done") else int(action)

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        actions = np.zeros(len(slots), dtype=np.int64)
        for i, slot in enumerate(slots):
            state = self._slots[int(slot)]
            if not np.array_equal(encode_observation(state["obs"]), observations[i]):
                raise RuntimeError(f"PlayBot: slot {slot}'s shadow env is out of step with the collector's env")
            action = self._bot_action(state)
            if action is None:  # mission done or impossible: draw the next one
                self._new_mission(state)
                action = self._bot_action(state)
            if action is None or state["rng"].random() < self.noise:
                action = int(state["rng"].integers(len(ACTIONS) - 1))  # any action but 'done'
            obs, _, terminated, _, _ = state["env"].step(action)
            state["obs"], state["last_action"] = obs, action
            if terminated:  # the mission just succeeded
                self._new_mission(state)
            actions[i] = action
        return actions
