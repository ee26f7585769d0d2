"""What a catalog's curator should rewrite: memes the recommender cannot tell apart, and memes no example reaches.

Both come from the recommender's own vectors (the catalog's texts as it matches them), so the check says what
the bot will actually do:
- a confusable pair: two memes whose caption-and-examples centroids, taken relative to the catalog's mean, have a
  cosine of at least `too_close` (core/limits.py). Relative, because the embedder puts any two Korean situations
  at 0.85-0.95: measured with the default embedder, the same situation in other words ("라면을 끓여 먹고
  있다." / "라면을 끓여서 먹고 있다.") is at 0.88, the closest of the 60 shared captions ("생일 축하를 받아
  고마워 하고 있다." / "축하하며 박수를 치고 있다.") at 0.65, of the 16 demo memes at 0.36;
- an unreached meme: none of its example sentences, typed as a chat sentence, ranks it first. Each example is
  scored against every meme with that example itself left out, so it cannot simply find itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.catalog.catalog import Meme
from core.recommend.recommender import Recommender

_BLOCK = 1024  # rows of the pair matrix at a time: a 10,000-meme catalog never holds 10,000 x 10,000 floats


@dataclass(frozen=True)
class Confusable:
    first: Meme
    second: Meme
    similarity: float


@dataclass(frozen=True)
class Unreached:
    meme: Meme
    example: str  # the example that came closest to reaching it
    went_to: Meme  # where that example landed instead


@dataclass(frozen=True)
class CheckReport:
    confusable: list[Confusable]
    unreached: list[Unreached]
    without_examples: list[Meme]


def check_catalog(recommender: Recommender, too_close: float) -> CheckReport:
    memes = recommender.catalog.memes
    vectors, owner = recommender.text_vectors(), recommender.text_owner()
    # A meme's own texts (caption, then examples) come first among its rows; the embedder's views follow.
    first = np.searchsorted(owner, np.arange(len(memes)))
    own = [np.arange(start, start + len(m.texts)) for start, m in zip(first, memes, strict=True)]
    return CheckReport(
        _confusable(memes, vectors, own, too_close),
        _unreached(memes, vectors, owner, own),
        [m for m in memes if not m.examples],
    )


def _confusable(memes: list[Meme], vectors: np.ndarray, own: list[np.ndarray], too_close: float) -> list[Confusable]:
    centroids = np.stack([vectors[rows].mean(0) for rows in own]) if memes else np.zeros((0, vectors.shape[1]))
    centroids -= centroids.mean(0)  # what sets memes apart within this catalog
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    found = []
    for start in range(0, len(memes), _BLOCK):
        block = centroids[start : start + _BLOCK] @ centroids.T
        for a, b in zip(*np.nonzero(block >= too_close), strict=True):
            if start + a < b:
                found.append(Confusable(memes[start + a], memes[b], float(block[a, b])))
    return sorted(found, key=lambda c: -c.similarity)


def _unreached(memes: list[Meme], vectors: np.ndarray, owner: np.ndarray, own: list[np.ndarray]) -> list[Unreached]:
    found = []
    for index, meme in enumerate(memes):
        best: tuple[float, str, int] | None = None  # (margin to the first place, example, where it went)
        for example, row in zip(meme.examples, own[index][1:], strict=True):
            per_text = vectors @ vectors[row]
            per_text[row] = -np.inf  # the example must not find itself
            scores = np.full(len(memes), -np.inf, np.float32)
            np.maximum.at(scores, owner, per_text)
            top = int(np.argmax(scores))  # ties: catalog order
            if top == index:
                best = None
                break
            margin = float(scores[index] - scores[top])
            if best is None or margin > best[0]:
                best = (margin, example, top)
        if best is not None:
            found.append(Unreached(meme, best[1], memes[best[2]]))
    return found
