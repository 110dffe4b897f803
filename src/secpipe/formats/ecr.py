"""Amazon ECR image scan findings (`aws ecr describe-image-scan-findings`): the seed's ECR stage.

`{registryId, repositoryName, imageId: {imageDigest, imageTag}, imageScanStatus: {status,
description}, imageScanFindings: {findings, enhancedFindings, findingSeverityCounts, ...}}`.
Also read: a list of such responses (boto3 pages, as secpipe's registry stage collects them),
and the bare `imageScanFindings` object (`--query imageScanFindings`).

* Basic scanning (`findings[]`): `{name, description, uri, severity, attributes: [{key,
  value}]}` with the attributes package_name, package_version, CVSS2_SCORE/CVSS2_VECTOR and
  CVSS3_SCORE/CVSS3_VECTOR. Basic scanning reports no fixed version. Severity UNDEFINED falls
  back on the CVSS score.
* Enhanced scanning (`enhancedFindings[]`) returns Amazon Inspector finding objects and is read
  by :func:`secpipe.formats.inspector2.findings_from` (CLOSED/SUPPRESSED ones are dropped).

The resource is the image, named `repository:tag` (or `repository@digest` without a tag) so the
same vulnerability in the next build of the same tag keeps its identity. A scan whose status is
not COMPLETE/ACTIVE (FAILED, IN_PROGRESS, UNSUPPORTED_IMAGE, FINDINGS_UNAVAILABLE...) is an
error, never an empty result: an unfinished scan found nothing only because it did not look.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

from secpipe.formats import _vuln as v
from secpipe.formats._common import dig, load_json, objects, text
from secpipe.formats.inspector2 import findings_from
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding, Resource

TOOL = "ecr"
GOOD_STATUSES = frozenset({"", "COMPLETE", "ACTIVE"})
_INNER_KEYS = ("findingSeverityCounts", "imageScanCompletedAt", "vulnerabilitySourceUpdatedAt")


@v.guarded("ecr")
def parse(data: bytes, source: str = "<ecr>") -> Sequence[Finding]:
    doc = load_json(data, source)
    pages = doc if isinstance(doc, list) else [doc]
    if not pages:
        raise ReportFormatError(source, "an empty array is not an ECR scan report (no pages)")
    findings: list[Finding] = []
    for n, page in enumerate(pages):
        where = f"page {n}: " if isinstance(doc, list) else ""
        if not isinstance(page, dict):
            raise ReportFormatError(
                source, f"{where}an ECR scan report is an object, got {type(page).__name__}")
        findings.extend(_page(page, source, where))
    return findings


def _page(page: Mapping[str, Any], source: str, where: str) -> Iterator[Finding]:
    if "imageScanFindings" in page:
        scan = page["imageScanFindings"]
        if scan is None:
            scan = {}
        if not isinstance(scan, Mapping):
            raise ReportFormatError(source, f"{where}imageScanFindings should be an object")
    elif _is_inner(page):
        scan = page
    else:
        raise ReportFormatError(source, f"{where}not an ECR describe-image-scan-findings "
                                        "report: no 'imageScanFindings'")
    status = text(dig(page, "imageScanStatus", "status")).upper()
    if status not in GOOD_STATUSES:
        reason = text(dig(page, "imageScanStatus", "description"))
        raise ReportFormatError(
            source, f"{where}the image scan is {status}" + (f": {reason}" if reason else "")
            + "; its findings are not a complete result")
    image = _image(page)
    for i, item in enumerate(objects(scan.get("findings"), source, "imageScanFindings.findings")):
        yield _basic(item, image, source, f"{where}imageScanFindings.findings[{i}]")
    for finding in findings_from(scan.get("enhancedFindings"), source,
                                 f"{where}imageScanFindings.enhancedFindings", TOOL):
        yield _on_image(finding, image) if image else finding


def _on_image(finding: Finding, image: str) -> Finding:
    """Enhanced findings name the image by its digest ARN; name it like basic findings do
    (repository:tag), keeping the ARN in the details, so both scan types share identities."""
    details: dict[str, str] = {}
    if finding.resource is not None:
        details = dict(finding.resource.details)
        details["arn"] = finding.resource.id
    vuln = finding.vulnerabilities[0] if finding.vulnerabilities else None
    if vuln is not None:
        details.setdefault("package", vuln.package or "")
        details.setdefault("version", vuln.version or "")
    return finding.with_(resource=Resource(
        type="Container", id=image, details={k: val for k, val in details.items() if val}))


def _is_inner(page: Mapping[str, Any]) -> bool:
    return ("findings" in page or "enhancedFindings" in page) and any(
        k in page for k in _INNER_KEYS)


def _image(page: Mapping[str, Any]) -> str:
    repo = text(page.get("repositoryName"))
    tag = text(dig(page, "imageId", "imageTag"))
    digest = text(dig(page, "imageId", "imageDigest"))
    if repo and tag:
        return f"{repo}:{tag}"
    if repo and digest:
        return f"{repo}@{digest}"
    return repo or digest


def _basic(item: Mapping[str, Any], image: str, source: str, what: str) -> Finding:
    tool_id = v.clean(item.get("name"))
    if not tool_id:
        raise ReportFormatError(source, f"{what} has no 'name'")
    attrs: dict[str, str] = {}
    for attr in objects(item.get("attributes"), source, f"{what}.attributes"):
        attrs[text(attr.get("key"))] = text(attr.get("value"))
    name, version = v.clean(attrs.get("package_name")), v.clean(attrs.get("package_version"))
    vector3 = v.clean(attrs.get("CVSS3_VECTOR"))
    vector2 = v.clean(attrs.get("CVSS2_VECTOR"))
    score3, score2 = v.number(attrs.get("CVSS3_SCORE")), v.number(attrs.get("CVSS2_SCORE"))
    score, vector = (score3, vector3) if score3 is not None else (score2, vector2)
    if score is None:
        vector = vector3 or vector2
        score = v.cvss_base_score(vector)
    severity, word = v.rate(item.get("severity"), score)
    vid, aliases = v.split_ids([tool_id])
    resource: Resource = (v.image_resource(image, name, version) if image
                          else v.package_resource(None, name, version))
    return v.vuln_finding(
        tool=TOOL, vid=vid, aliases=aliases, package=name, version=version,
        severity=severity, severity_original=word, description=v.clean(item.get("description")),
        cvss_score=score, cvss_vector=vector or None, urls=[text(item.get("uri"))],
        resource=resource, properties={"ScanType": "BASIC"})


def sniff(doc: Document) -> bool:
    data = doc.json
    pages = data if isinstance(data, list) and data else [data]
    for page in pages:
        if not isinstance(page, dict):
            return False
        if not (isinstance(page.get("imageScanFindings"), dict) or _is_inner(page)):
            return False
    return True


FORMAT = ReportFormat(
    name="ecr", title="Amazon ECR describe-image-scan-findings JSON", parse=parse, sniff=sniff)
