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
    """The column holds user units (the known flag, then the raw parameters); the model reads them
    scaled so the training box spans [-1, 1], and a withheld world as all zeros."""
    from justask.conditions import ConditionSpec

    episodes = collect(cw.ENV_ID, [(cw.CartPoleWorldExpert(), 40)], num_envs=20, seed=0, progress=False)
    told = with_world(episodes, cw.FAMILY)
    column = told.conditions[WORLD]
    assert column.shape == (episodes.num_steps, 1 + len(cw.FAMILY.defaults))
    first = column[told.episode_starts]
    worlds = [m["world"] for m in told.metadata]
    np.testing.assert_allclose(first, world_request(cw.FAMILY, worlds))
    np.testing.assert_allclose(first[:, 0], 1.0)
    np.testing.assert_allclose(first[:, 1:], [[w[p] for p in cw.FAMILY.defaults] for w in worlds])
    spec = ConditionSpec.from_episodes(told, WORLD)
    np.testing.assert_allclose(spec.to_model(first)[:, 1:], cw.FAMILY.vector(worlds), atol=1e-6)
    dropped = with_world(episodes, cw.FAMILY, drop=0.5, seed=1).conditions[WORLD][told.episode_starts]
    hidden = dropped[:, 0] == 0
    assert 0.2 < hidden.mean() < 0.8
    unknown = world_request(cw.FAMILY, [cw.FAMILY.sample(1)], told=False)
    np.testing.assert_allclose(dropped[hidden], np.repeat(unknown, hidden.sum(), axis=0))
    np.testing.assert_allclose(dropped[~hidden], first[~hidden])
    assert not spec.to_model(unknown).any()  # an unknown world reads as zeros


def test_a_model_learns_the_label_column_and_the_told_world_steers_an_oracle(tmp_path):
    """An MLP trained on expert labels of 30%-noisy data learns the labels; asked each episode's
    world it balances, and the steering control (each episode told another episode's world, half
    of them with the other actuator sign) falls well below it. The control is paired: rerunning
    the asked episodes gives the row the evaluation wrote."""
    from justask.asking import ask
    from justask.configs import TrainConfig
    from justask.models.config import ModelConfig
    from justask.recipes.worlds import Config, evaluate_in_box, steering_in_box, suites, told_worlds
    from justask.training import train

    space = gym.spaces.Discrete(2)
    episodes = collect(
        cw.ENV_ID, [(noisy(cw.CartPoleWorldExpert(), 0.3, space), 30)], num_envs=30, seed=0, progress=False
    )
    episodes = with_world(with_expert_labels(episodes, cw.FAMILY, cw.labels_for), cw.FAMILY)
    fitting = TrainConfig(steps=300, batch_size=128, learning_rate=3e-3, progress=False, threads=1, device="cpu")
    model = train(
        episodes,
        ModelConfig(kind="mlp", hidden_sizes=(64,)),
        fitting,
        tmp_path / "oracle",
        condition=WORLD,
        target=EXPERT_ACTION,
    )
    obs = torch.as_tensor(episodes.step_observations(), dtype=torch.float32)
    with torch.no_grad():
        cond = torch.as_tensor(model.io.condition.to_model(episodes.conditions[WORLD]))
        out = model(obs[:, None], torch.as_tensor(episodes.actions)[:, None], cond[:, None], None, None)[:, -1]
    agree_labels = (out.argmax(-1).numpy() == episodes.conditions[EXPERT_ACTION]).mean()
    assert agree_labels > 0.9  # it learned the labels, not the 30%-noisy executed actions

    suite = suites()[cw.FAMILY.name]
    agent = ask(model, world=told_worlds(suite, "train"), name="oracle")
    result = collect(cw.ENV_ID, [(agent, 20)], num_envs=20, seed=900, progress=False)
    assert result.returns().mean() > 450

    cfg = Config(eval_worlds=20)
    row, _ = evaluate_in_box(ask(model, world=told_worlds(suite, "train")), suite, "train", cfg)
    control = steering_in_box(model, suite, "train", cfg, asked=None)
    assert control["asked"]["mean"] == pytest.approx(row["mean"], abs=1e-3)
    assert control["shuffled"]["mean"] < control["asked"]["mean"] - 100
    assert control["gap_shuffled"]["ci95"][0] > 0


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
    from justask.asking import ask
    from justask.models import ModelConfig, PolicyIO, PolicyModel

    episodes = collect(cw.ENV_ID, [(cw.CartPoleWorldExpert(), 6)], num_envs=6, seed=0, progress=False)
    episodes = with_world(episodes, cw.FAMILY)
    torch.manual_seed(0)
    model = PolicyModel(
        ModelConfig(kind="dt", context_len=4, d_model=16, n_layer=1), PolicyIO.from_episodes(episodes, WORLD)
    )
    model.set_observation_stats(episodes.step_observations())

    def agent():
        return ask(model, world=lambda seeds: world_request(cw.FAMILY, [cw.FAMILY.sample(int(s)) for s in seeds]))

    n = 5
    batched = collect(cw.ENV_ID, [(agent(), n)], num_envs=n, seed=40, progress=False)
    assert len({m["seed"] for m in batched.metadata}) == n
    for i in range(n):
        single = collect(cw.ENV_ID, [(agent(), 1)], num_envs=1, seed=40 + i, progress=False)
        np.testing.assert_array_equal(batched.episode(i)["actions"], single.episode(0)["actions"])


TINY = ["--episodes", "8", "--dt-train.steps", "20", "--mlp-train.steps", "20", "--eval-worlds", "4"]
TINY += ["--dt-train.threads", "1", "--mlp-train.threads", "1", "--dt.context-len", "4", "--dt.d-model", "16"]
TINY += ["--dt.n-layer", "1", "--mlp.hidden-sizes", "32"]


def test_demo_worlds_writes_its_report_pictures_and_steering_controls(tmp_path, capsys):
    import json

    from justask.cli import main

    assert main(["demo", "worlds", "--out", "runs/w", *TINY, "--ppo-steps", "0"]) == 0
    report = json.loads((tmp_path / "runs/w/report.json").read_text())
    models = set(report["summary"]["models"])
    assert {"history", "memoryless", "oracle", "history+world/told", "history+world/inferred"} <= models
    assert "privileged expert" in models
    assert set(report["boxes"]) == set(cw.FAMILY.box_names)
    assert report["summary"]["models"]["privileged expert"]["train"]["success"] == 1.0
    assert report["findings"] and report["seconds"] > 0 and report["provenance"]["seeds"] == [0]
    # every model told its world gets the control in every box; the others (told nothing) none
    told = {(r["model"], r["box"]) for r in report["steering"]}
    assert told == {(m, b) for m in ("oracle", "history+world/told") for b in cw.FAMILY.box_names}
    assert all({"asked", "shuffled", "gap_shuffled"} <= set(r) for r in report["steering"])
    assert set(report["summary"]["steering"]) == {"oracle", "history+world/told"}
    assert all(len(r["returns"]) == 4 for r in report["rows"])  # kept for merge
    for name in ("report.md", "returns.png", "rollout.gif"):
        assert (tmp_path / "runs/w" / name).stat().st_size > 0
    assert "Does the told world steer?" in (tmp_path / "runs/w/report.md").read_text()
    assert not (tmp_path / "runs/w/partial.json").exists()
    capsys.readouterr()
    assert main(["demo", "worlds", "--out", "runs/x", "--noise", "0", "2"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("justask: error: noise:") and "[0, 1]" in errors[0]
    assert not (tmp_path / "runs/x").exists()


def test_the_self_delusion_run_trains_each_regime_and_probes_it(tmp_path):
    import dataclasses

    from justask.models import ModelConfig
    from justask.recipes import recipe, run_recipe
    from justask.recipes.worlds import SELF_DELUSION_REGIMES, Config
    from justask.recipes.worlds import _quiet as quiet

    cfg = Config(
        out=str(tmp_path / "sd"),
        self_delusion=True,
        episodes=4,
        dagger_episodes=2,
        eval_worlds=2,
        probes=(0.0, 0.5),
        dt=ModelConfig(kind="dt", context_len=4, d_model=16, n_layer=1),
        dt_train=dataclasses.replace(quiet(5), threads=1),  # one thread: the tests share the cores
    )
    report = run_recipe(recipe("worlds"), cfg)
    assert report["experiment"] == "self_delusion" and report["steering"] == []
    expected = {f"{regime} | test noise {p:g}" for regime in SELF_DELUSION_REGIMES for p in (0.0, 0.5)}
    assert set(report["summary"]["models"]) == expected
    assert all("twin_share" in e for per_box in report["summary"]["models"].values() for e in per_box.values())
    assert (tmp_path / "sd/seed0/noiseless-data-+-3-DAgger-rounds/history-dagger3").is_dir()
    assert "Self-delusion of history models" in (tmp_path / "sd/report.md").read_text()


def _part(seed, mean, models=("history", "privileged expert")):
    """A hand-made worlds report of one seed: every row's episodes return ``mean``."""
    import dataclasses

    from justask.recipes.worlds import Config, settings

    rows = [
        {
            "model": m,
            "box": b,
            "seed": seed,
            "mean": mean,
            "ci95": [mean, mean],
            "success": 1.0,
            "success_ci95": [0.5, 1.0],
            "episodes": 2,
            "returns": [mean, mean],
        }
        for m in models
        for b in ("train", "far")
    ]
    return {
        "recipe": "worlds",
        "experiment": "comparison",
        "family": "CartPoleWorlds",
        "settings": settings(Config()),
        "seeds": [seed],
        "boxes": ["train", "far"],
        "success_return": 475.0,
        "data": [{"seed": seed}],
        "rows": rows,
        "steering": [],
        "seconds": 10.0 + seed,
        "machine": "2 CPU cores",
        "provenance": {"command": f"run seed {seed}", "config": dataclasses.asdict(Config(seeds=(seed,)))},
    }


def test_merge_pools_seeds_and_a_later_row_replaces_an_earlier_one(tmp_path):
    from justask.recipes.worlds import merge

    merged = merge([_part(0, 100.0), _part(1, 300.0), _part(1, 500.0, models=("history",))], tmp_path)
    assert merged["seeds"] == [0, 1] and merged["seconds"] == 11.0
    history = merged["summary"]["models"]["history"]["train"]
    assert history["seed_means"] == [100.0, 500.0] and history["mean"] == 300.0
    assert [r["model"] for r in merged["rows"]][-1] == "privileged expert"
    assert merged["provenance"]["command"] == "run seed 0 ; run seed 1 ; run seed 1"
    assert (tmp_path / "report.md").exists() and (tmp_path / "returns.png").exists()
    without = _part(2, 1.0)
    del without["rows"][0]["returns"]
    with pytest.raises(JustAskError, match="per-episode returns"):
        merge([without], tmp_path)
    other = {**_part(3, 1.0), "experiment": "self_delusion"}
    with pytest.raises(JustAskError, match="one experiment and family"):
        merge([_part(0, 1.0), other], tmp_path)


RECORDED = {
    # preset -> the results file whose recorded config it reproduces
    "cartpole": "worlds_cartpole.json",
    "cartpole_self_delusion": "worlds_cartpole_self_delusion.json",
    "lunarlander": "worlds_lunarlander.json",
    "lunarlander_dagger": "worlds_lunarlander_dagger.json",
    "lunarlander_noisy": "worlds_lunarlander_noisy.json",
}


@pytest.mark.parametrize("preset", sorted(RECORDED))
def test_presets_reproduce_the_recorded_benchmark_settings(preset):
    import json
    from pathlib import Path

    from justask.recipes.worlds import PRESETS

    recorded = json.loads((Path(__file__).parents[1] / "benchmarks/results" / RECORDED[preset]).read_text())
    old, cfg = recorded["config"], PRESETS[preset]
    assert cfg.seeds == tuple(recorded["seeds"])
    assert cfg.self_delusion == ("regimes" in recorded)
    mine = {
        "family": cfg.family,
        "episodes": cfg.episodes,
        "noise": list(cfg.noise),
        "labels": cfg.labels,
        "dagger_rounds": cfg.dagger_rounds,
        "dagger_episodes": cfg.dagger_episodes,
        "context_len": cfg.dt.context_len,
        "dt_steps": cfg.dt_train.steps,
        "mlp_steps": cfg.mlp_train.steps,
        "batch_size": cfg.dt_train.batch_size,
        "world_drop": cfg.world_drop,
        "eval_worlds": cfg.eval_worlds,
        "test_noise": cfg.test_noise,
        "threads": cfg.dt_train.threads,
        "device": cfg.dt_train.device,
        "models": list(cfg.models),
    }
    assert mine == {k: old[k] for k in mine}
    assert cfg.mlp_train.batch_size == old["batch_size"] and cfg.mlp_train.device == old["device"]
    ppo = {r["model"] for r in recorded["rows"] if r["model"].startswith("ppo-")}
    assert ppo == (
        {f"ppo-{cfg.ppo_steps // 1000}k", f"ppo-{cfg.ppo_steps // 1000}k-stack4"} if cfg.ppo_steps else set()
    )
