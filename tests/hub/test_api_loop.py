"""The hub's uvicorn settings: h11 parses HTTP whatever else is installed, and the event loop
(uvloop where someone installed it, asyncio otherwise) changes no answer.

The same requests sent to a hub on asyncio and to one on uvloop, each on a fresh store, must
get the same status, headers (less the date and the request id) and body (docs/performance.md,
"HTTP import, thirteenth round", measured uvloop; it is not a dependency, so the comparison
runs where it is installed).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Iterator

import pytest

from secpipe.hub.api import create_app, running_server
from secpipe.hub.api import server
from secpipe.hub.api.isolation import UNLIMITED
from secpipe.hub.store import open_store
from tests.hub.test_api_support import (Hub, comparable, import_session, make_finding,
                                        raw_request)

KEY_ID, SECRET = "SPKLOOPTEST00000001", "loop-test-secret"


def test_http_is_h11_even_with_httptools_installed() -> None:
    """uvicorn's "auto" would pick httptools wherever it is installed; the hub does not."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    config = server.build_server(create_app(None, auth=False), "127.0.0.1", 0).config
    config.load()
    assert config.http_protocol_class is H11Protocol


def test_auto_loop_is_uvloop_where_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    factory = server.build_server(create_app(None, auth=False), "127.0.0.1", 0).config \
        .get_loop_factory()
    assert factory is uvloop.new_event_loop


@pytest.fixture
def hubs(tmp_path: Path) -> Iterator[dict[str, Hub]]:
    """One hub per loop, each on a store of its own, with the same configured key."""
    pytest.importorskip("uvloop")
    opened = []
    try:
        found = {}
        with running_server(_app(tmp_path / "a.db", opened), loop="asyncio") as a, \
                running_server(_app(tmp_path / "u.db", opened), loop="uvloop") as u:
            found = {"asyncio": Hub(a, opened[0], KEY_ID, SECRET),
                     "uvloop": Hub(u, opened[1], KEY_ID, SECRET)}
            yield found
    finally:
        for store in opened:
            store.close()


def _app(path: Path, opened: list) -> Any:
    store = open_store(f"sqlite:///{path}")
    opened.append(store)
    return create_app(store, access_keys={KEY_ID: SECRET}, limits=UNLIMITED)


def _steps(hub: Hub, batch: list[dict[str, Any]]) -> list[tuple[int, dict[str, str], Any]]:
    """A session of requests: imports (new, unchanged, partly invalid), reads, and refusals."""
    answers = import_session(hub, batch) + [
        raw_request(hub.url + "/findings", "POST", b"{}"),
        raw_request(hub.url + "/health"),
        _raw_exchange(hub.url, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      b"X-Big: " + b"a" * 20_000 + b"\r\n\r\n"),
        _raw_exchange(hub.url, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      + b"X-Big: a\r\n" * 3_000),          # a head still growing past 16 KB
        _raw_exchange(hub.url, b"GARBAGE\r\n\r\n"),
    ]
    return comparable(answers)


def _raw_exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (a head no client library would send); the answer parsed."""
    host, port = url.rsplit("/", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def test_uvloop_answers_as_asyncio(hubs: dict[str, Hub]) -> None:
    batch = [make_finding("loop", n) for n in range(30)]
    on_asyncio, on_uvloop = _steps(hubs["asyncio"], batch), _steps(hubs["uvloop"], batch)
    assert on_uvloop == on_asyncio
    statuses = [status for status, _, _ in on_asyncio]
    assert statuses == [200, 200, 200, 200, 400, 403, 403, 200, 200, 400, 400]
    assert on_asyncio[1][2]["SuccessCount"] == 30 and on_asyncio[2][2]["FailedCount"] == 1
