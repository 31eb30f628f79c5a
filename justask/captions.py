"""Hindsight captions: replay a BabyAI episode and write, in BabyAI's grammar, what happened.

The captioner needs the world's state (what the agent faces and carries, where objects are,
which doors are open), which the flat observations do not hold. BabyAI levels are a pure
function of the reset seed and the actions, so it *replays* each episode from its recorded seed
and checks every replayed observation against the recorded one (a mismatch is an error, not a
silent wrong caption). Events, each described once when it happens:

- ``go to``: the agent comes to face an object it was not facing the step before (BabyAI's GoTo
  succeeds exactly then) — not the object it has just dropped;
- ``pick up``: the agent's hands go from empty to holding an object;
- ``put X next to Y``: a drop leaves X beside Y (left, right, above or below — BabyAI's test),
  one event per neighbour;
- ``open``: a door goes from closed to open.

Each event's *segment* runs from the step after the last change to the world (a pickup, a drop,
a door toggled) up to the event, so "pick up the red ball" covers the whole approach to the ball
and the trajectory starts in a state the instruction makes sense in. A put-next's segment starts
where the segment of the pickup of the object it moved starts: "put the red ball next to the
blue key" covers fetching the ball too, as an agent asked for it (empty-handed) must. Objects are
named as BabyAI does: "the" when the description is unique in the level, "a" when several match.

Options of ``segments`` change where a segment starts (after the previous event: each step then
carries one "go to" caption, the next object faced; where the approach became direct; the last
N steps); ``with_done_step`` ends each with the agent saying it is done. The steering measurement
reads a replay too: ``first_object`` (what was faced or picked up first), ``named_objects`` (what
an instruction's description matches) and ``other_object_instruction`` (the same verb about
another object in the room: the control a model that ignores the sentence cannot pass).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from justask.conditions import TEXT
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.suites import babyai as ba

CAPTION = "caption"  # the condition column's name


@dataclasses.dataclass(frozen=True)
class Event:
    step: int  # index of the action after which it happened
    kind: str  # goto | pickup | putnext | open
    caption: str
    objects: tuple[tuple[str, str], ...]  # (colour, type) of every object the caption names
    start: int  # first step of its segment: after the last change to the world
    after_event: int = -1  # first step after the previous event of any kind (-1: same as start)
    before_drop: int = -1  # first step after the last change that was not a drop (-1: same as start)
    direct_from: int = -1  # first step of the direct approach to the object (``direct_start``; -1: same as start)
    optimal_from: int = -1  # first step of the shortest way to the object (``optimal_start``; -1: none known)
    # where the object was from the agent at ``start`` as BabyAI's verifier reads a location, each
    # with the caption saying it ("pick up the red key on your left"); for pickups
    located: tuple[str, ...] = ()


DIRECT_RATIO, DIRECT_SLACK = 1.5, 3  # an approach is direct while steps left <= 1.5 x distance + 3


def direct_start(positions: Sequence[tuple[int, int]], target: tuple[int, int], start: int, end: int) -> int:
    """The first step ``s`` in ``start..end`` from which the agent went to ``target`` directly:
    at every step ``t >= s`` of the segment, the steps left to the event (``end + 1 - t``) are at
    most ``DIRECT_RATIO`` x the Manhattan distance from the agent to the target + ``DIRECT_SLACK``
    (turns, an object in the way). ``positions[t]``: the agent's cell before action ``t``."""
    first = end
    for t in range(end, start - 1, -1):
        (x, y), (tx, ty) = positions[t], target
        if end + 1 - t > DIRECT_RATIO * (abs(x - tx) + abs(y - ty)) + DIRECT_SLACK:
            break
        first = t
    return first


def optimal_start(
    states: Sequence[tuple[int, int, int]], to_go: np.ndarray, start: int, end: int, final_actions: int, slack: int = 0
) -> int:
    """The first step ``s`` in ``start..end`` from which the agent took a shortest way: at every
    step ``t >= s``, the steps left to the event (``end + 1 - t``) equal the fewest actions from the
    agent's state to facing the object (``to_go``, ``babyai.steps_to_face``) plus the
    ``final_actions`` done while facing it (a pickup, a toggle). ``states[t]``: the agent's
    ``(x, y, dir)`` before action ``t``. ``end + 1`` when not even the last action was."""
    first = end + 1
    for t in range(end, start - 1, -1):
        if to_go[states[t]] < 0 or end + 1 - t > int(to_go[states[t]]) + final_actions + slack:
            break
        first = t
    return first


def located_captions(
    env: Any, obj: Any, where: tuple[int, int], pose: tuple[int, int, int], verb: str, others: Sequence[Any]
) -> tuple[str, ...]:
    """``verb`` + the object by where it was from the agent at ``pose`` (``x, y, dir``), one
    caption per location it was at, as BabyAI's verifier judges them (relative to the agent's
    position and heading when the instruction starts: in front of / behind / on its left / right;
    a place can be two of them) — "the" where no other object of its colour and type was there
    too, else "a". ``others``: the other objects on the grid then."""
    x, y, d = pose
    ahead = ba.DIRECTIONS[d]
    right = (-ahead[1], ahead[0])

    def places(cell: tuple[int, int]) -> set[str]:
        v = (cell[0] - x, cell[1] - y)
        along, across = v[0] * ahead[0] + v[1] * ahead[1], v[0] * right[0] + v[1] * right[1]
        found = {"front"} if along > 0 else {"behind"} if along < 0 else set()
        return found | ({"right"} if across > 0 else {"left"} if across < 0 else set())

    room = env.room_from_pos(x, y)
    if not room.pos_inside(*where):  # locations name only objects in the agent's room
        return ()
    out = []
    for phrase, loc in ba.LOCATIONS.items():
        if loc not in places(where):
            continue
        twins = [
            o
            for o in others
            if _identity(o) == _identity(obj)
            and o.cur_pos is not None
            and room.pos_inside(*o.cur_pos)
            and loc in places(tuple(o.cur_pos))
        ]
        out.append(f"{verb} {'a' if twins else 'the'} {obj.color} {obj.type} {phrase}")
    return tuple(out)


def _identity(obj: Any) -> tuple[str, str]:
    return (obj.color, obj.type)


def _name(obj: Any, counts: dict[tuple[str, str], int]) -> str:
    article = "the" if counts.get(_identity(obj), 0) <= 1 else "a"
    return f"{article} {obj.color} {obj.type}"


def _counts(env: Any) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    objects = ba.objects_in(env) + ([env.carrying] if env.carrying is not None else [])
    for obj in objects:
        counts[_identity(obj)] = counts.get(_identity(obj), 0) + 1
    return counts


def _front(env: Any) -> Any:
    fx, fy = env.front_pos
    if not (0 <= fx < env.grid.width and 0 <= fy < env.grid.height):
        return None
    cell = env.grid.get(fx, fy)
    return cell if cell is not None and cell.type in ba.OBJECT_TYPES else None


def replay_events(level: str, seed: int, actions: Sequence[int], observations: np.ndarray | None = None) -> list[Event]:
    """The events of the episode reset with ``seed`` and played with ``actions``; with
    ``observations`` (``len(actions) + 1`` flat observations), each replayed one is checked."""
    env = ba.make_level(level, max_steps=10**6)
    try:
        obs = ba.quiet_reset(env, seed)
        _check(observations, 0, obs, level, seed)
        counts = _counts(env)
        events: list[Event] = []
        last_change = last_event = 0
        fetch_start = 0  # the segment start of the pickup of what the agent carries
        last_kept = 0  # the step after the last change that was not a drop
        front = _front(env)
        doors = {id(d): d.is_open for d in ba.objects_in(env) if d.type == "door"}
        positions: list[tuple[int, int]] = []
        states: list[tuple[int, int, int]] = []
        for t, action in enumerate(actions):
            positions.append(tuple(int(v) for v in env.agent_pos))
            states.append((*positions[-1], int(env.agent_dir)))
            carried = env.carrying
            picked_at = tuple(int(v) for v in env.front_pos)
            obs, *_ = env.step(int(action))
            _check(observations, t + 1, obs, level, seed)
            found: list[tuple[str, str, tuple[tuple[str, str], ...], tuple[int, int]]] = []
            changed = False
            if carried is None and env.carrying is not None:
                found.append(
                    ("pickup", f"pick up {_name(env.carrying, counts)}", (_identity(env.carrying),), picked_at)
                )
                changed = True
            elif carried is not None and env.carrying is None:
                changed = True
                x, y = carried.cur_pos
                for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                    nx, ny = x + dx, y + dy
                    if not (0 <= nx < env.grid.width and 0 <= ny < env.grid.height):
                        continue
                    other = env.grid.get(nx, ny)
                    if other is not None and other.type in ("key", "ball", "box"):
                        caption = f"put {_name(carried, counts)} next to {_name(other, counts)}"
                        found.append(("putnext", caption, (_identity(carried), _identity(other)), (x, y)))
            for door in (o for o in ba.objects_in(env) if o.type == "door"):
                was_open = doors.get(id(door), door.is_open)
                if door.is_open != was_open:
                    changed = True
                    if door.is_open:
                        found.append(("open", f"open {_name(door, counts)}", (_identity(door),), tuple(door.cur_pos)))
                doors[id(door)] = door.is_open
            now_front = _front(env)
            if now_front is not None and now_front is not front and now_front is not carried:
                found.insert(0, ("goto", f"go to {_name(now_front, counts)}", (_identity(now_front),), env.front_pos))
            front = now_front
            for kind, caption, objects, where in found:
                start = fetch_start if kind == "putnext" else last_change
                located: tuple[str, ...] = ()
                if kind == "pickup":  # the world is as it was at ``start`` but for the picked object
                    others = [o for o in ba.objects_in(env) if o.type != "door"]
                    located = located_captions(env, env.carrying, where, states[start], "pick up", others)
                after = max(last_change, last_event)
                direct = direct_start(positions, tuple(int(v) for v in where), start, t)
                optimal = -1
                if kind in ("goto", "pickup", "open"):
                    to_go = ba.steps_to_face(env, tuple(int(v) for v in where))
                    optimal = optimal_start(states, to_go, after if kind == "goto" else start, t, kind != "goto")
                events.append(
                    Event(
                        t,
                        kind,
                        caption,
                        objects,
                        start,
                        after_event=after,
                        before_drop=last_kept,
                        direct_from=direct,
                        optimal_from=optimal,
                        located=located,
                    )
                )
            if carried is None and env.carrying is not None:
                fetch_start = last_change
            if changed:
                last_change = t + 1
                if not (carried is not None and env.carrying is None):
                    last_kept = t + 1
            if found:
                last_event = t + 1
        return events
    finally:
        env.close()


def _check(observations: np.ndarray | None, t: int, obs: dict[str, Any], level: str, seed: int) -> None:
    if observations is None:
        return
    if not np.array_equal(ba.encode_observation(obs), observations[t]):
        raise JustAskError(
            f"replaying the episode with seed {seed} in BabyAI {level} gives a different observation at step {t}: "
            "captions need the episode's reset seed and the level it was collected in"
        )


def _level_of(episodes: Episodes) -> str:
    for level in ba.LEVELS:
        if episodes.env_id == ba.env_id(level):
            return level
    raise JustAskError(
        f"captions need BabyAI episodes (env ids {', '.join(map(ba.env_id, ba.LEVELS))}), got {episodes.env_id}"
    )


def caption_episodes(episodes: Episodes, check: bool = True) -> list[list[Event]]:
    """Every episode's events, by replay from the seed in its metadata."""
    level = _level_of(episodes)
    out = []
    for i in range(episodes.num_episodes):
        ep = episodes.episode(i)
        if "seed" not in ep["metadata"]:
            raise JustAskError(f"episode {i} has no 'seed' in its metadata: it cannot be replayed to caption it")
        out.append(
            replay_events(level, int(ep["metadata"]["seed"]), ep["actions"], ep["observations"] if check else None)
        )
    return out


def names_pair(text: str, pairs: Iterable[tuple[str, str]]) -> bool:
    """Whether an instruction names any of these (colour, type) pairs ("the red ball")."""
    return any(f"{colour} {obj}" in text for colour, obj in pairs)


def held_out_filter(events: Iterable[Event], held_out: Iterable[tuple[str, str]]) -> list[Event]:
    """The events whose caption names none of the ``held_out`` (colour, type) pairs."""
    banned = {tuple(pair) for pair in held_out}
    return [e for e in events if not any(obj in banned for obj in e.objects)]


def segments(
    episodes: Episodes,
    events: Sequence[Sequence[Event]],
    max_len: int | None = None,
    goto_from_event: bool = False,
    pickup_across_drop: bool = False,
    direct: bool = False,
    optimal: bool = False,
) -> Episodes:
    """One episode per event: its segment's steps, ending (terminated, reward 1) at the event,
    captioned in the metadata (``caption``, ``kind``, ``source``, ``start``). ``max_len``:
    segments longer than that keep their last ``max_len`` steps. ``goto_from_event``: a "go to"
    segment starts after the previous event of any kind (the agent coming to face another object
    ends what it was doing before), not after the last change to the world — so "go to the red
    ball" is not also shown walking to the objects it faced on the way. ``pickup_across_drop``: a
    "pick up" segment reaches back over drops to the last other change, so it shows putting down
    what the agent held before fetching what it was asked for (an agent that picked up the wrong
    object sees how to recover). ``direct``: a "go to", "pick up" or "open" segment starts where
    the agent's approach to the object became direct (``direct_start``), so the caption labels
    going there, not the wandering before. ``optimal``: a "go to", "pick up" or "open" segment
    keeps only its shortest way to the object (``optimal_start``: every action left was on a
    shortest path), so "go to X" labels only actions that are right for going to X — whatever the
    agent was after when it passed X on the way to something else."""
    pieces = []
    for i, episode_events in enumerate(events):
        if not episode_events:
            continue
        ep = episodes.episode(i)
        for e in episode_events:
            start = e.after_event if goto_from_event and e.kind == "goto" and e.after_event >= 0 else e.start
            if pickup_across_drop and e.kind == "pickup" and e.before_drop >= 0:
                start = min(start, e.before_drop)
            if direct and e.kind != "putnext" and e.direct_from >= 0:
                start = max(start, e.direct_from)
            if optimal and e.kind != "putnext" and e.optimal_from >= 0:
                start = max(start, e.optimal_from)
            start = start if max_len is None else max(start, e.step + 1 - max_len)
            direct_all_the_way = e.direct_from < 0 or e.direct_from <= start
            n = e.step + 1 - start
            rewards = np.zeros(n, dtype=np.float32)
            rewards[-1] = 1.0
            pieces.append(
                {
                    "observations": ep["observations"][start : e.step + 2],
                    "actions": ep["actions"][start : e.step + 1],
                    "rewards": rewards,
                    "terminations": np.arange(n) == n - 1,
                    "truncations": np.zeros(n, dtype=bool),
                    "metadata": {
                        **ep["metadata"],
                        "caption": e.caption,
                        "kind": e.kind,
                        "source": i,
                        "start": start,
                        "direct": bool(direct_all_the_way),
                        "located": list(e.located) if start == e.start else [],
                    },
                }
            )
    if not pieces:
        raise JustAskError("no events to caption: the episodes never reach, pick up, move or open anything")
    return Episodes.from_episode_list(pieces, episodes.observation_space, episodes.action_space, env_id=episodes.env_id)


def with_done_step(episodes: Episodes) -> Episodes:
    """Each episode one step longer: in its final state the agent says it is done (BabyAI's
    ``done`` action, which leaves the world as it is), and that step ends it (reward 1 moves to
    it). A model trained on it stops where the sentence it was told is fulfilled — in front of
    the asked object, not the one beside it — instead of acting on from there as it never saw.
    For captioned segments and instruction BC's demos alike; conditions are dropped (caption
    after this)."""
    done = ba.ACTIONS.index("done")
    pieces = []
    for i in range(episodes.num_episodes):
        ep = episodes.episode(i)
        n = len(ep["actions"])
        rewards = np.append(ep["rewards"], 0.0).astype(np.float32)
        rewards[-1], rewards[n - 1] = rewards[n - 1], 0.0
        pieces.append(
            {
                "observations": np.concatenate([ep["observations"], ep["observations"][-1:]]),
                "actions": np.append(ep["actions"], done).astype(ep["actions"].dtype),
                "rewards": rewards,
                "terminations": np.arange(n + 1) == n,
                "truncations": np.zeros(n + 1, dtype=bool),
                "metadata": {**ep["metadata"], "done_step": True},
            }
        )
    return Episodes.from_episode_list(pieces, episodes.observation_space, episodes.action_space, env_id=episodes.env_id)


def with_manner(segmented: Episodes, share: float = 0.5, seed: int = 0) -> Episodes:
    """Manner clauses by length: among the segments of each kind of event, the shortest third's
    captions may end in "quickly" and the longest third's in "after wandering" (the middle third
    keeps plain captions). ``share``: the fraction of those segments that get the clause (drawn
    with ``seed``), so the plain caption still covers every length and the clause composes with
    it — ask "go to the red ball quickly" for the short way there. Adds metadata ``manner``."""
    if not 0.0 <= share <= 1.0:
        raise JustAskError(f"the manner share must be in [0, 1], got {share}")
    lengths = segmented.lengths
    kinds = np.array([m["kind"] for m in segmented.metadata])
    chosen = np.random.default_rng(seed).random(len(lengths)) < share
    metadata = [dict(m) for m in segmented.metadata]
    for kind in np.unique(kinds):
        mine = np.flatnonzero(kinds == kind)
        low, high = np.quantile(lengths[mine], [1 / 3, 2 / 3])
        for i in mine:
            manner = ba.MANNERS[0] if lengths[i] <= low else ba.MANNERS[1] if lengths[i] > high else None
            if low == high:  # no spread to partition (all the same length)
                manner = None
            metadata[i]["manner"] = manner
            if manner is not None and chosen[i]:
                metadata[i]["caption"] = f"{metadata[i]['caption']} {manner}"
    return dataclasses.replace(segmented, metadata=metadata)


def with_wandering_clause(segmented: Episodes) -> Episodes:
    """Captions that say how the agent got there, as a person watching would: a segment whose
    approach was direct all the way (``direct_start``: at every step, steps left <= 1.5 x the
    distance + 3) keeps the plain caption; one that was not ends in "after wandering". The plain
    sentence then labels only going there directly, and "go to the red ball" asks for that —
    the wandering the play holds (the noisy bot, random walks, detours) is still learned, under
    its own words. Needs ``segments``' ``direct`` metadata; adds metadata ``manner``."""
    metadata = []
    for m in segmented.metadata:
        if "direct" not in m:
            raise JustAskError("the wandering clause needs segments made by captions.segments (metadata 'direct')")
        wandered = not m["direct"]
        manner = ba.MANNERS[1] if wandered else None
        metadata.append({**m, "manner": manner, "caption": f"{m['caption']} {manner}" if wandered else m["caption"]})
    return dataclasses.replace(segmented, metadata=metadata)


def with_location(segmented: Episodes, share: float = 0.5, seed: int = 0) -> Episodes:
    """Location clauses, as BabyAI's missions name objects ("pick up the key on your left"):
    ``share`` of the segments that have one (``segments``' ``located`` metadata: pick-ups, from
    where the agent stood when the segment began) get one of them instead of the plain caption,
    drawn with ``seed``; the rest keep the plain caption. Adds metadata ``location``."""
    if not 0.0 <= share <= 1.0:
        raise JustAskError(f"the location share must be in [0, 1], got {share}")
    rng = np.random.default_rng(seed)
    metadata = []
    for m in segmented.metadata:
        options = m.get("located") or []
        draw, pick = rng.random(), int(rng.integers(0, max(len(options), 1)))
        if options and draw < share:
            metadata.append({**m, "caption": options[pick], "location": options[pick]})
        else:
            metadata.append({**m, "location": None})
    return dataclasses.replace(segmented, metadata=metadata)


def with_rare_events_repeated(segmented: Episodes, times: int) -> Episodes:
    """Every segment whose event is not a "go to" (pick-ups, put-nexts, openings) ``times`` times
    over: in play almost every turn faces an object, so "go to" segments outnumber the rest about
    six to one, while a level such as PickupLoc asks for nothing but pick-ups."""
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise JustAskError(f"the rare events' repeat must be a whole number >= 1, got {times!r}")
    if times == 1:
        return segmented
    rare = [i for i, m in enumerate(segmented.metadata) if m["kind"] != "goto"]
    return Episodes.concatenate([segmented] + [segmented.select(rare)] * (times - 1)) if rare else segmented


def with_captions(segmented: Episodes) -> Episodes:
    """The ``caption`` text condition: every step of a segment carries its caption, stored once —
    the column holds each step's index into the sorted unique captions (``texts``); the model
    reads their embeddings by the sentence encoder recorded with them (``ConditionSpec``)."""
    from justask.text import encoder_identity

    captions = [m["caption"] for m in segmented.metadata]
    unique = sorted(set(captions))
    row = {c: k for k, c in enumerate(unique)}
    per_episode = np.array([row[c] for c in captions], dtype=np.int64)
    column = np.repeat(per_episode, segmented.lengths)
    return segmented.with_condition(CAPTION, column, **TEXT.describe(texts=unique, encoder=encoder_identity()))


def first_object(level: str, seed: int, actions: Sequence[int], kind: str) -> tuple[str, str] | None:
    """The (colour, type) of the first object the agent faced (``kind`` ``goto``) or picked up
    (``pickup``) in the episode reset with ``seed`` and played with ``actions``; None: none."""
    for event in replay_events(level, seed, actions):
        if event.kind == kind:
            return event.objects[0]
    return None


@contextlib.contextmanager
def _asked_in_room(level: str, seed: int, instruction: str) -> Iterator[tuple[Any, Any, set[tuple[str, str]]]]:
    """The parsed instruction, the level reset with ``seed``, and the (colour, type) of every
    object its description (of the object to move, for put next to) matches there."""
    instr = ba.parse_instruction(instruction)
    env = ba.make_level(level, max_steps=10**6)
    try:
        ba.quiet_reset(env, seed)
        desc = instr.desc if hasattr(instr, "desc") else instr.desc_move
        matched, _ = desc.find_matching_objs(env)
        yield instr, env, {_identity(o) for o in matched}
    finally:
        env.close()


def named_objects(level: str, seed: int, instruction: str) -> tuple[str, set[tuple[str, str]]]:
    """What an instruction of BabyAI's grammar asks to act on first in the episode of ``seed``:
    (``goto`` or ``pickup``, the (colour, type) of every object in the room its description
    matches — its location clause included). Go to: the object faced; pick up and put next to:
    the object picked up."""
    from minigrid.envs.babyai.core.verifier import GoToInstr, OpenInstr

    with _asked_in_room(level, seed, instruction) as (instr, _, asked):
        return ("goto" if isinstance(instr, (GoToInstr, OpenInstr)) else "pickup"), asked


def other_object_instruction(level: str, seed: int, instruction: str) -> str | None:
    """The same verb about another object in the room of the episode reset with ``seed`` — the
    steering control that a model ignoring the sentence cannot tell from the real request:
    "go to the red ball" -> "go to a blue key" (an object the instruction's description does
    not match, drawn by ``seed``); "put A next to B" moves another object next to B. None: the
    room has no such object."""
    from minigrid.envs.babyai.core.verifier import GoToInstr, OpenInstr, PickupInstr

    with _asked_in_room(level, seed, instruction) as (instr, env, asked):
        objects = [o for o in ba.objects_in(env) if _identity(o) not in asked]
        if isinstance(instr, OpenInstr):
            objects = [o for o in objects if o.type == "door"]
        elif not isinstance(instr, GoToInstr):
            objects = [o for o in objects if o.type != "door"]
        if not isinstance(instr, (GoToInstr, OpenInstr, PickupInstr)):  # put next to: keep where it goes
            target, _ = instr.desc_fixed.find_matching_objs(env)
            objects = [o for o in objects if _identity(o) not in {_identity(t) for t in target}]
        if not objects:
            return None
        other = _name(objects[seed % len(objects)], _counts(env))
    if isinstance(instr, GoToInstr):
        return f"go to {other}"
    if isinstance(instr, OpenInstr):
        return f"open {other}"
    if isinstance(instr, PickupInstr):
        return f"pick up {other}"
    fixed = instruction.lower().split(" next to ", 1)[1].strip().rstrip(".")
    return f"put {other} next to {fixed}"
