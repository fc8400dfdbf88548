"""An OpenAI-compatible engine (vLLM, Ollama, llama.cpp's server, TEI, another Groundwork):
one client per configured URL, and its failures in words a person can act on.

The `openai` SDK does the protocol: streaming, timeouts, and bounded retries with
exponential backoff (0.5 s doubling to 8 s, honouring Retry-After) on connection errors,
timeouts, 408, 409, 429 and 5xx. This module turns what still fails into EngineUnavailable
(HTTP 503) naming the URL and the setting to check, and remembers the engine's last known
state for /health. The API key is handed to the SDK only: it never appears in a message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rag.config import EngineSettings, Settings
from rag.errors import EngineUnavailable, ModelUnavailable

# The SDK's HTTP client logs each request line with the URL as configured, user:password
# included: kept to warnings, so credentials in RAG_*__BASE_URL never reach a log.
for _name in ("httpx2", "httpcore2"):
    logging.getLogger(_name).setLevel(logging.WARNING)

# /health asks the engine at most this often (a load balancer polls every few seconds).
STATUS_TTL_S = 5.0
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class EngineStatus:
    """What the engine said the last time it was asked."""

    url: str
    reachable: bool
    models: list[str] = field(default_factory=list)
    context_window: int | None = None  # where the engine reports one
    error: str | None = None


class Engine:
    """One OpenAI-compatible server: the SDK client for it and its failures as EngineUnavailable."""

    def __init__(self, role: str, env: str, settings: EngineSettings):
        """`role` names it in messages ("LLM", "embedding"); `env` is its settings prefix
        ("RAG_LLM"), so a message can say which variable to fix."""
        import openai

        if not settings.base_url:
            raise ModelUnavailable(f"{env}__BACKEND=openai needs {env}__BASE_URL, the engine's API root "
                                   "(for example http://127.0.0.1:8080/v1)")
        self.role = role
        self.env = env
        self.url = shown_url(settings.base_url.rstrip("/"))
        self.timeout_s = settings.timeout_s
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        # The SDK insists on a key; engines without authentication ignore this placeholder.
        self.client = openai.OpenAI(
            base_url=settings.base_url.rstrip("/"), api_key=key or "no-key", max_retries=settings.retries,
            timeout=openai.Timeout(settings.timeout_s, connect=min(settings.timeout_s, 10.0)))
        self._status: EngineStatus | None = None
        self._status_at = 0.0
        self._status_lock = threading.Lock()

    @contextmanager
    def failures(self, doing: str) -> Iterator[None]:
        """Turn whatever the SDK raises inside into EngineUnavailable, `doing` saying what for
        ("writing an answer"). Also marks the engine unreachable for /health."""
        import httpx2  # the SDK's HTTP client: its errors escape while a stream is read
        import openai

        try:
            yield
        except openai.APITimeoutError as exc:
            raise self._down(f"did not answer within {self.timeout_s:g} s while {doing}; "
                             f"raise {self.env}__TIMEOUT_S or check the engine's load") from exc
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise self._down(f"could not be reached while {doing} ({_short(cause)}); start it, or check "
                             f"{self.env}__BASE_URL") from exc
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise self._down(f"refused the API key (HTTP {exc.status_code}) while {doing}; check "
                             f"{self.env}__API_KEY") from exc
        except openai.NotFoundError as exc:
            raise self._down(f"answered 404 while {doing} ({_short(exc.message)}); check that "
                             f"{self.env}__BASE_URL is the API root (it usually ends in /v1) and "
                             f"{self.env}__MODEL names a model it serves") from exc
        except openai.APIStatusError as exc:
            raise self._down(f"answered HTTP {exc.status_code} while {doing} ({_short(exc.message)})") from exc
        except httpx2.TransportError as exc:
            # Raised while reading a stream that already began (the SDK retries only before).
            raise self._down(f"dropped the connection while {doing} ({type(exc).__name__}); check that it "
                             "is still running") from exc
        except (openai.APIError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise self._down(f"answered something that is not an OpenAI-compatible response while {doing} "
                             f"({type(exc).__name__}: {_short(exc)}); check that {self.env}__BASE_URL points "
                             "at an OpenAI-compatible API") from exc

    def _down(self, what: str) -> EngineUnavailable:
        message = f"the {self.role} engine at {self.url} {what}"
        with self._status_lock:
            self._status, self._status_at = EngineStatus(self.url, False, error=message), time.monotonic()
        return EngineUnavailable(message)

    def status(self, fresh: bool = False) -> EngineStatus:
        """Reachability, served models and context window (GET /models, cached STATUS_TTL_S;
        `fresh` asks now). Never raises: an unreachable engine is a status, not an error."""
        with self._status_lock:
            if not fresh and self._status is not None and time.monotonic() - self._status_at < STATUS_TTL_S:
                return self._status
        try:
            with self.failures("listing its models"):
                page = self.client.with_options(timeout=PROBE_TIMEOUT_S, max_retries=0).models.list()
                models = list(page.data)
                status = EngineStatus(self.url, True, [m.id for m in models], _context_window(models))
        except EngineUnavailable as exc:
            status = EngineStatus(self.url, False, error=str(exc))
        with self._status_lock:
            self._status, self._status_at = status, time.monotonic()
        return status

    def mark_reachable(self) -> None:
        """A request just succeeded: /health need not say "unreachable" until the next failure."""
        with self._status_lock:
            if self._status is not None and not self._status.reachable:
                self._status = None


def configured_engines(settings: Settings) -> list[Engine]:
    """An Engine for each model configured with the "openai" backend (LLM first), none offline."""
    parts = (("LLM", "RAG_LLM", settings.llm), ("embedding", "RAG_EMBEDDING", settings.embedding))
    return [Engine(role, env, part) for role, env, part in parts if part.backend == "openai"]


def engine_of(component: object) -> Engine | None:
    """The engine behind a generator or embedder, None for the in-process backends."""
    engine = getattr(component, "engine", None)
    return engine if isinstance(engine, Engine) else None


def shown_url(url: str) -> str:
    """The URL without a user:password part, for messages and /health."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=(parts.hostname or "") + (f":{parts.port}" if parts.port else "")))


def _context_window(models: list[Any]) -> int | None:
    """The first model's context length where the engine reports one (vLLM's `max_model_len`;
    llama.cpp's and Ollama's OpenAI endpoints list none: set RAG_LLM__CONTEXT_WINDOW)."""
    if not models:
        return None
    extra = models[0].model_extra or {}
    for value in (extra.get("max_model_len"), extra.get("context_length")):
        if isinstance(value, int) and value > 0:
            return value
    return None


def _short(value: object, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
