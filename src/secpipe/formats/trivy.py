"""trivy's JSON report (`trivy image|fs|config|k8s -f json`), in every shape trivy has printed.

* Schema 2 (trivy >= 0.20): `{SchemaVersion: 2, ArtifactName, ArtifactType, Results: [...]}`;
  `Results` is absent when nothing was found.
* Legacy (before 0.20): the bare `Results` list (every entry has a `Target`; an empty array is
  no trivy report), or `null` when nothing was found. `null` is
  accepted only because old trivy really printed it; it is not sniffed, since any tool's empty
  output could look like that.
* Cluster reports (`trivy k8s`): `{ClusterName, Resources: [{Namespace, Kind, Name, Results}]}`,
  and the older `{ClusterName, Vulnerabilities: [...], Misconfigurations: [...]}` where each list
  holds the same per-object entries.

Each result (`{Target, Class, Type, ...}`) holds four kinds of entries, turned into findings by
:mod:`secpipe.formats._trivy_items`:

* `Vulnerabilities` -> VULNERABILITY, titled "CVE pkg version". Entries whose `Status` is
  `not_affected` (a vendor or VEX statement that the installed package is not vulnerable) are
  dropped: they are not problems, and there is no "inactive" finding for a gate to ignore.
  Every other status (affected, fixed, will_not_fix, end_of_life, ...) is kept and recorded.
* `Misconfigurations` -> MISCONFIGURATION, only when `Status` is FAIL or absent.
* `Secrets` -> SECRET. trivy masks the value in `Match` with asterisks, but prints the lines
  around it (`Code`) in clear, and those may hold a credential it did not recognise; Code is
  never copied, for any kind of entry.
* `Licenses` -> COMPLIANCE.

Severity: trivy's CRITICAL/HIGH/MEDIUM/LOW map one to one; UNKNOWN (and a missing severity)
becomes INFORMATIONAL, as trivy's own table ranks it below LOW.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

from secpipe.formats import _trivy_items as items
from secpipe.formats._common import expect, load_json, objects, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding

_RESULT_KEYS = frozenset({
    "Target", "Class", "Type", "Vulnerabilities", "Misconfigurations", "Secrets", "Licenses",
    "MisconfSummary", "Packages", "CustomResources", "Layer", "Modified",
})
_KINDS = (
    ("Vulnerabilities", items.vulnerability),
    ("Misconfigurations", items.misconfiguration),
    ("Secrets", items.secret),
    ("Licenses", items.license_),
)
# Lists of per-object entries in cluster reports, newest shape first.
_K8S_LISTS = ("Resources", "Vulnerabilities", "Misconfigurations", "Secrets")


def parse(data: bytes, source: str = "<trivy>") -> Sequence[Finding]:
    doc = load_json(data, source)
    findings: list[Finding] = []
    for scope, result, what in _results(doc, source):
        for key, convert in _KINDS:
            for i, entry in enumerate(objects(result.get(key), source, f"{what}.{key}")):
                try:
                    finding = convert(entry, scope)
                except (TypeError, ValueError, AttributeError) as exc:
                    raise ReportFormatError(
                        source, f"{what}.{key}[{i}] is not a trivy entry: {exc}") from None
                if finding is not None:
                    findings.append(finding)
    return findings


def _results(doc: Any, source: str) -> Iterator[tuple[items.Scope, Mapping[str, Any], str]]:
    if doc is None:
        return  # legacy trivy printed `null` for a scan with no results
    if isinstance(doc, list):
        if not doc:
            raise ReportFormatError(source, "not a trivy report: an empty array (legacy trivy "
                                            "printed `null` for no results)")
        yield from _result_list(doc, items.Scope(), source, "Results")
        return
    if not isinstance(doc, dict):
        raise ReportFormatError(
            source, f"a trivy report is an object (or a legacy array), got {type(doc).__name__}")
    if _is_cluster(doc):
        yield from _cluster(doc, source)
        return
    if not ({"SchemaVersion", "ArtifactName"} & doc.keys()):
        raise ReportFormatError(
            source, "not a trivy report: no SchemaVersion, ArtifactName or ClusterName")
    scope = items.Scope(artifact_name=text(doc.get("ArtifactName")),
                        artifact_type=text(doc.get("ArtifactType")))
    yield from _result_list(doc.get("Results"), scope, source, "Results")


def _is_cluster(doc: Mapping[str, Any]) -> bool:
    return "ClusterName" in doc


def _cluster(doc: Mapping[str, Any], source: str
             ) -> Iterator[tuple[items.Scope, Mapping[str, Any], str]]:
    cluster = text(doc.get("ClusterName"))
    for key in _K8S_LISTS:
        for i, obj in enumerate(objects(doc.get(key), source, key)):
            scope = items.Scope(
                artifact_name=cluster, artifact_type="kubernetes",
                k8s=(cluster, text(obj.get("Namespace")), text(obj.get("Kind")),
                     text(obj.get("Name"))))
            yield from _result_list(obj.get("Results"), scope, source, f"{key}[{i}].Results")


def _result_list(value: Any, base: items.Scope, source: str, what: str
                 ) -> Iterator[tuple[items.Scope, Mapping[str, Any], str]]:
    if value is None:
        return
    expect(value, list, source, what)
    for i, result in enumerate(objects(value, source, what)):
        if "Target" not in result:
            raise ReportFormatError(
                source, f"not a trivy report: {what}[{i}] is not a trivy result (no 'Target')")
        scope = items.Scope(
            artifact_name=base.artifact_name, artifact_type=base.artifact_type,
            target=text(result.get("Target")), result_class=text(result.get("Class")),
            result_type=text(result.get("Type")), k8s=base.k8s)
        yield scope, result, f"{what}[{i}]"


def _looks_like_result(obj: Any) -> bool:
    return isinstance(obj, dict) and "Target" in obj and set(obj) <= _RESULT_KEYS


def sniff(doc: Document) -> bool:
    data = doc.json
    if isinstance(data, dict):
        if isinstance(data.get("SchemaVersion"), int) and (
                "ArtifactName" in data or "Results" in data):
            return True
        if "ClusterName" in data and any(
                isinstance(data.get(k), list) for k in _K8S_LISTS):
            return True
        return False
    if isinstance(data, list) and data:
        return all(_looks_like_result(item) for item in data)
    return False


FORMAT = ReportFormat(name="trivy", title="trivy JSON (-f json)", parse=parse, sniff=sniff)
