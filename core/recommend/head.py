"""A small trained map on top of the bundled embedder, fitted to casual chat against plain situation descriptions.

The map y = normalise(x W + b) was trained by bench/train_head.py (a chat bank of several hundred everyday
situations, KorSTS train and KorNLI) and ships as a small file in the package. Captions and chat lines both
go through it, so similarity stays symmetric.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.errors import ConfigError
from core.recommend.embedders import Embedder
from core.resources import bundled

DEFAULT_HEAD = bundled("chat_head.npz")


class HeadEmbedder:
    """Wraps the base embedder the head was trained on."""

    def __init__(self, base: Embedder, head: Path = DEFAULT_HEAD) -> None:
        data = head.read_bytes()
        trained_on, self._weight, self._bias = read_head(data)
        if trained_on != base.key or self._weight.shape != (base.dim, base.dim):
            reason = f"the head was trained on {trained_on}, not {base.key}; retrain it with bench/train_head.py"
            raise ConfigError("model.unavailable", name=str(head), reason=reason)
        self._base = base
        self.dim = base.dim
        self.key = f"{base.key}+head:{hashlib.sha256(data).hexdigest()[:12]}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        mapped = self._base.embed(texts) @ self._weight + self._bias
        norms = np.maximum(np.linalg.norm(mapped, axis=1, keepdims=True), 1e-12)
        unit: np.ndarray = (mapped / norms).astype(np.float32)
        return unit


def read_head(data: bytes) -> tuple[str, np.ndarray, np.ndarray]:
    """(key of the base embedder it was trained on, W, b) of a head file's bytes."""
    with np.load(io.BytesIO(data)) as stored:
        return str(stored["base"]), stored["weight"].astype(np.float32), stored["bias"].astype(np.float32)


def write_head(path: Path, base_key: str, weight: np.ndarray, bias: np.ndarray) -> None:
    """Half precision: the map stays within 1e-3 of the trained one and the file stays small."""
    np.savez_compressed(path, base=np.array(base_key), weight=weight.astype(np.float16), bias=bias.astype(np.float16))
