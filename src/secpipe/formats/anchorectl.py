"""anchorectl's vulnerability JSON (`anchorectl image vulnerabilities IMG -o json`).

anchorectl prints the Anchore Enterprise v2 API's answer: the Engine v1 entries with camelCase
keys (`feedGroup`, `packageName`, `packageVersion`, `packagePath`, `nvdData[].cvssV3.baseScore`,
`willNotFix`, ...), either inside `{imageDigest, vulnerabilityType, vulnerabilities: [...]}` or,
as many pipelines save it after `jq .vulnerabilities`, as the bare array. The keys are turned
into the v1 spelling and read by :func:`secpipe.formats.anchore_engine.entry`, so both formats
map fields, severities and ids the same way.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from secpipe.formats import _vuln as v
from secpipe.formats._common import load_json
from secpipe.formats.anchore_engine import CAMEL, entry, vulnerability_list
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding

TOOL = "anchorectl"
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")


def _snake(value: Any) -> Any:
    """camelCase keys to snake_case, recursively ("cvssV3" -> "cvss_v3")."""
    if isinstance(value, dict):
        return {_CAMEL.sub(r"\1_\2", str(k)).lower(): _snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


@v.guarded("anchorectl")
def parse(data: bytes, source: str = "<anchorectl>") -> Sequence[Finding]:
    doc = load_json(data, source)
    if isinstance(doc, dict) and "securityEvaluation" in doc:
        raise ReportFormatError(
            source, "this is an Anchore Enterprise security evaluation: read it as anchore-engine")
    entries, image = vulnerability_list(doc, source, CAMEL)
    return [entry(_snake(item), image, TOOL, source, f"vulnerabilities[{i}]")
            for i, item in enumerate(entries)]


def _is_entry(item: Any) -> bool:
    return isinstance(item, dict) and "vuln" in item and (
        "packageName" in item or "feedGroup" in item)


def sniff(doc: Document) -> bool:
    data = doc.json
    if isinstance(data, list):
        return bool(data) and _is_entry(data[0])
    if not isinstance(data, dict) or not isinstance(data.get("vulnerabilities"), list):
        return False
    vulns = data["vulnerabilities"]
    if not vulns:
        return "vulnerabilityType" in data and "imageDigest" in data
    return _is_entry(vulns[0])


FORMAT = ReportFormat(
    name="anchorectl", title="anchorectl image vulnerabilities JSON", parse=parse, sniff=sniff)
