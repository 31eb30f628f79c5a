"""In-context improvement: task families, learning histories, the context sampler, the task
posterior and the frozen in-context agent."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from justask.configs import TrainConfig
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.incontext import (
    ContextSampler,
    PosteriorSampling,
    fit_posterior,
    history_spans,
    history_tokens,
    load_posterior,
    run_in_context,
)
from justask.models.task_posterior import PosteriorConfig, TaskPosterior
from justask.recipes import improve
from justask.recipes.improve import Config
from justask.suites import bandits, darkroom


def test_dark_room_pays_each_step_on_the_goal_and_ends_after_the_horizon():
    env = gym.make(darkroom.ENV_ID)
    goal = int(darkroom.xy_cell([5, 4]))  # one step right of the centre
    obs, _ = env.reset(seed=0, options={"goal": goal})
    assert obs.tolist() == [4.0, 4.0]
    rewards, truncated = [], False
    for action in [4] + [0] * 19:  # right, then stay
        obs, reward, terminated, truncated, _ = env.step(action)
        assert not terminated
        rewards.append(reward)
    assert truncated and sum(rewards) == 20 == darkroom.optimal_return(goal)
    with pytest.raises(JustAskError, match="goal must be a cell id"):
        env.reset(options={"goal": 81})


def test_optimal_return_is_what_the_expert_gets_on_every_goal():
    env = darkroom.DarkRoomEnv()
    for goal in range(darkroom.N_GOALS):
        obs, _ = env.reset(options={"goal": goal})
        total, done = 0.0, False
        while not done:
            obs, reward, term, trunc, _ = env.step(int(darkroom.expert_actions(obs[None], goal)[0]))
            total, done = total + reward, term or trunc
        assert total == darkroom.optimal_return(goal), goal


def test_histories_keep_episode_order_and_task_and_never_use_held_out_goals():
    cfg = improve.resolved(Config(histories=70, history_episodes=5))
    data = improve.training_histories(cfg, seed=0)
    spans = history_spans(data)
    assert len(spans) == 70 and all(len(s) == 5 for s in spans)
    for h, span in enumerate(spans):
        metas = [data.metadata[i] for i in span]
        assert [m["position"] for m in metas] == list(range(5))
        assert {m["history"] for m in metas} == {h} and len({m["task"] for m in metas}) == 1
        noise = [m["noise"] for m in metas]
        assert noise == sorted(noise, reverse=True) and noise[0] == 1.0 and noise[-1] == 0.0
    tasks = {m["task"] for m in data.metadata}
    assert not tasks & set(darkroom.HELD_OUT_GOALS) and len(tasks) == len(darkroom.TRAIN_GOALS)
    held = improve.evaluation_tasks(cfg)["held-out goals"]
    assert set(held) == set(darkroom.HELD_OUT_GOALS)


def _hand_made_histories() -> Episodes:
    """History 0: task 3, two episodes of 2 steps; history 1: task 1, one episode of 3 steps.
    The bandit: subject = the arm pulled, outcome = paid."""

    def episode(arms, paid, task, history, position):
        n = len(arms)
        return {
            "observations": np.zeros((n + 1, 1), np.float32),
            "actions": np.array(arms),
            "rewards": np.array(paid, np.float32),
            "terminations": np.arange(1, n + 1) == n,
            "truncations": np.zeros(n, bool),
            "metadata": {"task": task, "history": history, "position": position},
        }

    episodes = [
        episode([0, 3], [0, 1], 3, 0, 0),
        episode([3, 2], [1, 0], 3, 0, 1),
        episode([1, 1, 4], [1, 0, 0], 1, 1, 0),
    ]
    return Episodes.from_episode_list(episodes, gym.spaces.Box(0, 1, (1,)), gym.spaces.Discrete(5))


def test_context_runs_across_episode_boundaries_and_stops_at_the_history():
    data = _hand_made_histories()
    tokens = history_tokens(data, bandits.family())
    assert tokens.starts.tolist() == [0, 4] and tokens.lengths.tolist() == [4, 3] and tokens.labels.tolist() == [3, 1]
    steps = {0: [(0, 0), (3, 1), (3, 1), (2, 0)], 1: [(1, 1), (1, 0), (4, 0)]}
    sampler = ContextSampler(tokens, 5, 2, torch.device("cpu"))
    seen = set()
    for _ in range(30):
        batch = sampler.sample(16, torch.Generator().manual_seed(len(seen)))
        for counts, label in zip(batch["counts"], batch["labels"], strict=True):
            h = 0 if int(label) == 3 else 1
            cut = int(counts.sum())
            expected = torch.zeros(5, 2)
            for subject, outcome in steps[h][:cut]:
                expected[subject, outcome] += 1
            assert torch.equal(counts, expected)  # exactly the history's first `cut` steps
            seen.add((h, cut))
    assert seen == {(0, c) for c in range(5)} | {(1, c) for c in range(4)}  # every cut, 0..length


def test_histories_without_task_ids_or_out_of_order_are_refused():
    data = _hand_made_histories()
    del data.metadata[1]["task"]
    with pytest.raises(JustAskError, match="episode 1 has no 'task'"):
        history_tokens(data, bandits.family())
    data = _hand_made_histories()
    data.metadata[1]["position"] = 0
    with pytest.raises(JustAskError, match="breaks its history's order"):
        history_spans(data)


def test_bad_settings_and_missing_optimum_give_one_line_errors():
    from justask.models.config import ModelConfig

    with pytest.raises(JustAskError, match="unknown task family"):
        Config(family="chess")
    with pytest.raises(JustAskError, match="source 'ucb' is not one of darkroom"):
        Config(source="ucb")
    with pytest.raises(JustAskError, match="noise_floor"):
        Config(noise_floor=1.0)
    with pytest.raises(JustAskError, match=r"ad.context_len 20 is too short for one darkroom episode"):
        Config(plain_ad=True, ad=ModelConfig(kind="dt", context_len=20))
    with pytest.raises(JustAskError, match="eval_tasks must be a whole number >= 1"):
        Config(eval_tasks=0)
    with pytest.raises(JustAskError, match="sources_only runs Q-learning"):
        Config(family="bandit", sources_only=10)
    family = dataclasses.replace(bandits.family(), optimal_return=None)
    with pytest.raises(JustAskError, match="no known optimum"):
        run_in_context(family, [[0.1, 0.9, 0.2, 0.3, 0.4]], bandits.BanditLearner(), 3)
    assert "returns" in run_in_context(family, [[0.1, 0.9, 0.2, 0.3, 0.4]], bandits.BanditLearner(), 3, normalise=False)


def test_posterior_learns_that_a_paid_cell_is_the_goal_and_unpaid_cells_are_not(tmp_path):
    cfg = improve.resolved(Config(histories=61, history_episodes=10))
    tokens = history_tokens(improve.training_histories(cfg, seed=0), darkroom.family())
    train_cfg = dataclasses.replace(TrainConfig.quiet(300, 64, 0, 1, "cpu"), progress=False)
    fit_posterior(tokens, PosteriorConfig(n_tasks=81), train_cfg, tmp_path / "post")
    posterior = load_posterior(tmp_path / "post")
    held_out = darkroom.HELD_OUT_GOALS[3]
    counts = torch.zeros(2, 81, 2)
    counts[0, 40, 0] = 3
    counts[0, held_out, 1] = 2  # paid on a goal never seen in training
    counts[1, :40, 0] = 1  # the top half ruled out
    with torch.no_grad():
        probs = torch.softmax(posterior(counts), -1)
    assert probs[0, held_out] > 0.9
    assert probs[1, :40].sum() < 0.05 and probs[1, 41:].sum() > 0.9


def test_posterior_has_no_prior_over_task_identities():
    model = TaskPosterior(PosteriorConfig(n_tasks=81))
    with torch.no_grad():
        logits = model(torch.zeros(1, 81, 2))
    assert torch.allclose(logits, logits[0, :1].expand_as(logits))  # nothing seen: every task alike


def test_in_context_evaluation_keeps_the_weights_frozen_and_finds_the_goal():
    posterior = TaskPosterior(PosteriorConfig(n_tasks=81))
    before = {k: v.clone() for k, v in posterior.state_dict().items()}
    family = darkroom.family()

    def act_for(observations, guesses):  # the expert for the guessed goal
        return darkroom.expert_actions(observations, guesses)

    # Untrained, the model knows nothing: it guesses uniformly; the actor still records returns.
    actor = PosteriorSampling(posterior, family, act_for, seed=0)
    result = run_in_context(family, [darkroom.HELD_OUT_GOALS[0]] * 3, actor, 4)
    assert result["returns"].shape == (3, 4) and (actor.draws >= 4).all()
    for key, value in posterior.state_dict().items():
        assert torch.equal(value, before[key]), key
    # Each step's evidence is counted once, under the cell it ended on.
    assert actor.counts.sum() == 3 * 4 * darkroom.HORIZON


def test_bandit_regret_and_learners():
    means = np.array([[0.1, 0.5, 0.9]])
    assert np.allclose(bandits.regret(means, np.array([[0, 1, 2]])), [[0.8, 0.4, 0.0]])
    for rule in ("thompson", "ucb"):
        learner = bandits.BanditLearner(rule, arms=3, seed=0)
        result = run_in_context(bandits.family(3), [[0.05, 0.1, 0.95]] * 20, learner, 60)
        last = np.array([[ep[0] for ep in row[-10:]] for row in result["actions"]])
        assert (last == 2).mean() > 0.8, rule


def test_q_learning_improves_on_its_own_goal():
    result = run_in_context(darkroom.family(), list(darkroom.TRAIN_GOALS[:10]), darkroom.QLearner(seed=0), 60)
    curve = result["normalised"].mean(0)
    assert curve[:5].mean() < 0.2 and curve[-5:].mean() > 0.5
    history = darkroom.q_learning_history(darkroom.TRAIN_GOALS[0], 5, seed=0)
    assert [e["metadata"]["position"] for e in history] == list(range(5))
    with pytest.raises(JustAskError, match="unknown Q-learning setting"):
        darkroom.QLearner(alpha=0.1)


def test_demo_improve_writes_its_report_and_pictures(tmp_path, capsys):
    import json

    from justask.cli import main

    out = tmp_path / "improve"
    args = ["demo", "improve", "--out", str(out), "--histories", "61", "--history-episodes", "6"]
    args += ["--posterior-train.steps", "30", "--goal-policy-train.steps", "30", "--dt-train.steps", "20"]
    args += ["--eval-tasks", "4", "--eval-episodes", "3", "--steering-episodes", "20", "--threads", "1"]
    assert main(args) == 0, capsys.readouterr().err
    for name in ("report.md", "report.json", "curves.png", "rollout.gif", "seed0/per_task.npz"):
        assert (out / name).is_file(), name
    for model in ("posterior", "goal_policy", "memoryless_dt"):
        assert (out / "seed0" / model / "model.safetensors").is_file(), model
    text = (out / "report.md").read_text()
    assert "posterior-sampling" in text and "q-learning" in text and "memoryless DT" in text
    assert "Does the request steer?" in text and "## Provenance" in text
    report = json.loads((out / "report.json").read_text())
    assert report["provenance"]["config"]["histories"] == 61 and report["seeds"] == [0]
    control = report["steering"]["0"]["memoryless DT"]
    assert control["episodes"] == 20 and "gap_shuffled" in control
    assert report["findings"] and any(f.startswith("steering of the goal policy") for f in report["findings"])
    capsys.readouterr()
    assert main(["demo", "improve", "--out", str(tmp_path / "x"), "--family", "chess"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("justask: error:") and "unknown task family 'chess'" in err[0]
    assert not (tmp_path / "x").exists()


def test_trials_for_plain_ad_carry_the_previous_reward_and_episode_starts():
    from justask.incontext import as_trials

    trials = as_trials(_hand_made_histories())
    assert trials.lengths.tolist() == [4, 3]
    first = trials.episode(0)
    # previous reward: 0 at the history's start, then the last step's (across the episode boundary)
    assert first["observations"][:, 1].tolist() == [0, 0, 1, 1, 0]
    assert first["observations"][:, 2].tolist() == [1, 0, 1, 0, 0]  # episode starts
    assert first["actions"].tolist() == [0, 3, 3, 2] and first["rewards"].tolist() == [0, 1, 1, 0]
    assert trials.metadata[1]["task"] == 1


def test_goal_policy_from_hindsight_labels_needs_no_expert(tmp_path):
    fitting = TrainConfig.quiet(300, 256, 0, 1, "cpu")
    cfg = improve.resolved(
        Config(histories=61, history_episodes=4, goal_policy_train=fitting, policy_labels="hindsight")
    )
    data = improve.training_histories(cfg, seed=0)
    act_for = improve.goal_actor(improve.train_goal_policy(data, cfg, 0, tmp_path / "gp"), "darkroom")
    positions = np.array([[4, 4], [4, 4], [0, 0], [8, 8]], np.float32)
    guesses = darkroom.xy_cell([[8, 4], [4, 0], [0, 0], [8, 8]])
    actions = act_for(positions, guesses)
    assert actions.shape == (4,) and set(actions.tolist()) <= set(range(5))
    assert actions[0] == 4 and actions[1] == 1  # right toward (8, 4), up toward (4, 0)


def test_key_to_door_pays_for_the_key_then_the_door_and_its_tokens_say_so():
    from justask.suites import keydoor

    key, door = int(darkroom.xy_cell([5, 4])), int(darkroom.xy_cell([5, 6]))
    env = keydoor.KeyToDoorEnv()
    obs, _ = env.reset(options={"task": [key, door]})
    steps = []
    for action in [2, 1, 4, 2, 2]:  # down (nothing), up, right (key), down, down (door)
        nxt, reward, terminated, truncated, _ = env.step(action)
        steps.append((action, reward, nxt))
    assert [s[1] for s in steps] == [0, 0, 1, 0, 1] and terminated and steps[-1][2][2] == 2
    actions = np.array([s[0] for s in steps])
    rewards = np.array([s[1] for s in steps])
    next_obs = np.stack([s[2] for s in steps])
    key_family, door_family = keydoor.families()
    cells, key_out = key_family.step_tokens(actions, rewards, next_obs)
    _, door_out = door_family.step_tokens(actions, rewards, next_obs)
    assert cells.tolist() == darkroom.xy_cell([[4, 5], [4, 4], [5, 4], [5, 5], [5, 6]]).tolist()
    assert key_out.tolist() == [0, 0, 1, 2, 2]  # not the key, not the key, the key, then no news
    assert door_out.tolist() == [0, 0, 0, 1, 2]  # no news without the key, not the door, the door
    assert not set(keydoor.TRAIN_PAIRS) & set(keydoor.HELD_OUT_PAIRS)
    assert {c for p in keydoor.HELD_OUT_PAIRS for c in p} == set(darkroom.HELD_OUT_GOALS)
    with pytest.raises(JustAskError, match="must be different cells"):
        env.reset(options={"task": [3, 3]})
    for task in keydoor.HELD_OUT_PAIRS[::37]:  # the expert solves held-out pairs with the optimum
        obs, _ = env.reset(options={"task": list(task)})
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(int(keydoor.expert_actions(obs[None], task)[0]))
            total, done = total + r, term or trunc
        assert total == keydoor.OPTIMAL_RETURN


def test_a_killed_posterior_resumes_to_the_same_weights(tmp_path):
    cfg = improve.resolved(Config(histories=61, history_episodes=3))
    tokens = history_tokens(improve.training_histories(cfg, seed=0), darkroom.family())
    train_cfg = TrainConfig(
        steps=30, batch_size=16, warmup_steps=5, checkpoint_every=10, threads=1, device="cpu", progress=False
    )
    straight = fit_posterior(tokens, PosteriorConfig(n_tasks=81), train_cfg, tmp_path / "straight")
    # "killed" after step 17: the last checkpoint is step 10, steps 11-17 are lost
    fit_posterior(tokens, PosteriorConfig(n_tasks=81), train_cfg, tmp_path / "killed", stop_at=17)
    assert {"config.json", "model.safetensors", "train_state.safetensors"} <= {
        p.name for p in (tmp_path / "killed").iterdir()
    }
    resumed = fit_posterior(tokens, PosteriorConfig(n_tasks=81), train_cfg, tmp_path / "killed", resume=True)
    loaded = load_posterior(tmp_path / "killed")
    for name, value in straight.state_dict().items():
        torch.testing.assert_close(
            resumed.state_dict()[name], value, rtol=0, atol=0, msg=f"{name} differs after resume"
        )
        torch.testing.assert_close(loaded.state_dict()[name], value, rtol=0, atol=0, msg=f"{name} differs when loaded")
    with pytest.raises(JustAskError, match="already holds a run"):
        fit_posterior(tokens, PosteriorConfig(n_tasks=81), train_cfg, tmp_path / "killed")


def test_merging_two_single_seed_runs_pools_them_like_one_two_seed_run(tmp_path):
    """The per-task arrays of every seed are stacked; merged runs give the two-seed run's table."""
    fitting = TrainConfig.quiet(20, 16, 0, 1, "cpu")
    tiny = dict(
        family="bandit",
        histories=20,
        history_episodes=8,
        eval_episodes=6,
        eval_tasks=3,
        steering_episodes=10,
        posterior_train=fitting,
        dt_train=fitting,
        threads=1,
        gif=False,
    )
    both = improve.run(Config(**tiny, seeds=(0, 1)), _folder(tmp_path / "both"))
    one = [improve.run(Config(**tiny, seeds=(s,)), _folder(tmp_path / f"s{s}")) for s in (0, 1)]
    merged = improve.merge(one, _folder(tmp_path / "merged"))
    assert merged["seeds"] == [0, 1] and (tmp_path / "merged" / "curves.png").is_file()
    assert merged["results"] == both["results"]
    regret = merged["results"]["train means"]["posterior-sampling"]["per_seed_regret"]
    assert len(regret) == 2
    with pytest.raises(JustAskError, match="share seeds"):
        improve.merge([one[0], one[0]], _folder(tmp_path / "again"))


def _folder(path):
    path.mkdir(parents=True)
    return path


def test_sources_only_runs_q_learning_alone_over_the_seeds(tmp_path):
    from justask.recipes import recipe, run_recipe

    cfg = Config(out=str(tmp_path / "sources"), family="darkroom", seeds=(0, 1), sources_only=5, eval_tasks=4)
    report = run_recipe(recipe("improve"), cfg)
    rows = report["results"]
    assert set(rows) == {"held-out goals | q-learning", "held-out goals | q-learning (ε-greedy)"}
    assert all(s["tasks"] == 8 and len(s["per_seed_episodes_to_0.9"]) == 2 for s in rows.values())
    assert report["findings"] and (tmp_path / "sources" / "report.md").is_file()
    with pytest.raises(JustAskError, match="not sources_only runs"):
        improve.merge([report], tmp_path)
