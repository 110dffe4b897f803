from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.formats.interface import Document
from secpipe.model import Category, Severity, to_asff
from tests.asserts import CTX, assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("inspector2")

# Where our count differs from DefectDojo's on purpose:
# aws_inspector2_many_vul.json: one finding has status CLOSED (Inspector saw it fixed).
# DefectDojo keeps it as a mitigated finding; secpipe has no inactive findings (a gate would
# fail on it), so CLOSED and SUPPRESSED findings are not reported: 8 - 1.
DELIBERATE = {"aws_inspector2_many_vul.json": 7}
ERRORS = {"empty_with_error.json"}  # `{}`: DefectDojo raises too


def _parse(name: str):
    return FMT.parse((shared_fixture_dir("aws_inspector2") / name).read_bytes(), name)


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("aws_inspector2")
    expected = manifest("aws_inspector2")
    assert len(expected) == 5
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        if name in ERRORS:
            assert count == "error"
            with pytest.raises(ReportFormatError, match=name):
                FMT.parse(data, name)
            continue
        findings = FMT.parse(data, name)
        if name in DELIBERATE:
            assert len(findings) == DELIBERATE[name], name
        elif count != "unknown":
            assert len(findings) == int(count), name
        assert sniff(data, name).name == "inspector2", name
        assert_valid_asff(findings)
    assert len(_parse("aws_inspector2_package_vuln_metadata_multi_cwe_fabricated.json")) == 3


def test_closed_findings_are_dropped() -> None:
    data = json.loads((shared_fixture_dir("aws_inspector2") / "aws_inspector2_many_vul.json")
                      .read_bytes())
    closed = [f["findingArn"] for f in data["findings"] if f["status"] == "CLOSED"]
    assert len(closed) == 1
    arns = {f.properties["FindingArn"] for f in _parse("aws_inspector2_many_vul.json")}
    assert not arns & set(closed)


def test_package_vulnerability() -> None:
    first = _parse("aws_inspector2_package_vuln_metadata.json")[0]
    # DefectDojo: CVE-2025-58187, go/stdlib 1.24.4, file_path extensions/collector, cvssv3 7.5
    assert first.title == "CVE-2025-58187 go/stdlib 1.24.4"
    assert first.category is Category.VULNERABILITY and first.severity is Severity.HIGH
    assert first.properties["FilePath"] == "extensions/collector"
    assert first.resource.type == "AwsLambdaFunction"
    assert first.resource.id.startswith("arn:aws:lambda:us-west-2:")
    assert first.remediation == "Upgrade go/stdlib to 1.25.3."
    vuln = to_asff(first, CTX)["Vulnerabilities"][0]
    assert vuln["Id"] == "CVE-2025-58187" and vuln["Cvss"][0]["BaseScore"] == 7.5
    assert vuln["VulnerablePackages"][0]["FixedInVersion"] == "1.25.3"


def test_several_packages_and_untriaged() -> None:
    findings = _parse("aws_inspector2_many_vul.json")
    multi = next(f for f in findings if len(f.vulnerabilities) > 1)
    assert multi.title.endswith("(+1 more packages)")
    assert len(to_asff(multi, CTX)["Vulnerabilities"]) == 2
    untriaged = [f for f in findings if f.severity_original == "UNTRIAGED"]
    assert untriaged and all(f.severity is Severity.INFORMATIONAL for f in untriaged
                             if f.vulnerabilities[0].cvss_score is None)
    assert findings[0].resource.type == "AwsEcrContainerImage"


def test_code_vulnerability() -> None:
    (code,) = [f for f in _parse("aws_inspector2_package_vuln_metadata_multi_cwe_fabricated.json")
               if f.category is Category.CODE]
    assert code.title == "CWE-117,93 - Log injection"
    assert code.cwe == ("CWE-117", "CWE-93")
    assert code.rule_id == "python/log-injection@v1.0"
    assert code.location.path == "src/project_api/service/api_client.py"
    assert code.location.start_line == 268


def test_network_reachability() -> None:
    item = {"findingArn": "arn:aws:inspector2:us-east-1:123456789012:finding/abc",
            "awsAccountId": "123456789012", "type": "NETWORK_REACHABILITY",
            "description": "On the instance, port range 22 - 22 is reachable from an Internet Gateway.",
            "title": "Port 22 is reachable from an Internet Gateway - TCP",
            "remediation": {"recommendation": {"text": "Restrict access to port 22."}},
            "severity": "MEDIUM", "status": "ACTIVE", "firstObservedAt": "x", "lastObservedAt": "x",
            "resources": [{"type": "AWS_EC2_INSTANCE", "id": "i-0123456789abcdef0"}],
            "networkReachabilityDetails": {
                "openPortRange": {"begin": 22, "end": 22}, "protocol": "TCP",
                "networkPath": {"steps": [{"componentId": "igw-1", "componentType": "AWS::EC2::InternetGateway"},
                                          {"componentId": "sg-1", "componentType": "AWS::EC2::SecurityGroup"}]}}}
    data = json.dumps({"findings": [item]}).encode()
    (finding,) = FMT.parse(data, "net.json")
    assert finding.category is Category.MISCONFIGURATION and finding.severity is Severity.MEDIUM
    assert finding.resource.type == "AwsEc2Instance" and finding.resource.id == "i-0123456789abcdef0"
    assert "igw-1" in finding.description and finding.remediation == "Restrict access to port 22."
    assert sniff(data, "net.json").name == "inspector2"
    assert_valid_asff([finding])


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[]", b"{}", b'{"findings": {}}', b'{"findings": [1]}',
    b'{"findings": [{"type": "PACKAGE_VULNERABILITY", "status": "ACTIVE"}]}',
    b'{"findings": [{"type": "SOMETHING_NEW", "status": "ACTIVE"}]}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


def test_sniff_leaves_other_json_alone() -> None:
    assert not FMT.sniff(Document(b'{"findings": [{"id": 1}]}'))
    assert not FMT.sniff(Document(b'{"findings": [], "summary": {}}'))
