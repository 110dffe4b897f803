"""Reading OSV records from what users have: JSON files, folders of them, OSV's `all.zip`.

A file holds one record, a JSON array of records, or an OSV API answer (`{"vulns": [...]}`).
Archives come from the network or from someone else's disk, so they are read defensively:
the member count and the total uncompressed size are capped (checked against the central
directory first, then again while reading, since declared sizes can lie), each member is
capped on its own, and names that are absolute, climb out with `..` or hide a drive letter are
refused outright. Nothing is ever extracted to disk.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from secpipe.vulndb.errors import VulnDBError

MAX_MEMBERS = 2_000_000            # OSV's largest per-ecosystem archives hold a few 100k
MAX_TOTAL_BYTES = 8 * 1024 ** 3    # uncompressed, whole archive
MAX_MEMBER_BYTES = 32 * 1024 ** 2  # one advisory; real ones are a few KB
MAX_FILE_BYTES = 256 * 1024 ** 2   # a plain JSON file (may be an array of many records)

Rejected = list[tuple[str, str]]
Item = tuple[str, Any, "bytes | None"]  # (where, record, its raw JSON if stored verbatim)


def _records_in(doc: Any, data: bytes) -> list[tuple[Any, bytes | None]]:
    """(record, its raw JSON when the document is just that record)."""
    if isinstance(doc, list):
        return [(r, None) for r in doc]
    if isinstance(doc, dict) and "id" not in doc and isinstance(doc.get("vulns"), list):
        return [(r, None) for r in doc["vulns"]]
    return [(doc, data)]


def _decode(data: bytes, where: str, rejected: Rejected) -> list[tuple[Any, bytes | None]]:
    try:
        return _records_in(json.loads(data), data)
    except (ValueError, RecursionError) as exc:
        rejected.append((where, f"not valid JSON: {exc}"))
        return []


def unsafe_member_name(name: str) -> str | None:
    """Why an archive member name is refused (path traversal), or None when it is safe."""
    if "\x00" in name:
        return "contains a NUL byte"
    normal = name.replace("\\", "/")
    if normal.startswith("/") or re.match(r"^[A-Za-z]:", normal):
        return "is an absolute path"
    if ".." in PurePosixPath(normal).parts:
        return "climbs out of the archive with '..'"
    return None


def read_zip(path: Path, rejected: Rejected, *, max_members: int = MAX_MEMBERS,
             max_total_bytes: int = MAX_TOTAL_BYTES,
             max_member_bytes: int = MAX_MEMBER_BYTES) -> Iterator[Item]:
    """(where, record, raw) for every JSON member; VulnDBError when the archive is refused."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise VulnDBError(f"{path}: not a readable zip archive ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max_members:
            raise VulnDBError(f"{path}: refused: {len(infos)} members (limit {max_members}); "
                              "not an OSV archive, or a zip bomb")
        for info in infos:
            why = unsafe_member_name(info.filename)
            if why:
                raise VulnDBError(f"{path}: refused: member {info.filename!r} {why} "
                                  "(path traversal)")
        declared = sum(i.file_size for i in infos)
        if declared > max_total_bytes:
            raise VulnDBError(f"{path}: refused: {declared} bytes uncompressed (limit "
                              f"{max_total_bytes}); a zip bomb or not an OSV archive")
        total = 0
        for info in infos:
            if info.is_dir() or not info.filename.lower().endswith(".json"):
                continue
            if info.file_size > max_member_bytes:
                raise VulnDBError(f"{path}: refused: member {info.filename!r} is "
                                  f"{info.file_size} bytes (limit {max_member_bytes})")
            try:
                with archive.open(info) as member:
                    data = member.read(max_member_bytes + 1)  # never trust the declared size
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise VulnDBError(f"{path}: refused: member {info.filename!r} is corrupt or "
                                  f"lies about its size ({exc})") from None
            if len(data) > max_member_bytes:
                raise VulnDBError(f"{path}: refused: member {info.filename!r} inflates beyond "
                                  f"{max_member_bytes} bytes (declared {info.file_size})")
            total += len(data)
            if total > max_total_bytes:
                raise VulnDBError(f"{path}: refused: inflates beyond {max_total_bytes} bytes "
                                  "(a zip bomb)")
            where = f"{path.name}:{info.filename}"
            for record, raw in _decode(data, where, rejected):
                yield where, record, raw


def read_file(path: Path, rejected: Rejected) -> Iterator[Item]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            rejected.append((str(path), f"{size} bytes: larger than {MAX_FILE_BYTES}"))
            return
        data = path.read_bytes()
    except OSError as exc:
        rejected.append((str(path), f"cannot read: {exc.strerror or exc}"))
        return
    for record, raw in _decode(data, str(path), rejected):
        yield str(path), record, raw


def read_records(path: Path, rejected: Rejected, **limits: int) -> Iterator[Item]:
    """Records from a JSON file, a folder (recursively: *.json and *.zip) or an archive."""
    if not path.exists():
        raise VulnDBError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()
                       and p.suffix.lower() in (".json", ".zip"))
        if not files:
            raise VulnDBError(f"{path}: no *.json or *.zip files in this folder")
        for file in files:
            yield from read_records(file, rejected, **limits)
        return
    if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
        yield from read_zip(path, rejected, **limits)
    else:
        yield from read_file(path, rejected)
