"""The feeling of a sentence and of a meme, so that the ranking prefers memes of the sentence's feeling and never
answers a sad or hurt sentence with a mocking or gloating one (docs/DESIGN.md, "Tone").

The feelings are learned from data the project writes: the chat bank's situations (data/chat_bank.jsonl), each
labelled by the feeling word of its description (`FEELING_WORDS`: "절망하고 있다" is sadness, "뿌듯해하고" pride;
a description naming none is left out), and data/feelings.jsonl, lines labelled by hand, above all for mockery,
which the bank barely has. The model is a ridge regression from the ranking embedder's vectors to the feelings
(one-vs-rest, closed form, so deterministic), with a softmax whose scale was chosen on whole bank situations held
out (bench/train_tone.py). It is trained once per embedder and stored in data/tone.npz under the embedder's key;
an embedder with no stored model trains one at load through the disk cache.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.catalog.catalog import FEELINGS
from core.recommend.situations import CHAT_BANK
from core.resources import bundled

log = logging.getLogger(__name__)

#: a sentence of these feelings is sad or hurt ...
HURT = frozenset({"sadness"})
#: ... and never gets a meme of these
UNKIND = frozenset({"mockery"})
#: ... and gets a meme of these only after every other ("다른 짤" after "시험 망했어" is no "합격했어!!")
CHEERFUL = frozenset({"joy", "pride"})
LABELLED = bundled("feelings.jsonl")
STORED = bundled("tone.npz")
#: the feeling word of a bank description, checked in this order (the first match labels it; mockery first, since
#: "흑역사를 들추며 깔깔 웃고" also laughs). Regular expressions: "분해" (vexed) is not the "분해" of 홀가분해.
FEELING_WORDS: tuple[tuple[str, str], ...] = (
    ("mockery", r"놀리|비웃|조롱|약\s?올|고소해|깐족|흑역사를 들추"),
    ("sadness", r"절망|우울|좌절|슬퍼|상심|서운|서러|쓸쓸|외로|속상|오열|울고|허탈|실망|눈물|그리워|소외감|센치|풀이 죽"
                r"|후회|자책|아쉬워|시무룩"),
    ("anger", r"분노|화가|짜증|억울|열받|(?<!가)분해|불쾌|질려|답답|스트레스"),
    ("embarrassment", r"당황|민망|창피|부끄|이불킥|어색|눈치를 보|난감"),
    ("shock", r"충격|경악|기겁|멘붕|패닉|놀라"),
    ("worry", r"긴장|초조|조마조마|걱정|막막|무서워|불안|심란"),
    ("tiredness", r"지쳐|피곤|졸음|졸려|지루|괴로워|골골|힘이 없|숙취|귀찮|싫어하"),
    ("pride", r"뿌듯|자랑|잘난 척|으스대|우쭐|자신만만"),
    ("joy", r"기뻐|신이 나|신나|환호|행복|들떠|설레|감동|감격|반가워|홀가분|깔깔|천국|기대에 부풀|즐거|웃고|상쾌|힐링"
            r"|편안|개운|포근|만끽|녹아내리"),
)
#: words that say a sentence is sad or hurt, whatever the model makes of the rest: the rule must not miss them, and
#: one that fires on a joke ("배고파 ㅠㅠ") only keeps mocking memes away from it
HURT_WORDS = re.compile(
    r"슬퍼|슬프|우울|눈물|울었|울고|울컥|울어|서러|서운|속상|상처|상심|헤어졌|헤어짐|헤어지|이별|차였|차임|외로|괴로|절망|좌절"
    r"|죽고 싶|ㅠㅠ|ㅜㅜ|\bsad\b|\bcry|crying|cried|heartbroken|depress|lonely|\bhurt|\bmiss (him|her|you|them)",
    re.IGNORECASE)
RIDGE = 1.0  # the regression's L2 penalty (vectors are unit length; a few thousand lines)
#: the softmax scale of a model trained at load (bench/train_tone.py chooses it for each stored model)
DEFAULT_SCALE = 4.0


def feeling_of(description: str) -> str | None:
    """The feeling a situation's description names, or None."""
    for feeling, words in FEELING_WORDS:
        if re.search(words, description):
            return feeling
    return None


#: laughter or hearsay that turns hurt words into someone else's hurt ("ㅋㅋㅋ 너 차였다며 꼴좋다")
GLOAT_WORDS = re.compile(
    r"ㅋㅋ|ㅎㅎ|꼴좋|쌤통|고소하|다며|\blol\b|\blmao\b|serves? (you|him|her|them) right", re.IGNORECASE)


def sounds_hurt(sentence: str) -> bool:
    """Whether the sentence says in so many words that its writer is sad or hurt (and does not laugh at it:
    "친구가 놀려서 속상해" is hurt, though its topic is mockery)."""
    return HURT_WORDS.search(sentence) is not None and GLOAT_WORDS.search(sentence) is None


def labelled_texts(bank: Path = CHAT_BANK, labelled: Path = LABELLED) -> tuple[list[str], list[str]]:
    """(texts, feelings) to learn from: every line and description of a bank situation whose description names a
    feeling, and the hand-labelled lines."""
    texts: list[str] = []
    feelings: list[str] = []
    for line in bank.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        feeling = feeling_of(raw["description"])
        if feeling is not None:
            items = [raw["description"], *raw.get("alt", ()), *raw["lines"]]
            texts += items
            feelings += [feeling] * len(items)
    for line in labelled.read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            items = [*raw.get("descriptions", ()), *raw["lines"]]
            texts += items
            feelings += [raw["feeling"]] * len(items)
    return texts, feelings


@dataclass(frozen=True)
class ToneModel:
    weight: np.ndarray  # (dim, len(FEELINGS))
    bias: np.ndarray  # (len(FEELINGS),)
    scale: float  # of the softmax

    @classmethod
    def fit(cls, vectors: np.ndarray, feelings: Sequence[str], scale: float = 1.0) -> ToneModel:
        """One-vs-rest ridge regression to +-1 targets, centred, in closed form. Each feeling weighs the same in
        all (a text of a rare feeling counts more): mockery has a few dozen texts, joy hundreds."""
        index = {f: i for i, f in enumerate(FEELINGS)}
        labels = np.array([index[f] for f in feelings])
        targets = -np.ones((len(feelings), len(FEELINGS)), np.float64)
        targets[np.arange(len(feelings)), labels] = 1.0
        counts = np.bincount(labels, minlength=len(FEELINGS))
        w = (len(labels) / (np.count_nonzero(counts) * counts[labels]))[:, None]
        x = np.asarray(vectors, np.float64)
        mean_x, mean_y = (w * x).sum(0) / w.sum(), (w * targets).sum(0) / w.sum()
        centred = x - mean_x
        gram = centred.T @ (w * centred) + RIDGE * np.eye(x.shape[1])
        weight = np.linalg.solve(gram, centred.T @ (w * (targets - mean_y)))
        bias = mean_y - mean_x @ weight
        return cls(weight.astype(np.float32), bias.astype(np.float32), float(scale))

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """(n, len(FEELINGS)): each row sums to 1."""
        logits = self.scale * (np.atleast_2d(vectors) @ self.weight + self.bias)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        shares: np.ndarray = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
        return shares

    def to_bytes(self, key: str) -> bytes:
        out = io.BytesIO()
        np.savez_compressed(out, key=np.array(key), weight=self.weight, bias=self.bias, scale=np.array(self.scale),
                            feelings=np.array(FEELINGS))
        return out.getvalue()


def read_stored(path: Path, key: str) -> ToneModel | None:
    """The model stored for this embedder key, if the file has one for it (and for these feelings)."""
    try:
        with np.load(path) as stored:
            keys = [str(k) for k in stored["keys"]]
            if key not in keys or tuple(str(f) for f in stored["feelings"]) != FEELINGS:
                return None
            i = keys.index(key)
            return ToneModel(stored[f"weight{i}"].astype(np.float32), stored[f"bias{i}"].astype(np.float32),
                             float(stored["scales"][i]))
    except (OSError, KeyError, ValueError):
        return None


def write_stored(path: Path, models: dict[str, ToneModel]) -> None:
    """Models per embedder key in one small file (half precision: far below what moves a probability)."""
    arrays: dict[str, np.ndarray] = {"keys": np.array(list(models)), "feelings": np.array(FEELINGS),
                                     "scales": np.array([m.scale for m in models.values()], np.float32)}
    for i, model in enumerate(models.values()):
        arrays[f"weight{i}"] = model.weight.astype(np.float16)
        arrays[f"bias{i}"] = model.bias.astype(np.float16)
    np.savez_compressed(path, allow_pickle=False, **arrays)


def load_tone(key: str, embed: Callable[[list[str]], np.ndarray], stored: Path = STORED) -> ToneModel:
    """The stored model for the embedder `key`, else one trained now on texts embedded by `embed` (the recommender
    passes its cached embedding)."""
    model = read_stored(stored, key)
    if model is not None:
        return model
    texts, feelings = labelled_texts()
    log.info("no stored tone model for %s: learning one from %d labelled texts", key, len(texts))
    return ToneModel.fit(embed(texts), feelings, DEFAULT_SCALE)
