"""yarn.lock: classic (v1, yarn's own near-YAML) and berry (yarn 2+, real YAML with
`__metadata`).

* v1: each entry starts at column 0 with the comma-separated specifiers it satisfies
  (`"@babel/core@^7.0.0", "@babel/core@^7.1.0":`), then two-space indented fields
  (`version "7.1.2"`, `resolved`, `integrity`) and deeper blocks (`dependencies:`).
* berry: `"name@npm:^1.0.0, name@npm:^1.1.0": {version, resolution: "name@npm:1.1.3",
  checksum, languageName, linkType}`; `resolution` always names the real package, also for
  aliases.

Only packages from the registry are components (v1 specifiers without a protocol or with
`npm:`, berry resolutions with `npm:`): workspaces, links, portals, patches (the patched package
is listed again unpatched), git and file sources have no registry version to match. yarn.lock
does not record which packages only development needs, so none is marked dev.
"""

from __future__ import annotations

import re

import yaml

from secpipe.sbom._common import (
    Component, LockfileError, decode, dedupe, make_component, sri_hashes,
)
from secpipe.sbom.npm import npm_purl

_REGISTRY_VERSION = re.compile(r"^v?\d[\w.+-]*$")
# A range after the name that points outside the registry (a protocol or a URL).
# A semver range never holds a "/" (GitHub shorthand `user/repo`), nor starts with a path.
_NON_REGISTRY = re.compile(r"^(?!npm:)[a-z][a-z0-9+.-]*:|^[./]|/")


def parse(data: bytes, source: str = "yarn.lock") -> list[Component]:
    text = decode(data, source)
    if re.search(r"^__metadata:\s*$", text, re.MULTILINE):
        return dedupe(_berry(text, source))
    return dedupe(_classic(text, source))


def split_spec(spec: str) -> tuple[str, str]:
    """`@scope/name@range` -> (`@scope/name`, `range`)."""
    at = spec.find("@", 1)
    if at <= 0:
        return spec, ""
    return spec[:at], spec[at + 1:]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def _classic(text: str, source: str) -> list[Component]:
    entries: list[tuple[int, list[str], dict[str, str]]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if indent == 0:
            if not stripped.endswith(":"):
                raise LockfileError(source, f"line {lineno}: expected an entry header "
                                            f"ending in ':', got {stripped[:60]!r}")
            specs = [_unquote(s) for s in stripped[:-1].split(",") if s.strip()]
            entries.append((lineno, specs, {}))
        elif indent == 2:
            if not entries:
                raise LockfileError(source, f"line {lineno}: a field before any entry")
            if stripped.endswith(":"):
                continue  # the start of a nested block (dependencies:)
            key, _, value = stripped.partition(" ")
            entries[-1][2][key] = _unquote(value)
    out: list[Component] = []
    for lineno, specs, fields in entries:
        if not specs:
            raise LockfileError(source, f"line {lineno}: an entry without a package specifier")
        name, rng = split_spec(specs[0])
        version = fields.get("version", "")
        if not version:
            raise LockfileError(source, f"line {lineno}: entry {specs[0]!r} has no version")
        if rng.startswith("npm:"):  # an alias: "alias@npm:real@^1.0.0"
            name, rng = split_spec(rng[4:])
        if _NON_REGISTRY.search(rng) or not _REGISTRY_VERSION.match(version):
            continue
        out.append(make_component(npm_purl(name, version), name=name,
                                  hashes=sri_hashes(fields.get("integrity"))))
    return out


def _berry(text: str, source: str) -> list[Component]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LockfileError(source, f"not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise LockfileError(source, "a yarn berry lockfile is a YAML mapping")
    out: list[Component] = []
    for key, entry in doc.items():
        if key == "__metadata":
            continue
        if not isinstance(entry, dict):
            raise LockfileError(source, f"entry {str(key)[:60]!r} should be a mapping")
        resolution = str(entry.get("resolution") or "")
        if not resolution:
            raise LockfileError(source, f"entry {str(key)[:60]!r} has no resolution")
        name, ref = split_spec(resolution)
        if not ref.startswith("npm:") or entry.get("linkType") == "soft":
            continue
        version = ref[4:]
        if not _REGISTRY_VERSION.match(version):
            continue
        out.append(make_component(npm_purl(name, version), name=name))
    return out
