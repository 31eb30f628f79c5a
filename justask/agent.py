"""``Agent``: a trained model asked for something, acting for many envs at once.

It is a policy in the sense of ``justask.policies``: ``act`` gets the observations of the env
slots that need an action and answers all of them with one forward pass. Per slot it keeps the
last ``context_len`` steps (a ring buffer) and the current request, which evolves as its
condition says (``ConditionSpec.advance``: a return-to-go is decremented by each reward, as during
training). Make one with ``justask.asking.ask``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from justask.errors import JustAskError
from justask.kv_cache import KVCache
from justask.models.policy import PolicyModel

# Requests: one model-unit vector (dim,) for every episode, or a function of the new episodes'
# seeds (n,) -> their requests (n, dim) in model units.
Requests = np.ndarray | Callable[[np.ndarray], np.ndarray] | None


class Agent:
    def __init__(
        self,
        model: PolicyModel,
        requests: Requests,
        *,
        name: str,
        asked: Any = None,
        action_rule: str = "argmax",
        seed: int = 0,
        reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        kv_cache: bool = False,
        cache_keep: int | None = None,
        guidance: float = 1.0,
    ) -> None:
        """``asked``: the request as a report shows it. ``reward_fn`` (a model trained on
        returns of a learned reward): r̂(observations, actions) -> (N,) advances the request
        instead of the env's reward. ``kv_cache`` (DT only): keep each slot's keys and values so
        a step costs one step's tokens, not a whole context; the window then holds between
        ``cache_keep`` (default half the context) and ``context_len`` steps (``justask.kv_cache``).
        ``guidance`` (a model trained with condition dropout): act by the asked policy pushed
        away from the one asked nothing (``PolicyModel.guided``; 1: no guidance)."""
        if guidance != 1.0 and not model.can_guide:
            raise JustAskError(
                "guidance needs a model trained with condition dropout (train with --model.condition-dropout, e.g. 0.1)"
            )
        if guidance != 1.0 and kv_cache:
            raise JustAskError("guidance and the key-value cache cannot be combined: ask with one of them")
        self.guidance = float(guidance)
        self.model = model.eval()
        self.reward_fn = reward_fn
        self.config, self.io = model.config, model.io
        self.spec = model.io.condition
        self.action_rule = action_rule
        self.device = next(model.parameters()).device
        self.per_episode = callable(requests)
        self.requests = requests
        self.request = (
            None
            if requests is None or self.per_episode
            else torch.as_tensor(requests, dtype=torch.float32, device=self.device)
        )
        self.name = name
        self.info = {"model": self.config.kind, "action_rule": action_rule, "condition": asked}
        if self.guidance != 1.0:
            self.info["guidance"] = self.guidance
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(seed)
        self._cache = KVCache(model, cache_keep) if kv_cache and self.config.kind == "dt" else None
        self._capacity = 0
        self._allocate(1)

    def _allocate(self, n_slots: int) -> None:
        """Grow the per-slot buffers to at least ``n_slots`` (existing state is kept)."""
        if n_slots <= self._capacity:
            return
        k, c = self.config.window, self.io
        new = max(n_slots, 2 * self._capacity)

        def grow(old: torch.Tensor | None, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
            t = torch.zeros((new, *shape), dtype=dtype, device=self.device)
            if old is not None:
                t[: len(old)] = old
            return t

        first = self._capacity == 0
        self._obs = grow(None if first else self._obs, (k, c.obs_dim), torch.float32)
        act_shape, act_dtype = ((k,), torch.long) if c.discrete else ((k, c.action_dim), torch.float32)
        self._actions = grow(None if first else self._actions, act_shape, act_dtype)
        cond_dim = self.spec.dim if self.spec else 1
        self._conditions = grow(None if first else self._conditions, (k, cond_dim), torch.float32)
        self._current = grow(None if first else self._current, (cond_dim,), torch.float32)
        self._t = grow(None if first else self._t, (), torch.long)
        # which slots were reset since the agent was made: on the host, so acting checks it without a device sync
        started = np.zeros(new, dtype=bool)
        if not first:
            started[: len(self._started)] = self._started
        self._started = started
        if self._cache is not None:
            self._cache.allocate(new, self.device)
        self._capacity = new

    # ---- the policy protocol -----------------------------------------------------------------
    def reset(self, slots: np.ndarray, seeds: np.ndarray | None = None) -> None:
        """New episodes start in ``slots``: clear their history and renew the request."""
        slots_t = torch.as_tensor(np.asarray(slots), dtype=torch.long, device=self.device)
        self._allocate(int(slots_t.max()) + 1 if len(slots_t) else 1)
        self._t[slots_t] = 0
        self._started[np.asarray(slots, dtype=np.int64)] = True
        self._obs[slots_t] = 0
        self._actions[slots_t] = 0
        self._conditions[slots_t] = 0
        if self._cache is not None:
            self._cache.reset(slots_t)
        if self.per_episode and len(slots_t):
            if seeds is None:
                raise ValueError("an Agent asked per episode needs the episodes' seeds at reset")
            rows = np.asarray(self.requests(np.asarray(seeds)), dtype=np.float32).reshape(len(slots_t), -1)
            self._current[slots_t] = torch.as_tensor(rows, device=self.device)
        elif self.request is not None:
            self._current[slots_t] = self.request

    def observe(self, slots: np.ndarray, rewards: np.ndarray) -> None:
        """Rewards for the last actions advance the requests (with a ``reward_fn``, ``act``
        has already advanced them by the learned reward)."""
        if self.spec is not None and self.reward_fn is None:
            self._advance(np.asarray(slots), np.asarray(rewards))

    def _advance(self, slots: np.ndarray, rewards: np.ndarray) -> None:
        slots_t = torch.as_tensor(slots, dtype=torch.long, device=self.device)
        rows = self._current[slots_t]
        self.spec.advance(rows, torch.as_tensor(rewards, dtype=torch.float32, device=self.device))
        self._current[slots_t] = rows

    def _window(
        self, slots: torch.Tensor, t: torch.Tensor, length: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """The steps ``t - length + 1 .. t`` of each slot, oldest first, from the ring buffers:
        observations, actions, conditions, timesteps and the mask of steps inside the episode."""
        steps = t[:, None] - (length - 1) + torch.arange(length, device=self.device)  # (N, length)
        ring = steps % self.config.window
        rows = slots[:, None]
        conditions = self._conditions[rows, ring] if self.spec else None
        return self._obs[rows, ring], self._actions[rows, ring], conditions, steps.clamp(min=0), steps >= 0

    @torch.no_grad()
    def act(self, observations: np.ndarray, slots: np.ndarray | None = None) -> np.ndarray:
        """``(N, *obs_shape)`` observations of env ``slots`` -> ``N`` actions, one forward pass."""
        n = len(observations)
        slots = np.arange(n) if slots is None else np.asarray(slots)
        slots_t = torch.as_tensor(slots, dtype=torch.long, device=self.device)
        if n and int(slots.max()) >= self._capacity:
            self._allocate(int(slots.max()) + 1)
        fresh = ~self._started[slots]
        if fresh.any():  # a slot acted in before any reset starts its episode now, with the request
            if self.per_episode:
                raise JustAskError(f"{self.name}: asked per episode, so reset(slots, seeds) must start each episode")
            self.reset(slots[fresh])
        k = self.config.window
        t = self._t[slots_t]  # (N,) this step's index within the episode
        pos = t % k
        obs = torch.as_tensor(np.asarray(observations, dtype=np.float32), device=self.device).reshape(n, -1)
        if obs.shape[1] != self.io.obs_dim:
            raise ValueError(f"{self.name}: observations of {obs.shape[1]} numbers, the model reads {self.io.obs_dim}")
        self._obs[slots_t, pos] = obs
        self._conditions[slots_t, pos] = self._current[slots_t]
        if self._cache is None and self.guidance != 1.0:  # one pass: the rows asked, then the same asked nothing
            window = [torch.cat([x, x]) for x in self._window(slots_t, t, k)]
            drop = torch.arange(2 * n, device=self.device) >= n
            both = self.model(*window, last_only=True, drop_condition=drop)[:, -1]
            out = self.model.guided(both[:n], both[n:], self.guidance)
        elif self._cache is None:
            out = self.model(*self._window(slots_t, t, k), last_only=True)[:, -1]
        else:
            out = self._cache.outputs(slots_t, t, self._window)
        actions = self.model.select_actions(out, self.action_rule, self._generator)
        self._actions[slots_t, pos] = actions.to(self._actions.dtype)
        self._t[slots_t] = t + 1
        chosen = actions.cpu().numpy()
        if self.reward_fn is not None and self.spec is not None:
            self._advance(slots, np.asarray(self.reward_fn(np.asarray(observations), chosen), dtype=np.float32))
        return chosen
