"""The matcher (secpipe's grype): an SBOM's purls against the OSV database.

For every component with a purl of a supported ecosystem, every stored `affected[]` entry for
its (ecosystem, normalised name) — and for distribution packages its source package and
release — is evaluated with OSV's algorithm under the ecosystem's version rules
(:mod:`secpipe.vulndb.versions`). The result is a list of matches that becomes both
Findings and a CycloneDX-with-vulnerabilities report (:mod:`secpipe.vulndb.report`); the report
parses with secpipe's own `cyclonedx` format to the same findings.

What cannot be checked is said, never dropped: components without a purl or of an
unsupported type, versions the ecosystem's rules cannot read, and ecosystems for which the
database holds no advisory at all (:meth:`MatchResult.empty_ecosystems`) — an empty database
must not read as "no vulnerabilities".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Iterator, Mapping, Sequence

from secpipe.formats._vuln import cvss_base_score as _cvss_base_score
from secpipe.formats._vuln import severity_from_score
from secpipe.model import Severity
from secpipe.vulndb.ecosystems import (Package, UnsupportedPurl, canonical, package_from_purl,
                                       releases_match)
from secpipe.vulndb.store import VulnDB
from secpipe.vulndb.versions import is_affected, supported


@dataclass(frozen=True)
class Rating:
    """One rating as the report carries it (CycloneDX `ratings[]`)."""

    method: str                     # CVSSv31, CVSSv3, CVSSv2, CVSSv4, other
    severity: str = ""              # CycloneDX word: critical/high/medium/low/info/none
    score: float | None = None
    vector: str = ""
    source: str = ""


@dataclass(frozen=True)
class Match:
    package: Package
    component: Mapping[str, Any]    # the SBOM component (name, version, purl, bom-ref...)
    advisory: Mapping[str, Any]     # store metadata: id, aliases, summary, severity...
    fixed: tuple[str, ...] = ()
    last_affected: str = ""
    how: str = "range"
    affected_severity: tuple[Mapping[str, str], ...] = ()


@dataclass
class MatchResult:
    packages: list[Package]
    matches: list[Match]
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (component, why)
    notes: list[str] = field(default_factory=list)
    advisory_counts: dict[str, int] = field(default_factory=dict)  # base -> advisories in DB

    def empty_ecosystems(self) -> list[str]:
        """Ecosystems the SBOM has packages of but the database has no advisory for."""
        return sorted(canonical(b) for b, n in self.advisory_counts.items() if n == 0)


# --- the SBOM ------------------------------------------------------------------------------

def iter_components(doc: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every component of a CycloneDX JSON BOM, nested ones included (not the subject)."""
    stack = list(reversed(doc.get("components") or [])) if isinstance(
        doc.get("components"), list) else []
    while stack:
        comp = stack.pop()
        if not isinstance(comp, Mapping):
            continue
        yield comp
        nested = comp.get("components")
        if isinstance(nested, list):
            stack.extend(reversed(nested))


def load_sbom(data: bytes, source: str = "<sbom>") -> dict[str, Any]:
    """A CycloneDX JSON BOM as a dict; ValueError with a clear message for anything else."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{source}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise ValueError(f"{source}: not a CycloneDX JSON SBOM (no \"bomFormat\": \"CycloneDX\")")
    if doc.get("components") is not None and not isinstance(doc["components"], list):
        raise ValueError(f"{source}: \"components\" is not an array")
    return doc


def packages_of(doc: Mapping[str, Any]) -> tuple[list[tuple[Package, Mapping[str, Any]]],
                                                 list[tuple[str, str]]]:
    """(package, component) per distinct purl, and (component, why) for those skipped."""
    found: list[tuple[Package, Mapping[str, Any]]] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for comp in iter_components(doc):
        purl = comp.get("purl")
        label = str(comp.get("bom-ref") or comp.get("name") or "?")
        if not isinstance(purl, str) or not purl.strip():
            skipped.append((label, "no purl"))
            continue
        purl = purl.strip()
        if purl in seen:
            continue
        seen.add(purl)
        try:
            pkg = package_from_purl(purl, ref=str(comp.get("bom-ref") or purl))
        except UnsupportedPurl as exc:
            skipped.append((purl, str(exc)))
            continue
        except ValueError as exc:
            skipped.append((purl, f"malformed purl: {exc}"))
            continue
        if not pkg.version:
            skipped.append((purl, "no version"))
            continue
        if not supported(pkg.base):
            skipped.append((purl, f"no version rules for {pkg.ecosystem}"))
            continue
        found.append((pkg, comp))
    return found, skipped


def sbom_from_purls(purls: Iterable[str]) -> dict[str, Any]:
    """A minimal CycloneDX BOM listing `purls` (to match purls without an SBOM)."""
    comps = []
    for purl in dict.fromkeys(p.strip() for p in purls if p.strip()):
        comps.append({"type": "library", "bom-ref": purl, "purl": purl,
                      "name": purl.split("/")[-1].split("@")[0], "version": (
                          purl.split("@", 1)[1].split("?")[0] if "@" in purl else "")})
    return {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": comps}


# --- severity ------------------------------------------------------------------------------

cvss_base_score = lru_cache(maxsize=4096)(_cvss_base_score)  # a few hundred vectors repeat

_WORDS = {Severity.CRITICAL: "critical", Severity.HIGH: "high", Severity.MEDIUM: "medium",
          Severity.LOW: "low", Severity.INFORMATIONAL: "info"}


def ratings_of(advisory: Mapping[str, Any], affected_severity: Sequence[Mapping[str, str]] = ()
               ) -> list[Rating]:
    """CVSS vectors (top-level severity[], else the package's) with computed base scores, then
    the database's own word (GHSA's database_specific.severity, an ecosystem's severity)."""
    out: list[Rating] = []
    entries = list(advisory.get("severity") or []) or list(affected_severity)
    words = [advisory.get("db_severity") or ""]
    for entry in entries:
        kind, score_text = str(entry.get("type", "")).upper(), str(entry.get("score", ""))
        if kind == "WORD":
            words.append(score_text)
            continue
        if kind == "CVSS_V4" or score_text.startswith("CVSS:4"):
            out.append(Rating("CVSSv4", vector=score_text))
            continue
        if kind not in ("CVSS_V3", "CVSS_V2"):
            continue
        score = cvss_base_score(score_text)
        method = "CVSSv2" if kind == "CVSS_V2" else (
            "CVSSv31" if score_text.startswith("CVSS:3.1") else "CVSSv3")
        severity = severity_from_score(score)
        out.append(Rating(method, _WORDS[severity] if severity is not None else "", score,
                          score_text))
    for word in words:
        level = Severity.parse(word, None) if word else None
        if level is not None:
            out.append(Rating("other", _WORDS[level], source="database"))
            break
    return out


def severity_of(ratings: Sequence[Rating]) -> tuple[Severity, str, float | None, str | None]:
    """(severity, original word, CVSS score, vector): CVSS v3, else v2, else the database's
    word, else unrated (MEDIUM) — the same choice secpipe's cyclonedx parser makes."""
    v3 = [r for r in ratings if r.method in ("CVSSv31", "CVSSv3") and r.severity]
    v2 = [r for r in ratings if r.method == "CVSSv2" and r.severity]
    for r in v3 + v2:
        return Severity.parse(r.severity), r.severity, r.score, r.vector or None
    rated = [r for r in ratings if r.method == "other" and r.severity]
    if rated:
        top = max(rated, key=lambda r: Severity.parse(r.severity))
        return Severity.parse(top.severity), top.severity, None, None
    return Severity.MEDIUM, "unrated", None, None


# --- matching ------------------------------------------------------------------------------

class Matcher:
    """Matches packages against one database; reusable across SBOMs."""

    def __init__(self, db: VulnDB) -> None:
        self.db = db

    def match_sbom(self, doc: Mapping[str, Any]) -> MatchResult:
        pairs, skipped = packages_of(doc)
        result = self.match(pairs)
        result.skipped[:0] = skipped
        return result

    def match(self, pairs: Sequence[tuple[Package, Mapping[str, Any]]]) -> MatchResult:
        packages = [p for p, _ in pairs]
        result = MatchResult(packages, [])
        result.advisory_counts = self.db.count_for(p.base for p in packages)
        by_base: dict[str, list[tuple[Package, Mapping[str, Any]]]] = {}
        for pkg, comp in pairs:
            by_base.setdefault(pkg.base, []).append((pkg, comp))
        hits: list[tuple[Package, Mapping[str, Any], str, Any]] = []
        decoded: dict[int, list[Any]] = {}  # ranges JSON, decoded once per stored row
        if not self.db.path.exists():
            return result
        with self.db.engine.connect() as conn:
            for base, group in by_base.items():
                names = sorted({n for pkg, _ in group for n in pkg.lookup_names()})
                rows: dict[str, list[Any]] = {}
                for row in self.db.affected_rows(base, names, conn):
                    rows.setdefault(row.name, []).append(row)
                for pkg, comp in group:
                    for name in pkg.lookup_names():
                        for row in rows.get(name, ()):
                            if releases_match(row.release, pkg.release):
                                hits.append((pkg, comp, name, row))
            verdicts: dict[tuple[str, str], dict[str, Any]] = {}
            for pkg, comp, name, row in hits:
                key = id(row)
                if key not in decoded:
                    decoded[key] = json.loads(row.ranges)
                version = pkg.version_for(name)
                verdict = is_affected(pkg.base, version, decoded[key], row.versions)
                if not verdict.comparable:
                    result.notes.append(f"{pkg.purl}: {row.advisory_id} ranges could not be "
                                        f"evaluated under {pkg.ecosystem} rules for version "
                                        f"{version!r}; only its explicit versions were checked")
                if not verdict.affected:
                    continue
                slot = verdicts.setdefault((pkg.purl, row.advisory_id), {
                    "pkg": pkg, "comp": comp, "fixed": [], "last": "", "how": verdict.how,
                    "severity": tuple(json.loads(row.severity))})
                slot["fixed"] += [f for f in verdict.fixed if f not in slot["fixed"]]
                slot["last"] = slot["last"] or verdict.last_affected
            meta = self.db.advisories_by_id({adv for _, adv in verdicts}, conn)
        for (_purl, adv_id), slot in verdicts.items():
            advisory = meta.get(adv_id)
            if advisory is None or advisory.get("withdrawn"):
                continue
            result.matches.append(Match(slot["pkg"], slot["comp"], advisory,
                                        tuple(slot["fixed"]), slot["last"], slot["how"],
                                        slot["severity"]))
        result.matches.sort(key=lambda m: (m.package.purl, m.advisory["id"]))
        result.notes = list(dict.fromkeys(result.notes))
        return result

    def query(self, pkg: Package) -> list[str]:
        """Ids of the advisories affecting one package version (all of the package's
        advisories when it has no version), for the OSV-compatible API."""
        if not self.db.path.exists():
            return []
        ids: list[str] = []
        with self.db.engine.connect() as conn:
            for name in pkg.lookup_names():
                for row in self.db.affected_rows(pkg.base, [name], conn):
                    if not releases_match(row.release, pkg.release):
                        continue
                    if not pkg.version or is_affected(
                            pkg.base, pkg.version_for(name), json.loads(row.ranges),
                            row.versions).affected:
                        ids.append(row.advisory_id)
            ids = list(dict.fromkeys(ids))
            meta = self.db.advisories_by_id(ids, conn)
        return [i for i in ids if i in meta and not meta[i].get("withdrawn")]
