"""kubeaudit's JSON output (`kubeaudit all -p json`): one logrus JSON object per line.

Each audit result line carries `AuditResultName`, the resource (`ResourceKind`,
`ResourceName`, `ResourceNamespace`, `ResourceApiVersion`), `level` (error/warning/info),
`msg`, `time`, plus auditor-specific fields (`Container`, `MissingAnnotation`, ...).

* Severity: error high, warning medium, info informational.
* Lines without `AuditResultName` but with logrus's `level` and `msg` are kubeaudit's own log
  messages and are skipped; any other object is not kubeaudit output and is an error.
* kubeaudit prints nothing when it finds nothing, so an empty report is zero findings.
* ``location_key``: the auditor-specific fields (container, annotation, ...) minus the
  volatile ones (time, message), so two containers of one pod are two findings and a
  re-run finds the same ones.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from secpipe.formats._common import blank, iter_json_lines, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Category, Finding, Resource, Severity

_LEVELS = {"error": Severity.HIGH, "warning": Severity.MEDIUM, "warn": Severity.MEDIUM,
           "info": Severity.INFORMATIONAL}
_BASE_KEYS = {"AuditResultName", "ResourceKind", "ResourceName", "ResourceNamespace",
              "ResourceApiVersion", "level", "msg", "time"}


def parse(data: bytes, source: str = "<kubeaudit>") -> Sequence[Finding]:
    if blank(data):
        return []
    # one finding per identity (the pipeline drops exact repeats anyway): lines stream, and
    # a report of any size costs memory per distinct result
    findings: dict[str, Finding] = {}
    for number, row in enumerate(iter_json_lines(data, source), 1):
        if not isinstance(row, dict):
            raise ReportFormatError(source, f"line {number} is not a JSON object")
        if "AuditResultName" not in row:
            if "level" in row and "msg" in row:
                continue  # kubeaudit's own log line
            raise ReportFormatError(source, f"line {number} is not a kubeaudit result "
                                            "(no 'AuditResultName')")
        finding = _finding(row, number, source)
        findings.setdefault(finding.identity_key(), finding)
    return list(findings.values())


def _finding(row: Mapping[str, Any], number: int, source: str) -> Finding:
    rule = text(row.get("AuditResultName"))
    if not rule:
        raise ReportFormatError(source, f"line {number} has an empty 'AuditResultName'")
    kind = text(row.get("ResourceKind"))
    name = text(row.get("ResourceName"))
    namespace = text(row.get("ResourceNamespace"))
    level = text(row.get("level"), "warning").lower()
    msg = text(row.get("msg")).strip()
    extras = {k: v for k, v in row.items() if k not in _BASE_KEYS and v not in (None, "", {}, [])}
    flat = {k: (text(v) if not isinstance(v, (dict, list)) else _flatten(v)) for k, v in extras.items()}
    key_parts = [f"{k}={flat[k]}" for k in sorted(flat)]
    rid = f"{kind}:{namespace + '/' if namespace else ''}{name}" if kind or name else "kubernetes"
    who = f"{kind} {namespace + '/' if namespace else ''}{name}".strip()
    container = text(row.get("Container"))
    where = f"{who} container {container}" if container else who
    details = {"kind": kind, "name": name, "namespace": namespace,
               "apiVersion": text(row.get("ResourceApiVersion"))}
    props = {"format": "kubeaudit", **{k: v for k, v in flat.items() if v}}
    return Finding(
        tool="kubeaudit",
        rule_id=rule,
        title=f"{rule}: {where}" if where else rule,
        description=msg or rule,
        severity=_LEVELS.get(level, Severity.MEDIUM),
        severity_original=level,
        category=Category.MISCONFIGURATION,
        resource=Resource(type="Other", id=rid, details={k: v for k, v in details.items() if v}),
        remediation=msg or None,
        remediation_url="https://github.com/Shopify/kubeaudit#auditors",
        location_key="kubeaudit:" + ("|".join(key_parts) if key_parts else rid),
        properties=props,
    )


def _flatten(value: Any, depth: int = 0) -> str:
    """Nested values as `k=v,...`; below 20 levels (kubeaudit's deepest is 2) an ellipsis,
    since JSON nested a few hundred deep would otherwise exhaust the recursion limit."""
    if depth > 20 and isinstance(value, (dict, list)):
        return "…"
    if isinstance(value, dict):
        return ",".join(f"{k}={_flatten(v, depth + 1)}" for k, v in sorted(value.items()))
    if isinstance(value, list):
        return ",".join(_flatten(v, depth + 1) for v in value)
    return text(value)


def sniff(doc: Document) -> bool:
    rows = doc.json_lines
    if not rows:
        return False
    return any(isinstance(r, dict) and "AuditResultName" in r and "ResourceKind" in r
               for r in rows[:20])


FORMAT = ReportFormat(name="kubeaudit", title="kubeaudit JSON lines (-p json)", parse=parse,
                      sniff=sniff)
