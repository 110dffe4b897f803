"""go.sum: `<module> <version> h1:<hash>` and `<module> <version>/go.mod h1:<hash>` lines.

A `/go.mod` line only says the module's go.mod was read while resolving the graph; the line
without it says the module's code was downloaded to build. So components are the modules with
a code line. go.sum keeps lines for every version `go` ever considered; minimal version
selection builds the highest required one, so when a module has code lines for several
versions, the highest is the one reported (semver order, pseudo-versions and `+incompatible`
included). Versions keep their `v`, as Go and OSV's Go ecosystem write them.
"""

from __future__ import annotations

import re

from packageurl import PackageURL

from secpipe.sbom._common import Component, LockfileError, decode, make_component

_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$")


def parse(data: bytes, source: str = "go.sum") -> list[Component]:
    text = decode(data, source)
    best: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 3 or not re.match(r"^h\d+:", fields[2]):
            raise LockfileError(source, f"line {lineno}: expected `module version h1:hash`, "
                                        f"got {line[:80]!r}")
        module, version = fields[0], fields[1]
        if version.endswith("/go.mod"):
            continue
        if _VERSION.match(version) is None:
            raise LockfileError(source, f"line {lineno}: {version!r} is not a Go module version")
        if module not in best or semver_key(version) > semver_key(best[module]):
            best[module] = version
    return [make_component(go_purl(module, version), name=module)
            for module, version in best.items()]


def go_purl(module: str, version: str) -> PackageURL:
    namespace, _, name = module.rpartition("/")
    return PackageURL(type="golang", namespace=namespace or None, name=name, version=version)


def semver_key(version: str) -> tuple:
    """Semantic-version order (build metadata ignored, a pre-release before its release)."""
    match = _VERSION.match(version)
    if match is None:
        return (-1,)
    major, minor, patch, pre, _build = match.groups()
    core = (int(major), int(minor), int(patch))
    if pre is None:
        return (*core, 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (*core, 0, parts)
