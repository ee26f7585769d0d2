"""Trains the tone model (core/recommend/tone.py) for the bundled configurations and writes data/tone.npz.

python -m bench.train_tone            (a minute or two the first time, while the labelled texts are embedded)

The softmax scale is chosen on the chat bank's held-out situations (bench/chatbank.py: whole domain groups held
out): a model fitted on the other situations and data/feelings.jsonl is scored by the log loss of the held-out
lines' feelings. The stored model is then fitted on everything with that scale. Under the default configuration
the held-out lines' vectors are carried towards the whole bank (its expansion includes them), so its held-out
figures flatter it; the bare model's ("e5") do not.
"""

from __future__ import annotations

import functools

import numpy as np

from bench.chatbank import load_bank, split
from bench.train_head import CACHE
from core.catalog.cache import DiskCache
from core.recommend.embedders import Embedder
from core.recommend.load import load_embedder
from core.recommend.recommender import embed_cached
from core.recommend.tone import FEELINGS, STORED, ToneModel, feeling_of, labelled_texts, write_stored

CONFIGS = ("default", "e5")
SCALES = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0)


def _labelled(situations: list) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    feelings: list[str] = []
    for s in situations:
        feeling = feeling_of(s.description)
        if feeling is not None:
            items = [s.description, *s.alt, *s.lines]
            texts += items
            feelings += [feeling] * len(items)
    return texts, feelings


def _embed(embedder: Embedder, cache: DiskCache, texts: list[str]) -> np.ndarray:
    return embed_cached(embedder, texts, cache)[0]


def main() -> None:
    train, held = split(load_bank())
    all_texts, all_feelings = labelled_texts()
    bank_count = len(_labelled(load_bank())[0])
    hand = (all_texts[bank_count:], all_feelings[bank_count:])  # data/feelings.jsonl's part
    train_texts, train_feelings = _labelled(train)
    train_texts, train_feelings = train_texts + hand[0], train_feelings + hand[1]
    held_texts, held_feelings = _labelled(held)
    print(f"labelled: {len(all_texts)} texts ({bank_count} from the bank); held out: {len(held_texts)} lines")
    counts = {f: all_feelings.count(f) for f in FEELINGS}
    print("per feeling:", ", ".join(f"{f} {n}" for f, n in counts.items()))
    cache = DiskCache(CACHE)
    models: dict[str, ToneModel] = {}
    for config in CONFIGS:
        embedder = load_embedder(config)
        embed = functools.partial(_embed, embedder, cache)
        fitted = ToneModel.fit(embed(train_texts), train_feelings)
        truth = np.array([FEELINGS.index(f) for f in held_feelings])
        held_vectors = embed(held_texts)
        best = None
        for scale in SCALES:
            p = ToneModel(fitted.weight, fitted.bias, scale).probabilities(held_vectors)
            loss = float(-np.log(np.maximum(p[np.arange(len(truth)), truth], 1e-9)).mean())
            accuracy = float((p.argmax(1) == truth).mean())
            print(f"{config:8s} scale {scale:4.1f}: held-out log loss {loss:.3f}  accuracy {accuracy:.3f}")
            if best is None or loss < best[0]:  # ties: the smaller scale, listed first
                best = (loss, scale)
        assert best is not None
        models[embedder.key] = ToneModel.fit(embed(all_texts), all_feelings, best[1])
        print(f"{config}: scale {best[1]} ({embedder.key})")
    cache.close()
    write_stored(STORED, models)
    print(f"wrote {STORED}")


if __name__ == "__main__":
    main()
