"""Your own problem: an env justask does not ship, your own dataset, your own condition.

The seed's recipe: record behaviour on a problem, describe in hindsight what each piece of it
achieved, fit p(action | state, description), then ask for the description you want. Here:
Acrobot-v1 (a Gymnasium env justask knows nothing about), a Minari dataset recorded with Minari's
own ``DataCollector`` from a few policies of mixed skill, and a condition justask has never
seen — *the highest tip height the rest of the episode reaches* — written as a ten-line relabeler.

    python examples/own_problem.py            # about a minute on 2 CPU cores

needs ``pip install "minari[create]"`` for the ``DataCollector`` (``./dev.sh test`` installs it).
The same model is then trained, asked and evaluated from the command line (printed at the end).
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

from justask import ConditionKind, Episodes, ModelConfig, TrainConfig, ask, evaluate, load_minari, save_minari, train

# ---- 1. your data: any policies, recorded by Minari's DataCollector ---------------------------


def pump(observation: np.ndarray) -> int:
    """Torque along the second joint's swing (a crude energy pump): reaches the line in ~80 steps."""
    return 2 if observation[5] > 0 else 0


def record(dataset_id: str, episodes_per_noise: int) -> None:
    from minari import DataCollector

    env = DataCollector(gym.make("Acrobot-v1"))
    rng = np.random.default_rng(0)
    seed = 0
    for noise in (0.0, 0.3, 0.6, 1.0):  # from a skilled pump to random flailing
        for _ in range(episodes_per_noise):
            observation, _ = env.reset(seed=seed)
            seed += 1
            done = False
            while not done:
                action = pump(observation) if rng.random() >= noise else int(rng.integers(3))
                observation, _, terminated, truncated, _ = env.step(action)
                done = terminated or truncated
    env.create_dataset(dataset_id, algorithm_name="noisy pump", description="Acrobot, pump with noise 0-1")
    env.close()


# ---- 2. your condition: what the rest of each episode achieved --------------------------------
HEIGHT = ConditionKind("height", keyword="height", best_percentile=95.0)  # ask(model, height=...)


def tip_height(observations: np.ndarray) -> np.ndarray:
    """Acrobot's tip height from its observation (cos/sin of both joint angles)."""
    cos1, sin1, cos2, sin2 = observations[:, 0], observations[:, 1], observations[:, 2], observations[:, 3]
    return -cos1 - (cos1 * cos2 - sin1 * sin2)


def height_reached(episodes: Episodes) -> Episodes:
    """Each step's condition: the highest tip height the episode reaches from there on."""
    after = tip_height(episodes.observations[np.arange(episodes.num_steps) + episodes.episode_of_step() + 1])
    column = np.empty(episodes.num_steps)
    for start, length in zip(episodes.episode_starts, episodes.lengths, strict=True):
        column[start : start + length] = np.maximum.accumulate(after[start : start + length][::-1])[::-1]
    return episodes.with_condition("height", column[:, None], **HEIGHT.describe())


# ---- 3. train, ask, evaluate --------------------------------------------------------------------
def main(episodes_per_noise: int = 25, steps: int = 3000, eval_episodes: int = 100, out: str = "runs/acrobot") -> dict:
    record("acrobot/noisy-pump-v0", episodes_per_noise)
    episodes = height_reached(load_minari("acrobot/noisy-pump-v0"))
    model = train(
        episodes, ModelConfig("mlp"), TrainConfig(steps=steps, batch_size=256, progress=False), out, condition="height"
    )
    results = {}
    for asked in (-0.5, 1.2):  # flail near the bottom, or swing the tip over the line (1.0)
        result = evaluate("Acrobot-v1", ask(model, height=asked), episodes=eval_episodes, progress=False)
        results[asked] = result
        print(
            f"asked height {asked:+.1f}: return {result.mean:.1f} {result.ci95}, mean length {result.lengths.mean():.0f}"
        )
    # the relabeled dataset keeps its condition column: the CLI trains on it by name
    saved = save_minari(episodes, f"./data/{out.rsplit('/', 1)[-1]}-height", overwrite=True)
    print(
        f"\nthe same from the command line:\n  justask train --dataset {saved} --condition height --model.kind mlp --run runs/acrobot-cli"
    )
    print("  justask eval runs/acrobot-cli --request 1.2\n  justask ask runs/acrobot-cli 1.2")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes-per-noise", type=int, default=25)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--eval-episodes", type=int, default=100)
    args = parser.parse_args()
    main(args.episodes_per_noise, args.steps, args.eval_episodes)
