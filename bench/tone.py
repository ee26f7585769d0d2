"""Tone benchmark: pairs of memes with the same topic and opposite feelings (bench/data/tone_pairs.jsonl).

python -m bench.tone [--sweep]

All 48 memes form one catalog, their declared tones ignored (the catalog's feelings are inferred from the captions,
as for a catalog that declares none) unless --declared. Per query: top-1 over the catalog, whether its meme ranks
above its twin (pair accuracy), and whether a sad query got a mocking meme first. Even pairs (p02, p04, ...) are
the dev half that --sweep chooses `TONE_WEIGHT` on, with dev_memes.jsonl (which may lose no more than noise); odd pairs
are reported. `TONE_WEIGHT=0` with the hurt rule off is the recommender before tone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import core.recommend.recommender as recommender_module
from bench.recommend import DEV_MEMES, meme_set
from core.catalog.catalog import Catalog, Meme
from core.recommend.load import load_embedder
from core.recommend.recommender import Recommender, top_indices
from core.recommend.tone import HURT, UNKIND, sounds_hurt

PAIRS = Path(__file__).resolve().parent / "data" / "tone_pairs.jsonl"


def load_pairs(declared: bool) -> tuple[Catalog, list[dict]]:
    rows = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    memes, queries = [], []
    for number, row in enumerate(rows):
        a, b = row["memes"]
        for meme, twin in ((a, b), (b, a)):
            memes.append(Meme(id=meme["id"], caption=meme["caption"], tone=meme["tone"] if declared else None))
            for query in meme["queries"]:
                queries.append({"query": query, "gold": meme["id"], "twin": twin["id"], "tone": meme["tone"],
                                "twin_tone": twin["tone"], "dev": number % 2 == 1})  # p02, p04, ... (0-based odd rows)
    return Catalog(root=None, memes=memes), queries


def ranked(recommender: Recommender, item: dict) -> list[str]:
    """The memes for a query, best first; its vector is embedded once and kept in the item."""
    if "vector" not in item:
        item["vector"] = recommender.embedder.embed([item["query"]])[0]
    hurt = bool(recommender_module.HURT) and sounds_hurt(item["query"])  # the rule off: its words count neither
    scores = recommender.scores_of(item["vector"], hurt)
    ids = [m.id for m in recommender.catalog.memes]
    return [ids[i] for i in top_indices(scores, len(scores)) if np.isfinite(scores[i])]


def evaluate(recommender: Recommender, queries: list[dict]) -> dict[str, float]:
    top1 = pair = mocked = hurt = 0
    for item in queries:
        order = ranked(recommender, item)
        top1 += order[0] == item["gold"]
        # a meme left out of the ranking (the hurt rule) ranks below everything
        rank = {meme: n for n, meme in enumerate(order)}
        pair += rank.get(item["gold"], len(order)) < rank.get(item["twin"], len(order) + 1)
        if item["tone"] in HURT:
            hurt += 1
            mocked += order[0] == item["twin"] and item["twin_tone"] in UNKIND  # the set's own tone, not the inferred
    return {"top-1": top1 / len(queries), "pair": pair / len(queries), "mocked": mocked, "hurt": hurt}


def run(recommender: Recommender, queries: list[dict], weight: float, rule: bool) -> dict[str, float]:
    recommender_module.TONE_WEIGHT = weight
    recommender_module.HURT = HURT if rule else frozenset()  # no feeling is hurt: the rule never applies
    return evaluate(recommender, queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--declared", action="store_true", help="use the tones the set declares")
    args = parser.parse_args()
    embedder = load_embedder()
    catalog, queries = load_pairs(args.declared)
    recommender = Recommender(catalog, embedder)
    shipped = recommender_module.TONE_WEIGHT
    dev = [q for q in queries if q["dev"]]
    report = [q for q in queries if not q["dev"]]
    inferred = sum(recommender.meme_feeling(m.id) == t for m, t in zip(
        catalog.memes, [q["tone"] for q in queries[::2]], strict=True))
    print(f"{len(catalog.memes)} memes, {len(queries)} queries; "
          f"inferred meme feelings right: {inferred}/{len(catalog.memes)}")
    if args.sweep:
        dev_catalog, dev_lines = meme_set(DEV_MEMES)
        dev_memes = Recommender(dev_catalog, embedder)
        for weight in (0.0, 0.02, 0.05, 0.1, 0.15, 0.2):
            pairs = run(recommender, dev, weight, rule=True)
            orders = [ranked(dev_memes, item) for item in dev_lines]
            top1 = sum(o[0] == item["gold"] for o, item in zip(orders, dev_lines, strict=True)) / len(dev_lines)
            top3 = sum(item["gold"] in o[:3] for o, item in zip(orders, dev_lines, strict=True)) / len(dev_lines)
            print(f"weight {weight:4.2f}: tone pairs dev top-1 {pairs['top-1']:.3f} pair {pairs['pair']:.3f}"
                  f"  mocked {pairs['mocked']}/{pairs['hurt']};  dev memes top-1 {top1:.3f} top-3 {top3:.3f}")
        return
    for label, weight, rule in (("before (no tone)", 0.0, False), ("hurt rule only", 0.0, True),
                                (f"shipped (weight {shipped})", shipped, True)):
        for name, part in (("dev pairs", dev), ("reported pairs", report)):
            got = run(recommender, part, weight, rule)
            print(f"{label:24s} {name:15s} top-1 {got['top-1']:.3f}  pair accuracy {got['pair']:.3f}"
                  f"  sad queries answered with mockery {got['mocked']}/{got['hurt']}")
    sad = ["남친이랑 헤어졌어... 우울해", "시험 망했어", "I'm so tired of this meeting lol"]
    recommender_module.TONE_WEIGHT, recommender_module.HURT = shipped, HURT
    for sentence in sad:
        feelings = recommender.feelings(sentence)
        best = max(feelings, key=lambda f: (feelings[f], f))
        print(f"{sentence!r}: {best} {feelings[best]:.2f}")


if __name__ == "__main__":
    main()
