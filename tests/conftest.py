import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["HF_HUB_OFFLINE"] = "1"

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import justask  # noqa: E402, F401  (before any torch arithmetic: it pins reproducible CPU math)

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Every test gets its own Minari root and working directory (nothing lands in the repo)."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    monkeypatch.chdir(tmp_path)


def hand_made_episodes(lengths=(3, 1, 4), obs_dim=2, n_actions=3, seed=0, terminal_last=(True, False, True)):
    """Small episodes with known contents: obs[t] = [episode, t], rewards = 1, 2, 3, ..."""
    from justask.episodes import Episodes

    rng = np.random.default_rng(seed)
    eps = []
    for e, n in enumerate(lengths):
        obs = np.stack([np.full(n + 1, e, dtype=np.float32), np.arange(n + 1, dtype=np.float32)], axis=1)
        if obs_dim > 2:
            obs = np.concatenate([obs, rng.normal(size=(n + 1, obs_dim - 2)).astype(np.float32)], axis=1)
        term = np.zeros(n, dtype=bool)
        trunc = np.zeros(n, dtype=bool)
        if terminal_last[e % len(terminal_last)]:
            term[-1] = True
        else:
            trunc[-1] = True
        eps.append(
            {
                "observations": obs,
                "actions": rng.integers(0, n_actions, size=n),
                "rewards": np.arange(1, n + 1, dtype=np.float32),
                "terminations": term,
                "truncations": trunc,
                "metadata": {"policy": f"p{e % 2}", "seed": 100 + e},
            }
        )
    obs_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
    return Episodes.from_episode_list(eps, obs_space, gym.spaces.Discrete(n_actions), env_id=None)


@pytest.fixture(scope="session")
def lunar_episodes():
    """A few real LunarLander episodes from two policies (shared, do not mutate)."""
    from justask.collection import collect
    from justask.policies import RandomPolicy
    from justask.suites.lunar_lander import LunarLanderExpert

    space = gym.spaces.Discrete(4)
    return collect(
        "LunarLander-v3", [(LunarLanderExpert(), 3), (RandomPolicy(space), 5)], num_envs=4, seed=7, progress=False
    )
