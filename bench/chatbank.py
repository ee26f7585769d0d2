"""The chat bank (data/chat_bank.jsonl) and the other training texts of the recommender's head.

The bank was written for this project by two writers, independently of every evaluation set: several hundred
everyday situations, each a plain meme-style description ("...하고 있다."), one or two alternative descriptions
and eight casual chat lines. It is split by whole domain groups (학교, 회사, 연애, ...) with a fixed seed, about a fifth
of the situations held out: the two writers wrote some of the same situations in their own words (감기에 걸려
골골대고 있다, 읽씹을 당해서 서운해하고 있다), so a split by situation alone would hold out one twin and train on
the other. The head is chosen on the held-out situations, which bench.recommend reports.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

from core.recommend.situations import CHAT_BANK

BANK = CHAT_BANK
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HOLDOUT_FRACTION = 0.2
SPLIT_SEED = 14
#: domains that name the same kind of situation in the writers' own words: split as one group, so that a held-out
#: domain has no twin in training (one writer's 집 is the other's 집/청소, 휴가 sits beside 여행)
DOMAIN_GROUPS = {
    "집": "집/청소", "이사": "집/청소", "휴가": "여행", "부모님": "가족", "형제": "가족", "건강/다이어트": "운동/헬스",
    "e스포츠": "게임", "월요병": "회사", "층간소음": "집/청소", "벌레": "집/청소", "스포": "드라마/영화",
}


@dataclass(frozen=True)
class Situation:
    id: str
    domain: str
    description: str
    alt: tuple[str, ...]
    lines: tuple[str, ...]


def load_bank(path: Path = BANK) -> list[Situation]:
    situations = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            fields = (raw["situation"], raw["domain"], raw["description"], tuple(raw["alt"]), tuple(raw["lines"]))
            situations.append(Situation(*fields))
    return situations


def split(situations: list[Situation]) -> tuple[list[Situation], list[Situation]]:
    """(train, held out): whole domain groups in a seeded order, until a fixed fraction of the situations is held
    out."""
    groups = sorted({domain_group(s) for s in situations})
    random.Random(SPLIT_SEED).shuffle(groups)
    held: set[str] = set()
    for group in groups:
        if sum(domain_group(s) in held for s in situations) >= HOLDOUT_FRACTION * len(situations):
            break
        held.add(group)
    return [s for s in situations if domain_group(s) not in held], [s for s in situations if domain_group(s) in held]


def domain_group(situation: Situation) -> str:
    return DOMAIN_GROUPS.get(situation.domain, situation.domain)


def korsts(name: str, data: Path = SHARED) -> list[tuple[str, str, float]]:
    """(sentence 1, sentence 2, score 0-5) of KorSTS sts-{train,dev,test}.tsv."""
    with (data / "korsts" / f"sts-{name}.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [(r[5], r[6], float(r[4])) for r in rows]


def nli_triplets(data: Path = SHARED) -> list[tuple[str, str, str]]:
    """(premise, entailed hypothesis, contradicting hypothesis) from KorNLI's XNLI dev file."""
    by_premise: dict[str, dict[str, str]] = {}
    with (data / "kornli" / "xnli.dev.ko.tsv").open(encoding="utf-8") as fh:
        for row in list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]:
            if len(row) == 3:
                by_premise.setdefault(row[0], {})[row[2]] = row[1]
    return [
        (p, h["entailment"], h["contradiction"])
        for p, h in by_premise.items()
        if "entailment" in h and "contradiction" in h
    ]
