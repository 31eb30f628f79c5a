"""Policy models: a Decision Transformer and an RvS MLP behind one interface."""

from justask.models.config import MODEL_KINDS, ModelConfig, PolicyIO
from justask.models.policy import ACTION_RULES, PolicyModel
from justask.models.saved import RUN_KIND, load_model

__all__ = ["ACTION_RULES", "MODEL_KINDS", "RUN_KIND", "ModelConfig", "PolicyIO", "PolicyModel", "load_model"]
