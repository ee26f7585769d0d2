"""Recommender benchmark: KorSTS Spearman, meme top-1/top-3, load time, latency, memory.

python -m bench.recommend [--model NAME | --config all|default|...] [--data ../shared/data] [--skip-korsts]

Every bundled configuration (core.recommend.load.BUNDLED) is reported by default, each in a fresh process so
that its load time and peak RSS are its own. The meme sets:
- the shared captions (../shared/data/recommend): the easy and the hard queries, the hard set also in two
  halves (even and odd lines: a gain seen in one half only is noise), and bench/data/casual_extra.jsonl (120
  more casual sentences for the same 60 captions, written from the captions alone);
- held-out situations: the chat bank's situations that the head was not trained on (bench/chatbank.py splits
  by whole situations), their descriptions as captions and their chat lines as queries. Configurations with a
  head use bench/out/head_holdout.npz here, trained with the shipped settings on the other situations, and
  expand towards those other situations only (`python -m bench.train_head --holdout` writes both);
- new memes (bench/data/new_memes.jsonl): 48 captions of new situations with three casual sentences each,
  written for this project by a writer who never saw the chat bank; used for reporting only;
- a catalog's examples (--catalog, the bundled demo by default): each meme's example sentences as queries
  against the captions alone, so no example finds itself.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from bench.chatbank import SHARED, load_bank, split
from bench.chatbank import korsts as korsts_pairs
from bench.common import median, peak_rss_mb
from bench.train_head import HOLDOUT_BANK, HOLDOUT_HEAD
from core.catalog.cache import DiskCache, content_key
from core.catalog.catalog import Catalog, Meme, load_captions, load_catalog
from core.recommend.confidence import Decision, confidence
from core.recommend.embedders import Embedder
from core.recommend.load import BUNDLED, load_embedder
from core.recommend.recommender import Recommender, embed_cached, meme_texts
from core.resources import bundled

DEFAULT_DATA = SHARED
EXTRA_QUERIES = Path(__file__).resolve().parent / "data" / "casual_extra.jsonl"
NEW_MEMES = Path(__file__).resolve().parent / "data" / "new_memes.jsonl"
DEV_MEMES = Path(__file__).resolve().parent / "data" / "dev_memes.jsonl"  # for choosing settings (bench/sweep.py)
BENCH_CACHE = Path(__file__).resolve().parents[1] / ".fffusion-cache" / "bench"


def korsts(embedder: Embedder, data: Path, cache: DiskCache) -> float:
    """KorSTS test Spearman x100; the sentences' vectors are cached per configuration, so reruns are quick."""
    rows = korsts_pairs("test", data)
    a = embed_cached(embedder, [r[0] for r in rows], cache)[0]
    b = embed_cached(embedder, [r[1] for r in rows], cache)[0]
    return 100 * float(spearmanr((a * b).sum(1), [r[2] for r in rows]).statistic)


def topk(recommender: Recommender, lines: list[dict]) -> tuple[float, float, float, float]:
    """top-1, top-3 accuracy, median single-query latency (ms), and how often the bot would offer a choice (or
    say nothing fits) instead of one meme."""
    hits1 = hits3 = offered = 0
    times = []
    for item in lines:
        start = time.perf_counter()
        ranked = recommender.rank(item["query"], top=3)
        times.append((time.perf_counter() - start) * 1000)
        ids = [r.meme_id if isinstance(item["gold"], str) else int(r.meme_id) for r in ranked]
        hits1 += ids[0] == item["gold"]
        hits3 += item["gold"] in ids
        offered += confidence([r.score for r in ranked]).decision is not Decision.ONE
    return hits1 / len(lines), hits3 / len(lines), median(times), offered / len(lines)


def large_catalog_ms(embedder: Embedder, size: int = 10_000, texts_per_meme: int = 3) -> float:
    """Median rank time over a catalog of `size` memes. Their vectors are put in the cache, so the
    real loading path runs without embedding 30,000 synthetic sentences."""
    rng = np.random.default_rng(0)
    memes = [
        Meme(
            id=f"m{i}",
            caption=f"캡션 {i}",
            examples=tuple(f"예문 {i}-{j}" for j in range(texts_per_meme - 1)),
        )
        for i in range(size)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        cache = DiskCache(Path(tmp))
        texts = [t for m in memes for t in meme_texts(m, embedder)]
        vectors = rng.standard_normal((len(texts), embedder.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        cache.put_many(
            {content_key(embedder.key, t): v.tobytes() for t, v in zip(texts, vectors, strict=True)}
        )
        recommender = Recommender(Catalog(root=None, memes=memes), embedder, cache)
        cache.close()
    times = []
    for sentence in ["시험 완전 망했어 ㅠㅠ", "배고파 죽겠다", "아 진심 개빡치네"] * 7:
        start = time.perf_counter()
        recommender.rank(sentence, top=5)
        times.append((time.perf_counter() - start) * 1000)
    return median(times)


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def held_out_set() -> tuple[Catalog, list[dict]]:
    held = split(load_bank())[1]
    catalog = Catalog(root=None, memes=[Meme(id=s.id, caption=s.description) for s in held])
    return catalog, [{"query": line, "gold": s.id} for s in held for line in s.lines]


def meme_set(path: Path) -> tuple[Catalog, list[dict]]:
    """A file of {"id", "caption", "queries"} lines (new_memes.jsonl, dev_memes.jsonl) as a catalog and its queries."""
    rows = read(path)
    catalog = Catalog(root=None, memes=[Meme(id=r["id"], caption=r["caption"]) for r in rows])
    return catalog, [{"query": q, "gold": r["id"]} for r in rows for q in r["queries"]]


def catalog_examples(directory: Path) -> tuple[Catalog, list[dict]]:
    """A catalog's captions, and its memes' example sentences as the queries that should find them."""
    memes = load_catalog(directory, check_images=False).memes
    catalog = Catalog(root=None, memes=[Meme(id=m.id, caption=m.caption) for m in memes])
    return catalog, [{"query": q, "gold": m.id} for m in memes for q in m.examples]


def query_sets(data: Path) -> dict[str, list[dict]]:
    hard = read(data / "recommend" / "dev_queries_hard.jsonl")
    return {
        "dev_queries": read(data / "recommend" / "dev_queries.jsonl"),
        "dev_queries_hard": hard,
        "  hard, even lines": hard[0::2],
        "  hard, odd lines": hard[1::2],
        "casual_extra": read(EXTRA_QUERIES),
    }


def report(sets: list[tuple[str, Recommender, list[dict]]]) -> None:
    for name, ranker, lines in sets:
        top1, top3, ms, offered = topk(ranker, lines)
        print(f"{name:18s} top-1 {top1:.3f}  top-3 {top3:.3f}  choice offered {offered:.2f}  "
              f"median query {ms:.1f} ms  ({len(lines)} queries)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="one embedder by name or path (a sentence-transformers model, say)")
    parser.add_argument("--config", default="all", choices=("all", *BUNDLED))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--skip-korsts", action="store_true")
    parser.add_argument("--catalog", type=Path, default=bundled("demo"), help="whose examples to report")
    parser.add_argument("--catalog-only", action="store_true", help="report the catalog's examples alone")
    args = parser.parse_args()
    if not args.model and args.config == "all":
        for name in BUNDLED:
            print(f"=== config {name}", flush=True)
            passed = [a for a in sys.argv[1:] if not a.startswith("--config")]
            subprocess.run([sys.executable, "-m", "bench.recommend", *passed, "--config", name], check=True)
        return
    args.model = args.model or args.config

    start = time.perf_counter()
    embedder = load_embedder(args.model)
    load_s = time.perf_counter() - start
    print(f"model: {embedder.key}  (load {load_s:.2f} s)")
    catalog, lines = catalog_examples(args.catalog)
    examples = (f"{args.catalog.name} examples", Recommender(catalog, embedder), lines)
    if args.catalog_only:
        report([examples])
        return
    recommender = Recommender(load_captions(args.data / "recommend" / "captions.txt"), embedder)
    if not args.skip_korsts:
        cache = DiskCache(BENCH_CACHE)
        print(f"KorSTS test Spearman x100: {korsts(embedder, args.data, cache):.1f}")
        cache.close()
    sets = [(name, recommender, lines) for name, lines in query_sets(args.data).items()]
    catalog, lines = meme_set(NEW_MEMES)
    sets.append(("new memes", Recommender(catalog, embedder), lines))
    report([*sets, examples])
    print(f"10,000-meme catalog: median rank {large_catalog_ms(embedder):.1f} ms per query")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")
    # Last, after the peak RSS of the configuration itself: a head trained without these situations.
    if "+head:" in embedder.key:
        if not HOLDOUT_HEAD.exists():
            print(f"held-out situations: run `python -m bench.train_head --holdout` first ({HOLDOUT_HEAD})")
            return
        embedder = load_embedder(args.model, head=HOLDOUT_HEAD, chat_bank=HOLDOUT_BANK)
    catalog, lines = held_out_set()
    top1, top3, _, _ = topk(Recommender(catalog, embedder), lines)
    sizes = f"{len(catalog.memes)} situations, {len(lines)} lines"
    print(f"held-out situations top-1 {top1:.3f}  top-3 {top3:.3f}  ({sizes})")


if __name__ == "__main__":
    main()
