"""Train the recommender's head: a linear map on top of the bundled embedder, learnt on CPU in a minute.

python -m bench.train_head [--holdout] [--sweep]     (about a minute once the embeddings are cached; the first
                                                    run embeds ~25,000 texts: half an hour on 2 busy cores)

Inputs are the bundled model's vectors of colloquially normalised text (the "e5-textnorm" configuration),
cached under .fffusion-cache/train so that reruns embed nothing. The map y = normalise(x W + b), W starting at
the identity, is trained with three losses at once:
- chat bank (bench/chatbank.py): a chat line against its situation's descriptions, and against another line of
  the same situation, in-batch negatives (InfoNCE);
- KorSTS train: CoSENT on the cosine of the mapped pair, so that general similarity is kept;
- KorNLI (XNLI dev): premise against its entailed hypothesis, the contradiction as a hard negative;
plus a pull of W towards the identity. The default trains on every bank situation and writes the head
(data/chat_head.npz) and the chat bank's vectors under it (data/chat_bank.npz, so that start-up embeds nothing).
--holdout trains on the split's training situations only and writes the same three files for them under
bench/out/ (head, bank, vectors), which bench.recommend uses to report the held-out situations. --sweep prints
held-out bank and KorSTS dev figures for a grid of settings around the shipped ones.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from bench.chatbank import Situation, korsts, load_bank, nli_triplets, split
from bench.common import caption_texts, top1_top3
from core.catalog.cache import DiskCache
from core.recommend.embedders import DEFAULT_MODEL, E5Embedder
from core.recommend.head import DEFAULT_HEAD, read_head, write_head
from core.recommend.load import load_embedder
from core.recommend.recommender import embed_cached
from core.recommend.situations import CHAT_BANK, ChatEmbedder, write_vectors

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".fffusion-cache" / "train"
HOLDOUT_HEAD = ROOT / "bench" / "out" / "head_holdout.npz"
HOLDOUT_BANK = ROOT / "bench" / "out" / "bank_holdout.jsonl"
Head = tuple[np.ndarray, np.ndarray]  # (W, b) of y = normalise(x W + b)


@dataclass(frozen=True)
class Settings:
    """Chosen on the held-out bank situations and KorSTS dev (--sweep)."""

    steps: int = 600
    lr: float = 2e-3
    batch: int = 64
    temperature: float = 0.05
    sts: float = 3.0  # weight of the KorSTS loss
    nli: float = 0.5  # weight of the KorNLI loss
    identity: float = 0.1  # weight of the pull towards the identity map
    seed: int = 0


class Features:
    """Cached base vectors (e5 of normalised text) for any list of texts."""

    def __init__(self) -> None:
        self.base = E5Embedder()
        self.embedder = ChatEmbedder(self.base, bank=None)  # normalised text, no situation bank: "e5-textnorm"
        self.cache = DiskCache(CACHE)

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.embedder.dim), np.float32)
        for start in range(0, len(texts), 512):  # chunks, so an interrupted first run keeps what it did
            out[start : start + 512] = embed_cached(self.embedder, texts[start : start + 512], self.cache)[0]
        return out


@dataclass
class BankTensors:
    lines: np.ndarray
    line_situation: np.ndarray
    descriptions: np.ndarray
    description_situation: np.ndarray


def bank_tensors(features: Features, situations: list[Situation]) -> BankTensors:
    lines = [(i, t) for i, s in enumerate(situations) for t in s.lines]
    descriptions = [(i, t) for i, s in enumerate(situations) for t in (s.description, *s.alt)]
    return BankTensors(
        features([t for _, t in lines]),
        np.array([i for i, _ in lines]),
        features([t for _, t in descriptions]),
        np.array([i for i, _ in descriptions]),
    )


def train(features: Features, situations: list[Situation], settings: Settings) -> Head:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    bank = bank_tensors(features, situations)
    sts = korsts("train")[::2]  # half of KorSTS train: the first embedding run stays within minutes on 2 cores
    sts_a, sts_b = features([a for a, _, _ in sts]), features([b for _, b, _ in sts])
    sts_gold = np.array([g for _, _, g in sts], np.float32)
    nli = nli_triplets()
    nli_vectors = [features([t[k] for t in nli]) for k in range(3)]
    lines_of = [np.flatnonzero(bank.line_situation == i) for i in range(len(situations))]
    descriptions_of = [np.flatnonzero(bank.description_situation == i) for i in range(len(situations))]

    dim = bank.lines.shape[1]
    weight = torch.nn.Parameter(torch.eye(dim))
    bias = torch.nn.Parameter(torch.zeros(dim))
    optimiser = torch.optim.Adam([weight, bias], lr=settings.lr)
    eye = torch.eye(dim)

    def mapped(x: np.ndarray) -> torch.Tensor:
        return F.normalize(torch.from_numpy(x) @ weight + bias, dim=1)

    def info_nce(anchor: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
        logits = anchor @ positive.T / settings.temperature
        target = torch.arange(len(anchor))
        return F.cross_entropy(logits, target) + F.cross_entropy(logits[:, : len(anchor)].T, target)

    for _ in range(settings.steps):
        chosen = rng.choice(len(situations), size=min(settings.batch, len(situations)), replace=False)
        pairs = [rng.choice(lines_of[i], 2, replace=False) for i in chosen]
        line = mapped(bank.lines[[p[0] for p in pairs]])
        other = mapped(bank.lines[[p[1] for p in pairs]])
        description = mapped(bank.descriptions[[rng.choice(descriptions_of[i]) for i in chosen]])
        loss = info_nce(line, description) + 0.5 * info_nce(line, other)

        rows = rng.choice(len(sts_gold), size=2 * settings.batch, replace=False)
        cosine = (mapped(sts_a[rows]) * mapped(sts_b[rows])).sum(1) * 20
        gold = torch.from_numpy(sts_gold[rows])
        # CoSENT: every pair scored higher by the annotators should get the higher cosine
        worse = cosine[None, :] - cosine[:, None]
        worse = worse[gold[:, None] > gold[None, :]]
        loss = loss + settings.sts * torch.logsumexp(torch.cat([torch.zeros(1), worse]), 0)

        rows = rng.choice(len(nli), size=settings.batch, replace=False)
        premise, entailed, contradicted = (mapped(v[rows]) for v in nli_vectors)
        logits = premise @ torch.cat([entailed, contradicted]).T / settings.temperature
        loss = loss + settings.nli * F.cross_entropy(logits, torch.arange(len(rows)))

        loss = loss + settings.identity * ((weight - eye) ** 2).sum() + settings.identity * (bias**2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return weight.detach().numpy().copy(), bias.detach().numpy().copy()


def apply(head: Head | None, x: np.ndarray) -> np.ndarray:
    if head is None:
        return x
    y = x @ head[0] + head[1]
    return y / np.linalg.norm(y, axis=1, keepdims=True)


def bank_topk(features: Features, head: Head | None, situations: list[Situation]) -> tuple[float, float]:
    """top-1/top-3 of each chat line among the situations' descriptions, matched as a catalog caption is
    (best over the description and its chat-style views)."""
    texts, owner, _ = caption_texts([s.description for s in situations])
    catalog = apply(head, features(texts))
    queries = [(i, t) for i, s in enumerate(situations) for t in s.lines]
    per_text = apply(head, features([t for _, t in queries])) @ catalog.T
    return top1_top3(per_text, owner, np.array([i for i, _ in queries]), len(situations))


def sts_spearman(features: Features, head: Head | None, name: str) -> float:
    pairs = korsts(name)[::2] if name == "dev" else korsts(name)
    a = apply(head, features([p[0] for p in pairs]))
    b = apply(head, features([p[1] for p in pairs]))
    return 100 * float(spearmanr((a * b).sum(1), [p[2] for p in pairs]).statistic)


def report(features: Features, head: Head | None, held: list[Situation], label: str) -> None:
    top1, top3 = bank_topk(features, head, held)
    sts = sts_spearman(features, head, "dev")
    print(f"{label:55s} held-out top-1 {top1:.3f} top-3 {top3:.3f}  KorSTS dev {sts:.1f}", flush=True)


def write_bank_vectors(features: Features, head_path: Path, bank: Path) -> None:
    """The chat bank's vectors under a head, as ChatEmbedder.embed_bank computes them, from cached embeddings."""
    embedder = load_embedder(DEFAULT_MODEL, head=head_path, chat_bank=bank)
    lines, names = embedder.bank_texts()
    head = read_head(head_path.read_bytes())[1:]
    raw_names = np.concatenate([embed_cached(features.base, names[i : i + 512], features.cache)[0]
                                for i in range(0, len(names), 512)])  # descriptions go in as written
    write_vectors(bank.with_suffix(".npz"), embedder.bank_key, apply(head, features(lines)), apply(head, raw_names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--holdout", action="store_true", help="train without the held-out situations")
    parser.add_argument("--sweep", action="store_true", help="held-out figures for a grid of settings")
    args = parser.parse_args()
    features = Features()
    situations = load_bank()
    train_part, held = split(situations)
    print(f"bank: {len(situations)} situations, {len(train_part)} train / {len(held)} held out (by domain)")
    if args.sweep:
        report(features, None, held, "no head (e5-textnorm)")
        for steps, identity, sts in itertools.product((600, 1000), (0.1, 0.3), (1.0, 3.0, 10.0)):
            settings = replace(Settings(), steps=steps, identity=identity, sts=sts)
            label = f"steps {steps} identity {identity} sts {sts}"
            report(features, train(features, train_part, settings), held, label)
        return
    start = time.perf_counter()
    head = train(features, train_part if args.holdout else situations, Settings())
    print(f"trained in {time.perf_counter() - start:.0f} s")
    head_path, bank = (HOLDOUT_HEAD, HOLDOUT_BANK) if args.holdout else (DEFAULT_HEAD, CHAT_BANK)
    head_path.parent.mkdir(parents=True, exist_ok=True)
    write_head(head_path, features.base.key, *head)
    if args.holdout:
        rows = [{"situation": s.id, "domain": s.domain, "description": s.description, "alt": list(s.alt),
                 "lines": list(s.lines)} for s in train_part]
        bank.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    write_bank_vectors(features, head_path, bank)
    for path in (head_path, bank.with_suffix(".npz")):
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    report(features, head, held, "head, held-out situations" + ("" if args.holdout else " (seen in training!)"))


if __name__ == "__main__":
    main()
