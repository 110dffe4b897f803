from __future__ import annotations

import json
from collections import Counter

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.formats.interface import Document
from secpipe.model import Category, Severity, to_asff
from tests.asserts import CTX, assert_valid_asff
from tests.conftest import OWN_FIXTURES, manifest, shared_fixture_dir

FMT = get_format("trivy")
OWN = OWN_FIXTURES / "trivy"
# Fake values planted in the scanned tree of the own fixtures. trivy masked the detected ones,
# but printed the undetected `secret_key` line of main.tf in clear inside a secret's `Code`.
PLANTED = ("AKIAFAKEKEYFORTESTS2", "FAKEfakeFAKEfakeNOTaSECRETnotAsecret0000")

# Where our count differs from DefectDojo's on purpose:
# all_statuses.json: DefectDojo keeps the `not_affected` entry as an inactive, mitigated finding;
# secpipe has no inactive findings (a gate would fail on it), so a vendor's "not affected" is
# not reported: 8 - 1.
DELIBERATE = {"all_statuses.json": 7}
# `null` is what legacy trivy printed for "no results"; it parses, but no sniffer can claim it.
NOT_SNIFFED = {"legacy_no_vuln.json"}


def _parse(name: str, folder=None):
    folder = folder or shared_fixture_dir("trivy")
    return FMT.parse((folder / name).read_bytes(), name)


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("trivy")
    expected = manifest("trivy")
    assert len(expected) == 15
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        if name in DELIBERATE:
            assert len(findings) == DELIBERATE[name], name
        elif count != "unknown":
            assert len(findings) == int(count), name
        if name not in NOT_SNIFFED:
            assert sniff(data, name).name == "trivy", name
        assert_valid_asff(findings)


def test_unknown_rows_parse() -> None:
    counts = {name: len(_parse(name)) for name in (
        "kubernetes_fabricated_internal_duplicates.json",
        "kubernetes_fabricated_internal_duplicates_subset.json",
        "kubernetes_fabricated_subset.json", "legacy_trivy_mix.json")}
    assert counts == {"kubernetes_fabricated_internal_duplicates.json": 13,
                      "kubernetes_fabricated_internal_duplicates_subset.json": 5,
                      "kubernetes_fabricated_subset.json": 13, "legacy_trivy_mix.json": 7}


def test_schema_2_vulnerabilities() -> None:
    findings = _parse("scheme_2_many_vulns.json")
    first = findings[0]
    assert first.title == "CVE-2020-15999 freetype 2.9.1-r2"
    assert first.severity is Severity.MEDIUM and first.category is Category.VULNERABILITY
    assert first.cwe == ("CWE-787",)
    assert first.location.path == "app/libs/freetype-2.9.1-r2"
    assert first.resource.type == "Container" and first.resource.id == "teamdojo:latest"
    (vuln,) = first.vulnerabilities
    assert (vuln.id, vuln.package, vuln.version, vuln.fixed_version) == (
        "CVE-2020-15999", "freetype", "2.9.1-r2", "2.9.1-r3")
    assert first.remediation == "Upgrade freetype to 2.9.1-r3."
    assert findings[1].severity is Severity.HIGH and findings[1].rule_id == "CVE-2020-28196"


def test_lockfile_target_is_the_path() -> None:
    (finding,) = _parse("issue_9092.json")
    assert finding.severity is Severity.HIGH and finding.location.path == "requirements.txt"


def test_cvss_v4_score_is_taken_from_the_severity_source() -> None:
    first = _parse("cvssv4_severity_source.json")[0]
    assert first.severity is Severity.MEDIUM
    assert first.vulnerabilities[0].cvss_score == 6.3
    assert first.vulnerabilities[0].cvss_vector.startswith("CVSS:4.0/")


def test_statuses() -> None:
    findings = _parse("all_statuses.json")
    assert "CVE-2019-18276" not in {f.rule_id for f in findings}  # not_affected
    assert Counter(f.properties["Status"] for f in findings) == {
        "unknown": 1, "affected": 1, "fixed": 1, "under_investigation": 1,
        "will_not_fix": 1, "fix_deferred": 1, "end_of_life": 1}
    binutils = next(f for f in findings if f.rule_id == "CVE-2018-1000876")
    assert binutils.title == "CVE-2018-1000876 binutils 2.31.1-16"
    assert binutils.cwe == ("CWE-190", "CWE-787")


def test_kubernetes_older_shape() -> None:
    findings = _parse("kubernetes.json")
    first = findings[0]
    assert first.title == "CVE-2020-27350 apt 1.8.2.1" and first.severity is Severity.MEDIUM
    assert first.resource.id.endswith("default/Deployment/redis-follower")
    assert first.resource.details["kind"] == "Deployment"
    misconf = findings[10]
    assert misconf.title == "KSV001 - Process can elevate its own privileges"
    assert misconf.severity is Severity.MEDIUM and misconf.category is Category.MISCONFIGURATION
    assert misconf.location is None  # lines of a rendered manifest, not of a file
    keys = [f.identity_key() for f in findings]
    assert len(set(keys)) == len(keys)


def test_kubernetes_resources_shape() -> None:
    findings = _parse("issue_9170.json")
    assert findings[0].severity is Severity.LOW
    assert findings[0].title == "KSV116 - Runs with a root primary or supplementary GID"
    assert findings[0].resource.id == "k8s:minikube/default/Service/kubernetes"


def test_licenses_are_compliance() -> None:
    findings = _parse("license_scheme.json")
    first = findings[0]
    assert first.category is Category.COMPLIANCE and first.severity is Severity.HIGH
    assert first.description.startswith("GPL-2.0")
    assert first.location is None
    loose = [f for f in findings if f.properties.get("Class") == "license-file"]
    assert loose and loose[0].location.path == "etc/ssl/misc/CA.pl"


def test_legacy_entry_without_id_is_kept() -> None:
    findings = _parse("legacy_trivy_mix.json")
    odd = [f for f in findings if f.rule_id == "UNIDENTIFIED"]
    assert len(odd) == 1 and "simplito/elliptic-php" in odd[0].title
    assert odd[0].location.path == "php-app/composer.lock"


def test_real_trivy_config() -> None:
    """`trivy config --skip-check-update -f json DIR` (0.76.0)."""
    findings = _parse("trivy-0.76-config.json", OWN)
    assert len(findings) == 40
    assert Counter(f.location.path for f in findings) == {
        "k8s/deployment.yaml": 22, "tf/main.tf": 12, "app/Dockerfile": 6}
    assert all(f.category is Category.MISCONFIGURATION for f in findings)
    assert all(f.location_key for f in findings)
    keys = [f.identity_key() for f in findings]
    assert len(set(keys)) == len(keys)
    assert_valid_asff(findings)


def test_real_trivy_fs_secrets_never_leak() -> None:
    """`trivy fs --scanners secret,misconfig ...`: trivy put a clear neighbour line in Code."""
    raw = (OWN / "trivy-0.76-fs-secret-misconfig.json").read_bytes()
    assert PLANTED[1].encode() in raw  # the hazard is real in the fixture
    findings = FMT.parse(raw, "fs.json")
    secrets = [f for f in findings if f.category is Category.SECRET]
    assert Counter(f.rule_id for f in secrets) == {"aws-access-key-id": 2,
                                                   "aws-secret-access-key": 1}
    assert len(findings) - len(secrets) == 40
    tf = next(f for f in secrets if f.location.path == "tf/main.tf")
    assert tf.location.start_line == 3 and tf.severity is Severity.CRITICAL
    everything = json.dumps([to_asff(f, CTX) for f in findings]) + repr(findings)
    for value in PLANTED:
        assert value not in everything
    assert_valid_asff(findings)


def test_empty_schema_2_report() -> None:
    assert _parse("trivy-0.76-config-empty.json", OWN) == []


def test_misconfiguration_statuses_and_unredacted_secret() -> None:
    clear = "NOTaREALsecretJUSTaTESTvalue0123"
    report = {"SchemaVersion": 2, "ArtifactName": ".", "ArtifactType": "filesystem", "Results": [
        {"Target": "main.tf", "Class": "config", "Type": "terraform", "Misconfigurations": [
            {"ID": "AVD-1", "Title": "t", "Severity": "HIGH", "Status": "PASS"},
            {"ID": "AVD-2", "Title": "t", "Severity": "HIGH", "Status": "EXCEPTION"},
            {"ID": "AVD-3", "Title": "t", "Severity": "HIGH", "Status": "FAIL"},
            {"ID": "AVD-4", "Title": "t", "Severity": "UNKNOWN"}]},
        {"Target": "app.env", "Class": "secret", "Secrets": [
            {"RuleID": "custom", "Title": "Custom", "Severity": "HIGH", "StartLine": 1,
             "EndLine": 1, "Match": clear,
             "Code": {"Lines": [{"Number": 1, "Content": clear, "IsCause": True}]}}]}]}
    findings = FMT.parse(json.dumps(report).encode(), "r.json")
    assert [f.rule_id for f in findings] == ["AVD-3", "AVD-4", "custom"]
    assert findings[1].severity is Severity.INFORMATIONAL
    secret = findings[2]
    assert secret.secret is not None and secret.secret.masked == "NOTa…0123"
    assert clear not in json.dumps(to_asff(secret, CTX)) + repr(secret)


@pytest.mark.parametrize("bad", [
    b"", b"{", b'"text"', b"3", b'{"a": 1}', b"[1, 2]",
    b'{"SchemaVersion": 2, "Results": {}}',
    b'{"SchemaVersion": 2, "Results": [1]}',
    b'{"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": [1]}]}',
    b'{"SchemaVersion": 2, "Results": [{"Target": "x", "Secrets": {}}]}',
    b'{"ClusterName": "c", "Resources": {}}',
    b'{"ClusterName": "c", "Resources": [{"Name": "n", "Results": "x"}]}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


@pytest.mark.parametrize("other", [
    b"null", b"[]", b'{"results": []}', b'{"SchemaVersion": "2018-10-08", "Findings": []}',
    b'[{"code": "DL3000", "file": "Dockerfile"}]',
])
def test_sniff_leaves_other_json_alone(other: bytes) -> None:
    assert not FMT.sniff(Document(other))
