"""Structure-aware chunking: sections start at titles, tables stay whole where they fit,
every chunk fits the embedding model's token budget (nothing is silently truncated)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.parsing import Element
from rag.config import ChunkingSettings
from rag.types import ChunkDraft

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class ChunkerConfig:
    """Budget of a chunk in embedding-model tokens, and the overlap used inside long sections."""

    max_tokens: int = ChunkingSettings.model_fields["max_tokens"].default
    overlap_tokens: int = ChunkingSettings.model_fields["overlap_tokens"].default


class Chunker:
    """Groups parsed elements into chunks under their section titles."""

    def __init__(self, count_tokens: TokenCounter, config: ChunkerConfig = ChunkerConfig()):
        if config.overlap_tokens >= config.max_tokens:
            raise ValueError("overlap must be smaller than the chunk budget")
        self.count = count_tokens
        self.config = config
        # Long elements are split on paragraph, line, sentence, word boundaries, measured in
        # the same tokens; the splitter keeps `overlap_tokens` of context between pieces.
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=config.max_tokens,
            chunk_overlap=config.overlap_tokens,
            length_function=count_tokens,
            separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
            keep_separator="end",
        )

    def chunk(self, elements: Sequence[Element]) -> list[ChunkDraft]:
        """Chunk elements in order; each chunk, section title included, fits `max_tokens`.

        Over-long elements are split; title-only documents come back as their titles.
        """
        drafts: list[ChunkDraft] = []
        section: str | None = None
        buffer: list[str] = []
        buffer_tokens = 0
        buffer_page: int | None = None
        budget = self.config.max_tokens

        def flush() -> None:
            nonlocal buffer, buffer_tokens, buffer_page
            if buffer:
                self._emit(drafts, "\n".join(buffer), buffer_page, section)
            buffer, buffer_tokens, buffer_page = [], 0, None

        # Titles with no text under them label the next section; they are only kept as text
        # when the document has nothing else (unstructured calls a one-line file a Title).
        # (As chunks of their own, "Vindholm harbour" would outrank the section that answers.)
        titles: list[str] = []

        for el in elements:
            if not el.text.strip():
                continue  # an empty element would become an empty (or title-only) chunk
            if el.kind == "Title":
                flush()
                section = el.text
                titles.append(el.text)
                continue
            tokens = self.count(el.text)
            if el.kind == "TableRow":
                # Every row a chunk of its own under the table's title: a question about one
                # item finds that item's record, not a run of rows about others.
                flush()
                for piece in self._split(el.text, budget - self._header_tokens(section)):
                    self._emit(drafts, piece, el.page, section)
                continue
            if tokens > budget - self._header_tokens(section):
                flush()
                for piece in self._split(el.text, budget - self._header_tokens(section)):
                    self._emit(drafts, piece, el.page, section)
                continue
            # A table (or any element) that fits goes whole into a chunk of its own page run.
            if buffer and (buffer_tokens + tokens + 1 > budget - self._header_tokens(section)
                           or (el.page != buffer_page and el.page is not None)):
                flush()
            if not buffer:
                buffer_page = el.page
            buffer.append(el.text)
            buffer_tokens += tokens + 1
        flush()
        if not drafts and titles:
            for piece in self._split("\n".join(titles), budget):
                self._emit(drafts, piece, None, None)
        return drafts

    def _header_tokens(self, section: str | None) -> int:
        return self.count(section[:300]) + 1 if section else 0

    def _split(self, text: str, budget: int) -> list[str]:
        budget = max(budget, 16)
        pieces = self._splitter.split_text(text) if budget == self.config.max_tokens else (
            RecursiveCharacterTextSplitter(
                chunk_size=budget, chunk_overlap=min(self.config.overlap_tokens, budget // 4),
                length_function=self.count, separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
                keep_separator="end",
            ).split_text(text)
        )
        out: list[str] = []
        for piece in pieces:
            # The splitter can overshoot when a single "word" is longer than the budget.
            out.extend(self._hard_split(piece, budget) if self.count(piece) > budget else [piece])
        return [p.strip() for p in out if p.strip()]

    def _hard_split(self, text: str, budget: int) -> list[str]:
        out, start = [], 0
        while start < len(text):
            size = max(1, min(len(text) - start, budget * 2))
            while size > 1 and self.count(text[start:start + size]) > budget:
                size = size * 3 // 4
            out.append(text[start:start + size])
            start += size
        return out

    def _emit(self, drafts: list[ChunkDraft], body: str, page: int | None, section: str | None) -> None:
        # The section title travels with every chunk of the section: it is what a question
        # usually names, and it tells the LLM where the passage comes from.
        section = section[:300] if section else None
        text = f"{section}\n{body}" if section and not body.startswith(section) else body
        drafts.append(ChunkDraft(text=text, position=len(drafts), page=page, section=section,
                                 token_count=self.count(text)))
