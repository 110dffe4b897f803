"""Nuclei results: JSON Lines (`-jsonl`, older `-json`) and the JSON array (`-json-export`).

Each row is one template match: `template-id`, `info{name, severity, description, reference,
remediation, tags, classification{cve-id, cwe-id, cvss-metrics, cvss-score}}`, `type` (http,
dns, ssl, network, file...), `host`, `matched-at`, `matcher-name`, `extracted-results`.
Nuclei 2.0-2.2 spelled some keys differently (`templateID`, `matched`, `matcher_name`,
`extracted_results`); both spellings are read. An empty file is a scan with no match.

* rule_id (GeneratorId `nuclei/<template-id>`) is the template id; the title is the
  template's name, with the matcher in brackets when one template has several
  ("Wappalyzer Technology Detection (genexus)").
* Severity is the template's: info, low, medium, high, critical; unknown -> informational.
* One finding per template, matcher and site: nuclei prints a row per extracted value or
  matched URL (multiple_v3.json has tls-version twice, once per TLS version), and the site is
  the resource identity as for ZAP and Wapiti (DefectDojo groups the same way by host). The
  matched URLs and extracted values are kept in the description and properties.
* Rows with `matcher-status: false` (`-ms`, "show failed matches") are not findings.
* CVE ids become Vulnerabilities with the template's CVSS score and vector; CWEs from
  `cwe-id`. Category: CVE -> vulnerability, code weaknesses -> code, else misconfiguration.
* Token-exposure templates (`exposures/tokens`, tags token/secret/keys...) extract the secret
  itself: those values become a masked Secret and are never shown in clear. Request,
  response, curl command and `meta` (default-login credentials) are never copied; extracted
  values elsewhere have long token-like runs masked (cookie values, session ids).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from secpipe.formats._common import blank, is_json_lines, iter_json_lines, load_json, text
from secpipe.formats._web import category_for, first_lines, scrub_tokens, site_of
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.formats.sarif import cwe_ids
from secpipe.model import Category, Finding, Resource, Secret, Severity, Vulnerability

_SECRET_TAGS = {"token", "tokens", "secret", "secrets", "keys", "api-key", "apikey"}
_SHOWN = 5


def _get(row: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if row.get(name) is not None:
            return row[name]
    return None


def _strings(value: Any) -> list[str]:
    """A list, a comma-separated string or null, as a list of non-empty strings."""
    if value is None:
        return []
    if isinstance(value, list):
        return [text(v).strip() for v in value if text(v).strip()]
    return [v.strip() for v in text(value).split(",") if v.strip()]


def _rows(data: bytes, source: str) -> Iterable[Any]:
    """Results of a JSON-lines report one at a time (any size), or of a -json-export array."""
    if blank(data):
        return []
    if not is_json_lines(data) and data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{"):
        doc = load_json(data, source)
        return doc if isinstance(doc, list) else [doc]
    return iter_json_lines(data, source)


@dataclass
class _Group:
    """One finding's results, kept small: the first result whole, then only what the finding
    shows of the others, so a report streams in memory proportional to its findings."""

    first: Mapping[str, Any]
    matched: dict[str, None] = field(default_factory=dict)
    extracted: dict[str, None] = field(default_factory=dict)
    count: int = 0

    def add(self, row: Mapping[str, Any]) -> None:
        self.count += 1
        where = text(_get(row, "matched-at", "matched")).strip()
        if where:
            self.matched[where] = None
        for value in _strings(_get(row, "extracted-results", "extracted_results")):
            self.extracted[value] = None


def _is_secret(row: Mapping[str, Any], info: Mapping[str, Any]) -> bool:
    path = text(_get(row, "template-path", "template")).replace("\\", "/")
    tags = {t.lower() for t in _strings(info.get("tags"))}
    return "/tokens/" in f"/{path}" or bool(_SECRET_TAGS & tags)


def _check(row: Any, index: int, source: str) -> tuple[str, Mapping[str, Any]]:
    if not isinstance(row, dict):
        raise ReportFormatError(source, f"result {index} should be an object")
    template = text(_get(row, "template-id", "templateID")).strip()
    info = row.get("info")
    if not template or not isinstance(info, dict):
        raise ReportFormatError(
            source, f"result {index} is not a nuclei result (needs 'template-id' and 'info')")
    return template, info


def parse(data: bytes, source: str = "<nuclei>") -> Sequence[Finding]:
    groups: dict[tuple[str, str, str, str], _Group] = {}
    for index, row in enumerate(_rows(data, source)):
        template, _info = _check(row, index, source)
        if row.get("matcher-status") is False:
            continue
        where = text(_get(row, "matched-at", "matched", "host", "url", "ip")).strip()
        site = site_of(where) if where else "unknown-target"
        matcher = text(_get(row, "matcher-name", "matcher_name")).strip()
        key = (template, matcher, text(row.get("type")).strip(), site)
        groups.setdefault(key, _Group(row)).add(row)
    return [_finding(key, group) for key, group in groups.items()]


def _finding(key: tuple[str, str, str, str], group: _Group) -> Finding:
    template, matcher, kind, site = key
    first = group.first
    info: Mapping[str, Any] = first["info"]
    name = text(info.get("name")).strip() or template
    secretish = _is_secret(first, info)
    matched = list(group.matched)
    extracted_raw = list(group.extracted)
    secret = Secret.from_value(extracted_raw[0]) if secretish and extracted_raw else None
    if secretish:
        extracted = [Secret.from_value(v).masked for v in extracted_raw]
    else:
        extracted = [first_lines(scrub_tokens(" ".join(v.split())), 120) for v in extracted_raw]
    classification = info.get("classification")
    classification = classification if isinstance(classification, dict) else {}
    cves = [c.upper() for c in _strings(classification.get("cve-id"))]
    cwes = cwe_ids(_strings(classification.get("cwe-id")))
    references = tuple(dict.fromkeys(u for u in _strings(info.get("reference")) if "://" in u))
    score = classification.get("cvss-score")
    if not isinstance(score, (int, float)) or isinstance(score, bool):
        score = None
    vector = text(classification.get("cvss-metrics")).strip() or None
    vulns = tuple(Vulnerability(id=c, cvss_score=None if score is None else float(score),
                                cvss_vector=vector, urls=references[:10])
                  for c in cves)
    body = [first_lines(text(info.get("description")).strip(), 500) or name]
    if matched:
        shown = [f"- {m}" for m in matched[:_SHOWN]]
        if len(matched) > _SHOWN:
            shown.append(f"- … {len(matched) - _SHOWN} more")
        body.append(f"Matched at ({len(matched)}):\n" + "\n".join(shown))
    if extracted:
        body.append("Extracted: " + ", ".join(extracted[:_SHOWN])
                    + (" …" if len(extracted) > _SHOWN else ""))
    severity_word = text(info.get("severity")).strip()
    props = {
        "site": site,
        "type": kind,
        "matcher": matcher,
        "urls": " ".join(matched[:_SHOWN]),
        "extracted": ", ".join(extracted[:_SHOWN]),
        "occurrences": str(group.count),
        "template-url": text(first.get("template-url")),
        "tags": ",".join(_strings(info.get("tags"))),
    }
    if secretish:
        category = Category.SECRET
    else:
        category = category_for(cwes, has_cve=bool(cves))
    remediation = text(info.get("remediation")).strip()
    return Finding(
        tool="nuclei",
        rule_id=template,
        title=f"{name} ({matcher})" if matcher else name,
        description="\n\n".join(body),
        severity=Severity.parse(severity_word or None, Severity.INFORMATIONAL),
        severity_original=severity_word or None,
        category=category,
        resource=Resource(type="Other", id=site, details={"host": text(first.get("host"))}
                          if text(first.get("host")) else {}),
        remediation=remediation or None,
        remediation_url=references[0] if references else None,
        references=references[:10],
        cwe=cwes,
        vulnerabilities=vulns,
        secret=secret,
        location_key=f"{template}|{matcher}|{kind}@{site}",
        properties={k: v for k, v in props.items() if v},
    )


def _looks_nuclei(row: Any) -> bool:
    return (
        isinstance(row, dict)
        and ("template-id" in row or "templateID" in row)
        and isinstance(row.get("info"), dict)
    )


def sniff(doc: Document) -> bool:
    data = doc.json
    if isinstance(data, list):
        return bool(data) and _looks_nuclei(data[0])
    if isinstance(data, dict):
        return _looks_nuclei(data)
    rows = doc.json_lines
    return bool(rows) and _looks_nuclei(rows[0])


FORMAT = ReportFormat(
    name="nuclei", title="Nuclei results (JSON Lines -jsonl, JSON -json-export)", parse=parse,
    sniff=sniff, extensions=(".jsonl", ".json"),
)
