"""Policy models: a Decision Transformer and an RvS MLP behind one interface."""

from justask.models.config import MODEL_KINDS, ModelConfig
from justask.models.policy import ACTION_RULES, PolicyModel

__all__ = ["ACTION_RULES", "MODEL_KINDS", "ModelConfig", "PolicyModel"]
