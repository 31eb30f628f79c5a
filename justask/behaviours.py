"""Which behaviour made each episode, and what a request to a return-conditioned model will get.

An episode's return is its behaviour's skill plus luck (start state, wind, the policy's own noise).
A model conditioned on one episode's outcome, asked for a high return, imitates whatever made
the data's high returns — often a mediocre behaviour's lucky episodes — and gets that behaviour's
average (Paster et al. 2022, "You can't count on luck"). Knowing which behaviour made each episode
gives two remedies, both here:

- ``behaviour_groups``: the behaviour of each episode, from the data's metadata (which policy made
  it) or, where the data does not say, by clustering each episode's *policy fingerprint* — how
  it acts in each region of the state space, p(action | state cluster) — which describes the
  behaviour and not what happened to it (an ESPER-like grouping without its adversarial
  training; Paster et al. 2022);
- ``outcome_table``: for a grid of requests, which behaviours the data's episodes labelled near
  each request came from, and so what a model asked it will achieve: the mean and middle half
  of the returns of those behaviours (mixed by their share of the labels), before acting.
"""

from __future__ import annotations

import numpy as np

from justask.episodes import Episodes
from justask.errors import JustAskError

STATE_CLUSTERS = 8  # regions of the state space a fingerprint describes the actions in
NEIGHBOURS_SHARE = 0.05  # the share of the data's episodes nearest a request that it selects
MIN_NEIGHBOURS = 20


def behaviour_groups(
    episodes: Episodes, by: str | None = "policy", clusters: int | None = None, seed: int = 0
) -> np.ndarray:
    """The behaviour of every episode, ``(E,)`` int64 in 0..G-1.

    ``by``: a metadata key that names the behaviour (a policy's name); used when every episode
    has it, else (or with ``by=None``) episodes are clustered by their policy fingerprints into
    ``clusters`` groups (``None``: chosen by silhouette among 2..12)."""
    if episodes.num_episodes == 0:
        raise JustAskError("no episodes to group by behaviour")
    if by is not None and all(by in m for m in episodes.metadata):
        names = [str(m[by]) for m in episodes.metadata]
        order = {name: i for i, name in enumerate(dict.fromkeys(names))}
        return np.array([order[n] for n in names], dtype=np.int64)
    return cluster_behaviours(episodes, clusters=clusters, seed=seed)


def fingerprints(episodes: Episodes, state_clusters: int = STATE_CLUSTERS, seed: int = 0) -> np.ndarray:
    """Each episode's policy fingerprint ``(E, F)``: its action distribution (discrete: the share
    of each action; continuous: mean and spread) within each of ``state_clusters`` regions of the
    state space (k-means over the data's states), with regions it never visited filled with the
    data's own action statistics there, and weighted by how often the episode visited them."""
    from sklearn.cluster import MiniBatchKMeans

    obs = episodes.step_observations().reshape(episodes.num_steps, -1).astype(np.float64)
    scale = obs.std(axis=0)
    scale[scale == 0] = 1.0
    z = (obs - obs.mean(axis=0)) / scale
    k = int(min(state_clusters, max(1, episodes.num_steps // 50)))
    region = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096).fit_predict(z)
    _, region = np.unique(region, return_inverse=True)  # only the regions states fell in (fewer where states repeat)
    k = int(region.max()) + 1
    actions = np.asarray(episodes.actions)
    if np.issubdtype(actions.dtype, np.integer):
        n = int(getattr(episodes.action_space, "n", actions.max() + 1))
        per_step = np.eye(n)[actions.reshape(-1)]
    else:
        a = actions.reshape(len(actions), -1).astype(np.float64)
        per_step = np.concatenate([a, a**2], axis=1)
    episode = episodes.episode_of_step()
    cells = episode * k + region
    sums = np.zeros((episodes.num_episodes * k, per_step.shape[1]))
    np.add.at(sums, cells, per_step)
    counts = np.bincount(cells, minlength=episodes.num_episodes * k).astype(np.float64)
    overall = np.stack([per_step[region == r].mean(axis=0) for r in range(k)])  # (k, F)
    with np.errstate(invalid="ignore", divide="ignore"):
        stats = sums / counts[:, None]
    stats = stats.reshape(episodes.num_episodes, k, -1)
    counts = counts.reshape(episodes.num_episodes, k)
    unseen = counts == 0
    stats[unseen] = np.broadcast_to(overall, stats.shape)[unseen]
    return stats.reshape(episodes.num_episodes, -1)


def cluster_behaviours(episodes: Episodes, clusters: int | None = None, seed: int = 0) -> np.ndarray:
    """Episodes grouped by k-means on their policy fingerprints, ``(E,)`` int64."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    features = fingerprints(episodes, seed=seed)
    n = len(features)
    if clusters is not None:
        if isinstance(clusters, bool) or not isinstance(clusters, (int, np.integer)) or not 1 <= clusters <= n:
            raise JustAskError(f"behaviour clusters must be a whole number in [1, {n}], got {clusters!r}")
        return KMeans(int(clusters), random_state=seed, n_init=10).fit_predict(features).astype(np.int64)
    best, best_score = np.zeros(n, dtype=np.int64), -np.inf
    for k in range(2, min(12, n - 1) + 1):
        labels = KMeans(k, random_state=seed, n_init=10).fit_predict(features)
        score = silhouette_score(features, labels, sample_size=min(n, 2000), random_state=seed)
        if score > best_score:
            best, best_score = labels.astype(np.int64), score
    return best


def group_means(returns: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The mean return of each episode's behaviour, ``(E,)``."""
    returns = np.asarray(returns, dtype=np.float64)
    groups = _check_groups(groups, len(returns))
    sums = np.bincount(groups, weights=returns)
    counts = np.bincount(groups)
    return (sums / np.maximum(counts, 1))[groups]


def outcome_table(
    labels: np.ndarray, returns: np.ndarray, groups: np.ndarray, requests: np.ndarray
) -> list[list[float]]:
    """What a model asked each of ``requests`` will achieve, predicted from its data:
    ``[[request, lo, mid, hi], ...]`` in return units.

    ``labels``: each episode's request at its first step (what the model was trained to associate
    with that episode); ``returns``: each episode's return; ``groups``: its behaviour. A request
    selects the data's episodes whose labels are nearest it (5% of the data, at least 20), and so
    the behaviours that made them, in their shares; the prediction is that mixture of behaviours'
    returns: ``mid`` its mean, ``lo``/``hi`` its 25th and 75th percentiles."""
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    returns = np.asarray(returns, dtype=np.float64).reshape(-1)
    if labels.shape != returns.shape or len(labels) == 0:
        raise JustAskError(f"outcome table: {len(labels)} labels for {len(returns)} returns")
    groups = _check_groups(groups, len(returns))
    n_groups = int(groups.max()) + 1
    counts = np.bincount(groups, minlength=n_groups).astype(np.float64)
    means = np.bincount(groups, weights=returns, minlength=n_groups) / np.maximum(counts, 1)
    order = np.argsort(returns, kind="stable")
    sorted_returns, sorted_groups = returns[order], groups[order]
    k = int(min(len(labels), max(MIN_NEIGHBOURS, round(NEIGHBOURS_SHARE * len(labels)))))
    table = []
    for r in np.asarray(requests, dtype=np.float64).reshape(-1):
        nearest = np.argsort(np.abs(labels - r), kind="stable")[:k]
        share = np.bincount(groups[nearest], minlength=n_groups) / k  # P(behaviour | request)
        weights = share[sorted_groups] / counts[sorted_groups]  # each episode of behaviour g: share_g / n_g
        cdf = np.cumsum(weights)
        lo, hi = (float(sorted_returns[np.searchsorted(cdf, q * cdf[-1])]) for q in (0.25, 0.75))
        table.append([round(float(r), 4), round(lo, 4), round(float(share @ means), 4), round(hi, 4)])
    return table


def _check_groups(groups: np.ndarray, n: int) -> np.ndarray:
    groups = np.asarray(groups)
    if groups.shape != (n,) or not np.issubdtype(groups.dtype, np.integer) or (n and groups.min() < 0):
        raise JustAskError(f"behaviour groups must be {n} whole numbers >= 0, one per episode")
    return groups.astype(np.int64)
