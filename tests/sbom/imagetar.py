"""Build docker-archive files the way `docker save` lays them out, for the image reader's tests.

Two layouts, both real: the classic one (`<layer id>/layer.tar` plain tars, `<config>.json`,
`manifest.json`, `repositories`: docker before 25, podman's docker-archive) and the one docker
25+ writes (OCI `blobs/sha256/<digest>` beside `manifest.json` and `index.json`; layers may be
gzip-compressed). A layer is a mapping path -> content: bytes for a file, `WHITEOUT` for a
`.wh.` deletion marker, `OPAQUE` for a directory's `.wh..wh..opq`, `("symlink", target)`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import posixpath
import tarfile
from pathlib import Path
from typing import Mapping, Sequence, Union

WHITEOUT = "whiteout"
OPAQUE = "opaque"
Entry = Union[bytes, str, tuple]


def layer_tar(files: Mapping[str, Entry], *, raw_names: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for path, content in files.items():
            parent = posixpath.dirname(path)
            chain = []
            while parent and parent not in dirs and not raw_names:
                chain.append(parent)
                parent = posixpath.dirname(parent)
            for d in reversed(chain):
                info = tarfile.TarInfo(d)
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
                dirs.add(d)
            if content == WHITEOUT:
                info = tarfile.TarInfo(posixpath.join(posixpath.dirname(path),
                                                      ".wh." + posixpath.basename(path)))
                tar.addfile(info, io.BytesIO(b""))
            elif content == OPAQUE:
                info = tarfile.TarInfo(posixpath.join(path, ".wh..wh..opq"))
                tar.addfile(info, io.BytesIO(b""))
            elif isinstance(content, tuple) and content[0] == "symlink":
                info = tarfile.TarInfo(path)
                info.type = tarfile.SYMTYPE
                info.linkname = content[1]
                tar.addfile(info)
            else:
                assert isinstance(content, bytes)
                info = tarfile.TarInfo(path)
                info.size = len(content)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def docker_archive(dest: Path, layers: Sequence[Mapping[str, Entry] | bytes], *,
                   tag: str = "secpipe/test:1", oci: bool = False, gzip_layers: bool = False,
                   manifest: object = None) -> Path:
    """Write a docker-archive; a layer given as bytes is taken as the layer blob itself."""
    blobs: list[tuple[str, bytes]] = []
    diff_ids = []
    for i, layer in enumerate(layers):
        data = layer if isinstance(layer, bytes) else layer_tar(layer)
        diff_ids.append("sha256:" + hashlib.sha256(data).hexdigest())
        if gzip_layers:
            data = gzip.compress(data, mtime=0)
        digest = hashlib.sha256(data).hexdigest()
        name = f"blobs/sha256/{digest}" if oci else f"{digest[:12]}{i}/layer.tar"
        blobs.append((name, data))
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_digest = hashlib.sha256(config).hexdigest()
    config_name = f"blobs/sha256/{config_digest}" if oci else f"{config_digest}.json"
    doc = manifest if manifest is not None else [
        {"Config": config_name, "RepoTags": [tag], "Layers": [n for n, _ in blobs]}]
    with tarfile.open(dest, "w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for name, data in blobs:
            add(name, data)
        add(config_name, config)
        add("manifest.json", json.dumps(doc).encode())
        repo, _, version = tag.rpartition(":")
        if oci:
            add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            add("index.json", json.dumps({"schemaVersion": 2, "manifests": []}).encode())
        else:
            add("repositories", json.dumps({repo: {version: blobs[-1][0].split("/")[0]}}
                                           if blobs else {}).encode())
    return dest
