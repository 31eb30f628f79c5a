"""World families: sampling, held-out boxes, the privileged expert, relabeling, bad input."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from justask.collection import collect
from justask.errors import JustAskError
from justask.policies import noisy
from justask.suites import cartpole_worlds as cw
from justask.worlds import (
    EXPERT_ACTION,
    WORLD,
    Choice,
    MistakenExpert,
    Uniform,
    WorldFamily,
    with_expert_labels,
    with_world,
    world_request,
)


def test_worlds_stay_in_their_boxes_and_held_out_boxes_leave_training():
    family = cw.FAMILY
    for box in family.box_names:
        ranges = family.box(box)
        worlds = [family.sample(seed, box) for seed in range(300)]
        for param, rng in ranges.items():
            values = np.array([w[param] for w in worlds])
            if isinstance(rng, Choice):
                assert set(values) == set(rng.values)  # every choice drawn, nothing else
            else:
                assert values.min() >= rng.low and values.max() <= rng.high
                assert values.max() - values.min() > 0.5 * (rng.high - rng.low)  # spread over the range
        for param, rng in family.held_out.get(box, {}).items():
            assert not rng.overlaps(family.train[param])
    assert family.sample(7, "train") == family.sample(7, "train")  # a pure function of the seed
    # the training box spans [-1, 1] in the condition's units; held-out worlds fall outside
    train_vectors = family.vector([family.sample(s) for s in range(200)])
    assert np.abs(train_vectors).max() <= 1.0 + 1e-6
    short = family.vector([family.sample(s, "short_pole") for s in range(50)])
    assert (short[:, list(family.defaults).index("length")] < -1).all()


def test_the_env_applies_the_world_of_its_seed():
    env = gym.make(cw.ENV_ID, box="long_heavy_pole")
    _, info = env.reset(seed=11)
    world = cw.FAMILY.sample(11, "long_heavy_pole")
    assert info["world"] == world
    inner = env.unwrapped
    assert inner.length == world["length"] and inner.force_mag == world["force_mag"]
    assert inner.polemass_length == pytest.approx(world["masspole"] * world["length"])
    assert env.spec.max_episode_steps == 500


def test_the_sign_flip_swaps_the_actions():
    """In a world with sign -1, action 1 moves the cart left: the same push as action 0 in a
    world with sign +1 and the same physics."""
    seeds = {sign: next(s for s in range(100) if cw.FAMILY.sample(s)["sign"] == sign) for sign in (-1.0, 1.0)}
    velocities = {}
    for sign, seed in seeds.items():
        env = gym.make(cw.ENV_ID, box={"force_mag": 10.0, "length": 0.5, "masspole": 0.1})
        env.reset(seed=seed)
        env.unwrapped.state = np.zeros(4)
        obs, *_ = env.step(1)
        velocities[sign] = obs[1]
    assert velocities[1.0] > 0 > velocities[-1.0]
    assert velocities[1.0] == pytest.approx(-velocities[-1.0])


def test_the_privileged_expert_solves_sampled_worlds_in_every_box():
    for box in cw.FAMILY.box_names:
        episodes = collect(
            cw.ENV_ID,
            [(cw.CartPoleWorldExpert(box), 12)],
            num_envs=12,
            seed=500,
            progress=False,
            env_kwargs={"box": box},
        )
        assert episodes.returns().min() == 500, box


def test_expert_labels_relabel_noisy_and_model_episodes_with_the_experts_actions():
    """The DAgger relabeler: every step gets the action the privileged expert takes in that
    state of that world — equal to the executed action where the expert acted, and differing
    where noise acted."""
    space = gym.spaces.Discrete(2)
    episodes = collect(
        cw.ENV_ID,
        [(cw.CartPoleWorldExpert(), 4), (noisy(cw.CartPoleWorldExpert(), 0.5, space), 4)],
        num_envs=8,
        seed=0,
        progress=False,
    )
    labelled = with_expert_labels(episodes, cw.FAMILY, cw.labels_for)
    labels, actions = labelled.conditions[EXPERT_ACTION], labelled.actions
    expert_steps = np.repeat([m["policy"] == "lqr-expert" for m in labelled.metadata], labelled.lengths)
    np.testing.assert_array_equal(labels[expert_steps], actions[expert_steps])
    noisy_disagree = (labels[~expert_steps] != actions[~expert_steps]).mean()
    assert 0.1 < noisy_disagree < 0.45  # half the steps are random, half of those differ
    assert all(m["world"] == cw.FAMILY.sample(m["seed"]) for m in labelled.metadata)
    # an expert label is the expert's action: re-acting with the expert from the seed agrees
    expert = cw.CartPoleWorldExpert()
    i = int(np.flatnonzero(~expert_steps)[0])
    episode = int(np.searchsorted(labelled.episode_starts, i, side="right") - 1)
    expert.reset(np.array([0]), np.array([labelled.metadata[episode]["seed"]]))
    obs = labelled.step_observations()[i : i + 1]
    assert expert.act(obs, np.array([0]))[0] == labels[i]


def test_the_mistaken_expert_acts_for_the_twin_world_in_one_window_only():
    """Its actions are the twin world's expert's inside one window per episode (where, in
    CartPole, every action is the wrong push) and the right expert's everywhere else."""
    twin = cw.FAMILY.twin(cw.FAMILY.sample(3))
    assert twin["sign"] == -cw.FAMILY.sample(3)["sign"] and twin["length"] == cw.FAMILY.sample(3)["length"]
    expert = MistakenExpert(cw.FAMILY, cw.labels_for, max_steps=5, start_max=10)
    episodes = collect(cw.ENV_ID, [(expert, 8)], num_envs=8, seed=0, progress=False)
    labelled = with_expert_labels(episodes, cw.FAMILY, cw.labels_for)
    wrong = labelled.actions != labelled.conditions[EXPERT_ACTION]
    for start, length in zip(labelled.episode_starts, labelled.lengths, strict=True):
        steps = np.flatnonzero(wrong[start : start + length])
        assert 1 <= len(steps) <= 5 and steps[0] <= 10
        np.testing.assert_array_equal(steps, np.arange(steps[0], steps[0] + len(steps)))  # one window
    with pytest.raises(JustAskError, match="max_steps"):
        MistakenExpert(cw.FAMILY, cw.labels_for, max_steps=0)


def test_world_column_and_its_dropout():
    episodes = collect(cw.ENV_ID, [(cw.CartPoleWorldExpert(), 40)], num_envs=20, seed=0, progress=False)
    told = with_world(episodes, cw.FAMILY)
    column = told.conditions[WORLD]
    assert column.shape == (episodes.num_steps, 1 + len(cw.FAMILY.defaults))
    first = column[told.episode_starts]
    np.testing.assert_allclose(first, world_request(cw.FAMILY, [m["world"] for m in told.metadata]))
    dropped = with_world(episodes, cw.FAMILY, drop=0.5, seed=1).conditions[WORLD][told.episode_starts]
    hidden = dropped[:, 0] == 0
    assert 0.2 < hidden.mean() < 0.8 and not dropped[hidden].any()
    np.testing.assert_allclose(dropped[~hidden], first[~hidden])
    assert not world_request(cw.FAMILY, [cw.FAMILY.sample(1)], told=False).any()


def test_a_model_learns_the_label_column_and_an_oracle_reads_its_world(tmp_path):
    from justask.agent import Agent
    from justask.configs import TrainConfig
    from justask.training import model_config_for, train

    space = gym.spaces.Discrete(2)
    episodes = collect(
        cw.ENV_ID, [(noisy(cw.CartPoleWorldExpert(), 0.3, space), 30)], num_envs=30, seed=0, progress=False
    )
    episodes = with_world(with_expert_labels(episodes, cw.FAMILY, cw.labels_for), cw.FAMILY)
    config = model_config_for(episodes, "mlp", WORLD, hidden_sizes=[64], target=EXPERT_ACTION)
    cfg = TrainConfig(steps=300, batch_size=128, learning_rate=3e-3, progress=False, threads=1)
    model = train(episodes, config, cfg, tmp_path / "oracle")
    obs = torch.as_tensor(episodes.step_observations(), dtype=torch.float32)
    with torch.no_grad():
        cond = torch.as_tensor(episodes.conditions[WORLD])
        out = model(obs[:, None], torch.as_tensor(episodes.actions)[:, None], cond[:, None], None, None)[:, -1]
    agree_labels = (out.argmax(-1).numpy() == episodes.conditions[EXPERT_ACTION]).mean()
    assert agree_labels > 0.9  # it learned the labels, not the 30%-noisy executed actions

    def request(seeds):
        return world_request(cw.FAMILY, [cw.FAMILY.sample(int(s)) for s in seeds])

    agent = Agent(model, None, request_fn=request)
    result = collect(cw.ENV_ID, [(agent, 20)], num_envs=20, seed=900, progress=False)
    assert result.returns().mean() > 450


def test_bad_world_boxes_are_one_line_errors_naming_the_parameter():
    base = dict(name="T", base_env="CartPole-v1", defaults={"a": 1.0, "b": 2.0}, apply=lambda env, w: None)
    with pytest.raises(JustAskError, match="unknown world parameter 'c'"):
        WorldFamily(**base, train={"c": (0, 1)}, held_out={})
    with pytest.raises(JustAskError, match="world parameter 'a': inverted range 2:1"):
        WorldFamily(**base, train={"a": (2, 1)}, held_out={})
    with pytest.raises(JustAskError, match="world parameter 'a': empty set of choices"):
        WorldFamily(**base, train={"a": Choice(())}, held_out={})
    with pytest.raises(JustAskError, match="held-out box 'far' overlaps training in 'b'"):
        WorldFamily(**base, train={"a": (0, 1), "b": (0, 1)}, held_out={"far": {"a": (2, 3), "b": (0.5, 2)}})
    family = WorldFamily(**base, train={"a": Uniform(0, 1)}, held_out={"far": {"a": "2:3"}})
    with pytest.raises(JustAskError, match="unknown box 'near'"):
        family.sample(0, "near")
    with pytest.raises(JustAskError, match="cannot read range 'x:y'"):
        family.sample(0, {"a": "x:y"})
    with pytest.raises(JustAskError, match="unknown world parameter 'gravity'"):
        gym.make(cw.ENV_ID, box={"gravity": 3})


def test_the_batched_history_agent_acts_like_single_ones_across_worlds():
    """One Agent for many envs, each in its own world, acts as one Agent per env would."""
    from justask.agent import Agent
    from justask.models import PolicyModel
    from justask.training import model_config_for

    episodes = collect(cw.ENV_ID, [(cw.CartPoleWorldExpert(), 6)], num_envs=6, seed=0, progress=False)
    episodes = with_world(episodes, cw.FAMILY)
    torch.manual_seed(0)
    model = PolicyModel(model_config_for(episodes, "dt", WORLD, context_len=4, d_model=16, n_layer=1))
    model.set_observation_stats(episodes.step_observations())

    def agent():
        return Agent(
            model, None, request_fn=lambda seeds: world_request(cw.FAMILY, [cw.FAMILY.sample(int(s)) for s in seeds])
        )

    n = 5
    batched = collect(cw.ENV_ID, [(agent(), n)], num_envs=n, seed=40, progress=False)
    assert len({m["seed"] for m in batched.metadata}) == n
    for i in range(n):
        single = collect(cw.ENV_ID, [(agent(), 1)], num_envs=1, seed=40 + i, progress=False)
        np.testing.assert_array_equal(batched.episode(i)["actions"], single.episode(0)["actions"])


def test_demo_worlds_writes_its_report_and_pictures(tmp_path):
    import json

    from typer.testing import CliRunner

    from justask.cli import app

    args = ["demo", "worlds", "--out", "runs/w", "--episodes", "8", "--dt-steps", "20", "--mlp-steps", "20"]
    args += ["--eval-worlds", "4", "--ppo-steps", "0", "--threads", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "runs/w/report.json").read_text())
    models = set(report["summary"]["models"])
    assert {"history", "memoryless", "oracle", "history+world/told", "privileged expert"} <= models
    assert set(report["boxes"]) == set(cw.FAMILY.box_names)
    assert report["summary"]["models"]["privileged expert"]["train"]["success"] == 1.0
    for name in ("report.md", "returns.png", "rollout.gif"):
        assert (tmp_path / "runs/w" / name).stat().st_size > 0
    bad = CliRunner().invoke(app, ["demo", "worlds", "--out", "runs/x", "--noise", "0,2"])
    assert bad.exit_code == 2 and "justask: error: --noise shares must lie in [0, 1]" in bad.output
    assert not (tmp_path / "runs/x").exists()
