"""The console under a user and under a flood: time to the first frame after "ask", and 20
concurrent asks against `justask serve` started as a user starts it (its own process).

    python benchmarks/console.py [--root runs/demo] [--run seed0/rvs] [--dataset seed0/dataset]
                                 [--text-run ID] [--goal-run ID] [--screenshots docs/console]

Needs a trained LunarLander model under --root (`./dev.sh demo` makes runs/demo). Measures:
- first frame: from sending the ask to its first frame arriving over the event stream (the API, 1
  cold ask that loads the model, then --repeats warm ones) and, in Debian's chromium driven by
  Playwright, from the click on "Ask" to the frame shown in the page;
- the flood: 20 asks sent at once (--flood-episodes each); each must complete or be refused with
  a one-line message; the server's resident memory sampled throughout; then a normal ask.
Writes ``benchmarks/results/console.{json,md,png}``; with --screenshots, the pages as PNGs.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))


def call(base: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def stream(base: str, job: str, on_event: Any = None) -> list[dict[str, Any]]:
    out = []
    with urllib.request.urlopen(f"{base}api/jobs/{job}/events", timeout=600) as response:
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: end"):
                break
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if on_event is not None:
                    on_event(event)
                out.append({k: v for k, v in event.items() if k != "image"})
    return out


def first_frame_s(base: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Seconds from sending the ask to its first frame, and the ask's closing summary."""
    seen: list[float] = []
    start = time.perf_counter()
    status, started = call(base, "api/ask", body)
    if status != 200:
        raise SystemExit(f"the ask was refused: {started}")

    def note(event: dict[str, Any]) -> None:
        if event["type"] == "frame" and not seen:
            seen.append(time.perf_counter() - start)

    events = stream(base, started["job"], note)
    done = next(e for e in events if e["type"] == "done")
    return seen[0], done


class Memory(threading.Thread):
    """Samples a process's resident memory (MiB) until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], threading.Event()
        self.start_time = time.perf_counter()

    def rss(self) -> float:
        text = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.perf_counter() - self.start_time, self.rss()))
            time.sleep(0.2)


def flood(base: str, body: dict[str, Any], memory: Memory, count: int = 20) -> dict[str, Any]:
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        answers = list(pool.map(lambda _: call(base, "api/ask", body), range(count)))
        accepted = [a["job"] for s, a in answers if s == 200]
        finished = list(pool.map(lambda job: stream(base, job), accepted))
    refused = [(s, a["error"]) for s, a in answers if s != 200]
    dones = [next((e for e in evs if e["type"] == "done"), None) for evs in finished]
    return {
        "asks": count,
        "accepted": len(accepted),
        "completed": sum(1 for d in dones if d is not None and d["n"] == body["episodes"]),
        "refused": len(refused),
        "refusal_statuses": sorted({s for s, _ in refused}),
        "refusal_messages": sorted({m for _, m in refused}),
        "seconds": round(time.perf_counter() - start, 2),
        "rss_mib_at_end": round(memory.rss(), 1),
    }


def browser_first_frames(base: str, run: str, repeats: int, shots: Path | None, args: argparse.Namespace) -> Any:
    """Click-to-frame times in chromium, and the screenshots."""
    from justask.console.browser import chromium_path, launch

    if chromium_path() is None:
        print("no chromium: the browser timings and screenshots are skipped (apt-get install chromium)")
        return None
    import tempfile

    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        browser = launch(pw, profile, height=860)
        page = browser.new_page()
        page.set_default_timeout(120_000)
        page.goto(base)
        page.wait_for_selector("table#runs")
        if shots:
            page.screenshot(path=str(shots / "runs.png"))
        page.goto(f"{base}#/run/{urllib.parse.quote(run, safe='')}")
        page.wait_for_selector("#ask-A .value")
        for k in range(repeats):
            page.fill("#ask-A .episodes", "5")
            page.fill("#ask-A .seed", str(2_000_000 + k))
            page.evaluate(
                "() => { window.__t0 = performance.now(); const img = document.querySelector('#ask-A img.frame');"
                " window.__seen = null; img.dataset.frames = '0';"
                " new MutationObserver(() => { if (window.__seen === null) window.__seen = performance.now(); })"
                ".observe(img, {attributes: true, attributeFilter: ['src']}); }"
            )
            page.click("#ask-A .ask-button")
            page.wait_for_function("window.__seen !== null")
            times.append((page.evaluate("window.__seen - window.__t0")) / 1000)
            page.wait_for_function("document.querySelector('#ask-A .ask-button').disabled === false")
        if shots:
            # two requests side by side: the data's median and the best the model can honour
            page.fill("#ask-A .episodes", "50")
            page.fill("#ask-A .seed", "1000000")
            page.fill("#ask-A .value", "")
            page.check("#ask-A .use-quantile")
            page.fill("#ask-A .quantile", "0.5")
            page.dispatch_event("#ask-A .quantile", "input")
            page.fill("#ask-B .episodes", "50")
            ask_and_wait(page, "A", "B")
            page.screenshot(path=str(shots / "lunarlander.png"), full_page=True)
            if args.text_run:
                page.goto(f"{base}#/run/{urllib.parse.quote(args.text_run, safe='')}")
                page.wait_for_selector("#ask-A .sentence")
                page.fill("#ask-A .sentence", "go to the red ball")
                page.fill("#ask-A .episodes", "20")
                page.fill("#ask-B .sentence", "pick up the grey box")
                page.fill("#ask-B .episodes", "3")
                ask_and_wait(page, "A")
                ask_and_wait(page, "B")
                page.screenshot(path=str(shots / "babyai.png"), full_page=True)
            if args.goal_run:  # a goal said by a click on the maze's map
                page.goto(f"{base}#/run/{urllib.parse.quote(args.goal_run, safe='')}")
                page.wait_for_selector("#ask-A .map img")
                box = page.locator("#ask-A .map img").bounding_box()
                page.mouse.click(box["x"] + box["width"] * 0.85, box["y"] + box["height"] * 0.85)
                page.fill("#ask-A .episodes", "20")
                ask_and_wait(page, "A")
                page.screenshot(path=str(shots / "maze.png"), full_page=True)
            if args.dataset:
                page.goto(f"{base}#/dataset/{urllib.parse.quote(args.dataset, safe='')}")
                page.wait_for_selector("#episodes button.play")
                page.fill(".filters .max-return", "0")
                page.click("text=Filter")
                page.wait_for_timeout(800)
                page.click("#episodes button.play >> nth=0")
                page.wait_for_function("document.querySelector('figure p').textContent.includes('the replay')")
                page.screenshot(path=str(shots / "dataset.png"))
        browser.close()
    return times


def ask_and_wait(page: Any, *panels: str) -> None:
    """Click Ask on each panel, then wait until each has finished."""
    for panel in panels:
        page.click(f"#ask-{panel} .ask-button")
    for panel in panels:
        page.wait_for_function(f"document.querySelector('#ask-{panel}').dataset.done === '1'", timeout=300_000)
    page.wait_for_timeout(800)


def plot(path: Path, result: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    api = result["first_frame"]["api_warm_s"]
    a.plot(range(1, len(api) + 1), api, "o-", label="API, warm (ask sent → first frame received)")
    a.plot([0], [result["first_frame"]["api_cold_s"]], "s", color="C3", label="API, cold (loads the model)")
    if result["first_frame"].get("browser_s"):
        br = result["first_frame"]["browser_s"]
        a.plot(range(1, len(br) + 1), br, "^-", label="chromium (click → frame shown)")
    a.axhline(2.0, color="grey", ls="--", label="target 2 s")
    a.set_xlabel("ask")
    a.set_ylabel("seconds to the first frame")
    a.set_ylim(0, max(2.3, max(api) * 1.2))
    a.set_title("First frame after 'ask' (LunarLander MLP, 2 cores)")
    a.legend(fontsize=8)
    t, rss = zip(*result["memory"]["samples"], strict=True)
    b.plot(t, rss)
    f = result["flood"]
    b.set_title(f"Server memory: {f['asks']} asks at once, {f['accepted']} run, {f['refused']} refused")
    b.set_xlabel("seconds")
    b.set_ylabel("resident MiB")
    b.set_ylim(0, max(rss) * 1.2)
    for name, start in result["memory"]["phases"]:
        b.axvline(start, color="grey", lw=0.8, ls=":")
        b.text(start, max(rss) * 1.12, " " + name, fontsize=7, rotation=0, va="top")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="runs/demo")
    parser.add_argument("--run", default="seed0/rvs", help="a LunarLander run's id under --root")
    parser.add_argument("--text-run", default="", help="a BabyAI text run's id under --root (screenshot)")
    parser.add_argument("--goal-run", default="", help="a PointMaze goal run's id under --root (screenshot)")
    parser.add_argument("--dataset", default="seed0/dataset", help="a dataset's id under --root ('' to skip)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--flood-episodes", type=int, default=20)
    parser.add_argument("--screenshots", default="")
    parser.add_argument("--out", default=str(ROOT / "results" / "console"))
    args = parser.parse_args()

    from justask.report import provenance, provenance_markdown, write_json, write_text

    exe = Path(sys.executable).with_name("justask")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    server = subprocess.Popen(
        [str(exe), "serve", args.root], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        line = server.stdout.readline()
        match = re.search(r"http://\S+/", line)
        if not match:
            raise SystemExit(f"justask serve did not start: {line}{server.stdout.read()}")
        base = match.group(0)
        memory = Memory(server.pid)
        memory.start()
        phases: list[tuple[str, float]] = [("first frames (API)", 0.0)]

        def phase(name: str) -> None:
            phases.append((name, round(time.perf_counter() - memory.start_time, 2)))

        body = {"run": args.run, "request": "best", "episodes": 5, "seed": 1_000_000}
        cold, _ = first_frame_s(base, body)
        warm = [first_frame_s(base, {**body, "seed": 1_000_100 + k})[0] for k in range(args.repeats)]
        shots = Path(args.screenshots) if args.screenshots else None
        if shots:
            shots.mkdir(parents=True, exist_ok=True)
        phase("browser" + (" + screenshots" if shots else ""))
        browser = browser_first_frames(base, args.run, args.repeats, shots, args)
        rss_before_flood = memory.rss()
        phase("flood")
        flooded = flood(base, {**body, "episodes": args.flood_episodes}, memory)
        phase("after")
        after, after_done = first_frame_s(base, {**body, "seed": 3_000_000})
        memory.stop.set()
        memory.join()
    finally:
        server.terminate()
        server.wait(timeout=30)

    result = {
        "run": args.run,
        "root": args.root,
        "first_frame": {
            "api_cold_s": round(cold, 3),
            "api_warm_s": [round(x, 3) for x in warm],
            "api_warm_median_s": round(sorted(warm)[len(warm) // 2], 3),
            "api_warm_max_s": round(max(warm), 3),
            "browser_s": [round(x, 3) for x in browser] if browser else None,
            "browser_max_s": round(max(browser), 3) if browser else None,
            "target_s": 2.0,
        },
        "flood": {**flooded, "episodes_per_ask": args.flood_episodes},
        "after_flood": {"first_frame_s": round(after, 3), "episodes": after_done["n"]},
        "memory": {
            "rss_mib_before_flood": round(rss_before_flood, 1),
            "rss_mib_peak": round(max(r for _, r in memory.samples), 1),
            "samples": [(round(t, 2), round(r, 1)) for t, r in memory.samples],
            "phases": phases,
        },
    }
    out = Path(args.out)
    prov = provenance(vars(args))
    write_json(out.with_suffix(".json"), {**result, "provenance": prov})
    plot(out.with_suffix(".png"), result)
    ff, f, m = result["first_frame"], result["flood"], result["memory"]
    md = [
        "# The console: first frame after 'ask', and a flood of asks",
        "",
        f"`justask serve {args.root}` in its own process on this machine; asks for `{args.run}` (asked `best`, 5 episodes).",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| first frame, API, cold (the model is loaded) | {ff['api_cold_s']:.2f} s | |",
        f"| first frame, API, warm ({len(warm)} asks): median / max | {ff['api_warm_median_s']:.2f} / {ff['api_warm_max_s']:.2f} s | ≤ 2 s |",
    ]
    if browser:
        md.append(
            f"| first frame in chromium, click → shown ({len(browser)} asks): max | {ff['browser_max_s']:.2f} s | ≤ 2 s |"
        )
    md += [
        f"| {f['asks']} asks at once ({f['episodes_per_ask']} episodes each): run / refused / completed | "
        f"{f['accepted']} / {f['refused']} / {f['completed']} | each completes or is refused in one line |",
        f"| refusal | {f['refusal_statuses']} `{'; '.join(f['refusal_messages'])}` | |",
        f"| server memory before the flood / peak / after | {m['rss_mib_before_flood']:.0f} / {m['rss_mib_peak']:.0f} / {f['rss_mib_at_end']:.0f} MiB | bounded |",
        f"| a normal ask after the flood: first frame, episodes | {result['after_flood']['first_frame_s']:.2f} s, {result['after_flood']['episodes']} | served |",
        "",
        "![first frame and memory](console.png)",
        "",
        provenance_markdown(prov),
    ]
    write_text(out.with_suffix(".md"), "\n".join(md))
    print("\n".join(md[:16]))


if __name__ == "__main__":
    main()
