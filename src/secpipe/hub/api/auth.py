"""Who is calling the hub: SigV4 with a hub access key, or a bearer token on native routes.

Keys come from the store's `key_record` (keys made by `secpipe hub keys create`, each with its
role and scope, and the environment pair SECPIPE_HUB_ACCESS_KEY_ID / SECPIPE_HUB_SECRET_ACCESS_KEY,
which the store honours itself) plus any pairs handed to `create_app(access_keys=...)` (admin).
The bearer token (SECPIPE_HUB_TOKEN, or the store's own `verify_token` when it has one) is for
Falco and scripts on the native `/v1` routes; its role is `runtime` unless
SECPIPE_HUB_TOKEN_ROLE (or `create_app(token_role=...)`) says otherwise. Security Hub routes
accept SigV4 only, as Security Hub does.

The result is a `Principal` (secpipe.hub.authz) with a stable `name` (the key id, "token"), a
role, a scope and the client address; what it may do is decided by `authz.require`.
"""

from __future__ import annotations

import hmac
import os
from typing import Any, Mapping

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from secpipe.hub.api import sigv4
from secpipe.hub.api.errors import PayloadTooLarge
from secpipe.hub.api.validate import MAX_BODY
from secpipe.hub.authz import ENV_TOKEN_ROLE, Principal, Scope, check_role

# Read (and drop) up to this much of a refused upload, so the client sees our answer.
MAX_DRAIN = 32 * 1024 * 1024


ANONYMOUS = Principal("anonymous", "anonymous", role="none")
# With authentication off (a hub reached only through an already-trusted channel) every
# caller is trusted as the operator.
UNCHECKED = Principal("anonymous", "anonymous", role="admin")


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


class Authenticator:
    """Verifies requests against the store's keys (plus configured ones); `enabled=False`
    turns every check off, for a hub used only through an already-trusted channel."""

    def __init__(self, store: Any, *, enabled: bool = True, token: str | None = None,
                 access_keys: Mapping[str, str] | None = None,
                 token_role: str | None = None) -> None:
        self.store = store
        self.enabled = enabled
        self.token = token if token is not None else os.environ.get("SECPIPE_HUB_TOKEN") or None
        self.token_role = check_role(token_role or os.environ.get(ENV_TOKEN_ROLE) or "runtime")
        self.access_keys = dict(access_keys or {})

    def key_principal(self, access_key_id: str) -> tuple[str, Principal] | None:
        """(secret, principal) of an enabled key: configured keys (admin) first, then the
        store's; blocking (runs in the threadpool)."""
        for akid, secret in self.access_keys.items():
            if hmac.compare_digest(akid.encode(), access_key_id.encode("utf-8", "replace")):
                return secret, Principal("sigv4", akid, role="admin")
        lookup = getattr(self.store, "key_record", None)
        if callable(lookup):
            rec = lookup(access_key_id)
            if rec is None:
                return None
            return rec.secret, Principal("sigv4", rec.akid, role=rec.role, scope=rec.scope)
        secret = self.store.secret_for(access_key_id)       # a store without roles: admin
        return (secret, Principal("sigv4", access_key_id, role="admin")) if secret else None

    def secret_for(self, access_key_id: str) -> str | None:
        found = self.key_principal(access_key_id)
        return found[0] if found else None

    def token_principal(self, source: str = "") -> Principal:
        return Principal("token", "token", role=self.token_role, scope=Scope(), source=source)

    def token_ok(self, presented: str) -> bool:
        """Blocking: may ask the store."""
        if self.token and hmac.compare_digest(self.token.encode(),
                                              presented.encode("utf-8", "replace")):
            return True
        verify = getattr(self.store, "verify_token", None)
        return bool(verify(presented)) if callable(verify) else False

    async def authenticate(self, request: Request, *, bearer: bool = False
                           ) -> tuple[Principal, bytes]:
        """Read the body (bounded) and verify the caller; raise an AuthError otherwise.

        The Authorization header is checked before the body is read, so an unsigned client
        cannot make the hub buffer a 6 MB upload.
        """
        source = client_address(request)
        if not self.enabled:
            return UNCHECKED.with_source(source), await read_body(request)
        header = request.headers.get("authorization", "")
        try:
            if bearer and header[:7].lower() == "bearer ":
                if await run_in_threadpool(self.token_ok, header[7:].strip()):
                    return self.token_principal(source), await read_body(request)
                raise sigv4.UnrecognizedClient(
                    "The bearer token included in the request is invalid.")
            if not sigv4.is_sigv4(header):
                if header:
                    raise sigv4.MissingAuthenticationToken(
                        "Authorization header requires the AWS4-HMAC-SHA256 signature scheme"
                        + (" or a bearer token" if bearer else ""))
                raise sigv4.MissingAuthenticationToken("Missing Authentication Token")
        except sigv4.AuthError:
            await drain(request)
            raise
        body = await read_body(request)
        scope = request.scope
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else request.url.path
        query = scope.get("query_string", b"").decode("latin-1")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        found: dict[str, Principal] = {}

        def secret_for(akid: str) -> str | None:
            hit = self.key_principal(akid)
            if hit is None:
                return None
            found[akid] = hit[1]
            return hit[0]

        caller = await run_in_threadpool(sigv4.verify, request.method, path, query, headers,
                                         body, secret_for)
        who = found[caller.access_key_id]
        return Principal("sigv4", who.name, caller.region, who.role, who.scope, source), body


async def drain(request: Request) -> None:
    """Read and drop what the client is still sending (up to MAX_DRAIN), so that it gets
    to read our refusal instead of a connection reset in the middle of its upload."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_DRAIN:
            break


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, refusing more than `limit` bytes (Security Hub's 6 MB)."""
    declared = request.headers.get("content-length")
    too_big = False
    if declared and declared.strip().isdigit() and int(declared) > limit:
        too_big = True
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            too_big = True
        if too_big:
            chunks.clear()
            if size > MAX_DRAIN:
                break
            continue
        chunks.append(chunk)
    if too_big:
        raise PayloadTooLarge(f"Request body of {declared or size} bytes exceeds the "
                              f"{limit // (1024 * 1024)} MB limit")
    return b"".join(chunks)
