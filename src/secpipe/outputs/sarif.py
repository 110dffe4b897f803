"""`results.sarif`: SARIF 2.1.0 that GitHub code scanning accepts on upload.

GitHub reads a subset of SARIF and rejects a whole file for one bad result, so this writer
holds to its rules rather than to what the spec merely allows:

- every result has exactly one location, and that location has a ``physicalLocation``
  (a location with only ``logicalLocations`` fails with "expected artifact location"): a
  finding about an image, a cluster object or a URL points at :data:`FALLBACK_URI` and names
  its resource in ``logicalLocations``;
- ``region.startLine`` is >= 1 or the region is left out (GitHub rejects line 0, which some
  tools use for "the whole file");
- artifact URIs are relative to ``%SRCROOT%`` and percent-encoded, so `image:tag (alpine)` is
  not read as a URI scheme;
- the severity GitHub shows comes from the rule's ``properties.security-severity``;
- ``partialFingerprints`` carries the finding's own fingerprint, so alerts survive line shifts.

One run per tool (not per stage: GitHub takes at most 20 runs a file and a tool run in two
stages is still one analysis). ``automationDetails`` is left unset on purpose: the upload
step's ``category`` fills it only where it is absent, and runs of different tools never share
a category anyway. A tool that errored and produced nothing gets no run at all: an empty run
would tell GitHub every earlier alert of that tool was fixed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

from secpipe.model import Finding, Severity
from secpipe.outputs._common import Origins, all_gated, clean, issue_key, link_for
from secpipe.outputs._issues import group_issues
from secpipe.outputs._stream import Encoded, encode, json_chunks, write_chunks
from secpipe.pipeline.result import GatedFinding, RunResult, StageResult, ToolResult, ToolStatus

FILE_NAME = "results.sarif"
SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
FALLBACK_URI = "secpipe.yml"
FINGERPRINT_KEY = "secpipe/v1"
MAX_TAGS = 10  # GitHub keeps only the first ten tags of a rule

SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFORMATIONAL: "0.0",
}
LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFORMATIONAL: "note",
}
TOOL_URIS = {
    "bandit": "https://bandit.readthedocs.io/",
    "checkov": "https://www.checkov.io/",
    "detect-secrets": "https://github.com/Yelp/detect-secrets",
    "falco": "https://falco.org/",
    "git-secrets": "https://github.com/awslabs/git-secrets",
    "gitleaks": "https://github.com/gitleaks/gitleaks",
    "grype": "https://github.com/anchore/grype",
    "hadolint": "https://github.com/hadolint/hadolint",
    "kics": "https://kics.io/",
    "kube-bench": "https://github.com/aquasecurity/kube-bench",
    "kubeaudit": "https://github.com/Shopify/kubeaudit",
    "kubescape": "https://kubescape.io/",
    "semgrep": "https://semgrep.dev/",
    "terrascan": "https://github.com/tenable/terrascan",
    "tfsec": "https://github.com/aquasecurity/tfsec",
    "trivy": "https://trivy.dev/",
    "trufflehog": "https://github.com/trufflesecurity/trufflehog",
    "trufflehog3": "https://github.com/feeltheajf/trufflehog3",
    "zap": "https://www.zaproxy.org/",
}


def render_sarif(run: RunResult, *, fallback_uri: str = FALLBACK_URI) -> str:
    return "".join(json_chunks(sarif_log(run, fallback_uri=fallback_uri), spread=4)) + "\n"


def write_sarif(run: RunResult, run_dir: Path) -> Path:
    """Streamed, one result per line (outputs._stream): no giant string in memory."""
    return write_chunks(Path(run_dir) / FILE_NAME,
                        json_chunks(sarif_log(run), spread=4))


@dataclass
class _ToolRun:
    name: str
    tools: list[ToolResult] = field(default_factory=list)
    findings: list[tuple[StageResult, GatedFinding]] = field(default_factory=list)


def sarif_log(run: RunResult, *, fallback_uri: str = FALLBACK_URI) -> dict[str, Any]:
    origins = Origins(run)
    groups: dict[str, _ToolRun] = {}
    for stage in run.stages:
        for tool in stage.tools:
            groups.setdefault(tool.tool, _ToolRun(tool.tool)).tools.append(tool)
        for gated in stage.findings:
            name = origins.tool_name(stage, gated)
            groups.setdefault(name, _ToolRun(name)).findings.append((stage, gated))
    # `rare.related`: the field's slot (model.rarefields)
    related = [(s, g) for s, g in all_gated(run) if g.finding.rare.related]
    found_by = {i.key: i.tools for i in group_issues(run, related, origins)}
    runs = [
        _run(group, run.root, fallback_uri, found_by)
        for group in groups.values()
        if group.findings or any(t.status is ToolStatus.OK for t in group.tools)
    ]
    return _cleaned({"$schema": SCHEMA_URI, "version": "2.1.0", "runs": runs})


def _cleaned(value: Any) -> Any:
    """Every string of the log without control or bidi characters: JSON would escape them,
    but a viewer or a terminal printing a message decodes them back (outputs._common.clean)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(k): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    if isinstance(value, Iterator):
        return (_encoded_clean(v) for v in value)
    return value


# what `clean` would change, as it shows in compact JSON: a control escape (tab, CR and LF
# excepted), C1 controls, bidi controls, surrogates and non-characters
_SUSPECT = re.compile('\\\\u00[01]|\\\\u007f|\\\\[bf]|[\x7f-\x9f\u202a-\u202e\u2066-\u2069'
                      '\ud800-\udfff\ufffe\uffff]')


def _encoded_clean(value: Any) -> Encoded:
    """One result, encoded; cleaned string by string only when the encoding shows something to
    clean (rare), so 50,000 results cost one encode and one regex scan each."""
    text = encode(value)
    # every alternative of _SUSPECT starts with a backslash or is DEL or non-ASCII: ASCII text
    # without either cannot match (isascii is a flag on str, the two searches are memchr)
    if text.isascii() and "\\" not in text and "\x7f" not in text:
        return text
    # non-ASCII (a masked secret's "…"): every character of _SUSPECT's class is one that
    # str.isprintable refuses (a control, format, surrogate or non-character), and its
    # escapes all start with one of three backslash pairs: two C-level scans, not the regex
    if text.isprintable() and ("\\" not in text or (
            "\\u00" not in text and "\\b" not in text and "\\f" not in text)):
        return text
    return encode(_cleaned(value)) if _SUSPECT.search(text) else text


def _run(group: _ToolRun, root: str, fallback_uri: str,
         found_by: dict[str, list[str]] | None = None) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    worst: dict[str, Severity] = {}
    for stage, gated in group.findings:
        f = gated.finding
        if f.rule_id not in index:
            index[f.rule_id] = len(rules)
            rules.append(_rule(f))
            worst[f.rule_id] = f.severity
        elif f.severity > worst[f.rule_id]:
            # One rule, one severity on GitHub: show the worst any of its findings has.
            worst[f.rule_id] = f.severity
            props = rules[index[f.rule_id]]["properties"]
            props["security-severity"] = SECURITY_SEVERITY[f.severity]
            rules[index[f.rule_id]]["defaultConfiguration"]["level"] = LEVELS[f.severity]
    # made one at a time while the file is written (the rules above needed every finding)
    results = (_result(stage, gated, index[gated.finding.rule_id], root, fallback_uri,
                       (found_by or {}).get(issue_key(gated), []))
               for stage, gated in group.findings)
    driver: dict[str, Any] = {"name": group.name}
    version = next((t.version for t in group.tools if t.version), None)
    if version:
        driver["version"] = version
    uri = TOOL_URIS.get(group.name) or TOOL_URIS.get(group.name.split("-")[0])
    if uri:
        driver["informationUri"] = uri
    driver["rules"] = rules
    out: dict[str, Any] = {"tool": {"driver": driver}}
    invocations = [_invocation(t) for t in group.tools]
    if invocations:
        out["invocations"] = invocations
    out["results"] = results
    return out


def _rule(f: Finding) -> dict[str, Any]:
    title = (f.title.strip() or f.rule_id)[:1024]
    rule: dict[str, Any] = {
        "id": f.rule_id,
        "shortDescription": {"text": title},
        "fullDescription": {"text": (f.description.strip() or title)[:4096]},
    }
    link = link_for(f)
    if link:
        rule["helpUri"] = link
    help_text = f.remediation or (f"See {link}" if link else "")
    if help_text:
        rule["help"] = {"text": help_text[:4096]}
    rule["defaultConfiguration"] = {"level": LEVELS[f.severity]}
    rule["properties"] = {
        "security-severity": SECURITY_SEVERITY[f.severity],
        "tags": _tags(f),
    }
    return rule


def _tags(f: Finding) -> list[str]:
    tags = ["security", f.category.value]
    for cwe in f.cwe:
        digits = re.search(r"\d+", cwe)
        if digits:
            tags.append(f"external/cwe/cwe-{int(digits.group())}")
    return list(dict.fromkeys(tags))[:MAX_TAGS]


def _result(stage: StageResult, gated: GatedFinding, rule_index: int, root: str,
            fallback_uri: str, tools: list[str] | None = None) -> dict[str, Any]:
    f = gated.finding
    text = f.title.strip() or f.rule_id
    if f.secret is not None and f.secret.masked not in text:
        text += f" (secret {f.secret.masked})"
    if tools and len(tools) > 1:
        text += f" (one issue, found by {', '.join(tools)})"
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": LEVELS[f.severity],
        "message": {"text": text},
        "locations": [_location(f, root, fallback_uri)],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint()},
    }
    props: dict[str, Any] = {
        "secpipe/stage": gated.stage or stage.name,
        "secpipe/severity": f.severity.name,
        "secpipe/blocking": gated.blocking,
        "secpipe/asffId": gated.asff_id,
    }
    if f.secret is not None:
        props["secpipe/secretMasked"] = f.secret.masked
    if f.rare.related:   # the field's slot (model.rarefields)
        # the other tools' findings of the same root cause (secpipe.pipeline.correlate)
        props["secpipe/issue"] = issue_key(gated)
        props["secpipe/foundBy"] = list(tools or [])
        props["secpipe/relatedAsffIds"] = list(f.related)
    result["properties"] = props
    if gated.suppressed_by is not None:
        sup = gated.suppressed_by
        result["suppressions"] = [{
            "kind": "external",
            "status": "accepted",
            "justification": sup.describe(),
            "properties": {"expires": sup.expires},
        }]
    return result


def _location(f: Finding, root: str, fallback_uri: str) -> dict[str, Any]:
    loc = f.location
    artifact = _artifact(loc.path, root) if loc is not None and loc.path else None
    if artifact is not None and loc is not None:
        physical: dict[str, Any] = {"artifactLocation": artifact}
        if loc.start_line is not None and loc.start_line >= 1:
            region = {"startLine": int(loc.start_line)}
            if loc.end_line is not None and loc.end_line >= loc.start_line:
                region["endLine"] = int(loc.end_line)
            physical["region"] = region
        return {"physicalLocation": physical}
    out: dict[str, Any] = {"physicalLocation": {
        "artifactLocation": {"uri": quote(fallback_uri, safe="/"), "uriBaseId": SRCROOT},
    }}
    name = f.resource.id if f.resource is not None else (loc.path if loc is not None else "")
    if name:
        logical: dict[str, Any] = {"fullyQualifiedName": name}
        if f.resource is not None:
            logical["kind"] = f.resource.type
        out["logicalLocations"] = [logical]
    return out


def _artifact(path: str, root: str) -> dict[str, Any] | None:
    """A repo-relative artifact location, or None when the "path" is not a file of the tree
    (a URL or an image name a tool reported as its target)."""
    # a relative root is resolved against the working directory, which may change: not cached
    uri = (_artifact_uri(path, root) if not root or _absolute(root)
           else _artifact_uri.__wrapped__(path, root))
    if uri is None:
        return None
    return {"uri": uri[0], "uriBaseId": SRCROOT} if uri[1] else {"uri": uri[0]}


@lru_cache(maxsize=64)
def _absolute(root: str) -> bool:
    """`os.path.isabs(root)`, asked once per finding of a run with one root."""
    return os.path.isabs(root)


@lru_cache(maxsize=1 << 12)
def _artifact_uri(path: str, root: str) -> tuple[str, bool] | None:
    """(uri, relative to SRCROOT) of `_artifact`: findings share files (a tool reports many
    rules per file), and each made its relpath and quote again."""
    if "://" in path:
        return None
    p = path.replace("\\", "/")
    if root and os.path.isabs(p):
        rel = os.path.relpath(p, root).replace("\\", "/")
        if not rel.startswith("../") and rel != "..":
            p = rel
    while p.startswith("./"):
        p = p[2:]
    if not p or p == ".":
        return None
    if p.startswith("/"):
        return "file://" + quote(p, safe="/"), False
    return quote(p, safe="/"), True


def _invocation(tool: ToolResult) -> dict[str, Any]:
    inv: dict[str, Any] = {"executionSuccessful": tool.status is ToolStatus.OK}
    if tool.exit_code is not None:
        inv["exitCode"] = tool.exit_code
    if tool.error:
        inv["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": tool.error}}
        ]
    inv["properties"] = {"secpipe/stage": tool.stage, "secpipe/status": tool.status.value}
    return inv
