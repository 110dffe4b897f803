"""Valid ASFF findings for hub tests: `finding(**overrides)` and pipeline-made ones."""

from __future__ import annotations

import copy
from typing import Any

from secpipe.model import Finding, Location, Resource, Severity, SourceContext
from secpipe.model.asff import to_asff

ACCOUNT = "123456789012"
ARN = f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default"
T0 = "2024-05-01T10:00:00.000Z"


def finding(fid: str = "f-1", **overrides: Any) -> dict[str, Any]:
    """A minimal valid finding; `overrides` replace top-level fields (None removes one)."""
    doc: dict[str, Any] = {
        "SchemaVersion": "2018-10-08",
        "Id": fid,
        "ProductArn": ARN,
        "GeneratorId": "gen/rule-1",
        "AwsAccountId": ACCOUNT,
        "Types": ["Software and Configuration Checks/Vulnerabilities/CVE"],
        "CreatedAt": T0,
        "UpdatedAt": T0,
        "Severity": {"Label": "HIGH"},
        "Title": f"title of {fid}",
        "Description": "a description",
        "Resources": [{"Type": "Other", "Id": f"res/{fid}"}],
    }
    for key, value in overrides.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = copy.deepcopy(value)
    return doc


def key(doc: dict[str, Any]) -> dict[str, str]:
    return {"Id": doc["Id"], "ProductArn": doc["ProductArn"]}


EXAMPLE = [
    Finding(tool="hadolint", rule_id="DL3007", title="Using latest is prone to errors",
            severity=Severity.MEDIUM, location=Location("Dockerfile", 1)),
    Finding(tool="checkov", rule_id="CKV_K8S_20", title="Containers should not run with "
            "allowPrivilegeEscalation", severity=Severity.HIGH,
            resource=Resource("Deployment", "default/web"), location=Location("helm/web.yaml", 12)),
    Finding(tool="trivy", rule_id="CVE-2023-0001", title="openssl: something bad",
            severity=Severity.CRITICAL, resource=Resource("Container", "web:1.0")),
    Finding(tool="detect-secrets", rule_id="AWS Access Key", title="AWS key in config.js",
            severity=Severity.HIGH, location=Location("src/config.js", 4), location_key="s:1"),
]
STAGES = {"hadolint": "lint", "checkov": "iac", "trivy": "image", "detect-secrets": "secrets"}


def example_run(stamp: str, run_id: str, skip: tuple[str, ...] = (),
                branch: str = "main") -> list[dict[str, Any]]:
    """The example's findings as a run stamped `stamp` would import them (minus `skip` tools)."""
    out = []
    for f in EXAMPLE:
        if f.tool in skip:
            continue
        ctx = SourceContext(repo="example/web", branch=branch, commit=run_id, run_id=run_id,
                            stage=STAGES[f.tool], account_id=ACCOUNT, observed_at=stamp)
        out.append(to_asff(f, ctx))
    return out


SCOPE = tuple((stage, tool) for tool, stage in STAGES.items())


def every_page_ids(store: Any, filters: dict, sort: Any = None, page: int = 7) -> list[str]:
    """The Ids of every page of a GetFindings, followed through its NextTokens in order."""
    ids: list[str] = []
    token = None
    while True:
        docs, token = store.get_findings(filters, sort=sort, max_results=page, next_token=token)
        ids += [d["Id"] for d in docs]
        if token is None:
            return ids
