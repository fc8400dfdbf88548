"""How much evidence fits the model: passages cut to its context window, with room for the answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence

# Tokens are counted with the embedder's tokenizer, not the LLM's (an engine's is not known
# here): word pieces and a chat model's BPE tokens differ by a few percent on English text,
# so counts are inflated by this much, plus the chat template's own tokens per message.
MARGIN = 1.2
TEMPLATE_TOKENS = 32


def fit_passages(passages: Sequence[str], fixed: Sequence[str], window: int, answer_tokens: int,
                 count: Callable[[str], int]) -> list[str]:
    """The leading passages that fit in `window` tokens beside the `fixed` texts (the
    instruction, the question) and `answer_tokens` for the answer; the last one kept is cut
    at a sentence or word if only part of it fits. At least part of the first passage is
    always kept (a window too small for any evidence is a setting to fix, not a refusal)."""
    room = window - answer_tokens - TEMPLATE_TOKENS - sum(_tokens(t, count) for t in fixed)
    kept: list[str] = []
    for passage in passages:
        need = _tokens(passage, count)
        if need <= room:
            kept.append(passage)
            room -= need
            continue
        if room > 16 or not kept:
            kept.append(_cut(passage, max(room, 16), need))
        break
    return kept


def _tokens(text: str, count: Callable[[str], int]) -> int:
    return int(count(text) * MARGIN) + 4  # the passage's number and delimiters


def _cut(text: str, room: int, need: int) -> str:
    # Proportional to the tokens, then back to the last sentence (or word) end.
    head = text[: max(1, len(text) * room // max(need, 1))]
    for end in (". ", "\n", " "):
        at = head.rfind(end)
        if at > len(head) // 2:
            return head[: at + 1].rstrip()
    return head
