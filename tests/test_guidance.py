"""Condition dropout and classifier-free guidance: the model learns the policy asked nothing
beside the asked one, and guidance at ask time moves actions from the first toward the second."""

import numpy as np
import pytest
import torch

from justask.asking import ask
from justask.configs import TrainConfig
from justask.errors import JustAskError
from justask.models import ModelConfig
from justask.training import train
from tests.test_text_steers import SENTENCES, steering_gap, text_only_episodes


@pytest.fixture(scope="module")
def guided_model(tmp_path_factory):
    cfg = ModelConfig(kind="mlp", hidden_sizes=(32,), condition_dropout=0.3)
    fit = TrainConfig(steps=300, batch_size=64, learning_rate=3e-3, threads=1, progress=False)
    return train(text_only_episodes(), cfg, fit, tmp_path_factory.mktemp("cfg") / "m", condition="caption")


def _probs(model, sentence, drop):
    obs = torch.zeros(1, 1, 4)
    cond = torch.as_tensor(model.io.condition.requests([sentence]), dtype=torch.float32).view(1, 1, -1)
    with torch.no_grad():
        out = model(
            obs,
            torch.zeros(1, 1, dtype=torch.long),
            cond,
            torch.zeros(1, 1, dtype=torch.long),
            drop_condition=torch.tensor([drop]),
        )
    return torch.softmax(out[0, 0], -1).numpy()


def test_condition_dropout_learns_the_unasked_policy_beside_the_asked_one(guided_model):
    asked = np.stack([_probs(guided_model, s, False) for s in SENTENCES])
    unasked = np.stack([_probs(guided_model, s, True) for s in SENTENCES])
    assert (asked.argmax(1) == np.arange(3)).all() and asked.max(1).min() > 0.8  # follows the sentence
    np.testing.assert_allclose(unasked, unasked[:1].repeat(3, 0), atol=1e-6)  # asked nothing: one policy
    assert np.abs(unasked[0] - 1 / 3).max() < 0.15  # ... the data's mix of the three actions
    assert steering_gap(guided_model) > 0.9


def test_guidance_weights_move_between_the_unasked_and_the_asked_policy(guided_model):
    obs = np.zeros((400, 4), np.float32)
    shares = []
    for w in (0.0, 1.0, 3.0):
        agent = ask(guided_model, SENTENCES[0], action_rule="sample", seed=1, guidance=w)
        shares.append(float((agent.act(obs, np.arange(len(obs))) == 0).mean()))
    assert abs(shares[0] - 1 / 3) < 0.1  # w = 0: the policy asked nothing
    assert shares[0] < shares[1] <= shares[2]  # the asked action gains weight with w
    assert shares[2] > 0.97
    plain = ask(guided_model, SENTENCES[1]).act(obs[:8], np.arange(8))
    assert (ask(guided_model, SENTENCES[1], guidance=1.0).act(obs[:8], np.arange(8)) == plain).all()


def test_guidance_needs_a_model_trained_with_condition_dropout(tmp_path, guided_model):
    fit = TrainConfig(steps=5, batch_size=8, threads=1, progress=False)
    plain = train(
        text_only_episodes(5), ModelConfig(kind="mlp", hidden_sizes=(8,)), fit, tmp_path / "p", condition="caption"
    )
    with pytest.raises(JustAskError, match="condition dropout"):
        ask(plain, SENTENCES[0], guidance=2.0)
    with pytest.raises(JustAskError, match="guidance must be"):
        ask(guided_model, SENTENCES[0], guidance=-1)
    with pytest.raises(JustAskError, match="cannot be combined"):
        ask(guided_model, SENTENCES[0], guidance=2.0, kv_cache=True)
    with pytest.raises(JustAskError, match="condition_dropout must be"):
        ModelConfig(condition_dropout=1.0)


def test_a_dt_trained_with_condition_dropout_follows_the_sentence_under_guidance(tmp_path):
    cfg = ModelConfig(kind="dt", d_model=32, n_layer=1, context_len=2, condition_dropout=0.3)
    fit = TrainConfig(steps=200, batch_size=32, learning_rate=3e-3, threads=1, progress=False)
    model = train(text_only_episodes(), cfg, fit, tmp_path / "dt", condition="caption")
    assert steering_gap(model) > 0.9
    obs = np.zeros((8, 4), np.float32)
    assert (ask(model, SENTENCES[2], guidance=2.0).act(obs, np.arange(8)) == 2).all()
