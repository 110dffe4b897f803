"""Vulnerabilities grouped into fixes (secpipe.pipeline.fixes): one upgrade per package."""

from __future__ import annotations

from secpipe.model import Category, Finding, Resource, Severity, Vulnerability
from secpipe.pipeline.correlate import correlate
from secpipe.pipeline.fixes import group_fixes


def _f(vid: str, fixed: str | None, *, package: str = "flask", version: str = "0.12",
       ecosystem: str = "pypi", tool: str = "osv-match", aliases: tuple[str, ...] = (),
       severity: Severity = Severity.HIGH) -> Finding:
    return Finding(tool=tool, rule_id=vid, title=vid, severity=severity,
                   category=Category.VULNERABILITY,
                   resource=Resource("Other", f"pkg:{ecosystem}/{package}@{version}"),
                   vulnerabilities=(Vulnerability(id=vid, package=package, version=version,
                                                  fixed_version=fixed, aliases=aliases),))


def _issues(findings: list[Finding]) -> list[Finding]:
    ids = [f"secpipe/{f.tool}/{f.fingerprint()}" for f in findings]
    return correlate(findings, id_of=lambda i, f: ids[i])


def test_lowest_version_fixing_all_in_the_ecosystems_order() -> None:
    findings = _issues([
        _f("CVE-2018-1000656", "0.12.3"),
        _f("CVE-2019-1010083", "1.0"),
        _f("CVE-2023-30861", "2.2.5, 2.3.2"),          # two branches: 2.2.5 is the lowest
        # the first one again, from another tool under its GHSA id: the same issue
        _f("GHSA-562c-5r94-xh97", "0.12.3", tool="trivy", aliases=("CVE-2018-1000656",)),
        _f("CVE-2018-18074", "2.20.0", package="requests", version="2.19.0",
           severity=Severity.MEDIUM),
    ])
    fixes = {f.package: f for f in group_fixes(findings)}
    assert fixes["flask"].fixed_in == "2.2.5"
    assert fixes["flask"].sentence == "upgrade flask to 2.2.5 fixes 3 issues"
    assert fixes["requests"].sentence == "upgrade requests to 2.20.0 fixes 1 issue"
    assert [f.package for f in group_fixes(findings)] == ["flask", "requests"]  # worst first
    doc = fixes["flask"].as_dict()
    assert doc["issues"] == 3 and doc["issues_without_fix"] == 0
    assert doc["vulnerabilities"] == ["CVE-2018-1000656", "CVE-2019-1010083", "CVE-2023-30861",
                                      "GHSA-562c-5r94-xh97"]


def test_versions_compare_as_versions_not_text() -> None:
    fixes = group_fixes(_issues([
        _f("A", "4.17.9", package="lodash", version="4.17.4", ecosystem="npm"),
        _f("B", "4.17.21", package="lodash", version="4.17.4", ecosystem="npm"),
        _f("C", "4.17.12", package="lodash", version="4.17.4", ecosystem="npm"),
    ]))
    assert fixes[0].fixed_in == "4.17.21"          # as text, "4.17.9" would win


def test_vulnerabilities_without_a_fix_are_counted_apart() -> None:
    fixes = group_fixes(_issues([_f("A", "1.0"), _f("B", None)]))
    assert fixes[0].sentence == "upgrade flask to 1.0 fixes 1 issue (1 more without a fix)"
    only = group_fixes(_issues([_f("B", None)]))
    assert only[0].fixed_in is None
    assert only[0].sentence == "flask 0.12: no fixed version for 1 issue"


def test_fixed_versions_below_the_installed_one_are_ignored() -> None:
    # an advisory listing the fix of an older branch beside the one that matters
    fixes = group_fixes(_issues([_f("A", "0.11.2, 0.12.4")]))
    assert fixes[0].fixed_in == "0.12.4"


def test_findings_without_vulnerabilities_add_no_fix_whatever_their_package() -> None:
    """group_fixes skips findings without vulnerabilities before working out their issue
    and ecosystem: a misconfiguration on a package-like resource adds nothing."""
    from secpipe.model import Finding, Resource, Severity, Vulnerability
    from secpipe.pipeline.fixes import group_fixes

    vuln = Finding(tool="grype", rule_id="CVE-2024-1", title="t", severity=Severity.HIGH,
                   resource=Resource("Package", "pkg:pypi/requests@2.0.0"),
                   vulnerabilities=(Vulnerability(id="CVE-2024-1", package="requests",
                                                  version="2.0.0", fixed_version="2.1.0"),))
    config = Finding(tool="checkov", rule_id="CKV_1", title="c", severity=Severity.CRITICAL,
                     resource=Resource("Package", "pkg:pypi/requests@2.0.0"),
                     properties={"purl": "pkg:pypi/requests@2.0.0"})
    alone = group_fixes([vuln])
    mixed = group_fixes([config, vuln, config])
    assert [f.as_dict() for f in mixed] == [f.as_dict() for f in alone]
    assert len(alone) == 1 and alone[0].fixed_in == "2.1.0" and alone[0].severity is Severity.HIGH
    assert group_fixes([config]) == []
