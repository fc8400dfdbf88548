"""The guard itself: a non-loopback connection fails, loopback works."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import NonLoopbackConnection


def test_non_loopback_connection_is_refused() -> None:
    with pytest.raises(NonLoopbackConnection):
        socket.create_connection(("203.0.113.7", 443), timeout=1)
    with pytest.raises(NonLoopbackConnection):
        socket.getaddrinfo("huggingface.co", 443)


def test_loopback_is_allowed() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=1)
    client.close()
    server.close()
