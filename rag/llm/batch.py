"""Batched greedy decoding on llama.cpp: the questions in flight share each decode step.

Decoding a small model on a CPU is bound by reading the weights once per step, so one step
for four sequences costs little more than a step for one. One thread owns a llama.cpp
context with a KV slot per sequence (`slots`, each the model's full window); requests wait
in a queue for a free slot, are prefilled alone, then join the shared steps: one token per
active sequence per `llama_decode`, the next token the arg-max of its logits (greedy, first
maximum, as llama.cpp's greedy sampler picks). A sequence ends at an end-of-generation
token, at its token budget, when its caller stops reading, or when `stop` is set; its slot
is cleared for the next request.

Working on tokens directly also drops the per-token overhead of llama-cpp-python's chat
completion stream (it detokenises the whole answer again after every token), which was
most of the gap to llama.cpp's own speed (BENCHMARKS.md).
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.errors import ModelUnavailable, OutOfRange

log = logging.getLogger(__name__)

_END = object()  # the end of a request's pieces


@dataclass
class _Request:
    """One sequence: its prompt, budget and where its pieces go; the decode state once admitted."""

    tokens: list[int]
    max_tokens: int
    stop: threading.Event | None
    out: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    abandoned: bool = False  # the caller stopped reading (a client went away)
    position: int = 0
    last: int = 0
    produced: int = 0
    decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("ignore"))

    def ended_by_caller(self) -> bool:
        return self.abandoned or (self.stop is not None and self.stop.is_set())


class DecodeLoop:
    """A llama.cpp context with `slots` sequences and the thread that decodes them together.

    `llm` is a loaded llama_cpp.Llama (its model, vocabulary and context settings are
    reused; its own context is left idle). `window` is each sequence's context in tokens.
    """

    def __init__(self, llm: Any, slots: int, window: int):
        import llama_cpp

        self._lib = llama_cpp
        self.slots = slots
        self.window = window
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
        # Each sequence its own part of the KV cache (kv_unified off), so a sequence's
        # attention reads only its own cells, as when it runs alone.
        params.n_ctx = window * slots
        params.n_seq_max = slots
        params.kv_unified = False
        params.n_batch = max(int(params.n_batch), slots)
        self._n_batch = int(params.n_batch)
        self._ctx = llama_cpp.llama_init_from_model(llm.model, params)
        if not self._ctx:
            raise ModelUnavailable(f"llama.cpp could not make a context of {window} tokens x {slots} sequences")
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._vocab = llm._model.vocab
        self._n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self._batch = llama_cpp.llama_batch_init(self._n_batch, 0, 1)
        self._piece = ctypes.create_string_buffer(256)
        self._pending: queue.Queue[_Request | None] = queue.Queue()
        self.widest_step = 0  # the most sequences one decode step has carried (tests, diagnostics)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llm-decode", daemon=True)
        self._thread.start()

    def generate(self, tokens: list[int], max_tokens: int, stop: threading.Event | None = None) -> Iterator[str]:
        """Stream the text pieces of at most `max_tokens` greedy tokens after `tokens`."""
        if len(tokens) + max_tokens > self.window:
            raise OutOfRange(f"the prompt ({len(tokens)} tokens) and the answer ({max_tokens}) exceed the "
                             f"model's window of {self.window} tokens: ask with fewer or shorter passages")
        request = _Request(list(tokens), max_tokens, stop)
        self._pending.put(request)
        try:
            while (item := request.out.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            request.abandoned = True  # no-op once ended; frees the slot if the caller left early

    def close(self) -> None:
        """Stop the decode thread and free the context (requests still queued end empty)."""
        self._closed.set()
        self._pending.put(None)
        self._thread.join(timeout=30)
        self._lib.llama_batch_free(self._batch)
        self._lib.llama_free(self._ctx)

    # The decode thread -------------------------------------------------------------------

    def _run(self) -> None:
        active: dict[int, _Request] = {}
        free = list(range(self.slots - 1, -1, -1))
        while not self._closed.is_set():
            try:
                self._admit(active, free)
                if active:
                    self._step(active, free)
            except Exception as exc:  # noqa: BLE001 - a bug here must not leave callers waiting forever
                log.exception("llama.cpp decode loop")
                for slot, request in list(active.items()):
                    request.out.put(exc)
                    self._clear(slot)
                    free.append(slot)
                active.clear()
        for request in active.values():
            request.out.put(_END)

    def _admit(self, active: dict[int, _Request], free: list[int]) -> None:
        """Take waiting requests into free slots (waiting for one when nothing is running)."""
        while free:
            try:
                request = self._pending.get(block=not active)
            except queue.Empty:
                return
            if request is None:  # close()
                return
            slot = free.pop()
            try:
                self._prefill(request, slot)
                ended = self._take(request, self._argmax(-1))
            except Exception as exc:  # noqa: BLE001 - the caller gets the error, the loop goes on
                self._clear(slot)
                free.append(slot)
                request.out.put(exc)
                continue
            if ended:
                self._finish(request, slot, free)
            else:
                active[slot] = request

    def _prefill(self, request: _Request, slot: int) -> None:
        """Read the prompt into the slot's cells, in chunks of n_batch; logits for the last token."""
        tokens = request.tokens
        for start in range(0, len(tokens), self._n_batch):
            self._batch.n_tokens = 0
            chunk = tokens[start:start + self._n_batch]
            for i, token in enumerate(chunk):
                self._add(token, start + i, slot, start + i == len(tokens) - 1)
            self._decode()
        request.position = len(tokens)

    def _step(self, active: dict[int, _Request], free: list[int]) -> None:
        """One shared decode step: each active sequence's last token, then each one's next."""
        self._batch.n_tokens = 0
        rows: dict[int, int] = {}
        for slot, request in active.items():
            rows[slot] = self._batch.n_tokens
            self._add(request.last, request.position, slot, True)
            request.position += 1
        self.widest_step = max(self.widest_step, len(rows))
        try:
            self._decode()
        except Exception as exc:  # noqa: BLE001 - every sequence of the failed step is told
            for slot, request in list(active.items()):
                request.out.put(exc)
                del active[slot]
                self._clear(slot)
                free.append(slot)
            return
        for slot, request in list(active.items()):
            if self._take(request, self._argmax(rows[slot])):
                del active[slot]
                self._finish(request, slot, free)

    def _take(self, request: _Request, token: int) -> bool:
        """Pass the token's text on; whether the sequence has ended."""
        if request.ended_by_caller() or self._lib.llama_vocab_is_eog(self._vocab, token):
            return True
        text = request.decoder.decode(self._token_bytes(token))
        if text:
            request.out.put(text)
        request.last = token
        request.produced += 1
        return request.produced >= request.max_tokens

    def _finish(self, request: _Request, slot: int, free: list[int]) -> None:
        tail = request.decoder.decode(b"", final=True)
        if tail:
            request.out.put(tail)
        request.out.put(_END)
        self._clear(slot)
        free.append(slot)

    # llama.cpp calls ------------------------------------------------------------------------

    def _add(self, token: int, position: int, seq: int, logits: bool) -> None:
        b, i = self._batch, self._batch.n_tokens
        b.token[i] = token
        b.pos[i] = position
        b.n_seq_id[i] = 1
        b.seq_id[i][0] = seq
        b.logits[i] = logits
        b.n_tokens = i + 1

    def _decode(self) -> None:
        code = self._lib.llama_decode(self._ctx, self._batch)
        if code != 0:
            raise ModelUnavailable(f"llama.cpp could not decode a batch (code {code})")

    def _argmax(self, row: int) -> int:
        logits = self._lib.llama_get_logits_ith(self._ctx, row)
        return int(np.ctypeslib.as_array(logits, shape=(self._n_vocab,)).argmax())

    def _token_bytes(self, token: int) -> bytes:
        n = self._lib.llama_token_to_piece(self._vocab, token, self._piece, len(self._piece), 0, False)
        if n < 0:  # a piece longer than the buffer: make room and ask again
            self._piece = ctypes.create_string_buffer(-n)
            n = self._lib.llama_token_to_piece(self._vocab, token, self._piece, len(self._piece), 0, False)
        return self._piece.raw[:n]

    def _clear(self, slot: int) -> None:
        self._lib.llama_memory_seq_rm(self._memory, slot, -1, -1)
