"""The SB3 goal-reaching peers of GCSL: what they are shown, and that they act in the justask maze."""

import gymnasium as gym
import numpy as np
import pytest

from justask.errors import JustAskError
from justask.peers.sb3_goal import GoalPeerPolicy, goal_in_observation_env, her_env, train_goal_peer
from justask.suites import maze as mz


class _Recorder:
    """An SB3-like model that remembers what it was shown."""

    def __init__(self) -> None:
        self.shown = []

    def predict(self, observation, deterministic=True):
        self.shown.append(observation)
        n = len(observation["observation"]) if isinstance(observation, dict) else len(observation)
        return np.zeros((n, 2), dtype=np.float32), None


def test_ppo_sees_the_episodes_goal_appended():
    env = goal_in_observation_env("Medium")
    obs, _ = env.reset(seed=7)
    assert obs.shape == (6,) and env.observation_space.shape == (6,)
    np.testing.assert_allclose(obs[4:], mz.episode_goal("Medium", 7)[0])
    step_obs, *_ = env.step(np.zeros(2, dtype=np.float32))
    np.testing.assert_allclose(step_obs[4:], obs[4:])
    env.close()


@pytest.mark.parametrize("layout", ["flat", "dict"])
def test_peer_policy_shows_each_slot_its_own_goal(layout):
    model = _Recorder()
    policy = GoalPeerPolicy(model, "Medium", layout, "peer")
    policy.reset(np.array([0, 1]), np.array([3, 11]))
    obs = np.arange(8, dtype=np.float64).reshape(2, 4)
    policy.act(obs[::-1], np.array([1, 0]))
    shown = model.shown[-1]
    goals = mz.episode_goals("Medium", np.array([11, 3]))
    if layout == "flat":
        np.testing.assert_allclose(shown[:, 4:], goals, rtol=1e-6)
        np.testing.assert_allclose(shown[:, :4], obs[::-1])
    else:
        np.testing.assert_allclose(shown["desired_goal"], goals, rtol=1e-6)
        np.testing.assert_allclose(shown["achieved_goal"], obs[::-1, :2])


def test_her_env_recomputes_the_sparse_reward_for_any_goal():
    env = her_env("Medium")
    assert isinstance(env.observation_space, gym.spaces.Dict)
    achieved = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    desired = np.array([[0.3, 0.3], [0.5, 0.0], [1.0, 1.0]])
    rewards = env.unwrapped.compute_reward(achieved, desired, {})
    np.testing.assert_array_equal(rewards, [1.0, 0.0, 1.0])
    env.close()


def _never_called(policy):
    raise AssertionError("no evaluation expected")


def test_bad_peer_arguments_get_clear_errors():
    with pytest.raises(JustAskError, match="unknown maze peer"):
        train_goal_peer("dqn", "Medium", 100, evaluate_goals=_never_called)
    with pytest.raises(JustAskError, match="layout"):
        GoalPeerPolicy(_Recorder(), "Medium", "stacked", "peer")
    with pytest.raises(JustAskError, match="unknown maze"):
        train_goal_peer("ppo", "Small", 100, evaluate_goals=_never_called)


def test_ppo_peer_learns_and_is_evaluated_on_the_env_goals():
    """Measured by the gcsl recipe's evaluation: the env's goals on its evaluation seeds."""
    from justask.recipes.gcsl import Config, evaluate_goals
    from justask.suites.maze import goal_success

    cfg = Config(eval_episodes=4)
    shown, curve_seen = [], []

    def measure(policy):
        shown.append(policy)
        result = evaluate_goals(cfg, policy, "ppo")
        return goal_success(result.returns, result.lengths)

    model, curve = train_goal_peer(
        "ppo", "Medium", 2048, evaluate_goals=measure, eval_every=2048, on_eval=curve_seen.append
    )
    assert [p["env_steps"] for p in curve] == [2048]
    assert curve == curve_seen and len(shown) == 1 and isinstance(shown[0], GoalPeerPolicy)
    assert curve[0]["episodes"] == 4 and 0.0 <= curve[0]["success"] <= 1.0
    assert model.observation_space.shape == (6,)
