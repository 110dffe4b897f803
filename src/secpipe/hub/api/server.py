"""Running the hub's app under uvicorn: `serve()` for `secpipe hub serve`, and
`running_server()` for tests and benchmarks that need a real server on a free port.

The hub holds a project's security findings, so it binds loopback unless the operator says
otherwise in so many words (`allow_remote=True`, the CLI's `--host` plus its own flag).
"""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import socket
import sys
import threading
import time
from typing import Any, Callable, Iterator, Sequence

import uvicorn
from starlette.routing import BaseRoute

from secpipe.hub.api.app import create_app

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8443
SWITCH_INTERVAL = 0.0005
GC_YOUNG = 20_000       # allocations between young collections (Python's default: 700)
# The HTTP parser is h11 whatever else is installed: uvicorn's "auto" would switch to
# httptools wherever that happens to be installed, and its uvicorn protocol has no bound on a
# request's head (h11 refuses an incomplete one past 16 KB).
HTTP = "h11"
# uvicorn's default: uvloop when importable, else asyncio. uvloop is not a dependency: served
# (`bench/hub_http.py --workers 2`) it did not separate from asyncio in 26 alternated pairs
# (docs/performance.md, "HTTP import, thirteenth round"); tests/hub/test_api_loop.py checks
# that a hub on it answers as on asyncio.
LOOP = "auto"

RoutesArg = Sequence[BaseRoute] | Callable[[Any], Sequence[BaseRoute]]


class RemoteBindRefused(ValueError):
    """Binding a non-loopback address without `allow_remote=True`."""


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool = False) -> None:
    if not is_loopback(host) and not allow_remote:
        raise RemoteBindRefused(
            f"refusing to bind {host!r}: the hub binds loopback only unless remote access is "
            "allowed explicitly (allow_remote=True); put TLS in front of it when you do")


def dashboard_routes(store: Any) -> Sequence[BaseRoute]:
    """The dashboard under /ui, when this install has it (it is optional for the API)."""
    try:
        from secpipe.hub.dashboard import routes
    except ModuleNotFoundError as err:
        if err.name and "secpipe.hub.dashboard".startswith(err.name):
            return ()
        raise
    return routes(store)


def _routes(extra_routes: RoutesArg | None, store: Any) -> Sequence[BaseRoute]:
    if extra_routes is None:
        return dashboard_routes(store)
    return extra_routes(store) if callable(extra_routes) else extra_routes


def build_server(app: Any, host: str, port: int, *, log_level: str = "info",
                 access_log: bool = True, handoff: Any = None,
                 loop: str = LOOP) -> uvicorn.Server:
    """uvicorn for `app`; with a `handoff` (a `hub serve --workers N` worker) it serves the
    connections its parent hands over instead of listening itself. `loop`: uvicorn's loop
    setting ("auto", "asyncio", "uvloop")."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=access_log,
        proxy_headers=False,      # never trust X-Forwarded-* from whoever connects
        server_header=False, lifespan="off", timeout_keep_alive=30, http=HTTP, loop=loop,
    )
    if handoff is not None:
        from secpipe.hub.api.handoff import HandedServer
        return HandedServer(config, handoff)
    return uvicorn.Server(config)


def serve(store_url: str | None = None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
          allow_remote: bool = False, store: Any = None, auth: bool = True,
          token: str | None = None, extra_routes: RoutesArg | None = None,
          log_level: str = "info", policy: Any = None, limits: Any = None,
          workers: int = 1, store_options: dict[str, Any] | None = None) -> None:
    """Serve the hub until interrupted. `store` (an open HubStore) wins over `store_url`.

    extra_routes: a route list or a `factory(store)` mounted beside the API; None (default)
        means the dashboard under /ui, `()` means the API alone.
    policy: protected branches and timestamp skew (`secpipe.hub.authz.Policy`).
    limits: `isolation.Limits` (rate limit, worker pools); None = the defaults.
    workers: server processes on one socket (`secpipe.hub.api.workers`: what is per process).
        With more than one, `store` must be None (each worker opens `store_url` itself) and
        the default routes leave the dashboard out.
    store_options: `open_store`'s keywords (account_id, region) where the hub is opened here.
    """
    check_host(host, allow_remote)
    _log_access(log_level)
    warm()
    if workers > 1:
        _serve_workers(store_url, host, port, workers, auth=auth, token=token,
                       extra_routes=() if extra_routes is None else extra_routes,
                       log_level=log_level, policy=policy, limits=limits, store=store,
                       store_options=store_options or {})
        return
    if store is None:
        from secpipe.hub.store import open_store
        # WAL checkpoints beside the writers, not in the commit every writer waits for
        store = open_store(store_url, **(store_options or {}), background_checkpoint=True)
    if policy is not None:
        store.policy = policy
    # A query thread gives the GIL up for every row SQLite steps and then waits for it behind
    # any busy thread for up to the switch interval: 5 ms by default, i.e. up to 250 ms for a
    # page of 50. 0.5 ms keeps a busy intake or importer from stretching a GetFindings that way
    # (isolation of work, issue 12); the price is more frequent GIL hand-overs.
    sys.setswitchinterval(SWITCH_INTERVAL)
    app = create_app(store, auth=auth, token=token, extra_routes=_routes(extra_routes, store),
                     limits=limits)
    settle_gc()
    # the hub's own access log (with the key id) replaces uvicorn's
    build_server(app, host, port, log_level=log_level, access_log=False).run()


def _serve_workers(store_url: str | None, host: str, port: int, workers: int, *,
                   store: Any, extra_routes: RoutesArg, store_options: dict[str, Any],
                   **app_args: Any) -> None:
    """`serve` with `workers` processes (see `secpipe.hub.api.workers`)."""
    import atexit

    from secpipe.hub.api import workers as procs
    from secpipe.hub.store import open_store

    if store is not None:
        raise ValueError("serving with several workers needs a store URL, not an open store")
    open_store(store_url, **store_options).close()   # migrate once, before any worker opens it
    policy, limits, log_level = (app_args.pop(k) for k in ("policy", "limits", "log_level"))
    sock = procs.bind(host, port)

    def run(handoff: Any) -> None:
        own = open_store(store_url, **store_options, background_checkpoint=True)
        if policy is not None:
            own.policy = policy
        sys.setswitchinterval(SWITCH_INTERVAL)
        app = create_app(own, extra_routes=_routes(extra_routes, own), limits=limits,
                         **app_args)
        settle_gc()
        try:
            build_server(app, host, port, log_level=log_level, access_log=False,
                         handoff=handoff).run()
        finally:
            atexit._run_exitfuncs()      # a forked worker ends in os._exit: flush the intake
            own.close()

    settle_gc()                      # before the fork: the workers share what is frozen
    code = procs.supervise(workers, sock, run)
    if code:
        raise SystemExit(code)


def warm() -> None:
    """Load botocore's Security Hub model (about 1 s of CPU) before serving, not inside the
    first request: every Security Hub call needs it (the subscription gate, answer shapes).
    Before the workers fork, so they share it."""
    from secpipe.hub.api.shapes import output_shape
    from secpipe.hub.api.subscribed import gated_operations

    gated_operations()
    output_shape("BatchImportFindings")


def settle_gc() -> None:
    """Move what serving start-up built (botocore's model, SQLAlchemy's tables and compiled
    statements, the app) out of the cyclic collector's reach, and collect young objects less
    often. Why: a BatchImportFindings request makes some 10k short-lived containers; with the
    default thresholds the collector ran three or four times per request and walked the whole
    start-up heap on every full pass: about 5% of a worker's CPU under `bench/hub_http.py`
    (0.16 of 3.0 s, measured with gc.callbacks; none after this). Frozen objects are still
    freed by reference counting; only cycles among them are never collected, and start-up
    objects live as long as the server anyway. Frozen before `fork`, they also stay shared
    with the workers (a collection would write to every object's header)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])


def _log_access(level: str) -> None:
    """Send `secpipe.hub.access` lines to stderr, as uvicorn's access log went."""
    import logging
    import sys

    logger = logging.getLogger("secpipe.hub.access")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s access %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.INFO if level in ("info", "debug", "trace") else logging.WARNING)


@contextlib.contextmanager
def running_server(app: Any, host: str = DEFAULT_HOST, port: int = 0, *,
                   allow_remote: bool = False, log_level: str = "warning",
                   startup_timeout: float = 10.0, loop: str = LOOP) -> Iterator[str]:
    """Run `app` under a real uvicorn in a background thread; yield its base URL.

    The socket is bound here (port 0 = a free port) so the URL is known before the server
    starts and no other process can take the port in between.
    """
    check_host(host, allow_remote)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto is
    # IPPROTO_TCP, and without it every response waits ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    server = build_server(app, host, bound, log_level=log_level, access_log=False, loop=loop)
    # uvicorn only installs signal handlers from the main thread: this one is not.
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name=f"secpipe-hub-{bound}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"hub server on {host}:{bound} did not start")
        time.sleep(0.01)
    try:
        yield f"http://{'[' + host + ']' if family == socket.AF_INET6 else host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
