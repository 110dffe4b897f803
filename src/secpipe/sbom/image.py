"""OS packages of a container image, read from a `docker save` archive without unpacking it.

A docker-archive (`docker save`, `podman save --format docker-archive`, `buildah push
docker-archive:`) is a tar holding `manifest.json` (`[{Config, RepoTags, Layers}]`) and one tar
per layer (plain, gzip, bzip2 or xz). The image's filesystem is the layers applied in order,
where `dir/.wh.name` deletes `name` from the layers below and `dir/.wh..wh..opq` empties `dir`.
Only the few files needed are kept, in memory: dpkg's and apk's databases and os-release.

The archive is untrusted input (an image built FROM someone else's base), so nothing is written
to disk and every size is bounded: member names with `..` or absolute layer paths are refused,
as are more layers, members or bytes than the limits allow (a decompression bomb stops at the
byte limit, counted on what the layers claim to hold), and a wanted file that is a link is not
followed (it no longer holds the file a lower layer had).
"""

from __future__ import annotations

import json
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO


from secpipe.sbom import apk, dpkg
from secpipe.sbom._common import Component, LockfileError

DPKG_STATUS = "var/lib/dpkg/status"
DPKG_STATUS_D = "var/lib/dpkg/status.d/"
APK_INSTALLED = "lib/apk/db/installed"
OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
_WANTED = frozenset({DPKG_STATUS, APK_INSTALLED, *OS_RELEASE})


class ImageArchiveError(LockfileError):
    """The archive is not a docker-archive secpipe can read, or it breaks a safety limit."""


@dataclass(frozen=True)
class Limits:
    max_layers: int = 512
    max_members: int = 2_000_000          # per archive, all layers together
    max_bytes: int = 32 * 1024 ** 3       # what the layers hold, decompressed, all together
    max_file: int = 256 * 1024 ** 2       # one wanted file (a dpkg status is a few MB)
    max_manifest: int = 4 * 1024 ** 2


@dataclass(frozen=True)
class ImageInfo:
    tags: tuple[str, ...]
    os_id: str            # os-release ID: debian, ubuntu, alpine, wolfi ... ("" when none)
    os_version: str       # VERSION_ID
    distro: str | None    # purl `distro` qualifier: debian-12, alpine-3.19.1
    files: dict[str, bytes]


def read_image(path: Path, limits: Limits | None = None) -> ImageInfo:
    """The wanted files of the image's final filesystem and what its os-release says."""
    limits = limits or Limits()
    name = path.name
    try:
        outer = tarfile.open(path, mode="r:")
    except (OSError, tarfile.TarError) as exc:
        raise ImageArchiveError(name, f"not a readable tar archive: {exc}") from None
    with outer:
        members: dict[str, tarfile.TarInfo] = {}
        try:
            for count, member in enumerate(outer, 1):
                if count > limits.max_members:
                    raise ImageArchiveError(name, f"more than {limits.max_members} entries: "
                                                  "refusing")
                members[_clean(member.name)] = member
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ImageArchiveError(name, f"broken tar archive: {exc}") from None
        manifest = _manifest(outer, members, name, limits)
        entry = manifest[0]
        layers = entry.get("Layers")
        if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
            raise ImageArchiveError(name, "manifest.json: Layers should be a list of paths")
        if len(layers) > limits.max_layers:
            raise ImageArchiveError(name, f"{len(layers)} layers, more than the limit of "
                                          f"{limits.max_layers}")
        state: dict[str, bytes] = {}
        budget = _Budget(limits, name)
        for layer in layers:
            key = _safe_path(layer, name)
            member = members.get(key)
            if member is None or not member.isfile():
                raise ImageArchiveError(name, f"manifest.json names layer {layer!r}, which the "
                                              "archive does not hold")
            stream = outer.extractfile(member)
            assert stream is not None  # a regular file member always has data
            _apply_layer(stream, state, budget, f"{name}:{layer}")
    tags = tuple(str(t) for t in entry.get("RepoTags") or [] if isinstance(t, str))
    release = _os_release(state)
    os_id = release.get("ID", "").lower()
    version = release.get("VERSION_ID", "")
    distro = f"{os_id}-{version}" if os_id and version else (os_id or None)
    return ImageInfo(tags=tags, os_id=os_id, os_version=version, distro=distro, files=state)


def image_components(path: Path, limits: Limits | None = None
                     ) -> tuple[list[Component], ImageInfo]:
    """Installed OS packages (dpkg and apk) of the image in a docker-archive."""
    info = read_image(path, limits)
    out: list[Component] = []
    vendor = info.os_id or None
    if DPKG_STATUS in info.files:
        out += dpkg.parse(info.files[DPKG_STATUS], DPKG_STATUS, vendor=vendor or "debian",
                          distro=info.distro)
    for key in sorted(k for k in info.files if k.startswith(DPKG_STATUS_D)):
        out += dpkg.parse(info.files[key], key, vendor=vendor or "debian", distro=info.distro)
    if APK_INSTALLED in info.files:
        out += apk.parse(info.files[APK_INSTALLED], APK_INSTALLED, vendor=vendor or "alpine",
                         distro=info.distro)
    return out, info


class _Budget:
    def __init__(self, limits: Limits, name: str) -> None:
        self.limits, self.name = limits, name
        self.members = 0
        self.bytes = 0

    def take(self, member: tarfile.TarInfo) -> None:
        self.members += 1
        self.bytes += max(0, member.size)
        if self.members > self.limits.max_members:
            raise ImageArchiveError(self.name, f"more than {self.limits.max_members} files in "
                                               "the layers: refusing (an archive bomb?)")
        if self.bytes > self.limits.max_bytes:
            raise ImageArchiveError(self.name, f"the layers hold more than "
                                               f"{self.limits.max_bytes} bytes: refusing (an "
                                               "archive bomb?)")


def _manifest(outer: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str,
              limits: Limits) -> list[dict]:
    member = members.get("manifest.json")
    if member is None or not member.isfile():
        raise ImageArchiveError(name, "no manifest.json: not a docker-archive (`docker save` "
                                      "writes one; an OCI layout alone is not read)")
    if member.size > limits.max_manifest:
        raise ImageArchiveError(name, f"manifest.json is {member.size} bytes: refusing")
    stream = outer.extractfile(member)
    assert stream is not None
    try:
        doc = json.loads(stream.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImageArchiveError(name, f"manifest.json is not valid JSON: {exc}") from None
    if not isinstance(doc, list) or not doc or not isinstance(doc[0], dict):
        raise ImageArchiveError(name, "manifest.json should be a non-empty list of images")
    return doc


def _clean(member_name: str) -> str:
    path = posixpath.normpath(member_name.lstrip("/"))
    return "" if path == "." else path


def _safe_path(layer: str, name: str) -> str:
    if layer.startswith("/") or ".." in layer.split("/"):
        raise ImageArchiveError(name, f"manifest.json names a layer outside the archive: "
                                      f"{layer!r}")
    return _clean(layer)


def _wanted(path: str) -> bool:
    return path in _WANTED or (path.startswith(DPKG_STATUS_D) and "/" not in
                               path[len(DPKG_STATUS_D):])


def _apply_layer(stream: IO[bytes], state: dict[str, bytes], budget: _Budget,
                 where: str) -> None:
    removed: list[str] = []      # whiteouts: paths and opaque dirs of the layers below
    added: dict[str, bytes | None] = {}  # None: the path is now a link/dir, not our file
    try:
        layer = tarfile.open(fileobj=stream, mode="r|*")
    except tarfile.TarError as exc:
        raise ImageArchiveError(where, f"layer is not a tar (plain, gzip, bzip2 or xz): "
                                       f"{exc}") from None
    with layer:
        try:
            for member in layer:
                budget.take(member)
                raw = member.name
                if raw.startswith("/") or ".." in raw.split("/"):
                    raise ImageArchiveError(where, f"layer member {raw[:100]!r} points outside "
                                                   "the image: refusing")
                path = _clean(raw)
                base = posixpath.basename(path)
                parent = posixpath.dirname(path)
                if base == ".wh..wh..opq":
                    removed.append(parent + "/" if parent else "")
                    continue
                if base.startswith(".wh."):
                    gone = posixpath.join(parent, base[4:])
                    removed += [gone, gone + "/"]
                    continue
                if not _wanted(path):
                    continue
                if not member.isfile():
                    added[path] = None
                    continue
                if member.size > budget.limits.max_file:
                    raise ImageArchiveError(where, f"{path} is {member.size} bytes: refusing")
                data = layer.extractfile(member)
                added[path] = data.read() if data is not None else b""
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ImageArchiveError(where, f"broken layer: {exc}") from None
    for gone in removed:
        for key in [k for k in state if k == gone or (gone.endswith("/") and
                                                      k.startswith(gone)) or gone == ""]:
            del state[key]
    for path, data in added.items():
        if data is None:
            state.pop(path, None)
        else:
            state[path] = data


def _os_release(files: dict[str, bytes]) -> dict[str, str]:
    data = files.get(OS_RELEASE[0], files.get(OS_RELEASE[1]))
    if data is None:
        return {}
    out: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            out[key] = value.strip().strip("\"'")
    return out
