from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from rag.api.app import create_app
from rag.bootstrap import Runtime


@pytest.fixture(scope="session")
def client(runtime: Runtime) -> Iterator[TestClient]:
    """The HTTP API over the session's real runtime."""
    with TestClient(create_app(runtime=runtime)) as c:
        yield c
