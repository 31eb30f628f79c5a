"""``justask serve``: the console's API on a real server (uvicorn on loopback) — listing, asking,
streaming, errors, bounds, replays. The browser test is tests/test_console_browser.py."""

import concurrent.futures
import resource

import pytest
from console_helpers import events, get, make_runs, of_type, post

from justask.cli import main
from justask.console import running


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console")
    make_runs(folder)
    return folder


@pytest.fixture(scope="module")
def base(root):
    with running([root]) as url:
        yield url


def test_the_run_list_shows_each_run_and_a_broken_one_with_its_error(base):
    status, data = get(base, "api/runs")
    assert status == 200
    runs = {r["id"]: r for r in data["runs"]}
    assert set(runs) == {"lunar/mlp", "maze/goal", "babyai/text", "broken"}
    lunar = runs["lunar/mlp"]["summary"]
    assert lunar["model"] == "mlp" and lunar["env"] == "LunarLander-v3"
    assert lunar["condition"]["keyword"] == "return_to_go" and lunar["trained"]["steps"] == 10
    assert runs["babyai/text"]["summary"]["condition"]["text"] is True
    assert "is not valid JSON" in runs["broken"]["error"]
    status, detail = get(base, "api/run?id=broken")
    assert status == 200 and "is not valid JSON" in detail["error"]
    status, data = get(base, "api/datasets")
    assert [d["id"] for d in data["datasets"]] == ["babyai/captioned", "lunar/dataset", "maze/dataset"]


def test_asking_a_return_streams_frames_then_every_episode_with_running_stats(base):
    status, started = post(base, "api/ask", {"run": "lunar/mlp", "request": "-50", "episodes": 6, "seed": 5})
    assert status == 200, started
    evs = events(base, started["job"])
    asked = of_type(evs, "asked")[0]
    assert asked["env"] == "LunarLander-v3" and asked["asked"] == pytest.approx(-50, abs=0.01)
    frames = of_type(evs, "frame")
    assert frames and frames[0]["image"].startswith("data:image/jpeg;base64,") and frames[0]["t"] == 0
    episodes = of_type(evs, "episode")
    assert sorted(e["index"] for e in episodes) == list(range(6))
    assert [e["stats"]["n"] for e in episodes] == list(range(1, 7))
    done = of_type(evs, "done")[0]
    assert done["n"] == 6 and done["ci95"][0] <= done["mean"] <= done["ci95"][1] and done["stopped"] is None
    assert done["mean"] == pytest.approx(sum(e["return"] for e in episodes) / 6, abs=1e-2)
    # the first episode's frames follow it to its end, and its return is the one reported
    first = next(e for e in episodes if e["index"] == 0)
    assert frames[-1]["t"] == first["length"] and frames[-1]["ret"] == pytest.approx(first["return"], abs=0.01)
    # the asked-vs-achieved point joins the run's page
    _, detail = get(base, "api/run?id=lunar/mlp")
    assert any(p["asked"] == pytest.approx(-50, abs=0.01) and p["n"] == 6 for p in detail["points"])
    assert detail["control"]["kind"] == "number" and len(detail["control"]["range"]) == 2


def test_the_same_ask_with_the_same_seed_gives_the_same_episodes(base):
    body = {"run": "lunar/mlp", "request": "0", "episodes": 3, "seed": 11, "action_rule": "sample"}
    runs = [of_type(events(base, post(base, "api/ask", body)[1]["job"]), "episode") for _ in range(2)]
    assert sorted((e["index"], e["return"]) for e in runs[0]) == sorted((e["index"], e["return"]) for e in runs[1])


def test_a_sentence_asked_of_a_babyai_model_is_posed_and_judged_by_the_env(base):
    status, started = post(base, "api/ask", {"run": "babyai/text", "request": "go to the red ball", "episodes": 3})
    assert status == 200, started
    evs = events(base, started["job"])
    assert of_type(evs, "asked")[0]["judged"] is True
    assert all(e["success"] in (True, False) for e in of_type(evs, "episode"))
    done = of_type(evs, "done")[0]
    assert done["n"] == 3 and 0 <= done["success"] <= 1 and len(done["success_ci95"]) == 2
    assert of_type(evs, "frame")
    # a sentence outside the level's grammar runs, but nothing checks it, and the page says so
    status, started = post(base, "api/ask", {"run": "babyai/text", "request": "dance a little", "episodes": 1})
    assert status == 200 and any("nothing checks it" in n for n in started["notes"])
    evs = events(base, started["job"])
    assert of_type(evs, "asked")[0]["judged"] is False and of_type(evs, "episode")[0]["success"] is None


def test_a_goal_is_said_on_the_maze_map_and_checked_by_the_env_before_it_runs(base):
    _, detail = get(base, "api/run?id=maze/goal")
    control = detail["control"]
    assert control["kind"] == "goal" and control["posed"] is True
    assert control["map"]["image"].startswith("data:image/jpeg;base64,") and control["map"]["extent"] == [-4, 4, 4, -4]
    status, started = post(base, "api/ask", {"run": "maze/goal", "request": "2.5,-2.5", "episodes": 2})
    assert status == 200, started
    evs = events(base, started["job"])
    assert of_type(evs, "asked")[0]["asked"] == [2.5, -2.5] and of_type(evs, "asked")[0]["judged"] is True
    assert of_type(evs, "done")[0]["n"] == 2
    status, data = post(base, "api/ask", {"run": "maze/goal", "request": "100,100"})
    assert status == 400 and "is not in a free cell of the maze" in data["error"]
    # asked nothing, each episode is asked the env's own goal
    status, started = post(base, "api/ask", {"run": "maze/goal", "request": "", "episodes": 2})
    assert status == 200 and "each episode is asked the env's own request" in started["notes"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"run": "lunar/mlp", "request": "land softly"}, "is not a request for 'return_to_go'"),
        ({"run": "lunar/mlp", "quantile": 2.0}, "a quantile is a number in [0, 1]"),
        ({"run": "lunar/mlp", "episodes": 0}, "episodes: Input should be greater than or equal to 1"),
        ({"run": "lunar/mlp", "episodes": 5000}, "episodes: Input should be less than or equal to 200"),
        ({"run": "lunar/mlp", "action_rule": "best"}, "unknown action rule 'best'"),
        ({"run": "lunar/mlp", "guidance": 2.0}, "guidance needs a model trained with condition dropout"),
        ({"run": "babyai/text", "request": "  "}, "no default request"),
        ({"run": "broken"}, "is not valid JSON"),
        ({"run": "../../etc"}, "no run '../../etc' under the console's folders"),
        ({"run": "lunar/mlp", "path": "/etc/passwd"}, "path: Extra inputs are not permitted"),
    ],
)
def test_a_bad_ask_gets_the_clis_one_line_error_and_the_server_keeps_serving(base, body, message):
    status, data = post(base, "api/ask", body)
    assert status == 400 and data["error"].startswith("justask: error: ") and message in data["error"]
    assert "\n" not in data["error"]
    assert get(base, "api/runs")[0] == 200


def test_nothing_outside_the_roots_is_served(base):
    for path in ("static/../app.py", "static/index.html", "static/app.py", "static/%2e%2e%2fapp.py", "api/run?id=/etc"):
        status, data = get(base, path)
        assert status in (400, 404) and "import" not in str(data)  # a one-line refusal, never the file
    assert get(base, "api/dataset?id=../lunar/dataset")[0] == 400


def test_what_will_i_get_before_acting(base):
    status, p = get(base, "api/predict?id=lunar/mlp&quantile=0.5")
    assert status == 200 and "quantile 0.5 of the data's requests" in p["notes"][0]
    assert 0 < p["data_share_at_or_above"] <= 1 and len(p["predicted"]) == 3
    status, p = get(base, "api/predict?id=lunar/mlp&request=1000")
    assert p["mapped_to"] is not None and any("above the" in n for n in p["notes"])


def test_a_dataset_episode_is_listed_filtered_and_played_back_as_recorded(base):
    status, d = get(base, "api/dataset?id=lunar/dataset")
    assert status == 200 and d["episodes"] == 4 and len(d["rows"]) == 4 and d["env"] == "LunarLander-v3"
    worst = min(d["rows"], key=lambda r: r["return"])
    _, some = get(base, f"api/dataset?id=lunar/dataset&max_return={worst['return']}")
    assert [r["index"] for r in some["rows"]] == [worst["index"]]
    status, started = post(base, "api/replay", {"dataset": "lunar/dataset", "episode": worst["index"]})
    evs = events(base, started["job"])
    done = of_type(evs, "done")[0]
    assert done["diverged_at"] is None and done["mean"] == pytest.approx(worst["return"], abs=1e-2)
    assert of_type(evs, "frame")[-1]["t"] == worst["length"]
    status, data = post(base, "api/replay", {"dataset": "lunar/dataset", "episode": 99})
    assert status == 400 and "has 4 episodes" in data["error"]


def test_a_captioned_dataset_shows_each_episodes_caption(base):
    status, d = get(base, "api/dataset?id=babyai/captioned")
    assert status == 200 and d["conditions"] == ["caption"] and d["rows"]
    captions = [r["conditions"]["caption"] for r in d["rows"]]
    assert all(isinstance(c, str) and c.split()[0] in ("go", "pick", "open", "put") for c in captions)


def test_a_flood_of_asks_is_refused_with_a_clear_message_and_a_normal_ask_is_served_after(root):
    """20 concurrent asks against a queue of 4: each completes or is refused in one line; memory
    stays bounded; then a normal ask still works."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with running([root]) as url:
        body = {"run": "lunar/mlp", "request": "0", "episodes": 2}
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda _: post(url, "api/ask", body), range(20)))
        accepted = [a for s, a in answers if s == 200]
        refused = [a for s, a in answers if s != 200]
        assert 1 <= len(accepted) <= 6 and len(accepted) + len(refused) == 20
        assert all(s == 503 for s, a in answers if s != 200)
        assert all(a["error"].startswith("justask: error: the console is busy") for a in refused)
        for a in accepted:
            assert of_type(events(url, a["job"]), "done")[0]["n"] == 2
        status, started = post(url, "api/ask", body)
        assert status == 200 and of_type(events(url, started["job"]), "done")[0]["n"] == 2
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mib < 500


def test_serve_refuses_a_missing_folder_and_a_bad_port(capsys, tmp_path):
    assert main(["serve", str(tmp_path / "nowhere")]) == 2
    assert "justask: error:" in capsys.readouterr().err
    assert main(["serve", str(tmp_path), "--port", "70000"]) == 2
    assert "--port must be in [0, 65535]" in capsys.readouterr().err
