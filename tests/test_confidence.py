"""When the bot sends one meme, offers a choice, or says nothing fits (core/recommend/confidence.py)."""

from __future__ import annotations

from core.recommend.confidence import Calibration, Decision, confidence


def test_sure_unsure_and_nothing_fits() -> None:
    c = Calibration(fits=(-8.0, 10.0, 10.0), first_right=(-5.0, 0.0, 50.0), one_at=0.5, fits_at=0.3)
    # a clear winner: one meme
    sure = confidence([0.98, 0.85, 0.84], c)
    assert sure.decision is Decision.ONE and sure.first > 0.5
    # a good score but a near tie: a choice
    tied = confidence([0.98, 0.975, 0.97], c)
    assert tied.decision is Decision.CHOICE and tied.fits > 0.5 > tied.first
    # everything far: nothing fits
    far = confidence([0.5, 0.49], c)
    assert far.decision is Decision.NOTHING and far.fits < 0.3
    assert confidence([], c).decision is Decision.NOTHING


def test_probabilities_grow_with_the_score_and_the_margin() -> None:
    firsts = [confidence([s, s - 0.02]).first for s in (0.80, 0.85, 0.90, 0.95)]
    margins = [confidence([0.9, 0.9 - m]).first for m in (0.0, 0.02, 0.05, 0.1)]
    assert firsts == sorted(firsts) and margins == sorted(margins)
    assert all(0.0 <= p <= 1.0 for p in firsts + margins)
