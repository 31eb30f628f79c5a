"""Asking in the data's terms, luck-robust relabeling, and "what will I get" before acting."""

import gymnasium as gym
import numpy as np
import pytest

from justask.asking import ask
from justask.behaviours import behaviour_groups, cluster_behaviours, group_means, outcome_table
from justask.conditions import ConditionSpec
from justask.configs import TrainConfig
from justask.episodes import Episodes
from justask.errors import JustAskError, JustAskWarning
from justask.models import ModelConfig
from justask.relabel import EXPECTED_RETURN, RETURN_TO_GO, expected_return, return_to_go
from justask.training import train


def one_step_episodes(returns, policies, actions=None):
    """One-step episodes with the given returns, made by the named policies."""
    actions = [0] * len(returns) if actions is None else actions
    eps = [
        {
            "observations": np.zeros((2, 2), np.float32),
            "actions": np.array([a]),
            "rewards": np.array([r], np.float32),
            "terminations": np.array([True]),
            "truncations": np.array([False]),
            "metadata": {"policy": p, "seed": i},
        }
        for i, (r, p, a) in enumerate(zip(returns, policies, actions, strict=True))
    ]
    return Episodes.from_episode_list(eps, gym.spaces.Box(-1, 1, (2,), np.float32), gym.spaces.Discrete(2))


def safe_and_lucky(n=100, seed=0):
    """Two policies: 'safe' always returns 3; 'gambler' returns 10 one time in five, else 0 (mean 2)."""
    rng = np.random.default_rng(seed)
    gamble = rng.random(n) < 0.2
    gamble[:2] = [True, False]  # at least one win and one loss
    returns = [3.0] * n + np.where(gamble, 10.0, 0.0).tolist()
    return one_step_episodes(returns, ["safe"] * n + ["gambler"] * n, [0] * n + [1] * n)


def test_the_data_quantile_of_a_request_and_the_episodes_that_reached_it():
    ep = return_to_go(one_step_episodes([float(r) for r in range(1, 11)], ["p"] * 10), scale=1.0)
    spec = ConditionSpec.from_episodes(ep, RETURN_TO_GO)
    assert spec.quantile_request(0.5) == pytest.approx(5.5)
    assert spec.quantile_request(1.0) == pytest.approx(10.0, abs=1e-6)
    assert spec.quantile_request(0.0) == pytest.approx(1.0)
    assert spec.share_at_or_above(5.5) == pytest.approx(0.5)
    assert spec.share_at_or_above(0.0) == 1.0 and spec.share_at_or_above(11.0) == 0.0
    for bad in (1.5, -0.1, "high", True):
        with pytest.raises(JustAskError, match="quantile"):
            spec.quantile_request(bad)


def test_the_luck_robust_relabel_gives_the_behaviours_mean_not_the_lucky_outcome():
    ep = safe_and_lucky()
    groups = behaviour_groups(ep)
    relabeled = expected_return(ep, groups, scale=1.0)
    label = relabeled.conditions[EXPECTED_RETURN][:, 0]
    returns = ep.returns()
    gambler = np.array([m["policy"] == "gambler" for m in ep.metadata])
    won = gambler & (returns == 10.0)
    assert won.any()
    np.testing.assert_allclose(label[won], returns[gambler].mean())  # a lucky win is labelled with the gambler's mean
    np.testing.assert_allclose(label[~gambler], 3.0)
    assert label[won].max() < 3.0  # so the safe behaviour ranks above the gambler's luck
    spec = ConditionSpec.from_episodes(relabeled, EXPECTED_RETURN)
    assert spec.update == "hold" and spec.keyword == EXPECTED_RETURN
    assert spec.honourable == pytest.approx(3.0)  # the best is the behaviour predicted to get the most
    lo, mid, hi = spec.predict(3.0)
    assert mid == pytest.approx(3.0)


def test_the_plain_return_to_go_predicts_that_asking_the_lucky_outcome_gets_the_gamblers_mean():
    ep = safe_and_lucky()
    relabeled = return_to_go(ep, scale=1.0, behaviours=behaviour_groups(ep))
    spec = ConditionSpec.from_episodes(relabeled, RETURN_TO_GO)
    gambler_mean = ep.returns()[100:].mean()
    _, mid_at_best_episode, _ = spec.predict(10.0)
    assert mid_at_best_episode == pytest.approx(gambler_mean)  # asking for 10 selects only the gambler
    assert spec.predict(3.0)[1] == pytest.approx(3.0)
    assert spec.honourable == pytest.approx(3.0)  # asking more than 3 is predicted to get less


def test_outcome_table_mixes_the_behaviours_a_request_selects():
    labels = np.array([0.0] * 30 + [1.0] * 30)
    returns = np.array([0.0] * 30 + [1.0] * 30)
    groups = np.array([0] * 30 + [1] * 30)
    ((request, lo, mid, hi),) = outcome_table(labels, returns, groups, [1.0])
    assert (request, lo, mid, hi) == (1.0, 1.0, 1.0, 1.0)
    ((_, lo, mid, hi),) = outcome_table(labels, returns, np.zeros(60, dtype=int), [1.0])  # one behaviour: its mean
    assert mid == pytest.approx(0.5) and (lo, hi) == (0.0, 1.0)
    with pytest.raises(JustAskError, match="groups"):
        outcome_table(labels, returns, groups[:-1], [1.0])
    with pytest.raises(JustAskError, match="groups"):
        group_means(returns, -groups)


def test_behaviours_cluster_by_how_they_act_when_the_data_does_not_say():
    ep = safe_and_lucky(n=60)
    unnamed = [{k: v for k, v in m.items() if k != "policy"} for m in ep.metadata]
    import dataclasses

    ep = dataclasses.replace(ep, metadata=unnamed)
    groups = cluster_behaviours(ep, clusters=2)
    truth = np.array([0] * 60 + [1] * 60)
    assert (groups == truth).all() or (groups == 1 - truth).all()
    assert (behaviour_groups(ep, by="policy", clusters=2) == groups).all()  # no metadata: clusters
    with pytest.raises(JustAskError, match="clusters"):
        cluster_behaviours(ep, clusters=0)


@pytest.fixture(scope="module")
def expected_return_model(tmp_path_factory):
    ep = safe_and_lucky(n=50)
    ep = expected_return(ep, behaviour_groups(ep), scale=1.0)
    fit = TrainConfig(steps=30, batch_size=32, threads=1, log_every=30, checkpoint_every=30)
    return train(
        ep, ModelConfig(kind="mlp", hidden_sizes=(16,)), fit, tmp_path_factory.mktemp("er"), condition=EXPECTED_RETURN
    )


def test_a_request_above_what_the_model_can_honour_warns_and_is_mapped(expected_return_model):
    model = expected_return_model
    limit = model.io.condition.honourable
    assert limit == pytest.approx(3.0)
    with pytest.warns(JustAskWarning, match="above the 3 this model can honour"):
        agent = ask(model, expected_return=10.0)
    assert agent.info["requested"] == pytest.approx(10.0) and agent.info["mapped_to"] == pytest.approx(3.0)
    assert agent.info["condition"] == pytest.approx(3.0)
    assert agent.info["predicted"][1] == pytest.approx(3.0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", JustAskWarning)
        best = ask(model)  # the default is the honourable best: no warning
        low = ask(model, 2.0)
    assert best.info["condition"] == pytest.approx(3.0) and "mapped_to" not in low.info
    assert ask(model, quantile=0.0).info["condition"] == pytest.approx(model.io.condition.quantiles[0], abs=1e-4)
    with pytest.raises(JustAskError, match="quantile or for a value"):
        ask(model, 1.0, quantile=0.5)


def test_the_asking_recipe_writes_the_calibrated_sweep(tmp_path):
    from justask.recipes import recipe, run_recipe
    from justask.recipes.asking import Config
    from justask.suites.lunar_lander import WINDY_ENV

    tiny = TrainConfig(steps=20, batch_size=32, progress=False)
    cfg = Config(
        out=str(tmp_path / "asking"),
        tasks=(WINDY_ENV,),
        episodes_per_policy=3,
        mlp=ModelConfig(kind="mlp", hidden_sizes=(16,)),
        mlp_train=tiny,
        quantiles=(0.1, 0.5, 1.0),
        episodes_per_ask=3,
        num_envs=3,
        calibration_episodes=2,
        calibration_points=3,
    )
    report = run_recipe(recipe("asking"), cfg)
    run = report["tasks"][WINDY_ENV]["0"]
    for name in ("rvs", "rvs_expected"):
        m = run["methods"][name]
        assert [p["asked_quantile"] for p in m["sweep"]] == [0.1, 0.5, 1.0]
        for p in m["sweep"]:
            assert set(p) >= {"asked_return", "predicted", "mean", "ci95", "mapped_to"} and len(p["predicted"]) == 3
        assert m["sweep"][-1]["mapped_to"] is not None or m["sweep"][-1]["asked_return"] <= m["honourable"] + 1e-3
        assert set(m) >= {"spearman", "collapse", "no_collapse", "coverage", "best"}
        assert 0 <= m["coverage"] <= 1 and m["best"]["episodes"] == 3
        assert m["rule_chosen_by"] == "calibration" and len(m["best"]["by_rule"]) == 1
        assert m["calibration"]["rules"]["argmax"] and 0 <= m["coverage_of_mean_ci"] <= 1
        assert (tmp_path / "asking" / "windylunarlander" / "seed0" / name / "calibration.json").exists()
    assert {r["method"] for r in report["summary"]} == {"rvs", "rvs_expected"}
    assert (tmp_path / "asking" / "sweep_windylunarlander.png").stat().st_size > 1000
    with pytest.raises(JustAskError, match="quantiles"):
        Config(quantiles=(0.5, 0.1))
    with pytest.raises(JustAskError, match="unknown model"):
        Config(models=("nosuch",))


def test_d3rlpys_decision_transformer_is_asked_for_a_return_in_batched_envs(lunar_episodes):
    from justask.evaluation import evaluate
    from justask.peers.d3rlpy_peer import DiscreteDTConfig, DTPolicy, train_discrete_dt

    def fit_and_ask():
        cfg = DiscreteDTConfig(steps=5, batch_size=8, context_len=3)
        policy = DTPolicy(train_discrete_dt(lunar_episodes, cfg, progress=False), 200.0, "sample")
        return policy, evaluate("LunarLander-v3", policy, episodes=3, num_envs=2, progress=False)

    policy, result = fit_and_ask()
    _, again = fit_and_ask()
    assert result.episodes == 3 and np.isfinite(result.returns).all()
    np.testing.assert_array_equal(result.returns, again.returns)  # a run (fit, then ask) reproduces
    assert policy.info == {"action_rule": "sample", "condition": 200.0}


class OneBet(gym.Env):
    """One step: action 0 returns 3 for sure; action 1 returns 10 one time in five, else 0 (mean 2)."""

    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        reward = 3.0 if int(action) == 0 else (10.0 if self.np_random.random() < 0.2 else 0.0)
        return np.zeros(2, np.float32), reward, True, False, {}


ONE_BET = "justask-test/OneBet-v0"


@pytest.fixture(scope="module")
def return_model_on_the_bet(tmp_path_factory):
    """Plain return-to-go on the safe policy and the gambler: asked 10 it gambles."""
    if ONE_BET not in gym.registry:
        gym.register(ONE_BET, entry_point=OneBet)
    ep = safe_and_lucky(n=100)
    ep = return_to_go(ep, scale=1.0, behaviours=behaviour_groups(ep))
    fit = TrainConfig(steps=300, batch_size=64, threads=1, log_every=300, checkpoint_every=300, progress=False)
    folder = tmp_path_factory.mktemp("bet")
    model = train(ep, ModelConfig(kind="mlp", hidden_sizes=(32,)), fit, folder, condition=RETURN_TO_GO)
    return model, folder


def test_calibration_measures_each_request_and_asking_makes_the_one_that_got_nearest(return_model_on_the_bet):
    from justask.calibration import better_rule, calibrate, grid
    from justask.models.saved import load_model, save_calibration

    model, folder = return_model_on_the_bet
    assert ask(model, 10.0, as_asked=True).info["condition"] == pytest.approx(10.0)  # it gambles when asked 10
    cal = calibrate(model, ONE_BET, points=5, episodes=200, rules=("argmax",), num_envs=50)
    rows = np.asarray(cal["rules"]["argmax"])
    assert list(rows[:, 0]) == grid(model.io.condition, 5) and rows[0, 0] == pytest.approx(0.0)
    assert rows[-1, 0] == pytest.approx(10.0)
    safe = rows[np.isclose(rows[:, 0], 3.0)][0]
    assert safe[2] == pytest.approx(3.0) and safe[4] == safe[5] == pytest.approx(3.0)  # no luck in it
    lucky = rows[-1]
    assert 1.0 < lucky[2] < 3.0 and lucky[4] <= lucky[2] <= lucky[5]  # asked 10, got the gambler's ~2
    assert better_rule(cal) == "argmax"
    save_calibration(folder, cal)
    calibrated = load_model(folder)
    best = ask(calibrated)
    assert best.info["condition"] == pytest.approx(3.0) and best.info["calibrated"] == "argmax"
    assert best.info["predicted"][1] == pytest.approx(3.0)
    with pytest.warns(JustAskWarning, match="above the most this model got when calibrated"):
        high = ask(calibrated, 10.0)
    assert high.info["condition"] == pytest.approx(3.0) and high.info["mapped_to"] == pytest.approx(3.0)
    assert high.info["requested"] == pytest.approx(10.0)
    assert ask(calibrated, 2.0).info["predicted"][1] == pytest.approx(lucky[2], abs=0.5)  # ~2: the gamble's mean
    assert "calibrated" not in ask(calibrated, 2.0, action_rule="sample").info  # not calibrated for sampling
    assert ask(calibrated, 10.0, as_asked=True).info["condition"] == pytest.approx(10.0)


def test_a_calibration_of_other_weights_or_of_bad_numbers_is_refused(return_model_on_the_bet, tmp_path):
    import json
    import shutil

    from justask.models.saved import load_model

    model, folder = return_model_on_the_bet
    copy = tmp_path / "run"
    shutil.copytree(folder, copy)
    rows = [[0.0, 0.0, 2.0, 10.0, 1.5, 2.5], [3.0, 3.0, 3.0, 3.0, 3.0, 3.0]]
    cal = {"env": ONE_BET, "episodes": 10, "seed": 0, "points": 2, "rules": {"argmax": rows}, "weights": "0" * 64}
    (copy / "calibration.json").write_text(json.dumps(cal))
    with pytest.warns(JustAskWarning, match="measured on other weights"):
        assert load_model(copy).io.condition.calibration is None
    spec = model.io.condition
    for bad, match in (
        ({**cal, "rules": {"argmax": rows[::-1]}}, "must rise"),
        ({**cal, "rules": {"argmax": [[0.0, 1.0]]}}, "rows of"),
        ({**cal, "episodes": -1}, "episodes"),
        ({**cal, "rules": {}}, "measured rows"),
    ):
        with pytest.raises(JustAskError, match=match):
            ConditionSpec.from_json({**spec.to_json(), "calibration": bad})


def test_justask_calibrate_writes_the_calibration_and_ask_uses_it(return_model_on_the_bet, tmp_path, capsys):
    import shutil

    from justask.cli import main

    _, folder = return_model_on_the_bet
    run = tmp_path / "run"
    shutil.copytree(folder, run)
    args = ["calibrate", str(run), "--env", ONE_BET, "--points", "3", "--episodes", "40", "--no-overlap"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (run / "calibration.json").exists() and "best: return_to_go=3" in out
    assert main(["calibrate", str(run), "--points", "1"]) == 2
    assert "--points" in capsys.readouterr().err
    from justask.runs import open_run

    assert open_run(run, ONE_BET)[0].io.condition.calibration["env"] == ONE_BET
    if "justask-test/OneBet-v1" not in gym.registry:
        gym.register("justask-test/OneBet-v1", entry_point=OneBet)
    with pytest.warns(JustAskWarning, match="calibrated on justask-test/OneBet-v0, not justask-test/OneBet-v1"):
        assert open_run(run, "justask-test/OneBet-v1")[0].io.condition.calibration is None
