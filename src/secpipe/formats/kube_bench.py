"""kube-bench's JSON report (`kube-bench --json`): CIS Kubernetes benchmark checks.

Accepted shapes: `{Controls: [...], Totals}` (current), a list of control objects, or one
control object (older releases). Each control holds `tests` (sections) holding `results`.

kube-bench has no severities, only a status per check:

* FAIL -> a finding of medium severity (a CIS recommendation the node does not meet).
* WARN -> a finding of informational severity when the check is automated but could not
  conclude (its audit command failed, or the benchmark leaves judgement to a human).
* WARN of a *manual* check (`type: manual`, reason "Test marked as a manual test") -> skipped:
  kube-bench prints these for every cluster whatever its state, so they say nothing about it.
* PASS and INFO (`type: skip`) -> skipped.

The ``location_key`` is node type + check number: stable, and the resource is the node type
(`master`, `node`, `etcd`, `controlplane`, `policies`), since the report names no host.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from secpipe.formats._common import expect, load_json, objects, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Category, Finding, Resource, Severity

_MANUAL_REASON = "test marked as a manual test"


def _controls(doc: Any, source: str) -> list[Mapping[str, Any]]:
    if isinstance(doc, dict) and "Controls" in doc:
        if not doc["Controls"] and "Totals" not in doc:
            raise ReportFormatError(source, "not a kube-bench report: empty 'Controls' without "
                                            "kube-bench's 'Totals'")
        return list(objects(doc["Controls"], source, "Controls"))
    if isinstance(doc, list):
        if not doc:
            raise ReportFormatError(source, "not a kube-bench report: an empty array (kube-bench "
                                            "always lists the controls it ran)")
        return list(objects(doc, source, "the report"))
    if isinstance(doc, dict) and "tests" in doc:
        return [doc]
    raise ReportFormatError(
        source, "not a kube-bench report: expected {Controls: [...]}, a list of controls or a control"
    )


def _is_manual(result: Mapping[str, Any]) -> bool:
    return (text(result.get("type")).lower() == "manual"
            or text(result.get("reason")).strip().lower() == _MANUAL_REASON)


def parse(data: bytes, source: str = "<kube-bench>") -> Sequence[Finding]:
    doc = load_json(data, source)
    findings: list[Finding] = []
    for c, control in enumerate(_controls(doc, source)):
        if "tests" not in control:
            raise ReportFormatError(source, f"control {c} has no 'tests'")
        node_type = text(control.get("node_type"), "unknown") or "unknown"
        for t, group in enumerate(objects(control["tests"], source, f"Controls[{c}].tests")):
            where = f"Controls[{c}].tests[{t}].results"
            for r, result in enumerate(objects(group.get("results"), source, where)):
                status = text(result.get("status")).upper()
                if not status:
                    raise ReportFormatError(source, f"{where}[{r}] has no 'status'")
                if status == "FAIL":
                    severity = Severity.MEDIUM
                elif status == "WARN" and not _is_manual(result):
                    severity = Severity.INFORMATIONAL
                else:
                    continue
                number = text(result.get("test_number"))
                if not number:
                    raise ReportFormatError(source, f"{where}[{r}] has no 'test_number'")
                findings.append(_finding(control, group, result, node_type, number, status, severity))
    return findings


def _finding(control: Mapping, group: Mapping, result: Mapping, node_type: str, number: str,
             status: str, severity: Severity) -> Finding:
    desc = text(result.get("test_desc"), number).strip()
    lines = [
        f"CIS Kubernetes benchmark {text(control.get('version'))} check {number} "
        f"({status}) on {node_type}: {desc}".replace("  ", " "),
        f"Section {text(control.get('id'))} {text(control.get('text'))} / "
        f"{text(group.get('section'))} {text(group.get('desc'))}",
    ]
    for label, key in (("Audit", "audit"), ("Audit config", "AuditConfig"),
                       ("Expected", "expected_result"), ("Actual", "actual_value"),
                       ("Reason", "reason")):
        value = text(result.get(key)).strip()
        if value:
            lines.append(f"{label}: {value}")
    remediation = text(result.get("remediation")).strip() or "\n".join(
        text(x) for x in (result.get("test_info") if isinstance(result.get("test_info"), list) else [])
        if text(x)).strip()
    props = {"format": "kube-bench", "status": status, "node_type": node_type,
             "scored": str(bool(result.get("scored"))).lower()}
    if text(control.get("version")):
        props["benchmark_version"] = text(control["version"])
    return Finding(
        tool="kube-bench",
        rule_id=number,
        title=f"{number} - {desc}",
        description="\n".join(lines),
        severity=severity,
        severity_original=status,
        category=Category.COMPLIANCE,
        resource=Resource(type="Other", id=f"kubernetes-{node_type}",
                          details={"node_type": node_type}),
        remediation=remediation or None,
        location_key=f"kube-bench:{node_type}:{number}",
        properties=props,
    )


def _looks_like_control(obj: Any) -> bool:
    return (isinstance(obj, dict) and isinstance(obj.get("tests"), list)
            and ("node_type" in obj or "total_pass" in obj or "text" in obj))


def sniff(doc: Document) -> bool:
    data = doc.json
    if isinstance(data, dict) and isinstance(data.get("Controls"), list):
        if not data["Controls"]:
            return "Totals" in data
        return _looks_like_control(data["Controls"][0])
    if isinstance(data, list) and data:
        return _looks_like_control(data[0])
    return _looks_like_control(data)


FORMAT = ReportFormat(name="kube-bench", title="kube-bench JSON (--json)", parse=parse, sniff=sniff)
