from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.model import Category, Severity
from tests.asserts import assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("kube-bench")


def _parse(name: str):
    return FMT.parse((shared_fixture_dir("kubebench") / name).read_bytes(), name)


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("kubebench")
    expected = manifest("kubebench")
    assert expected, "MANIFEST.tsv lists no kube-bench fixture"
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        if count != "unknown":
            assert len(findings) == int(count), name
        assert sniff(data, name).name == "kube-bench", name
        assert_valid_asff(findings)
        assert len({f.fingerprint() for f in findings}) == len(findings), name


def test_controls_file_counts_and_details() -> None:
    findings = _parse("kube-bench-controls.json")
    # 36 FAIL -> medium; 49 WARN of which 29 are manual reminders (skipped) -> 20 informational
    assert sum(f.severity is Severity.MEDIUM for f in findings) == 36
    assert sum(f.severity is Severity.INFORMATIONAL for f in findings) == 20
    assert len(findings) == 56
    first = findings[0]
    assert first.title == ("1.1.1 - Ensure that the API server pod specification file permissions "
                           "are set to 644 or more restrictive (Automated)")
    assert first.severity is Severity.MEDIUM and first.rule_id == "1.1.1"
    assert first.category is Category.COMPLIANCE
    assert "chmod 644" in first.remediation
    assert first.resource.id == "kubernetes-master"


def _result(status: str, **extra: object) -> dict:
    return {"test_number": "4.2.1", "test_desc": "Do it", "audit": "cat x", "type": "",
            "remediation": "fix", "test_info": ["fix"], "status": status, "actual_value": "",
            "scored": True, "expected_result": "", **extra}


def _control(*results: dict) -> dict:
    return {"id": "4", "version": "cis-1.8", "text": "Worker", "node_type": "node",
            "tests": [{"section": "4.2", "desc": "Kubelet", "results": list(results)}]}


@pytest.mark.parametrize("status, extra, expected", [
    ("FAIL", {}, Severity.MEDIUM),
    ("WARN", {}, Severity.INFORMATIONAL),
    ("WARN", {"type": "manual", "reason": "Test marked as a manual test"}, None),
    ("PASS", {}, None),
    ("INFO", {"type": "skip"}, None),
])
def test_status_mapping(status: str, extra: dict, expected: Severity | None) -> None:
    findings = FMT.parse(json.dumps({"Controls": [_control(_result(status, **extra))],
                                     "Totals": {}}).encode(), "kb.json")
    assert [f.severity for f in findings] == ([expected] if expected is not None else [])


def test_older_shapes() -> None:
    single = FMT.parse(json.dumps(_control(_result("FAIL"))).encode(), "kb.json")
    listed = FMT.parse(json.dumps([_control(_result("FAIL"))]).encode(), "kb.json")
    assert len(single) == len(listed) == 1
    assert single[0].properties["benchmark_version"] == "cis-1.8"


@pytest.mark.parametrize("bad", [
    b"", b"{", b'{"a": 1}', b"[1]", b'{"Controls": [{"id": "1"}]}',
    b'{"Controls": [{"tests": [{"results": [{"test_number": "1"}]}]}]}',
    b'{"Controls": [{"tests": [{"results": [{"status": "FAIL"}]}]}]}',
    b'{"Controls": {}}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)
