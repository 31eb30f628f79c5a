"""Keys and values of a Decision Transformer agent's recent tokens, so an env step costs one
step's tokens instead of a whole context.

Acting without a cache recomputes the last ``context_len`` steps' tokens at every step. With it,
each slot keeps its tokens' keys and values per block; a new step adds only its own tokens
(the previous action, the request, the state), which attend to the cache. Exactness: a token's
keys and values depend on every token before it in the window, so a window that slides by one
step would invalidate the whole cache. The cache therefore *grows* from the window's start until
it holds ``context_len`` steps, then restarts from the last ``keep`` steps (one full forward over
them). Every output is exactly the model's output on the window [start, t] — a prefix-window the
model was trained on, as every position of a training segment is a prediction with that much
history — where the window holds between ``keep`` and ``context_len`` steps, instead of always
``context_len``. The test suite checks both (tests/test_kv_cache.py).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from justask.errors import JustAskError

# window(slots, t, length) -> observations, actions, conditions, timesteps, mask of the steps
# (t - length + 1 .. t) of each slot
Window = Callable[[torch.Tensor, torch.Tensor, int], tuple]


class KVCache:
    def __init__(self, model: torch.nn.Module, keep: int | None = None) -> None:
        config = model.config
        if config.kind != "dt":
            raise JustAskError("a KV cache is for the Decision Transformer (an MLP sees one step anyway)")
        self.model = model
        self.context_len = config.context_len
        self.keep = keep if keep is not None else max(1, self.context_len // 2)
        if not 1 <= self.keep <= self.context_len:
            raise JustAskError(f"cache keep must be between 1 and the context length {self.context_len}")
        self.tokens_per_step = model.trunk.tokens_per_step
        self.capacity_tokens = self.tokens_per_step * self.context_len
        self.heads = config.n_head
        self.head_dim = config.d_model // config.n_head
        self.n_layer = config.n_layer
        self.slots = 0

    def allocate(self, n_slots: int, device: torch.device) -> None:
        """Room for ``n_slots`` slots (existing slots keep their cache)."""
        if n_slots <= self.slots:
            return
        c, h, hd = self.capacity_tokens, self.heads, self.head_dim

        def grow(old: torch.Tensor | None, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
            t = torch.zeros((n_slots, *shape), dtype=dtype, device=device)
            if old is not None:
                t[: len(old)] = old
            return t

        first = self.slots == 0
        self.keys = [grow(None if first else self.keys[i], (c, h, hd), torch.float32) for i in range(self.n_layer)]
        self.values = [grow(None if first else self.values[i], (c, h, hd), torch.float32) for i in range(self.n_layer)]
        self.valid = grow(None if first else self.valid, (c,), torch.bool)
        self.length = grow(None if first else self.length, (), torch.long)  # tokens held
        self.steps = grow(None if first else self.steps, (), torch.long)  # steps held
        self.slots = n_slots

    def reset(self, slots: torch.Tensor) -> None:
        self.length[slots] = 0
        self.steps[slots] = 0
        self.valid[slots] = False

    def window_start(self, slots: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """First step of the window the next output at step ``t`` reads (for checks)."""
        steps = self.steps[slots]
        return torch.where(steps >= self.context_len, t - self.keep + 1, t - steps)

    @torch.no_grad()
    def outputs(self, slots: torch.Tensor, t: torch.Tensor, window: Window) -> torch.Tensor:
        """The model's head output at step ``t`` of each slot ``(N, ...)``, updating the cache."""
        refresh = self.steps[slots] >= self.context_len
        grow_rows = (~refresh).nonzero().squeeze(1)
        restart_rows = refresh.nonzero().squeeze(1)
        parts: list[tuple[torch.Tensor, torch.Tensor]] = []
        if len(grow_rows):
            parts.append((grow_rows, self._grow(slots[grow_rows], t[grow_rows], window)))
        if len(restart_rows):
            parts.append((restart_rows, self._restart(slots[restart_rows], t[restart_rows], window)))
        out = torch.empty((len(slots), parts[0][1].shape[-1]), device=parts[0][1].device)
        for rows, values in parts:
            out[rows] = values
        return out

    def _grow(self, slots: torch.Tensor, t: torch.Tensor, window: Window) -> torch.Tensor:
        observations, actions, conditions, timesteps, _ = window(slots, t, 2)  # steps t-1, t
        past = [
            (k[slots].transpose(1, 2), v[slots].transpose(1, 2)) for k, v in zip(self.keys, self.values, strict=True)
        ]
        out, new_kv, new_valid = self.model.forward_incremental(
            observations, actions, conditions, timesteps, t == 0, past, self.valid[slots]
        )
        positions = self.length[slots][:, None] + torch.arange(new_valid.shape[1], device=slots.device)
        rows = slots[:, None]
        for layer, (k, v) in enumerate(new_kv):
            self.keys[layer][rows, positions] = k.transpose(1, 2)
            self.values[layer][rows, positions] = v.transpose(1, 2)
        self.valid[rows, positions] = new_valid
        self.length[slots] += new_valid.shape[1]
        self.steps[slots] += 1
        return out

    def _restart(self, slots: torch.Tensor, t: torch.Tensor, window: Window) -> torch.Tensor:
        observations, actions, conditions, timesteps, _ = window(slots, t, self.keep)  # all real steps
        kv: list[tuple[torch.Tensor, torch.Tensor]] = []
        out = self.model(observations, actions, conditions, timesteps, None, last_only=True, kv_out=kv)[:, -1]
        held = kv[0][0].shape[2]
        for layer, (k, v) in enumerate(kv):
            self.keys[layer][slots, :held] = k.transpose(1, 2)
            self.values[layer][slots, :held] = v.transpose(1, 2)
        self.valid[slots] = torch.arange(self.capacity_tokens, device=slots.device) < held
        self.length[slots] = held
        self.steps[slots] = self.keep
        return out
