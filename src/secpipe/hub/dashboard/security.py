"""The dashboard's guard: browser sessions, CSRF tokens, login throttling, response headers.

Sessions live server-side, in memory: the cookie carries only a random id, so nothing a user
holds can be forged or replayed after logout, and a restart of `secpipe hub serve` simply
logs everyone out. Every signed-in session owns a CSRF token that each POST form must echo;
the sign-in page itself keeps no server state (its token is signed: see `signin`), and the
session id is created at login, so a planted cookie (session fixation) gains nothing.

The cookie is HttpOnly and SameSite=Lax, and Secure whenever the page was served over TLS
(the hub does not trust X-Forwarded-Proto, so `secure_cookies=True` forces it behind a TLS
proxy). No page needs JavaScript, so the Content-Security-Policy allows none at all.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from secpipe.hub.dashboard.signin import LOGIN_COOKIE

COOKIE = "secpipe_ui"
IDLE_TIMEOUT = 8 * 3600          # seconds without a request before a session ends
ABSOLUTE_TIMEOUT = 24 * 3600     # seconds after login before a session ends regardless
MAX_SESSIONS = 10_000            # oldest sessions go first beyond this (memory bound)
MAX_FORM = 64 * 1024             # the largest triage form is a few hundred bytes

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # finding ids and filters ride in URLs: never send them to another site ("no-referrer"
    # would also make Chromium send `Origin: null` on our own form posts)
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass
class Session:
    sid: str
    csrf: str
    user: str | None = None
    role: str = ""               # the signed-in principal's role (re-read on every request)
    kind: str = ""               # "user" (a dashboard user) or "token" (the hub token)
    generation: int = 0          # the user's generation at sign-in (`store.user_session`)
    created: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)
    flash: list[tuple[str, str]] = field(default_factory=list)   # (kind, message)

    def csrf_ok(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf.encode(),
                                                       presented.encode("utf-8", "replace"))

    def take_flash(self) -> list[tuple[str, str]]:
        out, self.flash = self.flash, []
        return out


class Sessions:
    """Server-side sessions keyed by an unguessable id; thread-safe.

    Anonymous sessions and signed-in ones are kept apart, each least-recently-used first
    out beyond its limit, so anonymous ones could never push out a signed-in user's. The
    dashboard itself no longer creates anonymous ones (the sign-in page's CSRF token is
    stateless, `signin.LoginForms`); the pool stays for callers that want one.
    """

    def __init__(self, idle: float = IDLE_TIMEOUT, absolute: float = ABSOLUTE_TIMEOUT,
                 limit: int = MAX_SESSIONS) -> None:
        self.idle, self.absolute, self.limit = idle, absolute, limit
        self._anon: OrderedDict[str, Session] = OrderedDict()
        self._users: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            for pool in (self._users, self._anon):
                sess = pool.get(sid)
                if sess is None:
                    continue
                t = time.monotonic()
                if t - sess.seen > self.idle or t - sess.created > self.absolute:
                    del pool[sid]
                    return None
                sess.seen = t
                pool.move_to_end(sid)
                return sess
        return None

    def new(self, user: str | None = None, *, role: str = "", kind: str = "",
            generation: int = 0) -> Session:
        sess = Session(sid=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), user=user,
                       role=role, kind=kind, generation=generation)
        pool = self._users if user else self._anon
        with self._lock:
            while len(pool) >= self.limit:
                pool.popitem(last=False)
            pool[sess.sid] = sess
        return sess

    def login(self, old: Session | None, user: str, *, role: str = "", kind: str = "user",
              generation: int = 0) -> Session:
        """A fresh id and CSRF token for the signed-in user; the pre-login session ends."""
        if old is not None:
            self.drop(old.sid)
        return self.new(user, role=role, kind=kind, generation=generation)

    def counts(self) -> tuple[int, int]:
        """(anonymous, signed-in) sessions held: the sign-in page adds to neither."""
        with self._lock:
            return len(self._anon), len(self._users)

    def drop(self, sid: str) -> None:
        with self._lock:
            self._anon.pop(sid, None)
            self._users.pop(sid, None)


def is_tls(request: Request) -> bool:
    return request.url.scheme in ("https", "wss")


def set_session_cookie(response: Response, request: Request, sess: Session, *,
                       path: str, force_secure: bool = False) -> None:
    response.set_cookie(COOKIE, sess.sid, httponly=True, samesite="lax", path=path or "/",
                        secure=force_secure or is_tls(request))


def set_login_cookie(response: Response, request: Request, nonce: str, *, path: str,
                     max_age: int, force_secure: bool = False) -> None:
    """The sign-in form's nonce (see `signin.LoginForms`): same flags as the session's."""
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=max_age, httponly=True, samesite="lax",
                        path=path or "/", secure=force_secure or is_tls(request))


def clear_session_cookie(response: Response, request: Request, *, path: str,
                         force_secure: bool = False) -> None:
    response.delete_cookie(COOKIE, path=path or "/", httponly=True, samesite="lax",
                           secure=force_secure or is_tls(request))


def apply_headers(response: Response, *, private: bool = True) -> Response:
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    if private:
        response.headers["Cache-Control"] = "no-store"
    return response


def same_origin(request: Request) -> bool:
    """False when the browser says the POST comes from another origin (defence in depth
    beside the CSRF token; clients that send no Origin are judged by the token alone)."""
    origin = request.headers.get("origin")
    if not origin:
        return True
    if origin == "null":
        return False
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


async def read_form(request: Request, limit: int = MAX_FORM) -> dict[str, list[str]]:
    """An urlencoded form body, bounded; anything else is an empty form (and so fails CSRF).

    Parsed here rather than by Starlette's `request.form()`, which needs python-multipart
    and would accept multipart uploads no dashboard form sends.
    """
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise FormTooLarge(f"form body over {limit} bytes")
    out: dict[str, list[str]] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                                max_num_fields=1000):
        out.setdefault(key, []).append(value)
    return out


class FormTooLarge(ValueError):
    pass


def first(form: Mapping[str, list[str]], key: str, default: str = "") -> str:
    values = form.get(key)
    return values[0] if values else default


def safe_next(target: str | None, base: str) -> str:
    """Where to go after login: only a path inside the dashboard (no open redirect)."""
    if not target or not target.startswith(base + "/") and target != base:
        return base + "/"
    if target.startswith("//") or "\\" in target or any(ord(c) < 32 for c in target):
        return base + "/"
    return target
