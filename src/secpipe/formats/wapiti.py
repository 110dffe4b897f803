"""Wapiti 3 reports: JSON (`-f json`) and the XML of the same generator (`-f xml`).

Both list flaw types (name, description, solution, references) and, per type, the entries a
module found (method, path, info, level, parameter, module, http_request, curl_command, wstg).
JSON keeps the types under `classifications` and the entries under `vulnerabilities`,
`anomalies` (500 errors, timeouts) and `additionals` (fingerprinting, informational) keyed by
type name; XML nests `<entries><entry>` under each `<vulnerability>`, `<anomaly>` or
`<additional>` element. All three sections become findings: anomalies point at code that
breaks under hostile input, additionals are informational unless Wapiti rates them higher.

* rule_id is the flaw type ("HTTP Secure Headers"): Wapiti has no numeric ids, and the type
  names, unlike module names (missing from 3.0 XML), exist in every version.
* Title `<type>: <info>` ("HTTP Secure Headers: X-Frame-Options is not set"), as DefectDojo.
* Severity from the entry's level: 4 critical, 3 high, 2 medium, 1 low, 0 informational (the
  scale of Wapiti 3.0.4 onwards; Wapiti 2's XML, which counted 1 as high, is refused).
* One finding per type, info and level on a target: Wapiti repeats an entry for every page
  (juicyshop.xml says "CSP is not set" five times), and the pages go into the description and
  properties, as ZAP's instances do. This is DefectDojo's grouping too.
* CWE from references titled "CWE-<n>: ..." or pointing at cwe.mitre.org.
* Resource: type "Other", id = the target's site. Entries of brute-force modules ("Weak
  credentials") carry the working credentials in `parameter`; those become a masked Secret.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urljoin

from secpipe.formats._common import as_int, load_json, text
from secpipe.formats._web import (
    category_for,
    first_lines,
    looks_like_xml,
    parse_xml,
    scrub_tokens,
    site_of,
    xml_text,
)
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.formats.sarif import cwe_ids
from secpipe.model import Finding, Resource, Secret, Severity

_LEVELS = {0: Severity.INFORMATIONAL, 1: Severity.LOW, 2: Severity.MEDIUM, 3: Severity.HIGH,
           4: Severity.CRITICAL}
_SECTIONS = (("vulnerabilities", "vulnerability"), ("anomalies", "anomaly"),
             ("additionals", "additional"))
_CREDENTIAL_TYPES = {"weak credentials"}
_CWE_URL = re.compile(r"cwe\.mitre\.org/data/definitions/0*(\d+)", re.IGNORECASE)
_SHOWN = 5


class _Type:
    """A flaw type as both report shapes describe it."""

    def __init__(self, name: str, desc: str = "", solution: str = "",
                 refs: Iterable[tuple[str, str]] = ()) -> None:
        self.name = name
        self.desc = desc
        self.solution = solution
        self.refs = list(refs)


def _info_text(info: str) -> str:
    """Wapiti's fingerprinting modules put a JSON object in `info`; name it in words."""
    if info.startswith("{"):
        try:
            obj = json.loads(info)
        except ValueError:
            return info
        if isinstance(obj, dict) and obj.get("name"):
            versions = obj.get("versions") or []
            shown = ", ".join(str(v) for v in versions) if isinstance(versions, list) else ""
            return f"{obj['name']} {shown}".strip()
    return info


def _findings(entries: list[tuple[str, _Type, Mapping[str, Any]]], target: str,
              source: str) -> list[Finding]:
    groups: dict[tuple[str, str, str, int], list[Mapping[str, Any]]] = {}
    types: dict[tuple[str, str, str, int], _Type] = {}
    for index, (section, ftype, entry) in enumerate(entries):
        level = as_int(entry.get("level"))
        if level not in _LEVELS:
            raise ReportFormatError(
                source, f"{section} entry {index} ({ftype.name}) has an invalid level "
                        f"{entry.get('level')!r}")
        key = (section, ftype.name, _info_text(text(entry.get("info")).strip()), level)
        groups.setdefault(key, []).append(entry)
        types[key] = ftype
    site = site_of(target) if target else "unknown-target"
    return [_finding(key, types[key], items, target, site) for key, items in groups.items()]


def _finding(key: tuple[str, str, str, int], ftype: _Type, entries: list[Mapping[str, Any]],
             target: str, site: str) -> Finding:
    section, name, info, level = key
    credential = name.lower() in _CREDENTIAL_TYPES
    secret = None
    urls: list[str] = []
    lines: list[str] = []
    for entry in entries:
        path = text(entry.get("path")).strip()
        url = path if "://" in path else (urljoin(target, path) if target else path)
        if url and url not in urls:
            urls.append(url)
        param = text(entry.get("parameter")).strip()
        if param and credential:
            secret = secret or Secret.from_value(param)
            param = Secret.from_value(param).masked
        elif param:
            param = first_lines(scrub_tokens(param), 120)
        line = " ".join(p for p in (text(entry.get("method")).strip(), url or path) if p)
        if param:
            line += f" (parameter {param})"
        if line not in lines:
            lines.append(line)
    shown = [f"- {line}" for line in lines[:_SHOWN]]
    if len(lines) > _SHOWN:
        shown.append(f"- … {len(lines) - _SHOWN} more")
    body = [first_lines(ftype.desc, 500) or name]
    if info:
        body.insert(0, info)
    if shown:
        body.append(f"Found at ({len(entries)}):\n" + "\n".join(shown))
    ref_urls = tuple(dict.fromkeys(u for _, u in ftype.refs if u))
    cwes = cwe_ids([t for t, _ in ftype.refs] + [m.group(1) for u in ref_urls
                                                  for m in [_CWE_URL.search(u)] if m],
                   numbers=True)
    modules = sorted({text(e.get("module")) for e in entries if text(e.get("module"))})
    wstg = sorted({w for e in entries for w in _wstg(e.get("wstg"))})
    props = {
        "section": section,
        "target": target,
        "urls": " ".join(urls[:_SHOWN]),
        "occurrences": str(len(entries)),
        "module": ",".join(modules),
        "wstg": ",".join(wstg),
    }
    return Finding(
        tool="wapiti",
        rule_id=name,
        title=f"{name}: {info}" if info else name,
        description="\n\n".join(body),
        severity=_LEVELS[level],
        severity_original=str(level),
        category=category_for(cwes),
        resource=Resource(type="Other", id=site),
        remediation=ftype.solution or None,
        remediation_url=ref_urls[0] if ref_urls else None,
        references=ref_urls[:10],
        cwe=cwes,
        secret=secret,
        location_key=f"{name}|{info}@{site}",
        properties={k: v for k, v in props.items() if v},
    )


def _wstg(value: Any) -> list[str]:
    if isinstance(value, list):
        return [text(v) for v in value if text(v)]
    return [text(value)] if text(value) else []


def _json_entries(doc: Any, source: str) -> tuple[list[tuple[str, _Type, Mapping]], str]:
    if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities"), dict):
        raise ReportFormatError(source, "not a Wapiti JSON report (no 'vulnerabilities' object)")
    if not ({"classifications", "infos"} & doc.keys()):
        raise ReportFormatError(source, "not a Wapiti JSON report (no 'classifications' or "
                                        "'infos')")
    classes = doc.get("classifications") or {}
    if not isinstance(classes, dict):
        raise ReportFormatError(source, "'classifications' should be an object")
    infos = doc.get("infos") if isinstance(doc.get("infos"), dict) else {}
    entries: list[tuple[str, _Type, Mapping]] = []
    for section, _ in _SECTIONS:
        block = doc.get(section) or {}
        if not isinstance(block, dict):
            raise ReportFormatError(source, f"'{section}' should be an object of arrays")
        for name, items in block.items():
            if not isinstance(items, list):
                raise ReportFormatError(source, f"{section}[{name!r}] should be an array")
            meta = classes.get(name) if isinstance(classes.get(name), dict) else {}
            refs = meta.get("ref") if isinstance(meta.get("ref"), dict) else {}
            ftype = _Type(name, text(meta.get("desc")).strip(), text(meta.get("sol")).strip(),
                          ((text(t), text(u)) for t, u in refs.items()))
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    raise ReportFormatError(source, f"{section}[{name!r}][{i}] should be an object")
                entries.append((section, ftype, item))
    return entries, text(infos.get("target")).strip()


def _xml_entries(data: bytes, source: str) -> tuple[list[tuple[str, _Type, Mapping]], str]:
    root = parse_xml(data, source)
    if root.find("vulnerabilityTypeList") is not None:
        raise ReportFormatError(source, "Wapiti 2 XML (vulnerabilityTypeList) is not supported; "
                                        "use Wapiti 3 with -f json or -f xml")
    if root.tag != "report" or root.find("vulnerabilities") is None:
        raise ReportFormatError(
            source, "not a Wapiti 3 XML report (<report> with <vulnerabilities>)")
    target = ""
    for info in root.iterfind("report_infos/info"):
        if info.get("name") == "target":
            target = xml_text(info)
    entries: list[tuple[str, _Type, Mapping]] = []
    for section, tag in _SECTIONS:
        for node in root.iterfind(f"{section}/{tag}"):
            ftype = _xml_type(node)
            for entry in node.iterfind("entries/entry"):
                item: dict[str, Any] = {c.tag: xml_text(c) for c in entry if c.tag != "wstg"}
                item["wstg"] = [xml_text(c) for c in entry.iterfind("wstg/code")]
                entries.append((section, ftype, item))
    return entries, target


def _xml_type(node: ET.Element) -> _Type:
    refs = [(xml_text(r, "title"), xml_text(r, "url"))
            for r in node.iterfind("references/reference")]
    return _Type(node.get("name", "").strip() or "Wapiti finding", xml_text(node, "description"),
                 xml_text(node, "solution"), refs)


def parse(data: bytes, source: str = "<wapiti>") -> Sequence[Finding]:
    if looks_like_xml(data):
        entries, target = _xml_entries(data, source)
    else:
        entries, target = _json_entries(load_json(data, source), source)
    return _findings(entries, target, source)


def sniff(doc: Document) -> bool:
    if looks_like_xml(doc.data):
        head = doc.data[:4096]
        return b"<report" in head and b"report_infos" in head and b"wapiti" in head.lower()
    data = doc.json
    return (
        isinstance(data, dict)
        and isinstance(data.get("vulnerabilities"), dict)
        and isinstance(data.get("classifications"), dict)
        and "infos" in data
    )


FORMAT = ReportFormat(
    name="wapiti", title="Wapiti 3 report (JSON, XML)", parse=parse, sniff=sniff,
    extensions=(".json", ".xml"),
)
