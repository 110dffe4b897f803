"""The matcher's Findings and its CycloneDX report: the report parses, with secpipe's own
`cyclonedx` format, to the very same findings; severities, fixes and ids as expected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secpipe.formats.cyclonedx import parse
from secpipe.formats.registry import sniff
from secpipe.model import Category, Severity
from secpipe.vulndb import VulnDB, match_sbom
from tests.asserts import assert_valid_asff
from tests.vulndb.conftest import DEMO, sbom_bytes

ALL_PURLS = [
    "pkg:npm/minimist@1.2.5", "pkg:npm/qs@6.7.0", "pkg:npm/lodash@4.17.20",
    "pkg:npm/lodash.trim@4.5.1", "pkg:npm/express@4.17.1", "pkg:pypi/jinja2@2.11.2",
    "pkg:pypi/django@4.1.9", "pkg:deb/debian/libbind9-80@9.8.4.dfsg.P1-6+nmu2+deb7u1"
    "?upstream=bind9&epoch=1&distro=debian-7", "pkg:npm/react@18.3.1",
]


def _same(findings, parsed) -> None:
    assert len(findings) == len(parsed)
    key = lambda f: (f.rule_id, f.resource.id if f.resource else "")  # noqa: E731
    for mine, theirs in zip(sorted(findings, key=key), sorted(parsed, key=key)):
        assert mine.tool == "osv-match" and theirs.tool == "cyclonedx"
        assert mine.with_(tool="x") == theirs.with_(tool="x")


def test_report_parses_to_the_same_findings(fixture_db: VulnDB) -> None:
    scan = match_sbom(fixture_db, sbom_bytes(ALL_PURLS))
    assert len(scan.findings) == 9
    _same(scan.findings, parse(scan.report, "osv-match.cdx.json"))
    assert sniff(scan.report, "osv-match.cdx.json").name == "cyclonedx"
    assert_valid_asff(scan.findings)


def test_container_subject_becomes_the_resource(fixture_db: VulnDB) -> None:
    subject = {"type": "container", "name": "registry.local/web:1.0", "bom-ref": "img"}
    scan = match_sbom(fixture_db, sbom_bytes(["pkg:npm/minimist@1.2.5"], subject=subject))
    [finding] = scan.findings
    assert finding.resource.type == "Container" and finding.resource.id == subject["name"]
    _same(scan.findings, parse(scan.report, "r.json"))


def test_finding_fields(fixture_db: VulnDB) -> None:
    scan = match_sbom(fixture_db, sbom_bytes(ALL_PURLS))
    by_id = {f.rule_id: f for f in scan.findings}
    mini = by_id["CVE-2021-44906"]
    assert mini.category is Category.VULNERABILITY and mini.severity is Severity.CRITICAL
    [vuln] = mini.vulnerabilities
    assert (vuln.package, vuln.version, vuln.fixed_version) == ("minimist", "1.2.5", "1.2.6")
    assert vuln.aliases == ("GHSA-xvch-5gv4-984h",)
    assert vuln.cvss_score == 9.8
    assert vuln.cvss_vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    assert mini.remediation == "Upgrade minimist to 1.2.6."
    assert mini.cwe == ("CWE-1321",)
    # jinja2 2.11.2: the GHSA (CVE-2020-28493) and PyPA's PYSEC record of the same CVE
    jinja = [f for f in scan.findings if f.vulnerabilities[0].package == "jinja2"]
    assert sorted(a for f in jinja for a in f.vulnerabilities[0].aliases) == [
        "GHSA-g3rq-g295-4j3m", "PYSEC-2021-66", "SNYK-PYTHON-JINJA2-1012994"]
    assert {f.rule_id for f in jinja} == {"CVE-2020-28493"}
    assert {f.severity for f in jinja} == {Severity.MEDIUM}  # CVSS 5.3 / unrated PYSEC
    # Debian: no rating at all -> MEDIUM, "unrated"; the binary package named, fixed source
    deb = next(f for f in scan.findings if f.rule_id == "DSA-3023-1")
    assert deb.severity is Severity.MEDIUM and deb.severity_original == "unrated"
    assert deb.vulnerabilities[0].fixed_version == "1:9.8.4.dfsg.P1-6+nmu2+deb7u2"
    # last_affected: no fix, and the remediation says so
    trim = next(f for f in scan.findings if f.vulnerabilities[0].package == "lodash.trim")
    assert trim.vulnerabilities[0].fixed_version is None
    assert "last affected" in trim.remediation


def test_database_rating_without_vectors(tmp_path: Path) -> None:
    """cookie's advisory has no CVSS vector, only GitHub's LOW."""
    db = VulnDB(tmp_path / "db.sqlite")
    db.import_path(DEMO / "GHSA-pxg6-pf52-xh8x.json")
    [finding] = match_sbom(db, sbom_bytes(["pkg:npm/cookie@0.4.0"])).findings
    assert finding.severity is Severity.LOW and finding.vulnerabilities[0].cvss_score is None


def test_demo_subset_finds_the_example_pins(tmp_path: Path) -> None:
    """The example's real lockfile pins against the demo OSV subset."""
    lock = json.loads((DEMO.parent / "package-lock.json").read_text())
    purls = []
    for key, meta in lock["packages"].items():
        if key and not meta.get("dev"):
            name = key.split("node_modules/")[-1]
            purls.append(f"pkg:npm/{name.replace('@', '%40')}@{meta['version']}")
    db = VulnDB(tmp_path / "db.sqlite")
    assert db.import_path(DEMO).imported == 12
    scan = match_sbom(db, sbom_bytes(purls))
    got = {(f.vulnerabilities[0].package, f.rule_id, f.vulnerabilities[0].fixed_version)
           for f in scan.findings}
    assert got == {
        ("lodash", "CVE-2021-23337", "4.17.21"), ("lodash", "CVE-2020-28500", "4.17.21"),
        ("minimist", "CVE-2021-44906", "1.2.6"), ("express", "CVE-2024-29041", "4.19.2"),
        ("express", "CVE-2024-43796", "4.20.0"), ("qs", "CVE-2022-24999", "6.7.3"),
        ("path-to-regexp", "CVE-2024-45296", "0.1.10"),
        ("path-to-regexp", "CVE-2024-52798", "0.1.12"),
        ("body-parser", "CVE-2024-45590", "1.20.3"), ("cookie", "CVE-2024-47764", "0.7.0"),
        ("send", "CVE-2024-43799", "0.19.0"), ("serve-static", "CVE-2024-43800", "1.16.0"),
    }
    at_least_high = {f.rule_id for f in scan.findings if f.severity >= Severity.HIGH}
    assert at_least_high == {"CVE-2021-23337", "CVE-2021-44906", "CVE-2022-24999",
                             "CVE-2024-45296", "CVE-2024-52798", "CVE-2024-45590"}


def test_not_an_sbom(fixture_db: VulnDB) -> None:
    with pytest.raises(ValueError, match="not a CycloneDX JSON SBOM"):
        match_sbom(fixture_db, b'{"spdxVersion": "SPDX-2.3"}', "x.spdx.json")
    with pytest.raises(ValueError, match="not JSON"):
        match_sbom(fixture_db, b"<bom/>", "x.xml")
