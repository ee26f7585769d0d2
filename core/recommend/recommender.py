"""Sentence -> memes: exact cosine over a normalised matrix of every caption and example sentence.

A meme's score is its best match over its caption and example sentences.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from core.catalog.cache import DiskCache, content_key
from core.catalog.catalog import Catalog, Meme
from core.recommend.embedders import Embedder
from core.recommend.feedback import Feedback


@dataclass(frozen=True)
class Ranked:
    index: int  # position in the catalog's meme list
    meme_id: str
    caption: str
    score: float


#: (stage, done, total): how far a long preparation is, for a progress bar
Progress = Callable[[str, int, int], None]
PROGRESS_BATCH = 128  # texts embedded between two progress reports


def embed_cached(
    embedder: Embedder, texts: Sequence[str], cache: DiskCache | None, progress: Progress | None = None
) -> tuple[np.ndarray, int]:
    """Embeddings for texts, computing only those the cache has not seen with this embedder.

    Returns the matrix and how many texts had to be embedded now."""
    keys = [content_key(embedder.key, t) for t in texts]
    found = cache.get_many(set(keys)) if cache else {}
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items())
    if missing:
        step = PROGRESS_BATCH if progress else len(missing)
        vectors = []
        for start in range(0, len(missing), step):
            vectors.extend(embedder.embed([t for _, t in missing[start : start + step]]))
            if progress:
                progress("texts", min(start + step, len(missing)), len(missing))
        fresh = {k: v.astype(np.float32).tobytes() for (k, _), v in zip(missing, vectors, strict=True)}
        if cache:
            cache.put_many(fresh)
        found = {**found, **fresh}
    out = np.empty((len(texts), embedder.dim), np.float32)
    for row, key in enumerate(keys):
        out[row] = np.frombuffer(found[key], np.float32)
    return out, len(missing)


def meme_texts(meme: Meme, embedder: Embedder) -> list[str]:
    """What a meme is matched on: its caption and examples, plus the chat-style rewrites of its caption that
    an embedder offers through an optional `caption_views(caption)` (core.situations.ChatEmbedder does)."""
    views = getattr(embedder, "caption_views", None)
    return [*meme.texts, *(views(meme.caption) if views else ())]


class Recommender:
    def __init__(
        self, catalog: Catalog, embedder: Embedder, cache: DiskCache | None = None, progress: Progress | None = None
    ) -> None:
        self.catalog = catalog
        self.embedder = embedder
        texts: list[str] = []
        starts: list[int] = []
        for meme in catalog.memes:
            starts.append(len(texts))
            texts.extend(meme_texts(meme, embedder))
        self._starts = np.asarray(starts, np.intp)
        self._position = {meme.id: i for i, meme in enumerate(catalog.memes)}
        self._matrix, self.freshly_embedded = embed_cached(embedder, texts, cache, progress)
        self.text_count = len(texts)
        #: what people kept or skipped for similar sentences (core.recommend.feedback); None = ranking by text alone
        self.feedback: Feedback | None = None

    def __len__(self) -> int:
        return len(self.catalog.memes)

    def scores(self, sentence: str) -> np.ndarray:
        """Each meme's score (its best cosine over its texts) for an already validated sentence."""
        query = self.embedder.embed([sentence])[0]
        per_text = self._matrix @ query
        scores = np.maximum.reduceat(per_text, self._starts)
        if self.feedback is not None:
            scores += self.feedback.adjustments(query)
        return scores

    def rank(self, sentence: str, top: int = 5, exclude: Collection[str] = ()) -> list[Ranked]:
        scores = self.scores(sentence)
        if exclude:
            hidden = [self._position[m] for m in exclude if m in self._position]
            scores[hidden] = -np.inf
        best = top_indices(scores, top)
        memes = self.catalog.memes
        return [
            Ranked(int(i), memes[i].id, memes[i].caption, float(scores[i]))
            for i in best
            if np.isfinite(scores[i])
        ]


def top_indices(scores: np.ndarray, top: int) -> np.ndarray:
    """The indices of the `top` highest scores, best first; equal scores in catalog order, so that a ranking
    never depends on how a CPU or numpy happens to order ties."""
    top = max(0, min(top, len(scores)))
    if top == 0:
        return np.zeros(0, np.intp)
    # every index that could be in the top (all of them tied at the cut included), then a total order
    cut = np.partition(scores, len(scores) - top)[len(scores) - top]
    near = np.flatnonzero(scores >= cut)
    return near[np.lexsort((near, -scores[near]))][:top]
