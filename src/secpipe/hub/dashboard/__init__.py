"""The hub's browser dashboard, served under `/ui` by the same server as the API.

Wire it in with the API's hook: `create_app(store, extra_routes=routes(store))`, or
`serve(..., extra_routes=routes)` (a factory called with the opened store).

Pages (GET, signed-in users only): `/ui/` overview, `/ui/findings` list with GetFindings
filters and text search, `/ui/finding?id=&arn=` one finding, `/ui/runs`, `/ui/runs/{run_id}`,
`/ui/audit` (admins: the audit trail). Triage needs a role with findings:update (triage,
admin); a `read` user gets 403.
Forms (POST, CSRF token required): `/ui/login` (a stateless signed token, `signin`),
`/ui/logout`, `/ui/triage` (the session's token).
Public: `/ui/login` (GET) and `/ui/static/dashboard.css`.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from secpipe.hub.dashboard import security as sec
from secpipe.hub.dashboard import actions_page, audit_page, triage, views
from secpipe.hub.dashboard.app import Dashboard
from secpipe.hub.dashboard.security import Sessions
from secpipe.hub.dashboard.signin import LoginThrottle

PREFIX = "/ui"

__all__ = ["Dashboard", "LoginThrottle", "PREFIX", "Sessions", "routes"]


def _css() -> bytes:
    return files("secpipe.hub.dashboard").joinpath("static/dashboard.css").read_bytes()


def routes(store: Any, *, token: str | None = None, secure_cookies: bool = False,
           prefix: str = PREFIX, throttle: LoginThrottle | None = None,
           sessions: Sessions | None = None) -> list[BaseRoute]:
    """The dashboard's routes over `store`, mounted at `prefix`.

    token: the hub token accepted at sign-in (default: $SECPIPE_HUB_TOKEN); users with a
        password (`store.set_user_password`) sign in with it too.
    secure_cookies: mark the session cookie Secure even over plain HTTP (behind a TLS proxy;
        over direct TLS it is Secure anyway).
    throttle: the sign-in limits (default: 10 failures per account and 30 per address in
        5 minutes; see `signin.LoginThrottle`).
    sessions: the session table (default: a new one); tests pass theirs to inspect it.
    """
    dash = Dashboard(store, token=token, secure_cookies=secure_cookies, sessions=sessions,
                     throttle=throttle)
    css = _css()

    async def stylesheet(request: Request) -> Response:
        resp = Response(css, media_type="text/css",
                        headers={"Cache-Control": "public, max-age=3600"})
        return sec.apply_headers(resp, private=False)

    async def to_overview(request: Request) -> Response:
        root = request.scope.get("root_path", "").rstrip("/")
        return sec.apply_headers(RedirectResponse(f"{root}{prefix}/", status_code=307))

    inner = [
        Route("/", dash.page(views.overview), methods=["GET"], name="overview"),
        Route("/findings", dash.page(views.findings), methods=["GET"], name="findings"),
        Route("/finding", dash.page(views.finding), methods=["GET"], name="finding"),
        Route("/runs", dash.page(views.runs), methods=["GET"], name="runs"),
        Route("/runs/{run_id:path}", dash.page(views.run), methods=["GET"], name="run"),
        Route("/audit", dash.page(audit_page.audit, operation="DashboardAudit"),
              methods=["GET"], name="audit"),
        Route("/login", dash.page(triage.login_form, public=True), methods=["GET"]),
        Route("/login", dash.action(triage.login, public=True), methods=["POST"]),
        Route("/logout", dash.action(triage.logout), methods=["POST"]),
        Route("/triage", dash.action(triage.triage, operation="DashboardTriage"),
              methods=["POST"]),
        Route("/action", dash.action(actions_page.send, operation="DashboardAction"),
              methods=["POST"]),
        Route("/static/dashboard.css", stylesheet, methods=["GET"]),
        Route("/{rest:path}", dash.page(views.not_found), methods=["GET"]),
    ]
    return [Route(prefix, to_overview, methods=["GET"]), Mount(prefix, routes=inner)]
