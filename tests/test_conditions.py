"""Conditions as data: a kind of condition is a description, not a code path."""

import numpy as np
import pytest
import torch
from conftest import hand_made_episodes

from justask.asking import ask
from justask.conditions import GOAL, WORLD, ConditionKind, ConditionSpec
from justask.configs import TrainConfig
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.evaluation import evaluate, steering
from justask.models import ModelConfig, load_model
from justask.training import train

# ---- a kind of condition the package has never seen, defined here and nowhere else ------------
PEAK = ConditionKind("altitude", keyword="peak", best_percentile=90.0)


def peak_altitude(episodes: Episodes) -> Episodes:
    """A relabeler: each step asks for the highest altitude (observation 1) the rest of its
    episode reaches."""
    nxt = episodes.observations[np.arange(episodes.num_steps) + episodes.episode_of_step() + 1][:, 1]
    column = np.empty(episodes.num_steps)
    for start, length in zip(episodes.episode_starts, episodes.lengths, strict=True):
        column[start : start + length] = np.maximum.accumulate(nxt[start : start + length][::-1])[::-1]
    return episodes.with_condition("peak_altitude", column[:, None], **PEAK.describe(scale=0.5))


def test_a_new_kind_of_condition_trains_asks_and_evaluates_without_touching_the_package(lunar_episodes, tmp_path):
    episodes = peak_altitude(lunar_episodes)
    cfg = TrainConfig(steps=30, batch_size=32, warmup_steps=5, progress=False)
    model = train(
        episodes, ModelConfig(kind="mlp", hidden_sizes=(16,)), cfg, tmp_path / "run", condition="peak_altitude"
    )
    spec = model.io.condition
    assert (spec.kind, spec.keyword, spec.update, spec.scale) == ("altitude", "peak", "hold", [0.5])
    first = episodes.conditions["peak_altitude"][episodes.episode_starts, 0]
    np.testing.assert_allclose(spec.best, [np.percentile(first, 90)])
    agent = ask(model, peak=1.2)
    assert agent.info["condition"] == 1.2 and agent.name == "mlp@1.2/argmax"
    np.testing.assert_allclose(agent.request.numpy(), [2.4])  # model units: / scale
    result = evaluate("LunarLander-v3", agent, episodes=4, num_envs=4, progress=False)
    assert result.episodes == 4
    control = steering("LunarLander-v3", model, None, episodes=4, num_envs=4)  # the best vs the data's requests
    assert {"asked", "shuffled", "gap_shuffled"} <= set(control)
    # the run folder carries the kind as data: loaded elsewhere, the model is asked the same way
    loaded = load_model(tmp_path / "run")
    assert loaded.io.condition == spec
    with pytest.raises(JustAskError, match="asked for 'peak'"):
        ask(loaded, return_to_go=100)
    assert ask(loaded).info["condition"] == pytest.approx(spec.best[0], abs=1e-6)


def test_a_column_with_no_description_is_asked_by_its_name():
    ep = hand_made_episodes((3, 2))
    ep = ep.with_condition("speed", np.linspace(0, 1, ep.num_steps)[:, None])
    spec = ConditionSpec.from_episodes(ep, "speed")
    assert (spec.keyword, spec.kind, spec.update, spec.best) == ("speed", "speed", "hold", None)
    with pytest.raises(JustAskError, match="no default request"):
        spec.request(None)
    np.testing.assert_allclose(spec.request(0.5), [0.5])


def test_named_fields_defaults_and_command_line_requests():
    ep = hand_made_episodes((2, 2))
    ep = ep.with_condition(
        "world",
        np.tile([1.0, 0.5, 2.0], (ep.num_steps, 1)),
        **WORLD.describe(
            fields=["known", "length", "mass"], offset=[0, 0.5, 1.0], scale=[1, 0.25, 0.5], defaults=[1, 0.5, 1.0]
        ),
    )
    spec = ConditionSpec.from_episodes(ep, "world")
    np.testing.assert_allclose(spec.request({"length": 0.75}), [1.0, 1.0, 0.0])  # mass takes its default
    with pytest.raises(JustAskError, match="no field 'size'"):
        spec.request({"size": 1.0})
    assert spec.parse("length=0.75, mass=2") == {"length": 0.75, "mass": 2.0}
    assert spec.parse("best") is None and spec.parse("1,2,3") == [1.0, 2.0, 3.0]
    with pytest.raises(JustAskError, match="'lots' is not a request"):
        spec.parse("lots")
    with pytest.raises(JustAskError, match="takes 3 number"):
        spec.request([1.0, 2.0])
    with pytest.raises(JustAskError, match="not finite"):
        spec.request([1.0, float("nan"), 0.0])


def test_a_return_request_is_decremented_and_others_are_held():
    ep = hand_made_episodes((2, 2))
    ret = ConditionSpec(
        name="r", kind="return", keyword="return_to_go", dim=1, offset=[0.0], scale=[10.0], update="minus_reward"
    )
    current = torch.tensor([[5.0], [5.0]])
    ret.advance(current, torch.tensor([10.0, -20.0]))
    torch.testing.assert_close(current, torch.tensor([[4.0], [7.0]]))
    goal = ConditionSpec.from_episodes(ep.with_condition("g", np.zeros((ep.num_steps, 2)), **GOAL.describe()), "g")
    held = torch.ones(2, 2)
    goal.advance(held, torch.tensor([3.0, 4.0]))
    torch.testing.assert_close(held, torch.ones(2, 2))
    with pytest.raises(JustAskError, match="must be one number"):
        ConditionSpec(name="x", kind="x", keyword="x", dim=2, offset=[0, 0], scale=[1, 1], update="minus_reward")


def test_text_columns_store_each_caption_once_and_concatenate_their_tables():
    from justask.conditions import TEXT

    a = hand_made_episodes((2, 1))
    a = a.with_condition("caption", np.array([0, 0, 1]), **TEXT.describe(texts=["go left", "go right"]))
    b = hand_made_episodes((2,))
    b = b.with_condition("caption", np.array([0, 0]), **TEXT.describe(texts=["go right"]))
    both = Episodes.concatenate([a, b])
    texts = both.condition_info["caption"]["texts"]
    assert texts == ["go left", "go right"]
    assert [texts[i] for i in both.conditions["caption"]] == ["go left", "go left", "go right", "go right", "go right"]
    both.validate()
    broken = both.with_condition("caption", np.array([0, 0, 5, 0, 0]), **both.condition_info["caption"])
    with pytest.raises(JustAskError, match="indexes a sentence outside its 2"):
        broken.validate()


def test_a_text_condition_refuses_another_encoder():
    ep = hand_made_episodes((2,))
    ep = ep.with_condition(
        "caption", np.array([0, 0]), kind="text", text=True, texts=["hi"], encoder="another model 1.0"
    )
    with pytest.raises(JustAskError, match="was embedded by 'another model 1.0'"):
        ConditionSpec.from_episodes(ep, "caption")
