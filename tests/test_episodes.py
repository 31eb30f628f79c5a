import numpy as np
import pytest
from conftest import hand_made_episodes

from justask.errors import JustAskError


def test_offsets_and_views():
    ep = hand_made_episodes((3, 1, 4))
    assert ep.num_episodes == 3 and ep.num_steps == 8
    assert ep.episode_starts.tolist() == [0, 3, 4]
    assert ep.observation_starts.tolist() == [0, 4, 6]
    assert ep.timesteps().tolist() == [0, 1, 2, 0, 0, 1, 2, 3]
    assert ep.episode_of_step().tolist() == [0, 0, 0, 1, 2, 2, 2, 2]
    step_obs = ep.step_observations()
    assert step_obs.shape == (8, 2)
    # the observation each action was taken in: [episode, t] with the final observation dropped
    assert step_obs[:, 0].tolist() == [0, 0, 0, 1, 2, 2, 2, 2]
    assert step_obs[:, 1].tolist() == [0, 1, 2, 0, 0, 1, 2, 3]
    np.testing.assert_allclose(ep.returns(), [6, 1, 10])
    second = ep.episode(2)
    assert second["observations"].shape == (5, 2) and second["rewards"].tolist() == [1, 2, 3, 4]


def test_select_and_concatenate_keep_columns():
    ep = hand_made_episodes((3, 1, 4)).with_condition("c", np.arange(8, dtype=np.float32)[:, None], kind="vector")
    sub = ep.select([2, 0])
    assert sub.lengths.tolist() == [4, 3]
    assert sub.conditions["c"][:, 0].tolist() == [4, 5, 6, 7, 0, 1, 2]
    assert sub.step_observations()[:, 0].tolist() == [2, 2, 2, 2, 0, 0, 0]
    assert [m["seed"] for m in sub.metadata] == [102, 100]
    both = type(ep).concatenate([sub, ep.select([1])])
    assert both.num_episodes == 3 and both.conditions["c"][:, 0].tolist()[-1] == 3
    both.validate()


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda ep: ep.observations.__setitem__((5, 1), np.nan), "episode 1: field 'observations' holds NaN"),
        (lambda ep: ep.rewards.__setitem__(6, np.inf), "episode 2: field 'rewards' holds NaN or inf"),
        (lambda ep: ep.actions.__setitem__(0, 7), "episode 0: action 7 outside the action space"),
        (lambda ep: ep.terminations.__setitem__(0, True), "episode 0: terminated or truncated at step 0"),
    ],
)
def test_validation_names_episode_and_field(corrupt, message):
    ep = hand_made_episodes((3, 1, 4))
    corrupt(ep)
    with pytest.raises(JustAskError, match=message):
        ep.validate("test data")


def test_validation_catches_empty_episode_and_missing_rows():
    ep = hand_made_episodes((3, 1, 4))
    ep.lengths = np.array([3, 0, 5])
    with pytest.raises(JustAskError, match="episode 1 is empty"):
        ep.validate()
    ep = hand_made_episodes((3, 1, 4))
    ep.rewards = ep.rewards[:-1]
    with pytest.raises(JustAskError, match="field 'rewards' has 7 rows, expected 8"):
        ep.validate()
