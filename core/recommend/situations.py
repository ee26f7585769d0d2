"""The default sentence embedder: colloquial Korean normalised, then carried towards the situation it describes.

People chat about a situation ("케이크에 초 꽂고 소원 빌었어") and never use the words of the meme's caption.
A bank of everyday chat lines, each labelled with the plain description of its situation (data/situations.tsv,
written for this project), bridges that gap for any catalog: a text's nearest bank lines vote for their
descriptions, and the text's vector moves towards them:

    v' = normalise(v + weight * normalise(sum_i softmax(cos(v, line_i) / temperature) * description_i))

over the `neighbours` nearest lines. Captions and chat lines go through the same map, so the similarity stays
symmetric (KorSTS is measured the same way). On the hard query set this moved top-1 from 0.38 to 0.48; it helps
only where the bank covers the situation, so a catalog about other kinds of situations gains from more bank lines.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.errors import ConfigError
from core.recommend.embedders import Embedder, agrees
from core.recommend.textnorm import VERSION as TEXTNORM_VERSION
from core.recommend.textnorm import caption_views, normalise
from core.resources import bundled

DEFAULT_BANK = bundled("situations.tsv")
#: the bank's vectors under the bundled model, so that start-up embeds nothing (bench/build_situation_vectors.py
#: writes it; with another model or bank it is ignored and the bank is embedded on first use)
DEFAULT_VECTORS = DEFAULT_BANK.with_suffix(".npz")
#: the chat bank: 320 everyday situations with eight casual lines each, written for this project independently of
#: every evaluation set (data/README.md); the default configuration expands towards it (core/recommend/load.py)
CHAT_BANK = bundled("chat_bank.jsonl")
TEMPERATURE = 0.02  # of the expansion's softmax over the nearest bank lines (ChatEmbedder's default)
PROBES = 8  # bank lines re-embedded at load to check that the shipped vectors hold on this CPU

log = logging.getLogger(__name__)


def load_bank(path: Path) -> list[tuple[str, str]]:
    """(situation, chat line) pairs of a bank: a tab-separated file (lines starting with # are comments) or, for
    a .jsonl file, one situation a line: {"description": ..., "lines": [...], ...} (data/chat_bank.jsonl)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("situations.unreadable", path=str(path), reason=exc.strerror or str(exc)) from None
    pairs: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if path.suffix == ".jsonl":
            try:
                raw = json.loads(line)
                fields = [raw["description"].strip(), *(chat.strip() for chat in raw["lines"])]
            except (ValueError, KeyError, TypeError, AttributeError):
                raise ConfigError("situations.bad_line", path=str(path), line=number) from None
            pairs.extend((fields[0], chat) for chat in fields[1:])
        else:
            fields = [f.strip() for f in line.split("\t")]
            if len(fields) != 2:
                raise ConfigError("situations.bad_line", path=str(path), line=number)
            pairs.append((fields[0], fields[1]))
        if not all(fields):
            raise ConfigError("situations.bad_line", path=str(path), line=number)
    if not pairs:
        raise ConfigError("situations.bad_line", path=str(path), line=0)
    return pairs


class ChatEmbedder:
    """Wraps a base embedder: normalises colloquial Korean and, with a bank, expands towards situations."""

    def __init__(
        self,
        base: Embedder,
        bank: Path | None = DEFAULT_BANK,
        weight: float = 0.7,
        neighbours: int = 5,
        temperature: float = TEMPERATURE,
        vectors: Path | None = None,
    ) -> None:
        """`vectors`: the bank's precomputed vectors (default: beside the bank, with the suffix .npz)."""
        self._base = base
        self._vectors_path = vectors or (bank.with_suffix(".npz") if bank else None)
        self.dim = base.dim
        self._pairs = load_bank(bank) if bank else []
        self._weight, self._neighbours, self._temperature = weight, neighbours, temperature
        digest = hashlib.sha256(repr(self._pairs).encode()).hexdigest()[:12]
        expansion = f"+situations:{digest}:w{weight}:k{neighbours}:t{temperature}" if self._pairs else ""
        self.key = f"{base.key}+textnorm{TEXTNORM_VERSION}{expansion}"
        self.bank_key = f"{base.key}+textnorm{TEXTNORM_VERSION}+bank:{digest}"
        self._names = sorted({situation for situation, _ in self._pairs})
        index = {name: i for i, name in enumerate(self._names)}
        self._situation_of = np.array([index[s] for s, _ in self._pairs], np.intp)
        self._vectors: tuple[np.ndarray, np.ndarray] | None = None  # (lines, situations), loaded on first use

    @staticmethod
    def caption_views(caption: str) -> list[str]:
        """Extra texts the recommender matches for a caption (see core.textnorm.caption_views)."""
        return caption_views(caption)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._base.embed([normalise(t) for t in texts])
        if not self._pairs or not len(vectors):
            return vectors
        return self.expand(vectors)

    def bank_texts(self) -> tuple[list[str], list[str]]:
        """The bank's chat lines and its situation descriptions, in the order of embed_bank's rows."""
        return [line for _, line in self._pairs], self._names

    def embed_bank(self) -> tuple[np.ndarray, np.ndarray]:
        """The bank's chat lines and situation descriptions under the base model."""
        lines, names = self.bank_texts()
        return self._base.embed([normalise(line) for line in lines]), self._base.embed(names)

    def _load_bank_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        if self._vectors is None:
            stored = _read_vectors(self._vectors_path, self.bank_key) if self._vectors_path else None
            if stored is not None and not self._holds_here(stored[0]):
                log.warning("%s does not match what this machine computes; embedding the bank anew", self._vectors_path)
                stored = None
            self._vectors = stored or self.embed_bank()
        return self._vectors

    def _holds_here(self, lines: np.ndarray) -> bool:
        """Whether vectors computed elsewhere agree with this machine's on a few evenly spread bank lines."""
        picks = np.unique(np.linspace(0, len(self._pairs) - 1, PROBES).astype(int))
        fresh = self._base.embed([normalise(self._pairs[i][1]) for i in picks])
        return len(lines) == len(self._pairs) and agrees(lines[picks], fresh)

    def expand(self, vectors: np.ndarray, weight: float | None = None, neighbours: int | None = None,
               temperature: float | None = None) -> np.ndarray:
        """Moves vectors towards their nearest situations; the keywords override the embedder's own settings
        (bench/sweep.py tries several on one set of vectors)."""
        weight = self._weight if weight is None else weight
        temperature = self._temperature if temperature is None else temperature
        lines, situations = self._load_bank_vectors()
        k = min(self._neighbours if neighbours is None else neighbours, len(lines))
        similarity = vectors @ lines.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        near = np.take_along_axis(similarity, nearest, axis=1)
        votes = np.exp((near - near.max(axis=1, keepdims=True)) / temperature)
        votes /= votes.sum(axis=1, keepdims=True)
        toward = np.einsum("nk,nkd->nd", votes, situations[self._situation_of[nearest]])
        toward /= np.maximum(np.linalg.norm(toward, axis=1, keepdims=True), 1e-12)
        moved = vectors + weight * toward
        unit: np.ndarray = (moved / np.maximum(np.linalg.norm(moved, axis=1, keepdims=True), 1e-12)).astype(np.float32)
        return unit


def _read_vectors(path: Path, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Precomputed (lines, situations) vectors if the file was written for exactly this model and bank."""
    try:
        with np.load(path) as stored:
            if str(stored["key"]) != key:
                return None
            return stored["lines"].astype(np.float32), stored["situations"].astype(np.float32)
    except (OSError, KeyError, ValueError):
        return None


def write_vectors(path: Path, bank_key: str, lines: np.ndarray, situations: np.ndarray) -> None:
    """The bank's vectors (ChatEmbedder.embed_bank) for `bank_key`. Half precision keeps a bank of thousands of
    lines small; its error is far below VECTOR_ATOL."""
    np.savez_compressed(path, key=np.array(bank_key), lines=lines.astype(np.float16),
                        situations=situations.astype(np.float16))
