"""Decision Transformer trunk: a causal transformer over (condition, state, action) tokens.

Each time step contributes up to three tokens, in the order the agent meets them: the request
(e.g. return-to-go), the state, the action taken. The action at step t is predicted from the
state token at step t, which by causality sees the request and everything before, never a_t.
Without a condition (behaviour cloning) a step has no request token; with
``action_tokens=False`` no action token (the model then cannot read which policy it is
imitating from its own past actions — see ``ModelConfig.action_tokens``). Segments are left-padded; padded
tokens are hidden from every real token, so padding changes no prediction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from justask.models.condition_encoder import ConditionEncoder
from justask.models.config import ModelConfig, PolicyIO


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` whose scale and shift are applied as separate steps on the CPU.

    Why: the fused CPU kernel sums the weight's gradient over rows in chunks per thread, so the
    same batch gives a different gradient with 1 and 2 threads (and a different model after
    training). The separate multiply-add's gradient is a plain reduction that does not depend on
    the thread count. Same parameters, outputs within 1e-6 of the fused kernel; it costs about 2%
    of a CPU step of the demo's DT. On CUDA the fused kernel runs.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return super().forward(x)
        return F.layer_norm(x, self.normalized_shape, None, None, self.eps) * self.weight + self.bias


class Block(nn.Module):
    def __init__(self, d_model: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.n_head = n_head
        self.ln1 = LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.dropout = dropout

    def forward(
        self,
        x: torch.Tensor,
        attn_mask: torch.Tensor | None,
        rows: torch.Tensor | None = None,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
        kv_out: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        """x (B, L, d). ``rows``: compute the output only at these token positions (keys and
        values still come from every token) — the last block needs only the tokens whose outputs
        are read. ``past``: cached keys and values (B, H, C, d/H) that the tokens of ``x`` come
        after; ``attn_mask`` then covers past and new keys. ``kv_out`` gets this block's keys and
        values of the tokens of ``x``."""
        b, length, d = x.shape
        h = self.ln1(x)
        if rows is None:
            q, k, v = self.qkv(h).split(d, dim=2)
        else:
            k, v = F.linear(h, self.qkv.weight[d:], self.qkv.bias[d:]).split(d, dim=2)
            q = F.linear(h[:, rows], self.qkv.weight[:d], self.qkv.bias[:d])
            x = x[:, rows]
            if attn_mask is None:
                keys = torch.arange(length, device=x.device)
                attn_mask = (keys[None, :] <= rows[:, None])[None, None]
            else:
                attn_mask = attn_mask[:, :, rows]
        heads = d // self.n_head
        q = q.view(b, -1, self.n_head, heads).transpose(1, 2)
        k, v = (t.view(b, length, self.n_head, heads).transpose(1, 2) for t in (k, v))
        if kv_out is not None:
            kv_out.append((k, v))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        p = self.dropout if self.training else 0.0
        if attn_mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)
        y = y.transpose(1, 2).reshape(b, -1, d)
        x = x + F.dropout(self.proj(y), p, self.training)
        return x + F.dropout(self.mlp(self.ln2(x)), p, self.training)


class DecisionTransformer(nn.Module):
    """Tokens in, one hidden vector per step out (read at each state token)."""

    def __init__(self, config: ModelConfig, io: PolicyIO) -> None:
        super().__init__()
        d = config.d_model
        self.config = config
        self.max_timestep = io.max_timestep
        self.embed_state = nn.Linear(io.obs_dim, d)
        self.embed_action: nn.Module | None = None
        if config.action_tokens:
            self.embed_action = nn.Embedding(io.action_dim, d) if io.discrete else nn.Linear(io.action_dim, d)
        self.embed_condition = (
            ConditionEncoder(io.condition.dim, d, config.condition_dropout > 0) if io.condition else None
        )
        self.embed_timestep = nn.Embedding(io.max_timestep, d) if config.timestep_embedding else None
        if self.embed_timestep is not None:
            # PyTorch's N(0, 1) rows would add large noise for rarely seen timesteps that short
            # training never shrinks.
            nn.init.normal_(self.embed_timestep.weight, std=0.02)
        self.ln_in = LayerNorm(d)
        self.blocks = nn.ModuleList(Block(d, config.n_head, config.dropout) for _ in range(config.n_layer))
        self.ln_out = LayerNorm(d)
        self.separate_condition = io.condition is not None and config.condition_token
        self.tokens_per_step = 1 + self.separate_condition + config.action_tokens
        self.state_token = int(self.separate_condition)  # position of the state token in a step

    def tokens(
        self,
        observations: torch.Tensor,
        actions: torch.Tensor,
        conditions: torch.Tensor | None,
        timesteps: torch.Tensor,
        drop_condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, T) steps -> (B, n * T, d) token embeddings, per step (request, state, action);
        ``drop_condition`` (B,) bool: those rows asked nothing (``ConditionEncoder``)."""
        b, t = timesteps.shape
        time = 0.0
        if self.embed_timestep is not None:
            time = self.embed_timestep(timesteps.clamp(0, self.max_timestep - 1))
        parts = []
        state = self.embed_state(observations) + time
        if self.embed_condition is not None:
            if self.separate_condition:
                parts.append(self.embed_condition(conditions, drop_condition) + time)
            else:
                state = state + self.embed_condition(conditions, drop_condition)
        parts.append(state)
        if self.embed_action is not None:
            parts.append(self.embed_action(actions) + time)
        return torch.stack(parts, dim=2).reshape(b, self.tokens_per_step * t, -1)

    def forward(
        self,
        observations: torch.Tensor,
        actions: torch.Tensor,
        conditions: torch.Tensor | None,
        timesteps: torch.Tensor,
        mask: torch.Tensor | None,
        last_only: bool = False,
        kv_out: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        drop_condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """observations (B, T, obs_dim) normalised; actions (B, T) ints or (B, T, act_dim) in
        [-1, 1]; conditions (B, T, dim) or None; timesteps (B, T) ints; mask (B, T) bool, True
        for real steps (None: all real). Returns (B, T, d_model) read at the state tokens, or
        (B, 1, d_model) at the last step's with ``last_only`` (acting). ``kv_out`` gets each
        block's keys and values (for the acting cache, ``justask.kv_cache``); ``drop_condition``
        (B,) bool: those rows asked nothing (condition dropout, guidance)."""
        b, t = timesteps.shape
        n = self.tokens_per_step
        x = self.tokens(observations, actions, conditions, timesteps, drop_condition)
        if self.embed_action is not None:
            x = x[:, :-1]  # the last step's action token: no output depends on it (causality)
        x = self.ln_in(x)
        attn_mask = None if mask is None else _padded_causal_mask(mask, n)[:, :, : x.shape[1], : x.shape[1]]
        # Only the state tokens' outputs are read: the last block computes just those rows.
        first = (t - 1) if last_only else 0
        rows = torch.arange(first, t, device=x.device) * n + self.state_token
        for i, block in enumerate(self.blocks):
            x = block(x, attn_mask, rows if i == len(self.blocks) - 1 else None, kv_out=kv_out)
        if not self.blocks:
            x = x[:, rows]
        return self.ln_out(x)

    def forward_incremental(
        self,
        observations: torch.Tensor,
        actions: torch.Tensor,
        conditions: torch.Tensor | None,
        timesteps: torch.Tensor,
        first: torch.Tensor,
        past: list[tuple[torch.Tensor, torch.Tensor]],
        past_valid: torch.Tensor,
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
        """One new step per row on top of cached keys and values: the inputs are the two steps
        (t-1, t), of which only the action at t-1 and step t's request and state become new
        tokens (the t-1 action token is padding where ``first``: no step before). ``past``: per
        block, keys and values (N, H, C, d/H); ``past_valid`` (N, C) bool. Returns the hidden
        vector at step t's state token (N, d), per block the new tokens' keys and values, and
        which new tokens are real (N, m)."""
        n = self.tokens_per_step
        lo = n - 1 if self.embed_action is not None else n  # new tokens: [a(t-1)], [request(t)], state(t)
        x = self.ln_in(self.tokens(observations, actions, conditions, timesteps)[:, lo : lo + n])
        rows_n, m = x.shape[0], x.shape[1]
        new_valid = torch.ones(rows_n, m, dtype=torch.bool, device=x.device)
        if self.embed_action is not None:
            new_valid[:, 0] = ~first
        own = torch.ones(m, m, dtype=torch.bool, device=x.device).tril() & new_valid[:, None, :]
        own = own | torch.eye(m, dtype=torch.bool, device=x.device)
        mask = torch.cat([past_valid[:, None, :].expand(-1, m, -1), own], dim=2)[:, None]
        last = torch.tensor([m - 1], device=x.device)  # the state token is the last new token
        new_kv: list[tuple[torch.Tensor, torch.Tensor]] = []
        for i, block in enumerate(self.blocks):
            x = block(x, mask, last if i == len(self.blocks) - 1 else None, past=past[i], kv_out=new_kv)
        if not self.blocks:
            x = x[:, -1:]
        return self.ln_out(x)[:, -1], new_kv, new_valid


def _padded_causal_mask(mask: torch.Tensor, tokens_per_step: int) -> torch.Tensor:
    """(B, 1, L, L) bool: a token attends to earlier real tokens and always to itself (so rows
    of padding stay finite)."""
    b, t = mask.shape
    length = t * tokens_per_step
    key_real = mask.repeat_interleave(tokens_per_step, dim=1)  # (B, L)
    causal = torch.ones(length, length, dtype=torch.bool, device=mask.device).tril()
    eye = torch.eye(length, dtype=torch.bool, device=mask.device)
    return ((causal & key_real[:, None, :]) | eye).unsqueeze(1)
