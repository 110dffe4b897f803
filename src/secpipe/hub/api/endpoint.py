"""What every hub route shares: the `Call` a handler sees and the `endpoint` wrapper that
authenticates, checks the caller's permission for the route's operation
(`secpipe.hub.authz.OPERATIONS`: a route without an operation there cannot be built), charges the
rate limit, bounds and parses the body, runs blocking store calls in the route class's pool,
and turns every failure into Security Hub's error shape.

Apart from `app.py` (which assembles the routes) so that the route modules import it without
importing the app that imports them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from secpipe.hub import authz
from secpipe.hub.api import isolation, subscribed
from secpipe.hub.api.auth import Principal
from secpipe.hub.api.errors import REQUEST_ID, hub_error_response, internal_error, request_id
from secpipe.hub.api.sigv4 import AuthError
from secpipe.hub.api.validate import parse_body
from secpipe.hub.interface import HubError, HubStore, Partition

T = TypeVar("T")


@dataclass
class Call:
    """One authenticated API request, as handlers see it."""

    request: Request
    body: dict[str, Any]
    caller: Principal
    store: HubStore

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store method off the event loop, in its route class's pool."""
        return await isolation.run_for(self.request, fn, *args, **kwargs)

    def path(self, name: str) -> str:
        return self.request.path_params[name]

    @property
    def partition(self) -> Partition:
        """The account and region this call addresses (set by authentication from the SigV4
        scope and the hub's account; the store's own where the request carries neither)."""
        found = getattr(self.request.state, "partition", None)
        return found if isinstance(found, Partition) else Partition(
            getattr(self.store, "account_id", Partition.account),
            getattr(self.store, "region", Partition.region))


Handler = Callable[[Call], Awaitable[Any]]


def endpoint(handler: Handler, *, operation: str | Mapping[str, str] | None = None,
             public: bool = False, bearer: bool = False,
             json_body: bool = True) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: auth (unless `public`), permission for `operation` (one name, or one
    per HTTP method), body, JSON, errors. `bearer` lets a native route accept the hub token
    besides SigV4. A `public` route authenticates itself, if at all (/health, /falco)."""
    ops = dict(operation) if isinstance(operation, Mapping) else None
    if not public:
        for op in (ops.values() if ops is not None else [operation]):
            if op is None:
                raise ValueError(f"{handler.__name__}: a non-public route needs an operation")
            authz.permission_for(op)              # KeyError: nobody decided who may call it

    async def handle(request: Request) -> Response:
        try:
            state = request.app.state
            op = operation if ops is None else (
                ops.get(request.method) or (ops.get("GET") if request.method == "HEAD" else None))
            request.state.operation = op or getattr(handler, "__name__", "")
            if public:
                caller, raw = Principal("anonymous", "anonymous", role="none",
                                        source=request.client.host if request.client
                                        else ""), b""
            else:
                caller, raw = await authenticate_and_admit(request, bearer)
                request.state.caller = caller
                authz.require(caller, op or "")
                await subscribed.admit(request, caller, op)   # account + region; enabled?
            body = parse_body(raw) if json_body else {}
            request.state.caller = caller
            request.state.body_bytes = len(raw)     # the request's size, as Security Hub counts
            result = await handler(Call(request, body, caller, state.store))
            if isinstance(result, Response):
                return result
            return JSONResponse(result, headers={REQUEST_ID: request_id(request)})
        except HubError as err:
            if err.status >= 500 and err.status != 503:   # 503 is honest back-pressure
                return internal_error(request, err)
            return hub_error_response(err, request)
        except Exception as exc:  # noqa: BLE001 - the client gets InternalException, we log it
            return internal_error(request, exc)

    handle.__name__ = getattr(handler, "__name__", "handle")
    handle.__doc__ = handler.__doc__
    handle.operation = operation if not public else None      # type: ignore[attr-defined]
    handle.public = public                                     # type: ignore[attr-defined]
    return handle


async def authenticate_and_admit(request: Request, bearer: bool = False
                                 ) -> tuple[Principal, bytes]:
    """Authenticate, then charge the rate limit: the principal's bucket, or the source
    address's for a request without valid credentials (see `isolation`)."""
    limiter = isolation.of(request)
    credentials = bool(request.headers.get("authorization"))
    if limiter is not None and not credentials:
        limiter.admit_address(request)
    try:
        caller, raw = await request.app.state.authenticator.authenticate(request, bearer=bearer)
    except AuthError:
        if limiter is not None and credentials:
            limiter.admit_address(request)
        raise
    if limiter is not None and caller.kind != "anonymous":
        limiter.admit_principal(caller.name)
    return caller, raw
