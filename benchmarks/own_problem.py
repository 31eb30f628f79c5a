"""Record examples/own_problem.py's result: Acrobot asked for two heights (benchmarks/results/own_problem.*).

python benchmarks/own_problem.py     # about a minute on 2 CPU cores (needs minari[create])
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))


def main() -> None:
    from justask.checkpoint import write_json
    from justask.report import provenance, provenance_markdown, write_text

    spec = importlib.util.spec_from_file_location("own_problem", ROOT.parent / "examples" / "own_problem.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["MINARI_DATASETS_PATH"] = str(Path(scratch) / "minari")
        cwd = os.getcwd()
        os.chdir(scratch)
        try:
            results = example.main()
        finally:
            os.chdir(cwd)
    rows = [
        {"asked_height": asked, **r.to_json(), "mean_length": round(float(r.lengths.mean()), 1)}
        for asked, r in results.items()
    ]
    lines = [
        "# Your own problem: Acrobot-v1 asked for a tip height",
        "",
        "examples/own_problem.py on its defaults: 100 episodes of a noisy energy pump (noise 0, 0.3, 0.6, 1), "
        "recorded by Minari's DataCollector; the condition is the highest tip height the rest of each episode "
        "reaches; an RvS MLP, 3000 steps; 100 evaluation episodes per ask (seeds from 1,000,000), argmax.",
        "",
        "| asked height | mean return [95% CI] | mean length |",
        "|---:|---|---:|",
        *[
            f"| {r['asked_height']:+.1f} | {r['mean']:.1f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}] | {r['mean_length']:.0f} |"
            for r in rows
        ],
    ]
    config = {"episodes_per_noise": 25, "steps": 3000, "eval_episodes": 100}
    out = ROOT / "results"
    prov = provenance(config, seeds=[0], command="python benchmarks/own_problem.py")
    write_json(out / "own_problem.json", {"rows": rows, "provenance": prov})
    write_text(out / "own_problem.md", "\n".join(lines) + "\n\n" + provenance_markdown(prov))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
