"""Lexical evidence for concrete words: character bigrams shared by a sentence and a meme's texts, BM25-weighted.

A semantic embedder blurs rare concrete words (택배, 로또, 스포, 바퀴벌레) into their neighbourhood; a bigram
that few memes of the catalog contain is strong evidence when the sentence contains it too. The index is built
per catalog from the same texts the embedder matches, so it costs a few MB for 10,000 memes and no model.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from core.recommend.textnorm import normalise

_WORD = re.compile(r"[가-힣A-Za-z0-9]+")


def bigrams(text: str) -> Counter[str]:
    """Character bigrams inside the words of the normalised text (a one-letter word counts as itself)."""
    grams: Counter[str] = Counter()
    for word in _WORD.findall(normalise(text).lower()):
        grams.update([word] if len(word) == 1 else (word[i : i + 2] for i in range(len(word) - 1)))
    return grams


class LexicalIndex:
    """BM25 over memes, each meme one document made of all its texts; scores scaled to 0..1 per sentence."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        counts = [sum((bigrams(t) for t in texts), Counter()) for texts in documents]
        lengths = np.array([sum(c.values()) for c in counts], np.float32)
        norm = k1 * (1 - b + b * lengths / max(float(lengths.mean()), 1.0)) if len(counts) else lengths
        postings: dict[str, list[tuple[int, int]]] = {}
        for doc, c in enumerate(counts):
            for gram, tf in c.items():
                postings.setdefault(gram, []).append((doc, tf))
        self._size = len(counts)
        self._postings = {}
        for gram, rows in postings.items():
            docs = np.array([d for d, _ in rows], np.intp)
            tf = np.array([t for _, t in rows], np.float32)
            idf = np.log(1 + (len(counts) - len(rows) + 0.5) / (len(rows) + 0.5))
            self._postings[gram] = (docs, (idf * tf * (k1 + 1) / (tf + norm[docs])).astype(np.float32))

    def scores(self, sentence: str) -> np.ndarray:
        out = np.zeros(self._size, np.float32)
        for gram in bigrams(sentence):
            if gram in self._postings:
                docs, weight = self._postings[gram]
                out[docs] += weight
        top = out.max(initial=0.0)
        return out / top if top > 0 else out
