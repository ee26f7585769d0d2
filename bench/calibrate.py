"""Fits the confidence models (core/recommend/confidence.py) and checks them on situations held out whole.

python -m bench.calibrate

Data: bench/data/dev_memes.jsonl (60 situations, three sentences each), ranked by the default configuration.
Every sentence is ranked twice: with its own meme in the catalog (a meme fits) and with it left out (nothing
fits: the first score is the nearest wrong meme's). Situations d01, d03, ... fit; d02, d04, ... check: reliability
per bin of predicted probability, and what the decisions would be. Then the models are fitted on all 60 and the
coefficients printed, with their in-sample decisions. `Calibration` ships the odd half's fit, so the even half's
figures are the shipped model's, out of sample.
"""

from __future__ import annotations

import itertools

import numpy as np

from bench.recommend import DEV_MEMES, meme_set
from core.recommend.confidence import Calibration, Decision, confidence
from core.recommend.load import load_embedder
from core.recommend.recommender import Recommender, top_indices
from core.recommend.tone import sounds_hurt

L2 = 1e-3  # keeps the fit finite where the classes separate


def features(scores: list[float]) -> list[float]:
    return [1.0, scores[0], scores[0] - scores[1]]


def fit_logistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Newton's method on the L2-penalised log loss: deterministic, converges in a few steps."""
    w = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-(x @ w)))
        gradient = x.T @ (p - y) + L2 * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + L2 * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w


def reliability(p: np.ndarray, y: np.ndarray, label: str) -> None:
    cells, ece = [], 0.0
    for lo, hi in itertools.pairwise(np.linspace(0, 1, 6)):
        inside = (p >= lo) & ((p < hi) | (hi == 1))
        if inside.any():
            cells.append(f"{lo:.1f}-{hi:.1f}: {p[inside].mean():.2f} vs {y[inside].mean():.2f} (n={inside.sum()})")
            ece += abs(p[inside].mean() - y[inside].mean()) * inside.sum() / len(p)
    print(f"  {label}: expected calibration error {ece:.3f}; predicted vs observed per bin:")
    for cell in cells:
        print(f"    {cell}")


def rows(recommender: Recommender, lines: list[dict]) -> list[dict]:
    ids = [m.id for m in recommender.catalog.memes]
    vectors = recommender.embedder.embed([item["query"] for item in lines])
    out = []
    for item, vector in zip(lines, vectors, strict=True):
        scores = recommender.scores_of(vector, sounds_hurt(item["query"]))
        kept = [ids[i] for i in top_indices(scores, 3)]
        without = np.where(np.arange(len(ids)) == ids.index(item["gold"]), -np.inf, scores)
        out.append({"situation": item["gold"], "with": sorted(scores, reverse=True)[:3],
                    "without": sorted(without, reverse=True)[:3],
                    "first_right": kept[0] == item["gold"], "in_three": item["gold"] in kept})
    return out


def fit(data: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    x_fit = np.array([features(r["with"]) for r in data] + [features(r["without"]) for r in data])
    y_fit = np.array([1.0] * len(data) + [0.0] * len(data))
    x_first = np.array([features(r["with"]) for r in data])
    y_first = np.array([float(r["first_right"]) for r in data])
    return fit_logistic(x_fit, y_fit), fit_logistic(x_first, y_first)


def decisions(data: list[dict], calibration: Calibration) -> None:
    for side in ("with", "without"):
        made = [confidence(r[side], calibration).decision for r in data]
        counts = {d: made.count(d) for d in Decision}
        text = ", ".join(f"{d.value} {n / len(made):.2f}" for d, n in counts.items())
        print(f"  its meme {'in' if side == 'with' else 'left out of'} the catalog: {text}")
        if side == "with":
            one = [r["first_right"] for r, d in zip(data, made, strict=True) if d is Decision.ONE]
            three = [r["in_three"] for r, d in zip(data, made, strict=True) if d is not Decision.ONE]
            print(f"    right when one meme is sent: {np.mean(one) if one else float('nan'):.2f} of {len(one)};"
                  f" the meant meme among the three offered: {np.mean(three) if three else float('nan'):.2f}"
                  f" of {len(three)}")


def main() -> None:
    catalog, lines = meme_set(DEV_MEMES)
    data = rows(Recommender(catalog, load_embedder()), lines)
    odd = [r for r in data if int(r["situation"][1:]) % 2 == 1]
    even = [r for r in data if int(r["situation"][1:]) % 2 == 0]
    w_fit, w_first = fit(odd)
    print(f"fitted on {len(odd)} sentences of odd situations, checked on {len(even)} of even ones:",
          "fits =", tuple(round(float(v), 2) for v in w_fit),
          " first_right =", tuple(round(float(v), 2) for v in w_first))
    held = Calibration(fits=tuple(w_fit), first_right=tuple(w_first))
    p_fits = np.array([confidence(r["with"], held).fits for r in even] + [confidence(r["without"], held).fits
                                                                          for r in even])
    reliability(p_fits, np.array([1.0] * len(even) + [0.0] * len(even)), "P(a meme fits)")
    p_first = np.array([confidence(r["with"], held).first for r in even])
    reliability(p_first, np.array([float(r["first_right"]) for r in even]), "P(the first is right)")
    decisions(even, held)
    w_fit, w_first = fit(data)
    print("fitted on all (in-sample; not shipped): fits =", tuple(round(float(v), 2) for v in w_fit),
          " first_right =", tuple(round(float(v), 2) for v in w_first))
    decisions(data, Calibration(fits=tuple(w_fit), first_right=tuple(w_first)))
    print(f"the shipped calibration (the odd half's fit) on the even half ({len(even)} sentences):")
    decisions(even, Calibration())


if __name__ == "__main__":
    main()
