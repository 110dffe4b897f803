"""Every archive secpipe opens is read as hostile: bombs and path traversal end in an error.

Three readers exist (a guard test below fails when a fourth appears without being added
here): the tool provisioner's nested-archive search (tools/_archive.py: wheels, jsii tarballs,
Lambda layer zips), the SBOM image reader (sbom/image.py: `docker save` archives and their
gzip/xz layers) and the vulnerability database's OSV zip import (vulndb/sources.py). Each is
fed a zip bomb, a gzip bomb and, where it writes or names paths, a path traversal.
docs/reliability.md, "Archives".
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

from secpipe.tools import _archive
from secpipe.tools._archive import ArchiveError, extract_from_zip, find_nested

SRC = Path(__file__).resolve().parents[2] / "src" / "secpipe"
READERS = {"tools/_archive.py", "sbom/image.py", "vulndb/sources.py"}
_OPENS = re.compile(r"zipfile\.ZipFile\(|tarfile\.open\(|gzip\.(open|GzipFile|decompress)\(|"
                    r"lzma\.(open|decompress)\(|bz2\.(open|decompress)\(|unpack_archive\(")


def test_every_archive_reader_is_tested_here() -> None:
    found = set()
    for path in SRC.rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if _OPENS.search(line) and not re.search(r"""["'](w|a|x)[:|]?\w*["']""", line):
                found.add(path.relative_to(SRC).as_posix())
    assert found == READERS, f"archive readers changed: {sorted(found ^ READERS)}; test them here"


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# --- tools/_archive.py ----------------------------------------------------------------------

def test_provisioner_finds_a_file_three_archives_deep(tmp_path: Path) -> None:
    layer = _zip({"helm/helm": b"#!/bin/sh\necho helm\n"})
    wheel = tmp_path / "tool-1.0-py3-none-any.whl"
    wheel.write_bytes(_zip({"pkg/_jsii/layer-1.0.tgz": _tgz({"package/layer.zip": layer})}))
    assert find_nested(wheel, "layer.zip") == layer


def test_provisioner_refuses_a_zip_bomb(tmp_path: Path) -> None:
    """20 MB of zeros deflates to ~20 KB: refused from its header, before a byte inflates."""
    wheel = tmp_path / "bomb-1.0-py3-none-any.whl"
    wheel.write_bytes(_zip({"layer.zip": bytes(20 * 1024 * 1024)}))
    assert wheel.stat().st_size < 100_000
    with pytest.raises(ArchiveError, match="zip bomb"):
        find_nested(wheel, "layer.zip")
    with pytest.raises(ArchiveError, match="zip bomb"):
        extract_from_zip(wheel.read_bytes(), {"layer.zip": "bin/tool"}, tmp_path / "out")
    assert not (tmp_path / "out" / "bin" / "tool").exists()


def test_provisioner_caps_every_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Declared sizes can lie: the read itself stops at the cap (1 MB here)."""
    monkeypatch.setattr(_archive, "MAX_MEMBER_BYTES", 1024 * 1024)
    payload = bytes(range(256)) * 8192          # 2 MB, barely compressible: no ratio alarm
    wheel = tmp_path / "big-1.0-py3-none-any.whl"
    wheel.write_bytes(_zip({"layer.zip": payload}))
    with pytest.raises(ArchiveError, match="limit|beyond"):
        find_nested(wheel, "layer.zip")
    with pytest.raises(ArchiveError, match="limit|beyond"):
        extract_from_zip(wheel.read_bytes(), {"layer.zip": "bin/tool"}, tmp_path / "out")
    assert not (tmp_path / "out" / "bin" / "tool").exists()


def test_provisioner_refuses_a_gzip_bomb_in_a_tarball(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A tarball's members are skipped by reading them: the search's byte budget counts them."""
    monkeypatch.setattr(_archive, "MAX_TOTAL_BYTES", 4 * 1024 * 1024)
    wheel = tmp_path / "tgz-1.0-py3-none-any.whl"
    wheel.write_bytes(_zip({"pkg/layer.tgz": _tgz({f"zeros{i}": bytes(3 * 1024 * 1024)
                                                   for i in range(3)})}))
    with pytest.raises(ArchiveError, match="archive bomb"):
        find_nested(wheel, "layer.zip")


def test_a_pure_gzip_bomb_is_cheap_to_walk(tmp_path: Path) -> None:
    """256 MB of zeros gzipped (~250 KB) is an empty tar to tarfile: no member, no cost."""
    zeros = gzip.compress(bytes(256 * 1024 * 1024), compresslevel=1)
    wheel = tmp_path / "z-1.0-py3-none-any.whl"
    wheel.write_bytes(_zip({"pkg/layer.tgz": zeros}, zipfile.ZIP_STORED))
    with pytest.raises(ArchiveError, match="no layer.zip"):
        find_nested(wheel, "layer.zip")


def test_provisioner_never_writes_outside_its_folder(tmp_path: Path) -> None:
    data = _zip({"helm/helm": b"x"})
    with pytest.raises(ArchiveError, match="outside"):
        extract_from_zip(data, {"helm/helm": "../../escaped"}, tmp_path / "out")
    assert not (tmp_path / "escaped").exists()


def test_provisioner_refuses_an_archive_of_too_many_entries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_archive, "MAX_MEMBERS", 100)
    wheel = tmp_path / "many-1.0-py3-none-any.whl"
    wheel.write_bytes(_zip({f"f{i}": b"" for i in range(101)}))
    with pytest.raises(ArchiveError, match="entries"):
        find_nested(wheel, "layer.zip")


# --- sbom/image.py --------------------------------------------------------------------------

def test_image_reader_refuses_a_gzip_bomb_layer(tmp_path: Path) -> None:
    from secpipe.sbom.image import ImageArchiveError, Limits, read_image
    from tests.sbom.imagetar import docker_archive

    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as tf:
        info = tarfile.TarInfo("var/lib/dpkg/zeros")
        info.size = 32 * 1024 * 1024
        tf.addfile(info, io.BytesIO(bytes(info.size)))
    layer = gzip.compress(tar.getvalue(), compresslevel=1)      # ~32 KB
    image = docker_archive(tmp_path / "bomb.tar", [layer])
    with pytest.raises(ImageArchiveError, match="archive bomb"):
        read_image(image, Limits(max_bytes=4 * 1024 * 1024))


@pytest.mark.parametrize("member", ["../../etc/passwd", "/etc/passwd"])
def test_image_reader_refuses_traversal(tmp_path: Path, member: str) -> None:
    from secpipe.sbom.image import ImageArchiveError, read_image
    from tests.sbom.imagetar import docker_archive, layer_tar

    image = docker_archive(tmp_path / "t.tar", [layer_tar({member: b"x"}, raw_names=True)])
    with pytest.raises(ImageArchiveError, match="outside"):
        read_image(image)


# --- vulndb/sources.py ----------------------------------------------------------------------

def test_osv_import_refuses_a_zip_bomb(tmp_path: Path) -> None:
    from secpipe.vulndb.sources import read_zip
    from secpipe.vulndb.store import VulnDBError

    bomb = tmp_path / "all.zip"
    bomb.write_bytes(_zip({"GHSA-0000-0000-0000.json": b" " * 4_000_000}))
    assert bomb.stat().st_size < 50_000
    for limits in ({"max_member_bytes": 1_000_000}, {"max_total_bytes": 1_000_000}):
        with pytest.raises(VulnDBError, match="limit|zip bomb"):
            list(read_zip(bomb, [], **limits))


@pytest.mark.parametrize("name", ["../evil.json", "/abs.json", "C:\\x.json", "a/../../b.json"])
def test_osv_import_refuses_traversal(tmp_path: Path, name: str) -> None:
    from secpipe.vulndb.sources import read_zip
    from secpipe.vulndb.store import VulnDBError

    archive = tmp_path / "t.zip"
    archive.write_bytes(_zip({name: b"{}"}))
    with pytest.raises(VulnDBError, match="traversal"):
        list(read_zip(archive, []))
