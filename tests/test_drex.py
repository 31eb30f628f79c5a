import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import hand_made_episodes

from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.relabel import return_to_go
from justask.rewards import RANKER_TRAINING, RewardConfig, preference_pairs, ranks_from_metadata, train_reward


def ranker(steps):
    """The ranker's default training, shorter and quiet."""
    return dataclasses.replace(RANKER_TRAINING, steps=steps, progress=False)


def test_noise_ranking_pairs_put_less_noise_first():
    ep = hand_made_episodes((2,) * 6)
    noise = [0.5, 0.02, 1.0, 0.25, 0.02, 0.75]
    for meta, eps in zip(ep.metadata, noise, strict=True):
        meta["policy_params"] = {"noise_eps": eps}
    pairs = preference_pairs(ranks_from_metadata(ep, "noise_eps"))
    assert len(pairs) == 14  # 15 pairs of 6 episodes minus the one tie (0.02, 0.02)
    for better, worse in pairs:
        assert noise[better] < noise[worse]
    with pytest.raises(JustAskError, match="episode 0 has no metadata 'speed'"):
        ranks_from_metadata(ep, "speed")


def toy_episodes(n: int, seed: int) -> Episodes:
    """1-D walks: reward = position, so the true return ranks the walks."""
    rng = np.random.default_rng(seed)
    eps = []
    for _ in range(n):
        length = int(rng.integers(30, 60))
        drift = rng.normal(0, 0.1)
        pos = np.cumsum(np.concatenate([[rng.normal()], drift + 0.05 * rng.normal(size=length)]))
        obs = np.stack([pos, rng.normal(size=length + 1)], axis=1).astype(np.float32)  # a noise feature too
        term = np.zeros(length, dtype=bool)
        term[-1] = True
        eps.append(
            {
                "observations": obs,
                "actions": np.zeros(length, dtype=np.int64),
                "rewards": obs[:-1, 0],
                "terminations": term,
                "truncations": np.zeros(length, dtype=bool),
            }
        )
    space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    return Episodes.from_episode_list(eps, space, gym.spaces.Discrete(2))


def test_trex_loss_learns_a_reward_whose_order_matches_the_true_one():
    from scipy.stats import spearmanr

    train_eps, test_eps = toy_episodes(40, 0), toy_episodes(30, 1)
    pairs = preference_pairs(train_eps.returns())  # ranks only: the learner never sees rewards
    unlabeled = Episodes.from_episode_list(
        [{**train_eps.episode(i), "rewards": np.zeros(train_eps.lengths[i])} for i in range(train_eps.num_episodes)],
        train_eps.observation_space,
        train_eps.action_space,
    )
    reward, log = train_reward(
        unlabeled, pairs, "reward", RewardConfig(snippet_min=5, snippet_max=20, hidden_sizes=(16,)), ranker(300)
    )
    learned = np.add.reduceat(reward.step_rewards(test_eps), test_eps.episode_starts)
    assert spearmanr(learned, test_eps.returns()).statistic > 0.9
    assert log["final_snippet_accuracy"] > 0.8
    # per state, r̂ increases with position and ignores the noise feature
    grid = np.stack([np.linspace(-2, 2, 9), np.zeros(9)], axis=1)
    assert (np.diff(reward.predict(grid)) > 0).all()


def test_a_killed_ranker_resumes_to_the_same_weights(tmp_path):
    """The reward ranker trains through the one loop: killed after step 13 (last checkpoint at 10)
    and resumed, it reaches an uninterrupted run's weights exactly."""
    from justask.rewards import LearnedReward

    episodes = toy_episodes(12, 0)
    pairs = preference_pairs(episodes.returns())
    cfg = RewardConfig(snippet_min=5, snippet_max=15, hidden_sizes=(8,), ensemble=2)
    schedule = dataclasses.replace(ranker(20), checkpoint_every=10, log_every=5, batch_size=8)
    straight, _ = train_reward(episodes, pairs, tmp_path / "straight", cfg, schedule)
    train_reward(episodes, pairs, tmp_path / "killed", cfg, schedule, stop_at=13)
    resumed, log = train_reward(episodes, pairs, tmp_path / "killed", cfg, schedule, resume=True)
    for name, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value), f"{name} differs after resume"
    assert log["final_snippet_accuracy"] is not None
    loaded = LearnedReward.load(tmp_path / "killed")
    for name, value in straight.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value)
    with pytest.raises(JustAskError, match="already holds a run"):
        train_reward(episodes, pairs, tmp_path / "killed", cfg, schedule)


def test_learned_return_relabeling_and_acting():
    ep = hand_made_episodes((3, 2))  # obs = [episode, t]
    learned = ep.step_observations()[:, 1] * 2.0  # a "learned" reward: 2 * t
    out = return_to_go(ep, scale=2.0, name="learned_return_to_go", rewards=learned, reward="learned")
    # episode 0: r̂ = 0, 2, 4 -> rtg 6, 6, 4; episode 1: r̂ = 0, 2 -> rtg 2, 2 (user units; the model divides by 2)
    np.testing.assert_allclose(out.conditions["learned_return_to_go"][:, 0], [6, 6, 4, 2, 2])
    assert out.condition_info["learned_return_to_go"]["reward"] == "learned"

    from justask.asking import ask
    from justask.models import PolicyModel
    from justask.models.config import ModelConfig, PolicyIO

    io = PolicyIO.from_episodes(out, "learned_return_to_go")
    model = PolicyModel(ModelConfig(kind="mlp", hidden_sizes=(8,)), io)
    with pytest.raises(JustAskError, match="learned reward"):
        ask(model, return_to_go=5.0)
    agent = ask(model, return_to_go=5.0, reward_fn=lambda obs, act: obs[:, 1] * 2.0)
    agent.reset(np.array([0]))
    agent.act(np.array([[0.0, 1.5]], dtype=np.float32), np.array([0]))
    agent.observe(np.array([0]), np.array([100.0]))  # the env's reward is ignored
    torch.testing.assert_close(agent._current[0, 0], torch.tensor((5.0 - 3.0) / 2.0))


def test_demonstrations_that_do_not_fit_or_are_too_few():
    from justask.collection import collect
    from justask.policies import RandomPolicy
    from justask.recipes.drex import check_demos

    cartpole = collect("CartPole-v1", [(RandomPolicy(gym.spaces.Discrete(2)), 3)], num_envs=3, progress=False)
    with pytest.raises(JustAskError, match="observations of shape \\(4,\\), env LunarLander-v3 gives \\(8,\\)"):
        check_demos(cartpole, "LunarLander-v3", "cartpole")
    lunar = collect("LunarLander-v3", [(RandomPolicy(gym.spaces.Discrete(4)), 2)], num_envs=2, progress=False)
    with pytest.raises(JustAskError, match="1 episode\\(s\\); D-REX needs at least 2"):
        check_demos(lunar.select([0]), "LunarLander-v3", "one")


def test_demonstrations_all_of_one_length_get_a_note(capsys):
    from justask.recipes.drex import check_demos

    ep = hand_made_episodes((4, 4, 4), obs_dim=8, n_actions=4)
    check_demos(ep, "LunarLander-v3", "equal")
    assert "all 3 demonstrations last 4 steps" in capsys.readouterr().out


def tiny_config(**changes):
    from justask.configs import TrainConfig
    from justask.recipes.drex import Config

    def quick(steps, batch):
        return TrainConfig.quiet(steps, batch, 0, 1, "cpu")

    settings = dict(
        out="runs/drex",
        demo_episodes=4,
        bc_train=quick(30, 256),
        episodes_per_noise=3,
        reward=RewardConfig(ensemble=2),
        reward_train=ranker(30),
        policy_train=quick(30, 256),
        improve_rounds=1,
        heldout_episodes=3,
        eval_episodes=4,
        num_envs=4,
    )
    return Config(**{**settings, **changes})


def test_tiny_drex_run_writes_its_report():
    from pathlib import Path

    from justask.cli import main
    from justask.recipes import recipe, run_recipe
    from justask.rewards import LearnedReward

    report = run_recipe(recipe("drex"), tiny_config())
    seed0 = report["per_seed"]["0"]
    names = {a["name"].split("/")[0] for a in seed0["agents"]}
    assert {"demonstrations (true return)", "BC", "D-REX-MLP asked best", "D-REX-MLP asked high"} <= names
    diag = seed0["reward"]["diagnostics"]
    assert diag["episodes"] == 12 and -1 <= diag["spearman"] <= 1
    assert seed0["env_steps"]["improve_round1"] > 0
    # the steering control of the policy asked its best learned return
    control = seed0["steering"]
    assert control["episodes"] == 4 and "gap_shuffled" in control and "shuffled" in control
    assert report["findings"] and report["seconds"] >= 0 and "provenance" in report
    run = Path("runs/drex")
    for name in (
        "report.json",
        "report.md",
        "reward_extrapolation.png",
        "agents.png",
        "seed0/reward/model.safetensors",
    ):
        assert (run / name).exists(), name
    assert LearnedReward.load(run / "seed0/reward").predict(np.zeros((3, 8))).shape == (3,)
    # the policy folder carries its reward (with its anchor), so the CLI can ask it directly
    beside = LearnedReward.load(run / "seed0/policy-round1/reward")
    assert float(beside.offset) == pytest.approx(seed0["reward"]["anchor"])
    assert main(["ask", "runs/drex/seed0/policy-round1", "--gif", "drex.gif"]) == 0
    assert Path("drex.gif").is_file()


def test_drex_config_checks_its_settings():
    from justask.recipes.drex import Config

    assert Config(noise_levels=(1.0, 0.02, 0.5, 0.5)).noise_levels == (0.02, 0.5, 1.0)
    with pytest.raises(JustAskError, match="at least 2 different noise levels in \\[0, 1\\]"):
        Config(noise_levels=(0.5, 0.5))
    with pytest.raises(JustAskError, match="at least 2 different noise levels"):
        Config(noise_levels=(0.1, 1.5))
    with pytest.raises(JustAskError, match="demos_rank must be top or out"):
        Config(demos_rank="middle")
    with pytest.raises(JustAskError, match="LunarLander only, not CartPole-v1"):
        Config(env_id="CartPole-v1")
    with pytest.raises(JustAskError, match="unknown demonstrator 'bogus'"):
        Config(demonstrator="bogus")
    with pytest.raises(JustAskError, match="--absorbing"):
        Config(reward=RewardConfig(absorbing_horizon=10))
    with pytest.raises(JustAskError, match="eval_episodes must be a whole number >= 1"):
        Config(eval_episodes=0)


def test_drex_cli_errors_are_one_line(capsys):
    from justask.cli import main

    assert main(["demo", "drex", "--noise-levels", "0.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("justask: error:") and "noise levels" in err[0]


def test_presets_reproduce_the_recorded_benchmark_settings():
    import json
    from pathlib import Path

    from justask.recipes.drex import PRESETS

    recorded = json.loads((Path(__file__).parent.parent / "benchmarks/results/drex.json").read_text())["runs"]
    for preset, env_id in (("benchmark", "LunarLander-v3"), ("benchmark-continuous", "LunarLanderContinuous-v3")):
        cfg, old = PRESETS[preset], recorded[f"{env_id}-seed0"]["config"]
        assert cfg.env_id == env_id and cfg.seeds == (0, 1, 2)
        assert cfg.demonstrator == old["demonstrator"] and cfg.demo_episodes == old["demo_episodes"]
        assert cfg.bc_train.steps == old["bc_steps"] and cfg.reward_train.steps == old["reward_steps"]
        assert cfg.policy_train.steps == old["policy_steps"] and cfg.policy.kind == old["policy_model"]
        assert cfg.noise_levels == tuple(float(x) for x in old["noise_levels"].split(","))
        assert cfg.reward.ensemble == old["reward_ensemble"] and cfg.reward.use_actions == old["reward_use_actions"]
        for name in ("demos_rank", "episodes_per_noise", "absorbing", "improve_rounds", "ppo_steps", "ppo_pessimism"):
            assert getattr(cfg, name) == old[name], name
        for name in ("heldout_episodes", "eval_episodes", "num_envs"):
            assert getattr(cfg, name) == old[name], name
        assert {cfg.bc_train.threads, cfg.reward_train.threads, cfg.policy_train.threads, cfg.ppo_threads} == {1}


def test_merge_pools_the_seeds_of_each_env(tmp_path):
    from justask.recipes.drex import merge

    def seed_run(offset):
        agents = [
            {"name": "demonstrations (true return)", "action_rule": None, "returns": [10.0, 20.0]},
            {"name": "BC/argmax", "action_rule": "argmax", "returns": [offset, offset + 2.0]},
            {"name": "BC/sample", "action_rule": "sample", "returns": [0.0, 0.0]},
        ]
        diag = {"episodes": 2, "spearman": 0.5, "pearson": 0.4, "episodes_better_than_best_demo": 0}
        held = {"true": [1.0, 2.0], "predicted": [0.1, 0.3], "source": ["expert (never shown)", "random"]}
        control = {
            "outcome": "return",
            "episodes": 2,
            "action_rule": "argmax",
            "asked": {"mean": 1.0, "ci95": [0.0, 2.0]},
            "shuffled": {"mean": 0.0, "ci95": [0.0, 0.0]},
            "gap_shuffled": {"mean": 1.0, "ci95": [0.0, 2.0]},
        }
        return {
            "demonstrations": {"best_return": 20.0, "mean_return": 15.0},
            "reward": {"diagnostics": diag, "heldout": held},
            "env_steps": {"noise_rollouts": 5},
            "agents": agents,
            "steering": control,
        }

    setup = {
        "demonstrator": "trigger-happy",
        "demo_episodes": 2,
        "noise_levels": [0.0, 1.0],
        "episodes_per_noise": 1,
        "demos_rank": "out",
        "model": "MLP",
        "ppo_steps": 0,
        "eval_episodes": 2,
    }
    reports = [
        {"recipe": "drex", "env_id": "LunarLander-v3", "setup": setup, "per_seed": {"0": seed_run(30.0)}, "seconds": 1},
        {"recipe": "drex", "env_id": "LunarLander-v3", "setup": setup, "per_seed": {"1": seed_run(40.0)}, "seconds": 2},
    ]
    merged = merge(reports, tmp_path / "merged")
    bc = next(r for r in merged["envs"]["LunarLander-v3"]["pooled"] if r["name"] == "BC/argmax")
    assert bc["episodes"] == 4 and bc["mean"] == pytest.approx(36.0)
    assert "above the best demonstration" in " ".join(merged["findings"])
    assert (tmp_path / "merged/report.md").is_file() and (tmp_path / "merged/reward_extrapolation.png").is_file()
    with pytest.raises(JustAskError, match="two reports hold seed 0 of LunarLander-v3"):
        merge([reports[0], reports[0]], tmp_path / "again")


def test_ppo_sees_the_learned_reward_of_the_state_it_acted_in():
    from stable_baselines3.common.env_util import make_vec_env

    from justask.peers.sb3_peer import learned_reward_vec_env

    seen = []

    def reward_fn(obs, actions):
        seen.append(obs.copy())
        return obs[:, 0] * 10 + actions

    venv = learned_reward_vec_env(make_vec_env("LunarLander-v3", n_envs=2, seed=0), reward_fn, offset=1.0, scale=2.0)
    first = venv.reset()
    obs, rewards, dones, infos = venv.step(np.array([1, 3]))
    np.testing.assert_allclose(seen[0], first)  # the state each action was taken in
    np.testing.assert_allclose(rewards, (first[:, 0] * 10 + np.array([1, 3]) - 1.0) / 2.0, rtol=1e-5)
    assert all("true_reward" in info for info in infos)
    venv.step(np.array([0, 0]))
    np.testing.assert_allclose(seen[1], obs)


@pytest.mark.parametrize("shorter_is_better", [True, False])
def test_offset_is_fitted_to_whole_episode_preferences(shorter_is_better):
    from justask.rewards import LearnedReward, fit_offset

    ep = hand_made_episodes((10, 20, 30, 40))
    reward = LearnedReward(ep.observation_space, ep.action_space, RewardConfig(hidden_sizes=(4,)))
    reward.step_rewards = lambda episodes: np.ones(episodes.num_steps)  # r̂ = 1 per step, before the offset
    ranks = -ep.lengths if shorter_is_better else ep.lengths
    c, accuracy = fit_offset(reward, ep, preference_pairs(ranks))
    assert accuracy == 1.0
    assert (c > 1.0) if shorter_is_better else (c < 1.0)  # sum(r̂ - c) = (1 - c) * T orders them right


@pytest.mark.parametrize("continuous", [False, True])
def test_built_in_demonstrators_act_in_both_action_spaces(continuous):
    from justask.suites.lunar_lander import DEMONSTRATORS, mediocre_demonstrator

    obs = np.zeros((3, 8), dtype=np.float32)
    slots = np.arange(3)
    for kind in DEMONSTRATORS:
        policy = mediocre_demonstrator(continuous, kind)
        if hasattr(policy, "reset"):
            policy.reset(slots, np.arange(3))
        actions = np.asarray(policy.act(obs, slots))
        assert actions.shape == ((3, 2) if continuous else (3,))
    with pytest.raises(JustAskError, match="unknown demonstrator 'bogus'"):
        mediocre_demonstrator(continuous, "bogus")


def ending_episodes(ends_good: list[bool], lengths: list[int], terminated: bool = True) -> Episodes:
    """1-D episodes flying at 0; each ends in state +1 (good) or -1 (bad) after its steps."""
    eps = []
    for good, length in zip(ends_good, lengths, strict=True):
        obs = np.zeros((length + 1, 1), dtype=np.float32)
        obs[-1, 0] = 1.0 if good else -1.0
        term = np.zeros(length, dtype=bool)
        term[-1] = terminated
        eps.append(
            {
                "observations": obs,
                "actions": np.zeros(length, dtype=np.int64),
                "rewards": np.zeros(length),
                "terminations": term,
                "truncations": ~term if not terminated else np.zeros(length, dtype=bool),
            }
        )
    return Episodes.from_episode_list(eps, gym.spaces.Box(-2, 2, (1,), np.float32), gym.spaces.Discrete(2))


def test_absorbing_state_is_scored_for_the_steps_left_to_the_horizon():
    from justask.rewards import LearnedReward, absorbing_lengths

    ep = ending_episodes([True, False], [3, 5])
    reward = LearnedReward(ep.observation_space, ep.action_space, RewardConfig(hidden_sizes=(4,), absorbing_horizon=10))
    with torch.no_grad():  # r̂(s) = 2 s + 0.5
        net = reward.nets[0].net
        for layer in net:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.zero_()
                layer.bias.zero_()
        net[0].weight[0, 0] = 1.0
        net[0].bias[0] = 5.0  # stays positive for s in [-1, 1]: LeakyReLU is the identity
        net[-1].weight[0, 0] = 2.0
        net[-1].bias[0] = -9.5
    per_step = reward.step_rewards(ep)
    # flying at s = 0: 0.5 per step; the last step adds (10 - T) * r̂(final)
    np.testing.assert_allclose(per_step[:3], [0.5, 0.5, 0.5 + 7 * 2.5], rtol=1e-5)
    np.testing.assert_allclose(per_step[3:], [0.5] * 4 + [0.5 + 5 * -1.5], rtol=1e-5)
    assert list(absorbing_lengths(ep, 10)) == [10, 10]
    # truncated episodes were cut, not ended: nothing is added
    cut = ending_episodes([True, False], [3, 5], terminated=False)
    np.testing.assert_allclose(reward.step_rewards(cut), 0.5, rtol=1e-5)
    assert list(absorbing_lengths(cut, 10)) == [3, 5]


def test_trex_with_absorbing_states_learns_what_an_ending_is_worth():
    """Equal flights that end good or bad, at different times: without absorbing states the
    snippets cannot tell them apart; with them, the ending state carries the ranking."""
    rng = np.random.default_rng(0)
    good = [bool(g) for g in rng.integers(0, 2, 30)]
    lengths = [int(n) for n in rng.integers(10, 40, 30)]
    ep = ending_episodes(good, lengths)
    # an early good ending beats a late one (more steps in the good state), bad the other way
    worth = np.array([(60 - n) * (1 if g else -1) for g, n in zip(good, lengths, strict=True)])
    cfg = RewardConfig(hidden_sizes=(8,), snippet_min=5, snippet_max=20, absorbing_horizon=60)
    reward, _ = train_reward(ep, preference_pairs(worth), "absorbing", cfg, ranker(300))
    values = reward.predict(np.array([[-1.0], [0.0], [1.0]], dtype=np.float32))
    assert values[0] < values[1] < values[2]
    learned = np.add.reduceat(reward.step_rewards(ep), ep.episode_starts)
    assert np.corrcoef(learned, worth)[0, 1] > 0.9
    # the same data without absorbing states: flights are identical, the ending a single step
    plain, _ = train_reward(
        ep, preference_pairs(worth), "plain", dataclasses.replace(cfg, absorbing_horizon=0), ranker(300)
    )
    plain_learned = np.add.reduceat(plain.step_rewards(ep), ep.episode_starts)
    assert np.corrcoef(plain_learned, worth)[0, 1] < np.corrcoef(learned, worth)[0, 1]


def test_ppo_gets_the_absorbing_value_when_an_episode_ends_not_when_it_is_cut():
    from stable_baselines3.common.env_util import make_vec_env

    from justask.peers.sb3_peer import learned_reward_vec_env

    calls = []

    def absorbing_fn(finals, remaining):
        calls.append((finals.copy(), remaining.copy()))
        return 100.0 * remaining

    def wrapped(**env_kwargs):  # r̂ = 0 on every step; only endings score
        env = make_vec_env("LunarLander-v3", n_envs=1, seed=0, env_kwargs=env_kwargs)
        zero = lambda obs, a: np.zeros(len(obs))  # noqa: E731
        return learned_reward_vec_env(env, zero, offset=0.0, scale=1.0, absorbing_fn=absorbing_fn, horizon=1000)

    venv = wrapped()
    venv.reset()
    steps, rewards, done = 0, None, False
    while not done:  # no engines: it falls and the episode terminates
        _, rewards, dones, infos = venv.step(np.array([0]))
        steps, done = steps + 1, bool(dones[0])
    assert len(calls) == 1 and calls[0][1][0] == 1000 - steps
    np.testing.assert_allclose(calls[0][0][0], infos[0]["terminal_observation"])
    assert rewards[0] == pytest.approx(100.0 * (1000 - steps))
    # a time-limit cut gets nothing
    cut = wrapped(max_episode_steps=5)
    cut.reset()
    for _ in range(5):
        _, rewards, dones, infos = cut.step(np.array([2]))
    assert dones[0] and infos[0]["TimeLimit.truncated"] and rewards[0] == 0.0
    assert len(calls) == 1


def test_guarded_reward_trusts_r_hat_only_where_the_ranked_data_went():
    from justask.rewards import GuardedReward, LearnedReward

    ep = ending_episodes([True, False], [3, 5])  # observations span [-1, 1]
    reward = LearnedReward(ep.observation_space, ep.action_space, RewardConfig(hidden_sizes=(4,)))
    reward.predict = lambda obs, actions=None, pessimism=0.0: np.asarray(obs, dtype=np.float64)[:, 0] * 10
    guarded = GuardedReward.fit(reward, ep, pessimism=0.0, margin=0.05)
    assert (guarded.low, guarded.high) == (-10.0, 10.0)
    values = guarded(np.array([[0.5], [1.05], [1.2], [-3.0]], dtype=np.float32))
    # inside: r̂ itself (clipped to its range on the data); outside the box (1.1 with the margin): the lowest
    np.testing.assert_allclose(values, [5.0, 10.0, -10.0, -10.0])
    np.testing.assert_allclose(guarded.absorbing(np.array([[0.5]], dtype=np.float32), np.array([4])), [20.0])
