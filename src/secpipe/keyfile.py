"""Local secret keys kept in files: created once, 0600, never in a database or a report.

One place for "the per-hub secret" and "the per-project secret of hub-less runs": both are 32
random bytes in a file that is created atomically (two processes starting at once agree on one
key) and refused when other users may read it."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

KEY_BYTES = 32


class KeyFileError(RuntimeError):
    """The key file exists but cannot be trusted or read."""


def load_or_create_key(path: Path) -> bytes:
    """The key in `path`, created (0600, parents made) when absent."""
    path = Path(path)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(KEY_BYTES).hex().encode() + b"\n")
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process won the race: then its key stands
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> bytes:
    st = path.stat()
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path} is readable by other users (mode {stat.S_IMODE(st.st_mode):o}):"
                           f" chmod 600 {path}")
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(f"{path} does not hold a hex key") from None
    if len(key) < 16:
        raise KeyFileError(f"{path} holds a key shorter than 16 bytes")
    return key
