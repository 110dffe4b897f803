"""Pipfile.lock (pipenv): JSON `{_meta, default: {name: {version: "==1.2.3", hashes,
markers, index}}, develop: {...}}`.

`default` is what the application installs, `develop` what `pipenv install --dev` adds (marked
dev). Entries without a `version` are git, path or editable installs, with no index version an
advisory database could match, and are left out.
"""

from __future__ import annotations

from typing import Any, Mapping

from packageurl import PackageURL

from secpipe.sbom._common import (
    Component, LockfileError, dedupe, hex_hash, load_json, make_component, require_text,
)



def parse(data: bytes, source: str = "Pipfile.lock") -> list[Component]:
    doc = load_json(data, source)
    if not isinstance(doc, dict):
        raise LockfileError(source, f"a Pipfile.lock is a JSON object, got {type(doc).__name__}")
    if "_meta" not in doc and "default" not in doc and "develop" not in doc:
        raise LockfileError(source, "not a Pipfile.lock: no _meta, default or develop")
    out: list[Component] = []
    for section, dev in (("default", False), ("develop", True)):
        entries = doc.get(section) or {}
        if not isinstance(entries, dict):
            raise LockfileError(source, f"'{section}' should be an object")
        for name, meta in entries.items():
            if not isinstance(meta, dict):
                raise LockfileError(source, f"{section}[{name!r}] should be an object")
            version = require_text(meta.get("version"))
            if not version:
                continue
            if not version.startswith("=="):
                raise LockfileError(source, f"{section}[{name!r}].version {version!r} is "
                                            "not a pin (==)")
            version = version.lstrip("=").strip()
            out.append(make_component(PackageURL(type="pypi", name=name, version=version),
                                      name=name, dev=dev, hashes=_hashes(meta)))
    return dedupe(out)


def _hashes(meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    hashes = meta.get("hashes")
    for entry in hashes if isinstance(hashes, list) else []:
        alg, _, digest = str(entry).partition(":")
        found = hex_hash(alg, digest)
        if found:
            out.append(found)
    return out
