"""API keys: stored hashed, shown once, scoped to collections."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from rag.clock import utc_iso
from rag.errors import InvalidInput, NotFound
from rag.store.base import Store
from rag.store.migrations import Migration
from rag.store.paging import Page, PageRequest, Sorts

# The tables of this module, by migration number (rag.store.migrations applies them).
KEY_SORTS = Sorts({"created_at": "created_at", "name": "name"}, tie="id")

MIGRATIONS = (
    Migration(1, "api_keys", (
        """CREATE TABLE IF NOT EXISTS api_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE,   -- sha256 of the key; the key itself is shown once
            scopes TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )""",
    )),
    Migration(3, "api_keys: request rate", (
        "ALTER TABLE api_keys ADD COLUMN rate_per_minute INTEGER",  # NULL: unlimited
    )),
)

_SCOPE = re.compile(r"^(admin|(read|write):[A-Za-z0-9][A-Za-z0-9_.\-]{0,63})$")


@dataclass(frozen=True)
class Principal:
    """Who is calling and what they may do."""

    key_id: str | None
    scopes: frozenset[str]
    rate_per_minute: int | None = None  # requests per minute; None: unlimited

    @property
    def admin(self) -> bool:
        """Whether the caller holds the admin scope."""
        return "admin" in self.scopes

    def can(self, action: str, collection: str) -> bool:
        """`read` is implied by `write`; admin may do anything."""
        if self.admin:
            return True
        if action == "read" and f"write:{collection}" in self.scopes:
            return True
        return f"{action}:{collection}" in self.scopes


ADMIN = Principal(None, frozenset({"admin"}))


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """API key rows in the Groundwork database."""

    def __init__(self, store: Store):
        """Keys in the `api_keys` table of `store`."""
        self.store = store

    def create(self, name: str, scopes: list[str], rate_per_minute: int | None = None) -> tuple[str, str]:
        """Returns (id, key); the key itself is never stored, only its hash. `rate_per_minute`
        caps the key's requests (None: unlimited)."""
        bad = [s for s in scopes if not _SCOPE.match(s)]
        if not scopes or bad:
            raise InvalidInput(f"scopes must be 'admin', 'read:COLLECTION' or 'write:COLLECTION'; bad: {bad or '[]'}")
        if rate_per_minute is not None and rate_per_minute < 1:
            raise InvalidInput("rate_per_minute must be at least 1 (leave it out for no limit)")
        key_id = "key_" + uuid.uuid4().hex[:12]
        key = "gw_" + secrets.token_urlsafe(32)
        with self.store.write() as conn:
            conn.execute(
                "INSERT INTO api_keys(id, name, key_hash, scopes, created_at, rate_per_minute) VALUES (?,?,?,?,?,?)",
                (key_id, name, _hash(key), json.dumps(sorted(set(scopes))), utc_iso(), rate_per_minute))
        return key_id, key

    def verify(self, key: str) -> Principal | None:
        """The principal of a key that exists and is not revoked, else None."""
        row = self.store.connection().execute(
            "SELECT id, scopes, rate_per_minute FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
            (_hash(key),)).fetchone()
        return Principal(row[0], frozenset(json.loads(row[1])), row[2]) if row else None

    def revoke(self, key_id: str) -> None:
        """Revoke a key for good; NotFound if it does not exist or is already revoked."""
        with self.store.write() as conn:
            cur = conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                               (utc_iso(), key_id))
        if cur.rowcount == 0:
            raise NotFound(f"key {key_id!r} does not exist or is already revoked", "key")

    def page(self, request: PageRequest, status: str | None = None, name_prefix: str | None = None) -> Page[dict]:
        """A page of keys (sorted by created_at or name) without secrets, optionally only
        `active` or `revoked` ones, or those whose name starts with `name_prefix`."""
        where, args = "", []  # type: tuple[str, list[Any]]
        if status == "active":
            where = " AND revoked_at IS NULL"
        elif status == "revoked":
            where = " AND revoked_at IS NOT NULL"
        if name_prefix:
            where += " AND substr(name, 1, ?) = ?"
            args += [len(name_prefix), name_prefix]
        after, order, page_args = KEY_SORTS.clause(request)
        rows = self.store.connection().execute(
            "SELECT id, name, scopes, created_at, revoked_at, rate_per_minute FROM api_keys WHERE 1 = 1"
            + where + after + order, [*args, *page_args]).fetchall()
        return Sorts.page(rows, request, lambda r: (r[request.sort], r["id"]), _key_row)

    def list(self) -> list[dict]:
        """Every key, revoked ones included, oldest first; without secrets or hashes."""
        rows = self.store.connection().execute(
            "SELECT id, name, scopes, created_at, revoked_at, rate_per_minute FROM api_keys ORDER BY created_at"
        ).fetchall()
        return [_key_row(r) for r in rows]


def _key_row(r: Any) -> dict:
    return {"id": r[0], "name": r[1], "scopes": json.loads(r[2]), "created_at": r[3], "revoked_at": r[4],
            "rate_per_minute": r[5]}
