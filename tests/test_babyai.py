"""BabyAI hindsight language: play data, the captioner, the held-out filter, the text encoder."""

import dataclasses
import socket

import numpy as np
import pytest

from justask import captions as cp
from justask.collection import collect
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.recipes import language as lg
from justask.suites import babyai as ba


def _bot_actions(level: str, seed: int, instruction: str, limit: int = 200) -> list[int]:
    """The BabyAI bot's actions for ``instruction`` in the level reset with ``seed``."""
    from minigrid.utils.baby_ai_bot import BabyAIBot

    env = ba.make_level(level, max_steps=10**6)
    ba.quiet_reset(env, seed)
    ba.set_instruction(env, ba.parse_instruction(instruction), instruction)
    bot, actions, last = BabyAIBot(env), [], None
    for _ in range(limit):
        last = int(bot.replan(last))
        actions.append(last)
        _, _, terminated, _, _ = env.step(last)
        if terminated:
            return actions
    raise AssertionError(f"the bot did not finish '{instruction}'")


def _one_episode(level: str, seed: int, actions: list[int]) -> Episodes:
    """The episode reset with ``seed`` and played with ``actions`` (play task), as ``Episodes``."""
    env = ba.BabyAIEnv(level, task="play", play_length=len(actions))
    obs = [env.reset(seed=seed)[0]] + [env.step(a)[0] for a in actions]
    n = len(actions)
    return Episodes.from_episode_list(
        [
            {
                "observations": np.stack(obs),
                "actions": np.array(actions),
                "rewards": np.zeros(n, np.float32),
                "terminations": np.zeros(n, bool),
                "truncations": np.arange(n) == n - 1,
                "metadata": {"seed": seed},
            }
        ],
        env.observation_space,
        env.action_space,
        env_id=ba.env_id(level),
    )


def _unique_pair(level: str, seed: int) -> tuple[tuple[str, str], tuple[str, str]]:
    """Two movable objects in the room whose colour-type pairs are unique there."""
    env = ba.make_level(level)
    ba.quiet_reset(env, seed)
    pairs = [(o.color, o.type) for o in ba.objects_in(env) if o.type != "door"]
    unique = [p for p in pairs if pairs.count(p) == 1]
    env.close()
    return unique[0], unique[1]


def test_captioner_describes_a_scripted_put_next_once_with_the_right_objects():
    level, seed = "PutNextLocal", 5
    (ca, ta), (cb, tb) = _unique_pair(level, seed)
    instruction = f"put the {ca} {ta} next to the {cb} {tb}"
    actions = _bot_actions(level, seed, instruction)
    events = cp.replay_events(level, seed, actions)
    captions = [e.caption for e in events]
    assert captions.count(f"pick up the {ca} {ta}") == 1
    assert captions.count(instruction) == 1
    put = next(e for e in events if e.caption == instruction)
    pick = next(e for e in events if e.kind == "pickup")
    assert put.step == len(actions) - 1  # the last action is the drop that did it
    assert put.objects == ((ca, ta), (cb, tb))
    assert put.start == pick.start == 0  # the put's segment covers fetching the object (from empty hands)
    segment = cp.segments(_one_episode(level, seed, actions), [events])
    put_segment = segment.episode([m["caption"] for m in segment.metadata].index(instruction))
    assert ba.ACTIONS.index("pickup") in put_segment["actions"].tolist()
    # the approach to the object: it was faced (go to) before it was picked up, in the same segment
    go = [e for e in events if e.caption == f"go to the {ca} {ta}" and e.step < pick.step]
    assert go and go[-1].start == pick.start == 0


def test_captioner_checks_the_replay_against_the_recorded_observations():
    level, seed = "GoToLocal", 3
    actions = [2, 2, 1, 2]
    env = ba.BabyAIEnv(level, task="play")
    obs = [env.reset(seed=seed)[0]] + [env.step(a)[0] for a in actions]
    cp.replay_events(level, seed, actions, np.stack(obs))  # consistent: no error
    with pytest.raises(JustAskError, match="different observation"):
        cp.replay_events(level, seed + 1, actions, np.stack(obs))


def play_episodes(level: str, noise: float, episodes: int, seed: int) -> Episodes:
    """The bot at play (``noise``: its share of random actions), one env per episode."""
    bot = ba.PlayBot(level, noise)
    return collect(
        ba.env_id(level), [(bot, episodes)], num_envs=episodes, seed=seed, progress=False, env_kwargs={"task": "play"}
    )


def test_play_episodes_run_to_the_play_length_without_reward_and_are_captioned():
    level = "GoToLocal"
    data = collect(
        ba.env_id(level),
        [(ba.PlayBot(level, 0.2), 4)],
        num_envs=2,
        seed=11,
        progress=False,
        env_kwargs={"task": "play"},
    )
    assert (data.lengths == ba.PLAY_STEPS[level]).all()
    assert data.rewards.sum() == 0 and not data.terminations.any()
    events = cp.caption_episodes(data)
    assert all(len(e) > 0 for e in events)
    segmented = cp.segments(data, events)
    assert segmented.num_episodes == sum(len(e) for e in events)
    assert segmented.terminations.sum() == segmented.num_episodes  # each segment ends at its event
    first = segmented.episode(0)
    source = data.episode(first["metadata"]["source"])
    start = first["metadata"]["start"]
    np.testing.assert_array_equal(first["actions"], source["actions"][start : start + len(first["actions"])])


def test_play_length_sets_the_play_episode_length_and_only_applies_to_play():
    env = ba.BabyAIEnv("GoToLocal", task="play", play_length=5)
    env.reset(seed=0)
    truncated = [env.step(2)[3] for _ in range(5)]
    assert truncated == [False] * 4 + [True]
    with pytest.raises(JustAskError, match="play_length"):
        ba.BabyAIEnv("GoToLocal", task="mission", play_length=5)


def test_held_out_filter_removes_every_caption_naming_a_held_out_pair():
    events = [
        cp.Event(0, "goto", "go to the red ball", (("red", "ball"),), 0),
        cp.Event(1, "pickup", "pick up the blue key", (("blue", "key"),), 0),
        cp.Event(2, "putnext", "put the blue key next to the red ball", (("blue", "key"), ("red", "ball")), 2),
    ]
    kept = cp.held_out_filter(events, [("red", "ball")])
    assert [e.caption for e in kept] == ["pick up the blue key"]
    level = "GoToLocal"
    data = collect(
        ba.env_id(level), [(ba.PlayBot(level, 0.0), 6)], num_envs=3, seed=0, progress=False, env_kwargs={"task": "play"}
    )
    all_events = [e for es in cp.caption_episodes(data) for e in es]
    assert any(obj in lg.HELD_OUT for e in all_events for obj in e.objects)  # the filter has work to do
    kept = [cp.held_out_filter(es, lg.HELD_OUT) for es in cp.caption_episodes(data)]
    segmented = cp.segments(data, kept)
    for m in segmented.metadata:
        for colour, obj in lg.HELD_OUT:
            assert f"{colour} {obj}" not in m["caption"]


def test_embeddings_are_cached_and_loaded_without_network(monkeypatch):
    from justask.text import TextEncoder

    def no_network(*args, **kwargs):
        raise AssertionError("the text encoder tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    encoder = TextEncoder()
    texts = ["go to the red ball", "pick up the blue key", "go to the red ball"]
    vectors = encoder.encode(texts)
    assert vectors.shape == (3, 384) and encoder.calls == 1 and encoder.encoded == 2
    np.testing.assert_allclose(vectors[0], vectors[2])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    encoder.encode(["pick up the blue key", "go to the red ball"])
    assert encoder.calls == 1  # all cached
    close = float(encoder.encode(["grab the blue key"])[0] @ vectors[1])
    far = float(encoder.encode(["go to the red ball"])[0] @ vectors[1])
    assert close > far  # a paraphrase lands nearer its meaning


def test_bad_instructions_get_clear_errors():
    from justask.text import TextEncoder

    encoder = TextEncoder()
    with pytest.raises(JustAskError, match="empty"):
        encoder.encode(["   "])
    with pytest.raises(JustAskError, match="tokens long"):
        encoder.encode(["go to the red ball " * 80])
    with pytest.raises(JustAskError, match="not an instruction"):
        ba.parse_instruction("dance in the rain")
    with pytest.raises(JustAskError, match="cannot be picked up"):
        ba.parse_instruction("pick up the red door")
    with pytest.raises(JustAskError, match="unknown BabyAI level"):
        ba.env_id("Boss")


def test_an_instruction_about_an_absent_object_runs_and_fails():
    level, seed = "GoToLocal", 2
    env = ba.make_level(level)
    ba.quiet_reset(env, seed)
    present = {(o.color, o.type) for o in ba.objects_in(env)}
    env.close()
    colour, obj = next((c, t) for c in ba.COLOURS for t in ("key", "ball", "box") if (c, t) not in present)
    wrapped = ba.BabyAIEnv(level)
    wrapped.reset(seed=seed, options={"instruction": f"go to the {colour} {obj}"})
    assert wrapped.mission == f"go to the {colour} {obj}"
    total, done, steps = 0.0, False, 0
    while not done:
        _, reward, terminated, truncated, _ = wrapped.step(steps % 3)
        total, done, steps = total + reward, terminated or truncated, steps + 1
    assert total == 0 and truncated


def test_paraphrases_are_worded_differently_but_mean_the_mission():
    for k in range(4):
        p = lg.paraphrase("go to the red ball", k)
        assert p != "go to the red ball" and "ball" in p and "red" in p
        with pytest.raises(JustAskError):
            ba.parse_instruction(p)  # the captioner's grammar never writes it
    assert lg.paraphrase("put the red ball next to the blue key", 0) == "place the red ball beside the blue key"


def test_demo_language_and_ask_in_plain_english(tmp_path, capsys):
    import json

    from justask.cli import main

    out = tmp_path / "demo"
    args = ["demo", "language", "--out", str(out), "--play-episodes", "12", "--train.steps", "30"]
    args += ["--eval-episodes", "4", "--valid-episodes", "4", "--no-peer", "--train.threads", "1"]
    assert main(args) == 0, capsys.readouterr().err
    report = (out / "report.md").read_text()
    assert "| hindsight captions (play), MLP |" in report and "instruction BC" not in report
    assert "Action rule, each model its better one" in report  # argmax or sample, chosen on validation
    assert "## Does the instruction steer?" in report and "## Provenance" in report
    assert (out / "success.png").stat().st_size > 0 and (out / "rollout.gif").stat().st_size > 0
    saved = json.loads((out / "report.json").read_text())
    # the steering control beside each evaluation set: the same episodes, another's instruction, an irrelevant one
    assert [r["set"] for r in saved["steering"]] == list(lg.SET_NAMES)
    for row in saved["steering_per_seed"]:
        assert set(row["per_episode"]) == {"asked", "other", "shuffled", "irrelevant"}
        assert all(len(v["success"]) == len(v["first"]) == row["episodes"] for v in row["per_episode"].values())
        assert row["gap_shuffled"]["mean"] == pytest.approx(row["asked"]["mean"] - row["shuffled"]["mean"], abs=1e-3)
    own = next(r for r in saved["pooled"] if r["set"] == "own missions")
    assert saved["steering"][0]["asked"]["mean"] == pytest.approx(own["success"], abs=1e-3)  # the same episodes
    assert saved["findings"] and saved["seconds"] > 0
    # runs over other seeds merge into one table, the episodes pooled
    other = json.loads(json.dumps(saved).replace('"seed": 0', '"seed": 1'))
    other["seeds"], other["rules"], other["timings"], other["models"] = (
        [1],
        {"1": saved["rules"]["0"]},
        {"1": saved["timings"]["0"]},
        {"1": saved["models"]["0"]},
    )
    merged = lg.merge([saved, other], tmp_path / "merged")
    assert merged["seeds"] == [0, 1] and (tmp_path / "merged" / "success.png").exists()
    assert next(r for r in merged["pooled"] if r["set"] == "own missions")["episodes"] == 8
    assert merged["steering"][0]["episodes"] == 8
    assert "Per seed (success)" in (tmp_path / "merged" / "report.md").read_text()
    gif = tmp_path / "ask.gif"
    capsys.readouterr()
    assert main(["ask", str(out / "seed0" / "hindsight"), "pick up the blue key", "--gif", str(gif)]) == 0
    said = capsys.readouterr().out
    assert "asked 'pick up the blue key'" in said and ("succeeded" in said or "failed" in said)
    assert gif.stat().st_size > 0
    assert main(["ask", str(out / "seed0" / "hindsight"), "  "]) == 2
    assert "justask: error:" in capsys.readouterr().err


def test_language_settings_are_checked_with_the_range_in_the_message(capsys):
    from justask.cli import main

    for bad, match in (
        (dict(level="Boss"), "unknown BabyAI level"),
        (dict(kind="rnn"), "kind"),
        (dict(action_rule="greedy"), "action rule"),
        (dict(noisy_share=0.7, random_share=0.5), "at most 1"),
        (dict(noise=1.5), r"\[0, 1\]"),
        (dict(held_out=(("red", "door"),)), "not a colour"),
        (dict(eval_episodes=0), ">= 1"),
        (dict(seeds=()), "seeds"),
    ):
        with pytest.raises(JustAskError, match=match):
            lg.Config(**bad)
    cfg = lg.Config(held_out=(("red", "ball"),), kind="dt")
    assert cfg.model.kind == "dt" and cfg.model.context_len == 8  # --kind picks the architecture
    assert lg.Config().model.hidden_sizes == (512, 512)
    assert main(["demo", "language", "--level", "Boss"]) == 2
    assert capsys.readouterr().err.count("justask: error:") == 1


def test_presets_reproduce_the_recorded_benchmark_commands():
    presets = lg.PRESETS
    assert {"gotolocal", "pickuploc", "putnextlocal", "goto", "gotolocal_dt", "pickuploc_across_drop"} <= set(presets)
    for name in ("gotolocal", "pickuploc", "putnextlocal"):
        p = presets[name]
        assert (p.seeds, p.play_episodes, p.train.steps, p.eval_episodes) == ((0, 1, 2), 500, 4000, 200)
        assert (p.manner_share, p.ppo_budget, p.train.threads, p.peer, p.kind) == (0.5, 1.0, 1, True, "mlp")
    assert presets["goto"].play_episodes == 120 and presets["goto"].level == "GoTo"
    dt = presets["gotolocal_dt"]
    assert (dt.kind, dt.seeds, dt.eval_episodes, dt.ppo_budget, dt.peer) == ("dt", (0,), 500, 0.0, True)
    assert dt.dt.timestep_embedding and not lg.Config().dt.timestep_embedding  # recorded with it; the default drops it
    pad = presets["pickuploc_across_drop"]
    assert (pad.pickup_across_drop, pad.peer, pad.ppo_budget, pad.level) == (True, False, 0.0, "PickupLoc")


def test_steering_controls_ask_the_same_episodes_another_instruction():
    level = "GoToLocal"
    own = lg.asked_sets(level, 3, lg.HELD_OUT)["own missions"]
    controls = lg.control_sets(own, seed=0, level=level)
    shuffled, other = controls["shuffled"], controls["other"]
    assert shuffled["seeds"] == own["seeds"] and shuffled["instructions"] == own["instructions"]
    assert sorted(shuffled["asked"]) == sorted(own["asked"])
    assert all(a != b for a, b in zip(shuffled["asked"], own["asked"], strict=True))  # a derangement
    assert controls["irrelevant"]["asked"] == [lg.IRRELEVANT] * 3 and controls["irrelevant"]["named"] == [None] * 3
    for seed, mission, told in zip(own["seeds"], own["asked"], other["asked"], strict=True):
        # the same verb, about an object in the same room that the mission does not name
        kind, named = cp.named_objects(level, seed, mission)
        other_kind, other_named = cp.named_objects(level, seed, told)
        assert told.startswith("go to ") and other_kind == kind and other_named and not other_named & named
    paraphrased = lg.control_sets(lg.asked_sets(level, 3, lg.HELD_OUT)["paraphrases"], 0, level)["other"]
    assert paraphrased["named"] == other["named"] and paraphrased["asked"] == [
        lg.paraphrase(t, k) for k, t in enumerate(other["named"])
    ]
    one = lg.steering_summary({"asked": "1100", "other": "0100", "shuffled": "1000", "irrelevant": "0000"})
    assert one["asked"]["mean"] == 0.5 and one["gap_shuffled"]["mean"] == 0.25 and one["gap_irrelevant"]["mean"] == 0.5
    assert one["gap_other"]["mean"] == 0.25
    rec = {"success": "101", "steps": [4, 0, 8], "first": "1-0"}
    summary = lg.steering_summary({"asked": rec, "other": {"success": "001", "steps": [0, 0, 6], "first": "000"}})
    assert summary["asked"]["steps_to_success"] == 6.0 and summary["asked"]["first_is_asked"] == 0.5
    assert summary["other"]["first_is_asked"] == 0.0 and summary["gap_other"]["mean"] == pytest.approx(1 / 3, abs=1e-3)
    rows = [
        {"model": "m", "set": "s", "seed": 0, "per_episode": {"asked": "11", "shuffled": "01"}},
        {"model": "m", "set": "s", "seed": 1, "per_episode": {"asked": "10", "shuffled": "00"}},
    ]
    pooled = lg.pooled_steering(rows)
    assert len(pooled) == 1 and pooled[0]["episodes"] == 4 and pooled[0]["seeds"] == [0, 1]
    assert pooled[0]["gap_shuffled"]["mean"] == 0.5 and "irrelevant" not in pooled[0]
    rows = [{"model": "m", "set": "s", "seed": k, "per_episode": {"asked": rec}} for k in (0, 1)]
    assert lg.pooled_steering(rows)[0]["asked"]["first_is_asked"] == 0.5


def test_the_first_object_is_read_from_a_replay_and_matched_to_the_instruction():
    level = "GoToLocal"
    demos = lg.instruction_data(lg.Config(level=level), 0, 200)  # the bot straight to each mission's object
    hits = []
    for i in range(demos.num_episodes):
        ep = demos.episode(i)
        seed, mission = int(ep["metadata"]["seed"]), ep["metadata"]["caption"]
        kind, named = cp.named_objects(level, seed, mission)
        first = cp.first_object(level, seed, ep["actions"], kind)
        last = cp.replay_events(level, seed, ep["actions"])[-1]
        assert kind == "goto" and last.kind == "goto" and last.objects[0] in named  # it ends facing the object
        hits.append(first in named)
    assert 0 < np.mean(hits) <= 1


def test_asked_episodes_come_back_in_the_sets_order_over_gaps_in_the_seeds():
    from justask.policies import RandomPolicy

    level = "GoToLocal"
    sets = lg.asked_sets(level, 5, lg.HELD_OUT)
    held = sets["held-out compositions"]
    assert len(held["seeds"]) == 5 and all(cp.names_pair(t, lg.HELD_OUT) for t in held["asked"])
    space = ba.BabyAIEnv(level).action_space
    picked = {"seeds": [held["seeds"][3], held["seeds"][0], held["seeds"][4]], "asked": ["a", "b", "c"]}
    picked["instructions"] = {s: held["instructions"][s] for s in picked["seeds"]}
    from unittest import mock

    with mock.patch.object(lg, "asker", lambda *a, **k: RandomPolicy(space)):
        episodes = lg.asked_episodes(None, level, picked, num_envs=2)
    assert [m["seed"] for m in episodes.metadata] == picked["seeds"]


def test_manner_clauses_partition_segments_by_length_and_compose_with_the_task():
    level = "GoToLocal"
    data = collect(
        ba.env_id(level),
        [(ba.PlayBot(level, 0.3), 8)],
        num_envs=4,
        seed=3,
        progress=False,
        env_kwargs={"task": "play"},
    )
    segmented = cp.segments(data, cp.caption_episodes(data))
    manners = cp.with_manner(segmented, share=1.0)
    plain = [m["caption"] for m in segmented.metadata]
    for m, caption in zip(manners.metadata, plain, strict=True):
        if m["manner"] is None:
            assert m["caption"] == caption
        else:
            assert m["caption"] == f"{caption} {m['manner']}"  # the task clause, then the manner
            assert ba.split_manner(m["caption"]) == (caption, m["manner"])
    for kind in {m["kind"] for m in manners.metadata}:
        quick = [
            n
            for m, n in zip(manners.metadata, manners.lengths, strict=True)
            if m["kind"] == kind and m["manner"] == "quickly"
        ]
        slow = [
            n
            for m, n in zip(manners.metadata, manners.lengths, strict=True)
            if m["kind"] == kind and m["manner"] == "after wandering"
        ]
        if quick and slow:
            assert max(quick) < min(slow)
    assert any(m["manner"] == "quickly" for m in manners.metadata)
    none = cp.with_manner(segmented, share=0.0)
    assert [m["caption"] for m in none.metadata] == plain  # share 0: clauses known, none written
    # the env checks the task clause and ignores the manner
    env = ba.BabyAIEnv(level)
    env.reset(seed=0, options={"instruction": "go to the red ball quickly"})
    assert type(env.level_env.instrs).__name__ == "GoToInstr"
    with pytest.raises(JustAskError, match="share"):
        cp.with_manner(segmented, share=1.5)


def test_the_ppo_peer_sees_the_instruction_embedding_and_never_a_held_out_mission():
    from justask.peers.sb3_language import InstructedSB3Policy, InstructionInObservation, train_instruction_ppo
    from justask.text import shared_encoder

    env = InstructionInObservation("GoToLocal", lg.HELD_OUT)
    for i in range(60):
        obs, info = env.reset(seed=7 if i == 0 else None)
        assert not cp.names_pair(info["mission"], lg.HELD_OUT)
        np.testing.assert_allclose(obs[ba.OBS_DIM :], shared_encoder().encode([info["mission"]])[0])
    assert env.skipped > 0  # some drawn missions named a held-out pair
    model = train_instruction_ppo("GoToLocal", 64, seed=0, held_out=lg.HELD_OUT)
    sets = lg.asked_sets("GoToLocal", 4, lg.HELD_OUT)
    result = lg.evaluate_asked(model, "GoToLocal", sets["paraphrases"])
    assert result["episodes"] == 4 and 0.0 <= result["success"] <= 1.0
    sampled = [lg.evaluate_asked(model, "GoToLocal", sets["own missions"], action_rule="sample", seed=3) for _ in "ab"]
    assert sampled[0] == sampled[1] and sampled[0]["action_rule"] == "sample"  # seeded draws
    cfg = lg.Config(valid_episodes=6)
    rule, scores = lg.choose_action_rule(model, cfg)
    assert set(scores) == {"argmax", "sample"} and scores[rule] == max(scores.values())
    assert lg.choose_action_rule(model, lg.Config(action_rule="sample")) == ("sample", {})
    for instructions in ({5: "go to the red ball"}, lambda seeds: ["go to the red ball"] * len(seeds)):
        policy = InstructedSB3Policy(model, instructions)
        policy.reset(np.array([0]), np.array([5]))
        assert policy.act(np.zeros((1, ba.OBS_DIM), np.uint8), np.array([0])).shape == (1,)
    with pytest.raises(JustAskError, match="2 sentences for 1"):
        InstructedSB3Policy(model, lambda seeds: ["a", "b"]).reset(np.array([0]), np.array([5]))


def test_goto_segments_can_start_after_the_previous_event():
    data = play_episodes("GoToLocal", noise=0.0, episodes=4, seed=1)
    events = cp.caption_episodes(data)
    plain = cp.segments(data, events)
    short = cp.segments(data, events, goto_from_event=True)
    flat = [e for es in events for e in es]
    assert sum(e.kind == "goto" and e.after_event > e.start for e in flat) > 0  # some goto follows another event
    for e, m_plain, m_short in zip(flat, plain.metadata, short.metadata, strict=True):
        assert m_plain["start"] == e.start
        if e.kind == "goto":
            assert m_short["start"] == e.after_event >= e.start
        else:
            assert m_short["start"] == e.start
    for es in events:  # after_event is the step after the previous event, or the last change if later
        for prev, e in zip(es, es[1:], strict=False):
            if prev.step < e.step:
                assert e.after_event == max(e.start, prev.step + 1)


def test_location_clauses_parse_to_the_levels_own_descriptions():
    level = "PickupLoc"
    seeds = range(3_000_000, 3_000_040)
    with_location = 0
    for seed, mission in zip(seeds, ba.env_missions(level, seeds), strict=True):
        env = ba.make_level(level)
        ba.quiet_reset(env, seed)
        own = {(o.color, o.type) for o in env.instrs.desc.find_matching_objs(env)[0]}
        assert cp.named_objects(level, seed, mission) == ("pickup", own)  # the verifier's own matching
        with_location += any(phrase in mission for phrase in ba.LOCATIONS)
    assert with_location > 5
    instr = ba.parse_instruction("put the red ball behind you next to a key in front of you")
    assert (instr.desc_move.loc, instr.desc_fixed.loc) == ("behind", "front")


def test_guidance_weights_are_tried_only_for_a_model_trained_with_condition_dropout():
    with pytest.raises(JustAskError, match="condition dropout"):
        lg.Config(guidance=(1.0, 2.0))
    for bad in ((), ("x",), (-1.0,), (float("nan"),)):
        with pytest.raises(JustAskError, match="guidance weights"):
            lg.Config(guidance=bad)
    cfg = lg.Config(guidance=(1, 2), mlp=lg.ModelConfig(kind="mlp", condition_dropout=0.2))
    assert cfg.guidance == (1.0, 2.0)
    from tests.test_text_steers import text_only_episodes

    texts = text_only_episodes(2)
    guided = lg.PolicyModel.for_episodes(texts, cfg.mlp, condition="caption")
    assert lg.rules_for(guided, cfg) == ["argmax", "argmax guided 2", "sample", "sample guided 2"]
    plain = lg.PolicyModel.for_episodes(texts, lg.ModelConfig(kind="mlp"), condition="caption")
    assert lg.rules_for(plain, cfg) == ["argmax", "sample"]  # no "asked nothing" policy to guide with
    assert [lg.acting(r) for r in ("sample", "argmax guided 2")] == [("sample", 1.0), ("argmax", 2.0)]


def test_a_done_step_ends_every_segment_in_its_final_state():
    data = play_episodes("GoToLocal", noise=0.0, episodes=2, seed=3)
    segmented = cp.segments(data, cp.caption_episodes(data))
    done = cp.with_done_step(segmented)
    assert done.num_episodes == segmented.num_episodes
    assert (done.lengths == segmented.lengths + 1).all()
    for i in (0, segmented.num_episodes - 1):
        before, after = segmented.episode(i), done.episode(i)
        assert after["actions"][-1] == ba.ACTIONS.index("done")
        assert (after["actions"][:-1] == before["actions"]).all()
        assert (after["observations"][-1] == after["observations"][-2]).all()  # 'done' leaves the world as it is
        assert after["rewards"].sum() == 1 and after["rewards"][-1] == 1 and after["terminations"][-1]
        assert after["metadata"]["caption"] == before["metadata"]["caption"]
    captioned = cp.with_captions(done)  # the caption covers the done step too
    assert len(captioned.conditions[cp.CAPTION]) == done.num_steps


def test_direct_segments_start_where_the_approach_became_direct():
    # ten steps turning on the spot four cells away, then three steps straight to face the target
    positions = [(1, 1)] * 10 + [(2, 1), (3, 1), (4, 1)]
    assert cp.direct_start(positions, (5, 1), 0, 12) == 4  # steps left <= 1.5 x 4 + 3 from step 4 on
    assert cp.direct_start(positions, (5, 1), 6, 12) == 6  # never before the segment's own start
    data = play_episodes("GoToLocal", noise=0.25, episodes=4, seed=2)
    events = cp.caption_episodes(data)
    direct = cp.segments(data, events, direct=True)
    flat = [e for es in events for e in es]
    assert sum(e.direct_from > e.start for e in flat) > 0  # some approaches began with wandering
    for e, m in zip(flat, direct.metadata, strict=True):
        assert m["start"] == (e.start if e.kind == "putnext" else e.direct_from) and e.start <= e.direct_from <= e.step


def test_steps_to_face_counts_turns_and_moves_around_what_blocks():
    env = ba.make_level("GoToLocal")
    ba.quiet_reset(env, 0)
    for x in range(1, env.grid.width - 1):  # an empty room but for one ball at (5, 3)
        for y in range(1, env.grid.height - 1):
            env.grid.set(x, y, None)
    from minigrid.core.world_object import Ball, Box

    env.grid.set(5, 3, Ball("red"))
    to_go = ba.steps_to_face(env, (5, 3))
    assert to_go[4, 3, 0] == 0  # left of it, facing right: already facing it
    assert to_go[4, 3, 2] == 2  # facing away: two turns
    assert to_go[2, 3, 0] == 2  # two cells straight on
    assert to_go[5, 3].max() == -1  # its own cell is not a place to stand
    env.grid.set(3, 3, Box("blue"))  # a box in the way: around it
    # turn, move, turn, three moves (to stand above it), turn to face down
    assert ba.steps_to_face(env, (5, 3))[2, 3, 0] == 7
    env.close()


def test_optimal_segments_keep_only_the_shortest_way_to_the_object():
    to_go = np.full((8, 8, 4), -1)
    to_go[1, 1, 0], to_go[2, 1, 0], to_go[3, 1, 0] = 3, 2, 1  # a straight corridor to face (5, 1)
    to_go[1, 1, 1] = 4
    # a turn away and back, then three moves straight: from the turn back on, a shortest way
    states = [(1, 1, 0), (1, 1, 1), (1, 1, 0), (2, 1, 0), (3, 1, 0)]
    assert cp.optimal_start(states, to_go, 0, 4, 0) == 1
    assert cp.optimal_start(states, to_go, 3, 4, 0) == 3  # never before the segment's own start
    assert cp.optimal_start(states, to_go, 0, 4, 0, slack=2) == 0
    data = play_episodes("GoToLocal", noise=0.25, episodes=4, seed=2)
    events = cp.caption_episodes(data)
    optimal = cp.segments(data, events, goto_from_event=True, optimal=True)
    flat = [e for es in events for e in es]
    assert any(e.optimal_from > e.after_event for e in flat if e.kind == "goto")  # some went the long way
    for e, m in zip(flat, optimal.metadata, strict=True):
        begin = e.after_event if e.kind == "goto" else e.start
        if e.kind != "putnext":
            assert m["start"] == max(begin, e.optimal_from) and e.optimal_from <= e.step


def test_location_captions_are_true_by_babyais_verifier():
    """Every "pick up ... on your left / in front of you / ..." caption, given as the mission where
    its segment starts and the segment's actions replayed, is what BabyAI's verifier calls done."""
    level = "PickupLoc"
    data = play_episodes(level, noise=0.0, episodes=6, seed=4)
    events = cp.caption_episodes(data)
    segmented = cp.with_location(cp.segments(data, events), share=1.0, seed=0)
    located = [(i, m) for i, m in enumerate(segmented.metadata) if m["location"]]
    assert len(located) >= 5
    assert all(m["caption"] in m["located"] for _, m in located)
    assert all(not m["located"] or m["kind"] == "pickup" for m in segmented.metadata)
    opposite = {"on your left": "on your right", "on your right": "on your left"}
    opposite.update({"in front of you": "behind you", "behind you": "in front of you"})

    def verified(i: int, m: dict, caption: str) -> list[float]:
        seed, actions = segmented.episode(i)["metadata"]["seed"], data.episode(m["source"])["actions"]
        env = ba.make_level(level, max_steps=10**6)
        ba.quiet_reset(env, seed)
        for a in actions[: m["start"]]:
            env.step(int(a))
        ba.set_instruction(env, ba.parse_instruction(caption), caption)
        rewards = [env.step(int(a))[1] for a in actions[m["start"] : m["start"] + len(segmented.episode(i)["actions"])]]
        env.close()
        return rewards

    for i, m in located:
        rewards = verified(i, m, m["caption"])
        assert rewards[-1] > 0 and not any(rewards[:-1]), (m["caption"], rewards)  # the verifier: done at the pickup
        phrase = next(p for p in opposite if m["caption"].endswith(p))
        wrong = m["caption"][: -len(phrase)] + opposite[phrase]
        assert not any(verified(i, m, wrong.replace(" the ", " a ", 1))), wrong  # the other side: never done


def test_rare_events_can_be_repeated_in_the_training_data():
    data = play_episodes("PickupLoc", noise=0.0, episodes=3, seed=1)
    segmented = cp.segments(data, cp.caption_episodes(data))
    kinds = [m["kind"] for m in segmented.metadata]
    tripled = cp.with_rare_events_repeated(segmented, 3)
    rare = sum(k != "goto" for k in kinds)
    assert rare > 0 and tripled.num_episodes == segmented.num_episodes + 2 * rare
    assert sum(m["kind"] == "goto" for m in tripled.metadata) == kinds.count("goto")
    assert cp.with_rare_events_repeated(segmented, 1) is segmented
    with pytest.raises(JustAskError, match="whole number"):
        cp.with_rare_events_repeated(segmented, 0)


def test_pickup_segments_can_reach_back_over_a_drop():
    level = "PickupLoc"
    data = collect(
        ba.env_id(level), [(ba.PlayBot(level, 0.0), 8)], num_envs=4, seed=2, progress=False, env_kwargs={"task": "play"}
    )
    events = cp.caption_episodes(data)
    pickups = [e for es in events for e in es if e.kind == "pickup"]
    assert all(0 <= e.before_drop <= e.start for e in pickups)
    across = [e for e in pickups if e.before_drop < e.start]
    assert across  # some pickup followed a drop
    plain = cp.segments(data, events)
    reaching = cp.segments(data, events, pickup_across_drop=True)
    drop = ba.ACTIONS.index("drop")
    kinds = [m["kind"] for m in plain.metadata]
    for i, kind in enumerate(kinds):
        a, b = plain.episode(i), reaching.episode(i)
        if kind != "pickup":
            assert a["metadata"]["start"] == b["metadata"]["start"]
            continue
        assert b["metadata"]["start"] <= a["metadata"]["start"]
        np.testing.assert_array_equal(b["actions"][-len(a["actions"]) :], a["actions"])
    assert any(drop in reaching.episode(i)["actions"].tolist() for i, k in enumerate(kinds) if k == "pickup")


def test_the_wandering_clause_marks_every_segment_that_was_not_direct_all_the_way():
    data = play_episodes("GoToLocal", noise=0.25, episodes=4, seed=2)
    events = cp.caption_episodes(data)
    segmented = cp.segments(data, events, goto_from_event=True)
    clauses = cp.with_wandering_clause(segmented)
    flat = [e for es in events for e in es]
    wandered = 0
    for e, before, after in zip(flat, segmented.metadata, clauses.metadata, strict=True):
        direct = e.direct_from <= before["start"]  # from its own start on, every step was direct
        assert before["direct"] == direct
        if direct:
            assert after["caption"] == before["caption"] and after["manner"] is None
        else:
            wandered += 1
            assert after["caption"] == f"{before['caption']} after wandering"
            assert ba.split_manner(after["caption"]) == (before["caption"], "after wandering")
    assert 0 < wandered < len(flat)  # the noisy bot's play holds both
    bare = dataclasses.replace(segmented, metadata=[{"caption": m["caption"]} for m in segmented.metadata])
    with pytest.raises(JustAskError, match="direct"):
        cp.with_wandering_clause(bare)
    with pytest.raises(JustAskError, match="one way of writing manner"):
        lg.Config(manner_share=0.5, wandering_clause=True)
