"""kubescape's JSON report (v2: `{summaryDetails{controls}, resources[], results[]}`).

* One finding per failed (resource, control). A control's status is its own
  ``status.status`` when kubescape gives one (newer reports), else "failed" when any of its
  rules failed (older v2 reports leave it out). Several failed rules of one control (CIS
  controls bundle five or six) are one problem with several causes, listed in the
  description; DefectDojo emits one identical-looking finding per failed rule instead, so it
  counts more (349 against our 289 for its many_findings.json).
* Severity comes from the control's ``scoreFactor`` in summaryDetails with kubescape's own
  scale (>=9 critical, >=7 high, >=4 medium, >=1 low); a control kubescape does not
  describe there is medium (unknown, not harmless).
* The resource is named `Kind:namespace/name` from the resource object (or the resourceID,
  `.../api=group/version/namespace/Kind/name`). The ``location_key`` is kubescape's own
  resourceID: it tells apart two manifests defining the same object (`path=<hash>`) and one
  ServiceAccount reached through different bindings, and no line number is in it.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from secpipe.formats._common import dig, expect, load_json, objects, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Category, Finding, Location, Resource, Severity


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _severity(factor: Any) -> Severity:
    score = float(factor)
    if score >= 9:
        return Severity.CRITICAL
    if score >= 7:
        return Severity.HIGH
    if score >= 4:
        return Severity.MEDIUM
    if score >= 1:
        return Severity.LOW
    return Severity.INFORMATIONAL


def _resource_names(resource_id: str, obj: Mapping) -> tuple[str, str, str]:
    parts = resource_id.split("/")
    kind = text(obj.get("kind")) or (parts[-2] if len(parts) >= 2 else "")
    # RBAC subjects (a ServiceAccount with its related bindings) carry name/namespace on top.
    name = (text(dig(obj, "metadata", "name")) or text(obj.get("name"))
            or (parts[-1] if parts else resource_id))
    namespace = text(dig(obj, "metadata", "namespace")) or text(obj.get("namespace"))
    if not namespace and len(parts) >= 3 and "=" not in parts[-3]:
        namespace = parts[-3]
    return kind, namespace, name


def _status(control: Mapping) -> str:
    status = control.get("status")
    if isinstance(status, dict) and text(status.get("status")):
        return text(status["status"]).lower()
    if isinstance(status, str) and status:
        return status.lower()
    rules = [r for r in _as_list(control.get("rules")) if isinstance(r, dict)]
    return "failed" if any(text(r.get("status")).lower() == "failed" for r in rules) else "passed"


def parse(data: bytes, source: str = "<kubescape>") -> Sequence[Finding]:
    doc = expect(load_json(data, source), dict, source, "a kubescape report")
    if not isinstance(doc.get("summaryDetails"), dict):
        raise ReportFormatError(source, "not a kubescape v2 report: no 'summaryDetails' object")
    summary = doc.get("summaryDetails")
    summary = {} if summary is None else expect(summary, dict, source, "summaryDetails")
    controls_info = summary.get("controls")
    controls_info = {} if controls_info is None else expect(
        controls_info, dict, source, "summaryDetails.controls")
    resources = {text(r.get("resourceID")): r for r in objects(doc.get("resources"), source, "resources")}
    findings: list[Finding] = []
    for i, result in enumerate(objects(doc.get("results"), source, "results")):
        resource_id = text(result.get("resourceID"))
        if not resource_id:
            raise ReportFormatError(source, f"results[{i}] has no 'resourceID'")
        resource = resources.get(resource_id, {})
        obj = resource.get("object") if isinstance(resource.get("object"), dict) else {}
        kind, namespace, name = _resource_names(resource_id, obj)
        path = text(dig(resource, "source", "relativePath")) or text(obj.get("sourcePath"))
        path = path.rsplit(":", 1)[0] if path.rsplit(":", 1)[-1].isdigit() else path
        for j, control in enumerate(objects(result.get("controls"), source, f"results[{i}].controls")):
            if _status(control) != "failed":
                continue
            control_id = text(control.get("controlID"))
            if not control_id:
                raise ReportFormatError(source, f"results[{i}].controls[{j}] has no 'controlID'")
            findings.append(_finding(control, controls_info.get(control_id), control_id,
                                     resource_id, kind, namespace, name, path, obj))
    return findings


def _finding(control: Mapping, info: Any, control_id: str, resource_id: str, kind: str,
             namespace: str, name: str, path: str, obj: Mapping) -> Finding:
    info = info if isinstance(info, dict) else {}
    control_name = text(control.get("name")) or text(info.get("name")) or control_id
    factor = info.get("scoreFactor", info.get("baseScore"))
    try:
        severity, original = _severity(factor), f"scoreFactor {float(factor):g}"
    except (TypeError, ValueError):
        severity, original = Severity.MEDIUM, "unknown"
    failed = [r for r in _as_list(control.get("rules"))
              if isinstance(r, dict) and text(r.get("status")).lower() == "failed"]
    fixes: list[str] = []
    for rule in failed:
        for p in _as_list(rule.get("paths")):
            fix = dig(p, "fixPath", "path")
            if fix:
                value = text(dig(p, "fixPath", "value"))
                fixes.append(f"set {fix}" + (f" = {value}" if value else ""))
            for key in ("failedPath", "deletePath", "reviewPath"):
                if text(dig(p, key)):
                    fixes.append(f"{key} {text(p[key])}")
    who = f"{kind} {namespace + '/' if namespace else ''}{name}".strip()
    lines = [f"{who} fails kubescape control {control_id} ({control_name})."]
    if text(info.get("description")):
        lines.append(text(info["description"]))
    if failed:
        lines.append("Failed rules: " + ", ".join(text(r.get("name")) for r in failed) + ".")
    if fixes:
        lines.append("Evidence: " + "; ".join(dict.fromkeys(fixes)) + ".")
    category = dig(info, "category", "name")
    rid = f"{kind}:{namespace + '/' if namespace else ''}{name}"
    details = {"kind": kind, "name": name, "namespace": namespace, "resourceID": resource_id,
               "apiVersion": text(obj.get("apiVersion"))}
    url = f"https://hub.armosec.io/docs/{control_id.lower()}" if control_id.startswith("C-") else None
    remediation = text(info.get("remediation")) or text(info.get("mitigation")) or (
        "; ".join(dict.fromkeys(fixes)) if fixes else None)
    props = {"format": "kubescape", "control_name": control_name}
    if category:
        props["control_category"] = text(category)
    return Finding(
        tool="kubescape",
        rule_id=control_id,
        title=f"{control_name} - {who}",
        description="\n".join(lines),
        severity=severity,
        severity_original=original,
        category=Category.MISCONFIGURATION,
        location=Location(path=path) if path else None,
        resource=Resource(type="Other", id=rid, details={k: v for k, v in details.items() if v}),
        remediation=remediation or None,
        remediation_url=url,
        references=(url,) if url else (),
        location_key=f"kubescape:{resource_id}",
        properties=props,
    )


def sniff(doc: Document) -> bool:
    data = doc.json
    if not isinstance(data, dict) or not isinstance(data.get("summaryDetails"), dict):
        return False
    summary = data["summaryDetails"]
    return ("controls" in summary or "frameworks" in summary) and (
        "results" in data or "resources" in data or "clusterName" in data)


FORMAT = ReportFormat(name="kubescape", title="kubescape JSON (v2)", parse=parse, sniff=sniff)
