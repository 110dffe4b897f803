"""Alpine (and Wolfi) installed packages: apk's database `lib/apk/db/installed`.

One package per blank-line separated block of `X:value` lines: `P` name, `V` version, `A`
architecture, `o` origin (the source package, what Alpine's secdb keys advisories by), plus
file lists (`F`, `R`, `Z`...) that are not needed here. The purl follows syft:
`pkg:apk/alpine/busybox@1.36.1-r5?arch=x86_64&distro=alpine-3.19.1&upstream=busybox`.
"""

from __future__ import annotations

from packageurl import PackageURL

from secpipe.sbom._common import Component, LockfileError, decode, dedupe, make_component


def parse(data: bytes, source: str = "lib/apk/db/installed", *, vendor: str = "alpine",
          distro: str | None = None) -> list[Component]:
    out: list[Component] = []
    block: dict[str, str] = {}
    start = 0
    lines = decode(data, source).splitlines()
    for lineno, line in enumerate([*lines, ""], 1):
        if not line.strip():
            if block:
                out.append(_component(block, source, start, vendor, distro))
            block = {}
            continue
        if len(line) < 2 or line[1] != ":":
            raise LockfileError(source, f"line {lineno}: expected `X:value`, got {line[:60]!r}")
        if not block:
            start = lineno
        block.setdefault(line[0], line[2:])  # per-file keys repeat; the package keys do not
    return dedupe(out)


def _component(block: dict[str, str], source: str, lineno: int, vendor: str,
               distro: str | None) -> Component:
    name, version = block.get("P", "").strip(), block.get("V", "").strip()
    if not name or not version:
        raise LockfileError(source, f"package at line {lineno} has no P: (name) or V: (version)")
    qualifiers: dict[str, str] = {}
    if block.get("A"):
        qualifiers["arch"] = block["A"].strip()
    if distro:
        qualifiers["distro"] = distro
    origin = block.get("o", "").strip()
    if origin and origin != name:
        qualifiers["upstream"] = origin
    return make_component(PackageURL(type="apk", namespace=vendor, name=name, version=version,
                                     qualifiers=qualifiers or None), name=name)
