"""The console's web app (FastAPI): a JSON API over the catalog and the worker, server-sent events
for a job's stream, and one plain page (``static/``) that needs no build step.

Every error the command line would give comes back as ``{"error": "justask: error: ..."}`` with a
4xx status, and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from justask.console.catalog import Catalog
from justask.console.jobs import MAX_EPISODES, Job, Worker, replay, roll_out
from justask.errors import JustAskError, JustAskWarning

STATIC = Path(__file__).with_name("static")
PAGES = {"app.js": "text/javascript", "style.css": "text/css"}
MODELS_KEPT = 4
DATASETS_KEPT = 2
POINTS_KEPT = 100
# warnings.catch_warnings changes process-wide state: requests served on different threads take turns
_WARNINGS = threading.Lock()


class AskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: str = Field(max_length=1000)
    request: str = Field(default="best", max_length=1000)
    quantile: float | None = None
    episodes: int = Field(default=20, ge=1, le=MAX_EPISODES)
    action_rule: str = Field(default="argmax", max_length=20)
    guidance: float = 1.0
    seed: int = Field(default=1_000_000, ge=0, le=2**31 - 1)


class ReplayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(max_length=1000)
    episode: int = Field(ge=0)


def error_line(message: str) -> dict[str, str]:
    return {"error": f"justask: error: {message}"}


class Console:
    """The state behind the app: the catalog, the worker, the loaded models and datasets."""

    def __init__(self, roots: list[Path], max_waiting: int | None = None) -> None:
        self.catalog = Catalog(roots)
        self.worker = Worker() if max_waiting is None else Worker(max_waiting)
        self._models: collections.OrderedDict[str, tuple[Any, str, Any]] = collections.OrderedDict()
        self._datasets: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._loading = threading.Lock()  # one model or dataset loads at a time: a flood of pages cannot pile up loads
        self.points: dict[str, list[dict[str, Any]]] = {}

    # ---- runs --------------------------------------------------------------------------------
    def model(self, run_id: str) -> tuple[Any, str, Any]:
        """(model, env id, learned reward or None) of a run, loaded with the CLI's checks, kept for reuse."""
        from justask.runs import learned_reward_of, open_run

        entry = self.catalog.get(run_id, "run")
        with self._lock:
            if run_id in self._models:
                self._models.move_to_end(run_id)
                return self._models[run_id]
        if entry.error:
            raise JustAskError(entry.error)
        with self._loading:
            with self._lock:
                if run_id in self._models:  # loaded while this request waited
                    return self._models[run_id]
            model, env_id = open_run(entry.path)
            loaded = (model, env_id, learned_reward_of(entry.path, model))
        with self._lock:
            self._models[run_id] = loaded
            while len(self._models) > MODELS_KEPT:
                self._models.popitem(last=False)
        return loaded

    def run_detail(self, run_id: str) -> dict[str, Any]:
        entry = self.catalog.get(run_id, "run")
        out = entry.to_json()
        if entry.error:
            return out
        model, env_id, _ = self.model(run_id)
        spec = model.io.condition
        control: dict[str, Any] = {"kind": "none"}
        if spec is not None:
            control = {"kind": "number" if spec.dim == 1 and not spec.is_text else spec.kind, "keyword": spec.keyword}
            if spec.is_text:
                control["kind"] = "text"
            elif spec.quantiles is not None:
                control["range"] = [spec.quantiles[0], spec.quantiles[100]]
                control["best"] = spec.best[0] if spec.best else None
                control["outcomes"] = spec.outcomes
            if spec.fields:
                control.update(kind="fields", fields=spec.fields, defaults=spec.defaults)
            if spec.kind == "goal":
                control["map"] = goal_map(env_id)
            from justask.suites import can_pose

            control["posed"] = can_pose(env_id, spec.keyword)
        out["control"] = control
        out["env"] = env_id
        out["guidable"] = bool(model.can_guide)
        out["points"] = self.points.get(run_id, [])
        return out

    def predict(self, run_id: str, text: str, quantile: float | None) -> dict[str, Any]:
        """What a request maps to before acting: the value asked, the data's share that reached
        it and, for a model that predicts, what it is predicted to get (and a cap it is mapped to)."""
        from justask.asking import honour
        from justask.runs import request_of

        model, _, _ = self.model(run_id)
        spec = model.io.condition
        notes: list[str] = []
        value = request_of(model, text, quantile, notes.append)
        out: dict[str, Any] = {"notes": notes}
        if spec is None or spec.is_text or spec.dim != 1:
            return out
        with _WARNINGS, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", JustAskWarning)
            value, extra = honour(spec, value)
        notes += [str(w.message) for w in caught if issubclass(w.category, JustAskWarning)]
        asked = float(spec.describe(value))
        out.update(asked=asked, **extra)
        if spec.quantiles is not None:
            share = spec.share_at_or_above(asked)
            out["data_share_at_or_above"] = share
            if spec.info.get("episodes"):
                out["data_episodes_at_or_above"] = round(share * spec.info["episodes"])
        return out

    def ask(self, body: AskBody) -> dict[str, Any]:
        from justask.asking import ask, display
        from justask.runs import request_of
        from justask.suites import can_pose, env_requests, reset_options_for

        model, env_id, reward_fn = self.model(body.run)
        spec = model.io.condition
        notes: list[str] = []
        value = request_of(model, body.request.strip(), body.quantile, notes.append)
        if spec is not None and value is None and spec.best is None:
            value = env_requests(env_id, spec.keyword)
            if value is None:
                raise JustAskError(f"this model has no default request: say what to ask for ({spec.keyword})")
            notes.append("each episode is asked the env's own request")
        with _WARNINGS, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", JustAskWarning)
            agent = (
                ask(
                    model,
                    value,
                    action_rule=body.action_rule,
                    reward_fn=reward_fn,
                    guidance=body.guidance,
                    seed=body.seed,
                )
                if spec is not None
                else ask(model, action_rule=body.action_rule, guidance=body.guidance, seed=body.seed)
            )
        notes += [str(w.message) for w in caught if issubclass(w.category, JustAskWarning)]
        posed = reset_options_for(env_id, spec.keyword, value) if spec is not None and not callable(value) else None
        judged = posed is not None or (spec is not None and callable(value) and can_pose(env_id, spec.keyword))
        if spec is not None and posed is None and not callable(value) and can_pose(env_id, spec.keyword):
            notes.append(f"the env cannot pose {display(agent.info['condition'])}, so nothing checks it: watch it")
        if posed is not None:  # the env checks what it is told (a goal in a wall) now, not in the worker
            check_posed(env_id, posed, body.seed)
        asked = agent.info["condition"]
        header = {
            "type": "asked",
            "run": body.run,
            "env": env_id,
            "asked": asked if spec is not None else None,
            "shown": display(asked) if spec is not None else "nothing (behaviour cloning)",
            "predicted": agent.info.get("predicted"),
            "mapped_to": agent.info.get("mapped_to"),
            "episodes": body.episodes,
            "judged": judged,
            "notes": notes,
        }

        def work(job: Job) -> None:
            job.emit(header)
            summary = roll_out(
                job, env_id, agent, episodes=body.episodes, seed=body.seed, options=lambda _s: posed, judged=judged
            )
            if isinstance(asked, (int, float)) and summary.get("n"):
                point = {"asked": float(asked), "mean": summary["mean"], "ci95": summary["ci95"], "n": summary["n"]}
                kept = self.points.setdefault(body.run, [])
                kept.append(point)
                del kept[:-POINTS_KEPT]

        job = self.worker.submit(Job("ask", f"{body.run}: {header['shown']}", work))
        return {"job": job.id, "waiting": job.ahead, **{k: header[k] for k in ("shown", "notes")}}

    # ---- datasets ----------------------------------------------------------------------------
    def dataset(self, dataset_id: str) -> Any:
        from justask.minari_io import load_minari

        entry = self.catalog.get(dataset_id, "dataset")
        if entry.error:
            raise JustAskError(entry.error)
        with self._lock:
            if dataset_id in self._datasets:
                self._datasets.move_to_end(dataset_id)
                return self._datasets[dataset_id]
        with self._loading:
            with self._lock:
                if dataset_id in self._datasets:
                    return self._datasets[dataset_id]
            episodes = load_minari(str(entry.path))
        with self._lock:
            self._datasets[dataset_id] = episodes
            while len(self._datasets) > DATASETS_KEPT:
                self._datasets.popitem(last=False)
        return episodes

    def episodes_of(self, dataset_id: str, policy: str, min_return: float | None, max_return: float | None) -> dict:
        episodes = self.dataset(dataset_id)
        returns, lengths, starts = episodes.returns(), episodes.lengths, episodes.episode_starts
        rows = []
        for i, meta in enumerate(episodes.metadata):
            row = {
                "index": i,
                "policy": str(meta.get("policy", "")),
                "seed": meta.get("seed"),
                "return": round(float(returns[i]), 3),
                "length": int(lengths[i]),
                "conditions": {
                    name: _condition_value(episodes, name, int(starts[i])) for name in sorted(episodes.conditions)
                },
            }
            if policy and policy not in row["policy"]:
                continue
            if (min_return is not None and row["return"] < min_return) or (
                max_return is not None and row["return"] > max_return
            ):
                continue
            rows.append(row)
        policies = sorted({str(m.get("policy", "")) for m in episodes.metadata})
        return {
            "env": episodes.env_id,
            "episodes": len(episodes),
            "conditions": sorted(episodes.conditions),
            "policies": policies,
            "rows": rows[:2000],
            "shown": min(len(rows), 2000),
            "matching": len(rows),
        }

    def replay(self, body: ReplayBody) -> dict[str, Any]:
        from justask.envs import check_env_id

        episodes = self.dataset(body.dataset)
        if body.episode >= len(episodes):
            raise JustAskError(f"the dataset has {len(episodes)} episodes; there is no episode {body.episode}")
        if not episodes.env_id:
            raise JustAskError("the dataset does not record its env, so its episodes cannot be played back")
        check_env_id(episodes.env_id)
        one = episodes.episode(body.episode)
        data = {
            "index": body.episode,
            "seed": one["metadata"].get("seed"),
            "observations": one["observations"],
            "actions": one["actions"],
            "return": float(one["rewards"].sum()),
        }
        env_id = episodes.env_id

        def work(job: Job) -> None:
            job.emit({"type": "asked", "shown": f"episode {body.episode} played back", "notes": [], "episodes": 1})
            replay(job, env_id, data)

        job = self.worker.submit(Job("replay", f"{body.dataset} #{body.episode}", work))
        return {"job": job.id}


def _condition_value(episodes: Any, name: str, step: int) -> Any:
    """A condition column at an episode's first step, as a page shows it: the caption of a text
    column, else at most four numbers."""
    value = np.asarray(episodes.conditions[name][step]).reshape(-1)
    texts = episodes.condition_info.get(name, {}).get("texts")
    if isinstance(texts, list) and value.size == 1 and 0 <= int(value[0]) < len(texts):
        return str(texts[int(value[0])])
    shown = [round(float(v), 3) for v in value[:4]]
    return shown[0] if len(shown) == 1 else shown


def check_posed(env_id: str, options: dict[str, Any], seed: int) -> None:
    """Reset one env with the reset options a request is posed by: its own error, if any, now."""
    import gymnasium as gym

    env = gym.make(env_id)
    try:
        env.reset(seed=seed, options=options)
    finally:
        env.close()


def goal_map(env_id: str) -> dict[str, Any] | None:
    """A picture of the env's map and its coordinates at the edges, for a click to say a goal."""
    import gymnasium as gym

    from justask.console.jobs import frame_event

    env = gym.make(env_id)
    try:
        extent, picture = (getattr(env.unwrapped, name, None) for name in ("map_extent", "map_picture"))
        if extent is None or picture is None:
            return None
        return {"image": frame_event(picture())["image"], "extent": list(extent())}
    finally:
        env.close()


def create_app(roots: list[Path], max_waiting: int | None = None) -> FastAPI:
    console = Console(roots, max_waiting)
    app = FastAPI(title="justask console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = console

    @app.exception_handler(JustAskError)
    async def _justask_error(_request: Request, exc: JustAskError) -> JSONResponse:
        busy = str(exc).startswith("the console is busy")
        return JSONResponse(error_line(str(exc)), status_code=503 if busy else 400)

    @app.exception_handler(RequestValidationError)
    async def _bad_body(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": ["request"], "msg": "not understood"}
        where = ".".join(str(p) for p in first.get("loc", [])[1:]) or "request"
        return JSONResponse(error_line(f"{where}: {first.get('msg')}"), status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_line(f"{type(exc).__name__}: {exc}"), status_code=500)

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}")
    def static(name: str) -> FileResponse:
        if name not in PAGES:  # a fixed set of files, never a path from the browser
            raise JustAskError(f"no page '{name}'")
        return FileResponse(STATIC / name, media_type=PAGES[name])

    @app.get("/api/runs")
    def runs() -> dict[str, Any]:
        console.catalog.refresh()
        return {"runs": console.catalog.listing("run"), "roots": [str(r) for r in console.catalog.roots]}

    @app.get("/api/run")
    def run(id: str) -> dict[str, Any]:
        return console.run_detail(id)

    @app.get("/api/report")
    def report(id: str) -> dict[str, Any]:
        from justask.console.catalog import recipe_report_path

        entry = console.catalog.get(id, "run")
        path = recipe_report_path(entry.path, entry.root)
        if path is None:
            raise JustAskError(f"run {id} has no recipe report above it")
        text = path.read_text(errors="replace")
        return {"path": path.relative_to(entry.root).as_posix(), "markdown": text[:300_000]}

    @app.get("/api/predict")
    def predict(id: str, request: str = "best", quantile: float | None = None) -> dict[str, Any]:
        return console.predict(id, request, quantile)

    @app.post("/api/ask")
    def ask(body: AskBody) -> dict[str, Any]:
        return console.ask(body)

    @app.get("/api/datasets")
    def datasets() -> dict[str, Any]:
        console.catalog.refresh()
        return {"datasets": console.catalog.listing("dataset")}

    @app.get("/api/dataset")
    def dataset(
        id: str, policy: str = "", min_return: float | None = None, max_return: float | None = None
    ) -> dict[str, Any]:
        return console.episodes_of(id, policy, min_return, max_return)

    @app.post("/api/replay")
    def replay_episode(body: ReplayBody) -> dict[str, Any]:
        return console.replay(body)

    @app.post("/api/jobs/{job_id}/stop")
    def stop(job_id: str) -> dict[str, Any]:
        console.worker.get(job_id).stop_requested = True
        return {"stopping": job_id}

    @app.get("/api/jobs/{job_id}/events")
    async def events(job_id: str) -> StreamingResponse:
        job = console.worker.get(job_id)

        async def stream() -> Any:
            index, quiet = 0, 0.0
            while True:
                new, finished = job.since(index)
                for event in new:
                    yield f"data: {json.dumps(event, default=_plain)}\n\n"
                index += len(new)
                if finished and not new:
                    yield "event: end\ndata: {}\n\n"
                    return
                quiet = 0.0 if new else quiet + 0.05
                if quiet > 10:
                    yield ": still here\n\n"
                    quiet = 0.0
                await asyncio.sleep(0.05)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return app


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
