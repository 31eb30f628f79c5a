"""The text pathway carries the request: where the right action depends only on the sentence, a
text-conditioned model follows it, and the steering measure tells it from one that ignores it."""

import gymnasium as gym
import numpy as np
import pytest

from justask.asking import ask
from justask.conditions import TEXT
from justask.configs import TrainConfig
from justask.episodes import Episodes
from justask.models import ModelConfig
from justask.training import train

SENTENCES = ["go to the red ball", "go to the blue key", "pick up the grey box"]


def text_only_episodes(n_per_sentence=40, seed=0):
    """Every observation is the same noise-free state; the action is the sentence's index."""
    rng = np.random.default_rng(seed)
    eps, labels = [], []
    for k in range(len(SENTENCES)):
        for _ in range(n_per_sentence):
            length = int(rng.integers(2, 5))
            eps.append(
                {
                    "observations": np.zeros((length + 1, 4), np.float32),
                    "actions": np.full(length, k),
                    "rewards": np.zeros(length, np.float32),
                    "terminations": np.eye(1, length, length - 1, dtype=bool)[0],
                    "truncations": np.zeros(length, bool),
                }
            )
            labels.append(np.full(length, k))
    ep = Episodes.from_episode_list(eps, gym.spaces.Box(-1, 1, (4,), np.float32), gym.spaces.Discrete(len(SENTENCES)))
    return ep.with_condition("caption", np.concatenate(labels), **TEXT.describe(texts=SENTENCES))


def act(agent, obs):
    """The agent's first actions, one episode per row of ``obs`` (acting starts the episodes)."""
    return agent.act(obs, np.arange(len(obs)))


def steering_gap(model) -> float:
    """Share of states where the model does what its own sentence asks, minus the share where it
    does that when told another sentence (the asked-another control)."""
    obs = np.zeros((8, 4), np.float32)
    own = other = 0.0
    for k, sentence in enumerate(SENTENCES):
        acted = act(ask(model, sentence) if model.io.condition else ask(model), obs)
        own += float((acted == k).mean())
        wrong = SENTENCES[(k + 1) % len(SENTENCES)]
        told_other = act(ask(model, wrong), obs) if model.io.condition else acted
        other += float((told_other == k).mean())
    return (own - other) / len(SENTENCES)


@pytest.mark.parametrize("kind", ["mlp", "dt"])
def test_a_text_model_follows_the_sentence_and_shows_a_steering_gap(tmp_path, kind):
    ep = text_only_episodes()
    model_cfg = ModelConfig(kind=kind, hidden_sizes=(32,), d_model=32, n_layer=1, context_len=2)
    fit = TrainConfig(steps=300, batch_size=32, learning_rate=3e-3, threads=1, progress=False)
    model = train(ep, model_cfg, fit, tmp_path / "text", condition="caption")
    assert steering_gap(model) > 0.9
    ignores = train(ep, model_cfg, fit, tmp_path / "bc")  # the same data without the sentence
    assert steering_gap(ignores) == 0.0
