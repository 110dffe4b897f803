"""OS packages: dpkg and apk databases, and reading them out of docker-archive image layers."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from secpipe.sbom import ImageArchiveError, Limits, LockfileError, image_components, read_image
from secpipe.sbom import apk, dpkg
from tests.sbom.imagetar import OPAQUE, WHITEOUT, docker_archive

FIX = Path(__file__).parent / "fixtures" / "os"
DPKG = (FIX / "dpkg-status").read_bytes()
APK = (FIX / "apk-installed").read_bytes()
DEBIAN_RELEASE = (FIX / "debian-os-release").read_bytes()
ALPINE_RELEASE = (FIX / "alpine-os-release").read_bytes()


def purls(comps) -> set[str]:
    return {str(c.purl) for c in comps}


def test_dpkg_real_status() -> None:
    comps = dpkg.parse(DPKG, distro="debian-12")
    found = {c.name: str(c.purl) for c in comps}
    assert set(found) == {"base-files", "libc6", "libgnutls30", "libssl3", "openssl", "tzdata",
                          "zlib1g"}  # ntpsec is removed (config-files only)
    assert found["libssl3"] == ("pkg:deb/debian/libssl3@3.0.19-1~deb12u2?arch=amd64"
                                "&distro=debian-12&upstream=openssl")
    # epochs survive, the source package is the upstream qualifier
    assert found["zlib1g"] == ("pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64"
                               "&distro=debian-12&upstream=zlib")
    assert "upstream" not in found["openssl"]  # its own source


def test_dpkg_malformed() -> None:
    with pytest.raises(LockfileError, match="no Package or Version"):
        dpkg.parse(b"Package: a\nStatus: install ok installed\n", "status")
    with pytest.raises(LockfileError, match="continuation line with no field"):
        dpkg.parse(b" floating\n", "status")
    with pytest.raises(LockfileError, match="expected `Field: value`"):
        dpkg.parse(b"Package: a\nthis is not a field\n", "status")


def test_apk_database() -> None:
    comps = apk.parse(APK, distro="alpine-3.19.1")
    found = {c.name: str(c.purl) for c in comps}
    assert len(found) == 6
    assert found["libcrypto3"] == ("pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64"
                                   "&distro=alpine-3.19.1&upstream=openssl")
    assert found["busybox"] == "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1"


def test_apk_malformed() -> None:
    with pytest.raises(LockfileError, match="expected `X:value`"):
        apk.parse(b"P:musl\nversion 1\n", "installed")
    with pytest.raises(LockfileError, match="no P: .* or V:"):
        apk.parse(b"P:musl\nA:x86_64\n", "installed")


# --- image archives ---------------------------------------------------------------------------

def debian_layers() -> list[dict]:
    base = {"usr/lib/os-release": DEBIAN_RELEASE, "etc/os-release": ("symlink",
                                                                     "../usr/lib/os-release"),
            "var/lib/dpkg/status": b"Package: old\nStatus: install ok installed\n"
                                   b"Version: 1.0\nArchitecture: amd64\n",
            "bin/sh": b"\x7fELF"}
    return [base, {"var/lib/dpkg/status": DPKG, "usr/src/app/server.js": b"// app"}]


@pytest.mark.parametrize("layout", ["classic", "oci-gzip"])
def test_debian_image(tmp_path: Path, layout: str) -> None:
    archive = docker_archive(tmp_path / "img.tar", debian_layers(), tag="secpipe/web:run1",
                             oci=layout != "classic", gzip_layers=layout != "classic")
    comps, info = image_components(archive)
    assert info.tags == ("secpipe/web:run1",)
    assert (info.os_id, info.os_version, info.distro) == ("debian", "12", "debian-12")
    names = {c.name for c in comps}
    assert "libssl3" in names and "old" not in names  # the upper layer's status wins
    assert len(comps) == 7


def test_alpine_image_with_whiteouts(tmp_path: Path) -> None:
    layers = [
        {"etc/os-release": ALPINE_RELEASE, "lib/apk/db/installed": APK,
         "var/lib/dpkg/status": DPKG},                    # a dpkg db that a later layer removes
        {"var/lib/dpkg": OPAQUE},                         # ... by making the folder opaque
        {"etc/apk/world": b"busybox\n"},
    ]
    comps, info = image_components(docker_archive(tmp_path / "a.tar", layers))
    assert info.distro == "alpine-3.19.1"
    assert {c.purl.type for c in comps} == {"apk"} and len(comps) == 6


def test_whiteout_deletes_the_database(tmp_path: Path) -> None:
    layers = [{"etc/os-release": DEBIAN_RELEASE, "var/lib/dpkg/status": DPKG},
              {"var/lib/dpkg/status": WHITEOUT}]
    comps, _ = image_components(docker_archive(tmp_path / "w.tar", layers))
    assert comps == []


def test_database_replaced_by_a_link_is_not_followed(tmp_path: Path) -> None:
    layers = [{"var/lib/dpkg/status": DPKG},
              {"var/lib/dpkg/status": ("symlink", "/etc/shadow")}]
    comps, info = image_components(docker_archive(tmp_path / "l.tar", layers))
    assert comps == [] and info.os_id == ""


def test_distroless_status_d(tmp_path: Path) -> None:
    stanza = b"Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl\n"
    layers = [{"etc/os-release": DEBIAN_RELEASE, "var/lib/dpkg/status.d/libssl3": stanza}]
    comps, _ = image_components(docker_archive(tmp_path / "d.tar", layers))
    assert purls(comps) == {"pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64"
                            "&distro=debian-12&upstream=openssl"}


def _raw_layer(name: str, data: bytes = b"x") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_refuses_member_traversal(tmp_path: Path) -> None:
    archive = docker_archive(tmp_path / "t.tar", [_raw_layer("../../etc/cron.d/evil")])
    with pytest.raises(ImageArchiveError, match="points outside the image"):
        read_image(archive)


def test_refuses_layer_path_traversal(tmp_path: Path) -> None:
    manifest = [{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["../outside/layer.tar"]}]
    archive = docker_archive(tmp_path / "m.tar", [], manifest=manifest)
    with pytest.raises(ImageArchiveError, match="outside the archive"):
        read_image(archive)


def test_missing_layer_and_manifest(tmp_path: Path) -> None:
    manifest = [{"Config": "c.json", "Layers": ["nope/layer.tar"]}]
    with pytest.raises(ImageArchiveError, match="does not hold"):
        read_image(docker_archive(tmp_path / "n.tar", [], manifest=manifest))
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        tar.add(FIX / "apk-installed", arcname="apk-installed")
    with pytest.raises(ImageArchiveError, match="no manifest.json"):
        read_image(plain)
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ImageArchiveError, match="not a readable tar"):
        read_image(tmp_path / "junk.tar")


def test_decompression_bomb_stops_at_the_byte_limit(tmp_path: Path) -> None:
    # 64 MiB of zeros in one member compresses to ~64 KiB: the limit is on what it holds
    big = tmp_path / "bomb-layer.tar"
    with tarfile.open(big, "w") as tar:
        info = tarfile.TarInfo("zeros")
        info.size = 64 * 1024 * 1024
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    blob = gzip.compress(big.read_bytes(), compresslevel=1)
    assert len(blob) < 1024 * 1024
    archive = docker_archive(tmp_path / "bomb.tar", [blob])
    with pytest.raises(ImageArchiveError, match="archive bomb"):
        read_image(archive, Limits(max_bytes=8 * 1024 * 1024))
    info_ok = read_image(archive)  # within the default limits it is just a big layer
    assert info_ok.files == {}


def test_member_count_and_file_size_limits(tmp_path: Path) -> None:
    layers = [{f"f{i}": b"" for i in range(50)}]
    with pytest.raises(ImageArchiveError, match="more than 20"):
        read_image(docker_archive(tmp_path / "c.tar", layers), Limits(max_members=20))
    big = [{"var/lib/dpkg/status": DPKG}]
    with pytest.raises(ImageArchiveError, match="refusing"):
        read_image(docker_archive(tmp_path / "s.tar", big), Limits(max_file=100))


def test_broken_manifest(tmp_path: Path) -> None:
    for doc, problem in (({"not": "a list"}, "non-empty list"),
                         ([{"Layers": "x"}], "list of paths")):
        with pytest.raises(ImageArchiveError, match=problem):
            read_image(docker_archive(tmp_path / "b.tar", [], manifest=doc))
