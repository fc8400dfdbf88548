"""Test-wide setup: a network guard, and real models loaded once per session."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import rag  # noqa: F401  (sets the offline environment before any model library loads)
from ingest.scheduler import JobRunner
from rag.api.app import create_app
from rag.bootstrap import Runtime, build_runtime
from rag.config import Settings
from rag.store.base import Store

# A test that uses one of these loads the real models (MiniLM, SmolLM2, unstructured):
# it belongs to the slow tier. `pytest -m "not slow"` runs the rest, on the fakes of rag.testing.
_REAL_MODEL_FIXTURES = {"runtime", "client"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


class NonLoopbackConnection(AssertionError):
    """Raised when code under test tries to reach beyond this machine."""


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:
        return True  # AF_UNIX paths and the like stay on this machine
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name that would need DNS: not loopback


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise NonLoopbackConnection(f"test tried to connect to {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_loopback(address):
        raise NonLoopbackConnection(f"test tried to connect to {address!r}")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host not in (None, "localhost") and not _is_loopback((host,)):
        raise NonLoopbackConnection(f"test tried to resolve {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def network_guard() -> Iterator[None]:
    """Any non-loopback connection (or DNS lookup) fails the test that makes it."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _real_getaddrinfo  # type: ignore[assignment]


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("groundwork")


@pytest.fixture(scope="session")
def settings(session_dir: Path, request: pytest.FixtureRequest) -> Settings:
    """The session runtime's settings. RAG_TEST_STORE=postgresql runs the whole real-model
    suite on the PostgreSQL store (make test runs it on SQLite, the default; the store
    contract tests and tests/api/test_replicas.py cover PostgreSQL in every run)."""
    database_url = None
    if os.environ.get("RAG_TEST_STORE") == "postgresql":
        from tests import postgres

        database_url = postgres.new_schema(request.getfixturevalue("pg_database"))[1]
    return Settings(data_dir=session_dir / "data", load_samples=False, database_url=database_url)


@pytest.fixture(scope="session")
def runtime(settings: Settings) -> Runtime:
    """The real system: MiniLM, SmolLM2 (converted once), SQLite, FAISS, unstructured."""
    return build_runtime(settings)


@pytest.fixture(scope="session")
def client(runtime: Runtime) -> Iterator[TestClient]:
    """The HTTP API over the session's real runtime."""
    with TestClient(create_app(runtime=runtime)) as c:
        yield c


def restart(runtime: Runtime) -> Runtime:
    """A fresh runtime over the same data directory, reusing the loaded models."""
    return build_runtime(runtime.settings, embedder=runtime.embedder, generator=runtime.generator,
                         parser=runtime.parser, reranker=runtime.reranker)


@pytest.fixture(scope="module")
def job_runner(runtime: Runtime) -> Iterator[JobRunner]:
    """The job runner `rag serve` starts (the session's TestClient runs none), for a module
    whose requests queue jobs (uploads answered 202, re-embeddings): it runs them in the
    background until the module ends."""
    from datetime import timedelta

    runner = JobRunner(runtime.jobs, runtime.runner.syncer, timedelta(seconds=60), uploads=runtime.uploads)
    runner.start()
    yield runner
    runner.stop()


def wait_job(runtime: Runtime, job_id: str, timeout: float = 300):
    """Run queued jobs here (or let the background runner do it) until `job_id` is final."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runtime.runner.run_pending()
        job = runtime.jobs.get(job_id)
        if job.state in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {runtime.jobs.get(job_id)}")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this session's own on the machine's server (dropped at the end)."""
    from tests import postgres

    admin, name, url = postgres.create_session_db()
    yield url
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture()
def pg_url(pg_database: str) -> Iterator[str]:
    """A connection URL whose tables live in a schema of this test's own."""
    from tests import postgres

    schema, url = postgres.new_schema(pg_database)
    yield url
    postgres.drop_schema(pg_database, schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The contract suite's store: every test using it runs once per backend, opened empty."""
    s = open_store(request.param, tmp_path, request)
    yield s
    s.close()


def open_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    """An opened, empty store of `kind` ("sqlite" or "postgresql")."""
    from rag.store.sqlite import SQLiteStore

    if kind == "sqlite":
        s: Store = SQLiteStore(tmp_path / "db.sqlite3")
    else:
        from rag.store.postgres import PostgresStore

        s = PostgresStore(request.getfixturevalue("pg_url"))
    s.open()
    return s


def same_database(store: Store) -> Store:
    """Another store object (its own connections) on the same database, as a second process would have."""
    from rag.store.postgres import PostgresStore
    from rag.store.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        other: Store = SQLiteStore(store.path)
    else:
        assert isinstance(store, PostgresStore)
        other = PostgresStore(store.url)
    other.open()
    return other
