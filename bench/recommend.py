"""Recommender benchmark: KorSTS Spearman, meme top-1/top-3 (easy, hard), load time, latency, memory.

python -m bench.recommend [--model NAME | --config all|default|e5-textnorm|e5] [--data ../shared/data] [--skip-korsts]

Every bundled configuration (core.embedders.BUNDLED) is reported by default, each in a fresh process so that
its load time and peak RSS are its own. Besides the three files of ../shared/data/recommend, the hard set is also
scored in two halves (even and odd lines: a gain seen in one half only is noise), and on bench/data/
casual_extra.jsonl: 120 more casual sentences for the same 60 captions, written from the captions alone.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from bench.common import median, peak_rss_mb
from core.catalog.cache import DiskCache, content_key
from core.catalog.catalog import Catalog, Meme, load_captions
from core.recommend.embedders import Embedder
from core.recommend.load import BUNDLED, load_embedder
from core.recommend.recommender import Recommender, meme_texts

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EXTRA_QUERIES = Path(__file__).resolve().parent / "data" / "casual_extra.jsonl"


def korsts(embedder: Embedder, path: Path) -> float:
    with path.open(encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)][1:]
    gold = np.array([float(r[4]) for r in rows])
    a = embedder.embed([r[5] for r in rows])
    b = embedder.embed([r[6] for r in rows])
    return 100 * float(spearmanr((a * b).sum(1), gold).statistic)


def topk(recommender: Recommender, lines: list[dict]) -> tuple[float, float, float]:
    """top-1, top-3 accuracy and median single-query latency (ms)."""
    hits1 = hits3 = 0
    times = []
    for item in lines:
        start = time.perf_counter()
        ranked = recommender.rank(item["query"], top=3)
        times.append((time.perf_counter() - start) * 1000)
        ids = [int(r.meme_id) for r in ranked]
        hits1 += ids[0] == item["gold"]
        hits3 += item["gold"] in ids
    return hits1 / len(lines), hits3 / len(lines), median(times)


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


def query_sets(data: Path) -> dict[str, list[dict]]:
    def read(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    hard = read(data / "recommend" / "dev_queries_hard.jsonl")
    return {
        "dev_queries": read(data / "recommend" / "dev_queries.jsonl"),
        "dev_queries_hard": hard,
        "  hard, even lines": hard[0::2],
        "  hard, odd lines": hard[1::2],
        "casual_extra": read(EXTRA_QUERIES),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="one embedder by name or path (a sentence-transformers model, say)")
    parser.add_argument("--config", default="all", choices=("all", *BUNDLED))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--skip-korsts", action="store_true")
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
    recommender = Recommender(load_captions(args.data / "recommend" / "captions.txt"), embedder)
    print(f"model: {embedder.key}  (load {load_s:.2f} s)")
    if not args.skip_korsts:
        print(f"KorSTS test Spearman x100: {korsts(embedder, args.data / 'korsts' / 'sts-test.tsv'):.1f}")
    for name, lines in query_sets(args.data).items():
        top1, top3, ms = topk(recommender, lines)
        print(f"{name:18s} top-1 {top1:.3f}  top-3 {top3:.3f}  median query {ms:.1f} ms")
    print(f"10,000-meme catalog: median rank {large_catalog_ms(embedder):.1f} ms per query")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
