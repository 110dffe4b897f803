"""Which secret keys a run's secret fingerprints, and the private folders secpipe creates.

A secret's digest is HMAC-SHA-256 under a key kept in a 0600 file (:mod:`secpipe.keyfile`),
never in the hub's database or a report, so neither a hub reader nor a report reader can test
password guesses against it. Where the key lives:

- ``$SECPIPE_FINGERPRINT_KEY_FILE`` when set: CI runners that record into one remote hub share
  one key this way (a CI secret written to a file), or every runner would give the same leak a
  different Id;
- beside a local SQLite hub (``hub.db`` -> ``hub.db.key``): per hub;
- otherwise (hub-less runs, remote or PostgreSQL hubs without the variable) the project's key,
  ``OUT/hub.db.key``, the one its default local hub uses, so a run gives the same Ids with and
  without the hub.

Folders secpipe creates for its output or a local hub get a ``.gitignore`` of ``*``: they
hold the hub (key secrets, findings), the key and raw reports, which never belong in git.
"""

from __future__ import annotations

import os
from pathlib import Path

from secpipe.keyfile import load_or_create_key
from secpipe.model.secret import FingerprintKey

KEY_FILE_ENV = "SECPIPE_FINGERPRINT_KEY_FILE"
KEY_SUFFIX = ".key"
DEFAULT_HUB_NAME = "hub.db"
GITIGNORE = "*\n"


def local_hub_file(location: str | Path | None) -> Path | None:
    """The SQLite file of a local hub location (a path or `sqlite:///` URL), else None."""
    if location is None:
        return None
    text = str(location)
    if text.startswith("sqlite:///"):
        rest = text[len("sqlite:///"):]
        return None if rest in ("", ":memory:") else Path("/" + rest.lstrip("/"))
    if "://" in text or text == ":memory:":
        return None
    return Path(text).expanduser()


def hub_key_path(location: str | Path | None) -> Path | None:
    """The per-hub secret beside a local SQLite hub (`hub.db.key`); None for other hubs."""
    db = local_hub_file(location)
    return db.with_name(db.name + KEY_SUFFIX) if db is not None else None


def fingerprint_key_path(hub: str | Path | None, out_dir: Path) -> Path:
    """Where the key for a run recording into `hub` (None: hub-less) lives; see the module."""
    explicit = os.environ.get(KEY_FILE_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    return hub_key_path(hub) or (Path(out_dir) / (DEFAULT_HUB_NAME + KEY_SUFFIX))


def load_fingerprint_key(hub: str | Path | None, out_dir: Path) -> FingerprintKey:
    """The key (created 0600 on first use unless named by the variable). An unreadable or
    group-readable key file raises :class:`secpipe.keyfile.KeyFileError`."""
    path = fingerprint_key_path(hub, out_dir)
    if os.environ.get(KEY_FILE_ENV, "").strip() and not path.exists():
        from secpipe.keyfile import KeyFileError

        raise KeyFileError(f"{KEY_FILE_ENV}={path}: no such file (create it once with "
                           f"`openssl rand -hex 32 > {path}; chmod 600 {path}` "
                           f"and share it with every runner that records into the same hub)")
    if not path.parent.exists():
        make_private_dir(path.parent)
    # a short key is refused by load_or_create_key; FingerprintKey checks it again
    return FingerprintKey(load_or_create_key(path))


def key_from_env() -> FingerprintKey | None:
    """The key `$SECPIPE_FINGERPRINT_KEY_FILE` names, None when unset (the Lambda, which has no
    project folder: without it, secret findings' Ids last one cold start)."""
    explicit = os.environ.get(KEY_FILE_ENV, "").strip()
    if not explicit:
        return None
    return load_fingerprint_key(None, Path("."))   # the variable's file, which must exist


def make_private_dir(path: Path) -> Path:
    """Create `path` (and parents); when secpipe creates the folder itself, it also writes a
    `.gitignore` of `*` into it, so nothing in it is ever committed by accident."""
    path = Path(path)
    existed = path.is_dir()
    path.mkdir(parents=True, exist_ok=True)
    if not existed:
        ignore = path / ".gitignore"
        try:
            fd = os.open(ignore, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return path
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(GITIGNORE)
    return path
