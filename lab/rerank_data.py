"""Training pairs for the reranker: (question, text, label) with hard negatives.

Three corpora, each at two granularities (whole passages, and the sentences or lines of
them, which the reader scores to find the answer-bearing one):

- conflicts-train: the gold passage, and the most similar other passages as negatives;
- generated office sections (lab.office_data): the section, and as near misses the same
  kind of section about another organisation or product when the question names one;
- generated tables: one record per row ("item: oat flour; price in euros: 41.50; ..."),
  with the other rows of the table and questions about items it does not list as negatives;
- the office evaluation set's dev half (optional): chunks of its documents as the service
  makes them, answer-bearing ones positive, the best-ranked others and every chunk shown
  for an unanswerable dev question negative.

Never the test half of any set: the builder takes the dev rows it is given and nothing else.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from lab.office_data import _Values, office_rows
from rag.text import sentences


@dataclass(frozen=True)
class Pair:
    """One training pair: 1.0 when `text` answers `query`, 0.0 when it does not."""

    query: str
    text: str
    label: float
    kind: str  # "passage" | "sentence"
    origin: str  # which corpus it came from


def _has(text: str, answer: str) -> bool:
    return answer.lower() in text.lower()


def sentence_pairs(query: str, passage: str, answer: str, origin: str, rng: random.Random,
                   negatives: int = 2) -> list[Pair]:
    """The sentence (or line) holding the answer, and up to `negatives` that do not."""
    parts = sentences(passage)
    holding = [s for s in parts if _has(s, answer)]
    if not holding:
        return []
    others = [s for s in parts if not _has(s, answer) and len(s) > 3]
    rng.shuffle(others)
    return ([Pair(query, holding[0], 1.0, "sentence", origin)]
            + [Pair(query, s, 0.0, "sentence", origin) for s in others[:negatives]])


def conflicts_pairs(rows: Sequence[dict], neighbours: Sequence[Sequence[int]], rng: random.Random,
                    negatives: int = 3) -> list[Pair]:
    """Gold passage vs. its nearest neighbours (which never hold the answer string)."""
    out: list[Pair] = []
    for i, row in enumerate(rows):
        q, answer = row["question"], row["answer"]
        out.append(Pair(q, row["passage"], 1.0, "passage", "conflicts"))
        hard = [j for j in neighbours[i] if not _has(rows[j]["passage"], answer)][:negatives]
        out += [Pair(q, rows[j]["passage"], 0.0, "passage", "conflicts") for j in hard]
        out += sentence_pairs(q, row["passage"], answer, "conflicts", rng)
    return out


_NAME = re.compile(r"\b[A-Z][\w\-.]*[A-Za-z0-9]")


def _names(text: str) -> set[str]:
    """Capitalised words after the first: the organisation, product or place a question names."""
    words = _NAME.findall(text)
    return {w.lower() for w in words[1:] if len(w) > 1}


def office_pairs(count: int, seed: int, rng: random.Random) -> list[Pair]:
    """Generated office sections; near misses are sections of the same topic elsewhere that
    lack a name the question asks about."""
    rows = office_rows(count, seed)
    by_topic: dict[str, list[dict]] = {}
    for row in rows:
        by_topic.setdefault(row["passage"].split("\n", 1)[0], []).append(row)
    out: list[Pair] = []
    for row in rows:
        q, answer, passage = row["question"], row["answer"], row["passage"]
        out.append(Pair(q, passage, 1.0, "passage", "office"))
        out += sentence_pairs(q, passage, answer, "office", rng)
        asked = _names(q)
        same_topic = [r for r in by_topic[passage.split("\n", 1)[0]] if r is not row]
        rng.shuffle(same_topic)
        for other in same_topic[:6]:
            missing = asked - {w.lower() for w in re.findall(r"[\w\-.]+", other["passage"])}
            if missing and not _has(other["passage"], answer):
                out.append(Pair(q, other["passage"], 0.0, "passage", "office-near-miss"))
                break
    return out


# Columns of generated tables: (header, value maker, question templates about that column).
_COLUMNS: list[tuple[str, Callable[[random.Random], str], tuple[str, ...]]] = [
    ("price in euros", lambda r: f"{r.randint(2, 900)}.{r.choice(['00', '50', '95', '20'])}",
     ("How much does {item} cost?", "What is the price of {item}?", "What do we pay for {item}?")),
    ("lead time in days", lambda r: str(r.randint(1, 45)),
     ("What is the lead time for {item}?", "How long does delivery of {item} take?",
      "How many days until {item} arrives?")),
    ("minimum order", lambda r: f"{r.randint(1, 50)} {r.choice(['boxes', 'bags', 'units', 'crates'])}",
     ("What is the minimum order for {item}?", "How little {item} can we order?")),
    ("supplier", lambda r: _Values(r).word(2) + " " + r.choice(["Ltd", "GmbH", "Farms", "Supply"]),
     ("Who supplies {item}?", "Which supplier delivers {item}?")),
    ("storage", lambda r: r.choice(["dry", "chilled", "frozen", "ambient"]),
     ("How should {item} be stored?", "Does {item} need to be chilled or frozen?")),
    ("warranty in months", lambda r: str(r.choice([6, 12, 18, 24, 36])),
     ("How long is the warranty on {item}?", "For how many months is {item} guaranteed?")),
]


def table_pairs(count: int, rng: random.Random) -> list[Pair]:
    """About `count` pairs from generated tables written as the parser writes their rows."""
    values = _Values(rng)
    out: list[Pair] = []
    while len(out) < count:
        columns = rng.sample(_COLUMNS, k=rng.randint(2, 4))
        key = rng.choice(["item", "product", "article", "model"])
        title = rng.choice(["price list", "supplier list", "catalogue", "order sheet"]) + f" {values.word(2)}"
        items = [values.product().lower() if rng.random() < 0.5 else values.product() for _ in range(rng.randint(3, 8))]
        rows = {item: "; ".join([f"{key}: {item}"] + [f"{h}: {make(rng)}" for h, make, _ in columns])
                for item in items}
        for item in items:
            header, _, asks = rng.choice(columns)
            q = rng.choice(asks).format(item=item)
            text = f"{title}\n{rows[item]}"
            out.append(Pair(q, text, 1.0, "passage", "table"))
            value = rows[item].split(f"{header}: ", 1)[1].split(";", 1)[0]
            out.append(Pair(q, f"{header}: {value}", 1.0, "sentence", "table"))
            other = rng.choice([i for i in items if i != item])
            out.append(Pair(q, f"{title}\n{rows[other]}", 0.0, "passage", "table-near-miss"))
            absent = values.product()
            out.append(Pair(rng.choice(asks).format(item=absent), text, 0.0, "passage", "table-absent"))
    return out


def eval_dev_pairs(questions: Iterable[dict], chunks_for: Callable[[str], list[tuple[str, str]]],
                   negatives: int = 3) -> list[Pair]:
    """Pairs from the office set's dev half. `chunks_for(question)` gives the (document name,
    chunk text) candidates the service ranks for it; the test half must never reach here."""
    out: list[Pair] = []
    for q in questions:
        if q.get("split") != "dev":
            raise ValueError(f"{q.get('id')}: only dev questions may train the reranker")
        candidates = chunks_for(q["question"])
        answers = [a for a in q.get("answers", [])]
        negative = 0
        for name, text in candidates:
            holds = q.get("answerable") and name == q.get("source") and any(_has(text, a) for a in answers)
            if holds:
                out.append(Pair(q["question"], text, 1.0, "passage", "office-dev"))
                for a in answers:
                    extra = sentence_pairs(q["question"], text, a, "office-dev", random.Random(q["id"]))
                    if extra:
                        out += extra
                        break
            elif negative < negatives:
                out.append(Pair(q["question"], text, 0.0, "passage", "office-dev"))
                negative += 1
    return out
