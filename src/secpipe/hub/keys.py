"""Access keys for SigV4 and passwords for dashboard users, each with a role and a scope.

Access key secrets cannot be hashed: SigV4 verification recomputes HMAC-SHA256 with a key
derived from the secret itself, exactly as AWS keeps its secret keys retrievable server-side.
They are stored AES-GCM-encrypted with the per-hub key file (`secpipe.hub.hubsecret`); a key
made before migration 0003 keeps its clear secret only until the store re-encrypts it. Keys are
disabled (`revoke`) rather than deleted, so the audit trail and run history keep naming them.

Every key has a role (`secpipe.hub.authz`); keys that existed before roles became admin. The
environment's key pair (SECPIPE_HUB_ACCESS_KEY_ID / SECPIPE_HUB_SECRET_ACCESS_KEY, set on the
server by its operator) is admin unless SECPIPE_HUB_ACCESS_KEY_ROLE says otherwise.

Dashboard passwords, which only ever need checking, are stored as salted scrypt hashes. A
user's `generation` is bumped by every password change, role change and deletion: a session
remembers the generation it started with and ends when it differs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from secpipe.hub.authz import ENV_KEY_ROLE, Scope, check_role
from secpipe.hub.common import iso_ms, now
from secpipe.hub.hubsecret import KeyCipher
from secpipe.hub.interface import InvalidInput, ResourceNotFound
from secpipe.hub.schema import access_keys as K
from secpipe.hub.schema import users as U

ENV_KEY_ID = "SECPIPE_HUB_ACCESS_KEY_ID"
ENV_SECRET = "SECPIPE_HUB_SECRET_ACCESS_KEY"
_AKID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


@dataclass(frozen=True)
class KeyRecord:
    """An enabled access key as authentication needs it."""

    akid: str
    secret: str
    role: str
    scope: Scope


def new_key_pair() -> tuple[str, str]:
    """(`SPK` + 17 base32 characters, 40-character secret) in AWS's own key shapes."""
    akid = "SPK" + "".join(secrets.choice(_AKID_ALPHABET) for _ in range(17))
    secret = base64.b64encode(secrets.token_bytes(30)).decode()
    return akid, secret


def create(conn: Connection, cipher: KeyCipher, label: str, role: str,
           scope: Scope) -> tuple[str, str]:
    check_role(role)
    if len(label or "") > 256:
        raise InvalidInput("a key label is at most 256 characters")
    akid, secret = new_key_pair()
    conn.execute(insert(K).values(akid=akid, secret="", secret_enc=cipher.encrypt(akid, secret),
                                  label=label or "", created_at=now(), disabled=False,
                                  role=role, scope=json.dumps(scope.to_json())))
    return akid, secret


def env_key(akid: str) -> KeyRecord | None:
    env_id, env_secret = os.environ.get(ENV_KEY_ID), os.environ.get(ENV_SECRET)
    # compared as UTF-8 bytes: hmac refuses a str holding non-ASCII, and a key id the client
    # made up must be an unknown key (403), not a crash (500)
    if env_id and env_secret and hmac.compare_digest(env_id.encode("utf-8", "surrogatepass"),
                                                     akid.encode("utf-8", "surrogatepass")):
        return KeyRecord(env_id, env_secret, check_role(os.environ.get(ENV_KEY_ROLE) or "admin"),
                         Scope())
    return None


def key_record(conn: Connection, cipher_of, akid: str) -> KeyRecord | None:
    """The enabled key `akid` (the environment's pair counts as one more key, unless the
    database has that key id: its role and revocation win), or None. `cipher_of()` gives the
    KeyCipher; it is only called for an encrypted secret."""
    row = conn.execute(select(K.c.secret, K.c.secret_enc, K.c.role, K.c.scope, K.c.disabled)
                       .where(K.c.akid == akid)).first()
    return record_of(akid, None if row is None else tuple(row), cipher_of)


def record_of(akid: str, row: tuple[Any, ...] | None, cipher_of) -> KeyRecord | None:
    """What key `akid`'s row (secret, secret_enc, role, scope, disabled; None: no row) means,
    for `key_record` and for the SigV4 path's lean read (`keyread`): one decision for both."""
    if row is None:
        return env_key(akid)
    secret, secret_enc, role, scope, disabled = row
    if disabled:
        return None
    secret = cipher_of().decrypt(akid, secret_enc) if secret_enc else secret
    return KeyRecord(akid, secret, role, Scope.from_json(json.loads(scope or "{}")))


def encrypt_legacy(conn: Connection, cipher: KeyCipher) -> int:
    """Encrypt the clear secrets of keys made before migration 0003; how many there were."""
    rows = conn.execute(select(K.c.akid, K.c.secret).where(K.c.secret != "",
                                                           K.c.secret_enc.is_(None))).all()
    for akid, secret in rows:
        conn.execute(update(K).where(K.c.akid == akid)
                     .values(secret="", secret_enc=cipher.encrypt(akid, secret)))
    return len(rows)


def has_legacy(conn: Connection) -> bool:
    return conn.execute(select(K.c.akid).where(K.c.secret != "", K.c.secret_enc.is_(None))
                        .limit(1)).first() is not None


def list_keys(conn: Connection) -> list[dict[str, Any]]:
    """Keys without their secrets, for `secpipe hub keys list`."""
    rows = conn.execute(select(K.c.akid, K.c.label, K.c.created_at, K.c.disabled, K.c.role,
                               K.c.scope).order_by(K.c.created_at)).all()
    return [{"AccessKeyId": r.akid, "Label": r.label, "CreatedAt": iso_ms(r.created_at),
             "Enabled": not r.disabled, "Role": r.role,
             "Scope": Scope.from_json(json.loads(r.scope or "{}")).to_json()} for r in rows]


def key_digest_row(conn: Connection, akid: str) -> dict[str, Any] | None:
    """A key's row without its secret (for audit digests)."""
    row = conn.execute(select(K.c.akid, K.c.label, K.c.disabled, K.c.role, K.c.scope)
                       .where(K.c.akid == akid)).first()
    return dict(row._mapping) if row else None


def revoke(conn: Connection, akid: str) -> None:
    if conn.execute(update(K).where(K.c.akid == akid).values(disabled=True)).rowcount == 0:
        raise ResourceNotFound(f"no access key {akid}")


# --- dashboard users ---------------------------------------------------------------------------
def _hash(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32,
                          maxmem=64 * 1024 * 1024)


def set_password(conn: Connection, user: str, password: str, role: str | None = None) -> None:
    """Create the user (role `role`, default triage) or change its password (and role, when
    given); either way its sessions end."""
    if not user or len(user) > 128 or any(ord(c) < 32 for c in user):
        raise InvalidInput("user name must be 1-128 printable characters")
    if len(password) < 8:
        raise InvalidInput("password must be at least 8 characters")
    if role is not None:
        check_role(role)
    salt = secrets.token_bytes(16)
    digest = _hash(password, salt, **_SCRYPT)
    stored = "scrypt${n}${r}${p}${salt}${digest}".format(
        **_SCRYPT, salt=base64.b64encode(salt).decode(), digest=base64.b64encode(digest).decode())
    values: dict[str, Any] = {"pw_hash": stored, "updated_at": now(),
                              "generation": U.c.generation + 1}
    if role is not None:
        values["role"] = role
    if conn.execute(update(U).where(U.c.name == user).values(**values)).rowcount == 0:
        values["generation"] = 1
        values.setdefault("role", "triage")
        conn.execute(insert(U).values(name=user, **values))


def set_role(conn: Connection, user: str, role: str) -> None:
    check_role(role)
    if conn.execute(update(U).where(U.c.name == user).values(
            role=role, generation=U.c.generation + 1, updated_at=now())).rowcount == 0:
        raise ResourceNotFound(f"no user {user}")


def delete_user(conn: Connection, user: str) -> None:
    if conn.execute(delete(U).where(U.c.name == user)).rowcount == 0:
        raise ResourceNotFound(f"no user {user}")


def user_session(conn: Connection, user: str) -> tuple[str, int] | None:
    """(role, generation) of a user, or None when it no longer exists."""
    row = conn.execute(select(U.c.role, U.c.generation).where(U.c.name == user)).first()
    return (row.role, int(row.generation)) if row else None


def list_users(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(U.c.name, U.c.role, U.c.updated_at).order_by(U.c.name)).all()
    return [{"Name": r.name, "Role": r.role, "UpdatedAt": iso_ms(r.updated_at)} for r in rows]


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
