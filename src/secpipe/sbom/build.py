"""secpipe's own SBOM: the lockfiles of a source tree and the OS packages of an image archive,
as one CycloneDX 1.6 JSON document (what the SCA stage and grype/trivy `sbom` read).

Used when syft is not installed: the components carry the same purls syft writes, so the
matcher sees no difference. Each component records where it came from (`secpipe:location`,
repeated when several lockfiles name it). The document is written here, not through
cyclonedx-python-lib (see `_common` for why); the tests validate it against the CycloneDX 1.6
JSON schema with that library's validator.
"""

from __future__ import annotations

import fnmatch
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

from secpipe import __version__
from secpipe.sbom import gosum, npm, pipfile, poetry, requirements, yarn
from secpipe.sbom._common import DEV_PROPERTY, LOCATION_PROPERTY, Component, LockfileError
from secpipe.sbom.image import Limits, image_components

Parser = Callable[[bytes, str], list[Component]]
SPEC_VERSION = "1.6"

LOCKFILE_PARSERS: dict[str, Parser] = {
    "package-lock.json": npm.parse,
    "npm-shrinkwrap.json": npm.parse,
    "yarn.lock": yarn.parse,
    "poetry.lock": poetry.parse,
    "Pipfile.lock": pipfile.parse,
    "go.sum": gosum.parse,
}
# A manifest whose lockfile is missing: its dependencies are unpinned and not in the SBOM.
_MANIFESTS = {"package.json": ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock"),
              "go.mod": ("go.sum",), "Pipfile": ("Pipfile.lock",)}
MAX_LOCKFILE = 256 * 1024 ** 2


def parser_for(name: str) -> Parser | None:
    """The reader for a file name, or None when it is not a lockfile secpipe reads."""
    if name in LOCKFILE_PARSERS:
        return LOCKFILE_PARSERS[name]
    if fnmatch.fnmatchcase(name, "requirements*.txt"):
        return requirements.parse
    return None


@dataclass
class SbomResult:
    name: str                                              # the SBOM's subject
    subject_type: str = "application"                      # or "container" for an image
    version: str | None = None
    components: list[Component] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)   # lockfiles / databases read
    notes: list[str] = field(default_factory=list)     # what the SBOM may be missing
    dev_left_out: int = 0


def build_sbom(root: Path, files: Iterable[Path], *, image_archive: Path | None = None,
               name: str = "", version: str | None = None, include_dev: bool = False,
               limits: Limits | None = None) -> SbomResult:
    """`files`: the tree's files (relative, or under root), already filtered by the run's
    excludes; lockfiles among them are read, the rest only inform the notes.

    Raises LockfileError (ImageArchiveError for the image) on a file that cannot be read: an
    SBOM with a lockfile silently missing would hide that file's vulnerabilities.
    """
    rels = sorted({_rel(root, f) for f in files})
    found: list[tuple[str, list[Component]]] = []
    result = SbomResult(name=name or root.resolve().name or "project", version=version)
    if image_archive is not None:
        comps, info = image_components(image_archive, limits or Limits())
        found.append((f"{image_archive.name}:os-packages", comps))
        result.sources.append(f"image {', '.join(info.tags) or image_archive.name} "
                              f"({info.distro or 'unknown distro'}): {len(comps)} OS packages")
        if not info.os_id:
            result.notes.append("the image has no os-release: OS packages may be unattributed")
        if info.tags:
            result.name, result.subject_type, result.version = info.tags[0], "container", None
    present = set(rels)
    for rel in rels:
        pure = PurePosixPath(rel)
        parse = parser_for(pure.name)
        if parse is None:
            siblings = _MANIFESTS.get(pure.name)
            if siblings and not any(str(pure.parent / s) in present for s in siblings):
                result.notes.append(f"{rel} has no lockfile ({', '.join(siblings)}): its "
                                    "dependencies are not pinned and not in the SBOM")
            continue
        path = root / rel
        size = path.stat().st_size
        if size > MAX_LOCKFILE:
            raise LockfileError(rel, f"{size} bytes, more than a lockfile should be: refusing")
        comps = parse(path.read_bytes(), rel)
        found.append((rel, comps))
        result.sources.append(f"{rel}: {len(comps)} packages")
    kept: dict[str, Component] = {}
    for where, comps in found:
        for comp in comps:
            have = kept.get(comp.ref)
            if have is None:
                comp.locations.append(where)
                kept[comp.ref] = comp
                continue
            if where not in have.locations:
                have.locations.append(where)
            have.dev = have.dev and comp.dev  # needed at run time somewhere: not dev
    result.components = sorted(kept.values(), key=lambda c: c.ref)
    if not include_dev:
        result.dev_left_out = sum(1 for c in result.components if c.dev)
        result.components = [c for c in result.components if not c.dev]
    return result


def bom_dict(result: SbomResult, *, timestamp: datetime | None = None,
             serial: str | None = None) -> dict[str, Any]:
    """The CycloneDX 1.6 document (no dependency graph: lockfile v1, yarn.lock and go.sum
    do not give a complete one, and an SBOM must not claim edges it does not know)."""
    subject: dict[str, Any] = {"bom-ref": "secpipe:subject", "type": result.subject_type,
                               "name": result.name}
    if result.version:
        subject["version"] = result.version
    when = timestamp or datetime.now(timezone.utc)
    return {
        "$schema": f"http://cyclonedx.org/schema/bom-{SPEC_VERSION}.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": serial or f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": when.isoformat(timespec="seconds"),
            "tools": {"components": [{"type": "application", "name": "secpipe",
                                      "version": __version__}]},
            "component": subject,
        },
        "components": [_component(c) for c in result.components],
    }


def to_json(result: SbomResult) -> bytes:
    return json.dumps(bom_dict(result), indent=1, ensure_ascii=False).encode("utf-8")


def _component(comp: Component) -> dict[str, Any]:
    out: dict[str, Any] = {"bom-ref": comp.ref, "type": "library", "name": comp.name,
                           "version": comp.version, "purl": comp.ref}
    if comp.hashes:
        out["hashes"] = [{"alg": alg, "content": digest} for alg, digest in comp.hashes]
    props = [{"name": LOCATION_PROPERTY, "value": where} for where in comp.locations]
    if comp.dev:
        props.append({"name": DEV_PROPERTY, "value": "true"})
    if props:
        out["properties"] = props
    return out


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        if path.is_absolute():
            raise LockfileError(str(path), f"not under {root}") from None
        return path.as_posix()


__all__ = ["LOCKFILE_PARSERS", "SbomResult", "bom_dict", "build_sbom", "parser_for", "to_json"]
