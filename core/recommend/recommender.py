"""Sentence -> memes: exact cosine over a normalised matrix of every caption and example sentence.

A meme's score is its best match over its caption and example sentences, plus `TONE_WEIGHT` times how much the
sentence's feelings and the meme's agree (core/recommend/tone.py). A sad or hurt sentence (by the tone model, or
by its words: core.recommend.tone.HURT_WORDS) never ranks a meme whose declared tone is mocking at all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from core.catalog.cache import DiskCache, content_key
from core.catalog.catalog import FEELINGS, Catalog, Meme
from core.recommend.embedders import Embedder
from core.recommend.feedback import Feedback
from core.recommend.tone import CHEERFUL, HURT, UNKIND, load_tone, sounds_hurt

#: how much the agreement of feelings (a probability product, 0..1) adds to a cosine score: chosen on the dev half
#: of bench/data/tone_pairs.jsonl and dev_memes (bench/tone.py)
TONE_WEIGHT = 0.05
#: a sentence that is sad or hurt more than anything else, or at least this likely, gets no mocking or gloating meme
HURT_AT = 0.5
#: what a declared cheerful meme loses for a hurt sentence: more than any two cosines differ, so it comes last
CHEER_BEHIND = 1.0


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
        vectors: list[np.ndarray] = []
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
        self.tone = load_tone(embedder.key, lambda labelled: embed_cached(embedder, labelled, cache)[0])
        #: each meme's feelings: its declared `tone`, else what its caption says
        self._feelings = self.tone.probabilities(self._matrix[self._starts]) if len(self._starts) else (
            np.zeros((0, len(FEELINGS)), np.float32))
        for i, meme in enumerate(catalog.memes):
            if meme.tone is not None:
                self._feelings[i] = np.eye(len(FEELINGS), dtype=np.float32)[FEELINGS.index(meme.tone)]
        # only a declared tone keeps a meme from hurt sentences: the model reads "허탈하게 웃고" as mockery too often
        self._unkind = np.array([meme.tone in UNKIND for meme in catalog.memes], bool)
        self._cheerful = np.array([meme.tone in CHEERFUL for meme in catalog.memes], bool)
        #: what people kept or skipped for similar sentences (core.recommend.feedback); None = ranking by text alone
        self.feedback: Feedback | None = None

    def __len__(self) -> int:
        return len(self.catalog.memes)

    def text_vectors(self) -> np.ndarray:
        """Every matched text's vector, meme by meme: its caption, examples, then the embedder's views."""
        return self._matrix

    def text_owner(self) -> np.ndarray:
        """For each row of text_vectors(), the position of its meme in the catalog."""
        return np.repeat(np.arange(len(self._starts)), np.diff(self._starts, append=self.text_count))

    def meme_feeling(self, meme_id: str) -> str:
        """The feeling a meme declares or its caption says most."""
        return FEELINGS[int(self._feelings[self._position[meme_id]].argmax())]

    def feelings(self, sentence: str) -> dict[str, float]:
        """The sentence's feelings and their probabilities."""
        probabilities = self.tone.probabilities(self.embedder.embed([sentence]))[0]
        return {f: float(p) for f, p in zip(FEELINGS, probabilities, strict=True)}

    def scores(self, sentence: str) -> np.ndarray:
        """Each meme's score for an already validated sentence: its best cosine over its texts, moved by the
        agreement of feelings and what people taught; -inf for a meme that would mock a hurt sentence."""
        return self.scores_of(self.embedder.embed([sentence])[0], sounds_hurt(sentence))

    def scores_of(self, query: np.ndarray, hurt: bool = False) -> np.ndarray:
        """scores() for a sentence's vector under this recommender's embedder; `hurt`: its words say it is."""
        per_text = self._matrix @ query
        scores = np.maximum.reduceat(per_text, self._starts)
        feelings = self.tone.probabilities(query)[0]
        scores += TONE_WEIGHT * (self._feelings @ feelings)
        top = FEELINGS[int(feelings.argmax())]
        if hurt or top in HURT or sum(feelings[FEELINGS.index(f)] for f in HURT) >= HURT_AT:
            scores[self._unkind] = -np.inf
            scores[self._cheerful] -= CHEER_BEHIND
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
    # Scores equal to 6 decimals are ties: the same text in two rows of the matrix can come out of the
    # matrix-vector product a few ulps apart (BLAS blocks rows differently), and must still rank in catalog order.
    scores = np.round(scores, 6)
    # every index that could be in the top (all of them tied at the cut included), then a total order
    cut = np.partition(scores, len(scores) - top)[len(scores) - top]
    near = np.flatnonzero(scores >= cut)
    return near[np.lexsort((near, -scores[near]))][:top]
