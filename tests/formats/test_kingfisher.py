"""Kingfisher JSON: reports the real kingfisher 2.14.0 wrote (scrubbed by secpipe) on
examples/web and on a generated repository whose keys were committed and removed again."""

from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.model import Category, SecretCollector, Severity, collecting
from tests.asserts import assert_valid_asff
from tests.conftest import OWN_FIXTURES

FMT = get_format("kingfisher")
FOLDER = OWN_FIXTURES / "kingfisher"


def test_example_web_tree_findings() -> None:
    data = (FOLDER / "example-web.json").read_bytes()
    findings = sorted(FMT.parse(data, "example-web.json"), key=lambda f: f.path)
    assert [(f.path, f.rule_id, f.location.start_line) for f in findings] == [
        ("config/aws.js", "betterleaks.aws-access-token", 5),
        ("config/deploy_key.pem", "betterleaks.private-key", 1),
    ]
    aws = findings[0]
    assert aws.category is Category.SECRET and aws.severity is Severity.HIGH
    # the fixture holds secpipe's scrubbed `AKIA…DALO`, which masks again to its first letters
    assert aws.secret.masked == "AK…" and aws.location_key.startswith("secret:")
    assert aws.properties["validation"] == "not_attempted" and "commit" not in aws.properties
    assert_valid_asff(findings)
    assert sniff(data, "example-web.json").name == "kingfisher"


def test_history_findings_carry_their_commit() -> None:
    data = (FOLDER / "history.json").read_bytes()
    findings = {f.path: f for f in FMT.parse(data, "history.json")}
    assert set(findings) == {"old/creds0.env", "old/creds1.env", "svc000/settings0.py"}
    assert len(findings["old/creds0.env"].properties["commit"]) == 40
    assert "commit" not in findings["svc000/settings0.py"].properties  # the working tree copy


def test_every_captured_value_is_collected_for_scrubbing() -> None:
    doc = {"findings": [{"rule": {"id": "r.aws", "name": "aws"}, "finding": {
        "snippet": "AKIAABCDEFGHIJKLMNOP", "path": "./a.env", "line": 2,
        "dependent_captures": {"AWS_SECRET_ACCESS_KEY": "s" * 40},
        "validation": {"outcome": "active"}}}]}
    collector = SecretCollector()
    with collecting(collector):
        (finding,) = FMT.parse(json.dumps(doc).encode(), "live.json")
    assert {"AKIAABCDEFGHIJKLMNOP", "s" * 40} <= collector.values
    assert finding.severity is Severity.CRITICAL  # validated live
    assert "AKIAABCDEFGHIJKLMNOP" not in repr(finding) and "s" * 40 not in repr(finding)


@pytest.mark.parametrize("doc", [[], {"findings": {}}, {"findings": [{"rule": {"id": "x"},
                                                                       "finding": {}}]}])
def test_broken_reports_fail_closed(doc: object) -> None:
    with pytest.raises(ReportFormatError):
        FMT.parse(json.dumps(doc).encode(), "broken.json")
