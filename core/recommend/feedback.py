"""Learning from use: the sentences people used when they picked or kept a meme become that meme's learned
examples, so the next person's differently worded sentence lands on it (docs/DESIGN.md, "Learning from use").

A signal is (person, meme, the embedding of the sentence it was shown for, kind, age). Kinds differ in strength:
a meme picked from a choice (`PICK_VOTE`) says most, a meme kept (`KEEP_VOTE`: sent, and no "다른 짤" after it)
less, "다른 짤" (`NEXT_VOTE`) a little against the meme skipped. Old signals fade (half-life `half_life_s`). For a new
sentence every signal counts with a weight that grows with how similar its sentence is (nothing below `radius`),
and a meme's score moves by

    strength * tanh(sum over people of their weighted signals / saturation)

One person's signals for one meme share a weight of 1 (their newest `per_person`), and only the `memes_per_person`
memes they signalled last count at all: whatever one person presses, they move a meme's score for anyone by at
most strength * tanh(1 / saturation) (~0.32 * strength), and only for sentences like theirs, for that many memes.
Several people agreeing move it up to `strength`.

`Feedback` is pure and in-memory. `Learning` is the one owner of learning from use: it holds the one switch
(`FeedbackSettings.enabled`), records the votes in the service's store, and hands the recent votes to the pool
workers as data (`Votes`), which embed their sentences and build a `Feedback`. Workers never open the store.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

PICK_VOTE = 2  # picked from a choice
KEEP_VOTE = 1  # sent alone and kept (no "다른 짤" after it)
NEXT_VOTE = -1  # "다른 짤": the meme shown fitted worse than hoped


@dataclass(frozen=True)
class Signal:
    person_id: int  # the store's id of the person, only used to bound their weight
    meme_id: str
    vector: np.ndarray  # L2-normalised embedding of the sentence the meme was shown for
    vote: int  # PICK_VOTE, KEEP_VOTE or NEXT_VOTE
    age_s: float = 0.0  # how long ago it was given


@dataclass(frozen=True)
class FeedbackSettings:
    enabled: bool = True
    #: largest change of a meme's score, in cosine units; with `radius`, the best of a grid on bench/learning.py's
    #: dev situations (0.1-0.3 x 0.82-0.88: stronger or wider learning did worse)
    strength: float = 0.1
    #: cosine between two sentences below which one says nothing about the other (under the default, chat lines
    #: of unrelated bank situations sit at 0.82 on average, lines of one situation at 0.88)
    radius: float = 0.88
    #: agreeing people-equivalents that give tanh(1) ~ 76 % of the strength
    saturation: float = 3.0
    #: what a signal of each kind weighs
    pick: float = 1.0
    keep: float = 0.5
    skip: float = -0.3
    #: signals fade to half their weight in this long
    half_life_s: float = 30 * 86400.0
    #: latest signals kept per (person, meme); they share that person's single vote
    per_person: int = 5
    #: memes one person's signals can move (their latest)
    memes_per_person: int = 20
    #: the newest votes that count
    votes: int = 20_000
    #: the workers relearn at most this often (s) when there are new votes
    refresh_s: float = 30.0

    def weight(self, vote: int) -> float:
        return {PICK_VOTE: self.pick, KEEP_VOTE: self.keep, NEXT_VOTE: self.skip}.get(vote, 0.0)


class Feedback:
    def __init__(
        self, signals: Iterable[Signal], meme_ids: Sequence[str], settings: FeedbackSettings | None = None
    ) -> None:
        self.settings = settings or FeedbackSettings()
        position = {meme_id: i for i, meme_id in enumerate(meme_ids)}
        self._memes = len(position)
        grouped: dict[int, dict[str, list[Signal]]] = defaultdict(dict)
        for signal in signals:  # oldest first, as the store returns them
            if signal.meme_id in position and self.settings.weight(signal.vote):
                memes = grouped[signal.person_id]
                memes.setdefault(signal.meme_id, []).append(signal)
                memes[signal.meme_id] = memes.pop(signal.meme_id)  # the meme signalled last goes last
        vectors: list[np.ndarray] = []
        weights: list[float] = []
        positions: list[int] = []
        for by_meme in grouped.values():
            for meme_id in list(by_meme)[-self.settings.memes_per_person :]:
                kept = by_meme[meme_id][-self.settings.per_person :]
                for signal in kept:
                    fade = 0.5 ** (max(0.0, signal.age_s) / self.settings.half_life_s)
                    vectors.append(np.asarray(signal.vector, np.float32))
                    weights.append(self.settings.weight(signal.vote) * fade / len(kept))
                    positions.append(position[meme_id])
        self._vectors = np.stack(vectors) if vectors else np.zeros((0, 0), np.float32)
        self._weights = np.asarray(weights, np.float32)
        self._meme_of = np.asarray(positions, np.intp)

    def __len__(self) -> int:
        return len(self._weights)

    def adjustments(self, query: np.ndarray) -> np.ndarray:
        """Per meme (in the order of meme_ids), what to add to its score for this sentence's embedding."""
        out = np.zeros(self._memes, np.float32)
        if not self.settings.enabled or not len(self._weights):
            return out
        similarity = self._vectors @ np.asarray(query, np.float32)
        reach = np.clip((similarity - self.settings.radius) / (1.0 - self.settings.radius), 0.0, 1.0)
        total = np.bincount(self._meme_of, weights=self._weights * reach, minlength=self._memes)
        return (self.settings.strength * np.tanh(total / self.settings.saturation)).astype(np.float32)


@dataclass(frozen=True)
class Vote:
    person_id: int
    text_key: str  # the sentence, as the service keys requests (core.service.service.text_key)
    meme_id: str
    vote: int
    at: float = 0.0  # when it was given (time.time())


@dataclass(frozen=True)
class Votes:
    """What the workers learn from, as data: the votes of one generation and how to weigh them."""

    generation: str | None  # None: learning from use is off
    items: tuple[Vote, ...]
    settings: FeedbackSettings


class _Votes(Protocol):
    """Where the votes are kept: the service's store (core.service.store, SQLite or PostgreSQL)."""

    async def vote(self, person: int, text_key: str, meme: str, vote: int) -> None: ...
    async def votes(self, limit: int) -> list[Vote]: ...
    async def votes_mark(self) -> tuple[int, float]: ...


class Learning:
    """Records votes in the service's store and decides when the workers relearn.

    A generation names one set of votes: their count and newest time in the store, read at most every
    `refresh_s`."""

    def __init__(self, store: _Votes, settings: FeedbackSettings) -> None:
        self.store = store
        self.settings = settings
        self._recorded = 0
        self._announced: tuple[str | None, float] = (None, -float("inf"))  # the generation last read, and when
        self._cached: Votes | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    @property
    def recorded(self) -> int:
        """Votes recorded since start (a repeated vote replaces the old one in the store, and counts here)."""
        return self._recorded

    async def vote(self, person_id: int, text_key: str, meme_id: str, vote: int) -> None:
        """One vote per person, sentence and meme: a person can't flood the signal by repeating it."""
        await self.store.vote(person_id, text_key, meme_id, vote)
        self._recorded += 1

    async def recent(self, limit: int | None = None) -> list[Vote]:
        return await self.store.votes(limit or self.settings.votes)

    async def generation(self) -> str | None:
        """The generation the workers should rank with now; None when learning from use is off. Read from the
        store at most every `refresh_s`, so every bot instance that shares the store names the same votes the
        same way (a worker serving several instances does not relearn between them), and a vote recorded through
        any instance reaches them all."""
        if not self.enabled:
            return None
        announced, when = self._announced
        if announced is None or time.monotonic() - when >= self.settings.refresh_s:
            count, newest = await self.store.votes_mark()
            announced = f"{count}:{newest!r}"
            self._announced = (announced, time.monotonic())
        return announced

    def forget(self) -> None:
        """A person was deleted: their votes are not handed out again from memory (the next generation is read
        from the store, without them)."""
        self._announced, self._cached = (None, -float("inf")), None

    async def votes(self, generation: str | None) -> Votes:
        """The votes of a generation (read once per generation), for a worker that has not learned them."""
        if generation is None:
            return Votes(None, (), self.settings)
        if self._cached is None or self._cached.generation != generation:
            self._cached = Votes(generation, tuple(await self.recent()), self.settings)
        return self._cached
