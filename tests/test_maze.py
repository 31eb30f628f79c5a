"""PointMaze goals: hindsight goal relabeling, the maze geometry and planner, goal models asked for
each episode's goal, the maze and gcsl recipes end to end at toy size."""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from justask.asking import ask
from justask.cli import main
from justask.collection import collect
from justask.configs import TrainConfig
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.models.config import ModelConfig, PolicyIO
from justask.recipes import recipe, run_recipe
from justask.relabel import GOAL, achieved_goals, goal_rewards, hindsight_goals
from justask.suites import maze as mz


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
    assert ep.condition_info[GOAL]["kind"] == "goal" and ep.condition_info[GOAL]["keyword"] == "goal"
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


def _env_goals(seeds):
    return mz.episode_goals("Medium", seeds)


def test_goal_model_asked_per_episode_batched_matches_single_envs():
    data = hindsight_goals(
        collect(mz.env_id("Medium"), [(mz.MazePlanner("Medium", 0.3), 4)], num_envs=4, seed=0, progress=False),
        "final",
    )
    torch.manual_seed(0)
    from justask.models.policy import PolicyModel

    config = ModelConfig(kind="dt", context_len=4, d_model=16, n_layer=1, n_head=1)
    model = PolicyModel(config, PolicyIO.from_episodes(data, GOAL))
    batched = collect(mz.env_id("Medium"), [(ask(model, goal=_env_goals), 4)], num_envs=4, seed=5, progress=False)
    single = collect(mz.env_id("Medium"), [(ask(model, goal=_env_goals), 4)], num_envs=1, seed=5, progress=False)
    np.testing.assert_allclose(batched.actions, single.actions, atol=1e-5)
    np.testing.assert_array_equal(batched.lengths, single.lengths)
    # each episode is asked its own goal: a model asked one episode's goal for every episode acts otherwise
    one = mz.episode_goals("Medium", np.array([5]))[0]
    fixed = collect(mz.env_id("Medium"), [(ask(model, goal=one), 4)], num_envs=4, seed=5, progress=False)
    first = slice(0, int(batched.lengths[0]))
    np.testing.assert_allclose(fixed.actions[first], batched.actions[first], atol=1e-5)
    assert not np.allclose(fixed.actions[batched.episode_starts[1] :], batched.actions[batched.episode_starts[1] :])


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


def test_demo_maze_and_ask_for_a_goal(tmp_path, capsys):
    """The quick demo end to end at toy size, then asking its model for a goal from the CLI."""
    out = tmp_path / "demo-maze"
    args = ["--out", str(out), "--episodes", "4", "--models", "mlp", "--mlp-train.steps", "30", "--eval-episodes", "6"]
    assert main(["demo", "maze", *args]) == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["findings"] and report["seconds"] > 0 and report["provenance"]["config"]["episodes"] == 4
    markdown = (out / "report.md").read_text()
    assert "| RvS-G |" in markdown and "| planner (told the goal) | 1.000" in markdown
    (control,) = report["steering"]  # the steering control of the one goal model
    assert control["model"] == "RvS-G" and control["outcome"] == "success" and control["episodes"] == 6
    assert control["asked"]["mean"] == pytest.approx(report["rows"][0]["success"], abs=1e-4)
    assert {"shuffled", "gap_shuffled"} <= set(control)
    for picture in ("success.png", "paths.png", "rollout.gif"):
        assert (out / picture).stat().st_size > 1000
    model = out / "seed0" / "mlp"
    capsys.readouterr()
    assert main(["ask", str(model), "1.5,1.5", "--gif", str(tmp_path / "ask.gif")]) == 0
    assert "asked [1.5, 1.5]" in capsys.readouterr().out
    assert (tmp_path / "ask.gif").stat().st_size > 1000
    for goal, message in (
        ("50,1", "not in a free cell"),
        ("1,2,3", "takes 2 number(s)"),
        ("1,x", "is not a request for 'goal'"),
    ):
        assert main(["ask", str(model), goal]) == 2
        err = capsys.readouterr().err
        assert err.startswith("justask: error:") and message in err, err


def test_maze_settings_are_checked_with_their_range():
    from justask.recipes.maze import Config

    for bad, message in (
        ({"maze": "Tiny"}, "unknown maze"),
        ({"models": ("iql",)}, "needs dt or mlp"),
        ({"models": ("dt", "ppo")}, "unknown model 'ppo'"),
        ({"eval_episodes": 1}, "eval_episodes must be a whole number >= 2"),
        ({"strategy": "nearest"}, "strategy must be one of"),
        ({"seeds": ()}, "seeds must be"),
    ):
        with pytest.raises(JustAskError, match=message):
            Config(**bad)
    assert main(["demo", "maze", "--copies", "0"]) == 2


def test_maze_merge_keeps_the_planner_once_and_pools_the_seeds(tmp_path):
    from justask.recipes.maze import Config, merge, setup_of

    def part(seed, wins):
        row = {"model": "RvS-G", "seed": seed, "success": wins / 10, "success_ci95": [0, 1], "episodes": 10}
        planner = {
            "model": "planner (told the goal)",
            "seed": None,
            "success": 1.0,
            "success_ci95": [0.7, 1],
            "episodes": 10,
        }
        steer = {"model": "RvS-G", "seed": seed, "outcome": "success", "episodes": 10, "action_rule": "argmax",
                 "asked": {"mean": wins / 10, "ci95": [0, 1]}, "shuffled": {"mean": 0.1, "ci95": [0, 0.3]},
                 "gap_shuffled": {"mean": 0.2, "ci95": [0, 0.4]}}  # fmt: skip
        setup = setup_of(Config(models=("mlp",)))
        return {"recipe": "maze", "setup": setup, "seeds": [seed], "data": [{"seed": seed}], "rows": [row, planner],
                "steering": [steer], "seconds": 5.0 + seed, "provenance": {"config": {"maze": "Medium"}, "seed": seed}}  # fmt: skip

    merged = merge([part(0, 6), part(1, 8)], tmp_path)
    assert merged["seeds"] == [0, 1] and merged["seconds"] == 6.0
    assert [r["model"] for r in merged["pooled"]] == ["RvS-G", "planner (told the goal)"]
    assert merged["pooled"][0]["success"] == 0.7 and merged["pooled"][0]["per_seed"] == [0.6, 0.8]
    assert merged["pooled"][1]["episodes"] == 10  # the planner once
    assert len(merged["steering"]) == 2 and len(merged["provenance"]["merged_from"]) == 2
    assert (tmp_path / "report.md").exists() and (tmp_path / "success.png").stat().st_size > 1000
    with pytest.raises(JustAskError, match="share seeds"):
        merge([part(0, 6), part(0, 8)], tmp_path)


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


def test_cli_collects_explorer_data_as_minari_and_trains_a_goal_model(tmp_path, capsys):
    from justask.minari_io import load_minari
    from justask.models import load_model

    env = mz.env_id("Medium")
    args = [
        "collect",
        "--env",
        env,
        "--population",
        "explorer",
        "--episodes",
        "2",
        "--num-envs",
        "2",
        "--out",
        "./maze",
    ]
    assert main(args) == 0, capsys.readouterr().err
    data = load_minari("./maze")
    assert data.env_id == env and (data.lengths == 600).all() and data.observations.shape[1] == 4
    args = ["train", "--dataset", "./maze", "--model.kind", "mlp", "--condition", "goal", "--train.steps", "5"]
    assert main([*args, "--run", "g"]) == 0, capsys.readouterr().err
    spec = load_model("g").io.condition
    assert spec.name == GOAL and spec.kind == "goal" and spec.dim == 2 and spec.info["strategy"] == "future"
    assert main(["collect", "--env", "CartPole-v1", "--population", "planner", "--out", "./x"]) == 2
    assert "is for the maze envs" in capsys.readouterr().err


def test_gcsl_rounds_grow_the_data_and_write_the_curve(tmp_path):
    from justask.recipes.gcsl import Config, steps_to

    tiny = TrainConfig(steps=20, batch_size=64, threads=1, device="cpu", progress=False)
    cfg = Config(out=str(tmp_path / "gcsl"), rounds=2, episodes_per_round=3, train=tiny, eval_episodes=3)
    report = run_recipe(recipe("gcsl"), cfg)
    ((run,),) = [[r for r in report["runs"] if r["method"] == "gcsl"]]
    curve = run["curve"]
    assert [p["round"] for p in curve] == [1, 2]
    assert 0 < curve[0]["env_steps"] < curve[1]["env_steps"] <= 2 * 3 * 600
    assert all(p["episodes"] == 3 for p in curve)
    (control,) = report["steering"]  # the last round's model, each episode asked another's goal
    assert control["asked"]["mean"] == pytest.approx(curve[-1]["success"], abs=1e-4) and "gap_shuffled" in control
    assert report["findings"] and report["summary"]["methods"]["gcsl"]["seeds"] == [0]
    out = tmp_path / "gcsl"
    assert (out / "curve.png").stat().st_size > 1000 and (out / "seed0" / "model").is_dir()
    assert "## GCSL, seed 0" in (out / "report.md").read_text()
    assert steps_to([{"env_steps": 10, "success": 0.2}, {"env_steps": 20, "success": 0.6}], 0.5) == 20
    assert steps_to([{"env_steps": 10, "success": 0.2}], 0.5) is None
    with pytest.raises(JustAskError, match="action_rule must be sample or argmax"):
        Config(action_rule="greedy")
    with pytest.raises(JustAskError, match="unknown method 'dqn'"):
        Config(methods=("gcsl", "dqn"))


def test_gcsl_merge_lets_a_later_run_of_a_method_and_seed_replace_an_earlier_one(tmp_path):
    from justask.recipes.gcsl import merge

    def point(steps, success):
        return {"round": 1, "env_steps": steps, "success": success, "success_ci95": [0, 1], "episodes": 10,
                "collection_success": 0.0}  # fmt: skip

    def part(runs, seconds):
        setup = {"maze": "Medium", "eval_episodes": 10, "rounds": 2, "episodes_per_round": 20, "action_rule": "sample",
                 "horizon": 200, "train_steps": 20, "batch_size": 256}  # fmt: skip
        return {"recipe": "gcsl", "setup": setup, "runs": runs, "steering": [], "seconds": seconds,
                "provenance": {"config": {"maze": "Medium"}}}  # fmt: skip

    gcsl = {"method": "gcsl", "seed": 0, "curve": [point(100, 0.6)]}
    old_sac = {"method": "sac_her", "seed": 0, "curve": [point(50, 0.2)]}
    new_sac = {"method": "sac_her", "seed": 0, "curve": [point(50, 0.2), point(100, 0.7)]}
    merged = merge([part([gcsl, old_sac], 3.0), part([new_sac], 9.0)], tmp_path)
    assert [(r["method"], len(r["curve"])) for r in merged["runs"]] == [("gcsl", 1), ("sac_her", 2)]
    assert merged["summary"]["budget"] == 100 and merged["summary"]["methods"]["sac_her"]["success_at_budget"] == 0.7
    assert merged["seconds"] == 9.0 and (tmp_path / "curve.png").exists()
