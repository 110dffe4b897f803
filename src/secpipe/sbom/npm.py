"""npm's package-lock.json / npm-shrinkwrap.json, lockfile versions 1, 2 and 3.

* v2 and v3 list every installed copy under `packages`, keyed by its folder
  (`node_modules/a/node_modules/b`); the package name is the part after the last
  `node_modules/`, unless the entry names itself (`name`, for aliases `"x": "npm:real@1"`).
  v2 also carries v1's tree for old npm; `packages` is the authority when present.
* v1 (npm 5-6) nests `dependencies` inside `dependencies`; an alias's version reads
  `npm:real@1.2.3`.

Left out, on purpose: the root project (it is the SBOM's subject, not a dependency), workspace
folders and `link` entries (first-party code, not packages from the registry), and entries whose
version is a git, file or tarball URL: no advisory database keys those by version.
The same name@version installed at several paths is one component; it is a dev component only
when every copy is `dev` (`devOptional` copies count as needed, npm installs them either way).
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from packageurl import PackageURL

from secpipe.sbom._common import (
    Component, LockfileError, dedupe, load_json, make_component, require_text, sri_hashes,
)

# A registry version: semver-ish, never a URL or a protocol (git+, file:, http:, github:).
_REGISTRY_VERSION = re.compile(r"^v?\d[\w.+-]*$")


def parse(data: bytes, source: str = "package-lock.json") -> list[Component]:
    doc = load_json(data, source)
    if not isinstance(doc, dict):
        raise LockfileError(source, f"an npm lockfile is a JSON object, got {type(doc).__name__}")
    version = doc.get("lockfileVersion")
    packages, deps = doc.get("packages"), doc.get("dependencies")
    if version is None and packages is None and deps is None:
        raise LockfileError(source, "not an npm lockfile: no lockfileVersion, packages or "
                                    "dependencies")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)
                                or version not in (1, 2, 3)):
        raise LockfileError(source, f"unknown lockfileVersion {version!r} (npm writes 1, 2, 3)")
    if packages is not None and version != 1:
        if not isinstance(packages, dict):
            raise LockfileError(source, "'packages' should be an object")
        return dedupe(_from_packages(packages, source))
    if deps is None:
        return []
    if not isinstance(deps, dict):
        raise LockfileError(source, "'dependencies' should be an object")
    return dedupe(_from_tree(deps, source))


def npm_purl(name: str, version: str) -> PackageURL:
    scope, _, bare = name.rpartition("/")
    return PackageURL(type="npm", namespace=scope or None, name=bare, version=version)


def _component(name: str, version: str, meta: Mapping[str, Any]) -> Component | None:
    if not name or not _REGISTRY_VERSION.match(version):
        return None
    return make_component(npm_purl(name, version), name=name, dev=meta.get("dev") is True,
                          hashes=sri_hashes(meta.get("integrity")))


def _from_packages(packages: Mapping[str, Any], source: str) -> Iterator[Component]:
    for path, meta in packages.items():
        if not path or "node_modules/" not in f"/{path}":
            continue  # the root project, or a workspace folder (first-party)
        if not isinstance(meta, dict):
            raise LockfileError(source, f"packages[{path!r}] should be an object")
        if meta.get("link") is True:
            continue
        name = require_text(meta.get("name")) or path.rsplit("node_modules/", 1)[1]
        version = require_text(meta.get("version"))
        comp = _component(name, version, meta) if version else None
        if comp is not None:
            yield comp


def _from_tree(deps: Mapping[str, Any], source: str) -> Iterator[Component]:
    stack: list[tuple[str, Mapping[str, Any]]] = [("dependencies", deps)]
    while stack:
        where, level = stack.pop()
        for name, meta in level.items():
            if not isinstance(meta, dict):
                raise LockfileError(source, f"{where}[{name!r}] should be an object")
            version = require_text(meta.get("version"))
            real = name
            if version.startswith("npm:"):  # an alias: "npm:real-name@1.2.3"
                real, _, version = version[4:].rpartition("@")
            comp = _component(real, version, meta) if version else None
            if comp is not None:
                yield comp
            nested = meta.get("dependencies")
            if isinstance(nested, dict):
                stack.append((f"{where}[{name!r}].dependencies", nested))
            elif nested is not None:
                raise LockfileError(source, f"{where}[{name!r}].dependencies should be an object")
