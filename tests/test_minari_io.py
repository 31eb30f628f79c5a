import gymnasium as gym
import numpy as np
import pytest
from conftest import hand_made_episodes

from justask.errors import JustAskError
from justask.minari_io import load_minari, save_minari
from justask.relabel import return_to_go


def assert_same_episodes(a, b):
    for field in ("observations", "actions", "rewards", "terminations", "truncations", "lengths"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert a.metadata == b.metadata
    assert a.observation_space == b.observation_space and a.action_space == b.action_space


def test_round_trip_by_path_keeps_metadata_and_conditions(lunar_episodes):
    ep = return_to_go(lunar_episodes, scale=100.0)
    where = save_minari(ep, "./data/lunar")
    assert (where / "data" / "main_data.hdf5").is_file()
    back = load_minari("./data/lunar")
    assert_same_episodes(ep, back)
    assert back.env_id == "LunarLander-v3"
    np.testing.assert_allclose(back.conditions["return_to_go"], ep.conditions["return_to_go"])
    assert back.condition_info["return_to_go"]["scale"] == 100.0
    assert back.metadata[0]["policy"] == "expert" and back.metadata[0]["seed"] == 7


def test_round_trip_by_id_under_minari_datasets_path(lunar_episodes, tmp_path):
    save_minari(lunar_episodes, "justask/lunar/test-v0")
    assert (tmp_path / "minari" / "justask" / "lunar" / "test-v0" / "data" / "metadata.json").is_file()
    assert_same_episodes(lunar_episodes, load_minari("justask/lunar/test-v0"))
    import minari

    assert minari.load_dataset("justask/lunar/test-v0").total_episodes == lunar_episodes.num_episodes


def test_refuses_to_overwrite_and_leaves_no_temporary_files(lunar_episodes, tmp_path):
    save_minari(lunar_episodes, "./data/lunar")
    with pytest.raises(JustAskError, match="already exists"):
        save_minari(lunar_episodes, "./data/lunar")
    save_minari(lunar_episodes.select([0]), "./data/lunar", overwrite=True)
    assert load_minari("./data/lunar").num_episodes == 1
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["lunar"]


def test_loads_a_dataset_made_by_minaris_own_data_collector():
    pytest.importorskip("jax", reason="Minari's DataCollector needs jax (installed by the test extra)")
    import minari
    from minari import DataCollector

    env = DataCollector(gym.make("CartPole-v1"), record_infos=False)
    for seed in range(3):
        env.reset(seed=seed)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            done = terminated or truncated
    env.create_dataset(dataset_id="others/cartpole/random-v0", algorithm_name="random")
    env.close()
    ep = load_minari("others/cartpole/random-v0")
    ref = minari.load_dataset("others/cartpole/random-v0")
    assert ep.num_episodes == 3 and ep.env_id == "CartPole-v1"
    for i, episode in enumerate(ref.iterate_episodes()):
        np.testing.assert_array_equal(ep.episode(i)["observations"], episode.observations)
        np.testing.assert_array_equal(ep.episode(i)["actions"], episode.actions)
    assert ep.metadata[0].get("seed") == 0


def test_missing_dataset_is_a_clear_error():
    with pytest.raises(JustAskError, match="no Minari dataset 'nope/missing-v0'"):
        load_minari("nope/missing-v0")
    with pytest.raises(JustAskError, match="no Minari dataset"):
        load_minari("./not-here")


def test_corrupt_dataset_is_a_clear_error(lunar_episodes):
    where = save_minari(lunar_episodes, "./data/lunar")
    (where / "data" / "main_data.hdf5").write_bytes(b"garbage")
    with pytest.raises(JustAskError, match="cannot be read"):
        load_minari("./data/lunar")


def test_nan_inside_a_saved_dataset_is_reported_with_its_episode():
    import h5py

    ep = hand_made_episodes((3, 2))
    where = save_minari(ep, "./data/hand")
    with h5py.File(where / "data" / "main_data.hdf5", "a") as f:
        f["episode_1/observations"][1, 0] = np.nan
    with pytest.raises(JustAskError, match="episode 1: field 'observations' holds NaN"):
        load_minari("./data/hand")


def test_missing_field_is_reported_with_its_episode():
    import h5py

    where = save_minari(hand_made_episodes((3, 2)), "./data/hand")
    with h5py.File(where / "data" / "main_data.hdf5", "a") as f:
        del f["episode_1/rewards"]
    with pytest.raises(JustAskError, match="rewards"):
        load_minari("./data/hand")


def test_a_changed_column_is_caught_by_the_checksum_justask_recorded(tmp_path):
    import h5py

    path = save_minari(hand_made_episodes((3, 2)), tmp_path / "ds")
    assert load_minari(path).num_episodes == 2  # untouched: loads
    with h5py.File(path / "data" / "main_data.hdf5", "r+") as f:
        rewards = f["episode_1"]["rewards"]
        rewards[0] = rewards[0] + 1.0  # one value changed, still a valid dataset
    with pytest.raises(JustAskError, match="column 'rewards' does not match the checksum"):
        load_minari(path)


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("total_episodes", True, "not a count"),
        ("total_episodes", 1, "its metadata counts"),
        ("total_steps", 3, "its metadata counts"),
        ("justask_checksums", [1], "checksums are damaged"),
        ("observation_space", "int8", "would be truncated|cannot be read by Minari"),
    ],
)
def test_edited_dataset_metadata_is_refused(tmp_path, key, value, match):
    import json

    path = save_minari(hand_made_episodes((3, 2)), tmp_path / "ds")
    meta_path = path / "data" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta[key] = meta[key].replace("float32", value) if key == "observation_space" else value
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(JustAskError, match=match):
        load_minari(path)


def test_episode_metadata_that_is_json_but_not_an_object_is_refused(tmp_path):
    import h5py

    path = save_minari(hand_made_episodes((3, 2)), tmp_path / "ds")
    with h5py.File(path / "data" / "main_data.hdf5", "r+") as f:
        attrs = f["episode_1"].attrs
        key = next(k for k in attrs if "justask" in k)
        attrs[key] = "[1, 2]"
    with pytest.raises(JustAskError, match="episode 1: its metadata is JSON but not an object"):
        load_minari(path)


def test_one_episodes_actions_of_another_rank_are_refused(tmp_path):
    import h5py

    path = save_minari(hand_made_episodes((3, 2)), tmp_path / "ds")
    with h5py.File(path / "data" / "main_data.hdf5", "r+") as f:
        actions = f["episode_1"]["actions"][()]
        del f["episode_1"]["actions"]
        f["episode_1"].create_dataset("actions", data=actions[:, None])
    with pytest.raises(JustAskError, match=r"episode 1: actions have shape \(1,\)"):
        load_minari(path)
