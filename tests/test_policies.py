import gymnasium as gym
import numpy as np

from justask.policies import RandomPolicy, noisy
from justask.suites.lunar_lander import LunarLanderExpert


def test_expert_matches_gymnasiums_heuristic():
    from gymnasium.envs.box2d.lunar_lander import heuristic

    for continuous in (False, True):
        env = gym.make("LunarLander-v3", continuous=continuous)
        expert = LunarLanderExpert(continuous=continuous)
        obs, _ = env.reset(seed=0)
        rng = np.random.default_rng(0)
        states = [obs]
        for _ in range(200):
            obs, _, term, trunc, _ = env.step(env.action_space.sample() if rng.random() < 0.5 else heuristic(env, obs))
            states.append(obs)
            if term or trunc:
                obs, _ = env.reset(seed=int(rng.integers(1000)))
        states = np.array(states)
        ours = expert.act(states)
        theirs = np.array([heuristic(env, s) for s in states])
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_noisy_policy_replaces_about_eps_of_actions_and_is_repeatable():
    space = gym.spaces.Discrete(4)

    class Const:
        name = "const"

        def act(self, obs, slots):
            return np.zeros(len(obs), dtype=np.int64)

    policy = noisy(Const(), 0.3, space, toward=2)
    slots = np.arange(1000)
    policy.reset(slots, slots + 5)
    first = policy.act(np.zeros((1000, 8)), slots)
    assert set(np.unique(first)) == {0, 2}
    assert abs((first == 2).mean() - 0.3) < 0.05
    policy.reset(slots, slots + 5)
    np.testing.assert_array_equal(policy.act(np.zeros((1000, 8)), slots), first)
    # an episode's randomness follows its seed, not its slot
    policy.reset(slots[::-1].copy(), slots + 5)
    np.testing.assert_array_equal(policy.act(np.zeros((1000, 8)), slots[::-1].copy()), first)


def test_random_policy_covers_the_action_space():
    box = gym.spaces.Box(-2, 3, (2,), np.float32)
    policy = RandomPolicy(box)
    policy.reset(np.arange(500), np.arange(500))
    actions = policy.act(np.zeros((500, 1)), np.arange(500))
    assert actions.shape == (500, 2) and actions.min() >= -2 and actions.max() <= 3 and actions.std() > 1


def test_overlapped_stepping_gives_the_same_episodes_as_stepping_in_turn():
    """Envs stepped in workers while the policy acts for the other chunk: same seeds, same
    episodes, for a stateless expert and for a model with per-slot context (a DT)."""
    from justask.asking import ask
    from justask.collection import collect
    from justask.models import ModelConfig, PolicyModel
    from justask.relabel import return_to_go
    from justask.suites.lunar_lander import LunarLanderExpert

    expert = [(LunarLanderExpert(), 6)]
    plain = collect("LunarLander-v3", expert, num_envs=4, seed=3, progress=False)
    overlapped = collect("LunarLander-v3", expert, num_envs=4, seed=3, progress=False, overlap=True)
    np.testing.assert_array_equal(plain.actions, overlapped.actions)
    np.testing.assert_array_equal(plain.observations, overlapped.observations)
    data = return_to_go(plain, scale=100)
    model = PolicyModel.for_episodes(data, ModelConfig("dt", context_len=5), "return_to_go")
    runs = [
        collect("LunarLander-v3", [(ask(model, 100), 5)], num_envs=3, seed=9, progress=False, overlap=overlap)
        for overlap in (False, True)
    ]
    np.testing.assert_array_equal(runs[0].actions, runs[1].actions)
    assert [m["seed"] for m in runs[1].metadata] == list(range(9, 14))
