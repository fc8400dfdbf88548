"""The machine's PostgreSQL for tests: one database per test session (dropped at the end),
one schema per test. Where none is reachable the PostgreSQL tests skip with the reason,
except under CI=true, where they fail: CI machines have one (.ci/run starts it)."""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest

# The server every machine here runs (trust authentication on loopback).
SERVER = os.environ.get("RAG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def with_db(url: str, dbname: str) -> str:
    """`url` pointing at another database."""
    base, _, _ = url.rpartition("/")
    return f"{base}/{dbname}"


def with_schema(url: str, schema: str) -> str:
    """`url` with every connection's search_path set to `schema`."""
    return f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path={schema}')}"


def unavailable(reason: str) -> None:
    """Skip (or, under CI=true, fail) a test that needs PostgreSQL."""
    message = f"PostgreSQL not reachable at {SERVER}: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: .ci/run should have started it)")
    pytest.skip(message)


def create_session_db():
    """(admin connection, url of a new database for this session) or a skip."""
    import psycopg

    try:
        admin = psycopg.connect(SERVER, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    name = f"groundwork_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    return admin, name, with_db(SERVER, name)


def new_schema(db_url: str) -> tuple[str, str]:
    """(schema name, url whose connections use it) in the session database."""
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:10]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return schema, with_schema(db_url, schema)


def drop_schema(db_url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
