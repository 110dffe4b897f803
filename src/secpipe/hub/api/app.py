"""The hub's ASGI app: Security Hub's REST-JSON, the native /v1 routes and a slot for the
dashboard, on one Starlette application served by `secpipe hub serve`.

Every handler is a small async function over a `Call` (parsed body, caller, store); the
`endpoint` wrapper does the rest the same way for all of them: authenticate, check the
caller's permission for the route's operation (`secpipe.hub.authz.OPERATIONS`: a route without
an operation there cannot be built), bound and parse the body, run the blocking store call in
the threadpool, and turn every failure into
Security Hub's error shape (a store's HubError keeps its code and status; anything else is
logged and answered as InternalException without a traceback).
"""

from __future__ import annotations

from typing import Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from secpipe.hub.api import (family, isolation, native, products, rules, securityhub,
                             suppressions)
from secpipe.hub.api.access import AccessLog
from secpipe.hub.api.auth import Authenticator
from secpipe.hub.api.endpoint import Call, Handler, authenticate_and_admit, endpoint
from secpipe.hub.api.errors import (hub_exception_handler, http_exception_handler,
                                    unhandled_exception_handler)
from secpipe.hub.api.isolation import Limits
from secpipe.hub.interface import HubError, HubStore

__all__ = ["Call", "Handler", "authenticate_and_admit", "create_app", "endpoint"]

def create_app(store: HubStore, *, auth: bool = True, token: str | None = None,
               access_keys: dict[str, str] | None = None, token_role: str | None = None,
               extra_routes: Sequence[BaseRoute] = (), debug: bool = False,
               limits: Limits | None = None) -> Starlette:
    """The hub's ASGI application over `store`.

    auth: verify callers (SigV4 on Security Hub routes; SigV4 or the bearer token on /v1).
    token: the bearer token for /v1 routes (default: $SECPIPE_HUB_TOKEN).
    access_keys: {access key id: secret} accepted besides the store's own keys, as admin (the
        store already honours the SECPIPE_HUB_ACCESS_KEY_ID / SECPIPE_HUB_SECRET_ACCESS_KEY pair).
    token_role: the bearer token's role (default $SECPIPE_HUB_TOKEN_ROLE, else runtime).
    extra_routes: more routes on the same app, e.g. the dashboard's `Mount("/ui", ...)`;
        they see `request.app.state.store` and `request.app.state.authenticator`.
    limits: rate limit and worker pools (default: Security Hub's 10 requests/s, burst 30, per
        principal; `isolation.UNLIMITED` turns the rate limit off).
    """
    app = Starlette(
        debug=debug,
        routes=[*securityhub.routes(), *products.routes(), *rules.routes(), *native.routes(),
                *family.native_routes(), *suppressions.routes(), *extra_routes],
        middleware=[Middleware(AccessLog)],
        exception_handlers={
            HTTPException: http_exception_handler,
            HubError: hub_exception_handler,
            Exception: unhandled_exception_handler,
        },
    )
    app.state.store = store
    app.state.isolation = isolation.Isolation(limits)
    app.state.authenticator = Authenticator(store, enabled=auth, token=token,
                                            access_keys=access_keys, token_role=token_role)
    return app
