"""secpipe's own SBOM: the lockfiles of a source tree and the OS packages of an image archive,
as one CycloneDX 1.6 JSON document (what the SCA stage and grype/trivy `sbom` read).

Used when syft is not installed: the components carry the same purls syft writes, so the
matcher sees no difference. Each component records where it came from
(`secpipe:location`, repeated when several lockfiles name it).
"""

from __future__ import annotations

import fnmatch
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6

from secpipe import __version__
from secpipe.sbom import gosum, npm, pipfile, poetry, requirements, yarn
from secpipe.sbom._common import LOCATION_PROPERTY, LockfileError, is_dev
from secpipe.sbom.image import Limits, image_components

Parser = Callable[[bytes, str], list[Component]]

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
    bom: Bom
    sources: list[str] = field(default_factory=list)   # lockfiles / databases read
    notes: list[str] = field(default_factory=list)     # what the SBOM may be missing
    dev_left_out: int = 0

    @property
    def components(self) -> int:
        return len(self.bom.components)


def build_sbom(root: Path, files: Iterable[Path], *, image_archive: Path | None = None,
               name: str = "", version: str | None = None, include_dev: bool = False,
               limits: Limits = Limits()) -> SbomResult:
    """`files`: the tree's files (relative or absolute under root), already filtered by the
    run's excludes; lockfiles among them are read, the rest only inform the notes.

    Raises LockfileError (ImageArchiveError for the image) on a file that cannot be read: an
    SBOM with a lockfile silently missing would hide that file's vulnerabilities.
    """
    rels = sorted({_rel(root, f) for f in files})
    found: list[tuple[str, list[Component]]] = []
    result = SbomResult(bom=Bom())
    subject = Component(name=name or root.resolve().name or "project", version=version,
                        type=ComponentType.APPLICATION, bom_ref="secpipe:subject")
    if image_archive is not None:
        comps, info = image_components(image_archive, limits)
        found.append((f"{image_archive.name}:os-packages", comps))
        result.sources.append(f"image {', '.join(info.tags) or image_archive.name} "
                              f"({info.distro or 'unknown distro'}): {len(comps)} OS packages")
        if not info.os_id:
            result.notes.append("the image has no os-release: OS packages may be unattributed")
        if info.tags:
            subject = Component(name=info.tags[0], type=ComponentType.CONTAINER,
                                bom_ref="secpipe:subject")
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
            if not include_dev and is_dev(comp):
                result.dev_left_out += 1
                continue
            key = str(comp.bom_ref.value)
            if key in kept:
                kept[key].properties.add(Property(name=LOCATION_PROPERTY, value=where))
                continue
            comp.properties.add(Property(name=LOCATION_PROPERTY, value=where))
            kept[key] = comp
    bom = result.bom
    bom.metadata.component = subject
    bom.metadata.tools.components.add(
        Component(name="secpipe", version=__version__, type=ComponentType.APPLICATION))
    for comp in kept.values():
        bom.components.add(comp)
    return result


def to_json(bom: Bom) -> bytes:
    """CycloneDX 1.6 JSON. The dependency graph is not recorded (lockfiles v1 and go.sum do not
    give it), which cyclonedx-python-lib warns about on every call: silenced here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return JsonV1Dot6(bom).output_as_string(indent=1).encode("utf-8")


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        if path.is_absolute():
            raise LockfileError(str(path), f"not under {root}") from None
        return path.as_posix()


__all__ = ["LOCKFILE_PARSERS", "SbomResult", "build_sbom", "parser_for", "to_json"]
