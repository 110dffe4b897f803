"""What every lockfile reader shares: one error type, one way to make a component.

Components are cyclonedx-python-lib's own, keyed (`bom-ref`) by their purl, so the same package
read from two lockfiles, or from syft and from secpipe, is one entry with one identity.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Iterable, Mapping

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.component import Component, ComponentType
from packageurl import PackageURL

DEV_PROPERTY = "secpipe:dev"            # "true" on packages only a development build needs
LOCATION_PROPERTY = "secpipe:location"  # the lockfile or image database a package came from

_SRI_ALGS = {"sha1": HashAlgorithm.SHA_1, "sha256": HashAlgorithm.SHA_256,
             "sha384": HashAlgorithm.SHA_384, "sha512": HashAlgorithm.SHA_512}


class LockfileError(ValueError):
    """A lockfile or package database that cannot be read: names the file and the problem."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


def make_component(purl: PackageURL, *, name: str | None = None, dev: bool = False,
                   hashes: Iterable[HashType] = (),
                   properties: Mapping[str, str] | None = None) -> Component:
    """A library component whose bom-ref is its purl (so duplicates collapse on it)."""
    props = [Property(name=k, value=v) for k, v in (properties or {}).items() if v]
    if dev:
        props.append(Property(name=DEV_PROPERTY, value="true"))
    full_name = name or (f"{purl.namespace}/{purl.name}" if purl.type == "npm" and purl.namespace
                         else purl.name)
    return Component(name=full_name, version=purl.version, type=ComponentType.LIBRARY,
                     purl=purl, bom_ref=purl.to_string(), hashes=list(hashes),
                     properties=props)


def is_dev(component: Component) -> bool:
    return any(p.name == DEV_PROPERTY and p.value == "true" for p in component.properties)


def sri_hashes(integrity: Any) -> list[HashType]:
    """npm/yarn `integrity` (Subresource Integrity: `sha512-<base64>`, space-separated) as hex."""
    out: list[HashType] = []
    if not isinstance(integrity, str):
        return out
    for token in integrity.split():
        alg, _, b64 = token.partition("-")
        if alg.lower() not in _SRI_ALGS or not b64:
            continue
        try:
            digest = base64.b64decode(b64, validate=True).hex()
        except (binascii.Error, ValueError):
            continue
        out.append(HashType(alg=_SRI_ALGS[alg.lower()], content=digest))
    return out


def load_json(data: bytes, source: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LockfileError(source, f"not valid JSON: {exc}") from None


def decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LockfileError(source, f"not UTF-8 text: {exc}") from None


def dedupe(components: Iterable[Component]) -> list[Component]:
    """One component per purl, first occurrence wins, except that a package is only dev when
    every occurrence is (a shared package needed at run time is not a dev package)."""
    seen: dict[str, Component] = {}
    for comp in components:
        key = str(comp.bom_ref.value)
        kept = seen.get(key)
        if kept is None:
            seen[key] = comp
        elif is_dev(kept) and not is_dev(comp):
            for prop in [p for p in kept.properties if p.name == DEV_PROPERTY]:
                kept.properties.remove(prop)
    return list(seen.values())


def require_text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
