"""ASFF itself: Security Hub findings as other products (and secpipe) write them.

Accepted shapes: a JSON array of findings (prowler's `-M json-asff`, our own export), the
`{"Findings": [...]}` page `aws securityhub get-findings` prints (lower-case `findings` too,
as some exports write it), or one finding object. Each finding goes through
:func:`secpipe.model.from_asff`, so the reading of ASFF lives in one place.

A finding must carry an `Id` and something saying what and whose it is (a `Title` or
`Description`, and a `ProductArn` or `GeneratorId`); anything less is not ASFF and is an
error rather than a silent half-finding. Findings are kept whatever their workflow state:
a PASSED control or an ARCHIVED record is still a fact Security Hub holds (it is how fixed
problems are recognised), and its state travels in the finding's properties.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from secpipe.formats._common import expect, load_json, objects
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding, from_asff


def _findings_list(doc: Any, source: str) -> list[Mapping[str, Any]]:
    if isinstance(doc, list):
        return list(objects(doc, source, "the findings"))
    expect(doc, dict, source, "an ASFF document")
    for key in ("Findings", "findings"):
        if key in doc:
            return list(objects(doc[key], source, key))
    if "Id" in doc:
        return [doc]
    raise ReportFormatError(
        source, "not ASFF: expected an array of findings, {\"Findings\": [...]} or one finding"
    )


def _check(obj: Mapping[str, Any], source: str, index: int) -> None:
    missing = []
    if not isinstance(obj.get("Id"), str) or not obj["Id"]:
        missing.append("Id")
    if not (obj.get("Title") or obj.get("Description")):
        missing.append("Title/Description")
    if not (obj.get("ProductArn") or obj.get("GeneratorId")):
        missing.append("ProductArn/GeneratorId")
    if missing:
        raise ReportFormatError(source, f"finding {index} is not ASFF: no {', '.join(missing)}")
    for key, kind in (("Resources", list), ("Severity", dict), ("ProductFields", dict),
                      ("Vulnerabilities", list), ("Types", list)):
        if obj.get(key) is not None:
            expect(obj[key], kind, source, f"finding {index} {key}")


def parse(data: bytes, source: str = "<asff>") -> Sequence[Finding]:
    findings: list[Finding] = []
    for i, obj in enumerate(_findings_list(load_json(data, source), source)):
        _check(obj, source, i)
        try:
            findings.append(from_asff(obj))
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            raise ReportFormatError(source, f"finding {i} could not be read: {exc}") from None
    return findings


def _looks_like_finding(obj: Any) -> bool:
    return (isinstance(obj, dict) and "Id" in obj and ("ProductArn" in obj or "GeneratorId" in obj)
            and ("Title" in obj or "Description" in obj))


def sniff(doc: Document) -> bool:
    data = doc.json
    if isinstance(data, dict):
        for key in ("Findings", "findings"):
            if isinstance(data.get(key), list):
                return bool(data[key]) and _looks_like_finding(data[key][0])
        return _looks_like_finding(data)
    if isinstance(data, list) and data:
        return _looks_like_finding(data[0])
    return False


FORMAT = ReportFormat(name="asff", title="AWS Security Finding Format (ASFF)", parse=parse,
                      sniff=sniff)
