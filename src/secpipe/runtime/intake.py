"""`POST /falco` on the hub: Falco's http_output and Falcosidekick's webhook, deduplicated.

Compatibility: the body is one alert (what Falco's http_output and Sidekick's webhook POST),
an array of alerts, or JSON lines; a missing rule, time or output_fields, or an unknown
priority, is 400 for the whole request, as Sidekick answers.

Authentication: Falco's http_output cannot add headers, but libcurl turns credentials in the
URL (`https://falco:TOKEN@hub/falco`) into HTTP Basic, so Basic is accepted with the hub's
token as the password, or an access key as user:password. Sidekick's webhook sends a header:
`Authorization: Bearer TOKEN` (or `Bearer AKID:SECRET`). SigV4 works too. No credentials ->
403 MissingAuthenticationToken, wrong ones -> 403 UnrecognizedClient. Credentials that passed
are remembered for 30 s per hub, so one alert per request costs no key lookup: a revoked
access key stops working within 30 s.

Times: each alert's time is normalised to UTC milliseconds, and an alert dated before 1970
or more than a day ahead of the hub's clock refuses its request with 400 naming it
(`secpipe.runtime.admission`); it is also kept as a dead letter.

Durability: an alert is acknowledged (200) once it is in the intake's memory, merged with its
identity's pending episode; a flusher thread writes pending episodes every `flush_interval`
(0.25 s; SECPIPE_FALCO_FLUSH_INTERVAL), so 1,000 identical alerts cost one row update, not
1,000. Writes go in chunks of short transactions that let other writers in between, and an
episode that cannot be written is set aside as a dead letter with the reason instead of
blocking the others (`secpipe.runtime.flusher`; `secpipe falco dead-letters` lists them). A
clean shutdown writes what is pending (also at interpreter exit); a crash of the hub loses at
most the last interval's alerts - Falco's http_output does not retry either. `?wait=true`
answers only once the alerts are committed (`stored: true`), or 202 with `stored: false` if the
database did not answer within 10 s: they stay pending and are written later, so a client must
not resend them. A write that fails for the database's sake (unreachable, locked) puts its
episodes back (counts are never dropped). A request that would leave more than `max_pending`
identities waiting is refused whole with 503 and a Retry-After header (413 when it alone holds
more), and nothing of it is kept, so resending it later is safe.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hashlib
import hmac
import logging
import os
import threading
import time
import weakref
from datetime import timedelta
from typing import Any, Callable, Sequence

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from secpipe.formats.falco import Alert
from secpipe.formats.interface import ReportFormatError
from secpipe.hub.api import auth as hub_auth
from secpipe.hub.api import isolation, sigv4
from secpipe.hub.api.app import Call, endpoint
from secpipe.hub.api.errors import PayloadTooLarge
from secpipe.hub.interface import HubError, InvalidInput
from secpipe.runtime import correlate, deadletter
from secpipe.runtime.admission import MAX_FUTURE, AlertRefused, read_request
from secpipe.runtime.dedup import DEFAULT_WINDOW, Aggregator, QueueFull, WriteStats
from secpipe.runtime.flusher import WriteGate, is_transient, write_chunked

log = logging.getLogger("secpipe.runtime.intake")

ENV_WINDOW = "SECPIPE_FALCO_DEDUP_WINDOW"
ENV_FLUSH = "SECPIPE_FALCO_FLUSH_INTERVAL"
DEFAULT_FLUSH = 0.25
MAX_PENDING = 20000
WAIT_SECONDS = 10.0


class Unavailable(HubError):
    """503 with Retry-After: the intake is full; nothing of the request was kept."""

    code, status = "ServiceUnavailableException", 503

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _env_float(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


class FalcoIntake:
    """Pending alerts and the thread that writes them to the hub."""

    def __init__(self, store: Any, *, window: float | None = None,
                 flush_interval: float | None = None, max_pending: int = MAX_PENDING,
                 start: bool = True, max_future: timedelta = MAX_FUTURE,
                 on_stored: Callable[[list[dict[str, Any]]], Any] | None = None) -> None:
        self.store = store
        self.on_stored = on_stored   # gets the ASFF documents of each write (notifications)
        self.window = window if window is not None else _env_float(ENV_WINDOW, DEFAULT_WINDOW)
        self.flush_interval = flush_interval if flush_interval is not None else \
            _env_float(ENV_FLUSH, DEFAULT_FLUSH)
        self.max_pending = max_pending
        self.max_future = max_future
        self.aggregator = Aggregator(self.window)
        self.dead = deadletter.Buffer()
        engine = getattr(store, "engine", None)
        self.gate = WriteGate(engine) if engine is not None else None
        self._backoff = self.flush_interval
        self._cond = threading.Condition()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._submitted = 0          # generation of the last accepted request
        self._flushed = 0            # every generation up to this one is in the database
        self.received = 0
        self.stored = 0
        self.last_error: str | None = None
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._run, name="secpipe-falco-intake",
                                            daemon=True)
            self._thread.start()
            atexit.register(self.close)

    def submit(self, alerts: Sequence[Alert]) -> int:
        """Take alerts (all or none); returns the generation to `wait` for."""
        with self._cond:
            try:
                self.aggregator.add(alerts, max_keys=self.max_pending)
            except QueueFull as full:
                self._wake.set()
                if full.adding > self.max_pending:
                    raise PayloadTooLarge(
                        f"this request holds {full.adding} distinct alerts, more than the "
                        f"intake's max_pending ({self.max_pending}): send it in parts") from None
                raise Unavailable(
                    f"the hub has {full.pending} alert identities waiting for its database "
                    f"(max_pending {self.max_pending}); retry later (nothing of this request "
                    "was kept)", retry_after=max(1.0, self._backoff)) from None
            self.received += len(alerts)
            self._submitted += 1
            return self._submitted

    def refuse(self, letters: Sequence[deadletter.DeadLetter]) -> None:
        """Keep refused alerts as dead letters (written by the next flush)."""
        self.dead.add(letters)
        self._wake.set()

    def wait(self, generation: int, timeout: float = WAIT_SECONDS) -> bool:
        """True once everything up to `generation` is committed."""
        self._wake.set()
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._flushed < generation:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
                self._wake.set()
        return True

    async def wait_async(self, generation: int, timeout: float = WAIT_SECONDS) -> bool:
        """`wait` without holding a thread for up to 10 s per request: polls."""
        self._wake.set()
        deadline = time.monotonic() + timeout
        while self._flushed < generation:
            if time.monotonic() > deadline:
                return False
            await anyio.sleep(0.01)
        return True

    def flush(self) -> WriteStats | None:
        """Write everything pending now, in chunks (see `flusher`); None when there was
        nothing. Raises the database's error when it could not be reached; what was not
        written then stays pending."""
        with self._flush_lock:
            with self._cond:
                episodes = self.aggregator.take()
                generation = self._submitted
            letters = self.dead.take()
            if not episodes and not letters:
                with self._cond:
                    self._flushed = max(self._flushed, generation)
                    self._cond.notify_all()
                return None
            done = write_chunked(self.store, episodes, self.window, self.gate)
            if done.left:
                self.aggregator.restore(done.left)
            self._write_dead(letters + done.dead)
            stats = done.stats
            if stats.failed:
                log.error("the hub refused %d Falco findings (dead letters): %s",
                          len(stats.failed), stats.failed[:3])
            with self._cond:
                self.stored += stats.alerts
                if not done.left:
                    self._flushed = max(self._flushed, generation)
                self._cond.notify_all()
            if self.on_stored is not None and stats.documents:
                try:   # on the flusher thread, in write order; keep it quick
                    self.on_stored(stats.documents)
                except Exception as exc:  # noqa: BLE001 - stored is stored; say what failed
                    log.error("the intake's on_stored hook failed: %s", exc)
            if done.error is not None:
                self.last_error = f"{type(done.error).__name__}: {done.error}"
                log.error("writing %d Falco episodes failed (kept for retry): %s",
                          len(done.left), self.last_error)
                raise done.error
            self.last_error = None
            return stats

    def _write_dead(self, letters: list[deadletter.DeadLetter]) -> None:
        if not letters:
            return
        log.warning("%d Falco alerts set aside as dead letters: %s", len(letters),
                    letters[0].reason)
        try:
            deadletter.write(self.store, letters)
        except Exception as exc:  # noqa: BLE001 - keep them for the next flush if transient
            if is_transient(exc):
                self.dead.restore(letters)
            log.error("writing %d dead letters failed: %s", len(letters), exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._backoff)
            self._wake.clear()
            if self._stop.is_set():
                break
            began = time.monotonic()
            try:
                self.flush()
                # at most a third of the time writing: under a flood the next flush waits
                # twice as long as this one took, which also lets more alerts merge in memory
                self._backoff = max(self.flush_interval,
                                    min(5.0, 2 * (time.monotonic() - began)))
            except Exception:  # noqa: BLE001 - logged in flush; back off up to 5 s
                self._backoff = min(5.0, self._backoff * 2)

    def close(self) -> None:
        """Stop the thread and write what is pending (idempotent)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - already logged; nothing more to do at exit
            pass
        try:
            atexit.unregister(self.close)
        except Exception:  # noqa: BLE001
            pass
        if self.gate is not None:
            self.gate.close()


# --- authentication ------------------------------------------------------------------------
async def authenticate(request: Request) -> bytes:
    """Check Basic / Bearer / SigV4 credentials (see the module docstring); return the body."""
    authn: hub_auth.Authenticator = request.app.state.authenticator
    if not authn.enabled:
        return await hub_auth.read_body(request)
    header = request.headers.get("authorization", "")
    scheme, _, cred = header.partition(" ")
    scheme = scheme.lower()
    if scheme in ("bearer", "basic"):
        user, secret = "", cred.strip()
        if scheme == "basic":
            try:
                user, _, secret = base64.b64decode(cred.strip(), validate=True) \
                    .decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, secret = "", ""
        elif ":" in secret and not _hub_token(authn, secret):
            user, _, secret = secret.partition(":")
        if secret and (_hub_token(authn, secret) or _recently_ok(authn, header) or
                       await run_in_threadpool(_credentials_ok, authn, user, secret)):
            _remember(authn, header)
            return await hub_auth.read_body(request)
        await hub_auth.drain(request)
        _charge_address(request)       # guessing tokens is rate limited per source address
        raise sigv4.UnrecognizedClient("The credentials included in the request are invalid.")
    if sigv4.is_sigv4(header):
        _caller, body = await authn.authenticate(request)
        return body
    await hub_auth.drain(request)
    raise sigv4.MissingAuthenticationToken(
        "Missing Authentication Token: send `Authorization: Bearer <hub token>`, or put the "
        "token in the URL (https://falco:<token>@hub/falco) for Falco's http_output")


def _charge_address(request: Request) -> None:
    limiter = isolation.of(request)
    if limiter is not None:
        limiter.admit_address(request)


# Credentials that passed, by digest, for a few seconds: Falco sends one alert per request and
# a store key would otherwise cost a database read (in a worker thread) per alert. A revoked
# key therefore keeps working for at most CREDENTIAL_TTL seconds.
CREDENTIAL_TTL = 30.0
_passed: "weakref.WeakKeyDictionary[Any, dict[bytes, float]]" = weakref.WeakKeyDictionary()


def _digest(header: str) -> bytes:
    return hashlib.sha256(header.encode("utf-8", "replace")).digest()


def _recently_ok(authn: Any, header: str) -> bool:
    expiry = _passed.get(authn, {}).get(_digest(header))
    return expiry is not None and expiry > time.monotonic()


def _remember(authn: Any, header: str) -> None:
    seen = _passed.setdefault(authn, {})
    if len(seen) > 1024:
        seen.clear()
    seen[_digest(header)] = time.monotonic() + CREDENTIAL_TTL


def _hub_token(authn: hub_auth.Authenticator, secret: str) -> bool:
    """The configured hub token: a constant-time compare, no thread hop."""
    return bool(authn.token) and hmac.compare_digest(authn.token.encode(),
                                                     secret.encode("utf-8", "replace"))


def _credentials_ok(authn: hub_auth.Authenticator, user: str, secret: str) -> bool:
    if authn.token_ok(secret):
        return True
    if user:
        known = authn.secret_for(user)
        return known is not None and hmac.compare_digest(known.encode(), secret.encode())
    return False


# --- routes ----------------------------------------------------------------------------------
def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


class FalcoRoutes(list):
    """The intake's routes; `.intake` is the FalcoIntake behind them (close it when done)."""

    intake: FalcoIntake


def routes(store: Any, *, intake: FalcoIntake | None = None, window: float | None = None,
           flush_interval: float | None = None,
           on_stored: Callable[[list[dict[str, Any]]], Any] | None = None) -> FalcoRoutes:
    """Routes for `create_app(extra_routes=...)`: POST /falco, GET /v1/falco/dead-letters,
    GET /v1/runs/{id}/runtime, GET|POST /v1/runs/{id}/images."""
    service = intake or FalcoIntake(store, window=window, flush_interval=flush_interval,
                                    on_stored=on_stored)

    def take(body: bytes) -> tuple[int, int]:
        """Parse, normalise and queue (on an `intake` pool thread, off the event loop)."""
        try:
            alerts = read_request(body, "request", max_future=service.max_future)
        except ReportFormatError as err:
            hint = "" if body.lstrip()[:1] in (b"{", b"[") else \
                " (is json_output enabled in falco.yaml?)"
            raise InvalidInput(f"not a Falco alert: {err.problem}{hint}") from None
        except AlertRefused as err:
            service.refuse(err.letters)
            raise
        return service.submit(alerts), len(alerts)

    async def post_falco(call: Call) -> Any:
        body = await authenticate(call.request)
        if not body.strip():
            raise InvalidInput("the request has no body: POST a Falco alert as JSON")
        generation, count = await isolation.run_for(call.request, take, body)
        answer: dict[str, Any] = {"accepted": count}
        if _truthy(call.request.query_params.get("wait")):
            stored = await service.wait_async(generation)
            answer["stored"] = stored
            if not stored:
                answer["message"] = ("accepted; the database did not answer in time, the "
                                     "alerts stay pending and are written later - do not resend")
                return JSONResponse(answer, status_code=202)
        return answer

    async def get_runtime(call: Call) -> Any:
        params = call.request.query_params
        limit = params.get("limit") or "100"
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise InvalidInput("limit must be an integer between 1 and 100")
        return await call.run(correlate.run_runtime, store, call.path("run_id"), int(limit),
                              params.get("next_token") or None)

    async def run_images(call: Call) -> Any:
        run_id = call.path("run_id")
        if call.request.method == "GET":
            def read() -> list[dict[str, str]]:
                with store._read() as conn:
                    return correlate.list_images(conn, run_id)
            return {"run_id": run_id, "images": await call.run(read)}
        images = call.body.get("images")
        if not isinstance(images, list) or not images:
            raise InvalidInput("images must be a non-empty list")
        added = await call.run(correlate.record_run_images, store, run_id, images,
                               stage=str(call.body.get("stage") or ""),
                               role=str(call.body.get("role") or "deployed"))
        return {"run_id": run_id, "recorded": added}

    async def dead_letters(call: Call) -> Any:
        limit = call.request.query_params.get("limit") or "100"
        if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= 1000:
            raise InvalidInput("limit must be an integer between 1 and 1000")
        return {"dead_letters": await call.run(deadletter.list_, store, int(limit))}

    falco = endpoint(post_falco, public=True, json_body=False)
    out = FalcoRoutes([
        Route("/falco", falco, methods=["POST"]),
        Route("/falco/", falco, methods=["POST"]),
        Route("/v1/falco/dead-letters", endpoint(dead_letters, bearer=True, json_body=False),
              methods=["GET"]),
        Route("/v1/runs/{run_id}/runtime", endpoint(get_runtime, bearer=True, json_body=False),
              methods=["GET"]),
        Route("/v1/runs/{run_id}/images", endpoint(run_images, bearer=True),
              methods=["GET", "POST"]),
    ])
    out.intake = service
    return out


def hub_routes(store: Any) -> list:
    """What `secpipe hub serve` mounts besides the API: the Falco intake and the dashboard."""
    from secpipe.hub.api.server import dashboard_routes

    return [*routes(store), *dashboard_routes(store)]


__all__ = ["FalcoIntake", "FalcoRoutes", "routes", "hub_routes", "authenticate", "Unavailable"]
