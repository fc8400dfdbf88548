"""Keyset pages of a list: `limit` rows after a cursor, in a stable order.

A cursor holds the sort, the direction and the last row's (sort value, id), so the next page
starts after that row whatever was inserted or deleted meanwhile: no row is shown twice and
none that existed throughout is skipped (an OFFSET would shift under concurrent writes). The
cursor is opaque to clients (URL-safe base64 of JSON) and checked on the way back in.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rag.errors import InvalidInput

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    """Which page: how many rows, in which order, after which cursor (None: the first page)."""

    limit: int = 100
    sort: str = "name"
    descending: bool = False
    cursor: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """Rows of one page, and the cursor of the next (None on the last page)."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class Sorts:
    """The sorts a list offers: sort name -> SQL column (the tie-breaker column is unique)."""

    columns: dict[str, str]
    tie: str

    def clause(self, request: PageRequest) -> tuple[str, str, list[Any]]:
        """(condition after the cursor, ORDER BY ... LIMIT ?, parameters of both in order)."""
        if request.sort not in self.columns:
            raise InvalidInput(f"sort must be one of {', '.join(sorted(self.columns))}, not {request.sort!r}")
        column, op, order = self.columns[request.sort], ("<" if request.descending else ">"), \
            ("DESC" if request.descending else "ASC")
        condition, args = "", []  # type: tuple[str, list[Any]]
        if request.cursor is not None:
            value, last = _decode(request.cursor, request.sort, request.descending)
            condition = f" AND ({column} {op} ? OR ({column} = ? AND {self.tie} {op} ?))"
            args = [value, value, last]
        return condition, f" ORDER BY {column} {order}, {self.tie} {order} LIMIT ?", [*args, request.limit + 1]

    @staticmethod
    def page(rows: Sequence[Any], request: PageRequest, key: Callable[[Any], tuple[Any, Any]],
             make: Callable[[Any], T]) -> Page[T]:
        """The page from rows fetched with `clause` (one more than the limit, to know if more
        follow); `key(row)` gives the row's (sort value, tie-breaker) for the next cursor."""
        more = len(rows) > request.limit
        rows = rows[: request.limit]
        cursor = _encode(request.sort, request.descending, *key(rows[-1])) if more and rows else None
        return Page([make(r) for r in rows], cursor)


def _encode(sort: str, descending: bool, value: Any, last: Any) -> str:
    raw = json.dumps([sort, descending, value, last], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, sort: str, descending: bool) -> tuple[Any, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        got_sort, got_desc, value, last = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInput("the cursor is not one this service gave out; start again without `cursor`") from None
    if got_sort != sort or got_desc != descending:
        raise InvalidInput("the cursor belongs to another sort order; send the same `sort` and `order` "
                           "as the request that returned it, or start again without `cursor`")
    return value, last
