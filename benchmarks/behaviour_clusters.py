"""How well policy fingerprints recover which policy made each episode, on the asking benchmark's data.

    python benchmarks/behaviour_clusters.py [--run runs/benchmarks/asking]

For every task and seed's Minari dataset: the episodes clustered by ``justask.behaviours``
(the number of clusters chosen by silhouette, and with the true number, 7) against the recorded
policy, as the adjusted Rand index (1: the policies exactly; 0: chance), and how far each
cluster's mean return is from its episodes' own policies' means. Writes
``benchmarks/results/behaviour_clusters.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/benchmarks/asking")
    parser.add_argument("--out", default=str(ROOT / "results" / "behaviour_clusters"))
    args = parser.parse_args(argv)

    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    from justask.behaviours import behaviour_groups, cluster_behaviours, group_means
    from justask.minari_io import load_minari
    from justask.report import provenance, provenance_markdown, write_json, write_text

    rows = []
    for dataset in sorted(Path(args.run).glob("*/seed*/dataset")):
        episodes = load_minari(dataset)
        truth = behaviour_groups(episodes)
        returns = episodes.returns()
        for clusters in (None, int(truth.max()) + 1):
            found = cluster_behaviours(episodes, clusters=clusters, seed=0)
            error = np.abs(group_means(returns, found) - group_means(returns, truth))
            rows.append(
                {
                    "task": dataset.parent.parent.name,
                    "seed": int(dataset.parent.name.removeprefix("seed")),
                    "clusters": int(found.max()) + 1,
                    "chosen_by": "silhouette" if clusters is None else "the true number",
                    "adjusted_rand_index": round(float(adjusted_rand_score(truth, found)), 3),
                    "mean_abs_label_error": round(float(error.mean()), 1),
                }
            )
            print(rows[-1], flush=True)
    prov = provenance(vars(args))
    write_json(Path(args.out + ".json"), {"rows": rows, "provenance": prov})
    lines = [
        "# Policy fingerprints against the recorded policy",
        "",
        "Adjusted Rand index of the fingerprint clusters against the policy that made each episode (1: the "
        "policies exactly, 0: chance), and the mean absolute difference between the expected-return label the "
        "clusters would give an episode and the one its recorded policy gives.",
        "",
        "| task | seed | clusters | chosen by | adjusted Rand index | mean label error |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['seed']} | {r['clusters']} | {r['chosen_by']} | {r['adjusted_rand_index']:.2f} | "
            f"{r['mean_abs_label_error']:.1f} |"
        )
    write_text(Path(args.out + ".md"), "\n".join(lines) + "\n\n" + provenance_markdown(prov))
    return 0


if __name__ == "__main__":
    sys.exit(main())
