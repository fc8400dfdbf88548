"""Named fault points for crash tests: `hit(name)` SIGKILLs the process when armed.

Armed only through Settings (`RAG_FAULT_POINT`, `RAG_FAULT_AFTER`), which the crash tests set
on a server subprocess; unarmed, a hit costs one comparison.
"""

from __future__ import annotations

import os
import signal
import threading

_armed: str | None = None
_remaining = 0
_lock = threading.Lock()


def arm(name: str | None, after: int = 1) -> None:
    """Kill the process on the `after`-th hit of the fault point `name` (None disarms)."""
    global _armed, _remaining
    with _lock:
        _armed, _remaining = name, after


def hit(name: str) -> None:
    """Mark a fault point; dies here (SIGKILL, no cleanup) when this point is armed and due."""
    global _remaining
    if _armed != name:
        return
    with _lock:
        _remaining -= 1
        due = _remaining <= 0
    if due:
        os.kill(os.getpid(), signal.SIGKILL)
