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

from justask.conditions import ConditionEncoder
from justask.models.config import ModelConfig


class Block(nn.Module):
    def __init__(self, d_model: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.n_head = n_head
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.dropout = dropout

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        b, length, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (t.view(b, length, self.n_head, d // self.n_head).transpose(1, 2) for t in (q, k, v))
        p = self.dropout if self.training else 0.0
        if attn_mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)
        y = y.transpose(1, 2).reshape(b, length, d)
        x = x + F.dropout(self.proj(y), p, self.training)
        return x + F.dropout(self.mlp(self.ln2(x)), p, self.training)


class DecisionTransformer(nn.Module):
    """Tokens in, one hidden vector per step out (read at each state token)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.config = config
        self.embed_state = nn.Linear(config.obs_dim, d)
        self.embed_action: nn.Module | None = None
        if config.action_tokens:
            self.embed_action = (
                nn.Embedding(config.action_dim, d) if config.discrete else nn.Linear(config.action_dim, d)
            )
        self.embed_condition = ConditionEncoder(config.condition, d) if config.condition else None
        self.embed_timestep = nn.Embedding(config.max_timestep, d) if config.timestep_embedding else None
        if self.embed_timestep is not None:
            # PyTorch's N(0, 1) rows would add large noise for rarely seen timesteps that short
            # training never shrinks.
            nn.init.normal_(self.embed_timestep.weight, std=0.02)
        self.ln_in = nn.LayerNorm(d)
        self.blocks = nn.ModuleList(Block(d, config.n_head, config.dropout) for _ in range(config.n_layer))
        self.ln_out = nn.LayerNorm(d)
        self.separate_condition = config.condition is not None and config.condition_token
        self.tokens_per_step = 1 + self.separate_condition + config.action_tokens
        self.state_token = int(self.separate_condition)  # position of the state token in a step

    def forward(
        self,
        observations: torch.Tensor,
        actions: torch.Tensor,
        conditions: torch.Tensor | None,
        timesteps: torch.Tensor,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """observations (B, T, obs_dim) normalised; actions (B, T) ints or (B, T, act_dim) in
        [-1, 1]; conditions (B, T, dim) or None; timesteps (B, T) ints; mask (B, T) bool, True
        for real steps (None: all real). Returns (B, T, d_model) read at the state tokens."""
        b, t = timesteps.shape
        time = 0.0
        if self.embed_timestep is not None:
            time = self.embed_timestep(timesteps.clamp(0, self.config.max_timestep - 1))
        parts = []
        state = self.embed_state(observations) + time
        if self.embed_condition is not None:
            if self.separate_condition:
                parts.append(self.embed_condition(conditions) + time)
            else:
                state = state + self.embed_condition(conditions)
        parts.append(state)
        if self.embed_action is not None:
            parts.append(self.embed_action(actions) + time)
        n = self.tokens_per_step
        x = self.ln_in(torch.stack(parts, dim=2).reshape(b, n * t, -1))
        attn_mask = None if mask is None else _padded_causal_mask(mask, n)
        for block in self.blocks:
            x = block(x, attn_mask)
        x = self.ln_out(x)
        return x.reshape(b, t, n, -1)[:, :, self.state_token]


def _padded_causal_mask(mask: torch.Tensor, tokens_per_step: int) -> torch.Tensor:
    """(B, 1, L, L) bool: a token attends to earlier real tokens and always to itself (so rows
    of padding stay finite)."""
    b, t = mask.shape
    length = t * tokens_per_step
    key_real = mask.repeat_interleave(tokens_per_step, dim=1)  # (B, L)
    causal = torch.ones(length, length, dtype=torch.bool, device=mask.device).tril()
    eye = torch.eye(length, dtype=torch.bool, device=mask.device)
    return ((causal & key_real[:, None, :]) | eye).unsqueeze(1)
