"""Learning from use, played by a simulated community (core/recommend/feedback.py).

python -m bench.learning [--sweep]

The situations: the chat bank's held-out split (bench/chatbank.py: whole domain groups), their descriptions as the
catalog's captions. They are held out of the expansion too: the default configuration here expands towards a bank
without them (bench/out/bank_learning.jsonl). The head was trained on the whole bank (its held-out variant needs
`python -m bench.train_head --holdout`), and the tone model too: both know these lines a little, alike before and
after learning. Each situation's eight lines: the even ones are "use" (the community sends them), the odd ones the
newcomer's. Situations are halved again by their position: the first half chooses the settings (--sweep), the
second is reported.

Ten people send the use lines (line j of a situation by person j mod 10) and act as people do: a meme sent alone
is kept when it is the one they meant, else they press "다른 짤" (the next single meme) at most three times; from a
choice of three they pick the meant one, else "다른 짤" brings the next three, at most three times. Votes as the
service records them (one per person, sentence and meme; "다른 짤" replaces the kept vote); the ranking relearns after
every message. Then a newcomer's lines: top-1, and "shown first" (the first meme sent is right, or the meant one is
in the first choice offered). Compared: a fresh instance, the previous learning (v2: only "다른 짤" votes, its
settings, always one meme), this learning, and this learning switched off. Last, one hostile person picks a wrong
meme (the best-ranked one that is not meant) for 200 messages, and the newcomer is measured again. A second report,
with the same settings: bench/data/new_memes.jsonl (a third writer's, never used to choose anything), whose three
sentences per meme are nearer to each other under the encoder than the bank's oblique lines.

Every figure comes with its standard error, by situation (a situation's lines are not independent), and every
learning's gain over the fresh instance as a paired difference. The diagnosis: how many picks and kept memes each
meme gets, how far learning moves the meant meme against the gap between the first and the meant meme, and how often
a newcomer's line is nearer to a community line of its own situation than to any other (the ceiling of what the
community's phrasing can teach).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.chatbank import load_bank, split
from bench.recommend import BENCH_CACHE, NEW_MEMES, meme_set
from core.catalog.cache import DiskCache
from core.catalog.catalog import Catalog, Meme
from core.recommend.confidence import CHOICES, Decision, confidence
from core.recommend.feedback import KEEP_VOTE, NEXT_VOTE, PICK_VOTE, Feedback, FeedbackSettings, Signal
from core.recommend.load import load_embedder
from core.recommend.recommender import Recommender, top_indices
from core.recommend.situations import CHAT_BANK

BANK = Path(__file__).resolve().parent / "out" / "bank_learning.jsonl"
PEOPLE = 10
PRESSES = 3
HOSTILE_MESSAGES = 200
#: the previous learning's settings (strength 0.1, radius 0.82, one vote per press, no fading, no bound on memes)
V2 = FeedbackSettings(strength=0.1, radius=0.82, pick=0.0, keep=0.0, skip=-1.0, half_life_s=1e12,
                      memes_per_person=10**9)


@dataclass
class World:
    recommender: Recommender
    ids: list[str]
    use: list[tuple[int, str, np.ndarray]]  # (person, gold meme id, sentence vector)
    newcomer: list[tuple[str, np.ndarray, bool]]  # (gold, vector, in the reported half)


def build() -> World:
    train, held = split(load_bank())
    BANK.parent.mkdir(parents=True, exist_ok=True)
    keep = {s.id for s in train}
    lines = [line for line in CHAT_BANK.read_text(encoding="utf-8").splitlines()
             if line.strip() and json.loads(line)["situation"] in keep]
    BANK.write_text("\n".join(lines) + "\n", encoding="utf-8")
    embedder = load_embedder(chat_bank=BANK)
    catalog = Catalog(root=None, memes=[Meme(id=s.id, caption=s.description) for s in held])
    cache = DiskCache(BENCH_CACHE)  # the tone model's texts, embedded once for this configuration
    recommender = Recommender(catalog, embedder, cache)
    cache.close()
    use_rows, new_rows = [], []
    for number, situation in enumerate(held):
        for j, line in enumerate(situation.lines):
            if j % 2 == 0:
                use_rows.append(((j // 2 + number) % PEOPLE, situation.id, line))
            else:
                new_rows.append((situation.id, line, number >= len(held) // 2))
    vectors = embedder.embed([r[2] for r in use_rows] + [r[1] for r in new_rows])
    use = [(person, gold, v) for (person, gold, _), v in zip(use_rows, vectors, strict=False)]
    newcomer = [(gold, v, reported) for (gold, _, reported), v in zip(new_rows, vectors[len(use_rows):], strict=True)]
    return World(recommender, [m.id for m in catalog.memes], use, newcomer)


def new_memes(world: World) -> list[World]:
    """bench/data/new_memes.jsonl (report only: it chose nothing, here or anywhere): 48 memes of three sentences each,
    each sentence in turn the newcomer's and the other two the community's (two people), under the same embedder."""
    catalog, queries = meme_set(NEW_MEMES)
    embedder = world.recommender.embedder
    cache = DiskCache(BENCH_CACHE)
    recommender = Recommender(catalog, embedder, cache)
    cache.close()
    vectors = embedder.embed([q["query"] for q in queries])
    rows = [(n % 3, q["gold"], v) for n, (q, v) in enumerate(zip(queries, vectors, strict=True))]
    ids = [m.id for m in catalog.memes]
    return [World(recommender, ids, [((j + ids.index(gold)) % PEOPLE, gold, v) for j, gold, v in rows if j != turn],
                  [(gold, v, True) for j, gold, v in rows if j == turn]) for turn in range(3)]


class Community:
    """The votes as the service keeps them (one per person, sentence and meme), and the ranking they teach."""

    def __init__(self, world: World, settings: FeedbackSettings | None, choices: bool) -> None:
        self.world, self.settings, self.choices = world, settings, choices
        self.votes: dict[tuple[int, int, str], tuple[np.ndarray, int]] = {}
        self.sentences = 0

    def learned(self) -> Feedback | None:
        """What the votes so far teach the ranking (None: nothing)."""
        if self.settings is None or not self.votes:
            return None
        signals = [Signal(person, meme, v, vote) for (person, _, meme), (v, vote) in self.votes.items()]
        return Feedback(signals, self.world.ids, self.settings)

    def ranked(self, vector: np.ndarray) -> tuple[list[str], Decision]:
        recommender = self.world.recommender
        recommender.feedback = self.learned()
        scores = recommender.scores_of(vector)
        order = [self.world.ids[i] for i in top_indices(scores, len(scores)) if np.isfinite(scores[i])]
        decision = confidence([float(s) for s in np.sort(scores)[::-1][:CHOICES]]).decision
        return order, decision if self.choices else Decision.ONE

    def send(self, person: int, vector: np.ndarray, meant: str, hostile: bool = False) -> None:
        """One message, and what its person presses."""
        self.sentences += 1
        order, decision = self.ranked(vector)

        def vote(meme: str, kind: int) -> None:
            key = (person, self.sentences, meme)
            self.votes.pop(key, None)  # the newest vote goes last, as the store orders them by time
            self.votes[key] = (vector, kind)

        if hostile:  # picks the best-ranked meme that is not the meant one
            vote(next(m for m in order if m != meant), PICK_VOTE)
        elif decision is Decision.ONE:
            for meme in order[: 1 + PRESSES]:
                vote(meme, KEEP_VOTE)
                if meme == meant:
                    return
                vote(meme, NEXT_VOTE)
        elif meant in order[: CHOICES * (1 + PRESSES)]:  # offered first, or after "다른 짤" at most three times
            vote(meant, PICK_VOTE)

    def newcomer(self, reported: bool) -> Outcome:
        """top-1, shown first, and whether a choice came first, per newcomer line of one half."""
        rows = [(g, v) for g, v, r in self.world.newcomer if r == reported]
        top1, first, offered = [], [], []
        for gold, vector in rows:
            order, decision = self.ranked(vector)
            top1.append(order[0] == gold)
            first.append(order[0] == gold if decision is Decision.ONE else gold in order[:CHOICES])
            offered.append(decision is not Decision.ONE)
        return Outcome(np.array([g for g, _ in rows]), np.array(top1, float), np.array(first, float),
                       np.array(offered, float))


@dataclass
class Outcome:
    """Per newcomer line: its situation, and 1.0 / 0.0 for top-1, shown first, a choice offered."""

    situation: np.ndarray
    top1: np.ndarray
    first: np.ndarray
    offered: np.ndarray


def mean_se(values: np.ndarray, situation: np.ndarray) -> str:
    """The mean and its standard error by situation (the lines of one situation rise and fall together)."""
    means = np.array([values[situation == s].mean() for s in np.unique(situation)])
    return f"{values.mean():.3f} ±{means.std(ddof=1) / np.sqrt(len(means)):.3f}"


def play(world: World, settings: FeedbackSettings | None, choices: bool = True, hostile: bool = False) -> Community:
    community = Community(world, settings, choices)
    for person, gold, vector in world.use:
        community.send(person, vector, gold)
    if hostile:
        for n in range(HOSTILE_MESSAGES):
            _, gold, vector = world.use[n % len(world.use)]
            community.send(666, vector, gold, hostile=True)
    return community


def diagnose(world: World, community: Community, reported: bool = False) -> None:
    """Why learning moves what it moves: the signals per meme, the move on the meant meme against the gap it has to
    close, and how near a newcomer's line is to the community's lines of its own situation (the dev half's lines,
    unless `reported`)."""
    positive = [(person, meme) for (person, _, meme), (_, vote) in community.votes.items() if vote > 0]
    per_meme = np.array([sum(m == meme for _, m in positive) for meme in world.ids])
    people = np.array([len({p for p, m in positive if m == meme}) for meme in world.ids])
    print(f"signals: {per_meme.mean():.1f} picks or kept memes per meme (0-{per_meme.max()}) by {people.mean():.1f}"
          f" people; {sum(v < 0 for _, v in community.votes.values())} 다른 짤 in all")
    rows = [(world.ids.index(g), v) for g, v, r in world.newcomer if r == reported]
    half = "reported" if reported else "dev"
    recommender, feedback = world.recommender, community.learned()
    recommender.feedback = None
    base = np.stack([recommender.scores_of(v) for _, v in rows])
    meant = np.array([i for i, _ in rows])
    gap = base.max(1) - base[np.arange(len(rows)), meant]
    moved = np.array([feedback.adjustments(v)[i] for i, v in rows]) if feedback is not None else np.zeros(len(rows))
    print(f"{half} lines: learning moves the meant meme by {moved.mean():+.4f} on average (at most {moved.max():+.4f});"
          f" where it is not first, the first leads it by {np.median(gap[gap > 0]):.4f} (median)")
    use = np.stack([v for _, _, v in world.use])
    own = np.array([world.ids.index(g) for _, g, _ in world.use])
    similarity = np.stack([v for _, v in rows]) @ use.T
    print(f"a newcomer's line is nearest to a community line of its own situation for"
          f" {np.mean(own[similarity.argmax(1)] == meant):.3f} of the {half} lines (chance {1 / len(world.ids):.3f})")
    # the ceiling of learning phrasing: every community line an example of its meme, as the catalog's are
    examples = np.full_like(base, -np.inf)
    np.maximum.at(examples.T, own, similarity.T)
    ceiling = np.maximum(base, examples).argmax(1) == meant
    print(f"every community line an example of its own meme (all picked, nothing bounded): {half} top-1"
          f" {np.mean(base.argmax(1) == meant):.3f} -> {ceiling.mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sweep", action="store_true", help="also try other settings on the dev half first")
    args = parser.parse_args()
    started = time.perf_counter()
    world = build()
    print(f"{len(world.ids)} situations, {len(world.use)} use lines by {PEOPLE} people, "
          f"{sum(not r for _, _, r in world.newcomer)} / {sum(r for _, _, r in world.newcomer)} newcomer lines in the"
          " dev / reported half")
    shipped = FeedbackSettings()
    if args.sweep:
        for strength in (0.03, 0.05, 0.1, 0.2):
            for radius in (0.85, 0.88, 0.9):
                settings = dataclasses.replace(shipped, strength=strength, radius=radius)
                dev = play(world, settings).newcomer(False)
                print(f"dev half, strength {strength:.2f} radius {radius:.2f}: newcomer top-1 {dev.top1.mean():.3f}"
                      f" shown first {dev.first.mean():.3f}", flush=True)
    runs = [("fresh instance", None, True), ("previous learning (v2, one meme)", V2, False),
            ("this learning", shipped, True), ("this learning, switched off", dataclasses.replace(
                shipped, enabled=False), True)]
    print("reported half, newcomer top-1 and shown first (± one standard error by situation; gain: paired, over the"
          " fresh instance)")
    fresh: Outcome | None = None
    for label, settings, choices in runs:
        community = play(world, settings, choices)
        out = community.newcomer(True)
        fresh = fresh or out
        kinds = [vote for _, vote in community.votes.values()]
        print(f"{label:34s} top-1 {mean_se(out.top1, out.situation)}  shown first {mean_se(out.first, out.situation)}"
              f"  choice offered {out.offered.mean():.2f}  (votes: {kinds.count(PICK_VOTE)} picks,"
              f" {kinds.count(KEEP_VOTE)} kept, {kinds.count(NEXT_VOTE)} 다른 짤)", flush=True)
        if out is not fresh:
            print(f"{'':34s} gain   {mean_se(out.top1 - fresh.top1, out.situation)}              "
                  f"{mean_se(out.first - fresh.first, out.situation)}")
        if settings is shipped:
            diagnose(world, community)
    honest = play(world, shipped).newcomer(True)
    attacked = play(world, shipped, hostile=True).newcomer(True)
    print("new memes (48, each sentence in turn the newcomer's; the same settings), newcomer top-1 and shown first:")
    turns = new_memes(world)
    fresh = None
    for label, settings, choices in runs[:3]:
        communities = [play(turn, settings, choices) for turn in turns]
        outs = [community.newcomer(True) for community in communities]
        out = Outcome(*(np.concatenate([getattr(o, f.name) for o in outs]) for f in dataclasses.fields(Outcome)))
        fresh = fresh or out
        gain = "" if out is fresh else (f"  gain {mean_se(out.top1 - fresh.top1, out.situation)} /"
                                        f" {mean_se(out.first - fresh.first, out.situation)}")
        print(f"{label:34s} top-1 {mean_se(out.top1, out.situation)}  shown first {mean_se(out.first, out.situation)}"
              f"{gain}", flush=True)
        if settings is shipped:
            diagnose(turns[0], communities[0], reported=True)
    print(f"one hostile person, {HOSTILE_MESSAGES} wrong picks: newcomer top-1 {honest.top1.mean():.3f} ->"
          f" {attacked.top1.mean():.3f} ({mean_se(attacked.top1 - honest.top1, honest.situation)})")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
