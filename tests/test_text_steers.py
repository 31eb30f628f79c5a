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


@pytest.mark.parametrize("kind", ["mlp", "mlp-film", "dt"])
def test_a_text_model_follows_the_sentence_and_shows_a_steering_gap(tmp_path, kind):
    ep = text_only_episodes()
    film = kind == "mlp-film"
    kind = "mlp" if film else kind
    model_cfg = ModelConfig(kind=kind, hidden_sizes=(32,), d_model=32, n_layer=1, context_len=2, condition_film=film)
    fit = TrainConfig(steps=300, batch_size=32, learning_rate=3e-3, threads=1, progress=False)
    model = train(ep, model_cfg, fit, tmp_path / "text", condition="caption")
    assert steering_gap(model) > 0.9
    ignores = train(ep, model_cfg, fit, tmp_path / "bc")  # the same data without the sentence
    assert steering_gap(ignores) == 0.0


def test_film_starts_as_the_plain_mlp_and_is_a_saved_choice(tmp_path):
    """FiLM's scale and shift start at 1 and 0, so a FiLM MLP's first forward equals the plain
    MLP's with the same weights; the choice is in the saved config and the loaded model has it."""
    import torch

    from justask.models.config import PolicyIO
    from justask.models.mlp import MLPTrunk
    from justask.models.saved import load_model

    ep = text_only_episodes(n_per_sentence=4)
    io = PolicyIO.from_episodes(ep, condition="caption")
    torch.manual_seed(0)
    plain = MLPTrunk(ModelConfig(kind="mlp", hidden_sizes=(16, 8)), io)
    film = MLPTrunk(ModelConfig(kind="mlp", hidden_sizes=(16, 8), condition_film=True), io)
    film.load_state_dict(plain.state_dict(), strict=False)  # the same embedding and linear maps
    obs, cond = torch.randn(3, 1, 4), torch.randn(3, 1, io.condition.dim)
    args = (torch.zeros(3, 1, dtype=torch.long), cond, torch.zeros(3, 1, dtype=torch.long), None)
    torch.testing.assert_close(film(obs, *args), plain(obs, *args))
    fit = TrainConfig(steps=5, batch_size=8, threads=1, progress=False)
    train(
        ep, ModelConfig(kind="mlp", hidden_sizes=(16,), condition_film=True), fit, tmp_path / "m", condition="caption"
    )
    assert load_model(tmp_path / "m").config.condition_film
