"""The default pipeline's settings over the two selection sets, never over a reported one:

- dev memes (bench/data/dev_memes.jsonl): 60 captions of new situations, three casual sentences each, matched with
  the shipped head and the whole chat bank (none of these situations is in the bank);
- held-out bank situations (bench.chatbank's split), matched with the head and bank of the other situations
  (`python -m bench.train_head --holdout` writes them).

Grid: with and without the head; the chat bank expansion's weight, neighbours and temperature; the caption's
chat-style views on or off; expanding the captions as well as the sentences, or the sentences only.

    python -m bench.sweep [--top 20]      (2-5 minutes: each set is embedded once, the grid is numpy)
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bench.common import caption_texts, top1_top3
from bench.recommend import DEV_MEMES, held_out_set, meme_set
from bench.train_head import HOLDOUT_BANK, HOLDOUT_HEAD
from core.catalog.catalog import Catalog
from core.recommend.embedders import E5Embedder, Embedder
from core.recommend.head import DEFAULT_HEAD, HeadEmbedder
from core.recommend.load import CHAT_NEIGHBOURS, CHAT_WEIGHT
from core.recommend.situations import CHAT_BANK, TEMPERATURE, ChatEmbedder
from core.recommend.textnorm import normalise

Setting = tuple[bool, float, int, float, bool, bool]  # head, weight, neighbours, temperature, views, sentences only
SHIPPED: Setting = (True, CHAT_WEIGHT, CHAT_NEIGHBOURS, TEMPERATURE, True, False)


def grid() -> Iterator[tuple[float, int, float, bool, bool]]:
    for weight, neighbours, temperature, views, sentences_only in itertools.product(
        (0.0, 0.25, 0.5, 0.75, 1.0), (5, 10, 20), (0.02, 0.05), (True, False), (False, True)
    ):
        if weight == 0 and (neighbours, temperature, sentences_only) != (CHAT_NEIGHBOURS, TEMPERATURE, False):
            continue  # no expansion: its settings mean nothing
        yield weight, neighbours, temperature, views, sentences_only


def sweep(catalog: Catalog, lines: list[dict], head: Path | None, bank: Path) -> dict[tuple, tuple[float, float]]:
    base: Embedder = E5Embedder()
    headed = HeadEmbedder(base, head) if head else base
    expander = ChatEmbedder(headed, bank=bank)
    texts, owner, view = caption_texts([meme.caption for meme in catalog.memes])
    captions = headed.embed([normalise(t) for t in texts])
    sentences = headed.embed([normalise(line["query"]) for line in lines])
    ids = [meme.id for meme in catalog.memes]
    gold = np.array([ids.index(line["gold"]) for line in lines])
    results = {}
    for weight, neighbours, temperature, views, sentences_only in grid():
        def expand(vectors: np.ndarray, w: float = weight, k: int = neighbours, t: float = temperature) -> np.ndarray:
            return expander.expand(vectors, w, k, t)

        moved = sentences if weight == 0 else expand(sentences)
        targets = captions if weight == 0 or sentences_only else expand(captions)
        keep = np.ones(len(texts), bool) if views else ~view
        results[(weight, neighbours, temperature, views, sentences_only)] = top1_top3(
            moved @ targets[keep].T, owner[keep], gold, len(ids))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    if not HOLDOUT_HEAD.exists():
        raise SystemExit(f"run `python -m bench.train_head --holdout` first ({HOLDOUT_HEAD})")
    dev, held = meme_set(DEV_MEMES), held_out_set()
    table: dict[Setting, tuple[tuple[float, float], tuple[float, float]]] = {}
    for with_head in (True, False):
        on_dev = sweep(*dev, DEFAULT_HEAD if with_head else None, CHAT_BANK)
        on_held = sweep(*held, HOLDOUT_HEAD if with_head else None, HOLDOUT_BANK)
        for key, figures in on_dev.items():
            table[(with_head, *key)] = (figures, on_held[key])
    print("head weight neighbours temperature views sentences-only: dev memes top-1 top-3 | held-out top-1 top-3")
    ranked = sorted(table.items(), key=lambda item: (-item[1][0][0], -item[1][1][0], item[0]))
    plain: Setting = (False, 0.0, CHAT_NEIGHBOURS, TEMPERATURE, True, False)
    for label, (setting, ((d1, d3), (h1, h3))) in [*((str(n + 1), row) for n, row in enumerate(ranked[: args.top])),
                                                  ("shipped", (SHIPPED, table[SHIPPED])),
                                                  ("plain", (plain, table[plain]))]:
        print(f"{label:>8} {setting}: {d1:.3f} {d3:.3f} | {h1:.3f} {h3:.3f}")


if __name__ == "__main__":
    main()
