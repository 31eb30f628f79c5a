import numpy as np
import pytest
import torch
from conftest import hand_made_episodes

from justask.models import ModelConfig, PolicyIO, PolicyModel
from justask.relabel import return_to_go
from justask.sampler import SegmentSampler


def dt_model(ep, **kw):
    kw.setdefault("context_len", 4)
    kw.setdefault("d_model", 16)
    kw.setdefault("n_layer", 1)
    return PolicyModel.for_episodes(ep, ModelConfig(kind="dt", **kw), "return_to_go")


def sampler_for(ep, model, **kw):
    return SegmentSampler(ep, model.io, model.config.window, "cpu", **kw)


def test_segments_never_cross_episodes_and_padding_is_masked():
    ep = return_to_go(hand_made_episodes((3, 1, 4)), scale=1.0)
    sampler = sampler_for(ep, dt_model(ep))
    batch = sampler.segment(torch.arange(ep.num_steps))
    episode_of = batch["observations"][..., 0]  # obs = [episode, t]
    t_of = batch["observations"][..., 1]
    mask = batch["mask"]
    ends_episode = torch.as_tensor(ep.episode_of_step(), dtype=torch.float32)
    for row in range(ep.num_steps):
        real = mask[row]
        assert (episode_of[row][real] == ends_episode[row]).all(), "segment crosses an episode boundary"
        # real steps are consecutive and end at the sampled step
        assert t_of[row][real].tolist() == list(range(int(t_of[row][-1]) - int(real.sum()) + 1, int(t_of[row][-1]) + 1))
        assert (batch["timesteps"][row][real] == t_of[row][real].long()).all()
        assert (batch["observations"][row][~real] == 0).all() and (batch["timesteps"][row][~real] == 0).all()
    # left padding only: the mask is False then True
    assert mask.tolist()[3] == [False, False, False, True]  # the 1-step episode
    assert mask.tolist()[7] == [True, True, True, True]
    np.testing.assert_allclose(batch["conditions"][2, -1, 0], 3.0)  # return-to-go at the last step of ep 0


@pytest.mark.parametrize("kind", ["dt", "mlp"])
@pytest.mark.parametrize("action_tokens", [True, False])
def test_padding_changes_no_prediction(kind, action_tokens):
    ep = return_to_go(hand_made_episodes((3, 1, 4), obs_dim=5), scale=1.0)
    arch = {"context_len": 4, "d_model": 16, "n_layer": 2, "action_tokens": action_tokens} if kind == "dt" else {}
    torch.manual_seed(0)
    model = PolicyModel.for_episodes(ep, ModelConfig(kind=kind, **arch), "return_to_go").eval()
    sampler = sampler_for(ep, model)
    batch = sampler.segment(torch.arange(ep.num_steps))
    garbage = {k: v.clone() for k, v in batch.items()}
    pad = ~batch["mask"]
    garbage["observations"][pad] = 123.0
    garbage["conditions"][pad] = -55.0
    garbage["actions"][pad] = 2
    garbage["timesteps"][pad] = 7
    with torch.no_grad():
        a = model(batch["observations"], batch["actions"], batch["conditions"], batch["timesteps"], batch["mask"])
        b = model(
            garbage["observations"], garbage["actions"], garbage["conditions"], garbage["timesteps"], garbage["mask"]
        )
    torch.testing.assert_close(a[batch["mask"]], b[batch["mask"]], atol=1e-5, rtol=1e-5)
    # and the loss divides by the mask: garbage in padded positions changes nothing
    torch.testing.assert_close(model.loss(batch), model.loss(garbage), atol=1e-5, rtol=1e-5)


def test_dt_prediction_does_not_see_the_action_it_predicts():
    ep = return_to_go(hand_made_episodes((6,), obs_dim=3), scale=1.0)
    model = dt_model(ep, action_tokens=True).eval()
    batch = sampler_for(ep, model).segment(torch.tensor([5]))
    changed = batch["actions"].clone()
    changed[0, -1] = (changed[0, -1] + 1) % 3
    with torch.no_grad():
        a = model(batch["observations"], batch["actions"], batch["conditions"], batch["timesteps"], batch["mask"])
        b = model(batch["observations"], changed, batch["conditions"], batch["timesteps"], batch["mask"])
    torch.testing.assert_close(a[0, -1], b[0, -1])
    # ... while an earlier action is part of what it reads
    earlier = batch["actions"].clone()
    earlier[0, -2] = (earlier[0, -2] + 1) % 3
    with torch.no_grad():
        c = model(batch["observations"], earlier, batch["conditions"], batch["timesteps"], batch["mask"])
    assert not torch.allclose(a[0, -1], c[0, -1])


def test_continuous_actions_round_trip_through_the_head():
    import gymnasium as gym

    space = gym.spaces.Box(np.array([-2.0, 0.0]), np.array([2.0, 1.0]), dtype=np.float32)
    model = PolicyModel(ModelConfig(kind="mlp"), PolicyIO.from_spaces(gym.spaces.Box(-1, 1, (3,), np.float32), space))
    out = torch.zeros(5, 4)
    out[:, :2] = 10.0  # tanh -> +1: the top of the range
    actions = model.select_actions(out, "argmax")
    torch.testing.assert_close(actions, torch.tensor([[2.0, 1.0]] * 5), atol=1e-4, rtol=0)
    sampled = model.select_actions(torch.zeros(1000, 4), "sample", torch.Generator().manual_seed(0))
    assert (sampled[:, 0] >= -2).all() and (sampled[:, 0] <= 2).all() and sampled[:, 0].std() > 0.3


def test_data_placement_choices(lunar_episodes, tmp_path):
    from justask.configs import TrainConfig
    from justask.errors import JustAskError
    from justask.sampler import shard_of
    from justask.training import data_placement

    ep = return_to_go(lunar_episodes)
    model = dt_model(ep)
    cpu = torch.device("cpu")
    assert data_placement("auto", ep, cpu, None) == "device"
    with pytest.raises(JustAskError, match="run under torchrun"):
        data_placement("shard", ep, cpu, None)
    with pytest.raises(JustAskError, match="data_placement must be"):
        TrainConfig(data_placement="disk")
    shards = [shard_of(ep, r, 3) for r in range(3)]
    assert sum(s.num_steps for s in shards) == ep.num_steps
    starts = sorted(float(x) for s in shards for x in s.observations[s.observation_starts, 0])
    assert starts == sorted(float(x) for x in ep.observations[ep.observation_starts, 0])
    # host-kept columns give the batches device-kept ones give
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = sampler_for(ep, model).sample(8, g1)
    b = sampler_for(ep, model, storage="cpu").sample(8, g2)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
