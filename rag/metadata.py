"""Document metadata: the rules a metadata object must keep, and how a change applies.

Metadata is a flat JSON object of short keys and scalar values (text, number, true/false),
so every value can be filtered on with equality in both stores' JSON functions. Keys are
plain words because SQLite addresses them inside a JSON path.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from rag.errors import InvalidMetadata

MAX_KEYS = 32
MAX_KEY_CHARS = 64
MAX_TEXT_CHARS = 1000
MAX_JSON_BYTES = 8192
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")
_SAFE_INT = 2**53  # beyond this a JSON number is not exact in every client

Metadata = dict[str, str | int | float | bool]
RULES = (f"metadata is a JSON object of at most {MAX_KEYS} keys (1-{MAX_KEY_CHARS} letters, digits, '_', "
         f"'.', '-', not starting with '.' or '-') with text (at most {MAX_TEXT_CHARS} characters), "
         f"number or true/false values, at most {MAX_JSON_BYTES} bytes as JSON")


def check_metadata(value: Any, where: str = "metadata") -> Metadata:
    """`value` if it keeps the rules (a copy); InvalidMetadata (422) naming what is wrong otherwise."""
    if not isinstance(value, dict):
        raise InvalidMetadata(f"{where} must be a JSON object; {RULES}")
    if len(value) > MAX_KEYS:
        raise InvalidMetadata(f"{where} has {len(value)} keys; {RULES}")
    for key, item in value.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise InvalidMetadata(f"{where}: key {str(key)[:80]!r} is not allowed; {RULES}")
        _check_value(item, f"{where}.{key}")
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > MAX_JSON_BYTES:
        raise InvalidMetadata(f"{where} is {size} bytes as JSON; {RULES}")
    return dict(value)


def _check_value(item: Any, where: str) -> None:
    if isinstance(item, bool):
        return
    if isinstance(item, int):
        if abs(item) > _SAFE_INT:
            raise InvalidMetadata(f"{where}: the number is too large (at most 2^53); send it as text")
        return
    if isinstance(item, float):
        if not math.isfinite(item):
            raise InvalidMetadata(f"{where}: numbers must be finite")
        return
    if isinstance(item, str):
        if len(item) > MAX_TEXT_CHARS:
            raise InvalidMetadata(f"{where}: the text is {len(item)} characters; at most {MAX_TEXT_CHARS}")
        return
    kind = "null" if item is None else type(item).__name__
    raise InvalidMetadata(f"{where}: a {kind} is not allowed; {RULES}")


def parse_metadata(text: str | None, where: str = "metadata") -> Any:
    """The JSON of a form field, or None when it was not sent; InvalidMetadata if it is not JSON."""
    if text is None or not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidMetadata(f"{where} is not valid JSON ({exc.msg} at character {exc.pos})") from None


def merge_patch(current: Metadata, patch: dict[str, Any]) -> Metadata:
    """`current` changed by `patch` as JSON Merge Patch (RFC 7396) does on a flat object:
    a key set to null is removed, any other key is set; the result must keep the rules."""
    merged: dict[str, Any] = dict(current)
    for key, item in patch.items():
        if item is None:
            merged.pop(key, None)
        else:
            merged[key] = item
    return check_metadata(merged)
