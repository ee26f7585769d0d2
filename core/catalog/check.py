"""What a catalog's curator should rewrite: memes the recommender cannot tell apart, and memes no example reaches.

Both come from the recommender's own vectors (the catalog's texts as it matches them), so the check says what
the bot will actually do:
- a confusable pair: two memes whose caption or examples lie closer than `too_close` (cosine) to each other;
- an unreached meme: none of its example sentences, typed as a chat sentence, ranks it first. Each example is
  scored against every meme with that example itself left out, so it cannot simply find itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.catalog.catalog import Meme
from core.recommend.recommender import Recommender


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
    vectors = recommender.text_vectors()
    owner = recommender.text_owner()
    own_count = [len(m.texts) for m in memes]  # a meme's own texts come first among its rows; views follow
    similarity = vectors @ vectors.T

    confusable = []
    for a in range(len(memes)):
        rows_a = np.flatnonzero(owner == a)[: own_count[a]]
        for b in range(a + 1, len(memes)):
            rows_b = np.flatnonzero(owner == b)[: own_count[b]]
            closest = float(similarity[np.ix_(rows_a, rows_b)].max())
            if closest >= too_close:
                confusable.append(Confusable(memes[a], memes[b], closest))
    confusable.sort(key=lambda c: -c.similarity)

    unreached = []
    for index, meme in enumerate(memes):
        rows = np.flatnonzero(owner == index)[1 : own_count[index]]  # the examples, caption excluded
        best: tuple[float, str, int] | None = None  # (margin, example, where it went)
        for row in rows:
            per_text = similarity[row].copy()
            per_text[row] = -np.inf  # the example must not find itself
            scores = np.full(len(memes), -np.inf)
            np.maximum.at(scores, owner, per_text)
            top = int(np.argmax(scores))  # ties: catalog order
            margin = float(scores[index] - scores[top])
            if top == index:
                break
            if best is None or margin > best[0]:
                best = (margin, meme.examples[row - rows[0]], top)
        else:
            if best is not None:
                unreached.append(Unreached(meme, best[1], memes[best[2]]))
    without = [m for m in memes if not m.examples]
    return CheckReport(confusable, unreached, without)
