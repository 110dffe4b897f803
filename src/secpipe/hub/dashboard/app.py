"""The dashboard's plumbing: templates, the login wall, CSRF, headers and error pages.

Every page handler is wrapped by `Dashboard.page` (reads) or `Dashboard.action` (POSTs),
which do the same things the same way for all of them: find the session, send a stranger to
the login page (a read) or refuse outright (a write), check the CSRF token and the Origin of
every POST, render HubErrors as a readable page and anything else as a bare 500 (logged, no
traceback to the browser), and put the security headers on every answer.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, Undefined
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from secpipe.hub import authz
from secpipe.hub.dashboard import security as sec
from secpipe.hub.dashboard import signin
from secpipe.hub.dashboard.filters import SEVERITIES
from secpipe.hub.interface import HubError
from secpipe.textsafe import clean

log = logging.getLogger("secpipe.hub.dashboard")

Handler = Callable[["Page"], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def safe_url(value: Any) -> bool:
    """Only http(s) URLs become links: a scanner's `javascript:` URL stays text."""
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def when(value: Any) -> str:
    """An ISO timestamp as `YYYY-MM-DD HH:MM UTC` (anything else unchanged)."""
    text = str(value or "")
    m = _STAMP.match(text)
    return f"{m.group(1)} {m.group(2)} UTC" if m else text


_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(?:Z|\+00:?00)$")


def shown(value: Any) -> Any:
    """Every printed value without escape sequences, control or bidi characters (as in the
    HTML report: secpipe.textsafe); markup the templates built stays as it is."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return clean(value)


def make_env() -> Environment:
    env = Environment(loader=PackageLoader("secpipe.hub.dashboard", "templates"),
                      autoescape=True, undefined=Undefined, trim_blocks=True,
                      lstrip_blocks=True, finalize=shown)
    env.tests["safe_url"] = safe_url
    env.filters["when"] = when
    env.globals["severities"] = SEVERITIES
    from secpipe.hub.dashboard.formkeys import finding_key
    env.filters["finding_key"] = finding_key
    return env


@dataclass
class Page:
    """One request as a handler sees it."""

    request: Request
    dash: "Dashboard"
    session: sec.Session
    form: dict[str, list[str]]

    @property
    def base(self) -> str:
        return self.request.scope.get("root_path", "").rstrip("/")

    @property
    def store(self) -> Any:
        return self.dash.store

    @property
    def user(self) -> str:
        return self.session.user or ""

    @property
    def principal(self) -> authz.Principal:
        """The signed-in caller as the hub's authorization sees it."""
        return self.dash.principal_of(self.request, self.session)

    def can(self, permission: str) -> bool:
        return self.principal.can(permission)

    def field(self, key: str, default: str = "") -> str:
        return sec.first(self.form, key, default)

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(fn, *args, **kwargs)

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return self.dash.render(self.request, self.session, template, status=status,
                                **context)

    def redirect(self, target: str) -> RedirectResponse:
        return RedirectResponse(target, status_code=303)

    def flash(self, kind: str, message: str) -> None:
        self.session.flash.append((kind, message))

    def here(self) -> str:
        """This page's path and query, for forms that come back to it."""
        url = self.request.url
        return url.path + (f"?{url.query}" if url.query else "")


def transient() -> sec.Session:
    """A stand-in session for an anonymous request: never stored, never in a cookie."""
    return sec.Session(sid="", csrf="")


class Dashboard:
    """State shared by the dashboard's routes: the store, sessions, templates, login limits."""

    def __init__(self, store: Any, *, token: str | None = None, secure_cookies: bool = False,
                 sessions: sec.Sessions | None = None,
                 throttle: signin.LoginThrottle | None = None,
                 login_forms: signin.LoginForms | None = None) -> None:
        self.store = store
        self.token = token if token is not None else os.environ.get("SECPIPE_HUB_TOKEN") or None
        self.secure_cookies = secure_cookies
        self.sessions = sessions or sec.Sessions()
        self.throttle = throttle or signin.LoginThrottle()
        self.login_forms = login_forms or signin.LoginForms()
        self.env = make_env()

    # --- credentials ----------------------------------------------------------------------
    def check_token(self, presented: str) -> bool:
        """Blocking. The configured hub token, or one the store vouches for."""
        if not presented:
            return False
        if self.token and hmac.compare_digest(self.token.encode(),
                                              presented.encode("utf-8", "replace")):
            return True
        verify = getattr(self.store, "verify_token", None)
        return bool(verify(presented)) if callable(verify) else False

    def token_role(self) -> str:
        """The hub token's role: the API authenticator's when mounted in the hub's app."""
        return authz.check_role(os.environ.get(authz.ENV_TOKEN_ROLE) or "runtime")

    def principal_of(self, request: Request, session: sec.Session) -> authz.Principal:
        source = request.client.host if request.client else ""
        if session.kind == "token":
            authn = getattr(request.app.state, "authenticator", None)
            role = getattr(authn, "token_role", None) or session.role
            return authz.Principal("token", "token", role=role, source=source)
        return authz.Principal("user", f"user:{session.user}", role=session.role or "none",
                               source=source)

    def session_current(self, session: sec.Session) -> bool:
        """Blocking. False when the session's user was deleted or its password or role
        changed since sign-in (the store bumped its generation); refreshes the role."""
        if session.kind != "user" or not session.user:
            return True
        lookup = getattr(self.store, "user_session", None)
        if not callable(lookup):
            return True
        info = lookup(session.user)
        if info is None or info[1] != session.generation:
            return False
        session.role = info[0]
        return True

    def check_password(self, user: str, password: str) -> bool:
        """Blocking (scrypt). False for an unknown user or when the store keeps no users."""
        check = getattr(self.store, "check_user_password", None)
        if not user or not password or not callable(check):
            return False
        return bool(check(user, password))

    # --- responses ------------------------------------------------------------------------
    def render(self, request: Request, session: sec.Session | None, template: str, *,
               status: int = 200, **context: Any) -> HTMLResponse:
        base = request.scope.get("root_path", "").rstrip("/")
        role = session.role if session and session.user else ""
        ctx = {"base": base, "user": session.user if session else None,
               "can_triage": authz.FINDINGS_UPDATE in authz.ROLE_PERMISSIONS.get(role, ()),
               "can_audit": authz.AUDIT_READ in authz.ROLE_PERMISSIONS.get(role, ()),
               "csrf": session.csrf if session else "", "page_title": "secpipe hub",
               "flash": session.take_flash() if session else [], **context}
        html = self.env.get_template(template).render(**ctx)
        return HTMLResponse(html, status_code=status)

    def error_page(self, request: Request, session: sec.Session | None, status: int,
                   heading: str, message: str) -> Response:
        resp = self.render(request, session, "error.html", status=status, heading=heading,
                           message=message, page_title=heading)
        return sec.apply_headers(resp)

    def set_cookie(self, response: Response, request: Request, sess: sec.Session) -> None:
        base = request.scope.get("root_path", "").rstrip("/") or "/"
        sec.set_session_cookie(response, request, sess, path=base,
                               force_secure=self.secure_cookies)

    def login_csrf(self, request: Request) -> tuple[str, str]:
        """(token, nonce) for a sign-in form: a signed token bound to the browser's nonce
        cookie (its own if it sent one, so open sign-in tabs stay valid); no server state."""
        nonce = self.login_forms.nonce(request.cookies.get(signin.LOGIN_COOKIE))
        return self.login_forms.issue(nonce), nonce

    def set_login_cookie(self, response: Response, request: Request, nonce: str) -> None:
        base = request.scope.get("root_path", "").rstrip("/") or "/"
        sec.set_login_cookie(response, request, nonce, path=base,
                             max_age=self.login_forms.ttl, force_secure=self.secure_cookies)

    def login_csrf_ok(self, request: Request, presented: str | None) -> bool:
        return self.login_forms.verify(presented, request.cookies.get(signin.LOGIN_COOKIE))

    def _session(self, request: Request) -> sec.Session | None:
        return self.sessions.get(request.cookies.get(sec.COOKIE))

    # --- handler wrappers -----------------------------------------------------------------
    async def _current(self, request: Request, sess: sec.Session | None
                       ) -> sec.Session | None:
        """The session, unless its sign-in no longer stands (then it is dropped)."""
        if sess is None or sess.user is None:
            return sess
        if await run_in_threadpool(self.session_current, sess):
            request.state.caller = self.principal_of(request, sess)
            return sess
        self.sessions.drop(sess.sid)
        return None

    def _denied(self, request: Request, sess: sec.Session, operation: str) -> Response | None:
        """A 403 page unless the signed-in principal may perform `operation`."""
        request.state.operation = operation
        try:
            authz.require(self.principal_of(request, sess), operation)
        except HubError as err:
            return self.error_page(request, sess, 403, "Not allowed", err.message)
        return None

    def page(self, handler: Handler, *, public: bool = False,
             operation: str = "DashboardRead") -> Endpoint:
        """A GET page: logged-in users only (unless `public`), never cached."""

        async def endpoint(request: Request) -> Response:
            sess = await self._current(request, self._session(request))
            if sess is None or (sess.user is None and not public):
                if not public:
                    base = request.scope.get("root_path", "").rstrip("/")
                    target = request.url.path + (f"?{request.url.query}" if request.url.query
                                                 else "")
                    resp: Response = RedirectResponse(
                        f"{base}/login?next={quote(target, safe='/')}", status_code=303)
                    return sec.apply_headers(resp)
                sess = transient()        # a public page keeps no server-side state
            elif not public:
                denied = self._denied(request, sess, operation)
                if denied is not None:
                    return denied
            return await self._guarded(handler, Page(request, self, sess, {}))

        endpoint.__name__ = handler.__name__
        return endpoint

    def action(self, handler: Handler, *, public: bool = False,
               operation: str | None = None) -> Endpoint:
        """A POST: CSRF token and Origin checked first; logged-in users only unless `public`
        (the login form itself, whose token is the stateless signed one of `login_csrf`);
        then the permission of `operation`, if any."""

        async def endpoint(request: Request) -> Response:
            sess = await self._current(request, self._session(request))
            if sess is None and public:
                sess = transient()
            if sess is None or (sess.user is None and not public):
                return self.error_page(request, sess, 403, "Not signed in",
                                       "Sign in to the dashboard before changing anything.")
            if not sec.same_origin(request):
                return self.error_page(request, sess, 403, "Refused",
                                       "This form was sent from another site.")
            try:
                form = await sec.read_form(request)
            except sec.FormTooLarge:
                return self.error_page(request, sess, 413, "Form too large",
                                       "The form sent more data than any dashboard form has.")
            presented = sec.first(form, "csrf")
            if public and not self.login_csrf_ok(request, presented):
                return self.error_page(request, sess, 403, "Sign-in form expired",
                                       "Reload the sign-in page and try again.")
            if not public and not sess.csrf_ok(presented):
                return self.error_page(request, sess, 403, "Refused",
                                       "The form's security token is missing or stale; "
                                       "reload the page and try again.")
            if operation is not None:
                denied = self._denied(request, sess, operation)
                if denied is not None:
                    return denied
            return await self._guarded(handler, Page(request, self, sess, form))

        endpoint.__name__ = handler.__name__
        return endpoint

    async def _guarded(self, handler: Handler, page: Page) -> Response:
        try:
            resp = await handler(page)
        except HubError as err:
            status = err.status if 400 <= err.status < 500 else 500
            if status == 500:
                log.error("dashboard request failed", exc_info=err)
                return self.error_page(page.request, page.session, 500, "Hub error",
                                       "The hub could not answer; see its log.")
            heading = "Not found" if status == 404 else "Cannot do that"
            return self.error_page(page.request, page.session, status, heading, err.message)
        except Exception as exc:  # noqa: BLE001 - logged; the browser gets no traceback
            log.error("dashboard request failed", exc_info=exc)
            return self.error_page(page.request, page.session, 500, "Internal error",
                                   "The dashboard failed to render this page; see the hub's log.")
        return sec.apply_headers(resp)
