"""Access keys for SigV4 and passwords for dashboard users.

Access key secrets are stored in clear. SigV4 cannot be verified from a hash: the server must
recompute HMAC-SHA256 over the request with a key derived from the secret itself (secret ->
date -> region -> service -> "aws4_request"), exactly as AWS keeps its secret keys retrievable
server-side. What protects them is access to the store: a new SQLite hub file is created mode
0600 in a `.secpipe` directory, and a PostgreSQL hub relies on the database's own access
control. Keys can be disabled (`revoke_access_key`) without deleting their history.

Dashboard passwords, which only ever need checking, are stored as salted scrypt hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from secpipe.hub.common import iso_ms, now
from secpipe.hub.interface import InvalidInput, ResourceNotFound
from secpipe.hub.schema import access_keys as K
from secpipe.hub.schema import users as U

ENV_KEY_ID = "SECPIPE_HUB_ACCESS_KEY_ID"
ENV_SECRET = "SECPIPE_HUB_SECRET_ACCESS_KEY"
_AKID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


def new_key_pair() -> tuple[str, str]:
    """(`SPK` + 17 base32 characters, 40-character secret) in AWS's own key shapes."""
    akid = "SPK" + "".join(secrets.choice(_AKID_ALPHABET) for _ in range(17))
    secret = base64.b64encode(secrets.token_bytes(30)).decode()
    return akid, secret


def create(conn: Connection, label: str) -> tuple[str, str]:
    akid, secret = new_key_pair()
    conn.execute(insert(K).values(akid=akid, secret=secret, label=label or "",
                                  created_at=now(), disabled=False))
    return akid, secret


def secret_for(conn: Connection, akid: str) -> str | None:
    """The secret of an enabled key; the environment's key pair counts as one more key."""
    env_id, env_secret = os.environ.get(ENV_KEY_ID), os.environ.get(ENV_SECRET)
    if env_id and env_secret and hmac.compare_digest(env_id, akid):
        return env_secret
    row = conn.execute(select(K.c.secret).where(K.c.akid == akid, K.c.disabled.is_(False))).first()
    return row[0] if row else None


def list_keys(conn: Connection) -> list[dict[str, Any]]:
    """Keys without their secrets, for `secpipe hub keys list`."""
    rows = conn.execute(select(K.c.akid, K.c.label, K.c.created_at, K.c.disabled)
                        .order_by(K.c.created_at)).all()
    return [{"AccessKeyId": r.akid, "Label": r.label, "CreatedAt": iso_ms(r.created_at),
             "Enabled": not r.disabled} for r in rows]


def revoke(conn: Connection, akid: str) -> None:
    if conn.execute(update(K).where(K.c.akid == akid).values(disabled=True)).rowcount == 0:
        raise ResourceNotFound(f"no access key {akid}")


def _hash(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32,
                          maxmem=64 * 1024 * 1024)


def set_password(conn: Connection, user: str, password: str) -> None:
    if not user or len(user) > 128:
        raise InvalidInput("user name must be 1-128 characters")
    if len(password) < 8:
        raise InvalidInput("password must be at least 8 characters")
    salt = secrets.token_bytes(16)
    digest = _hash(password, salt, **_SCRYPT)
    stored = "scrypt${n}${r}${p}${salt}${digest}".format(
        **_SCRYPT, salt=base64.b64encode(salt).decode(), digest=base64.b64encode(digest).decode())
    values = {"pw_hash": stored, "updated_at": now()}
    if conn.execute(update(U).where(U.c.name == user).values(**values)).rowcount == 0:
        conn.execute(insert(U).values(name=user, **values))


def check_password(conn: Connection, user: str, password: str) -> bool:
    """True when the password matches; an unknown user costs the same scrypt as a known one."""
    row = conn.execute(select(U.c.pw_hash).where(U.c.name == user)).first()
    if row is None:
        _hash(password, b"\0" * 16, **_SCRYPT)
        return False
    try:
        scheme, n, r, p, salt, digest = row[0].split("$")
        expected = base64.b64decode(digest)
        got = _hash(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return scheme == "scrypt" and hmac.compare_digest(got, expected)
