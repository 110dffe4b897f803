"""What every vulnerability-report parser shares: ids, severities from CVSS, purls, the Finding.

Each SCA tool names the same problem its own way (a GHSA with a related CVE, a PYSEC id with
aliases, an npm advisory number, an OSS Index UUID). To make the same vulnerability look the
same whatever the tool, a finding's id is chosen here once: the first CVE among all the ids the
tool gives, else the first GHSA, else the tool's own id; the others become aliases. The ASFF
`Vulnerabilities` entry therefore always carries the CVE/GHSA ids a reader searches for.

Severity is the tool's own rating when it gives one; a missing or "unknown" rating falls back on
the CVSS base score (computed from the vector for CVSS v2 and v3.x when only a vector is given,
as OSV records do), using the CVSS v3 qualitative scale for every version.
"""

from __future__ import annotations

import functools
import math
import re
import xml.etree.ElementTree as ET
from typing import Any, Callable, Iterable, Mapping, Sequence

from packageurl import PackageURL

from secpipe.formats._common import check_document_size, text
from secpipe.formats.interface import ReportFormatError
from secpipe.model import Category, Finding, Location, Resource, Severity, Vulnerability

MAX_URLS = 10
# Words tools print when they have no rating: fall back on CVSS rather than trusting them.
_UNRATED_WORDS = frozenset({"", "unknown", "unspecified", "untriaged", "undefined", "n/a"})
# Placeholders some tools print instead of leaving a field out.
_EMPTY = frozenset({"", "none", "null", "n/a", "na", "notavailable", "not available", "-"})
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CVE = re.compile(r"^CVE-\d{4}-\d+$", re.IGNORECASE)
_GHSA = re.compile(r"^GHSA(-[23456789cfghjmpqrvwx]{4}){3}$", re.IGNORECASE)


def guarded(name: str) -> Callable[[Callable[[bytes, str], Sequence[Finding]]],
                                   Callable[[bytes, str], Sequence[Finding]]]:
    """A parser's last safety net: a field of an unexpected JSON type deep in a report becomes
    a ReportFormatError naming the report, never a traceback. Parsers still check the shapes
    they rely on themselves, to say more precisely what is wrong."""
    def wrap(parse: Callable[[bytes, str], Sequence[Finding]]
             ) -> Callable[[bytes, str], Sequence[Finding]]:
        @functools.wraps(parse)
        def safe(data: bytes, source: str = f"<{name}>") -> Sequence[Finding]:
            try:
                return parse(data, source)
            except ReportFormatError:
                raise
            except (TypeError, ValueError, AttributeError, KeyError, IndexError,
                    RecursionError) as exc:
                raise ReportFormatError(
                    source, f"not a valid {name} report ({type(exc).__name__}: {exc})") from None
        return safe
    return wrap


def clean(value: Any) -> str:
    """A scalar as stripped text, with tools' placeholders ("None", "N/A") read as empty."""
    out = _CONTROL.sub("", text(value)).strip()
    return "" if out.lower() in _EMPTY else out


def number(value: Any) -> float | None:
    """A score as float; negative (anchore's -1.0 for "no score"), NaN, Infinity or junk
    become None."""
    if isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out >= 0 and math.isfinite(out) else None


def maps(value: Any) -> list[Mapping[str, Any]]:
    """The objects of a JSON array, skipping anything else (and anything that is no array)."""
    return [x for x in value if isinstance(x, Mapping)] if isinstance(value, list) else []


def versions_text(value: Any) -> str:
    """Fixed versions as one readable string: a list or "a,b" becomes "a, b"."""
    items = value if isinstance(value, (list, tuple)) else text(value).split(",")
    return ", ".join(dict.fromkeys(c for c in (clean(i) for i in items) if c))


def split_ids(ids: Iterable[Any]) -> tuple[str, tuple[str, ...]]:
    """(primary id, aliases): CVE first, else GHSA, else the first id given."""
    seen = list(dict.fromkeys(clean(i) for i in ids if clean(i)))
    if not seen:
        return "UNIDENTIFIED", ()
    primary = next((i for i in seen if _CVE.match(i)),
                   next((i for i in seen if _GHSA.match(i)), seen[0]))
    return primary, tuple(i for i in seen if i != primary)


def cwe_ids(values: Any) -> tuple[str, ...]:
    """CWE ids from whatever a tool writes: 79, "CWE-79", "CWE-79 Name", '["CWE-79"]'."""
    if values is None:
        return ()
    items = values if isinstance(values, (list, tuple)) else [values]
    out = []
    for item in items:
        if isinstance(item, Mapping):
            item = item.get("cweId") or item.get("id") or item.get("cwe")
        words = text(item)
        # "CWE-79 Name 2" names one CWE; only a bare number ("79") is read without its prefix
        # at most 9 digits: int() refuses thousands (ValueError) and no CWE is that long
        pattern = (r"CWE-(\d{1,9})(?!\d)" if "CWE-" in words.upper()
                   else r"^\s*(\d{1,9})\s*$")
        for match in re.finditer(pattern, words, re.IGNORECASE):
            if int(match.group(1)) > 0:
                out.append(f"CWE-{int(match.group(1))}")
    return tuple(dict.fromkeys(out))


# --- CVSS ----------------------------------------------------------------------------------

_V3 = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_V3_PR = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}
_V2 = {
    "AV": {"L": 0.395, "A": 0.646, "N": 1.0},
    "AC": {"H": 0.35, "M": 0.61, "L": 0.71},
    "Au": {"M": 0.45, "S": 0.56, "N": 0.704},
    "C": {"N": 0.0, "P": 0.275, "C": 0.660},
}


def _metrics(vector: str) -> dict[str, str]:
    body = vector.strip().strip("()")
    parts = [p for p in body.split("/") if ":" in p]
    return dict(p.split(":", 1) for p in parts)


def _roundup(value: float) -> float:
    """CVSS v3.1's Roundup: the smallest one-decimal number >= value, float-error proof."""
    whole = round(value * 100000)
    return whole / 100000.0 if whole % 10000 == 0 else (math.floor(whole / 10000) + 1) / 10.0


def cvss_base_score(vector: str | None) -> float | None:
    """The base score of a CVSS v3.x or v2 vector; None for v4 or anything unreadable."""
    if not vector:
        return None
    try:
        m = _metrics(vector)
        if m.get("CVSS", "3").startswith("3") and "PR" in m and "S" in m:
            scope = m["S"]
            iss = 1 - math.prod(1 - _V3["C"][m[k]] for k in ("C", "I", "A"))
            if scope == "U":
                impact = 6.42 * iss
            elif scope == "C":
                impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15
            else:
                return None
            exploit = (8.22 * _V3["AV"][m["AV"]] * _V3["AC"][m["AC"]]
                       * _V3_PR[scope][m["PR"]] * _V3["UI"][m["UI"]])
            if impact <= 0:
                return 0.0
            total = impact + exploit if scope == "U" else 1.08 * (impact + exploit)
            return _roundup(min(total, 10.0))
        if "Au" in m and "CVSS" not in m or m.get("CVSS", "").startswith("2"):
            impact = 10.41 * (1 - math.prod(1 - _V2["C"][m[k]] for k in ("C", "I", "A")))
            exploit = 20 * _V2["AV"][m["AV"]] * _V2["AC"][m["AC"]] * _V2["Au"][m["Au"]]
            f_impact = 0.0 if impact == 0 else 1.176
            return round(((0.6 * impact) + (0.4 * exploit) - 1.5) * f_impact + 1e-9, 1)
    except (KeyError, ValueError):
        return None
    return None


def severity_from_score(score: float | None) -> Severity | None:
    """CVSS v3 qualitative rating: 0 none, <4 low, <7 medium, <9 high, else critical."""
    if score is None:
        return None
    if score <= 0:
        return Severity.INFORMATIONAL
    if score < 4:
        return Severity.LOW
    if score < 7:
        return Severity.MEDIUM
    if score < 9:
        return Severity.HIGH
    return Severity.CRITICAL


def rate(word: Any, score: float | None = None, vector: str | None = None,
         unrated: Severity = Severity.INFORMATIONAL) -> tuple[Severity, str]:
    """(severity, original word): the tool's word, else the CVSS score, else `unrated`."""
    original = text(word).strip()
    if original.lower() not in _UNRATED_WORDS:
        found = Severity.parse(original, None) if original.lower() in _KNOWN else None
        if found is not None:
            return found, original
    if score is None:
        score = cvss_base_score(vector)
    from_score = severity_from_score(score)
    if from_score is not None:
        return from_score, original or f"CVSS {score:.1f}"
    return unrated, original or "unrated"


_KNOWN = frozenset({
    "informational", "information", "info", "none", "note", "negligible", "low", "medium",
    "moderate", "high", "important", "critical", "very high",
})


# --- packages ------------------------------------------------------------------------------

# OSV ecosystems (also used by npm/pip tools) -> purl types.
_ECOSYSTEM_TYPES = {
    "npm": "npm", "pypi": "pypi", "go": "golang", "maven": "maven", "crates.io": "cargo",
    "rubygems": "gem", "nuget": "nuget", "packagist": "composer", "pub": "pub", "hex": "hex",
    "debian": "deb", "ubuntu": "deb", "alpine": "apk", "rocky linux": "rpm",
    "almalinux": "rpm", "red hat": "rpm", "swifturl": "swift", "cran": "cran",
    "hackage": "hackage", "conan": "conan", "github actions": "github",
}


def purl(ptype: str, name: str, version: str | None = None, namespace: str | None = None,
         qualifiers: Mapping[str, str] | None = None) -> str | None:
    """A package URL, or None when the parts do not make one (never raises)."""
    if not ptype or not name:
        return None
    if namespace is None and ptype in ("npm", "golang", "composer", "github", "swift") \
            and "/" in name:
        namespace, name = name.rsplit("/", 1)
    if namespace is None and ptype == "maven" and ":" in name:
        namespace, name = name.split(":", 1)
    try:
        return PackageURL(type=ptype, namespace=namespace or None, name=name,
                          version=version or None, qualifiers=dict(qualifiers or {})).to_string()
    except (ValueError, TypeError):
        return None


def ecosystem_purl(ecosystem: str, name: str, version: str | None = None) -> str | None:
    """The purl of a package named in an OSV ecosystem ("PyPI", "Debian:12", "Go", ...)."""
    base, _, release = clean(ecosystem).partition(":")
    ptype = _ECOSYSTEM_TYPES.get(base.lower())
    if ptype is None:
        return None
    namespace = None
    qualifiers: dict[str, str] = {}
    if ptype in ("deb", "apk", "rpm"):
        namespace = base.lower().replace(" ", "")
        if release:
            qualifiers["distro"] = f"{namespace}-{release}"
    return purl(ptype, name, version, namespace, qualifiers)


def purl_parts(value: str) -> tuple[str, str] | None:
    """(display name, version) from a purl; maven shows as group:artifact like the tools do."""
    try:
        parsed = PackageURL.from_string(value)
    except ValueError:
        return None
    sep = ":" if parsed.type == "maven" else "/"
    name = f"{parsed.namespace}{sep}{parsed.name}" if parsed.namespace else parsed.name
    return name, parsed.version or ""


def package_resource(purl_: str | None, name: str, version: str,
                     details: Mapping[str, str] | None = None) -> Resource:
    rid = purl_ or (f"{name}@{version}" if version else name) or "unknown-package"
    return Resource(type="Other", id=rid, details={k: v for k, v in (details or {}).items() if v})


def image_resource(image: str, name: str, version: str, purl_: str | None = None,
                   details: Mapping[str, str] | None = None) -> Resource:
    """The scanned image as the ASFF resource, naming the package in its details."""
    extra = {"package": name, "version": version, "purl": purl_ or ""}
    extra.update(details or {})
    return Resource(type="Container", id=image, details={k: v for k, v in extra.items() if v})


# --- the finding ---------------------------------------------------------------------------

def vuln_finding(*, tool: str, vid: str, aliases: Sequence[str] = (), package: str,
                 version: str, fixed: str = "", severity: Severity, severity_original: str,
                 summary: str = "", description: str = "", cvss_score: float | None = None,
                 cvss_vector: str | None = None, urls: Iterable[str] = (),
                 resource: Resource | None = None, location: Location | None = None,
                 cwe: Sequence[str] = (), key_extra: str = "", remediation: str | None = None,
                 extra_lines: Iterable[str] = (),
                 vulnerabilities: Sequence[Vulnerability] | None = None,
                 properties: Mapping[str, str] | None = None) -> Finding:
    """One vulnerable package as a Finding, titled "<id> <package> <version>".

    The location key is id + package + version (+ `key_extra`, e.g. the path of the copy in an
    image when one image holds several): no line numbers exist in these reports.
    """
    refs = tuple(dict.fromkeys(u for u in (clean(u) for u in urls) if u))[:MAX_URLS]
    lines = [p for p in (summary, description) if p]
    lines.append(f"Package: {package} {version}".rstrip())
    lines.append(f"Fixed version: {fixed or 'none known'}")
    lines.extend(extra_lines)
    if remediation is None and fixed and package:
        remediation = f"Upgrade {package} to {fixed}."
    if vulnerabilities is None:
        vulnerabilities = (Vulnerability(
            id=vid, package=package or None, version=version or None,
            fixed_version=fixed or None, aliases=tuple(aliases), cvss_score=cvss_score,
            cvss_vector=cvss_vector or None, urls=refs[:5]),)
    key = "|".join([vid, package, version] + ([key_extra] if key_extra else []))
    return Finding(
        tool=tool,
        rule_id=vid,
        title=" ".join(p for p in (vid, package, version) if p),
        description="\n".join(lines),
        severity=severity,
        severity_original=severity_original or None,
        category=Category.VULNERABILITY,
        location=location,
        resource=resource,
        remediation=remediation,
        remediation_url=refs[0] if refs else None,
        references=refs,
        cwe=tuple(cwe),
        vulnerabilities=tuple(vulnerabilities),
        location_key=key,
        properties={k: v for k, v in (properties or {}).items() if v},
    )


def relative_path(path: str) -> str:
    """A tool's path as a Location path: forward slashes, no leading slash."""
    return clean(path).replace("\\", "/").lstrip("/")


# --- XML -----------------------------------------------------------------------------------

_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def parse_xml(data: bytes, source: str) -> ET.Element:
    """Parse an XML report, refusing DTDs and entities (XXE, billion laughs) before parsing."""
    if not data.strip():
        raise ReportFormatError(source, "the report is empty")
    check_document_size(data, source)
    if _DTD.search(data):
        raise ReportFormatError(
            source, "the XML declares a DTD or entities, which a scanner report never needs; "
            "refusing to parse it")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise ReportFormatError(source, f"not well-formed XML: {exc}") from None


def local(tag: Any) -> str:
    """An element's tag without its namespace: schema versions change namespaces, not names."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def children(elem: ET.Element | None, name: str) -> list[ET.Element]:
    return [c for c in elem if local(c.tag) == name] if elem is not None else []


def child(elem: ET.Element | None, *path: str) -> ET.Element | None:
    for name in path:
        found = children(elem, name)
        elem = found[0] if found else None
        if elem is None:
            return None
    return elem


def child_text(elem: ET.Element | None, *path: str) -> str:
    found = child(elem, *path)
    return " ".join((found.text or "").split()) if found is not None else ""
