"""Property-based tests: every generated input to the loaders either loads correctly or raises
the project's error (``JustAskError``) — never another exception, never garbage that loads.
50 examples each in the default suite, 500 in the slow one (``-m slow``)."""

import json
import shutil
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from conftest import hand_made_episodes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from justask.configs import TrainConfig
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.minari_io import load_minari, save_minari
from justask.models import ModelConfig, load_model
from justask.relabel import RETURN_TO_GO, return_to_go
from justask.training import train

EXAMPLES = [pytest.param(50, id="50"), pytest.param(500, id="500", marks=pytest.mark.slow)]


def quietly(examples):
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same examples on every run: a failure reproduces
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# ---- Episodes ------------------------------------------------------------------------------------
numbers = st.sampled_from([0.0, 1.0, -1.0, 1e30, np.nan, np.inf])


@st.composite
def episodes_columns(draw):
    """Columns that are mostly right, each broken (or not) by one of many small mistakes."""
    n_ep = draw(st.integers(0, 4))
    lengths = draw(st.lists(st.integers(-1, 5), min_size=n_ep, max_size=n_ep))
    steps = max(0, sum(max(x, 0) for x in lengths))
    obs_rows = steps + n_ep + draw(st.sampled_from([0, 0, 0, 1, -1]))
    obs_dim = draw(st.sampled_from([2, 2, 3]))
    obs = np.full((max(obs_rows, 0), obs_dim), draw(numbers), dtype=draw(st.sampled_from([np.float32, np.int8])))
    act_rows = steps + draw(st.sampled_from([0, 0, 0, 1]))
    actions = np.full(
        act_rows, draw(st.sampled_from([0, 1, 3, -1])), dtype=draw(st.sampled_from([np.int64, np.float32]))
    )
    rewards = np.full(steps + draw(st.sampled_from([0, 0, 1])), draw(numbers), dtype=np.float32)
    term = np.zeros(steps, dtype=draw(st.sampled_from([bool, bool, np.float32])))
    trunc = np.zeros(steps + draw(st.sampled_from([0, 0, -1])) if steps else 0, dtype=bool)
    if steps and draw(st.booleans()):
        term[-1] = True
    metadata = draw(st.sampled_from([None, "list", "bad"]))
    return dict(
        observations=obs,
        actions=actions,
        rewards=rewards,
        terminations=term,
        truncations=trunc,
        lengths=np.array(lengths, dtype=np.int64),
        observation_space=gym.spaces.Box(-np.inf, np.inf, (2,), np.float32),
        action_space=gym.spaces.Discrete(3),
        metadata=[{} for _ in lengths] if metadata in (None, "list") else [{}] * (n_ep + 1),
    )


@pytest.mark.parametrize("examples", EXAMPLES)
def test_episodes_either_validate_or_name_the_problem(examples):
    @quietly(examples)
    @given(episodes_columns())
    def check(columns):
        try:
            ep = Episodes(**columns).validate("generated")
        except JustAskError:
            return
        # what validates is usable: offsets, returns and observations agree with the lengths
        assert (ep.lengths >= 1).all() and len(ep.observations) == ep.num_steps + ep.num_episodes
        assert np.isfinite(ep.returns()).all() and len(ep.step_observations()) == ep.num_steps

    check()


# ---- Minari datasets -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("minari")
    return save_minari(hand_made_episodes((3, 2, 4)), root / "ds", description="property test")


def _flip_bytes(path: Path, positions: list[float], values: list[int]) -> None:
    data = bytearray(path.read_bytes())
    for p, v in zip(positions, values, strict=False):
        data[int(p * (len(data) - 1))] ^= v or 1
    path.write_bytes(bytes(data))


json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.lists(st.integers(-1, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@pytest.mark.parametrize("examples", EXAMPLES)
def test_a_damaged_minari_dataset_loads_validated_or_is_refused(saved_dataset, examples):
    source = Path(saved_dataset)
    meta_keys = sorted(json.loads((source / "data" / "metadata.json").read_text()))

    @quietly(examples)
    @given(
        st.sampled_from(["flip", "truncate", "metadata"]),
        st.lists(st.floats(0, 1), min_size=1, max_size=4),
        st.lists(st.integers(0, 255), min_size=1, max_size=4),
        st.sampled_from(meta_keys),
        json_values,
    )
    def check(how, positions, values, key, value):
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "ds"
            shutil.copytree(source, target)
            data = target / "data" / "main_data.hdf5"
            if how == "flip":
                _flip_bytes(data, positions, values)
            elif how == "truncate":
                data.write_bytes(data.read_bytes()[: int(positions[0] * data.stat().st_size)])
            else:
                meta_path = target / "data" / "metadata.json"
                meta = json.loads(meta_path.read_text())
                meta[key] = value
                meta_path.write_text(json.dumps(meta))
            try:
                ep = load_minari(target)
            except JustAskError:
                return
            assert ep.num_episodes >= 1 and np.isfinite(ep.rewards).all()

    check()


# ---- run folders: config and weights; the training state -----------------------------------------
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    ep = return_to_go(hand_made_episodes((4, 3, 5), obs_dim=3), scale=10.0)
    fit = TrainConfig(steps=4, batch_size=4, threads=1, log_every=2, checkpoint_every=2, progress=False)
    train(ep, ModelConfig(kind="mlp", hidden_sizes=(8,)), fit, root / "run", condition=RETURN_TO_GO)
    return root / "run", ep, fit


def _paths(obj, prefix=()):
    """Every (path, value) of a JSON object, depth first."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield (*prefix, k), v
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:3]):
            yield (*prefix, i), v
            yield from _paths(v, (*prefix, i))


@pytest.mark.parametrize("examples", EXAMPLES)
def test_a_damaged_run_folder_loads_a_working_model_or_is_refused(trained_run, examples):
    run, _, _ = trained_run
    config = json.loads((run / "config.json").read_text())
    paths = [p for p, _ in _paths(config)]

    @quietly(examples)
    @given(st.sampled_from(paths), json_values, st.booleans(), st.lists(st.floats(0, 1), min_size=1, max_size=3))
    def check(path, value, weights, positions):
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "run"
            shutil.copytree(run, target, ignore=shutil.ignore_patterns("tb", "train_state*"))
            if weights:
                _flip_bytes(target / "model.safetensors", positions, [0xFF] * len(positions))
            else:
                damaged = json.loads(json.dumps(config))
                d = damaged
                for k in path[:-1]:
                    d = d[k]
                d[path[-1]] = value
                (target / "config.json").write_text(json.dumps(damaged))
            try:
                model = load_model(target)
            except JustAskError:
                return
            from justask.asking import ask

            try:
                agent = ask(model)
            except JustAskError:
                return
            actions = agent.act(np.zeros((2, model.io.obs_dim), np.float32), np.arange(2))
            assert len(actions) == 2 and ((actions >= 0) & (actions < model.io.action_dim)).all()

    check()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_a_damaged_training_state_resumes_or_is_refused(trained_run, examples):
    from safetensors.torch import load_file, save_file

    run, episodes, fit = trained_run
    keys = sorted(load_file(str(run / "train_state.safetensors")))
    longer = TrainConfig(**{**fit.__dict__, "steps": 6})

    @quietly(examples)
    @given(
        st.sampled_from(["flip", "drop", "reshape", "dtype", "truncate"]),
        st.sampled_from(keys),
        st.lists(st.floats(0, 1), min_size=1, max_size=3),
    )
    def check(how, key, positions):
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "run"
            shutil.copytree(run, target, ignore=shutil.ignore_patterns("tb"))
            state = target / "train_state.safetensors"
            if how == "flip":
                _flip_bytes(state, positions, [0x5A] * len(positions))
            elif how == "truncate":
                state.write_bytes(state.read_bytes()[: int(positions[0] * state.stat().st_size)])
            else:
                tensors = load_file(str(state))
                if how == "drop":
                    tensors.pop(key)
                elif how == "reshape":
                    tensors[key] = tensors[key].reshape(-1)[: max(0, tensors[key].numel() - 1)]
                else:
                    tensors[key] = tensors[key].double() if tensors[key].is_floating_point() else tensors[key].float()
                save_file(tensors, str(state))
            try:
                model = train(
                    episodes,
                    ModelConfig(kind="mlp", hidden_sizes=(8,)),
                    longer,
                    target,
                    condition=RETURN_TO_GO,
                    resume=True,
                )
            except JustAskError:
                return
            assert all(bool(p.isfinite().all()) for p in model.parameters())

    check()
