import numpy as np
import pytest
import torch

from justask.asking import ask
from justask.collection import collect
from justask.relabel import return_to_go


@pytest.mark.parametrize("kind", ["dt", "mlp"])
def test_batched_agent_acts_like_single_env_agents(lunar_episodes, kind):
    from justask.models import ModelConfig, PolicyModel

    ep = return_to_go(lunar_episodes)
    arch = (
        {"context_len": 5, "d_model": 16, "n_layer": 1, "action_tokens": True}
        if kind == "dt"
        else {"hidden_sizes": [32]}
    )
    torch.manual_seed(0)
    model = PolicyModel.for_episodes(ep, ModelConfig(kind=kind, **arch), "return_to_go")
    model.set_observation_stats(ep.step_observations())
    n = 6
    batched = collect("LunarLander-v3", [(ask(model, return_to_go=100.0), n)], num_envs=n, seed=3, progress=False)
    singles = [
        collect("LunarLander-v3", [(ask(model, return_to_go=100.0), 1)], num_envs=1, seed=3 + i, progress=False)
        for i in range(n)
    ]
    for i, single in enumerate(singles):
        np.testing.assert_array_equal(batched.episode(i)["actions"], single.episode(0)["actions"])
        np.testing.assert_allclose(batched.episode(i)["rewards"], single.episode(0)["rewards"])


def test_agent_decrements_the_asked_return_by_each_reward(lunar_episodes):
    from justask.models import ModelConfig, PolicyModel

    ep = return_to_go(lunar_episodes, scale=10.0)
    model = PolicyModel.for_episodes(ep, ModelConfig(kind="mlp", hidden_sizes=[8]), "return_to_go")
    agent = ask(model, return_to_go=50.0)
    agent.reset(np.array([0, 1]))
    agent.act(np.zeros((2, 8), dtype=np.float32), np.array([0, 1]))
    agent.observe(np.array([0, 1]), np.array([10.0, -20.0]))
    torch.testing.assert_close(agent._current[:2, 0], torch.tensor([4.0, 7.0]))


def test_collection_gives_the_same_episodes_whatever_the_number_of_envs(lunar_episodes):
    from justask.suites.lunar_lander import demo_population

    a = collect("LunarLander-v3", demo_population(2), num_envs=3, seed=11, progress=False)
    b = collect("LunarLander-v3", demo_population(2), num_envs=14, seed=11, progress=False)
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.observations, b.observations)
    assert a.metadata == b.metadata
    assert [m["policy"] for m in a.metadata][:4] == ["drifter", "drifter", "hoverer", "hoverer"]
    assert [m["seed"] for m in a.metadata] == list(range(11, 11 + 14))


def test_episodes_end_where_the_env_ends_them(lunar_episodes):
    ep = lunar_episodes
    ends = ep.episode_starts + ep.lengths - 1
    assert (ep.terminations[ends] | ep.truncations[ends]).all()
    inner = np.ones(ep.num_steps, dtype=bool)
    inner[ends] = False
    assert not (ep.terminations[inner] | ep.truncations[inner]).any()
    ep.validate()


def test_envs_stepped_in_two_processes_give_the_same_episodes():
    from justask.suites.lunar_lander import demo_population

    one = collect("LunarLander-v3", demo_population(1), num_envs=5, seed=4, progress=False)
    two = collect("LunarLander-v3", demo_population(1), num_envs=5, seed=4, progress=False, processes=2)
    np.testing.assert_array_equal(one.observations, two.observations)
    np.testing.assert_array_equal(one.actions, two.actions)
