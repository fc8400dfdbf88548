"""Request bodies of the OpenAI-compatible endpoints (/v1/chat/completions, /v1/embeddings),
beside the service's own schemas."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Message(BaseModel):
    """A chat message; `content` is text or a list of content parts, of which the `text` ones are read."""

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text: the content string, or the `text` of its parts joined by spaces."""
        if isinstance(self.content, list):
            return " ".join(part.get("text", "") for part in self.content if isinstance(part, dict))
        return self.content or ""


class ChatIn(BaseModel):
    """An OpenAI chat completion request. `model` names the collection to answer from
    ("groundwork/<collection>" or just "<collection>"); `max_tokens` or `max_completion_tokens`
    is capped at the server's limit instead of being refused."""

    model: str = Field(..., examples=["groundwork/samples"])
    messages: list[Message]
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)


class EmbeddingsIn(BaseModel):
    """An OpenAI embeddings request of 1 to 2048 texts. The server's embedding model is always
    used; `model` is only echoed back."""

    input: str | list[str]
    model: str = "groundwork-embeddings"
