"""One access-log line per request, naming the principal (key id, "token", "user:NAME").

uvicorn's own access log knows only the address; the hub's says who called, with which role,
which operation, the status and the time taken. A pure ASGI middleware, so it sees streaming
responses and errors alike; the endpoint (or the dashboard) leaves the caller and the operation
in the request's state (`scope["state"]`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("secpipe.hub.access")


class AccessLog:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [0]

        async def send_wrapper(message: dict) -> None:
            if message.get("type") == "http.response.start":
                status[0] = message.get("status", 0)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            state = scope.get("state") or {}
            caller = state.get("caller")
            client = scope.get("client") or ("-", 0)
            path = scope.get("path", "")
            log.info('%s "%s %s" %s key=%s role=%s op=%s %.1fms', client[0],
                     scope.get("method", "-"), _printable(path), status[0] or 500,
                     _printable(getattr(caller, "name", "-")), getattr(caller, "role", "-"),
                     state.get("operation") or "-", (time.perf_counter() - start) * 1000)


def _printable(text: str) -> str:
    """No control characters in a log line (a path or key id could carry them)."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:300])
