"""The engine backend's cost per answer: the same questions answered in process (llama.cpp)
and through llama.cpp's OpenAI-compatible server on loopback (same weights, greedy), in turn,
so both see the same machine load."""

from __future__ import annotations

import time

from bench.common import WORK, pct
from rag.answer.service import RagService
from rag.bootstrap import Runtime
from rag.config import LLMSettings
from rag.engines import Engine
from rag.llm.llamacpp import LlamaCppGenerator
from rag.llm.openai_engine import OpenAIGenerator
from tests.engine import GREEDY, LlamaServer


def bench_engine(runtime: Runtime, questions: list[str]) -> dict:
    """p50/p95 per answer in process and through the engine (top-5, <= 64 tokens), the
    overhead at p50, and how many answers are the same text."""
    assert isinstance(runtime.generator, LlamaCppGenerator)
    server = LlamaServer(runtime.generator.gguf, WORK, runtime.generator.context_window).start()
    try:
        settings = LLMSettings(backend="openai", base_url=server.base_url, engine_options=GREEDY)
        generator = OpenAIGenerator(Engine("LLM", "RAG_LLM", settings), context_window=server.context_window,
                                    options=GREEDY)
        generator.warm_up()
        local_service = runtime.service
        engine_service = RagService(local_service.retriever, generator, local_service.options,
                                    local_service.embedder, local_service.reader)
        local, remote, same = [], [], 0
        for q in questions:
            answers = []
            for service, times in ((local_service, local), (engine_service, remote)):
                t = time.perf_counter()
                answers.append(service.ask("bench-answers", q, top_k=5, max_tokens=64).text)
                times.append((time.perf_counter() - t) * 1000)
            same += answers[0] == answers[1]
    finally:
        server.stop()
    p50_local, p50_remote = pct(local, 50), pct(remote, 50)
    return {"questions": len(questions), "in_process_p50_ms": p50_local, "in_process_p95_ms": pct(local, 95),
            "engine_p50_ms": p50_remote, "engine_p95_ms": pct(remote, 95),
            "overhead_p50": round(p50_remote / p50_local - 1, 3), "same_answers": same}
