"""Per-key request rates: a key created with `rate_per_minute` gets 429 past it.

A moving window per key (the `limits` library), in this process's memory: with several
API replicas each enforces the rate on its own share of the traffic. Keys without a rate,
and the admin key from RAG_ADMIN_KEY, are never limited.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute, storage, strategies

from rag.errors import Overloaded
from rag.store.keys import Principal


class KeyRateLimiter:
    """Counts each limited key's requests over the last minute."""

    def __init__(self) -> None:
        """An empty limiter (state lives in memory)."""
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def check(self, principal: Principal) -> None:
        """Count one request of `principal`; Overloaded (429, with Retry-After) past its rate."""
        rate = principal.rate_per_minute
        if not rate or principal.key_id is None:
            return
        item = RateLimitItemPerMinute(rate)
        if self._limiter.hit(item, principal.key_id):
            return
        reset = self._limiter.get_window_stats(item, principal.key_id).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise Overloaded(f"this key may send {rate} requests a minute; retry in {wait} s",
                         retry_after_s=wait, code="rate_limited")
