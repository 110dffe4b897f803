"""pip requirements files (`requirements*.txt`): the exactly pinned lines (`==`, `===`).

pip's format: one requirement per line, `\\` continues a line, `#` after whitespace starts a
comment, options start with `-` (`-r`, `-c`, `-e`, `--index-url`), per-requirement options
(`--hash=sha256:...`) follow the requirement, environment markers follow `;`.

Only a pin says which version gets installed, so only pins become components: ranges
(`>=1.0`), wildcards (`==1.*`), URLs (`name @ https://...`) and editable installs say nothing
an advisory database could match. Markers are not evaluated: a pin for another platform is
still listed (an SBOM errs on the side of the package being there). `-r other.txt` is not
followed; the SBOM stage reads every requirements file of the tree anyway. `--hash` values
are kept as the component's hashes.
"""

from __future__ import annotations

import re

from packageurl import PackageURL

from secpipe.sbom._common import (
    Component, LockfileError, decode, dedupe, hex_hash, make_component,
)

_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*"
    r"(?P<op>===|==)\s*(?P<version>[A-Za-z0-9][A-Za-z0-9.+!_-]*)\s*$")
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\s*(?:\[[^\]]*\])?")
_HASH = re.compile(r"--hash[=\s]+(sha256|sha384|sha512):([0-9a-fA-F]+)")


def parse(data: bytes, source: str = "requirements.txt") -> list[Component]:
    text = decode(data, source)
    out: list[Component] = []
    for lineno, line in _logical_lines(text):
        if not line or line.startswith("-"):
            continue  # an option line: -r, -c, -e, --index-url, --find-links ...
        hashes = [h for h in (hex_hash(a, d) for a, d in _HASH.findall(line)) if h]
        requirement = re.split(r"\s--?[a-z]", " " + line, maxsplit=1)[0].strip()
        requirement = requirement.split(";", 1)[0].strip()
        if not requirement:
            continue
        match = _PIN.match(requirement)
        if match is None:
            if not (_NAME.match(requirement) or requirement.startswith((".", "/", "~"))
                    or "://" in requirement):
                raise LockfileError(source, f"line {lineno}: not a requirement: "
                                            f"{requirement[:60]!r}")
            continue  # unpinned, a range, a URL or a local path: no version to report
        version = match["version"]
        if "*" in version:
            continue
        name = match["name"]
        out.append(make_component(PackageURL(type="pypi", name=name, version=version),
                                  name=name, hashes=hashes))
    return dedupe(out)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with continuations joined and comments removed, numbered by their first line."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = lineno
        line = re.sub(r"(^|\s)#.*$", "", raw)
        if line.rstrip().endswith("\\"):
            buf.append(line.rstrip()[:-1])
            continue
        buf.append(line)
        out.append((start, " ".join(part.strip() for part in buf).strip()))
        buf = []
    if buf:
        out.append((start, " ".join(part.strip() for part in buf).strip()))
    return out
