"""OWASP ZAP reports: the traditional JSON (`zap-baseline.py -J`) and XML (`-x`) shapes.

Both hold `site[]` each with `alerts[]`; ZAP already groups every occurrence of a rule on a
site under one alert with its `instances[]`, so one alert is one finding. The instances are
kept as a count plus the first few URLs and evidence (description and properties), not as
findings of their own: a spider that finds three more pages must not create three findings.

* rule_id (and so the ASFF GeneratorId `zap/<id>`) is ZAP's plugin id ("10020"), the id the
  rules file and the baseline use; the alert name is the title.
* Severity: riskcode 0 informational, 1 low, 2 medium, 3 high (ZAP has no critical).
* Confidence (ASFF 0-100) from ZAP's 0-4 scale, on the scale bandit and semgrep use here:
  0 false positive -> 0, 1 low -> 30, 2 medium -> 60, 3 high -> 90, 4 user-confirmed -> 100.
* CWE from `cweid` (0 and -1 mean none); desc/solution/reference are HTML and become text;
  reference URLs become references (ZAP 2.9 glued them together without separators).
* Resource: type "Other", id = the site (`@name`, scheme://host:port). location_key is the
  alertRef (`10020-1`: the sub-alert of a plugin) or, in reports before alertRef existed, the
  plugin id and alert name, plus the site.
* ZAP splits one rule on one site into several alerts when instances differ in risk or
  confidence (dvwa_baseline_dojo.xml has 10027 twice, confidence Medium and Low). Those would
  be one identity (same rule, same site), so they are merged into one finding with the
  highest risk and confidence and all instances; DefectDojo keeps them apart.
* Evidence of rules whose evidence *is* a credential or personal data (session ids in URLs,
  session tokens, PII, hashes) is masked, and their "other info" dropped; long token-like
  runs in any other evidence and other info are masked too.
  Request and response headers and bodies ("-plus" reports) are never copied.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Iterable, Mapping, Sequence

from secpipe.formats._common import as_int, load_json, text
from secpipe.formats._web import (
    category_for,
    first_lines,
    html_to_text,
    looks_like_xml,
    parse_xml,
    scrub_tokens,
    site_of,
    urls_in,
    xml_text,
)
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding, Resource, Severity, mask

_RISKS = {0: Severity.INFORMATIONAL, 1: Severity.LOW, 2: Severity.MEDIUM, 3: Severity.HIGH}
_RISK_WORDS = {0: "Informational", 1: "Low", 2: "Medium", 3: "High"}
_CONFIDENCE = {0: 0, 1: 30, 2: 60, 3: 90, 4: 100}
_CONFIDENCE_WORDS = {0: "False Positive", 1: "Low", 2: "Medium", 3: "High", 4: "Confirmed"}
# Rules whose evidence (or other info) is the sensitive value itself.
_SENSITIVE = {"3", "10024", "10025", "10057", "10062", "10097", "10111", "10112", "10113"}
_SHOWN_INSTANCES = 5


def _risk(alert: Mapping[str, Any], source: str, where: str) -> int:
    code = as_int(alert.get("riskcode"))
    if code is None:
        word = text(alert.get("riskdesc")).split(" ")[0].lower()
        code = {"informational": 0, "info": 0, "low": 1, "medium": 2, "high": 3}.get(word)
    if code not in _RISKS:
        raise ReportFormatError(
            source, f"{where} has no valid riskcode ({alert.get('riskcode')!r})")
    return code


def _instances(alert: Mapping[str, Any], source: str, where: str) -> list[Mapping[str, Any]]:
    raw = alert.get("instances")
    if isinstance(raw, Mapping):  # XML converted to JSON by old ZAP: {"instance": [...]}
        raw = raw.get("instance")
    if isinstance(raw, Mapping):
        raw = [raw]
    if raw is None:  # reports before ZAP grouped instances carried one uri on the alert
        return [alert] if text(alert.get("uri")) else []
    if not isinstance(raw, list):
        raise ReportFormatError(source, f"{where}.instances should be an array")
    return [i for i in raw if isinstance(i, Mapping)]


def _evidence(value: Any, sensitive: bool) -> str:
    evidence = " ".join(text(value).split())
    if not evidence:
        return ""
    if sensitive:
        return mask(evidence)
    evidence = scrub_tokens(evidence)
    return evidence if len(evidence) <= 120 else evidence[:117] + "…"


class _Alert:
    """One rule on one site, possibly gathered from several ZAP alerts."""

    def __init__(self, site: Mapping[str, str], alert: Mapping[str, Any], risk: int) -> None:
        self.site = site
        self.alert = alert
        self.risk = risk
        self.confidence = as_int(alert.get("confidence"))
        self.instances: list[Mapping[str, Any]] = []
        self.count = 0

    def add(self, alert: Mapping[str, Any], risk: int, instances: list[Mapping[str, Any]]) -> None:
        self.risk = max(self.risk, risk)
        confidence = as_int(alert.get("confidence"))
        if confidence is not None:
            self.confidence = max(self.confidence or 0, confidence)
        self.instances.extend(instances)
        self.count += max(as_int(alert.get("count")) or 0, len(instances))


def _gather(sites: Iterable[tuple[Mapping[str, str], list[Mapping[str, Any]]]],
            source: str) -> list[_Alert]:
    merged: dict[tuple[str, str], _Alert] = {}
    for s_index, (site, alerts) in enumerate(sites):
        for a_index, alert in enumerate(alerts):
            where = f"site[{s_index}].alerts[{a_index}]"
            plugin = text(alert.get("pluginid")).strip()
            if not plugin:
                raise ReportFormatError(source, f"{where} has no pluginid")
            if not text(alert.get("alert") or alert.get("name")).strip():
                raise ReportFormatError(source, f"{where} has no alert name")
            risk = _risk(alert, source, where)
            ref = text(alert.get("alertRef")).strip()
            name = text(alert.get("alert") or alert.get("name")).strip()
            key = (site["name"], ref or f"{plugin}|{name}")
            if key not in merged:
                merged[key] = _Alert(site, alert, risk)
            merged[key].add(alert, risk, _instances(alert, source, where))
    return list(merged.values())


def _finding(group: _Alert) -> Finding:
    alert, site = group.alert, group.site
    plugin = text(alert.get("pluginid")).strip()
    ref = text(alert.get("alertRef")).strip()
    name = text(alert.get("alert") or alert.get("name")).strip()
    sensitive = plugin in _SENSITIVE
    cwe = as_int(alert.get("cweid"))
    cwes = (f"CWE-{cwe}",) if cwe and cwe > 0 else ()
    lines = []
    for inst in group.instances[:_SHOWN_INSTANCES]:
        parts = [text(inst.get("method")).strip(), text(inst.get("uri")).strip()]
        if text(inst.get("param")).strip():
            parts.append(f"param={text(inst.get('param')).strip()}")
        evidence = _evidence(inst.get("evidence"), sensitive)
        if evidence:
            parts.append(f"evidence: {evidence}")
        lines.append("- " + " ".join(p for p in parts if p))
    if group.count > len(lines):
        lines.append(f"- … {group.count - len(lines)} more")
    desc = first_lines(html_to_text(text(alert.get("desc"))), 500)
    other = "" if sensitive else first_lines(
        scrub_tokens(html_to_text(text(alert.get("otherinfo")))), 200)
    body = [desc or name]
    if lines:
        body.append(f"Instances ({group.count}):\n" + "\n".join(lines))
    if other:
        body.append(f"Other info: {other}")
    references = urls_in(text(alert.get("reference")))
    uris = [text(i.get("uri")).strip() for i in group.instances if text(i.get("uri")).strip()]
    props = {
        "site": site["name"],
        "level": text(alert.get("secpipe-level")),
        "instances": str(group.count),
        "urls": " ".join(list(dict.fromkeys(uris))[:_SHOWN_INSTANCES]),
        "alertRef": ref,
        "wascid": text(alert.get("wascid")),
        "sourceid": text(alert.get("sourceid")),
        "confidence": _CONFIDENCE_WORDS.get(group.confidence, "")
        if group.confidence is not None else "",
    }
    return Finding(
        tool="zap",
        rule_id=plugin,
        title=name,
        description="\n\n".join(body),
        severity=_RISKS[group.risk],
        severity_original=_RISK_WORDS[group.risk],
        category=category_for(cwes),
        resource=Resource(type="Other", id=_stable_site(site["name"]), details={
            k: v for k, v in (("host", site["host"]), ("port", site["port"]), ("ssl", site["ssl"]))
            if v}),
        remediation=html_to_text(text(alert.get("solution"))) or None,
        remediation_url=references[0] if references else None,
        references=references[:10],
        cwe=cwes,
        location_key=f"{ref or plugin + '|' + name}@{_stable_site(site['name'])}",
        confidence=_CONFIDENCE.get(group.confidence) if group.confidence is not None else None,
        properties={k: v for k, v in props.items() if v},
    )


def _site(name: str, host: str, port: str, ssl: str, source: str, where: str) -> dict[str, str]:
    name = site_of(name) if name else ""
    if not name and host:
        scheme = "https" if ssl.lower() == "true" else "http"
        name = f"{scheme}://{host}" + (f":{port}" if port else "")
    if not name:
        raise ReportFormatError(source, f"{where} has no @name or @host")
    return {"name": name, "host": host, "port": port, "ssl": ssl}


def _json_sites(doc: Any, source: str) -> list[tuple[dict[str, str], list[Mapping[str, Any]]]]:
    if not isinstance(doc, dict) or "site" not in doc:
        raise ReportFormatError(source, "not a ZAP JSON report (no top-level 'site')")
    if not ({"@version", "@generated", "@programName"} & doc.keys()):
        raise ReportFormatError(source, "not a ZAP JSON report (no '@version' or '@generated')")
    raw = doc["site"]
    raw = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw, list):
        raise ReportFormatError(source, "'site' should be an array of objects")
    out = []
    for i, site in enumerate(raw):
        if not isinstance(site, dict):
            raise ReportFormatError(source, f"site[{i}] should be an object")
        alerts = site.get("alerts") or []
        if isinstance(alerts, dict):  # old XML-to-JSON conversion: {"alertitem": [...]}
            alerts = alerts.get("alertitem") or []
            alerts = [alerts] if isinstance(alerts, dict) else alerts
        if not isinstance(alerts, list) or not all(isinstance(a, dict) for a in alerts):
            raise ReportFormatError(source, f"site[{i}].alerts should be an array of objects")
        info = _site(text(site.get("@name")), text(site.get("@host")), text(site.get("@port")),
                     text(site.get("@ssl")), source, f"site[{i}]")
        out.append((info, alerts))
    return out


def _xml_alert(item: ET.Element) -> dict[str, Any]:
    alert: dict[str, Any] = {}
    for child in item:
        if child.tag == "instances":
            alert["instances"] = [{field.tag: xml_text(field) for field in inst}
                                  for inst in child.findall("instance")]
        elif child.tag != "tags":
            alert[child.tag] = xml_text(child)
    return alert


def _xml_sites(data: bytes, source: str) -> list[tuple[dict[str, str], list[Mapping[str, Any]]]]:
    root = parse_xml(data, source)
    if root.tag != "OWASPZAPReport":
        raise ReportFormatError(source, f"not a ZAP XML report (root element <{root.tag}>)")
    out = []
    for i, site in enumerate(root.findall("site")):
        info = _site(site.get("name", ""), site.get("host", ""), site.get("port", ""),
                     site.get("ssl", ""), source, f"site[{i}]")
        out.append((info, [_xml_alert(item) for item in site.iterfind("alerts/alertitem")]))
    return out


def parse(data: bytes, source: str = "<zap>") -> Sequence[Finding]:
    if looks_like_xml(data):
        sites = _xml_sites(data, source)
    else:
        sites = _json_sites(load_json(data, source), source)
    return [_finding(group) for group in _gather(sites, source)]


def sniff(doc: Document) -> bool:
    if looks_like_xml(doc.data):
        return b"<OWASPZAPReport" in doc.data[:4096]
    data = doc.json
    return (
        isinstance(data, dict)
        and isinstance(data.get("site"), (list, dict))
        and bool({"@programName", "@version", "@generated"} & data.keys())
    )


FORMAT = ReportFormat(
    name="zap", title="OWASP ZAP report (JSON -J, XML -x)", parse=parse, sniff=sniff,
    extensions=(".json", ".xml"),
)


_LOOPBACK = ("127.", "localhost", "[::1]", "::1")


def _stable_site(site: str) -> str:
    """A loopback target's port is picked afresh each run (secpipe's local deploy): leave it out
    of the identity so the same alert on the same service is the same finding across runs."""
    scheme, sep, rest = site.partition("://")
    host = rest.split("/")[0]
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    if sep and name.startswith(_LOOPBACK):
        return f"{scheme}://{name}"
    return site
