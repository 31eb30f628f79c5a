"""The world of many agents (issue 27's first part): layouts, the env's rules, the traits shown."""

import gymnasium as gym
import numpy as np
import pytest

from justask.collection import collect
from justask.errors import JustAskError
from justask.suites import agents as A


def play(traits, seed, move=None):
    """One episode of a trait agent: (touched order, cells visited, env)."""
    env = gym.make(A.ENV_ID).unwrapped
    agent = A.TraitAgent(traits)
    obs, _ = env.reset(seed=seed)
    agent.reset(np.array([0]), np.array([seed]))
    cells = [env.agent]
    for t in range(A.HORIZON):
        if move is not None and t == move[0]:
            env.move_object(move[1], move[2])
            obs = env._obs()
        obs, _, term, trunc, info = env.step(agent.act(obs[None], np.array([0]))[0])
        cells.append(env.agent)
        if term or trunc:
            break
    return info["touched"], cells, env


def test_layouts_are_reachable_and_follow_the_seed():
    for seed in range(30):
        layout = A.draw_layout(np.random.default_rng(seed))
        blocked = layout.walls | layout.lava
        for x, y in layout.objects:
            blocked[y, x] = True
        reach = A.distances(blocked, layout.start)
        for x, y in layout.objects:
            assert min(reach[y + dy, x + dx] for dx, dy in A.MOVES) < np.inf
    a = gym.make(A.ENV_ID).reset(seed=3)[0]
    b = gym.make(A.ENV_ID).reset(seed=3)[0]
    c = gym.make(A.ENV_ID).reset(seed=4)[0]
    assert (a == b).all() and not (a == c).all() and a.shape == (A.OBS_DIM,)
    state = A.parse(a)
    assert state["agent"] and all(xy is not None for xy in state["objects"]) and not state["touched"].any()


def test_objects_block_and_a_bump_touches_and_two_touches_end_the_episode():
    env = gym.make(A.ENV_ID).unwrapped
    env.reset(seed=0)
    x, y = env.objects[0]
    free = [(x + dx, y + dy) for dx, dy in A.MOVES if not env.layout.walls[y + dy, x + dx]]
    free = [c for c in free if c not in env.objects]
    env.agent = free[0]
    toward = next(a for a, (dx, dy) in enumerate(A.MOVES) if (free[0][0] + dx, free[0][1] + dy) == (x, y))
    obs, reward, term, _, info = env.step(toward)
    assert env.agent == free[0] and reward == 1.0 and info["touched"] == [0] and not term
    assert A.parse(obs)["touched"][0]
    _, reward, _, _, _ = env.step(toward)
    assert reward == 0.0  # touched once only


def test_a_full_view_agent_goes_for_its_first_preference_and_caution_avoids_lava():
    first, lava = {True: [], False: []}, {True: [], False: []}
    for seed in range(40):
        for cautious in (True, False):
            traits = A.Traits((seed % 5, *[k for k in range(5) if k != seed % 5]), "direct", cautious, True)
            touched, cells, env = play(traits, seed)
            first[cautious].append(touched[0] == traits.preference[0])
            lava[cautious].append(any(env.layout.lava[y, x] for x, y in cells))
    assert all(first[True]) and all(first[False])
    assert np.mean(lava[True]) < 0.05 < np.mean(lava[False])


def test_styles_differ_in_how_they_walk():
    def mean_length(style):
        return np.mean([len(play(A.Traits((0, 1, 2, 3, 4), style, True, True), s)[1]) for s in range(40)])

    assert mean_length("wandering") > mean_length("direct") + 1


def test_a_narrow_view_agent_goes_where_it_believes_the_object_is():
    """The false-belief setting: the agent saw the object it wants next, walked away, and the
    object was moved while out of its view; when it turns to that object it heads back to where it
    saw it, while a full-view agent in the same state heads for where the object is."""

    def in_view(agent, cell):
        return max(abs(agent[0] - cell[0]), abs(agent[1] - cell[1])) <= A.VIEW_RADIUS

    def closer(env, action, cell):
        """Whether ``action`` shortens the way to ``cell`` (objects and walls in the way)."""
        blocked = env.layout.walls.copy()
        for x, y in env.objects:
            blocked[y, x] = True
        blocked[cell[1], cell[0]] = False
        far = A.distances(blocked, cell)
        dx, dy = A.MOVES[action]
        nx, ny = env.agent[0] + dx, env.agent[1] + dy
        return not blocked[ny, nx] and far[ny, nx] < far[env.agent[1], env.agent[0]]

    scenes = 0
    prefer = (0, 1, 2, 3, 4)
    for seed in range(300):
        env = gym.make(A.ENV_ID).unwrapped
        obs, _ = env.reset(seed=seed)
        near = A.TraitAgent(A.Traits(prefer, "direct", False, False))  # reckless: no detours round lava
        near.reset(np.array([0]), np.array([seed]))
        old, moved = env.objects[1], False
        for _ in range(A.HORIZON):
            memory = near._memory[0]["objects"] if 0 in near._memory else {}
            if not moved and not env.order and memory.get(1) == old and not in_view(env.agent, old):
                blocked = env.layout.walls.copy()
                for x, y in env.objects:
                    blocked[y, x] = True
                reach = A.distances(blocked, env.agent)  # the new place can be walked to
                free = [
                    (x, y)
                    for y in range(1, A.SIZE - 1)
                    for x in range(1, A.SIZE - 1)
                    if not env.layout.walls[y, x]
                    and (x, y) not in env.objects
                    and not in_view(env.agent, (x, y))
                    and not in_view(old, (x, y))
                    and reach[y, x] < np.inf
                ]
                if not free:
                    break
                env.move_object(1, free[0])
                obs, moved = env._obs(), True
            if moved and env.touched[0] and not env.touched[1] and near._memory[0]["objects"].get(1) == old:
                # object 1 is what it wants now: the believer heads for the old place, the seer for the new
                action = near.act(obs[None], np.array([0]))[0]
                if near._memory[0]["objects"].get(1) == old:  # still believed after this step's look
                    seer = A.TraitAgent(A.Traits(prefer, "direct", False, True))
                    seen = seer.act(obs[None], np.array([0]))[0]
                    assert closer(env, action, old) and closer(env, seen, env.objects[1]), seed
                    scenes += 1
                break
            obs, _, term, trunc, _ = env.step(near.act(obs[None], np.array([0]))[0])
            if term or trunc:
                break
    assert scenes >= 3


def test_the_population_and_its_held_out_agents():
    everyone = A.population()
    assert len(everyone) == 120 * 4 * 2 * 2 and len({a.name for a in everyone}) == len(everyone)
    train, test = A.held_out(everyone)
    assert not {a.name for a in train} & {a.name for a in test}
    assert all(a.style != A.HELD_OUT_STYLE for a in train)
    assert {a.style for a in test} == {*A.STYLES, A.HELD_OUT_STYLE} and len(test) >= 200
    assert A.held_out(everyone)[1] == test  # fixed
    assert A.describe(everyone[0]).startswith("goes for the red ball first, then the blue key; takes the shortest way")
    with pytest.raises(JustAskError, match="preference"):
        A.Traits((0, 0, 1, 2, 3), "direct", True, True)
    with pytest.raises(JustAskError, match="style"):
        A.Traits((0, 1, 2, 3, 4), "sideways", True, True)


def test_trait_agents_collect_as_a_population_and_record_their_traits():
    agents = [A.TraitAgent(t) for t in A.population()[:6]]
    eps = collect(A.ENV_ID, [(a, 2) for a in agents], num_envs=4, seed=0, progress=False)
    again = collect(A.ENV_ID, [(a, 2) for a in agents], num_envs=3, seed=0, progress=False)
    assert eps.num_episodes == 12 and (eps.actions == again.actions).all()
    assert eps.metadata[0]["policy_params"]["preference"] == [0, 1, 2, 3, 4]


def test_first_touched_reads_the_object_bumped_into():
    from justask.recipes.behave import first_touched

    agents = [A.Traits((k, *[j for j in range(5) if j != k]), "direct", True, True) for k in range(5)]
    eps = collect(A.ENV_ID, [(A.TraitAgent(a), 2) for a in agents], num_envs=5, seed=0, progress=False)
    assert list(first_touched(eps)) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]  # a full view goes for its first preference


def test_the_behave_recipe_asks_for_held_out_agents_in_words(tmp_path):
    from justask.configs import TrainConfig
    from justask.models import ModelConfig
    from justask.recipes import recipe, run_recipe
    from justask.recipes.behave import Config, described

    cfg = Config(
        out=str(tmp_path / "behave"),
        train_agents=6,
        episodes_per_agent=2,
        test_agents=3,
        layouts_per_agent=2,
        model=ModelConfig(kind="mlp", hidden_sizes=(16,), condition_film=True),
        train=TrainConfig(steps=10, batch_size=16, progress=False),
    )
    report = run_recipe(recipe("behave"), cfg)
    run = report["seeds"]["0"]
    assert run["held_out_never_trained"]
    for s in run["sets"].values():
        for r in s["methods"].values():
            assert r["episodes"] == 6 and 0 <= r["action_agreement"] <= 1 and 0 <= r["first_object_agreement"] <= 1
    assert (tmp_path / "behave" / "behave.png").stat().st_size > 1000
    data = collect(A.ENV_ID, [(A.TraitAgent(A.population()[0]), 1)], num_envs=1, seed=0, progress=False)
    spec_texts = described(data).condition_info["caption"]["texts"]
    assert spec_texts == [A.describe(A.population()[0])]
    with pytest.raises(JustAskError, match="train_agents"):
        Config(train_agents=100_000)


def test_the_agent_centred_view_and_the_trait_numbers():
    env = gym.make(A.ENV_ID).unwrapped
    obs, _ = env.reset(seed=5)
    ego = obs[A.GRID_DIM : -A.N_OBJECTS].reshape(len(A.CHANNELS) - 1, A.EGO, A.EGO)
    centre = A.SIZE - 1
    x, y = env.objects[2]
    dx, dy = x - env.agent[0], y - env.agent[1]
    assert ego[2 + 2, centre + dy, centre + dx] == 1.0 and ego[2 + 2].sum() == 1.0
    assert ego[0, 0, 0] == 1.0 or ego[0].sum() > A.SIZE  # outside the room reads as wall
    v = A.trait_vector(A.Traits((3, 0, 1, 2, 4), "zigzag", False, True))
    assert v.shape == (len(A.TRAIT_FIELDS),) and v[3] == 0.0 and v[4] == 1.0 and v[5 + 3] == 1.0
    assert v[-2:].tolist() == [0.0, 1.0] and v[10 + 3] == 1.0
