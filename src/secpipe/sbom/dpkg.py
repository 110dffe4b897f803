"""Debian/Ubuntu installed packages: dpkg's status database (`var/lib/dpkg/status`, and the
one-file-per-package `var/lib/dpkg/status.d/*` of distroless images).

deb822 stanzas separated by blank lines; a line starting with whitespace continues the field
above. Only packages whose `Status` ends in `installed` count (`deinstall ok config-files` is a
removed package whose configuration stayed); distroless stanzas carry no Status and are all
installed. The purl follows syft and the purl spec:
`pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl`, where
`upstream` is the source package, which is what Debian's security tracker (and OSV's Debian
ecosystem) keys advisories by.
"""

from __future__ import annotations

import re
from typing import Iterator

from packageurl import PackageURL

from secpipe.sbom._common import Component, LockfileError, decode, dedupe, make_component

_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]+)\))?$")


def parse(data: bytes, source: str = "var/lib/dpkg/status", *, vendor: str = "debian",
          distro: str | None = None) -> list[Component]:
    """`vendor` and `distro` come from the image's os-release (`debian`, `debian-12`)."""
    out: list[Component] = []
    for lineno, fields in stanzas(decode(data, source), source):
        name, version = fields.get("package", ""), fields.get("version", "")
        if not name or not version:
            raise LockfileError(source, f"stanza at line {lineno} has no Package or Version")
        status = fields.get("status")
        if status is not None and not status.split()[-1:] == ["installed"]:
            continue
        qualifiers: dict[str, str] = {}
        if fields.get("architecture"):
            qualifiers["arch"] = fields["architecture"]
        if distro:
            qualifiers["distro"] = distro
        src = _SOURCE.match(fields.get("source", ""))
        if src and src["name"] != name:
            qualifiers["upstream"] = src["name"]
        purl = PackageURL(type="deb", namespace=vendor, name=name, version=version,
                          qualifiers=qualifiers or None)
        out.append(make_component(purl, name=name))
    return dedupe(out)


def stanzas(text: str, source: str) -> Iterator[tuple[int, dict[str, str]]]:
    """deb822 paragraphs as lower-cased field -> value (continuation lines joined)."""
    fields: dict[str, str] = {}
    start, last = 0, ""
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if fields:
                yield start, fields
            fields, last = {}, ""
            continue
        if line[0] in " \t":
            if not last:
                raise LockfileError(source, f"line {lineno}: a continuation line with no field")
            fields[last] += "\n" + line.strip()
            continue
        key, sep, value = line.partition(":")
        if not sep or not key or " " in key:
            raise LockfileError(source, f"line {lineno}: expected `Field: value`, got "
                                        f"{line[:60]!r}")
        if not fields:
            start = lineno
        last = key.lower()
        fields[last] = value.strip()
    if fields:
        yield start, fields
