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

import base64
import binascii
import hashlib
import hmac
import time
import weakref
from typing import Any, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from secpipe.formats.interface import ReportFormatError
from secpipe.hub import authz
from secpipe.hub.api import auth as hub_auth
from secpipe.hub.api import isolation, sigv4
from secpipe.hub.api.endpoint import Call, endpoint
from secpipe.hub.interface import HubError, InvalidInput
from secpipe.runtime import correlate, deadletter
from secpipe.runtime.admission import AlertRefused, read_request

from secpipe.runtime.intake_queue import (  # noqa: F401 - re-exported
    DEFAULT_FLUSH, ENV_FLUSH, ENV_WINDOW, MAX_PENDING, WAIT_SECONDS, FalcoIntake, Unavailable,
    _env_float,
)

# --- authentication ------------------------------------------------------------------------
async def authenticate(request: Request) -> bytes:
    """Check Basic / Bearer / SigV4 credentials (see the module docstring); return the body."""
    authn: hub_auth.Authenticator = request.app.state.authenticator
    source = hub_auth.client_address(request)
    if not authn.enabled:
        request.state.caller = hub_auth.UNCHECKED.with_source(source)
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
        who = None
        if secret:
            who = (authn.token_principal() if _hub_token(authn, secret) else None) \
                or _recently_ok(authn, header) \
                or await run_in_threadpool(_credentials_ok, authn, user, secret)
        if who is not None:
            _remember(authn, header, who)
            await _allow(request, who.with_source(source))
            return await hub_auth.read_body(request)
        await hub_auth.drain(request)
        _charge_address(request)       # guessing tokens is rate limited per source address
        raise sigv4.UnrecognizedClient("The credentials included in the request are invalid.")
    if sigv4.is_sigv4(header):
        caller, body = await authn.authenticate(request)
        await _allow(request, caller)
        return body
    await hub_auth.drain(request)
    raise sigv4.MissingAuthenticationToken(
        "Missing Authentication Token: send `Authorization: Bearer <hub token>`, or put the "
        "token in the URL (https://falco:<token>@hub/falco) for Falco's http_output")


async def _allow(request: Request, who: hub_auth.Principal) -> None:
    """The caller must hold falco:intake (runtime or admin): AccessDenied otherwise."""
    request.state.caller = who
    try:
        authz.require(who, "FalcoIntake")
    except HubError:
        await hub_auth.drain(request)
        raise


def _charge_address(request: Request) -> None:
    limiter = isolation.of(request)
    if limiter is not None:
        limiter.admit_address(request)


# Credentials that passed, by digest, for a few seconds: Falco sends one alert per request and
# a store key would otherwise cost a database read (in a worker thread) per alert. A revoked
# key therefore keeps working for at most CREDENTIAL_TTL seconds.
CREDENTIAL_TTL = 30.0
_passed: "weakref.WeakKeyDictionary[Any, dict[bytes, tuple[float, Any]]]" = \
    weakref.WeakKeyDictionary()


def _digest(header: str) -> bytes:
    return hashlib.sha256(header.encode("utf-8", "replace")).digest()


def _recently_ok(authn: Any, header: str) -> Any:
    """The principal of credentials that passed in the last CREDENTIAL_TTL seconds, or None."""
    hit = _passed.get(authn, {}).get(_digest(header))
    return hit[1] if hit is not None and hit[0] > time.monotonic() else None


def _remember(authn: Any, header: str, who: Any) -> None:
    seen = _passed.setdefault(authn, {})
    if len(seen) > 1024:
        seen.clear()
    seen[_digest(header)] = (time.monotonic() + CREDENTIAL_TTL, who)


def _hub_token(authn: hub_auth.Authenticator, secret: str) -> bool:
    """The configured hub token: a constant-time compare, no thread hop."""
    return bool(authn.token) and hmac.compare_digest(authn.token.encode(),
                                                     secret.encode("utf-8", "replace"))


def _credentials_ok(authn: hub_auth.Authenticator, user: str, secret: str) -> Any:
    """The principal the credentials name (the hub token's, or an access key's), or None."""
    if authn.token_ok(secret):
        return authn.token_principal()
    if user:
        hit = authn.key_principal(user)
        if hit is not None and hmac.compare_digest(hit[0].encode(), secret.encode()):
            return hit[1]
    return None


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

    def take(body: bytes) -> tuple[int, int, list[str]]:
        """Parse, normalise and queue (on an `intake` pool thread, off the event loop)."""
        skipped: list[str] = []
        try:
            alerts = read_request(body, "request", max_future=service.max_future,
                                  skipped=skipped)
        except ReportFormatError as err:
            hint = "" if body.lstrip()[:1] in (b"{", b"[") else \
                " (is json_output enabled in falco.yaml?)"
            raise InvalidInput(f"not a Falco alert: {err.problem}{hint}") from None
        except AlertRefused as err:
            service.refuse(err.letters)
            raise
        return service.submit(alerts), len(alerts), skipped

    async def post_falco(call: Call) -> Any:
        body = await authenticate(call.request)
        if not body.strip():
            raise InvalidInput("the request has no body: POST a Falco alert as JSON")
        generation, count, skipped = await isolation.run_for(call.request, take, body)
        answer: dict[str, Any] = {"accepted": count}
        if skipped:  # a body cut mid-line: the complete alerts are kept, the cut counted
            answer["skipped"], answer["warnings"] = len(skipped), skipped
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
        await call.run(call.store.audit, "RecordRunImages", [run_id], principal=call.caller,
                       detail={"recorded": added})
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
        Route("/v1/falco/dead-letters", endpoint(dead_letters, operation="ListFalcoDeadLetters",
                                                 bearer=True, json_body=False),
              methods=["GET"]),
        Route("/v1/runs/{run_id}/runtime", endpoint(get_runtime, operation="GetRunRuntime",
                                                    bearer=True, json_body=False),
              methods=["GET"]),
        Route("/v1/runs/{run_id}/images",
              endpoint(run_images, operation={"GET": "GetRunImages", "POST": "RecordRunImages"},
                       bearer=True),
              methods=["GET", "POST"]),
    ])
    out.intake = service
    return out


def hub_routes(store: Any) -> list:
    """What `secpipe hub serve` mounts besides the API: the Falco intake and the dashboard."""
    from secpipe.hub.api.server import dashboard_routes

    return [*routes(store), *dashboard_routes(store)]


__all__ = ["FalcoIntake", "FalcoRoutes", "routes", "hub_routes", "authenticate", "Unavailable"]
