"""The per-hub secret and what it protects: access key secrets, encrypted at rest.

SigV4 needs each key's secret in a usable form on the server (it recomputes the HMAC), so the
secrets cannot be hashed; they are encrypted instead, with AES-256-GCM under a key derived from
the per-hub secret (`secpipe.keyfile`: 32 random bytes, a 0600 file outside the database).
Someone who reads the database (a backup, a replica, a stolen `hub.db`) gets ciphertext. The
key id is the GCM associated data, so a database writer cannot move one key's secret onto
another key id either.

Where the file is: SECPIPE_HUB_SECRET_FILE when set (needed for PostgreSQL hubs: every process
that verifies keys must read the same file), else beside a SQLite hub (`hub.db` -> `hub.db.key`, the same per-hub secret that keys secret
fingerprints).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from secpipe.hub.interface import HubError
from secpipe.keyfile import load_or_create_key

ENV_SECRET_FILE = "SECPIPE_HUB_SECRET_FILE"
_PREFIX = "v1:"
_LABEL = b"secpipe hub: access key secrets v1"


class HubSecretMissing(HubError):
    """No per-hub key file is configured for this store (a PostgreSQL hub without
    SECPIPE_HUB_SECRET_FILE)."""


def secret_path(sqlite_path: Path | None) -> Path | None:
    explicit = os.environ.get(ENV_SECRET_FILE)
    if explicit:
        return Path(explicit)
    if sqlite_path is not None:
        # the one per-hub secret: the same file keys the hub's secret fingerprints
        # (secpipe.secretkey.hub_key_path); each use derives its own key from it
        from secpipe.secretkey import hub_key_path

        return hub_key_path(sqlite_path)
    return None


class KeyCipher:
    """AES-256-GCM over access key secrets, keyed from the per-hub secret."""

    def __init__(self, hub_secret: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = hmac.new(hub_secret, _LABEL, hashlib.sha256).digest()
        self._aead = AESGCM(key)

    @staticmethod
    def load(path: Path | None) -> "KeyCipher":
        if path is None:
            raise HubSecretMissing(
                "this hub keeps access key secrets encrypted with a per-hub key file: set "
                f"{ENV_SECRET_FILE} to a path readable by every process that serves this "
                "database (it is created 0600 on first use)")
        return KeyCipher(load_or_create_key(path))

    def encrypt(self, akid: str, secret: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, secret.encode("utf-8"), akid.encode("utf-8"))
        return _PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, akid: str, stored: str) -> str:
        """The clear secret; HubError when the ciphertext does not open with this hub's key
        (a database copied to a hub with another key file, or tampering)."""
        from cryptography.exceptions import InvalidTag

        if not stored.startswith(_PREFIX):
            raise HubError(f"access key {akid}: unknown secret encoding")
        try:
            raw = base64.b64decode(stored[len(_PREFIX):], validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], akid.encode("utf-8")).decode("utf-8")
        except (InvalidTag, ValueError) as exc:
            raise HubError(f"access key {akid}: its secret does not decrypt with this hub's "
                           f"key file ({type(exc).__name__})") from None


def secret_location(url: str, path: Path | None) -> Path | str | None:
    """Where this hub's key file is (`hubsecret.secret_path`); ":memory:" for a database that
    lives only in this process (its key can too)."""
    if url.startswith("sqlite") and path is None:
        rest = url.split("://", 1)[1].lstrip("/") if "://" in url else ""
        if rest in ("", ":memory:"):
            return ":memory:"
        path = Path("/" + rest) if url.startswith("sqlite:////") else Path(rest)
    return secret_path(path)
