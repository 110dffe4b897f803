"""The last stage's judging without its per-finding lists: the gate makes each finding's Id
only where a suppression or a non-empty baseline reads it, and the entropy grading tells a
confirmed issue in one pass (its first tool per issue), not from a list of members per issue.
Same gated findings and the same grading as the former code, kept here as the reference, on
generated findings, suppressions and baselines."""

from __future__ import annotations

from typing import AbstractSet, Iterable, Sequence

from hypothesis import given, settings, strategies as st

from secpipe.formats._secrets import secret_finding
from secpipe.model import Category, Finding, Location, Secret, Severity, SourceContext
from secpipe.model.asff import finding_id
from secpipe.pipeline import noise
from secpipe.pipeline.gate import _LEVELS, judge_findings
from secpipe.pipeline.noise import ENTROPY_NOTE, ENTROPY_REMEDIATION, grade_entropy
from secpipe.pipeline.result import GatedFinding, Suppression
from secpipe.pipeline.suppressions import matches

CTX = SourceContext(run_id="r", stage="s")


def _former_judge(findings: Sequence[Finding], *, stage: str, fail_on: Severity,
                  suppressions: Sequence[Suppression], ctx: SourceContext,
                  baseline: AbstractSet[str] | None = None, new_only: bool = False
                  ) -> list[GatedFinding]:
    """`gate.judge_findings` at main 5231ee3, every Id made first."""
    ids = [finding_id(f, ctx) for f in findings]
    hits = [next((s for s in suppressions if matches(
        s, asff_id=asff_id, fingerprint=f.fingerprint(), tool=f.tool, rule=f.rule_id,
        path=f.path)), None) for f, asff_id in zip(findings, ids)] if suppressions \
        else [None] * len(findings)
    by_issue = {f.issue_key: hit for f, hit in zip(findings, hits)
                if f.issue_key and hit is not None and hit.id}
    gated: list[GatedFinding] = []
    for f, asff_id, hit in zip(findings, ids, hits):
        if hit is None and f.issue_key in by_issue:
            hit = by_issue[f.issue_key]
        is_new = None if baseline is None else asff_id not in baseline
        counts = not (new_only and is_new is False)
        level = f.properties.get("level", "")
        over = _LEVELS.get(level, f.severity >= fail_on)
        gated.append(GatedFinding(finding=f, stage=stage, asff_id=asff_id,
                                  blocking=hit is None and counts and over,
                                  suppressed_by=hit, is_new=is_new))
    gated.sort(key=lambda g: (-g.finding.severity, g.finding.tool, g.finding.path or "",
                              g.finding.location.start_line or 0 if g.finding.location else 0))
    return gated


def _former_grade(findings: Iterable[Finding]) -> list[Finding]:
    """`noise.grade_entropy` at main 5231ee3: a list of members per issue."""
    findings = list(findings)
    confirmed: set[str] = set()
    by_issue: dict[str, list[Finding]] = {}
    for f in findings:
        if f.issue_key:
            by_issue.setdefault(f.issue_key, []).append(f)
    for key, members in by_issue.items():
        if any(m.category is Category.SECRET and not noise.is_entropy_only(m) for m in members):
            confirmed.add(key)
        elif len({m.tool for m in members}) > 1:
            confirmed.add(key)
    out = []
    for f in findings:
        if f.severity <= Severity.LOW or f.issue_key in confirmed or not noise.is_entropy_only(f):
            out.append(f)
            continue
        props = dict(f.properties)
        props["noise"] = ENTROPY_NOTE
        out.append(f.with_(severity=Severity.LOW,
                           severity_original=f.severity_original or f.severity.name,
                           remediation=ENTROPY_REMEDIATION, properties=props))
    return out


_RULES = {"trufflehog3": ["high-entropy", "amazon.aws-api-key"],
          "detect-secrets": ["base64-high-entropy-string", "aws-access-key"],
          "checkov": ["CKV_SECRET_6", "CKV_AWS_1"]}
_one = st.tuples(st.sampled_from(sorted(_RULES)), st.integers(0, 1), st.sampled_from(list(Severity)),
                 st.sampled_from([None, "issue/a", "issue/b", "issue/c"]),
                 st.sampled_from(["a.py", "b/c.tf"]), st.integers(0, 3),
                 st.sampled_from(["", "FAIL", "INFO"]), st.booleans())


def _finding(tool: str, rule: int, severity: Severity, issue: str | None, path: str, line: int,
             level: str, secret: bool) -> Finding:
    rule_id = _RULES[tool][rule]
    props = {"level": level} if level else {}
    if secret:
        f = secret_finding(tool=tool, rule_id=rule_id, kind=rule_id, path=path, line=line,
                           secret=Secret.from_value(f"value-{path}-{line}"), properties=props)
        f = f.with_(severity=severity)
    else:
        f = Finding(tool=tool, rule_id=rule_id, title=rule_id, severity=severity,
                    location=Location(path, line) if line else None, properties=props)
    return f.with_(issue_key=issue)


def _suppressions(findings: list[Finding], picks: list[tuple[str, int]]) -> list[Suppression]:
    out = []
    for kind, n in picks:
        f = findings[n % len(findings)]
        if kind == "id":
            out.append(Suppression(id=f.fingerprint(), reason="r", expires="2999-01-01"))
        elif kind == "asff":
            out.append(Suppression(id=finding_id(f, CTX), reason="r", expires="2999-01-01"))
        elif kind == "rule":
            out.append(Suppression(rule=f.rule_id, reason="r", expires="2999-01-01"))
        else:
            out.append(Suppression(path=f.path or "*", tool=f.tool, reason="r", expires="2999-01-01"))
    return out


def _view(gated: list[GatedFinding]) -> list[tuple]:
    return [(g.finding, g.stage, g.asff_id, g.blocking, g.suppressed_by, g.is_new) for g in gated]


@settings(max_examples=200, deadline=None)
@given(st.lists(_one, min_size=1, max_size=10),
       st.lists(st.tuples(st.sampled_from(["id", "asff", "rule", "path"]), st.integers(0, 9)),
                max_size=2),
       st.sampled_from(["none", "empty", "some"]), st.booleans(),
       st.sampled_from(list(Severity)))
def test_the_gate_judges_as_it_did(spec, picks, base, new_only, fail_on) -> None:
    findings = [_finding(*one) for one in spec]
    suppressions = _suppressions(findings, picks)
    baseline = None if base == "none" else set() if base == "empty" else \
        {finding_id(f, CTX) for f in findings[::2]}
    kw = dict(stage="s", fail_on=fail_on, suppressions=suppressions, ctx=CTX,
              baseline=baseline, new_only=new_only)
    assert _view(judge_findings(findings, **kw)) == _view(_former_judge(findings, **kw))


@settings(max_examples=200, deadline=None)
@given(st.lists(_one, max_size=12))
def test_entropy_grading_is_the_former(spec) -> None:
    findings = [_finding(*one) for one in spec]
    got, want = grade_entropy(findings), _former_grade(findings)
    assert got == want and [repr(f) for f in got] == [repr(f) for f in want]
