"""Isolation of work on the hub: per-caller rate limits and one bounded worker pool per route
class, so a flood on one kind of request cannot starve the others.

Why: every blocking call used to share Starlette's one threadpool (40 threads). Forty
unauthenticated OSV `/v1/querybatch` calls of 1,000 queries each took all of them, and an
authenticated GetFindings waited 80 s behind them (issue 12).

- Rate limit: a token bucket per authenticated principal (`Principal.name`), Security Hub's
  default of 10 requests/s with a burst of 30 (`hub serve --rate-limit/--rate-burst`; 0 turns
  it off). Callers without valid credentials share one bucket per source address (so a
  signature-guessing or anonymous flood from one address is throttled before it costs more).
  An empty bucket answers 429 TooManyRequestsException in Security Hub's error shape with a
  Retry-After header; boto3's standard retry mode backs off and retries it. The Falco intake
  is not rate limited (one request per alert is Falco's normal; its back-pressure is
  `max_pending` and an honest 503), nor is `/health`.
- Worker pools: `queries` (GetFindings, insights, native reads), `imports` (imports, updates,
  runs, insight changes), `intake` (Falco: parsing alerts, one thread), `osv` (one call at a
  time, matched in a worker process: `secpipe.vulndb.worker`) and `other`. A pool's limit
  bounds how many of its calls run at once; the excess waits on the event loop at no cost to
  the others. CPU-bound work kept to one thread matters because of the GIL: a query thread
  that gives the GIL up for each row SQLite steps waits for it behind every busy thread.
  The store's connection pool (SQLAlchemy's 5 + 10 overflow) covers the sum of the pools that
  use the store.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Mapping, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from starlette.requests import Request

from secpipe.hub.interface import RetryLater

T = TypeVar("T")

DEFAULT_RATE = 10.0      # Security Hub: 10 requests per second per account and operation
DEFAULT_BURST = 30       # ... with a burst of 30
DEFAULT_POOLS = {"queries": 6, "imports": 3, "intake": 1, "osv": 1, "other": 3}
MAX_BUCKETS = 10000


class TooManyRequests(RetryLater):
    """The caller's token bucket is empty; retry after `retry_after` seconds."""

    code, status = "TooManyRequestsException", 429


@dataclass(frozen=True)
class Limits:
    """How much work each caller and each route class may have at once.

    rate/burst: the token bucket of each principal (rate 0 = no rate limit).
    pools: threads per route class (see the module docstring).
    """

    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    pools: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_POOLS))

    def __post_init__(self) -> None:
        if self.rate < 0 or not math.isfinite(self.rate):
            raise ValueError("rate must be a finite number >= 0")
        if self.rate and self.burst < 1:
            raise ValueError("burst must be at least 1")
        unknown = set(self.pools) - set(DEFAULT_POOLS)
        if unknown or any(n < 1 for n in self.pools.values()):
            raise ValueError(f"pools are {sorted(DEFAULT_POOLS)}, each at least 1 thread")


UNLIMITED = Limits(rate=0)


def route_class(method: str, path: str) -> str:
    """Which pool serves a request (by route, not by caller)."""
    if path.startswith("/falco") or path.endswith(("/runtime", "/images")):
        return "intake"
    if path in ("/v1/query", "/v1/querybatch") or path.startswith("/v1/vulns/"):
        return "osv"
    if path in ("/findings/import", "/findings/batchupdate") or \
            (path == "/v1/runs" and method == "POST") or \
            (path.startswith("/insights") and method in ("PATCH", "DELETE")) or \
            (path in ("/insights", "/accounts") and method == "POST"):
        return "imports"
    if path in ("/findings", "/insights/get") or path.startswith(("/insights/results/", "/v1/")) \
            or (path == "/accounts" and method == "GET"):
        return "queries"
    return "other"


class _Buckets:
    """Token buckets by key; thread-safe (Falco's auth path runs on worker threads too)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._state: dict[str, tuple[float, float]] = {}     # key -> (tokens, last refill)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when a request may go; else the seconds until one token is back."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._state[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._state[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            if len(self._state) > MAX_BUCKETS:
                self._forget_full(now)
        return wait

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: forgetting them changes nothing."""
        for key, (tokens, last) in list(self._state.items()):
            if tokens + (now - last) * self.rate >= self.burst:
                del self._state[key]
        if len(self._state) > MAX_BUCKETS:      # all busy: an address flood; start afresh
            self._state.clear()


class Isolation:
    """The app's rate limiter and worker pools (`app.state.isolation`)."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._buckets = _Buckets(self.limits.rate, self.limits.burst) if self.limits.rate \
            else None
        self._pools: dict[str, CapacityLimiter] = {}

    # --- rate limit ---------------------------------------------------------------------------
    def _check(self, key: str, who: str) -> None:
        if self._buckets is None:
            return
        wait = self._buckets.take(key)
        if wait:
            raise TooManyRequests(
                f"Rate exceeded for {who}: at most {self.limits.rate:g} requests per second "
                f"(burst {self.limits.burst}); retry after {wait:.2f} s", retry_after=wait)

    def admit_principal(self, name: str) -> None:
        """Charge one request to an authenticated principal; TooManyRequests when empty."""
        self._check(f"p:{name}", f"principal {name}")

    def admit_address(self, request: Request) -> None:
        """Charge one request to the caller's source address (no valid credentials)."""
        host = request.client.host if request.client else "unknown"
        self._check(f"a:{host}", f"unauthenticated callers from {host}")

    # --- worker pools -------------------------------------------------------------------------
    def pool(self, name: str) -> CapacityLimiter:
        """The pool's limiter, made on first use (anyio wants a running event loop)."""
        limiter = self._pools.get(name)
        if limiter is None:
            size = self.limits.pools.get(name, DEFAULT_POOLS.get(name, DEFAULT_POOLS["other"]))
            limiter = self._pools[name] = CapacityLimiter(size)
        return limiter

    async def run(self, pool: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a blocking call on a thread of `pool`."""
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs),
                                              limiter=self.pool(pool))


def of(request: Request) -> Isolation | None:
    """The app's Isolation, if it has one (apps built without `create_app` may not)."""
    return getattr(request.app.state, "isolation", None)


async def run_for(request: Request, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a blocking call in the pool of `request`'s route class."""
    iso = of(request)
    if iso is None:
        from starlette.concurrency import run_in_threadpool
        return await run_in_threadpool(fn, *args, **kwargs)
    return await iso.run(route_class(request.method, request.url.path), fn, *args, **kwargs)


__all__ = ["Limits", "Isolation", "TooManyRequests", "UNLIMITED", "route_class", "run_for",
           "DEFAULT_RATE", "DEFAULT_BURST", "DEFAULT_POOLS"]
