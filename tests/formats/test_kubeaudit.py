from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.model import Severity
from tests.asserts import assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("kubeaudit")


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("kubeaudit")
    expected = manifest("kubeaudit")
    assert expected, "MANIFEST.tsv lists no kubeaudit fixture"
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        if count != "unknown":
            assert len(findings) == int(count), name
        assert sniff(data, name).name == "kubeaudit", name
        assert_valid_asff(findings)
        assert len({f.fingerprint() for f in findings}) == len(findings), name


def test_asserted_details() -> None:
    data = (shared_fixture_dir("kubeaudit") / "kubeaudit.json").read_bytes()
    findings = FMT.parse(data, "kubeaudit.json")
    # DefectDojo titles it 'DeprecatedAPIUsed_scheduler'; ours names rule and resource too
    assert findings[1].rule_id == "DeprecatedAPIUsed"
    assert findings[1].title == "DeprecatedAPIUsed: ComponentStatus scheduler"
    assert findings[11].severity is Severity.HIGH
    pod = findings[3]
    assert pod.resource.id == "Pod:kube-system/storage-provisioner"
    assert "Container=storage-provisioner" in pod.location_key


def _line(level: str, **extra: object) -> str:
    return json.dumps({"AuditResultName": "RunAsNonRootPSCNilCSCNil", "ResourceKind": "Deployment",
                       "ResourceName": "web", "ResourceNamespace": "prod", "level": level,
                       "msg": "runAsNonRoot is not set", "time": "2024-01-01T00:00:00Z",
                       "Container": "app", **extra})


@pytest.mark.parametrize("level, expected", [
    ("error", Severity.HIGH), ("warning", Severity.MEDIUM), ("info", Severity.INFORMATIONAL),
])
def test_severity_mapping(level: str, expected: Severity) -> None:
    (finding,) = FMT.parse(_line(level).encode(), "k.json")
    assert finding.severity is expected and finding.severity_original == level


def test_log_lines_and_empty_output() -> None:
    data = (json.dumps({"level": "info", "msg": "Running", "time": "t"}) + "\n" + _line("error")).encode()
    assert len(FMT.parse(data, "k.json")) == 1
    assert FMT.parse(b"", "k.json") == []  # kubeaudit prints nothing when it finds nothing
    # the same result at another time is the same finding
    a = FMT.parse(_line("error").encode(), "k.json")[0]
    b = FMT.parse(_line("error", time="2025-01-01T00:00:00Z").encode(), "k.json")[0]
    assert a.fingerprint() == b.fingerprint()


@pytest.mark.parametrize("bad", [b"{", b"[1]\n", b'{"a": 1}\n', b"not json\n",
                                 b'{"AuditResultName": ""}\n'])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)
