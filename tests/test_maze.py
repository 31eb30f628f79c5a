"""PointMaze goals: hindsight goal relabeling, the maze geometry and planner, the goal Agent."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from justask.collection import collect
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.methods.maze import goal_agent
from justask.relabel import GOAL, achieved_goals, goal_rewards, hindsight_goals
from justask.suites import maze as mz
from justask.training import model_config_for


def _walk(lengths: list[int]) -> Episodes:
    """Episodes whose observation k of episode e is (100 e + k, -k, 0, 0): achieved goals are
    recognisable by value."""
    episodes = []
    for e, n in enumerate(lengths):
        k = np.arange(n + 1, dtype=np.float64)
        obs = np.stack([100 * e + k, -k, 0 * k, 0 * k], axis=1)
        episodes.append(
            {
                "observations": obs,
                "actions": np.zeros((n, 2), dtype=np.float32),
                "rewards": np.zeros(n, dtype=np.float32),
                "terminations": np.zeros(n, dtype=bool),
                "truncations": np.eye(1, n, n - 1, dtype=bool)[0],
            }
        )
    return Episodes.from_episode_list(
        episodes,
        observation_space=gym.spaces.Box(-np.inf, np.inf, (4,)),
        action_space=gym.spaces.Box(-1.0, 1.0, (2,)),
    )


def test_final_goals_are_each_episodes_last_position():
    ep = hindsight_goals(_walk([3, 5]), "final")
    goals = ep.conditions[GOAL]
    assert ep.condition_info[GOAL]["kind"] == "vector"
    np.testing.assert_array_equal(goals[:3], [[3, -3]] * 3)
    np.testing.assert_array_equal(goals[3:], [[105, -5]] * 5)


def test_future_goals_are_reached_within_the_horizon_and_constant_between_cuts():
    data = _walk([40, 7, 1, 25])
    achieved = achieved_goals(data)
    for horizon in (1, 3, 10):
        ep = hindsight_goals(data, "future", horizon=horizon, seed=horizon)
        goals = ep.conditions[GOAL]
        for e, (start, n) in enumerate(zip(data.episode_starts, data.lengths, strict=True)):
            for t in range(n):
                g = goals[start + t]
                # the goal is a position this episode reached after step t, within the horizon
                ahead = int(g[0]) - 100 * e
                assert g[1] == -ahead and t + 1 <= ahead <= min(t + horizon, n)
                if t + 1 < ahead:
                    np.testing.assert_array_equal(goals[start + t + 1], g)  # constant until its cut
        if horizon == 1:
            np.testing.assert_array_equal(goals, achieved)  # every step asks for where it got to
    np.testing.assert_array_equal(
        hindsight_goals(data, "future", horizon=5, seed=3).conditions[GOAL],
        hindsight_goals(data, "future", horizon=5, seed=3).conditions[GOAL],
    )


def test_random_goals_come_from_the_data_and_rewards_are_recomputed():
    data = _walk([6, 6])
    ep = hindsight_goals(data, "random", seed=1)
    achieved = {tuple(g) for g in achieved_goals(data)}
    assert all(tuple(g) in achieved for g in ep.conditions[GOAL])
    # the reward is 1 exactly where the step's next position is within the radius of its goal
    rewards, reached = goal_rewards(ep, radius=0.5)
    expected = np.linalg.norm(achieved_goals(data) - ep.conditions[GOAL], axis=1) <= 0.5
    np.testing.assert_array_equal(reached, expected)
    np.testing.assert_array_equal(rewards, expected.astype(np.float32))
    future_rewards, _ = goal_rewards(hindsight_goals(data, "future", horizon=1))
    assert future_rewards.all()  # each step reached the goal it was relabeled with


def test_goal_relabeling_rejects_bad_arguments():
    with pytest.raises(JustAskError, match="strategy 'nearest'"):
        hindsight_goals(_walk([3]), "nearest")
    with pytest.raises(JustAskError, match="horizon"):
        hindsight_goals(_walk([3]), "future", horizon=0)
    with pytest.raises(JustAskError, match="no goal column"):
        goal_rewards(_walk([3]))


@pytest.mark.parametrize("maze", mz.MAZES)
def test_geometry_matches_the_env_and_paths_connect_every_cell(maze):
    import gymnasium_robotics  # noqa: F401  (registers PointMaze)

    env = gym.make(f"PointMaze_{maze}-v3").unwrapped
    geo = mz.geometry(maze)
    for i, cell in enumerate(geo.cells):
        np.testing.assert_allclose(geo.centre(i), env.maze.cell_rowcol_to_xy(cell))
        assert geo.cell_of(geo.centre(i) + 0.3) == i
    env.close()
    assert (geo.distance >= 0).all()  # every free cell reaches every other
    n = len(geo.cells)
    # one step along the plan brings you one cell closer
    for g in range(n):
        for c in range(n):
            if c != g:
                assert geo.distance[g, geo.next_cell[g, c]] == geo.distance[g, c] - 1


@pytest.mark.parametrize("maze", mz.MAZES)
def test_planner_reaches_goals_in_every_cell(maze):
    geo = mz.geometry(maze)
    seeds, covered = [], set()
    for seed in range(10_000):
        cell = mz.episode_goal(maze, seed)[1]
        if cell not in covered:
            covered.add(cell)
            seeds.append(seed)
        if len(covered) == len(geo.cells):
            break
    assert len(covered) == len(geo.cells)
    # one episode per goal cell: collect runs seeds first, first + 1, ...; reset each explicitly
    env = gym.make(mz.env_id(maze))
    planner = mz.MazePlanner(maze)
    for seed in seeds:
        obs, info = env.reset(seed=seed)
        np.testing.assert_allclose(info["desired_goal"], mz.episode_goal(maze, seed)[0])
        planner.reset(np.array([0]), np.array([seed]))
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(planner.act(obs[None], np.array([0]))[0])
            done = terminated or truncated
        assert terminated and reward == 1.0 and info["success"], (
            f"goal cell {geo.cells[mz.episode_goal(maze, seed)[1]]}"
        )
    env.close()


def test_explore_task_runs_to_the_limit_without_goal_reward():
    eps = collect(
        mz.env_id("Medium"),
        [(mz.WaypointExplorer("Medium", 0.2), 2)],
        num_envs=2,
        seed=0,
        progress=False,
        env_kwargs={"task": "explore"},
    )
    assert (eps.lengths == 600).all() and eps.rewards.sum() == 0
    cells = {int(c) for c in mz.geometry("Medium").cell_of(eps.observations[:, :2])}
    assert len(cells) > 10  # it travels through the maze


def test_goal_agent_batched_matches_single_envs():
    data = hindsight_goals(
        collect(mz.env_id("Medium"), [(mz.MazePlanner("Medium", 0.3), 4)], num_envs=4, seed=0, progress=False),
        "final",
    )
    torch.manual_seed(0)
    from justask.models.policy import PolicyModel

    model = PolicyModel(model_config_for(data, "dt", GOAL, context_len=4, d_model=16, n_layer=1, n_head=1))
    batched = collect(mz.env_id("Medium"), [(goal_agent(model, "Medium"), 4)], num_envs=4, seed=5, progress=False)
    single = collect(mz.env_id("Medium"), [(goal_agent(model, "Medium"), 4)], num_envs=1, seed=5, progress=False)
    np.testing.assert_allclose(batched.actions, single.actions, atol=1e-5)
    np.testing.assert_array_equal(batched.lengths, single.lengths)


def test_bad_goals_get_one_line_errors():
    env = gym.make(mz.env_id("Medium"))
    with pytest.raises(JustAskError, match="two finite numbers"):
        env.reset(seed=0, options={"goal": [1.0, 2.0, 3.0]})
    with pytest.raises(JustAskError, match="not in a free cell"):
        env.reset(seed=0, options={"goal": [50.0, 0.0]})
    with pytest.raises(JustAskError, match="not in a free cell"):
        env.reset(seed=0, options={"goal": mz.geometry("Medium").centre(0) * 0 + [-3.5, 3.5]})  # a wall corner
    obs, info = env.reset(seed=0, options={"goal": [1.5, 1.5]})
    np.testing.assert_allclose(info["desired_goal"], [1.5, 1.5])
    env.close()
    with pytest.raises(JustAskError, match="unknown maze"):
        mz.env_id("Tiny")


def test_demo_maze_and_ask_for_a_goal(tmp_path):
    """The quick demo end to end at toy size, then asking its model for a goal from the CLI."""
    from typer.testing import CliRunner

    from justask.cli import app

    runner = CliRunner()
    out = tmp_path / "demo-maze"
    args = ["demo", "maze", "--out", out, "--episodes", 4, "--models", "mlp", "--mlp-steps", 30, "--eval-episodes", 6]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "| RvS-G |" in report and "| planner (told the goal) | 1.000" in report
    for picture in ("success.png", "paths.png", "rollout.gif"):
        assert (out / picture).stat().st_size > 1000
    model = out / "seed0" / "mlp"
    result = runner.invoke(app, ["ask", str(model), "--goal", "1.5,1.5", "--gif", str(tmp_path / "ask.gif")])
    assert result.exit_code == 0 and "asked [1.5, 1.5]" in result.output, result.output
    assert (tmp_path / "ask.gif").stat().st_size > 1000
    for goal, message in (
        ("50,1", "not in a free cell"),
        ("1,2,3", "takes 2 number(s)"),
        ("1,x", "--goal takes numbers"),
    ):
        result = runner.invoke(app, ["ask", str(model), "--goal", goal])
        assert result.exit_code == 2 and message in result.output, result.output


def test_goal_mdp_carries_the_goal_and_ends_where_it_is_reached():
    from justask.relabel import goal_mdp

    data = _walk([12, 5])
    relabeled = hindsight_goals(data, "future", horizon=4, seed=0)
    mdp = goal_mdp(relabeled, radius=0.5)
    assert mdp.num_steps == data.num_steps  # every step once; a stretch ends where its goal is reached
    assert mdp.observations.shape[1] == 6
    for e in range(mdp.num_episodes):
        ep = mdp.episode(e)
        goal = ep["observations"][0, 4:]
        assert (ep["observations"][:, 4:] == goal).all()  # one goal per episode
        np.testing.assert_array_equal(ep["observations"][-1, :2], goal)  # it ends on the goal
        assert ep["terminations"][-1] and ep["rewards"][-1] == 1.0 and ep["rewards"][:-1].sum() == 0
    # random goals mostly never reached: those stretches end truncated, without reward
    negatives = goal_mdp(hindsight_goals(data, "random", horizon=4, seed=1), radius=0.5)
    ends = negatives.episode_starts + negatives.lengths - 1
    assert (negatives.truncations[ends] | negatives.terminations[ends]).all()
    assert negatives.truncations[ends].any()


def test_cli_collects_explorer_data_as_minari_and_trains_a_goal_model(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from justask.cli import app
    from justask.minari_io import load_minari

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    env = mz.env_id("Medium")
    args = ["collect", "--env", env, "--population", "explorer", "--episodes", 2, "--num-envs", 2, "--out", "./maze"]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    data = load_minari("./maze")
    assert data.env_id == env and (data.lengths == 600).all() and data.observations.shape[1] == 4
    args = ["train", "--dataset", "./maze", "--model", "mlp", "--condition", "goal", "--steps", 5, "--run", "g"]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    from justask.checkpoint import load_model

    spec = load_model("g").config.condition
    assert spec.name == GOAL and spec.kind == "vector" and spec.dim == 2 and spec.info["strategy"] == "future"
    result = runner.invoke(app, ["collect", "--env", "CartPole-v1", "--population", "planner", "--out", "./x"])
    assert result.exit_code == 2 and "is for the maze envs" in result.output


def test_gcsl_rounds_grow_the_data_and_write_the_curve(tmp_path):
    from justask.configs import GCSLConfig
    from justask.methods.gcsl import run_gcsl, steps_to

    cfg = GCSLConfig(out=str(tmp_path / "gcsl"), rounds=2, episodes_per_round=3, train_steps=20, eval_episodes=3)
    results = run_gcsl(cfg, progress=False)
    curve = results["curve"]
    assert [p["round"] for p in curve] == [1, 2]
    assert 0 < curve[0]["env_steps"] < curve[1]["env_steps"] <= 2 * 3 * 600
    assert all(p["episodes"] == 3 for p in curve)
    assert (tmp_path / "gcsl" / "curve.png").stat().st_size > 1000 and (tmp_path / "gcsl" / "model").is_dir()
    assert steps_to([{"env_steps": 10, "success": 0.2}, {"env_steps": 20, "success": 0.6}], 0.5) == 20
    assert steps_to([{"env_steps": 10, "success": 0.2}], 0.5) is None
    with pytest.raises(JustAskError, match="action-rule"):
        run_gcsl(GCSLConfig(out=str(tmp_path / "x"), action_rule="greedy"), progress=False)
