"""secpipe's vulnerability database and matcher: OSV records in SQLite, SBOM purls matched
with each ecosystem's own version rules, results as Findings and as a CycloneDX report.

    db = VulnDB()                       # ~/.cache/secpipe/vulndb.sqlite or $SECPIPE_VULNDB
    db.import_path("osv/npm/all.zip")   # OSV JSON files, folders, all.zip archives
    scan = match_sbom(db, sbom_bytes)   # -> SbomScan(findings, report, result)
"""

from __future__ import annotations

from dataclasses import dataclass

from secpipe.model import Finding
from secpipe.vulndb.matcher import Matcher, MatchResult, load_sbom, sbom_from_purls
from secpipe.vulndb.report import TOOL, cyclonedx_report, findings
from secpipe.vulndb.store import ImportResult, Status, VulnDB, VulnDBError, default_path
from secpipe.vulndb.update import Offline, update


@dataclass
class SbomScan:
    findings: list[Finding]
    report: bytes          # CycloneDX 1.5 JSON with vulnerabilities
    result: MatchResult


def db_info(db: VulnDB) -> dict[str, str]:
    """What the report records about the database it was matched against."""
    status = db.status()
    return {"path": str(status.path), "advisories": str(status.advisories),
            "last-import": status.last_import or "never"}


def match_sbom(db: VulnDB, sbom: bytes, source: str = "<sbom>", tool: str = TOOL) -> SbomScan:
    """Match a CycloneDX JSON SBOM; ValueError when `sbom` is not one."""
    doc = load_sbom(sbom, source)
    result = Matcher(db).match_sbom(doc)
    return SbomScan(findings(result, doc, tool), cyclonedx_report(doc, result, db_info(db)),
                    result)


__all__ = [
    "ImportResult", "MatchResult", "Matcher", "Offline", "SbomScan", "Status", "VulnDB",
    "VulnDBError", "cyclonedx_report", "db_info", "default_path", "findings", "load_sbom",
    "match_sbom", "sbom_from_purls", "update",
]
