"""OCSF finding events: what Security Hub's current generation, Security Lake, prowler's
`json-ocsf` output and secpipe's own `findings.ocsf.json` hold.

Accepted shapes: a JSON array of events, JSON lines (one event per line, as Security Lake and
Firehose exports write them), `{"Findings": [...]}` (a GetFindingsV2 page) or one event.
Every event must be of the Findings category (class_uid 2xxx) and name its finding
(`finding_info.uid`); anything else is not an OCSF finding and is refused, never read as
"nothing found". Each event goes through :func:`secpipe.model.ocsf_read.ocsf_to_asff` and
:func:`secpipe.model.from_asff`, so the identity of a finding secpipe wrote comes back whole.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from secpipe.formats._common import is_json_lines, iter_json_lines, load_json
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding, from_asff
from secpipe.model.ocsf_read import is_finding_event, ocsf_to_asff


def _events(data: bytes, source: str) -> list[Any]:
    if is_json_lines(data):
        return list(iter_json_lines(data, source))
    doc = load_json(data, source)
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        if isinstance(doc.get("Findings"), list):
            return doc["Findings"]
        return [doc]
    raise ReportFormatError(source, "not OCSF: expected finding events (an array, JSON lines, "
                                    "{\"Findings\": [...]} or one event)")


def _check(event: Any, source: str, index: int) -> Mapping[str, Any]:
    if not isinstance(event, dict):
        raise ReportFormatError(source, f"event {index} is not a JSON object")
    if not is_finding_event(event):
        what = event.get("class_uid", "no class_uid")
        raise ReportFormatError(
            source, f"event {index} is not an OCSF finding (class_uid {what}; a Findings "
                    "class 2xxx with finding_info.uid is needed)")
    return event


def parse(data: bytes, source: str = "<ocsf>") -> Sequence[Finding]:
    findings: list[Finding] = []
    for i, raw in enumerate(_events(data, source)):
        event = _check(raw, source, i)
        try:
            findings.append(from_asff(ocsf_to_asff(event)))
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            raise ReportFormatError(source, f"event {i} could not be read: {exc}") from None
    return findings


def sniff(doc: Document) -> bool:
    data = doc.json
    if data is None:
        rows = doc.json_lines
        return bool(rows) and is_finding_event(rows[0])
    if isinstance(data, dict) and isinstance(data.get("Findings"), list):
        data = data["Findings"]
    if isinstance(data, list):
        return bool(data) and is_finding_event(data[0])
    return is_finding_event(data)


FORMAT = ReportFormat(name="ocsf", title="OCSF finding events (Security Hub, Security Lake)",
                      parse=parse, sniff=sniff, extensions=(".json", ".jsonl"))
