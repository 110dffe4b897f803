"""The store's administrative side: access keys, dashboard users, the audit trail.

A mixin of `SqlHubStore` (which supplies `_read`, `_write`, `secret_file`): every change here
is audited in its own transaction, and key secrets go through the per-hub cipher.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Mapping, Sequence

from secpipe.hub import audit, keys
from secpipe.hub.authz import Principal, Scope
from secpipe.hub.hubsecret import KeyCipher
from secpipe.hub.keyread import KeyReader


class KeysUsersAudit:
    """Keys, users and audit methods of the hub store."""

    secret_file: Path | str | None
    _cipher: KeyCipher | None
    key_reader: KeyReader | None

    def cipher(self) -> KeyCipher:
        """The access-key cipher, loading (or creating) the per-hub key file on first use."""
        if self._cipher is None:
            if self.secret_file == ":memory:":
                self._cipher = KeyCipher(secrets.token_bytes(32))
            else:
                self._cipher = KeyCipher.load(None if self.secret_file is None
                                              else Path(self.secret_file))
        return self._cipher

    def create_access_key(self, label: str = "", *, role: str = "admin",
                          scope: Scope | None = None,
                          principal: Principal | None = None) -> tuple[str, str]:
        """A new SigV4 key pair with a role and scope; the secret is stored encrypted (see
        `secpipe.hub.keys`) and returned this once."""
        cipher = self.cipher()
        with self._write() as conn:
            akid, secret = keys.create(conn, cipher, label, role, scope or Scope())
            audit.record(conn, principal, "CreateAccessKey", [akid],
                         after=audit.digest(keys.key_digest_row(conn, akid)),
                         detail={"role": role, "scope": (scope or Scope()).to_json(),
                                 "label": label})
            return akid, secret

    def key_record(self, access_key_id: str) -> keys.KeyRecord | None:
        """The enabled key `access_key_id` (`keys.record_of`), read afresh at every call: on a
        SQLite file by one kept statement (`keyread`: SigV4 asks for every request)."""
        reader = self.key_reader
        if reader is not None:
            return keys.record_of(access_key_id, reader.row(access_key_id), self.cipher)
        with self._read() as conn:
            return keys.key_record(conn, self.cipher, access_key_id)

    def secret_for(self, access_key_id: str) -> str | None:
        found = self.key_record(access_key_id)
        return found.secret if found else None

    def encrypt_legacy_keys(self) -> int:
        """Encrypt key secrets stored in clear before migration 0003, when the key file is
        known; a PostgreSQL hub without SECPIPE_HUB_SECRET_FILE keeps them until it is set."""
        with self._read() as conn:
            if not keys.has_legacy(conn):
                return 0
        if self.secret_file is None:
            return 0
        cipher = self.cipher()
        with self._write() as conn:
            done = keys.encrypt_legacy(conn, cipher)
            audit.record(conn, None, "EncryptLegacyKeys", detail={"keys": done})
            return done

    def list_access_keys(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            return keys.list_keys(conn)

    def revoke_access_key(self, access_key_id: str, *,
                          principal: Principal | None = None) -> None:
        with self._write() as conn:
            before = audit.digest(keys.key_digest_row(conn, access_key_id))
            keys.revoke(conn, access_key_id)
            audit.record(conn, principal, "RevokeAccessKey", [access_key_id], before=before,
                         after=audit.digest(keys.key_digest_row(conn, access_key_id)))

    def set_user_password(self, user: str, password: str, role: str | None = None, *,
                          principal: Principal | None = None) -> None:
        """Create a user or change its password (and role); its sessions end."""
        with self._write() as conn:
            before = audit.digest(keys.user_session(conn, user))
            keys.set_password(conn, user, password, role)
            audit.record(conn, principal, "SetUserPassword", [user], before=before,
                         after=audit.digest(keys.user_session(conn, user)),
                         detail={"role": role})

    def set_user_role(self, user: str, role: str, *,
                      principal: Principal | None = None) -> None:
        with self._write() as conn:
            before = audit.digest(keys.user_session(conn, user))
            keys.set_role(conn, user, role)
            audit.record(conn, principal, "SetUserRole", [user], before=before,
                         after=audit.digest(keys.user_session(conn, user)),
                         detail={"role": role})

    def delete_user(self, user: str, *, principal: Principal | None = None) -> None:
        with self._write() as conn:
            before = audit.digest(keys.user_session(conn, user))
            keys.delete_user(conn, user)
            audit.record(conn, principal, "DeleteUser", [user], before=before)

    def list_users(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            return keys.list_users(conn)

    def user_session(self, user: str) -> tuple[str, int] | None:
        """(role, generation) of a dashboard user, None once deleted: a session that began
        under another generation has ended (password or role changed)."""
        with self._read() as conn:
            return keys.user_session(conn, user)

    def check_user_password(self, user: str, password: str) -> bool:
        with self._read() as conn:
            return keys.check_password(conn, user, password)

    def audit(self, action: str, targets: Sequence[str] = (), *,
              principal: Principal | None = None,
              detail: Mapping[str, Any] | None = None) -> None:
        """Append an audit row for something that happened outside the store (a sign-in, a
        refused call)."""
        with self._write() as conn:
            audit.record(conn, principal, action, targets, detail=detail)

    def audit_log(self, *, since: str | None = None, principal: str | None = None,
                  finding: str | None = None, action: str | None = None,
                  limit: int = 200) -> list[dict[str, Any]]:
        with self._read() as conn:
            return audit.query(conn, since=since, principal=principal, finding=finding,
                               action=action, limit=limit)
