"""osv-scanner's JSON report (`osv-scanner --format json`).

`{results: [{source: {path, type}, packages: [{package: {name, version, ecosystem, commit},
vulnerabilities: [full OSV records], groups: [{ids, aliases, max_severity}]}]}]}`.

osv-scanner lists every OSV record that matched, and several records are often the same
vulnerability from different databases (GHSA-x and PYSEC-y for one CVE); it says so in `groups`,
and its own table prints one row per group. So does secpipe: one finding per group and package,
carrying every id of the group (CVE first, as everywhere). DefectDojo counts one finding per
record instead, so its counts are higher wherever a group holds more than one record. Records
outside any group (older osv-scanner printed no groups) are one finding each.

Severity: the group's `max_severity` (a CVSS score osv-scanner computed), else the best CVSS v3/v2
base score computed from the records' vectors, else the database's word (GHSA's
`database_specific.severity`). A malicious-package record (MAL-*) with no rating is CRITICAL: the
advice is that any machine that installed it is compromised. Anything else unrated is MEDIUM.

The fixed version is the `fixed` event of the affected range that contains the installed
version (compared with a generic numeric ordering), else the lowest fixed version above it.
An empty file is not a report: the run that should have written it failed (DefectDojo reads it
as "no findings").
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator, Mapping, Sequence

from secpipe.formats import _vuln as v
from secpipe.formats._common import as_list, dig, expect, load_json, objects, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding, Location, Resource, Severity

TOOL = "osv-scanner"
UNRATED = Severity.MEDIUM


@v.guarded("osv-scanner")
def parse(data: bytes, source: str = "<osv-scanner>") -> Sequence[Finding]:
    doc = load_json(data, source)
    if not isinstance(doc, dict):
        raise ReportFormatError(
            source, f"an osv-scanner report is an object, got {type(doc).__name__}")
    if "results" not in doc:
        raise ReportFormatError(source, "not an osv-scanner report: no 'results'")
    results = expect(doc["results"], list, source, "results")
    if not results and "experimental_config" not in doc:
        raise ReportFormatError(source, "not an osv-scanner report: empty 'results' without "
                                        "osv-scanner's 'experimental_config'")
    findings: list[Finding] = []
    for i, result in enumerate(objects(results, source, "results")):
        if not isinstance(result.get("source"), Mapping) or "packages" not in result:
            raise ReportFormatError(source, f"not an osv-scanner report: results[{i}] has no "
                                            "'source' object and 'packages'")
        src = result.get("source") if isinstance(result.get("source"), Mapping) else {}
        for j, pkg in enumerate(objects(result.get("packages"), source, f"results[{i}].packages")):
            what = f"results[{i}].packages[{j}]"
            try:
                findings.extend(_package(pkg, src, source, what))
            except (TypeError, ValueError, AttributeError, KeyError) as exc:
                raise ReportFormatError(
                    source, f"{what} is not an osv-scanner entry: {exc}") from None
    return findings


def _package(pkg: Mapping[str, Any], src: Mapping[str, Any], source: str, what: str
             ) -> Iterator[Finding]:
    info = pkg.get("package") if isinstance(pkg.get("package"), Mapping) else {}
    records: dict[str, Mapping[str, Any]] = {}
    for k, rec in enumerate(objects(pkg.get("vulnerabilities"), source, f"{what}.vulnerabilities")):
        records[text(rec.get("id")) or f"#{k}"] = rec
    groups = [g for g in as_list(pkg.get("groups")) if isinstance(g, Mapping)]
    covered: set[str] = set()
    for group in groups:
        ids = [text(i) for i in as_list(group.get("ids")) if text(i)]
        if not ids:
            continue
        covered.update(ids)
        yield _finding(info, src, group, [records[i] for i in ids if i in records])
    for rid, rec in records.items():
        if rid not in covered:
            yield _finding(info, src, {"ids": [rid]}, [rec])


def _finding(info: Mapping[str, Any], src: Mapping[str, Any], group: Mapping[str, Any],
             recs: list[Mapping[str, Any]]) -> Finding:
    ids = [*as_list(group.get("ids")), *as_list(group.get("aliases"))]
    for rec in recs:
        ids += [rec.get("id"), *as_list(rec.get("aliases"))]
    vid, aliases = v.split_ids(ids)
    name, version = v.clean(info.get("name")), v.clean(info.get("version"))
    ecosystem, commit = v.clean(info.get("ecosystem")), v.clean(info.get("commit"))
    score, vector = _cvss(recs)
    max_severity = v.number(group.get("max_severity"))
    if max_severity is not None:
        score = max_severity
    severity, word = _severity(score, recs, [text(i) for i in ids])
    path = v.relative_path(text(src.get("path")))
    affected = [a for rec in recs for a in as_list(rec.get("affected")) if isinstance(a, Mapping)]
    fixed = _fixed(version, _fixed_candidates(affected, name, ecosystem))
    if commit:
        repo = next((text(r.get("repo")) for a in affected for r in as_list(a.get("ranges"))
                     if isinstance(r, Mapping) and text(r.get("repo"))), "") or path
        name, version = name or repo.rstrip("/").rsplit("/", 1)[-1], version or commit[:12]
        resource = Resource(type="Other", id=f"git:{repo}@{commit}",
                            details={"repo": repo, "commit": commit})
    else:
        purl = v.ecosystem_purl(ecosystem, name, version)
        resource = v.package_resource(purl, name, version, {"ecosystem": ecosystem})
    summary = next((text(r.get("summary")) for r in recs if text(r.get("summary"))), "")
    details = next((text(r.get("details")).strip() for r in recs if text(r.get("details"))), "")
    remediation = None
    if any(text(i).startswith("MAL-") for i in ids) and not fixed:
        remediation = (f"Remove {name} and treat every machine that installed it as "
                       "compromised: rotate the secrets it could reach.")
    return v.vuln_finding(
        tool=TOOL, vid=vid, aliases=aliases, package=name, version=version, fixed=fixed,
        severity=severity, severity_original=word, summary=summary, description=details,
        remediation=remediation,
        cvss_score=score, cvss_vector=vector, urls=_urls(recs), resource=resource,
        location=Location(path=path) if path else None,
        cwe=_cwes(recs, affected), key_extra=path,
        extra_lines=[f"Ecosystem: {ecosystem}"] if ecosystem else [],
        properties={"Ecosystem": ecosystem, "SourceType": text(src.get("type")),
                    "Records": ",".join(text(r.get("id")) for r in recs),
                    "DependencyGroups": ",".join(text(g) for g in info.get("dependency_groups")
                                                 or [] if text(g))})


def _cvss(recs: Iterable[Mapping[str, Any]]) -> tuple[float | None, str | None]:
    best: tuple[float, str] | None = None
    for rec in recs:
        for sev in as_list(rec.get("severity")):
            if not isinstance(sev, Mapping) or not text(sev.get("type")).startswith("CVSS"):
                continue
            vector = text(sev.get("score"))
            score = v.cvss_base_score(vector)
            if score is not None and (best is None or score > best[0]):
                best = (score, vector)
    return (best[0], best[1]) if best else (None, None)


def _severity(score: float | None, recs: list[Mapping[str, Any]], ids: list[str]
              ) -> tuple[Severity, str]:
    if score is not None:
        return v.rate(None, score)
    words = [text(dig(r, "database_specific", "severity")) for r in recs]
    words += [text(dig(a, "ecosystem_specific", "severity")) for r in recs
              for a in as_list(r.get("affected")) if isinstance(a, Mapping)]
    rated = [v.rate(w) for w in words if w]
    rated = [r for r in rated if r[1] != "unrated"]
    if rated:
        return max(rated, key=lambda r: r[0])
    if any(i.startswith("MAL-") for i in ids):
        return Severity.CRITICAL, "malicious package"
    return UNRATED, "unrated"


def _urls(recs: Iterable[Mapping[str, Any]]) -> list[str]:
    refs = [r for rec in recs for r in as_list(rec.get("references")) if isinstance(r, Mapping)]
    ordered = sorted(refs, key=lambda r: text(r.get("type")) not in ("ADVISORY", "WEB"))
    urls = [f"https://osv.dev/vulnerability/{text(rec.get('id'))}" for rec in recs
            if text(rec.get("id"))][:1]
    return urls + [text(r.get("url")) for r in ordered]


def _cwes(recs: list[Mapping[str, Any]], affected: list[Mapping[str, Any]]) -> tuple[str, ...]:
    values: list[Any] = []
    for rec in recs:
        values += as_list(dig(rec, "database_specific", "cwe_ids"))
    for aff in affected:
        values += as_list(dig(aff, "database_specific", "cwes"))
    return v.cwe_ids(values)


def _fixed_candidates(affected: list[Mapping[str, Any]], name: str, ecosystem: str
                      ) -> list[tuple[str, str]]:
    """(introduced, fixed) intervals of the affected entries for this package."""
    out: list[tuple[str, str]] = []
    for aff in affected:
        pkg = aff.get("package") if isinstance(aff.get("package"), Mapping) else {}
        if pkg and (text(pkg.get("name")).lower() != name.lower()
                    or text(pkg.get("ecosystem")).split(":")[0] != ecosystem.split(":")[0]):
            continue
        for rng in as_list(aff.get("ranges")):
            if not isinstance(rng, Mapping) or text(rng.get("type")) == "GIT":
                continue
            introduced = "0"
            for event in as_list(rng.get("events")):
                if not isinstance(event, Mapping):
                    continue
                if "introduced" in event:
                    introduced = text(event["introduced"])
                elif "fixed" in event and text(event["fixed"]):
                    out.append((introduced, text(event["fixed"])))
    return out


def _vkey(version: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((1, int(p)) if p.isdigit() and len(p) <= 18 else (0, p.lower())
                 for p in re.findall(r"\d+|[A-Za-z]+", version))


def _fixed(installed: str, intervals: list[tuple[str, str]]) -> str:
    if not intervals:
        return ""
    if installed:
        mine = _vkey(installed)
        for introduced, fixed in intervals:
            if (introduced == "0" or _vkey(introduced) <= mine) and mine < _vkey(fixed):
                return fixed
        above = [f for _, f in intervals if _vkey(f) > mine]
        if above:
            return min(above, key=_vkey)
    return v.versions_text(list(dict.fromkeys(f for _, f in intervals)))


def sniff(doc: Document) -> bool:
    data = doc.json
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        return False
    results = data["results"]
    if not results:
        return "experimental_config" in data
    first = results[0]
    return isinstance(first, dict) and isinstance(first.get("source"), dict) \
        and isinstance(first.get("packages"), list)


FORMAT = ReportFormat(name="osv-scanner", title="osv-scanner JSON (--format json)", parse=parse,
                      sniff=sniff)
