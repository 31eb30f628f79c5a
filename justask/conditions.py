"""Conditions: what a model is asked for. Every kind of condition gets its meaning here, and only here.

A condition is a per-step column of ``Episodes`` written by a relabeler, in the user's units (a
return-to-go in reward units, a goal in the maze's coordinates, a world's physical parameters, a
caption). A ``ConditionSpec`` says everything else, and it is data — stored beside the column and in
a trained model's config, so a run folder never names code:

- ``keyword``: what ``ask`` is called with (``ask(model, return_to_go=250)``, ``ask(model, world=...)``);
- units: model units = (user units - ``offset``) / ``scale``, per dimension (``to_model``);
- ``fields``: names of the dimensions, so a request may be ``{"length": 0.5}``;
- ``update``: how a request evolves while acting — ``hold`` (a goal, a sentence, a world) or
  ``minus_reward`` (a return-to-go, decremented by every reward, as the column was computed);
- ``best_percentile``: the default request, a percentile of the data's requests (``None``: the
  user must say what they want);
- for text: the column holds indices into ``texts`` and ``encoder`` names the sentence encoder
  that turns them (and any request) into vectors; asking checks it is the same encoder;
- for a prompt (``PROMPT``): the column holds, per step, which behaviour (agent, policy) made the
  episode; the model reads not the column but *other episodes of the same behaviour*, encoded by
  a learned prompt encoder into ``dim`` numbers (``justask.models.prompt_encoder``;
  pairing: ``justask.prompt_sampler``). Asked with episodes.

A kind (``RETURN``, ``GOAL``, ``WORLD``, ``TEXT``, or one a user makes with ``ConditionKind``) is
a preset of those fields. ``Episodes.with_condition(name, values)`` with no description at all
makes a plain condition asked by its own name. Nothing outside this module switches on a kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from justask.episodes import Episodes
from justask.errors import JustAskError

UPDATES = ("hold", "minus_reward")
SPEC_FIELDS = (
    "kind",
    "keyword",
    "offset",
    "scale",
    "fields",
    "defaults",
    "update",
    "best_percentile",
    "text",
    "encoder",
    "outcomes",
    "calibration",
)  # the keys of a column's description that are the spec's; the rest is free-form info
NOT_A_CONDITION = "labels"  # a column of target actions (ModelConfig's target), never asked for
IRRELEVANT = "the weather is nice today"  # a sentence about nothing in any world: the text control


@dataclasses.dataclass(frozen=True)
class ConditionKind:
    """A preset for the description of a condition column (see the module doc)."""

    name: str
    keyword: str | None = None  # default: the kind's name
    update: str = "hold"
    best_percentile: float | None = None
    text: bool = False
    prompt: bool = False

    def __post_init__(self) -> None:
        if self.update not in UPDATES:
            raise JustAskError(f"condition kind '{self.name}': unknown update '{self.update}' ({', '.join(UPDATES)})")

    def describe(self, **info: Any) -> dict[str, Any]:
        """The column description for ``Episodes.with_condition``: this kind's fields, then ``info``."""
        base = {"kind": self.name, "keyword": self.keyword or self.name, "update": self.update}
        if self.best_percentile is not None:
            base["best_percentile"] = self.best_percentile
        if self.text:
            base["text"] = True
        if self.prompt:
            base["prompt"] = True
        return {**base, **info}


RETURN = ConditionKind("return", keyword="return_to_go", update="minus_reward", best_percentile=95.0)
# What the behaviour that made an episode returns on average, held while acting (relabel.expected_return).
EXPECTED_RETURN = ConditionKind("expected_return", best_percentile=100.0)
GOAL = ConditionKind("goal")
WORLD = ConditionKind("world")
TEXT = ConditionKind("text", text=True)
# Which behaviour made each episode; the model is told k of that behaviour's other episodes (justask.prompt_sampler).
PROMPT = ConditionKind("prompt", prompt=True)
KINDS = {k.name: k for k in (RETURN, EXPECTED_RETURN, GOAL, WORLD, TEXT, PROMPT)}
PROMPT_DIM = 64  # default width of an encoded prompt
PROMPT_EPISODES = 5  # default most episodes a training prompt holds


def _outcome_rows(rows: Any, name: str) -> list[list[float]] | None:
    if rows is None:
        return None
    try:
        arr = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.zeros((0, 0))
    if arr.ndim != 2 or arr.shape[1] != 4 or len(arr) == 0 or not np.isfinite(arr).all():
        raise JustAskError(f"condition '{name}': outcomes must be rows of [request, lo, mid, hi] numbers")
    if (np.diff(arr[:, 0]) <= 0).any():
        raise JustAskError(f"condition '{name}': outcome requests must rise")
    return arr.tolist()


CALIBRATION_COLUMNS = ("request", "lo", "mid", "hi", "mean_lo", "mean_hi")


def _calibration(data: Any, name: str) -> dict[str, Any] | None:
    """A measured calibration, checked: ``{"rules": {rule: rows}, "env": id, "episodes": n, "seed": s}``,
    rows ``[request, lo, mid, hi, mean_lo, mean_hi]`` with requests rising (``justask.calibration``)."""
    if data is None:
        return None
    what = f"condition '{name}': calibration"
    if not isinstance(data, Mapping) or not isinstance(data.get("rules"), Mapping) or not data["rules"]:
        raise JustAskError(f"{what} must hold measured rows per action rule ('rules')")
    for key in ("episodes", "seed"):
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise JustAskError(f"{what}: '{key}' must be a whole number >= 0, got {value!r}")
    if not isinstance(data.get("env"), str):
        raise JustAskError(f"{what}: 'env' must be the env id it was measured on")
    rules = {}
    for rule, rows in data["rules"].items():
        try:
            arr = np.asarray(rows, dtype=np.float64)
        except (TypeError, ValueError):
            arr = np.zeros((0, 0))
        if arr.ndim != 2 or arr.shape[1] != len(CALIBRATION_COLUMNS) or len(arr) == 0 or not np.isfinite(arr).all():
            raise JustAskError(f"{what}: '{rule}' must be rows of [{', '.join(CALIBRATION_COLUMNS)}] numbers")
        if (np.diff(arr[:, 0]) <= 0).any():
            raise JustAskError(f"{what}: '{rule}' requests must rise")
        rules[str(rule)] = arr.tolist()
    return {**dict(data), "rules": rules}


def _floats(values: Any, dim: int, what: str, broadcast: bool = True) -> list[float]:
    """``dim`` finite floats from ``values`` (one number is repeated ``dim`` times when
    ``broadcast``), or a ``JustAskError`` naming ``what``."""
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        raise JustAskError(f"{what} must be {dim} finite number(s), got {values!r}") from None
    if isinstance(values, (str, bytes)) or (values is not None and np.asarray(values).dtype == bool):
        raise JustAskError(f"{what} must be {dim} finite number(s), got {values!r}")
    if broadcast and arr.size == 1 and dim > 1:
        arr = np.full(dim, float(arr[0]))
    if arr.shape != (dim,) or not np.isfinite(arr).all():
        raise JustAskError(f"{what} must be {dim} finite number(s), got {values!r}")
    return arr.tolist()


@dataclasses.dataclass
class ConditionSpec:
    """Which condition column a model reads and what it means (see the module doc)."""

    name: str  # the column in Episodes.conditions
    kind: str  # the kind's name: return, goal, world, text, or a user's own
    keyword: str  # ask(model, <keyword>=...)
    dim: int  # width of the model's condition input
    offset: list[float]  # model units = (user units - offset) / scale
    scale: list[float]
    update: str = "hold"  # hold or minus_reward
    fields: list[str] | None = None  # names of the dimensions (a request may be a {field: value} dict)
    defaults: list[float] | None = None  # values of fields a dict request leaves out (user units)
    best: list[float] | None = None  # the default request (user units); None: there is none
    best_percentile: float | None = None  # the percentile of the data's requests that ``best`` is
    quantiles: list[float] | None = None  # 1-dim: percentiles 0..100 of the data's requests (user units)
    encoder: str | None = None  # text: the sentence encoder's identity
    # 1-dim: what asking each request achieves, predicted from the data (justask.behaviours.outcome_table):
    # rows [request, lo, mid, hi] in user units, requests ascending; then ``best`` is the request predicted best
    outcomes: list[list[float]] | None = None
    # 1-dim: what this model achieved, measured by rollouts per action rule (justask.calibration);
    # where present for the rule it acts by, asking picks the request that got nearest what was asked
    calibration: dict[str, Any] | None = None
    info: dict[str, Any] = dataclasses.field(default_factory=dict)  # the rest of the column's description

    def __post_init__(self) -> None:
        for field in ("name", "kind", "keyword"):
            if not isinstance(getattr(self, field), str) or not getattr(self, field):
                raise JustAskError(f"a condition's {field} must be a non-empty string, got {getattr(self, field)!r}")
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim < 1:
            raise JustAskError(f"condition '{self.name}': dim must be a whole number >= 1, got {self.dim!r}")
        self.offset = _floats(self.offset, self.dim, f"condition '{self.name}': offset", broadcast=False)
        self.scale = _floats(self.scale, self.dim, f"condition '{self.name}': scale", broadcast=False)
        if self.update not in UPDATES:
            raise JustAskError(f"condition '{self.name}': unknown update '{self.update}' ({', '.join(UPDATES)})")
        if self.best is not None:
            self.best = _floats(self.best, self.dim, f"condition '{self.name}': best", broadcast=False)
        if self.defaults is not None:
            self.defaults = _floats(self.defaults, self.dim, f"condition '{self.name}': defaults", broadcast=False)
        if self.best_percentile is not None and (
            isinstance(self.best_percentile, bool)
            or not isinstance(self.best_percentile, (int, float))
            or not 0 <= self.best_percentile <= 100
        ):
            raise JustAskError(
                f"condition '{self.name}': best_percentile must be in [0, 100], got {self.best_percentile!r}"
            )
        if self.quantiles is not None:
            q = _floats(self.quantiles, 101, f"condition '{self.name}': quantiles", broadcast=False)
            if self.dim != 1 or any(b < a for a, b in zip(q, q[1:], strict=False)):
                raise JustAskError(
                    f"condition '{self.name}': quantiles must be 101 rising numbers of a 1-number condition"
                )
            self.quantiles = q
        self.outcomes = _outcome_rows(self.outcomes, self.name)
        if self.outcomes is not None and self.dim != 1:
            raise JustAskError(f"condition '{self.name}': outcomes are for a 1-number condition")
        self.calibration = _calibration(self.calibration, self.name)
        if self.calibration is not None and self.dim != 1:
            raise JustAskError(f"condition '{self.name}': a calibration is for a 1-number condition")
        if self.encoder is not None and not isinstance(self.encoder, str):
            raise JustAskError(f"condition '{self.name}': encoder must be a string, got {self.encoder!r}")
        if self.fields is not None and (
            not isinstance(self.fields, list) or not all(isinstance(f, str) for f in self.fields)
        ):
            raise JustAskError(f"condition '{self.name}': fields must be a list of names, got {self.fields!r}")
        if not isinstance(self.info, dict):
            raise JustAskError(f"condition '{self.name}': info must be a JSON object, got {type(self.info).__name__}")
        if self.update == "minus_reward" and self.dim != 1:
            raise JustAskError(f"condition '{self.name}': a request decremented by rewards must be one number")
        if len(self.offset) != self.dim or len(self.scale) != self.dim:
            raise JustAskError(f"condition '{self.name}': offset and scale need {self.dim} entries each")
        if any(not np.isfinite(s) or s == 0 for s in self.scale):
            raise JustAskError(f"condition '{self.name}': scale must be finite and non-zero, got {self.scale}")
        if self.fields is not None and len(self.fields) != self.dim:
            raise JustAskError(f"condition '{self.name}': {len(self.fields)} field names for {self.dim} dimensions")

    # ---- from data ---------------------------------------------------------------------------
    @staticmethod
    def from_episodes(episodes: Episodes, name: str) -> ConditionSpec:
        """The spec of column ``name``, from its description and the data (best, quantiles)."""
        if name not in episodes.conditions:
            raise JustAskError(
                f"the episodes have no condition column '{name}' "
                f"(columns: {', '.join(sorted(episodes.conditions)) or 'none'}; relabel them first)"
            )
        column = episodes.conditions[name]
        described = dict(episodes.condition_info.get(name, {}))
        kind_name = str(described.get("kind", name))
        if kind_name == NOT_A_CONDITION:
            raise JustAskError(f"column '{name}' holds target actions (labels), not a condition to ask for")
        preset = KINDS.get(kind_name, ConditionKind(kind_name)).describe()
        desc = {**preset, **described}
        text = bool(desc.get("text", False))
        if desc.get("prompt"):
            return _prompt_spec(episodes, name, kind_name, desc)
        if text:
            from justask.text import shared_encoder

            encoder = shared_encoder()
            dim, recorded = encoder.dim, desc.get("encoder")
            if recorded is not None and recorded != encoder.identity:
                raise JustAskError(
                    f"condition '{name}' was embedded by '{recorded}', this justask encodes with '{encoder.identity}'"
                )
            offset, scale = [0.0] * dim, [1.0] * dim
        else:
            if not np.issubdtype(column.dtype, np.number):
                raise JustAskError(f"condition '{name}' holds {column.dtype}, not numbers")
            dim = 1 if column.ndim == 1 else int(np.prod(column.shape[1:]))
            offset = _floats(desc.get("offset", 0.0), dim, f"condition '{name}': offset")
            scale = _floats(desc.get("scale", 1.0), dim, f"condition '{name}': scale")
        first = np.asarray(column).reshape(len(column), -1)[episodes.episode_starts] if not text else None
        quantiles = best = None
        percentile = desc.get("best_percentile")
        if first is not None and dim == 1 and len(first):
            quantiles = np.percentile(first[:, 0].astype(np.float64), np.arange(101)).tolist()
        if percentile is not None:
            if first is None:
                raise JustAskError(f"condition '{name}': a text condition has no percentile to ask for")
            if not 0 <= float(percentile) <= 100:
                raise JustAskError(f"condition '{name}': best_percentile must be in [0, 100], got {percentile}")
            best = np.percentile(first.astype(np.float64), float(percentile), axis=0).tolist()
        fields = desc.get("fields")
        defaults = desc.get("defaults")
        outcomes = _outcome_rows(desc.get("outcomes"), name) if dim == 1 and not text else None
        if outcomes is not None:
            top = max(row[2] for row in outcomes)  # the highest request predicted to get the most
            best = [max(row[0] for row in outcomes if row[2] >= top - 1e-9 * max(1.0, abs(top)))]
        return ConditionSpec(
            name=name,
            kind=kind_name,
            keyword=str(desc.get("keyword", kind_name)),
            dim=dim,
            offset=offset,
            scale=scale,
            update=str(desc.get("update", "hold")),
            fields=None if fields is None else [str(f) for f in fields],
            defaults=None if defaults is None else _floats(defaults, dim, f"condition '{name}': defaults"),
            best=best,
            best_percentile=None if percentile is None else float(percentile),
            quantiles=quantiles,
            encoder=desc.get("encoder") if text else None,
            outcomes=outcomes,
            info={k: v for k, v in desc.items() if k not in SPEC_FIELDS and k != "texts"},
        )

    @property
    def is_text(self) -> bool:
        return self.encoder is not None or self.kind == TEXT.name

    @property
    def is_prompt(self) -> bool:
        """Asked with episodes of the behaviour wanted, encoded by the model (``justask.models.prompt_encoder``)."""
        return self.info.get("prompt") is True

    @property
    def prompt_episodes(self) -> int:
        """The most episodes a training prompt held (a prompt may hold more when asked)."""
        return int(self.info.get("max_episodes", PROMPT_EPISODES))

    # ---- the column in model units -----------------------------------------------------------
    def to_model(self, values: np.ndarray) -> np.ndarray:
        """User-unit values ``(N, dim)`` (or ``(N,)``) -> model units ``(N, dim)`` float32."""
        arr = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        if self.offset == [0.0] * self.dim and self.scale == [1.0] * self.dim:
            return arr.astype(np.float32)
        return ((arr - np.asarray(self.offset)) / np.asarray(self.scale)).astype(np.float32)

    def model_column(self, episodes: Episodes) -> tuple[np.ndarray, np.ndarray | None]:
        """The column as the model reads it: ``(values (N, dim) float32, None)``, or for text
        ``(indices (N,) int64, table (U, dim) float32)`` — each caption's embedding stored once."""
        column = episodes.conditions[self.name]
        if self.is_prompt:
            raise JustAskError(f"condition '{self.name}' is a prompt: the model reads episodes, not the column")
        if not self.is_text:
            return self.to_model(column), None
        texts = episodes.condition_info.get(self.name, {}).get("texts")
        if texts is None:
            raise JustAskError(f"text condition '{self.name}' has no texts in its description")
        return np.asarray(column, dtype=np.int64).reshape(-1), self.encode(list(texts))

    # ---- requests ----------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Sentences -> ``(n, dim)`` embeddings with the encoder this condition was made with."""
        from justask.text import shared_encoder

        encoder = shared_encoder()
        if self.encoder is not None and self.encoder != encoder.identity:
            raise JustAskError(
                f"this model's '{self.name}' condition was embedded by '{self.encoder}'; "
                f"this justask encodes sentences with '{encoder.identity}'"
            )
        return encoder.encode(list(texts))

    def request(self, value: Any = None) -> np.ndarray:
        """One request in user units -> the model-unit vector ``(dim,)``. ``None``: the best."""
        if self.is_prompt:
            raise JustAskError(
                f"condition '{self.name}' is a prompt: ask with episodes of the behaviour you want "
                f"(ask(model, {self.keyword}=episodes)); the model encodes them"
            )
        if self.is_text:
            return self._text_request(value)
        if value is None:
            if self.best is None:
                raise JustAskError(f"condition '{self.name}' has no default request: say what to ask for")
            value = self.best
        if isinstance(value, Mapping):
            value = self._from_fields(value)
        if isinstance(value, str):
            raise JustAskError(f"condition '{self.name}' takes {self.dim} number(s), not the text '{value}'")
        try:
            arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError):
            raise JustAskError(f"condition '{self.name}' takes {self.dim} number(s), got {value!r}") from None
        if arr.shape != (self.dim,):
            raise JustAskError(f"condition '{self.name}' takes {self.dim} number(s), got {arr.size}")
        if not np.isfinite(arr).all():
            raise JustAskError(f"condition '{self.name}': the request {arr.tolist()} is not finite")
        out = self.to_model(arr[None])[0]
        if not np.isfinite(out).all():
            raise JustAskError(f"condition '{self.name}': the request {arr.tolist()} is out of range for the model")
        return out

    def _from_fields(self, value: Mapping[str, Any]) -> list[float]:
        if self.fields is None:
            raise JustAskError(f"condition '{self.name}' has no named fields; give {self.dim} number(s)")
        unknown = sorted(set(value) - set(self.fields))
        if unknown:
            raise JustAskError(
                f"condition '{self.name}' has no field '{unknown[0]}' (fields: {', '.join(self.fields)})"
            )
        out = []
        for i, field in enumerate(self.fields):
            if field in value:
                out.append(value[field])
            elif self.defaults is not None:
                out.append(self.defaults[i])
            else:
                raise JustAskError(f"condition '{self.name}': give a value for '{field}'")
        return out

    def _text_request(self, value: Any) -> np.ndarray:
        if value is None:
            raise JustAskError(f"condition '{self.name}' is text: say what you want, e.g. 'pick up the blue key'")
        if isinstance(value, str):
            return self.encode([value])[0]
        raise JustAskError(f"condition '{self.name}' takes a sentence, got {type(value).__name__}")

    def requests(self, values: Sequence[Any]) -> np.ndarray:
        """Many requests at once (one per episode) -> ``(n, dim)`` model units; sentences are
        encoded in one batch."""
        if self.is_text:
            return self.encode([str(v) for v in values])
        rows = [self.request(v) for v in values]
        return np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)

    @property
    def null_request(self) -> Any:
        """A request that asks for nothing this condition can describe, for the steering control
        (text: a sentence about nothing in the world); None where no such request exists."""
        return IRRELEVANT if self.is_text else None

    def parse(self, text: str) -> Any:
        """A request typed on the command line: ``best`` (or nothing), numbers separated by
        commas, ``field=value,...``, (text conditions) the sentence itself, which has no
        "best": nothing is then asked, or (prompts) a local Minari dataset of the behaviour wanted
        (nothing: an empty prompt)."""
        if self.is_prompt:
            return None if text.strip() in ("", "best") else text.strip()
        if self.is_text:
            return None if text.strip() in ("", "best") else text
        text = text.strip()
        if text in ("", "best"):
            return None
        try:
            if "=" in text:
                pairs = [part.split("=", 1) for part in text.split(",")]
                return {key.strip(): float(number) for key, number in pairs}
            numbers = [float(x) for x in text.split(",")]
        except ValueError:
            hint = f" (fields: {', '.join(self.fields)})" if self.fields else ""
            raise JustAskError(
                f"'{text}' is not a request for '{self.name}': give 'best', {self.dim} number(s) separated "
                f"by commas, or field=value pairs{hint}"
            ) from None
        return numbers[0] if len(numbers) == 1 else numbers

    # ---- while acting ------------------------------------------------------------------------
    def advance(self, current: Any, rewards: Any) -> None:
        """After a step: update model-unit requests ``(N, dim)`` in place by the rewards ``(N,)``."""
        if self.update == "minus_reward":
            current[:, 0] -= rewards / self.scale[0]

    def in_user_units(self, vector: np.ndarray) -> float | list[float]:
        values = np.asarray(vector, dtype=np.float64) * np.asarray(self.scale) + np.asarray(self.offset)
        out = [round(float(v), 6) for v in values]
        return out[0] if self.dim == 1 else out

    def describe(self, value: Any) -> Any:
        """A request as a report shows it: the sentence, or numbers in user units."""
        if self.is_prompt:
            return "(prompt)"
        if self.is_text:
            return value if isinstance(value, str) else "(embedding)"
        return self.in_user_units(self.request(value))

    # ---- the data's own terms ----------------------------------------------------------------
    def data_requests(self, u: np.ndarray) -> np.ndarray:
        """Requests drawn like the data's (1-dim conditions): the data's quantile function at
        ``u`` in [0, 1), ``(n,)`` user units."""
        if self.quantiles is None:
            raise JustAskError(f"condition '{self.name}' keeps no distribution of the data's requests")
        return np.interp(np.asarray(u, dtype=np.float64) * 100.0, np.arange(101), np.asarray(self.quantiles))

    def quantile_request(self, quantile: float) -> float:
        """The request "better than ``quantile`` of the data's episodes" (0..1): the data's
        ``quantile`` of its requests, in user units."""
        if isinstance(quantile, bool) or not isinstance(quantile, (int, float, np.floating)):
            raise JustAskError(f"a quantile is a number in [0, 1], got {quantile!r}")
        if not 0.0 <= float(quantile) <= 1.0:
            raise JustAskError(f"a quantile is a number in [0, 1], got {quantile}")
        if self.quantiles is None:
            raise JustAskError(
                f"condition '{self.name}' keeps no distribution of the data's requests to take a quantile of"
            )
        return float(self.data_requests(np.array([min(float(quantile), 1.0 - 1e-12)]))[0])

    def share_at_or_above(self, value: float) -> float:
        """The share of the data's episodes whose request is at least ``value`` (1-dim)."""
        if self.quantiles is None:
            raise JustAskError(f"condition '{self.name}' keeps no distribution of the data's requests")
        q = np.asarray(self.quantiles)
        if value <= q[0]:
            return 1.0
        if value > q[-1]:
            return 0.0
        # the quantile function is a step-free interpolation; invert it where it rises
        rising = np.concatenate([[True], np.diff(q) > 0])
        return float(1.0 - np.interp(value, q[rising], np.arange(101)[rising]) / 100.0)

    def predict(self, value: Any = None) -> tuple[float, float, float] | None:
        """What asking ``value`` (user units; ``None``: the best) is predicted to achieve,
        ``(lo, mid, hi)``: the mean and middle half of the returns of the data's behaviours that
        the request selects. ``None`` where the condition carries no prediction."""
        if self.outcomes is None:
            return None
        asked = float(np.asarray(self.best if value is None else value, dtype=np.float64).reshape(-1)[0])
        table = np.asarray(self.outcomes, dtype=np.float64)
        lo, mid, hi = (float(np.interp(asked, table[:, 0], table[:, i])) for i in (1, 2, 3))
        return lo, mid, hi

    @property
    def honourable(self) -> float | None:
        """The highest request worth making: above it the prediction gets no better (1-dim with
        outcomes; else ``None``)."""
        return None if self.outcomes is None or self.best is None else float(self.best[0])

    def calibrated(self, action_rule: str) -> np.ndarray | None:
        """The measured rows for ``action_rule`` (``CALIBRATION_COLUMNS``), or ``None``."""
        rows = (self.calibration or {}).get("rules", {}).get(action_rule)
        return None if rows is None else np.asarray(rows, dtype=np.float64)

    def calibrated_choice(self, value: Any, action_rule: str) -> int | None:
        """Which calibrated row asking ``value`` (user units; ``None``: the best) is made as: the
        request whose measured mean was nearest ``value`` (ties: the higher request), or for the
        best, the one that got the most. ``None`` where there is no calibration for the rule."""
        rows = self.calibrated(action_rule)
        if rows is None:
            return None
        means = rows[:, 2]
        if value is None:
            return int(np.flatnonzero(means >= means.max())[-1])
        wanted = float(np.asarray(value, dtype=np.float64).reshape(-1)[0])
        gaps = np.abs(means - wanted)
        return int(np.flatnonzero(gaps <= gaps.min())[-1])

    # ---- storage -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> ConditionSpec:
        known = {f.name for f in dataclasses.fields(ConditionSpec)}
        if not isinstance(data, Mapping) or not {"name", "keyword", "dim", "offset", "scale"} <= set(data):
            raise JustAskError(
                "the condition description is not one this justask reads (written by an older version?): retrain"
            )
        unknown = sorted(set(data) - known)
        if unknown:
            raise JustAskError(f"the condition description has unknown fields {unknown}")
        try:
            return ConditionSpec(**dict(data))
        except TypeError as exc:
            raise JustAskError(f"the condition description is invalid ({exc})") from exc


def _prompt_spec(episodes: Episodes, name: str, kind_name: str, desc: Mapping[str, Any]) -> ConditionSpec:
    """The spec of a prompt column: per step, whole numbers naming the behaviour that made the
    episode, the same all through each episode."""
    column = np.asarray(episodes.conditions[name])
    if column.ndim != 1 or not np.issubdtype(column.dtype, np.integer):
        raise JustAskError(
            f"prompt condition '{name}' must hold one whole number per step (which behaviour), got {column.dtype} {list(column.shape)}"
        )
    starts = np.repeat(column[episodes.episode_starts], episodes.lengths)
    if len(column) and (column != starts).any():
        raise JustAskError(f"prompt condition '{name}': an episode's behaviour must be the same at every step")
    info = {k: v for k, v in desc.items() if k not in SPEC_FIELDS and k != "texts"}
    for key, default in (("prompt_dim", PROMPT_DIM), ("max_episodes", PROMPT_EPISODES)):
        value = info.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise JustAskError(f"prompt condition '{name}': {key} must be a whole number >= 1, got {value!r}")
        info[key] = int(value)
    dim = info["prompt_dim"]
    return ConditionSpec(
        name=name,
        kind=kind_name,
        keyword=str(desc.get("keyword", kind_name)),
        dim=dim,
        offset=[0.0] * dim,
        scale=[1.0] * dim,
        info={**info, "prompt": True},
    )
