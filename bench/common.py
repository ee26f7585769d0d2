"""Small helpers the benchmarks share."""

from __future__ import annotations

import resource
import statistics
from collections.abc import Sequence

import numpy as np

from core.recommend.textnorm import caption_views


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident set size of this process (and, optionally, of its finished children) in MB."""
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if children:
        usage += resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return usage / 1024


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p50_p95(values: Sequence[float]) -> str:
    """'p50 / p95' in seconds for a table cell; dashes when nothing was measured."""
    return f"{percentile(values, 50):5.2f} / {percentile(values, 95):5.2f}" if values else "   -  /   -  "


def caption_texts(captions: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Each caption followed by its chat-style views, as the recommender matches a catalog caption: the texts, the
    caption each belongs to, and whether it is a view."""
    texts, owner, view = [], [], []
    for position, caption in enumerate(captions):
        for n, text in enumerate((caption, *caption_views(caption))):
            texts.append(text)
            owner.append(position)
            view.append(n > 0)
    return texts, np.array(owner, np.intp), np.array(view, bool)


def top1_top3(per_text: np.ndarray, owner: np.ndarray, gold: np.ndarray, captions: int) -> tuple[float, float]:
    """Sentences (rows) against texts (columns): each caption scores its best text, then the share of sentences
    whose gold caption ranks first and in the first three; equal scores rank in caption order."""
    scores = np.full((len(per_text), captions), -np.inf, per_text.dtype)
    np.maximum.at(scores.T, owner, per_text.T)
    order = np.argsort(-scores, axis=1, kind="stable")
    return float((order[:, 0] == gold).mean()), float((order[:, :3] == gold[:, None]).any(1).mean())
