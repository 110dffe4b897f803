"""The osv-match adapter: matches the SBOM handed on, fails closed on everything else, and
its stage gates on HIGH/CRITICAL like the seed's Anchore stage."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from secpipe.formats import get_format
from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.scanners.interface import ReportMissing, ScanRequest, ToolCrashed, ToolMissing
from secpipe.scanners.registry import get_scanner
from secpipe.vulndb import VulnDB
from tests.vulndb.conftest import DEMO, FIXTURES, sbom_bytes

PURLS = ["pkg:npm/minimist@1.2.5", "pkg:npm/lodash@4.17.20", "pkg:npm/react@18.3.1"]


def request(tmp_path: Path, db: Path, sbom_data: bytes | None, **options) -> ScanRequest:
    """A request as the runner builds it, the SBOM handed on as `inputs["sbom"]`."""
    inputs = {}
    if sbom_data is not None:
        path = tmp_path / "sbom.cdx.json"
        path.write_bytes(sbom_data)
        inputs["sbom"] = str(path)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return ScanRequest(root=tmp_path, workdir=work, options={"db": str(db), **options},
                       timeout=60, env=dict(os.environ), inputs=inputs)


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    db = VulnDB(tmp_path / "demo.sqlite")
    db.import_path(DEMO)
    db.close()
    return db.path


def test_registered_with_the_cyclonedx_format() -> None:
    scanner = get_scanner("osv-match")
    assert scanner.format == "cyclonedx" and get_format(scanner.format).name == "cyclonedx"


def test_matches_the_sbom_handed_on(tmp_path: Path, demo_db: Path) -> None:
    outcome = get_scanner("osv-match").scan(request(tmp_path, demo_db, sbom_bytes(PURLS)))
    [report] = outcome.reports
    findings = get_format("cyclonedx").parse(report.data, report.name)
    assert {(f.rule_id, f.vulnerabilities[0].fixed_version) for f in findings} == {
        ("CVE-2021-44906", "1.2.6"), ("CVE-2021-23337", "4.17.21"),
        ("CVE-2020-28500", "4.17.21")}
    assert any("12 advisories" in n for n in outcome.notes)
    assert any("npm (12 advisories in DB)" in n for n in outcome.notes)


def test_no_sbom_fails_closed(tmp_path: Path, demo_db: Path) -> None:
    with pytest.raises(ReportMissing, match="no SBOM to match.*needs"):
        get_scanner("osv-match").scan(request(tmp_path, demo_db, None))


def test_sbom_option_is_the_fallback(tmp_path: Path, demo_db: Path) -> None:
    (tmp_path / "bom.json").write_bytes(sbom_bytes(PURLS))
    outcome = get_scanner("osv-match").scan(request(tmp_path, demo_db, None, sbom="bom.json"))
    assert len(get_format("cyclonedx").parse(outcome.reports[0].data, "r")) == 3


@pytest.mark.parametrize("prepare", ["missing", "empty-file"])
def test_empty_db_is_not_no_vulnerabilities(tmp_path: Path, prepare: str) -> None:
    db = tmp_path / "none.sqlite"
    if prepare == "empty-file":
        VulnDB(db).status()
        VulnDB(db).engine  # creates the schema, no advisories  # noqa: B018
    with pytest.raises(ToolMissing, match="empty.*secpipe db import"):
        get_scanner("osv-match").scan(request(tmp_path, db, sbom_bytes(PURLS)))


def test_ecosystem_without_advisories_fails_closed(tmp_path: Path, demo_db: Path) -> None:
    purls = [*PURLS, "pkg:pypi/jinja2@2.11.2"]
    with pytest.raises(ToolMissing, match=r"vulnerability DB empty for PyPI: run `secpipe db "
                                          r"import"):
        get_scanner("osv-match").scan(request(tmp_path, demo_db, sbom_bytes(purls)))
    outcome = get_scanner("osv-match").scan(
        request(tmp_path, demo_db, sbom_bytes(purls), empty_ecosystems="skip"))
    assert any(n.startswith("NOT CHECKED") and "PyPI" in n for n in outcome.notes)


def test_stale_db_fails_closed(tmp_path: Path, demo_db: Path) -> None:
    with sqlite3.connect(demo_db) as conn:
        conn.execute("UPDATE imports SET at = '2020-01-01T00:00:00Z'")
    with pytest.raises(ToolMissing, match="stale.*max_age_days"):
        get_scanner("osv-match").scan(request(tmp_path, demo_db, sbom_bytes(PURLS)))
    outcome = get_scanner("osv-match").scan(
        request(tmp_path, demo_db, sbom_bytes(PURLS), max_age_days=0))
    assert outcome.reports


def test_unusable_sboms(tmp_path: Path, demo_db: Path) -> None:
    with pytest.raises(ToolCrashed, match="not a CycloneDX"):
        get_scanner("osv-match").scan(request(tmp_path, demo_db, b'{"spdxVersion": "x"}'))
    with pytest.raises(ReportMissing, match="no package"):
        get_scanner("osv-match").scan(request(tmp_path, demo_db,
                                              sbom_bytes(["pkg:generic/thing@1"])))


def test_stage_gates_on_high_by_default(tmp_path: Path) -> None:
    """A project whose SCA stage reads a committed SBOM: the gate fails on the CRITICAL and
    HIGH findings (default fail_on: high), and errors on an empty database."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "sbom.cdx.json").write_bytes(sbom_bytes(PURLS))
    db = VulnDB(tmp_path / "vulndb.sqlite")
    db.import_path(FIXTURES)
    db.close()
    (project / "secpipe.yml").write_text(
        "version: 1\nstages:\n  sca:\n    tools: [osv-match]\n"
        f"tools:\n  osv-match:\n    sbom: sbom.cdx.json\n    db: {db.path}\n")
    run = run_pipeline(RunRequest(root=project, out_dir=tmp_path / "out", use_hub=False))
    [stage] = run.stages
    assert run.exit_code == 1, (stage.status, stage.error)
    assert {f.finding.rule_id for f in stage.findings} >= {"CVE-2021-44906"}
    (project / "secpipe.yml").write_text(
        "version: 1\nstages:\n  sca:\n    tools: [osv-match]\n"
        f"tools:\n  osv-match:\n    sbom: sbom.cdx.json\n    db: {tmp_path / 'empty.sqlite'}\n")
    run = run_pipeline(RunRequest(root=project, out_dir=tmp_path / "out2", use_hub=False))
    assert run.exit_code == 2 and "empty" in (run.stages[0].error or "")


def test_unusable_db_file(tmp_path: Path) -> None:
    (tmp_path / "junk.sqlite").write_text("not a database")
    with pytest.raises(ToolCrashed, match="not a usable vulnerability database"):
        get_scanner("osv-match").scan(request(tmp_path, tmp_path / "junk.sqlite",
                                              sbom_bytes(PURLS)))
