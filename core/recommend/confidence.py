"""How sure the ranking is, and what the bot does with it: one meme, a choice of three, or "nothing fits".

Two logistic models of the best scores (the first, and its margin over the second), fitted by bench/calibrate.py
on dev_memes.jsonl's situations with the default configuration:
- P(a meme fits): the sentence's own meme in the catalog (label 1) against the same sentence with its meme left
  out (label 0), so the first score then belongs to the nearest wrong meme;
- P(the first is right), given that a meme fits.
Half the situations (whole situations: d01, d03, ...) fitted, the other half checked the calibration; the shipped
coefficients are that half's fit, so the checking half's figures (docs/DESIGN.md) are theirs, out of sample.
Under another embedder the scores sit elsewhere: the coefficients are the default's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

CHOICES = 3  # memes offered at once


class Decision(StrEnum):
    ONE = "one"  # sure enough: send the best meme
    CHOICE = "choice"  # unsure between a few: offer three
    NOTHING = "nothing"  # no meme fits: say so, and offer the nearest three


@dataclass(frozen=True)
class Calibration:
    #: P(a meme fits) = sigmoid(fits[0] + fits[1] * first + fits[2] * margin)
    fits: tuple[float, float, float] = (-36.65, 39.57, 41.07)
    #: P(the first is right | a meme fits) = sigmoid(first_right[0] + first_right[1] * first + ... * margin)
    first_right: tuple[float, float, float] = (-27.28, 28.98, 72.92)
    #: send one meme when P(a meme fits) * P(the first is right) reaches this
    one_at: float = 0.5
    #: below this P(a meme fits), say nothing fits
    fits_at: float = 0.3


@dataclass(frozen=True)
class Confidence:
    fits: float  # P(a meme fits)
    first: float  # P(the first is right), a meme fitting or not
    decision: Decision


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def confidence(scores: Sequence[float], calibration: Calibration | None = None) -> Confidence:
    """From the best scores, best first (at least one)."""
    c = calibration or Calibration()
    first = float(scores[0]) if scores else 0.0
    margin = first - float(scores[1]) if len(scores) > 1 else 1.0
    fits = _sigmoid(c.fits[0] + c.fits[1] * first + c.fits[2] * margin)
    right = fits * _sigmoid(c.first_right[0] + c.first_right[1] * first + c.first_right[2] * margin)
    if not scores or fits < c.fits_at:
        decision = Decision.NOTHING
    elif right >= c.one_at:
        decision = Decision.ONE
    else:
        decision = Decision.CHOICE
    return Confidence(fits, right, decision)
