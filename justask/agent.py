"""``Agent``: a trained model asked for something, acting for many envs at once.

It is a policy in the sense of ``justask.policies``: ``act`` gets the observations of the env
slots that need an action and answers all of them with one forward pass. Per slot it keeps the
last ``context_len`` steps (a ring buffer) and the current request, which for a return condition
is decremented by each reward, as during training (return-to-go).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from justask.kv_cache import KVCache

if TYPE_CHECKING:
    from justask.models.policy import PolicyModel


class Agent:
    def __init__(
        self,
        model: PolicyModel,
        request: np.ndarray | None,
        *,
        action_rule: str = "argmax",
        seed: int = 0,
        name: str | None = None,
        reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        kv_cache: bool = False,
        cache_keep: int | None = None,
        request_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        """``kv_cache`` (DT only): keep each slot's keys and values so a step costs one step's
        tokens, not a whole context; the window then holds between ``cache_keep`` (default half
        the context) and ``context_len`` steps (see ``justask.kv_cache``). ``request_fn``: a
        request per episode instead of one for all — given the new episodes' seeds ``(n,)``, their
        requests ``(n, dim)`` in model units (e.g. each episode's world, for an oracle)."""
        self.model = model.eval()
        # For a model trained on learned returns: r̂(states, actions) -> (N,) decrements the
        # request instead of the env's reward.
        self.reward_fn = reward_fn
        self.config = model.config
        self.action_rule = action_rule
        self.device = next(model.parameters()).device
        self.request = None if request is None else torch.as_tensor(request, dtype=torch.float32, device=self.device)
        self.request_fn = request_fn
        spec = self.config.condition
        asked = (
            "@per-episode"
            if request_fn is not None
            else ""
            if request is None or spec is None
            else f"@{spec.in_user_units(request):g}"
            if spec.dim == 1
            else "@goal"
        )
        self.name = name or f"{self.config.kind}{asked}/{action_rule}"
        self.info = {
            "model": self.config.kind,
            "action_rule": action_rule,
            "condition": None if spec is None or request is None else spec.in_user_units(request),
        }
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(seed)
        self._cache = KVCache(model, cache_keep) if kv_cache and self.config.kind == "dt" else None
        self._capacity = 0
        self._allocate(1)

    def _allocate(self, n_slots: int) -> None:
        """Grow the per-slot buffers to at least ``n_slots`` (existing state is kept)."""
        if n_slots <= self._capacity:
            return
        k, c = self.config.context_len, self.config
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
        cond_dim = c.condition.dim if c.condition else 1
        self._conditions = grow(None if first else self._conditions, (k, cond_dim), torch.float32)
        self._current = grow(None if first else self._current, (cond_dim,), torch.float32)
        self._t = grow(None if first else self._t, (), torch.long)
        if self._cache is not None:
            self._cache.allocate(new, self.device)
        self._capacity = new

    # ---- the policy protocol -----------------------------------------------------------------
    def reset(self, slots: np.ndarray, seeds: np.ndarray | None = None) -> None:
        """New episodes start in ``slots``: clear their history and renew the request."""
        slots_t = torch.as_tensor(np.asarray(slots), dtype=torch.long, device=self.device)
        self._allocate(int(slots_t.max()) + 1 if len(slots_t) else 1)
        self._t[slots_t] = 0
        self._obs[slots_t] = 0
        self._actions[slots_t] = 0
        self._conditions[slots_t] = 0
        if self._cache is not None:
            self._cache.reset(slots_t)
        if self.request_fn is not None and len(slots_t):
            if seeds is None:
                raise ValueError("an Agent with a request_fn needs the episodes' seeds at reset")
            rows = np.asarray(self.request_fn(np.asarray(seeds)), dtype=np.float32).reshape(len(slots_t), -1)
            self._current[slots_t] = torch.as_tensor(rows, device=self.device)
        elif self.request is not None:
            self._current[slots_t] = self.request

    def observe(self, slots: np.ndarray, rewards: np.ndarray) -> None:
        """Rewards for the last actions: a return request is decremented by them (with a
        ``reward_fn``, ``act`` has already decremented it by the learned reward)."""
        spec = self.config.condition
        if spec is not None and spec.kind == "return" and self.reward_fn is None:
            slots_t = torch.as_tensor(np.asarray(slots), dtype=torch.long, device=self.device)
            r = torch.as_tensor(np.asarray(rewards), dtype=torch.float32, device=self.device)
            self._current[slots_t, 0] -= r / spec.scale

    def _window(
        self, slots: torch.Tensor, t: torch.Tensor, length: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """The steps ``t - length + 1 .. t`` of each slot, oldest first, from the ring buffers:
        observations, actions, conditions, timesteps and the mask of steps inside the episode."""
        steps = t[:, None] - (length - 1) + torch.arange(length, device=self.device)  # (N, length)
        ring = steps % self.config.context_len
        rows = slots[:, None]
        conditions = self._conditions[rows, ring] if self.config.condition else None
        return self._obs[rows, ring], self._actions[rows, ring], conditions, steps.clamp(min=0), steps >= 0

    @torch.no_grad()
    def act(self, observations: np.ndarray, slots: np.ndarray | None = None) -> np.ndarray:
        """``(N, *obs_shape)`` observations of env ``slots`` -> ``N`` actions, one forward pass."""
        n = len(observations)
        slots = np.arange(n) if slots is None else np.asarray(slots)
        slots_t = torch.as_tensor(slots, dtype=torch.long, device=self.device)
        if n and int(slots.max()) >= self._capacity:
            self._allocate(int(slots.max()) + 1)
        k = self.config.context_len
        t = self._t[slots_t]  # (N,) this step's index within the episode
        pos = t % k
        obs = torch.as_tensor(np.asarray(observations, dtype=np.float32), device=self.device).reshape(n, -1)
        self._obs[slots_t, pos] = obs
        self._conditions[slots_t, pos] = self._current[slots_t]
        if self._cache is None:
            out = self.model(*self._window(slots_t, t, k), last_only=True)[:, -1]
        else:
            out = self._cache.outputs(slots_t, t, self._window)
        actions = self.model.select_actions(out, self.action_rule, self._generator)
        self._actions[slots_t, pos] = actions.to(self._actions.dtype)
        self._t[slots_t] = t + 1
        chosen = actions.cpu().numpy()
        if self.reward_fn is not None and self.config.condition is not None:
            learned = self.reward_fn(np.asarray(observations), chosen)
            decrement = torch.as_tensor(learned, dtype=torch.float32, device=self.device)
            self._current[slots_t, 0] -= decrement / self.config.condition.scale
        return chosen
