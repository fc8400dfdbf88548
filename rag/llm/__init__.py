"""The LLM: the Generator protocol and base class, one module per backend, GGUF surgery.

Backends are chosen by name (RAG_LLM__BACKEND) through `rag.llm.registry`.
"""

from rag.llm.base import BaseGenerator, Generator, Prompt

__all__ = ["BaseGenerator", "Generator", "Prompt"]
