import numpy as np
from conftest import hand_made_episodes

from justask.conditions import ConditionSpec
from justask.relabel import return_to_go, return_to_go_column


def test_return_to_go_on_hand_made_episodes():
    ep = hand_made_episodes((3, 1, 4))  # rewards 1..n per episode
    expected = [6, 5, 3, 1, 10, 9, 7, 4]
    np.testing.assert_allclose(return_to_go_column(ep), expected)
    scaled = return_to_go(ep, scale=2.0)
    np.testing.assert_allclose(scaled.conditions["return_to_go"][:, 0], expected)  # user units (rewards)
    info = scaled.condition_info["return_to_go"]
    assert info["kind"] == "return" and info["scale"] == 2.0 and info["update"] == "minus_reward"
    spec = ConditionSpec.from_episodes(scaled, "return_to_go")
    values, table = spec.model_column(scaled)
    assert table is None
    np.testing.assert_allclose(values[:, 0], np.array(expected) / 2)  # the model reads them scaled
    assert spec.quantiles[0] == 1 and spec.quantiles[100] == 10  # the data's episode returns


def test_return_to_go_counts_only_seen_rewards_of_truncated_episodes():
    ep = hand_made_episodes((2, 2), terminal_last=(False,))
    assert ep.truncations.sum() == 2 and not ep.terminations.any()
    np.testing.assert_allclose(return_to_go_column(ep), [3, 2, 3, 2])


def test_condition_spec_asks_for_the_95th_percentile_by_default():
    ep = return_to_go(hand_made_episodes((1, 2, 3, 4, 5, 6, 7, 8, 9, 10)), scale=10.0)
    spec = ConditionSpec.from_episodes(ep, "return_to_go")
    returns = ep.returns()
    np.testing.assert_allclose(spec.request(None), [np.percentile(returns, 95) / 10], rtol=1e-6)
    np.testing.assert_allclose(spec.request(250.0), [25.0])
