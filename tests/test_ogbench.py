"""OGBench's point mazes: the generator follows the published recipe, the evaluator poses
OGBench's own tasks, and nothing reaches the network."""

import socket

import gymnasium as gym
import numpy as np
import pytest

from justask.errors import JustAskError
from justask.recipes import ogbench as og_recipe
from justask.suites import ogbench as og


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("OGBench code tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_navigate_data_follows_the_recipe(no_network):
    data = og.generate("pointmaze-medium-navigate", episodes=3, steps=400, seed=0)
    assert data.num_episodes == 3 and (data.lengths == 400).all()
    assert data.env_id == og.env_id("Medium")
    assert not data.terminations.any() and data.truncations.sum() == 3  # each runs to its length
    goals = data.conditions[og.COLLECTOR_GOAL]
    positions = data.observations[np.arange(data.num_steps) + data.episode_of_step() + 1]
    reached = np.linalg.norm(positions - goals, axis=1) <= og.GOAL_TOLERANCE
    changed = np.flatnonzero((goals[1:] != goals[:-1]).any(axis=1)) + 1
    changed = changed[data.episode_of_step()[changed] == data.episode_of_step()[changed - 1]]
    assert len(changed) >= 2  # new goals during the episodes
    assert reached[changed - 1].all()  # a new goal exactly after each goal was reached
    assert sum(m["goals_reached"] for m in data.metadata) == len(changed)
    # the actions: the oracle's unit direction plus N(0, 0.5), clipped to [-1, 1]
    actions = data.actions
    assert np.abs(actions).max() <= 1.0 and (np.abs(actions) == 1.0).mean() > 0.05
    again = og.generate("pointmaze-medium-navigate", episodes=3, steps=400, seed=0)
    np.testing.assert_array_equal(again.observations, data.observations)  # the seed decides everything
    other = og.generate("pointmaze-medium-navigate", episodes=3, steps=400, seed=1)
    assert not np.array_equal(other.observations, data.observations)


def test_the_noise_is_the_recipes_around_the_oracle(no_network):
    clean = og.generate("pointmaze-medium-navigate", episodes=1, steps=300, noise=0.0, seed=2)
    assert np.allclose(np.linalg.norm(clean.actions, axis=1), 1.0, atol=1e-3)  # the oracle: a unit vector
    noisy = og.generate("pointmaze-medium-navigate", episodes=1, steps=300, noise=0.5, seed=2)
    first = noisy.actions[0] - clean.actions[0]  # the same start and goal: only the noise differs at step 0
    assert 0 < np.abs(first).max() <= 2.0
    assert og.RECIPES["navigate"] == og.Recipe(1000, 1001, 0.5) and og.RECIPES["stitch"] == og.Recipe(5000, 201, 0.5)


def test_stitch_episodes_aim_four_cells_away_and_stay(no_network):
    data = og.generate("pointmaze-large-stitch", episodes=4, steps=201, seed=3)
    env = og.OGBenchPointMazeEnv("Large", task="collect")
    maze_map = np.asarray(env.inner.maze_map)
    for i in range(data.num_episodes):
        ep = data.episode(i)
        goals = data.conditions[og.COLLECTOR_GOAL][data.episode_starts[i] : data.episode_starts[i] + data.lengths[i]]
        assert (goals == goals[0]).all()  # one goal, kept after it is reached
        goal_cell = env.inner.xy_to_ij(goals[0])
        assert goal_cell in og.cells_at(maze_map, tuple(ep["metadata"]["init_ij"]), og.STITCH_CELLS)
        assert ep["metadata"]["goals_reached"] == 0
    env.close()


def test_evaluation_tasks_are_ogbenchs_and_follow_the_seed(no_network):
    env = gym.make(og.env_id("Medium"))
    inner = env.unwrapped.inner
    for seed in range(og.EVAL_SEED, og.EVAL_SEED + og.EVAL_TASKS):
        obs, info = env.reset(seed=seed)
        task = inner.task_infos[info["task_id"] - 1]
        assert info["task_id"] == 1 + seed % 5
        # OGBench's start and goal cells, each with its uniform noise of at most a quarter cell unit
        assert np.abs(obs - np.array(task["init_xy"])).max() <= 1.0 + 0.2
        assert np.abs(info["goal"] - np.array(task["goal_xy"])).max() <= 1.0
        again, info2 = env.reset(seed=seed)
        np.testing.assert_array_equal(again, obs)
        np.testing.assert_array_equal(info2["goal"], info["goal"])
    goals = og.episode_goals("Medium", np.arange(og.EVAL_SEED, og.EVAL_SEED + 5))
    np.testing.assert_allclose(goals[2], env.reset(seed=og.EVAL_SEED + 2)[1]["goal"], rtol=1e-6)
    assert env.spec.max_episode_steps == og.EVAL_STEPS
    # reaching the goal ends the episode with reward 1 (OGBench's success radius)
    env.reset(seed=og.EVAL_SEED)
    inner.set_xy(np.asarray(env.unwrapped.goal) + 0.5)
    _, reward, terminated, _, info = env.step(np.zeros(2))
    assert reward == 1.0 and terminated and info["success"]
    state = np.random.get_state()[1].copy()
    env.reset(seed=123)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # NumPy's global state left as it was
    env.close()


def test_task_success_averages_the_tasks_with_wilson_intervals():
    from justask.episodes import Episodes

    pieces = []
    for k in range(10):  # seeds EVAL_SEED .. +9: tasks 1..5 twice; task 1 succeeds twice, task 2 once
        win = k in (0, 5, 1)
        pieces.append(
            {
                "observations": np.zeros((3, 2)),
                "actions": np.zeros((2, 2), np.float32),
                "rewards": np.array([0.0, 1.0 if win else 0.0], np.float32),
                "terminations": np.array([False, win]),
                "truncations": np.array([False, not win]),
                "metadata": {"seed": og.EVAL_SEED + k},
            }
        )
    space = gym.spaces.Box(-1, 1, (2,), np.float32)
    result = og.task_success(Episodes.from_episode_list(pieces, gym.spaces.Box(-np.inf, np.inf, (2,)), space))
    assert result["per_task"]["task1"]["success"] == 1.0 and result["per_task"]["task2"]["success"] == 0.5
    assert result["success"] == pytest.approx((1.0 + 0.5) / 5)
    lo, hi = result["ci95"]
    assert lo < 0.3 < hi and result["episodes"] == 10


def test_bad_settings_name_the_problem():
    with pytest.raises(JustAskError, match="unknown OGBench dataset 'pointmaze-giant-navigate'.*known"):
        og_recipe.Config(dataset="pointmaze-giant-navigate")
    with pytest.raises(JustAskError, match="noise"):
        og_recipe.Config(noise=-1)
    with pytest.raises(JustAskError, match="unknown model 'hiql'"):
        og_recipe.Config(models=("hiql",))
    with pytest.raises(JustAskError, match="goal is \\(x, y\\)"):
        og.OGBenchPointMazeEnv("Medium").reset(seed=0, options={"goal": [1.0]})


def test_quick_run_trains_asks_and_reports(tmp_path, no_network):
    from justask.configs import TrainConfig
    from justask.minari_io import load_minari

    cfg = og_recipe.Config(
        out=str(tmp_path / "run"),
        episodes=4,
        steps=300,
        models=("mlp", "bc", "collector"),
        mlp=og_recipe.ModelConfig(kind="mlp", hidden_sizes=(32,)),
        mlp_train=TrainConfig(steps=30, batch_size=64, threads=1, device="cpu", progress=False),
        episodes_per_task=2,
        num_envs=10,
    )
    report = og_recipe.run(cfg, tmp_path / "run")
    assert [r["model"] for r in report["pooled"]] == [og_recipe.MODEL_NAMES[k] for k in ("mlp", "bc", "collector")]
    for row in report["rows"]:
        assert row["episodes"] == 10 and set(row["per_task"]) == {f"task{t}" for t in range(1, 6)}
    assert report["published"]["HIQL"] == 79
    assert (tmp_path / "run" / "success.png").stat().st_size > 0 and (tmp_path / "run" / "paths.png").stat().st_size > 0
    assert len(report["data"][0]["paths"]["episodes"]) == 5
    text = (tmp_path / "run" / "report.md").read_text()
    assert "Published (OGBench paper" in text and "smaller dataset" in text and "privileged reference" in text
    data = load_minari(tmp_path / "run" / "seed0" / "data")
    assert data.num_steps == 4 * 300


def test_the_env_draws_itself_and_poses_its_goals_to_the_cli():
    from justask.suites import env_requests, reset_options_for

    env = og.OGBenchPointMazeEnv("Medium", render_mode="rgb_array")
    _, info = env.reset(seed=og.EVAL_SEED, options={"goal": [20.0, 20.0]})
    np.testing.assert_array_equal(info["goal"], [20.0, 20.0])
    picture = env.render()
    assert picture.ndim == 3 and picture.shape[2] == 3
    goal_pink = (np.abs(picture.astype(int) - [240, 150, 150]).sum(axis=2) < 10).sum()
    walls = (np.abs(picture.astype(int) - [90, 90, 90]).sum(axis=2) < 10).mean()
    assert goal_pink > 50 and 0.3 < walls < 0.8  # the goal disc drawn; walls about half the medium maze
    left, right, top, bottom = env.map_extent()
    assert left < 0 < 20 < right and bottom < 0 < 20 < top
    env.close()
    goals = env_requests(og.env_id("Large"), "goal")(np.array([og.EVAL_SEED + 1]))
    np.testing.assert_allclose(goals, og.episode_goals("Large", np.array([og.EVAL_SEED + 1])))
    assert reset_options_for(og.env_id("Medium"), "goal", [1.0, 2.0]) == {"goal": [1.0, 2.0]}
