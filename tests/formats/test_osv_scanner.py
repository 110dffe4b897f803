from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.formats.interface import Document
from secpipe.model import Severity, to_asff
from tests.asserts import CTX, assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("osv-scanner")

# Where our result differs from DefectDojo's on purpose:
# many_findings.json: osv-scanner lists every matching OSV record and groups the records that
# are one vulnerability (GHSA-x + PYSEC-y); its own table shows one row per group, and so does
# secpipe (37 groups), keeping every id as an alias. DefectDojo counts records: 66.
# no_findings.json: a 0-byte file is not an osv-scanner report (osv-scanner prints
# {"results": []} when it finds nothing); it means the run that should have written it failed,
# so it is an error, never a pass. DefectDojo reads it as 0 findings.
DELIBERATE = {"many_findings.json": 37}
ERRORS = {"no_findings.json"}


def _parse(name: str):
    return FMT.parse((shared_fixture_dir("osv_scanner") / name).read_bytes(), name)


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("osv_scanner")
    expected = manifest("osv_scanner")
    assert len(expected) == 3
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        if name in ERRORS:
            with pytest.raises(ReportFormatError, match="empty"):
                FMT.parse(data, name)
            continue
        findings = FMT.parse(data, name)
        assert len(findings) == DELIBERATE.get(name, int(count)), name
        assert sniff(data, name).name == "osv-scanner", name
        assert_valid_asff(findings)
        assert len({f.fingerprint() for f in findings}) == len(findings), name


def test_groups_keep_every_record_id() -> None:
    data = json.loads((shared_fixture_dir("osv_scanner") / "many_findings.json").read_bytes())
    records = sum(len(p["vulnerabilities"]) for r in data["results"] for p in r["packages"])
    assert records == 66  # DefectDojo's count
    findings = _parse("many_findings.json")
    ids = {i for f in findings for i in (f.rule_id, *f.vulnerabilities[0].aliases)}
    every = {v["id"] for r in data["results"] for p in r["packages"] for v in p["vulnerabilities"]}
    assert every <= ids


def test_first_finding() -> None:
    first = _parse("many_findings.json")[0]
    # DefectDojo: 'GHSA-25mq-v84q-4j7r_guzzlehttp/guzzle' High
    assert first.title == "CVE-2022-31090 guzzlehttp/guzzle 6.3.3"
    assert first.vulnerabilities[0].aliases == ("GHSA-25mq-v84q-4j7r",)
    assert first.severity is Severity.HIGH and first.vulnerabilities[0].cvss_score == 7.7
    assert first.resource.id == "pkg:composer/guzzlehttp/guzzle@6.3.3"
    assert first.location.path == "tmpcardmarket-api/composer.lock"
    assert first.remediation == "Upgrade guzzlehttp/guzzle to 6.5.8."
    assert to_asff(first, CTX)["Vulnerabilities"][0]["Id"] == "CVE-2022-31090"


def test_fixed_version_is_the_one_of_the_installed_branch() -> None:
    findings = _parse("many_findings.json")
    django = {f.rule_id: f for f in findings if f.vulnerabilities[0].package == "django"}
    # CVE-2021-44420 was fixed in 2.2.25, 3.1.14 and 3.2.10; 3.2.4 is on the 3.2 branch
    assert django["CVE-2021-44420"].vulnerabilities[0].fixed_version == "3.2.10"
    git = [f for f in findings if f.resource.id.startswith("git:")]
    assert len(git) == 1 and git[0].rule_id == "CVE-2023-50094"
    assert git[0].severity is Severity.HIGH  # computed from the CVSS v3.1 vector (8.8)


def test_malicious_package() -> None:
    (finding,) = _parse("some_findings.json")
    # DefectDojo: 'MAL-2023-1035_flot-axis' Low, cwe CWE-506. The record has no rating; a
    # malicious package compromises whatever installed it, so secpipe rates it CRITICAL.
    assert finding.severity is Severity.CRITICAL
    assert finding.cwe == ("CWE-506",)
    assert "MAL-2023-1035" in (finding.rule_id, *finding.vulnerabilities[0].aliases)
    assert finding.remediation.startswith("Remove flot-axis")


def _report(severity: list, group: dict | None = None, db: dict | None = None) -> bytes:
    rec = {"id": "GHSA-aaaa-bbbb-cccc", "aliases": ["CVE-2024-0001"], "summary": "s",
           "severity": severity, "database_specific": db or {},
           "affected": [{"package": {"ecosystem": "PyPI", "name": "pkg"},
                         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                                     {"fixed": "2.0"}]}]}]}
    pkg = {"package": {"name": "pkg", "version": "1.0", "ecosystem": "PyPI"},
           "vulnerabilities": [rec]}
    if group is not None:
        pkg["groups"] = [group]
    return json.dumps({"results": [{"source": {"path": "/src/requirements.txt", "type": "lockfile"},
                                    "packages": [pkg]}]}).encode()


@pytest.mark.parametrize("data, expected", [
    (_report([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]),
     Severity.CRITICAL),
    (_report([], {"ids": ["GHSA-aaaa-bbbb-cccc"], "max_severity": "5.3"}), Severity.MEDIUM),
    (_report([], db={"severity": "LOW"}), Severity.LOW),
    (_report([]), Severity.MEDIUM),
])
def test_severity(data: bytes, expected: Severity) -> None:
    (finding,) = FMT.parse(data, "o.json")
    assert finding.severity is expected
    assert finding.rule_id == "CVE-2024-0001" and finding.resource.id == "pkg:pypi/pkg@1.0"
    assert finding.vulnerabilities[0].fixed_version == "2.0"


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[]", b"{}", b'{"results": {}}', b'{"results": [1]}',
    b'{"results": [{"packages": [1]}]}',
    b'{"results": [{"packages": [{"vulnerabilities": [2]}]}]}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


def test_sniff_leaves_other_json_alone() -> None:
    assert not FMT.sniff(Document(b'{"results": []}'))  # semgrep/bandit style
    assert not FMT.sniff(Document(b'{"results": [{"check_id": "x"}]}'))
    assert FMT.sniff(Document(b'{"results": [], "experimental_config": {}}'))
