"""Small helpers the benchmarks share."""

from __future__ import annotations

import resource
import statistics
from collections.abc import Sequence


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
