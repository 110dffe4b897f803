from __future__ import annotations

import json

from hypothesis import given, strategies as st

from secpipe.model import (
    Category, Finding, Location, Resource, Secret, SecretCollector, Severity, SourceContext,
    collecting, from_asff, mask, to_asff, validate_asff,
)
from secpipe.pipeline.identity import assign_identities

CTX = SourceContext(repo="acme/web", branch="main", commit="a" * 40, run_id="r1", stage="iac",
                    tool_version="1.0")


def _f(**kw) -> Finding:
    base = dict(tool="checkov", rule_id="CKV_K8S_1", title="t", severity=Severity.MEDIUM,
                location=Location("helm/web/templates/deployment.yaml", 10, 20))
    base.update(kw)
    return Finding(**base)


def test_severity_vocabulary() -> None:
    assert Severity.parse("error") is Severity.HIGH
    assert Severity.parse("Moderate") is Severity.MEDIUM
    assert Severity.parse("weird", Severity.LOW) is Severity.LOW
    assert Severity.from_normalized(70) is Severity.HIGH
    assert Severity.CRITICAL > Severity.HIGH


def test_asff_has_required_fields_and_context() -> None:
    obj = to_asff(_f(), CTX)
    assert validate_asff(obj) == []
    assert obj["ProductArn"] == "arn:aws:securityhub:us-east-1:000000000000:product/000000000000/default"
    assert obj["ProductFields"]["secpipe/Commit"] == "a" * 40
    assert obj["ProductFields"]["secpipe/ToolVersion"] == "1.0"
    assert obj["Severity"] == {"Label": "MEDIUM", "Normalized": 40, "Original": "MEDIUM"}


@given(title=st.text(max_size=3000), desc=st.text(max_size=5000), rule=st.text(min_size=1, max_size=900),
       path=st.text(min_size=1, max_size=2000), sev=st.sampled_from(list(Severity)),
       cat=st.sampled_from(list(Category)), rem=st.one_of(st.none(), st.text(max_size=2000)))
def test_asff_always_valid(title, desc, rule, path, sev, cat, rem) -> None:
    f = Finding(tool="x", rule_id=rule, title=title, description=desc, severity=sev, category=cat,
                location=Location(path, 1), remediation=rem,
                resource=Resource("Other", path))
    obj = to_asff(f, CTX)
    assert validate_asff(obj) == [], obj
    json.dumps(obj)


def test_validator_catches_problems() -> None:
    obj = to_asff(_f(), CTX)
    bad = dict(obj, Title="x" * 300, AwsAccountId="123", Types=["Nonsense/Thing"])
    problems = validate_asff(bad)
    assert any("Title" in p for p in problems)
    assert any("AwsAccountId" in p for p in problems)
    assert any("Type" in p for p in problems)
    assert validate_asff({}) and "missing required field Id" in validate_asff({})


def test_roundtrip_through_asff() -> None:
    f = _f(secret=Secret.from_value("AKIAZZZZZZZZZZZZZZZZ"), category=Category.SECRET)
    back = from_asff(to_asff(f, CTX))
    assert back.tool == "checkov" and back.rule_id == "CKV_K8S_1"
    assert back.severity is Severity.MEDIUM and back.category is Category.SECRET
    assert back.secret == f.secret
    assert back.location.path == f.location.path


def test_fingerprint_survives_line_shift_but_not_other_rule_or_file() -> None:
    a = _f(location=Location("Dockerfile", 3, 3, "RUN apk add curl"))
    moved = _f(location=Location("Dockerfile", 9, 9, "RUN  apk add   curl"))
    assert a.fingerprint() == moved.fingerprint()
    assert a.fingerprint() != _f(rule_id="CKV_K8S_2", location=a.location).fingerprint()
    assert a.fingerprint() != _f(location=Location("Other", 3, 3, "RUN apk add curl")).fingerprint()


def test_ordinals_keep_the_first_identity() -> None:
    one = _f(location=Location("Dockerfile", 5))
    two = _f(location=Location("Dockerfile", 12))
    before = assign_identities([one])
    after = assign_identities([one, two])
    assert len(after) == 2
    assert before[0].fingerprint() == after[0].fingerprint()
    assert after[0].fingerprint() != after[1].fingerprint()
    # exact repeats (same place) collapse
    assert len(assign_identities([one, one])) == 1


def test_secret_is_masked_and_scrubbed() -> None:
    clear = "AKIA56FG63YKWF32DALQ"
    collector = SecretCollector()
    with collecting(collector):
        s = Secret.from_value(clear)
    assert clear not in repr(s) and s.masked == "AKIA…DALQ"
    raw = f'{{"match": "{clear}", "line": "key = \\"{clear}\\""}}'.encode()
    assert clear.encode() not in collector.scrub(raw)
    assert mask("short") == "…"
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAx7\nabcdefghijklmnopqrstu\n-----END RSA PRIVATE KEY-----"
    c2 = SecretCollector()
    with collecting(c2):
        Secret.from_value(block)
    assert b"abcdefghijklmnopqrstu" not in c2.scrub(b"line: abcdefghijklmnopqrstu")


def test_secret_outside_collector_is_not_recorded() -> None:
    collector = SecretCollector()
    Secret.from_value("ZZZZZZZZZZZZZZZZZZZZ")
    assert collector.values == set()


def test_identity_survives_an_asff_roundtrip() -> None:
    for f in (_f(location=Location("Dockerfile", 3, 3, "RUN apk add curl")),
              _f(location_key="CKV_K8S_1:Deployment.default.web"),
              _f(secret=Secret.from_value("AKIAZZZZZZZZZZZZZZZZ"), category=Category.SECRET)):
        assert from_asff(to_asff(f, CTX)).fingerprint() == f.fingerprint()


def test_scrubbing_keeps_json_valid() -> None:
    value = 'secret_access_key = "DFnNho62c16uXY71utLubrjLpCreK3evpDvW4J2K"'
    collector = SecretCollector()
    with collecting(collector):
        Secret.from_value(value)
    doc = json.dumps({"context": {"6": f"const aws_{value};"}, "secret": value}).encode()
    out = collector.scrub(doc)
    parsed = json.loads(out)
    assert "DFnNho62" not in out.decode()
    assert parsed["secret"] == mask(value)


def test_assigned_identities_name_findings_as_a_fresh_copy_would() -> None:
    from dataclasses import replace

    findings = [_f(location=Location("Dockerfile", 5)), _f(location=Location("Dockerfile", 12)),
                _f(location=Location("other", 1, 1, "x = 1")),
                _f(secret=Secret("ab" * 32, "AK…"), category=Category.SECRET),
                _f(resource=Resource("AwsS3Bucket", "b"))]
    for f in assign_identities(findings):
        assert f.fingerprint() == replace(f).fingerprint()
