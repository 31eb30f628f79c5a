"""KV-cached acting computes exactly what full-context acting computes on the same window."""

import numpy as np
import pytest
import torch

from justask.asking import ask
from justask.models import ModelConfig
from justask.relabel import return_to_go

TOLERANCE = dict(rtol=1e-4, atol=1e-5)  # float32, different matrix shapes and summation orders


def _model(episodes, condition_token, action_tokens, context=6):
    from justask.models import PolicyModel

    ep = return_to_go(episodes)
    config = ModelConfig(
        kind="dt",
        context_len=context,
        d_model=32,
        n_layer=2,
        n_head=2,
        condition_token=condition_token,
        action_tokens=action_tokens,
    )
    torch.manual_seed(0)
    model = PolicyModel.for_episodes(ep, config, "return_to_go")
    model.set_observation_stats(ep.step_observations())
    for p in model.parameters():  # larger weights than the init so outputs differ step to step
        p.data.add_(0.1 * torch.randn_like(p))
    return model.eval()


def _drive(agent, observations, rewards):
    """Act on ``observations`` (T, N, obs) for N slots; returns actions (T, N) and head outputs."""
    n = observations.shape[1]
    slots = np.arange(n)
    agent.reset(slots)
    outputs, actions = [], []
    original = agent.model.select_actions

    def spy(out, rule, generator=None):
        outputs.append(out.clone())
        return original(out, rule, generator)

    agent.model.select_actions = spy
    try:
        for t in range(len(observations)):
            actions.append(agent.act(observations[t], slots))
            agent.observe(slots, rewards[t])
    finally:
        agent.model.select_actions = original
    return np.stack(actions), torch.stack(outputs)


@pytest.mark.parametrize("condition_token,action_tokens", [(True, True), (False, True), (False, False)])
def test_cached_acting_equals_full_context_acting_inside_the_window(lunar_episodes, condition_token, action_tokens):
    model = _model(lunar_episodes, condition_token, action_tokens)
    k = model.config.context_len
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(k, 5, 8)).astype(np.float32)
    rewards = rng.normal(size=(k, 5)).astype(np.float32)
    full_actions, full_out = _drive(ask(model, return_to_go=100.0), obs, rewards)
    cached_actions, cached_out = _drive(ask(model, return_to_go=100.0, kv_cache=True), obs, rewards)
    torch.testing.assert_close(cached_out, full_out, **TOLERANCE)
    np.testing.assert_array_equal(cached_actions, full_actions)


@pytest.mark.parametrize("keep", [1, 3, 6])
def test_cached_acting_past_the_window_equals_the_model_on_its_window(lunar_episodes, keep):
    """Beyond the context the cache restarts from the last ``keep`` steps: each output must be
    the model's full forward over the window [start, t] the cache reports."""
    model = _model(lunar_episodes, True, True)
    k = model.config.context_len
    steps, n = 3 * k + 2, 3
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(steps, n, 8)).astype(np.float32)
    rewards = rng.normal(size=(steps, n)).astype(np.float32)
    agent = ask(model, return_to_go=50.0, kv_cache=True, cache_keep=keep)
    starts = []
    original = agent._cache.outputs

    def record(slots, t, window):
        starts.append(agent._cache.window_start(slots, t).cpu().numpy())
        return original(slots, t, window)

    agent._cache.outputs = record
    actions, outputs = _drive(agent, obs, rewards)
    scale = model.io.condition.scale[0]
    requests = 50.0 / scale - np.concatenate([np.zeros((1, n)), np.cumsum(rewards, 0)[:-1]]) / scale
    for t in range(steps):
        for slot in range(n):
            s = int(starts[t][slot])
            assert t - s + 1 <= k and (t < k or t - s + 1 >= keep)
            window = slice(s, t + 1)
            expected = model(
                torch.as_tensor(obs[window, slot])[None],
                torch.as_tensor(actions[window, slot])[None],
                torch.as_tensor(requests[window, slot], dtype=torch.float32)[None, :, None],
                torch.arange(s, t + 1)[None],
                None,
            )[0, -1]
            torch.testing.assert_close(outputs[t, slot], expected, **TOLERANCE)


def test_cached_agent_plays_like_the_full_context_agent_on_a_real_env(lunar_episodes):
    """Same episodes as long as they stay inside the window (LunarLander, 6 envs, context 40)."""
    from justask.collection import collect

    model = _model(lunar_episodes, True, True, context=40)
    full = collect("LunarLander-v3", [(ask(model, return_to_go=100.0), 6)], num_envs=6, seed=5, progress=False)
    cached = collect(
        "LunarLander-v3", [(ask(model, return_to_go=100.0, kv_cache=True), 6)], num_envs=6, seed=5, progress=False
    )
    for i in range(6):
        a, b = full.episode(i)["actions"][:40], cached.episode(i)["actions"][:40]
        np.testing.assert_array_equal(a, b)
