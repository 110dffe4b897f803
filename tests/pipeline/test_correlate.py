"""One issue per root cause (secpipe.pipeline.correlate), on real reports and real tools."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from secpipe.formats import get_format
from secpipe.formats._secrets import secret_finding
from secpipe.model import Category, Finding, Location, Resource, Secret, SecretCollector, Severity
from secpipe.model import Vulnerability, collecting
from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.pipeline.correlate import correlate
from tests.conftest import OWN_FIXTURES

KEY_ID = "AKIAQ7TESTW3XKEY9ZD2"                           # made up, never issued
SECRET_KEY = "q8Vf2LrT0wXz5mNcB7yHk3JdP9sG4aE1uR6tZ0iO"    # made up


def _ids(findings: list[Finding]) -> list[str]:
    return [f"secpipe/{f.tool}/{f.fingerprint()}" for f in findings]


def _correlate(findings: list[Finding], values=()) -> list[Finding]:
    ids = _ids(findings)
    return correlate(findings, id_of=lambda i, f: ids[i], secret_values=values)


def _groups(findings: list[Finding]) -> list[set[tuple[str, str]]]:
    by: dict[str, set[tuple[str, str]]] = {}
    for f in findings:
        by.setdefault(f.issue_key or "", set()).add((f.tool, f.rule_id))
    return sorted(by.values(), key=lambda g: sorted(g))


def _parse(fmt: str, path: Path) -> list[Finding]:
    return list(get_format(fmt).parse(path.read_bytes(), path.name))


# --- secrets -------------------------------------------------------------------------------

def _secret(tool: str, rule: str, value: str | None, *, line: int = 3,
            path: str = "app/settings.py", sha1: bool = False) -> Finding:
    if sha1 and value is not None:
        import hashlib

        digest = hashlib.sha1(value.encode()).hexdigest()
        return secret_finding(tool=tool, rule_id=rule, kind=rule, path=path, line=line,
                              secret=Secret.from_hash(digest), location_key=f"secret-sha1:{digest}",
                              properties={"hash_algorithm": "sha1"})
    return secret_finding(tool=tool, rule_id=rule, kind=rule, path=path, line=line,
                          secret=Secret.from_value(value) if value else None)


def test_same_value_sha1_and_partial_match_make_one_issue() -> None:
    collector = SecretCollector()
    with collecting(collector):
        findings = [
            _secret("git-secrets", "aws-access-key-id", KEY_ID),
            _secret("trufflehog3", "amazon.aws-api-key", KEY_ID, line=9),     # other line, same value
            _secret("detect-secrets", "aws-access-key", KEY_ID, sha1=True),   # only SHA-1 known
            _secret("trufflehog3", "generic.secret", f'key = "{KEY_ID}"'),    # part of its match
            _secret("git-secrets", "aws-secret-access-key", SECRET_KEY, line=4),
            _secret("detect-secrets", "base64-high-entropy-string", SECRET_KEY, line=4, sha1=True),
        ]
    out = _correlate(findings, collector.values)
    key_issue = {f.issue_key for f in out[:4]}
    assert len(key_issue) == 1
    assert out[4].issue_key == out[5].issue_key != out[0].issue_key
    ids = _ids(findings)
    assert set(out[0].related) == set(ids[1:4])         # the three others, never itself
    assert out[4].related == (ids[5],) and out[5].related == (ids[4],)


def test_two_secrets_on_one_line_stay_two_issues() -> None:
    collector = SecretCollector()
    with collecting(collector):
        findings = [
            _secret("git-secrets", "aws-access-key-id", KEY_ID),
            _secret("trufflehog3", "high-entropy", SECRET_KEY),
            _secret("detect-secrets", "secret-keyword", "unseen-by-others-value", sha1=True),
        ]
    out = _correlate(findings, collector.values)
    assert out[0].issue_key != out[1].issue_key
    # a hashed value nobody else saw cannot say which of the two it is: left alone
    assert out[2].issue_key not in (out[0].issue_key, out[1].issue_key)
    assert all(f.related == () for f in out)


def test_a_secret_seen_only_in_history_is_not_joined_by_line() -> None:
    collector = SecretCollector()
    with collecting(collector):
        a = _secret("git-secrets", "aws-access-key-id", KEY_ID)
        b = _secret("trufflehog3", "high-entropy", SECRET_KEY).with_(
            properties={"commit": "a" * 40})
    out = _correlate([a, b], collector.values)
    assert out[0].issue_key != out[1].issue_key


# --- vulnerabilities -----------------------------------------------------------------------

def _vuln(tool: str, vid: str, aliases: tuple[str, ...], version: str = "0.12",
          package: str = "Flask") -> Finding:
    return Finding(tool=tool, rule_id=vid, title=vid, severity=Severity.HIGH,
                   category=Category.VULNERABILITY,
                   resource=Resource("Other", f"pkg:pypi/{package.lower()}@{version}"),
                   vulnerabilities=(Vulnerability(id=vid, package=package, version=version,
                                                  aliases=aliases, fixed_version="0.12.3"),))


def test_same_vulnerability_by_alias_on_same_package_and_version() -> None:
    findings = [
        _vuln("osv-match", "GHSA-562c-5r94-xh97", ("CVE-2018-1000656",)),
        _vuln("trivy", "CVE-2018-1000656", (), package="flask"),
        _vuln("pip-audit", "PYSEC-2018-66", ("CVE-2018-1000656", "GHSA-562c-5r94-xh97")),
        _vuln("trivy", "CVE-2018-1000656", (), version="0.11"),    # another installed version
        _vuln("trivy", "CVE-2019-1010083", (), package="flask"),   # another vulnerability
    ]
    out = _correlate(findings)
    assert len({f.issue_key for f in out[:3]}) == 1
    assert out[3].issue_key != out[0].issue_key and out[4].issue_key != out[0].issue_key
    assert len(out[0].related) == 2 and out[3].related == ()


# --- misconfigurations ---------------------------------------------------------------------

def test_checkov_and_trivy_on_one_tree_share_issues_per_the_table() -> None:
    """Both reports scanned the same tree (tests/fixtures/checkov/README.md)."""
    checkov = _parse("checkov", OWN_FIXTURES / "checkov" / "checkov-3.3.30-multi.json")
    trivy = _parse("trivy", OWN_FIXTURES / "trivy" / "trivy-0.76-config.json")
    out = _correlate(checkov + trivy)
    groups = [g for g in _groups(out) if len(g) > 1]
    expected = [
        {("checkov", "CKV_DOCKER_1"), ("trivy", "DS-0004")},
        {("checkov", "CKV_DOCKER_3"), ("trivy", "DS-0002")},
        {("checkov", "CKV_DOCKER_4"), ("trivy", "DS-0005")},
        {("checkov", "CKV_DOCKER_7"), ("trivy", "DS-0001")},
        {("checkov", "CKV_K8S_16"), ("trivy", "KSV-0017")},
        {("checkov", "CKV_K8S_17"), ("trivy", "KSV-0010")},
        {("checkov", "CKV_K8S_19"), ("trivy", "KSV-0009")},
        {("checkov", "CKV_K8S_12"), ("trivy", "KSV-0016")},       # memory requests
        {("checkov", "CKV_K8S_13"), ("trivy", "KSV-0018")},       # memory limits
        {("checkov", "CKV_AWS_21"), ("trivy", "AWS-0090")},
        {("checkov", "CKV_AWS_24"), ("trivy", "AWS-0107")},
        {("checkov", "CKV_AWS_23"), ("trivy", "AWS-0099"), ("trivy", "AWS-0124")},
        {("checkov", "CKV2_AWS_6"), ("trivy", "AWS-0094")},
    ]
    for group in expected:
        assert group in groups, group
    # never a rule with an unrelated one, never two checkov checks together
    for group in groups:
        assert sum(1 for tool, _ in group if tool == "checkov") == 1, group
    # each finding of a group lists the others' Ids
    by_rule = {(f.tool, f.rule_id): f for f in out}
    sg = by_rule[("checkov", "CKV_AWS_23")]
    assert len(sg.related) == 2 and all(r.startswith("secpipe/trivy/") for r in sg.related)


def test_hadolint_checkov_trivy_on_the_example_dockerfile() -> None:
    hadolint = _parse("hadolint", OWN_FIXTURES / "hadolint" / "example-web.json")
    checkov = _parse("checkov", OWN_FIXTURES / "checkov" / "example-web.json")
    trivy = _parse("trivy", OWN_FIXTURES / "trivy" / "example-web.json")
    out = _correlate(hadolint + checkov + trivy)
    groups = _groups(out)
    assert {("hadolint", "DL3020"), ("checkov", "CKV_DOCKER_4"), ("trivy", "DS-0005")} in groups
    assert {("hadolint", "DL3003"), ("trivy", "DS-0013")} in groups
    assert {("hadolint", "DL3019"), ("trivy", "DS-0025")} in groups
    # DL3018 (pin apk versions) has no counterpart: its own issue
    assert {("hadolint", "DL3018")} in groups
    # the helm-rendered deployment: trivy's container line lies in checkov's resource range
    assert {("checkov", "CKV_K8S_20"), ("trivy", "KSV-0001")} in groups


def test_equivalent_rules_in_different_places_stay_apart() -> None:
    a = Finding(tool="hadolint", rule_id="DL3020", title="ADD", severity=Severity.HIGH,
                location=Location("Dockerfile", 14, 14))
    b = Finding(tool="checkov", rule_id="CKV_DOCKER_4", title="ADD", severity=Severity.MEDIUM,
                location=Location("Dockerfile", 20, 20))
    c = Finding(tool="checkov", rule_id="CKV_DOCKER_4", title="ADD", severity=Severity.MEDIUM,
                location=Location("other/Dockerfile", 14, 14))
    out = _correlate([a, b, c])
    assert len({f.issue_key for f in out}) == 3


# --- the pipeline, with the real secret scanners ---------------------------------------------

@pytest.mark.tools
def test_a_planted_key_is_one_issue_found_by_three_tools(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    (repo / "config" / "aws.js").write_text(
        f'const aws_access_key_id = "{KEY_ID}";\n'
        f'const aws_secret_access_key = "{SECRET_KEY}";\n')
    (repo / "secpipe.yml").write_text(
        "version: 1\nstages:\n  secrets:\n    tools: [git-secrets, detect-secrets, trufflehog3]\n"
        "    fail_on: low\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "leak"]):
        subprocess.run(["git", "-C", str(repo), "-c", "user.email=ci@example.invalid",
                        "-c", "user.name=ci", *args], check=True, capture_output=True)
    run = run_pipeline(RunRequest(root=repo, out_dir=tmp_path / "out", use_hub=False))
    stage = run.stages[0]
    key_findings = [g for g in stage.findings if g.finding.location.start_line == 1]
    assert {g.finding.tool for g in key_findings} == {"git-secrets", "detect-secrets",
                                                      "trufflehog3"}
    assert len({g.finding.issue_key for g in key_findings}) == 1
    asff = json.loads((Path(run.run_dir) / "findings.asff.json").read_text())
    by_id = {o["Id"]: o for o in asff}
    for g in key_findings:
        related = {r["Id"] for r in by_id[g.asff_id]["RelatedFindings"]}
        assert related == {o.asff_id for o in key_findings} - {g.asff_id}
    summary = json.loads((Path(run.run_dir) / "summary.json").read_text())
    assert summary["totals"]["blocking_issues"] == 2          # the key id and the secret key
    assert summary["totals"]["blocking"] == len(stage.blocking) > 2
    assert summary["stages"][0]["blocking_issues"] == 2
    # JUnit: one failed case per blocking issue, naming the other tools' findings
    junit = ET.parse(Path(run.run_dir) / "junit.xml").getroot()
    suite = junit.find("testsuite")
    failures = suite.findall("testcase/failure")
    assert int(suite.get("failures")) == len(failures) == 2
    assert any("found by git-secrets, detect-secrets, trufflehog3" in (f.text or "")
               for f in failures)
    # SARIF: one result per tool finding (GitHub wants one run per tool), each naming its issue
    sarif = json.loads((Path(run.run_dir) / "results.sarif").read_text())
    results = [r for r_ in sarif["runs"] for r in r_["results"]]
    assert len(results) == len(stage.findings)
    key_results = [r for r in results if r["properties"]["secpipe/asffId"] in
                   {g.asff_id for g in key_findings}]
    assert len({r["properties"]["secpipe/issue"] for r in key_results}) == 1
    for r in key_results:
        assert r["properties"]["secpipe/foundBy"] == ["git-secrets", "detect-secrets",
                                                      "trufflehog3"]
        assert "found by git-secrets, detect-secrets, trufflehog3" in r["message"]["text"]


def test_detect_secrets_keyed_sha1_matches_the_value_another_tool_saw() -> None:
    """detect-secrets' SHA-1 is re-keyed at parse time; correlation must still find the value
    (under the same key context the runner opens), not only by file and line."""
    import hashlib

    from secpipe.model import FingerprintKey, keyed
    from secpipe.model.secret import Secret
    from secpipe.pipeline.correlate import SecretValues

    value = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzzzzzzzz"
    with keyed(FingerprintKey.ephemeral()):
        secret = Secret.from_hash(hashlib.sha1(value.encode()).hexdigest(), algorithm="sha1")
        finding = Finding(tool="detect-secrets", rule_id="aws", title="t", severity=Severity.HIGH,
                          category=Category.SECRET, secret=secret,
                          properties={"hash_algorithm": "sha1"})
        seen = Finding(tool="trufflehog3", rule_id="aws", title="t", severity=Severity.HIGH,
                       category=Category.SECRET, secret=Secret.from_value(value))
        index = SecretValues([value])
        clear: list[str | None] = [None, None]
        joined: list[tuple[int, int]] = []
        # the value's keyed SHA-1 finds the detect-secrets finding, its HMAC the other's
        index.match({seen.secret.sha256: 1}, {secret.sha256: 0}, clear,
                    lambda a, b: joined.append((a, b)))
        assert clear == [value, value] and joined == [(1, 0)]
        out = correlate([finding, seen], id_of=lambda i, f: f"id-{i}", secret_values=index)
        assert out[0].issue_key == out[1].issue_key and out[0].related == ("id-1",)


def test_the_runs_secret_index_grows_stage_by_stage_as_a_fresh_one_would() -> None:
    """pipeline.issues.secret_values: each stage reuses the previous stage's index and adds
    the new values; the digests equal a fresh build, a new key or fewer values start afresh,
    and the run's last correlation drops the clear values."""
    from secpipe.model import FingerprintKey, keyed
    from secpipe.pipeline import issues
    from secpipe.pipeline.correlate import SecretValues

    def tables(index: SecretValues) -> dict[str, tuple[str, str, str]]:
        assert len(set(index.values)) == len(index.values)
        return {v: index.digests_of(v) for v in index.values}

    first, later = {KEY_ID, "hunter2hunter2"}, {KEY_ID, "hunter2hunter2", SECRET_KEY}
    with keyed(FingerprintKey.ephemeral()):
        one = issues.secret_values(first)
        assert tables(one) == tables(SecretValues(first))
        two = issues.secret_values(later)
        assert two is one and tables(two) == tables(SecretValues(later))
        fewer = issues.secret_values({SECRET_KEY})
        assert fewer is not one and tables(fewer) == tables(SecretValues({SECRET_KEY}))
    with keyed(FingerprintKey.ephemeral()):
        other_key = issues.secret_values({SECRET_KEY})
        assert other_key is not fewer and tables(other_key) == tables(SecretValues({SECRET_KEY}))
        assert other_key.digests_of(SECRET_KEY) != fewer.digests_of(SECRET_KEY)
    issues.forget_values()
    assert not issues._VALUES


def test_the_fast_issue_copy_equals_with_() -> None:
    import pickle

    from secpipe.model.slots import with_issue

    f = _secret("trufflehog3", "amazon.aws-api-key", KEY_ID)
    f = f.with_(properties={"commit": "abc"}, cwe=("CWE-798",), confidence=3,
                first_observed_at="2024-01-01T00:00:00.000Z")
    fingerprint = f.fingerprint()
    copy = with_issue(f, "issue/abc", ("id1", "id2"))
    want = f.with_(issue_key="issue/abc", related=("id1", "id2"))
    assert copy == want and repr(copy) == repr(want)
    assert pickle.dumps(copy) == pickle.dumps(want)
    assert copy._fingerprint == fingerprint == want.fingerprint()
    assert copy is not f and f.issue_key is None


def test_in_place_sets_the_same_fields_a_copy_would() -> None:
    """The pipeline correlates in place (no second Finding per finding): the same issue keys
    and related Ids, on the findings themselves; a finding listed twice is still copied."""
    import copy

    a = _secret("trufflehog3", "amazon.aws-api-key", KEY_ID)
    b = _secret("git-secrets", "aws-access-key", KEY_ID)
    c = _secret("trufflehog3", "generic.secret", "another-value-entirely-1234")
    findings = [a, b, c]
    before = [copy.copy(f) for f in findings]
    kw = dict(id_of=lambda i, f: f"id-{f.tool}-{f.rule_id}", secret_values={KEY_ID})
    copies = correlate(before, **kw)
    done = correlate(findings, **kw, in_place=True)
    assert [f is g for f, g in zip(done, findings)] == [True, True, True]
    assert [(f.issue_key, f.related) for f in done] == \
        [(f.issue_key, f.related) for f in copies]
    assert all(f.fingerprint() == g.fingerprint() for f, g in zip(done, copies))
    twice = [a.with_(), a]
    twice[0] = twice[1]
    out = correlate(twice, **kw, in_place=True)
    assert out[0] is not a and out[1] is not a and a.issue_key == done[0].issue_key


@pytest.mark.parametrize("in_place", [False, True])
def test_a_finding_alone_keeps_its_fingerprint_as_its_issue_keys_text(in_place: bool) -> None:
    """A finding alone in its issue holds one text for its issue key and fingerprint
    (`model.finding.hold_in_issue_key`): both read as before, and so do its copies."""
    import pickle

    from secpipe.model.finding import _digest

    a = _secret("trufflehog3", "amazon.aws-api-key", KEY_ID)
    b = _secret("git-secrets", "aws-access-key", KEY_ID)
    c = _secret("trufflehog3", "generic.secret", "another-value-entirely-1234", path="b.py")
    fingerprints = [_digest.__wrapped__(f.identity_key()) for f in (a, b, c)]
    out = correlate([a, b, c], id_of=lambda i, f: f"id-{i}", secret_values={KEY_ID},
                    in_place=in_place)
    assert [f.fingerprint() for f in out] == fingerprints
    alone = out[2]
    assert alone.issue_key == "issue/" + fingerprints[2] and alone.related == ()
    assert alone._fingerprint is alone.issue_key                 # one text held
    assert out[0]._fingerprint == fingerprints[0]                # an issue of two: its own
    again = correlate(out, id_of=lambda i, f: f"id-{i}", secret_values={KEY_ID},
                      in_place=in_place)
    assert [f.fingerprint() for f in again] == fingerprints
    for f in (alone, alone.with_(), alone.keep_fingerprint_in(alone.with_()),
              pickle.loads(pickle.dumps(alone))):
        assert f.fingerprint() == fingerprints[2]
    assert pickle.dumps(alone) == pickle.dumps(alone.with_())   # not in the pickled state
