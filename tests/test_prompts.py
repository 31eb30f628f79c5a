"""The prompt condition: a model told k other episodes of a behaviour acts as that behaviour.

A toy with a known answer: six behaviours, each a different map from the sign of the first
observation number to one of three actions. Only the prompt says which map an episode follows.
"""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

from justask.asking import ask
from justask.conditions import PROMPT, ConditionSpec
from justask.configs import TrainConfig
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.minari_io import save_minari
from justask.models.config import ModelConfig, PolicyIO
from justask.models.saved import load_model
from justask.prompt_sampler import PromptSampler
from justask.training import train

MAPS = [(a, b) for a in range(3) for b in range(3) if a != b]  # behaviour g: obs[0] < 0 -> a, else b


def toy(episodes_per_behaviour=6, length=8, seed=0, behaviours=None):
    rng = np.random.default_rng(seed)
    obs, actions, group = [], [], []
    behaviours = list(range(len(MAPS)) if behaviours is None else behaviours)
    for g in behaviours:
        for _ in range(episodes_per_behaviour):
            o = rng.normal(size=(length + 1, 2)).astype(np.float32)
            obs.append(o)
            actions.append(np.where(o[:-1, 0] < 0, MAPS[g][0], MAPS[g][1]))
            group.append(np.full(length, g))
    n = len(behaviours) * episodes_per_behaviour
    episodes = Episodes(
        observations=np.concatenate(obs),
        actions=np.concatenate(actions).astype(np.int64),
        rewards=np.zeros(n * length, np.float32),
        terminations=np.tile(np.r_[np.zeros(length - 1, bool), True], n),
        truncations=np.zeros(n * length, bool),
        lengths=np.full(n, length),
        observation_space=gym.spaces.Box(-np.inf, np.inf, (2,), np.float32),
        action_space=gym.spaces.Discrete(3),
    )
    return episodes.with_condition("behaviour", np.concatenate(group), **PROMPT.describe(max_episodes=3))


def test_the_pairing_never_tells_an_episode_itself_and_stays_in_its_behaviour():
    episodes = toy(episodes_per_behaviour=3)
    io = PolicyIO.from_episodes(episodes, "behaviour")
    sampler = PromptSampler(episodes, io, 1, "cpu")
    import torch

    generator = torch.Generator().manual_seed(0)
    group = episodes.conditions["behaviour"][episodes.episode_starts]
    seen_k = set()
    for _ in range(20):
        draws = sampler.draw(64, generator)
        batch = sampler.gather(draws)
        anchors = sampler.episode_of_step[draws["anchor"]].numpy()
        chosen = batch["prompt_episodes"].numpy()
        for p, anchor in enumerate(anchors):
            told = chosen[p][chosen[p] >= 0]
            assert anchor not in told
            assert (group[told] == group[anchor]).all() and len(set(told)) == len(told)
            # three episodes per behaviour: at most the two others
            assert len(told) == min(int(draws["k"][p]), 2)
            seen_k.add(len(told))
            # the steps of the prompt are those episodes' steps, every one of them
            assert int(batch["prompt_mask"][p].sum()) == episodes.lengths[told].sum()
        # every segment is a step of its prompt's anchor episode (found by its unique observation)
        steps = episodes.step_observations()
        last = batch["observations"][:, -1].numpy()
        at = [int(np.flatnonzero((steps == row).all(1))[0]) for row in last]
        assert (episodes.episode_of_step()[at] == anchors[np.arange(64) // 8]).all()
    assert seen_k == {0, 1, 2}


@pytest.fixture(scope="module")
def prompted(tmp_path_factory):
    run = tmp_path_factory.mktemp("prompt") / "run"
    model = train(
        toy(),
        ModelConfig(kind="mlp", hidden_sizes=(64, 64), condition_film=True, prompt_width=64),
        TrainConfig(steps=600, batch_size=128, learning_rate=3e-3, progress=False, threads=1),
        run,
        condition="behaviour",
    )
    return model, run


def agreement(model, prompt, g, seed=1):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(400, 2)).astype(np.float32)
    agent = ask(model, prompt=prompt)
    agent.reset(np.arange(400))
    acted = agent.act(obs)
    return float(np.mean(acted == np.where(obs[:, 0] < 0, MAPS[g][0], MAPS[g][1])))


def test_a_model_told_a_prompt_acts_as_the_behaviour_it_shows(prompted):
    model, _ = prompted
    fresh = toy(episodes_per_behaviour=2, seed=7)  # new episodes of every behaviour
    group = fresh.conditions["behaviour"][fresh.episode_starts]
    told, untold = [], []
    for g in range(len(MAPS)):
        mine = np.flatnonzero(group == g)
        told.append(agreement(model, fresh.select(mine[:1]), g))
        untold.append(agreement(model, None, g))
    assert min(told) >= 0.9, told
    assert np.mean(untold) <= 0.6, untold  # asked nothing: the behaviours' average, right for none


def test_a_prompt_round_trips_through_the_run_folder_and_a_minari_dataset(prompted, tmp_path):
    model, run = prompted
    prompt = toy(episodes_per_behaviour=2, seed=3, behaviours=[4])
    loaded = load_model(run)
    assert loaded.io.condition.is_prompt and loaded.io.condition.dim == model.io.condition.dim
    np.testing.assert_allclose(loaded.encode_episodes(prompt), model.encode_episodes(prompt), atol=1e-6)
    path = save_minari(dataclasses.replace(prompt, conditions={}, condition_info={}), tmp_path / "prompt_ds")
    by_path = ask(loaded, prompt=str(path))
    by_episodes = ask(loaded, prompt=prompt)
    np.testing.assert_allclose(by_path.request.numpy(), by_episodes.request.numpy(), atol=1e-6)
    assert by_episodes.info["condition"] == "prompt of 2 episode(s)"
    assert ask(loaded).info["condition"] == "no prompt"


def test_bad_prompts_are_named(prompted, tmp_path):
    model, _ = prompted
    with pytest.raises(JustAskError, match="a prompt is episodes"):
        ask(model, prompt=42)
    with pytest.raises(JustAskError):
        ask(model, prompt=str(tmp_path / "no_such_dataset"))
    wide = toy(episodes_per_behaviour=1)
    wide = dataclasses.replace(
        wide,
        observations=np.concatenate([wide.observations, wide.observations], axis=1),
        observation_space=gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
    )
    with pytest.raises(JustAskError, match="4 numbers, this model reads 2"):
        ask(model, prompt=wide)
    with pytest.raises(JustAskError, match="is a prompt"):
        model.io.condition.request([0.0])
    episodes = toy(episodes_per_behaviour=1)
    floats = episodes.with_condition(
        "behaviour", episodes.conditions["behaviour"].astype(np.float32), **PROMPT.describe()
    )
    with pytest.raises(JustAskError, match="whole number per step"):
        ConditionSpec.from_episodes(floats, "behaviour")
    mixed = episodes.conditions["behaviour"].copy()
    mixed[1] += 1
    with pytest.raises(JustAskError, match="the same at every step"):
        ConditionSpec.from_episodes(episodes.with_condition("behaviour", mixed, **PROMPT.describe()), "behaviour")
    with pytest.raises(JustAskError, match="prompt_dim"):
        ConditionSpec.from_episodes(
            episodes.with_condition("behaviour", episodes.conditions["behaviour"], **PROMPT.describe(prompt_dim=0)),
            "behaviour",
        )
