"""Nikto reports: JSON (`-Format json`) and XML (`-Format xml`).

JSON is one host object (`{host|hostname, ip, port, banner, vulnerabilities[]}`, Nikto 2.1)
or a list of them (Nikto 2.5); each vulnerability has id, OSVDB (2.1 only), method, url,
msg and, in 2.5, references. XML is `niktoscan` (nested one level deeper when several hosts
were scanned) with `scandetails` per host holding `item` elements (id, osvdbid, method
attributes; description, uri, namelink, iplink, references children). Nikto's XML always
declares an external DOCTYPE (`docs/nikto.dtd`), which is allowed here and never fetched; an
internal DTD subset (entity declarations) is refused.

* rule_id (GeneratorId `nikto/<id>`) is Nikto's test id ("999100"); title is the message's
  first sentence.
* Severity: Nikto rates nothing. Items linked to an OSVDB entry (a catalogued vulnerable file
  or product) are medium, everything else informational, as DefectDojo does.
* One finding per item: Nikto already reports each check once per URL. Exact repeats (same
  site, id, method, URL and message) are merged and counted.
* Category: misconfiguration (exposed files, headers, methods, outdated products); Nikto
  gives no CWE or CVE to say more.
* Resource: type "Other", id = the site (XML `sitename`, else host:port). location_key is
  id, method, URL and a hash of the message with digits folded, because several items share
  an id (999100 "uncommon header" names each header) while some messages quote live values
  ("utilization_percent: 51.17") that change on every scan. Items of one report that the
  folding would make equal keep the exact message's hash.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from typing import Any, Mapping, Sequence

from secpipe.formats._common import as_list, load_json, text
from secpipe.formats._web import looks_like_xml, parse_xml, site_of, urls_in, xml_text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Category, Finding, Resource, Severity

_SENTENCE = re.compile(r"(?<=[.?!])\s+(?=[A-Z\"'(/])")


def _title(msg: str) -> str:
    first = _SENTENCE.split(msg.strip(), maxsplit=1)[0]
    return first if len(first) <= 200 else first[:199] + "…"


def _key_hash(msg: str, fold: bool = True) -> str:
    folded = " ".join(msg.split())
    if fold:
        folded = re.sub(r"\d+", "#", folded)
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()[:16]


def _osvdb(value: Any) -> str:
    value = text(value).strip()
    return "" if value in ("", "0") else value


class _Item:
    def __init__(self, site: str, rule: str, method: str, url: str, full_url: str, msg: str,
                 osvdb: str, references: tuple[str, ...], host: Mapping[str, str]) -> None:
        self.site, self.rule, self.method, self.url = site, rule, method, url
        self.full_url, self.msg, self.osvdb = full_url, msg, osvdb
        self.references, self.host = references, host
        self.count = 1

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.site, self.rule, self.method, self.url, self.msg)


def _finding(item: _Item, fold: bool) -> Finding:
    severity = Severity.MEDIUM if item.osvdb else Severity.INFORMATIONAL
    references = item.references
    lines = [item.msg]
    lines.append(f"{item.method} {item.full_url or item.url}".strip())
    if item.osvdb:
        lines.append(f"OSVDB-{item.osvdb}")
    props = {
        "url": item.full_url or item.url,
        "method": item.method,
        "osvdb": item.osvdb,
        "occurrences": str(item.count) if item.count > 1 else "",
        **item.host,
    }
    return Finding(
        tool="nikto",
        rule_id=item.rule,
        title=_title(item.msg) or f"Nikto check {item.rule}",
        description="\n\n".join(lines),
        severity=severity,
        severity_original=f"OSVDB-{item.osvdb}" if item.osvdb else "none",
        category=Category.MISCONFIGURATION,
        resource=Resource(type="Other", id=item.site),
        references=tuple(dict.fromkeys(references))[:10],
        remediation_url=references[0] if references else None,
        location_key=_location_key(item, fold),
        properties={k: v for k, v in props.items() if v},
    )


def _location_key(item: _Item, fold: bool = True) -> str:
    return f"{item.rule}|{item.method} {item.url}|{_key_hash(item.msg, fold)}"


def _json_items(doc: Any, source: str) -> list[_Item]:
    hosts = [doc] if isinstance(doc, dict) else doc
    if not isinstance(hosts, list) or not hosts:
        raise ReportFormatError(source, "a Nikto JSON report is a host object or a non-empty "
                                        "list of them")
    items: list[_Item] = []
    for h, host in enumerate(hosts):
        if (not isinstance(host, dict) or not {"host", "hostname", "ip"} & host.keys()
                or not isinstance(host.get("vulnerabilities"), list)):
            raise ReportFormatError(source, f"host {h} is not a Nikto host object "
                                            "(host/ip and a 'vulnerabilities' array)")
        name = text(host.get("host") or host.get("hostname") or host.get("ip")).strip()
        port = text(host.get("port")).strip()
        site = site_of(name) if "://" in name else (f"{name}:{port}" if port else name)
        info = {"ip": text(host.get("ip")).strip(), "banner": text(host.get("banner")).strip()}
        for v, vuln in enumerate(as_list(host.get("vulnerabilities"))):
            if not isinstance(vuln, dict) or not text(vuln.get("id")).strip():
                raise ReportFormatError(source, f"host {h} vulnerability {v} has no 'id'")
            url = text(vuln.get("url")).strip()
            items.append(_Item(
                site or "unknown-target", text(vuln["id"]).strip(),
                text(vuln.get("method")).strip(), url, "", text(vuln.get("msg")).strip(),
                _osvdb(vuln.get("OSVDB")), urls_in(text(vuln.get("references"))), info))
    return items


def _xml_items(data: bytes, source: str) -> list[_Item]:
    root = parse_xml(data, source, allow_external_doctype=True)
    if root.tag != "niktoscan":
        raise ReportFormatError(source, f"not a Nikto XML report (root element <{root.tag}>)")
    items: list[_Item] = []
    for details in root.iter("scandetails"):
        site = _xml_site(details)
        info = {"ip": details.get("targetip", "").strip(),
                "banner": details.get("targetbanner", "").strip()}
        for item in details.iterfind("item"):
            rule = item.get("id", "").strip()
            if not rule:
                raise ReportFormatError(source, f"an <item> of {site} has no id")
            url = xml_text(item, "uri")
            full = xml_text(item, "namelink")
            full = full if "://" in full and not full.startswith("http://:") else ""
            refs = urls_in(xml_text(item, "references")) or urls_in(item.get("osvdblink", ""))
            refs = tuple(r for r in refs if not r.rstrip("/").endswith("osvdb.org/0"))
            items.append(_Item(site, rule, item.get("method", "").strip(), url, full,
                               xml_text(item, "description"), _osvdb(item.get("osvdbid")),
                               refs, info))
    return items


def _xml_site(details: ET.Element) -> str:
    name = details.get("sitename", "").strip()
    if "://" in name:
        return site_of(name)
    host = details.get("targethostname", "").strip() or details.get("targetip", "").strip()
    port = details.get("targetport", "").strip()
    return (f"{host}:{port}" if port else host) or "unknown-target"


def parse(data: bytes, source: str = "<nikto>") -> Sequence[Finding]:
    items = _xml_items(data, source) if looks_like_xml(data) else _json_items(
        load_json(data, source), source)
    merged: dict[tuple[str, str, str, str, str], _Item] = {}
    for item in items:
        if item.key in merged:
            merged[item.key].count += 1
        else:
            merged[item.key] = item
    # Folding digits must not make two items of one report one identity ("Finding 3.2" and
    # "Finding 3.3"): those keep the exact message's hash.
    seen: dict[tuple[str, str], int] = {}
    for item in merged.values():
        seen[(item.site, _location_key(item))] = seen.get((item.site, _location_key(item)), 0) + 1
    return [_finding(item, fold=seen[(item.site, _location_key(item))] == 1)
            for item in merged.values()]


def _looks_host(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("vulnerabilities"), list)
        and bool({"host", "hostname", "ip"} & obj.keys())
        and "port" in obj
    )


def sniff(doc: Document) -> bool:
    if looks_like_xml(doc.data):
        return b"<niktoscan" in doc.data[:4096]
    data = doc.json
    if isinstance(data, list):
        return bool(data) and _looks_host(data[0])
    return _looks_host(data)


FORMAT = ReportFormat(
    name="nikto", title="Nikto report (JSON, XML)", parse=parse, sniff=sniff,
    extensions=(".json", ".xml"),
)
