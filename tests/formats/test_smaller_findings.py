"""Fields a finding no longer holds as its own object (twelfth round): trufflehog3's
properties in a key-sharing dict, checkov's location key and description made when read
(`checkov.CheckKey`, `checkov.CheckText`), a tool-hashed secret's masked form made from its
digest (`model.secret.HashedSecret`). Every reader must get what the held values gave."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import sys
from pathlib import Path

import pytest

from secpipe.formats import checkov, detect_secrets, trufflehog3
from secpipe.model import Finding, FingerprintKey, Secret, keyed
from secpipe.model.derived import DerivedText, held
from secpipe.model.secret import HashedSecret
from secpipe.model.slots import with_issue
from secpipe.scancache import store
from tests.formats.fixture_reports import parse_or_error, reports_of

HELD_DESCRIPTION = held(Finding, "description")
HELD_LOCATION_KEY = held(Finding, "location_key")


def _reports(tool: str, *folders: str) -> list[Path]:
    return reports_of(tool, *folders)


def _former_checkov_texts(item: dict, check_type: str, finding: Finding) -> tuple[str, str]:
    """The description and location key `checkov._finding` held before (frozen here)."""
    text = checkov.text
    check_id = text(item.get("check_id"))
    name = text(item.get("check_name"), check_id)
    path = text(item.get("file_path")).replace("\\", "/").lstrip("/") or "."
    resource_name = text(item.get("resource"))
    is_secret = check_type == "secrets" or check_id.startswith("CKV_SECRET_")
    secret = finding.secret
    if secret is not None:
        resource_name = f"secret:{secret.sha256[:32]}"
    lines = [name]
    short = text(item.get("description")) or text(item.get("short_description"))
    if short and short != name:
        lines.append(short)
    if resource_name and not secret:
        lines.append(f"Resource: {resource_name}")
    lines.append(f"Framework: {check_type}")
    if not is_secret:
        raw = item.get("details")
        details = [text(d) for d in raw if text(d)] if isinstance(raw, list) else []
        lines.extend(details[:10])
    return "\n".join(lines), f"{check_id}|{resource_name}|{path}"


def test_checkov_texts_read_as_the_held_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    real = checkov._finding
    seen = {"derived": 0, "held": 0}

    def checked(item, check_type, *args, **kwargs):
        finding = real(item, check_type, *args, **kwargs)
        description, key = _former_checkov_texts(dict(item), check_type, finding)
        assert (finding.description, finding.location_key) == (description, key)
        derived = isinstance(HELD_DESCRIPTION(finding), DerivedText)
        seen["derived" if derived else "held"] += 1
        former = finding.with_(description=description, location_key=key)
        assert type(HELD_DESCRIPTION(former)) is str and type(HELD_LOCATION_KEY(former)) is str
        assert finding == former and repr(finding) == repr(former)
        assert dataclasses.asdict(finding) == dataclasses.asdict(former)
        assert pickle.dumps(finding) == pickle.dumps(former)
        assert finding.fingerprint() == former.fingerprint()
        assert store.finding_to_json(finding) == store.finding_to_json(former)
        assert copy.deepcopy(finding) == former
        issue = with_issue(finding, "issue/x", ())
        assert (issue.description, issue.location_key) == (description, key)
        return finding

    monkeypatch.setattr(checkov, "_finding", checked)
    reports = _reports("checkov", "checkov")
    assert reports
    for path in reports:
        parse_or_error("checkov", path)
    assert seen["derived"] and seen["held"]   # the fixtures have both kinds


def test_checkov_derived_texts_are_shared_and_written_out_by_the_cache() -> None:
    from secpipe.scancache.lines import _state

    report = [{"check_type": "terraform", "results": {"failed_checks": [
        {"check_id": f"CKV_AWS_{i}", "check_name": f"Ensure {i}", "file_path": "/main.tf",
         "file_line_range": [1, 3], "resource": f"aws_s3_bucket.b{i}"} for i in range(3)]}}]
    findings = checkov.parse(json.dumps(report).encode(), "t")
    assert [f.description for f in findings] == [
        f"Ensure {i}\nResource: aws_s3_bucket.b{i}\nFramework: terraform" for i in range(3)]
    assert [f.location_key for f in findings] == [
        f"CKV_AWS_{i}|aws_s3_bucket.b{i}|main.tf" for i in range(3)]
    assert len({id(HELD_DESCRIPTION(f)) for f in findings}) == 1
    assert len({id(HELD_LOCATION_KEY(f)) for f in findings}) == 1
    # no state the scan cache could make it again from: an entry holds the text, as before
    assert _state(HELD_DESCRIPTION(findings[0])) is None


def test_trufflehog3_properties_are_plain_dicts_sharing_their_keys() -> None:
    reports = _reports("trufflehog3", "trufflehog3")
    assert reports
    for path in reports:
        for f in parse_or_error("trufflehog3", path):
            if not isinstance(f, Finding):
                continue
            props = f.properties
            assert type(props) is dict
            own = dict(props.items())
            assert props == own and list(props) == list(own)
            assert json.dumps(props) == json.dumps(own)
            assert pickle.loads(pickle.dumps(props)) == own


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython's key sharing")
def test_trufflehog3_properties_hold_only_their_values() -> None:
    item = {"rule": {"id": "r", "message": "R", "severity": "HIGH"}, "path": "a.py",
            "line": "3", "secret": "FAKEfakeFAKEfakeNOTaSECRET", "id": "x", "branch": "main",
            "commit": "c" * 40, "date": "2024-01-01T00:00:00"}
    with keyed(FingerprintKey.ephemeral()):
        findings = trufflehog3.parse(json.dumps([item, dict(item, path="b.py")]).encode(), "t")
    assert len(findings) == 2
    for f in findings:
        assert sys.getsizeof(f.properties) < sys.getsizeof(dict(f.properties.items()))


def test_a_tool_hashed_secret_reads_as_the_held_one() -> None:
    with keyed(FingerprintKey.ephemeral()):
        hashed = Secret.from_hash("9b9bde96021fc50f2f52956998a155b007efac4a")
        given = Secret.from_hash("9b9bde96021fc50f2f52956998a155b007efac4a", masked="x…y")
    assert type(hashed) is HashedSecret and type(given) is Secret
    former = Secret(sha256=hashed.sha256, masked=f"…(hashed by the tool; #{hashed.sha256[:8]})")
    assert hashed.masked == former.masked
    assert hashed == former and former == hashed and not hashed != former
    assert hashed != Secret(hashed.sha256, "other") and hashed != given
    assert hash(hashed) == hash(former) and repr(hashed) == repr(former)
    assert dataclasses.asdict(hashed) == dataclasses.asdict(former)
    assert dataclasses.astuple(hashed) == dataclasses.astuple(former)
    for made in (pickle.loads(pickle.dumps(hashed)), copy.copy(hashed), copy.deepcopy(hashed)):
        assert type(made) is Secret and made == former
    with pytest.raises(dataclasses.FrozenInstanceError):
        hashed.masked = "x"   # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        hashed.sha256 = "x"   # type: ignore[misc]


def test_detect_secrets_findings_read_as_with_held_masks(monkeypatch: pytest.MonkeyPatch) -> None:
    reports = _reports("detect-secrets", "detect-secrets", "detect_secrets")
    assert reports
    count = 0
    for path in reports:
        got = parse_or_error("detect-secrets", path)
        hashed = [f for f in got if isinstance(f, Finding) and type(f.secret) is HashedSecret]
        count += len(hashed)
        for f in hashed:
            held_mask = Secret(f.secret.sha256, f.secret.masked)
            former = dataclasses.replace(f, secret=held_mask, title=f.title,
                                         description=f.description)
            assert f == former and repr(f) == repr(former)
            assert store.finding_to_json(f) == store.finding_to_json(former)
            assert pickle.loads(pickle.dumps(f)) == former
    assert count


def test_slots_finding_is_the_keyword_init() -> None:
    """`model.slots.finding` and `location` make what `Finding(...)` and `Location(...)`
    make: fields, repr, equality and pickled state, defaults included."""
    from secpipe.model import Category, Location, Severity
    from secpipe.model import slots

    least = dict(tool="t", rule_id="r", title="T", severity=Severity.LOW)
    most = dict(least, description="d", category=Category.SECRET, severity_original="low",
                location=Location("a.py", 3, 4, "x"), remediation="fix",
                remediation_url="https://x", references=("u",), cwe=("CWE-1",),
                secret=Secret("a" * 64, "m"), location_key="k", confidence=2,
                properties={"b": "1", "a": "2"}, types=("T/x",),
                first_observed_at="2024-01-01T00:00:00.000Z",
                last_observed_at="2024-01-02T00:00:00.000Z", issue_key="i", related=("r",))
    for kw in (least, most):
        made, want = slots.finding(**kw), Finding(**kw)
        assert made == want and repr(made) == repr(want)
        assert pickle.dumps(made) == pickle.dumps(want)
        assert made.fingerprint() == want.fingerprint()
    assert slots.finding(**least).properties is not slots.finding(**least).properties
    for args in (("a.py",), ("a.py", 3), ("a.py", 3, 5, "s")):
        place, want_place = slots.location(*args), Location(*args)
        assert place == want_place and pickle.dumps(place) == pickle.dumps(want_place)
