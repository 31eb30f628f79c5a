"""The console in a real browser: Playwright driving Debian's chromium (``.ci/run`` installs it with
apt; no browser is ever downloaded). Asserts on what the page shows, not on status codes."""

import os

import pytest
from console_helpers import make_runs

from justask.console import running
from justask.console.browser import chromium_path, launch

CHROMIUM = chromium_path()

if CHROMIUM is None:
    if os.environ.get("JUSTASK_BROWSER_TESTS") == "require":  # CI: a missing browser is a failure
        raise RuntimeError("the browser tests need Debian's chromium (apt-get install chromium)")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console-browser")
    make_runs(folder)
    with running([folder]) as url:
        yield url


@pytest.fixture(scope="module")
def page(console, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        browser = launch(pw, profile)
        page = browser.new_page()
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def frames_at_least(panel, n: int) -> str:
    return f"document.querySelector('{panel} img.frame').dataset.frames >= {n}"


def test_run_list_then_ask_a_return_watch_it_and_see_the_stats(console, page, tmp_path):
    page.goto(console)
    page.wait_for_selector("table#runs")
    listing = page.inner_text("table#runs")
    assert "lunar/mlp" in listing and "babyai/text" in listing and "LunarLander-v3" in listing
    assert "justask: error:" in listing and "is not valid JSON" in listing  # the broken folder, in one line
    page.click("text=lunar/mlp")
    page.wait_for_selector("#ask-A .value")
    assert "mlp on LunarLander-v3" in page.inner_text("#run-info")
    page.wait_for_function("document.querySelector('#ask-A .predicted').textContent.includes('what you will get')")
    page.fill("#ask-A .value", "-40")
    page.fill("#ask-A .episodes", "6")
    page.click("#ask-A .ask-button")
    page.wait_for_function(frames_at_least("#ask-A", 3))
    assert page.get_attribute("#ask-A img.frame", "src").startswith("data:image/jpeg;base64,")
    page.wait_for_function("document.querySelector('#ask-A').dataset.done === '1'")
    stats = page.inner_text("#ask-A .stats")
    assert "6/6 episodes: mean return" in stats and "95% CI" in stats and "done in" in stats
    page.wait_for_function("document.getElementById('sweep').dataset.points >= 1")  # the asked-vs-achieved point
    # a bad request: the same one line the command line gives, and the page keeps working
    page.fill("#ask-B .episodes", "0")
    page.click("#ask-B .ask-button")
    page.wait_for_function("document.querySelector('#ask-B .error').textContent.length > 0")
    error = page.inner_text("#ask-B .error")
    assert error.startswith("justask: error: episodes:") and "\n" not in error
    page.screenshot(path=str(tmp_path / "lunar.png"), full_page=True)
    assert (tmp_path / "lunar.png").stat().st_size > 10_000


def test_ask_a_babyai_model_in_english_and_see_it_judged(console, page, tmp_path):
    page.goto(console + "#/run/babyai%2Ftext")
    page.wait_for_selector("#ask-A .sentence")
    page.fill("#ask-A .sentence", "go to the red ball")
    page.fill("#ask-A .episodes", "3")
    page.click("#ask-A .ask-button")
    page.wait_for_function(frames_at_least("#ask-A", 2))
    page.wait_for_function("document.querySelector('#ask-A').dataset.done === '1'")
    assert "3/3 episodes" in page.inner_text("#ask-A .stats") and "success" in page.inner_text("#ask-A .stats")
    # a text model asked nothing: the CLI's error, in the page
    page.fill("#ask-B .sentence", "")
    page.click("#ask-B .ask-button")
    page.wait_for_function("document.querySelector('#ask-B .error').textContent.includes('no default request')")
    page.screenshot(path=str(tmp_path / "babyai.png"), full_page=True)


def test_a_dataset_episode_plays_back_in_the_page(console, page):
    page.goto(console + "#/datasets")
    page.wait_for_selector("table#datasets")
    page.click("text=lunar/dataset")
    page.wait_for_selector("#episodes button.play")
    assert "4 of 4 episodes match" in page.inner_text("main")
    page.click("#episodes button.play >> nth=0")
    page.wait_for_function("document.querySelector('figure img.frame').dataset.frames >= 2")
    page.wait_for_function("document.querySelector('figure p').textContent.includes('matches the recording')")


def test_a_click_on_the_maze_map_says_the_goal(console, page):
    page.goto(console + "#/run/maze%2Fgoal")
    page.wait_for_selector("#ask-A .map img")
    box = page.locator("#ask-A .map img").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.8125, box["y"] + box["height"] * 0.8125)  # the centre of cell (6, 6)
    x, y = (float(v) for v in page.input_value("#ask-A .goal").split(","))
    assert x == pytest.approx(2.5, abs=0.1) and y == pytest.approx(-2.5, abs=0.1)
    page.fill("#ask-A .episodes", "2")
    page.click("#ask-A .ask-button")
    page.wait_for_function("document.querySelector('#ask-A').dataset.done === '1'")
    assert "2/2 episodes" in page.inner_text("#ask-A .stats") and "success" in page.inner_text("#ask-A .stats")
