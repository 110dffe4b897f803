"""poetry.lock: TOML with one `[[package]]` table per locked distribution and `[metadata]`.

Each package has `name`, `version`, `optional`, `python-versions` and `files` (hashes); Poetry
before 1.5 writes `category = "main" | "dev"`, Poetry 2 writes `groups = ["main", "dev"]`, and
1.5-1.8 records neither (nothing is marked dev then). `[package.source]` says where a package
came from: `git`, `directory`, `file` and `url` sources are not on an index, so their version
means nothing to an advisory database and they are left out; `legacy` (a private index) stays.
"""

from __future__ import annotations

import sys
from typing import Any

from packageurl import PackageURL

from secpipe.sbom._common import (
    Component, LockfileError, decode, dedupe, hex_hash, make_component, require_text,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_OFF_INDEX = frozenset({"git", "directory", "file", "url"})


def parse(data: bytes, source: str = "poetry.lock") -> list[Component]:
    try:
        doc = tomllib.loads(decode(data, source))
    except tomllib.TOMLDecodeError as exc:
        raise LockfileError(source, f"not valid TOML: {exc}") from None
    packages = doc.get("package")
    if packages is None:
        if "metadata" not in doc:
            raise LockfileError(source, "not a poetry.lock: no [[package]] and no [metadata]")
        return []
    if not isinstance(packages, list):
        raise LockfileError(source, "'package' should be an array of tables ([[package]])")
    out: list[Component] = []
    for i, pkg in enumerate(packages):
        if not isinstance(pkg, dict):
            raise LockfileError(source, f"package[{i}] should be a table")
        name, version = require_text(pkg.get("name")), require_text(pkg.get("version"))
        if not name or not version:
            raise LockfileError(source, f"package[{i}] needs a name and a version")
        src = pkg.get("source")
        if isinstance(src, dict) and str(src.get("type", "")).lower() in _OFF_INDEX:
            continue
        out.append(make_component(PackageURL(type="pypi", name=name, version=version),
                                  name=name, dev=_is_dev(pkg), hashes=_hashes(pkg)))
    return dedupe(out)


def _is_dev(pkg: dict[str, Any]) -> bool:
    if pkg.get("category") == "dev":
        return True
    groups = pkg.get("groups")
    return isinstance(groups, list) and bool(groups) and "main" not in groups


def _hashes(pkg: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    files = pkg.get("files")
    for entry in files if isinstance(files, list) else []:
        value = entry.get("hash", "") if isinstance(entry, dict) else ""
        alg, _, digest = str(value).partition(":")
        found = hex_hash(alg, digest)
        if found:
            out.append(found)
    return out
