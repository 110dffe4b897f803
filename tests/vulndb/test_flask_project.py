"""Dependencies by default: a Flask project with no secpipe.yml gets its CVEs, with fixes.

The OSV records are minimal copies of the real advisories (ids, aliases, affected ranges and
fixed versions as OSV publishes them), imported offline, or served to the first-use fetch by a
throw-away HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import io
import json
import shutil
import threading
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.pipeline.result import StageStatus
from secpipe.tools import tool_env
from secpipe.vulndb import VulnDB
from secpipe.vulndb.fetch import project_ecosystems

CVSS_HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"
CVSS_MED = "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N"


def _record(vid: str, aliases: list[str], pkg: str, events: list[dict[str, str]],
            summary: str, cvss: str) -> dict[str, Any]:
    return {
        "schema_version": "1.6.0", "id": vid, "modified": "2024-05-20T00:00:00Z",
        "published": "2019-01-01T00:00:00Z", "aliases": aliases, "summary": summary,
        "severity": [{"type": "CVSS_V3", "score": cvss}],
        "affected": [{"package": {"ecosystem": "PyPI", "name": pkg,
                                  "purl": f"pkg:pypi/{pkg}"},
                      "ranges": [{"type": "ECOSYSTEM", "events": events}]}],
        "references": [{"type": "ADVISORY", "url": f"https://osv.dev/vulnerability/{vid}"}],
    }


RECORDS = [
    _record("PYSEC-2018-66", ["CVE-2018-1000656", "GHSA-562c-5r94-xh97"], "flask",
            [{"introduced": "0"}, {"fixed": "0.12.3"}],
            "Flask before 0.12.3: denial of service via crafted JSON", CVSS_HIGH),
    _record("PYSEC-2019-179", ["CVE-2019-1010083", "GHSA-5wv5-4vpf-pj6m"], "flask",
            [{"introduced": "0"}, {"fixed": "1.0"}],
            "Flask before 1.0: unexpected memory usage (denial of service)", CVSS_HIGH),
    _record("GHSA-m2qf-hxjv-5gpq", ["CVE-2023-30861", "PYSEC-2023-62"], "flask",
            [{"introduced": "0"}, {"fixed": "2.2.5"}, {"introduced": "2.3.0"},
             {"fixed": "2.3.2"}],
            "Flask vulnerable to possible disclosure of permanent session cookie", CVSS_HIGH),
    _record("PYSEC-2018-28", ["CVE-2018-18074", "GHSA-x84v-xcm2-53pg"], "requests",
            [{"introduced": "0"}, {"fixed": "2.20.0"}],
            "Requests before 2.20.0 sends the Authorization header on an https-to-http "
            "redirect", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"),
    _record("GHSA-j8r2-6x86-q33q", ["CVE-2023-32681", "PYSEC-2023-74"], "requests",
            [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}],
            "Unintended leak of Proxy-Authorization header in requests", CVSS_MED),
]
EXPECTED = {  # (package, CVE) -> the fixed version the finding must carry
    ("flask", "CVE-2018-1000656"): "0.12.3", ("flask", "CVE-2019-1010083"): "1.0",
    ("flask", "CVE-2023-30861"): "2.2.5", ("requests", "CVE-2018-18074"): "2.20.0",
    ("requests", "CVE-2023-32681"): "2.31.0",
}


def _project(root: Path) -> Path:
    root.mkdir()
    (root / "requirements.txt").write_text("flask==0.12\nrequests==2.19.0\n")
    (root / "app.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    return root


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty vulnerability DB of the test's own; OSV 'reachable' only at a closed port."""
    db = tmp_path / "vulndb.sqlite"
    monkeypatch.setenv("SECPIPE_VULNDB", str(db))
    monkeypatch.setenv("SECPIPE_OSV_URL", "http://127.0.0.1:9")  # discard port: refused
    return db


def _vulns(run) -> dict[tuple[str, str], str | None]:
    sca = next(s for s in run.stages if s.name == "sca")
    out = {}
    for g in sca.findings:
        for v in g.finding.vulnerabilities:
            out[(v.package, g.finding.rule_id)] = v.fixed_version
            assert g.finding.tool == "osv-match"  # the scanner's name, not its format's
    return out


def test_flask_project_gets_its_cves_with_fixed_versions(tmp_path: Path, offline: Path) -> None:
    records = tmp_path / "osv"
    records.mkdir()
    for rec in RECORDS:
        (records / f"{rec['id']}.json").write_text(json.dumps(rec))
    assert VulnDB(offline).import_path(records).imported == len(RECORDS)
    root = _project(tmp_path / "flaskapp")
    # no secpipe.yml: the default pipeline; only its dependency stages, so no scanner is needed
    run = run_pipeline(RunRequest(root=root, stages=("sbom", "sca"), use_hub=False, jobs=2))
    sca = next(s for s in run.stages if s.name == "sca")
    assert sca.status is StageStatus.FAILED and run.exit_code == 1
    assert _vulns(run) == EXPECTED
    summary = json.loads((Path(run.run_dir) / "summary.json").read_text())
    assert summary["stages"][1]["tools"][0]["name"] == "osv-match"
    assert Path(run.run_dir).is_relative_to(root / ".secpipe")  # outputs in PATH/.secpipe
    asff = json.loads((Path(run.run_dir) / "findings.asff.json").read_text())
    tools = {f["ProductFields"]["secpipe/Tool"] for f in asff}
    assert tools == {"osv-match"}
    fixed = {(v["VulnerablePackages"][0]["Name"], v["Id"]): v.get("FixAvailable")
             for f in asff for v in f.get("Vulnerabilities", [])}
    assert len(fixed) == len(EXPECTED) and set(fixed.values()) == {"YES"}


@pytest.mark.tools
def test_secpipe_run_with_no_config_scans_dependencies(tmp_path: Path, offline: Path) -> None:
    """The whole default pipeline, as `secpipe run PATH` runs it on a plain folder."""
    for exe in ("git-secrets", "detect-secrets", "trufflehog3", "hadolint", "checkov"):
        if not shutil.which(exe, path=tool_env()["PATH"]):
            pytest.skip(f"{exe} is not installed (`secpipe tools install`)")
    db = VulnDB(offline)
    for rec in RECORDS:
        db.import_records([("test", rec, None)], label="test")
    root = _project(tmp_path / "flaskapp")
    run = run_pipeline(RunRequest(root=root, use_hub=False))
    assert [s.name for s in run.stages] == ["secrets", "dockerfile", "iac", "sbom", "sca"]
    assert _vulns(run) == EXPECTED
    assert run.exit_code == 1


def test_offline_first_use_is_an_error_saying_what_to_run(tmp_path: Path, offline: Path
                                                          ) -> None:
    root = _project(tmp_path / "flaskapp")
    run = run_pipeline(RunRequest(root=root, stages=("sbom", "sca"), use_hub=False))
    sca = next(s for s in run.stages if s.name == "sca")
    assert sca.status is StageStatus.ERROR and run.exit_code == 2
    error = sca.tools[0].error or ""
    assert "secpipe db import PATH" in error and f"secpipe db update {root}" in error
    assert "Fetching PyPI on first use failed" in error
    assert not offline.exists() or VulnDB(offline).status().advisories == 0  # untouched


class _OsvMirror(http.server.BaseHTTPRequestHandler):
    archives: dict[str, bytes] = {}
    requested: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).requested.append(self.path)
        body = self.archives.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror() -> Iterator[str]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for rec in RECORDS:
            zf.writestr(f"{rec['id']}.json", json.dumps(rec))
    _OsvMirror.archives = {"/PyPI/all.zip": buf.getvalue(), "/npm/all.zip": b"not wanted"}
    _OsvMirror.requested = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OsvMirror)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_online_first_use_fetches_only_the_sboms_ecosystems(
        tmp_path: Path, offline: Path, mirror: str, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SECPIPE_OSV_URL", mirror)
    root = _project(tmp_path / "flaskapp")
    run = run_pipeline(RunRequest(root=root, stages=("sca",), use_hub=False))  # sbom built
    assert _OsvMirror.requested == ["/PyPI/all.zip"]  # not npm, Go, Maven ...
    assert _vulns(run) == EXPECTED
    assert "fetching them from OSV (first use)" in capfd.readouterr().err  # progress shown
    assert VulnDB(offline).status().ecosystems == {"PyPI": len(RECORDS)}


def test_db_update_defaults_to_the_projects_ecosystems(tmp_path: Path) -> None:
    root = _project(tmp_path / "flaskapp")
    (root / "web").mkdir()
    (root / "web" / "package-lock.json").write_text(json.dumps({
        "name": "w", "lockfileVersion": 3, "packages": {
            "": {"name": "w"}, "node_modules/lodash": {"version": "4.17.20"}}}))
    assert project_ecosystems(root) == ["PyPI", "npm"]


def test_db_update_path_fetches_the_project_plus_what_is_present(
        tmp_path: Path, mirror: str) -> None:
    from click.testing import CliRunner

    from secpipe.cli import main

    root = _project(tmp_path / "flaskapp")
    db = tmp_path / "db.sqlite"
    VulnDB(db).import_path(Path(__file__).parents[2] / "examples" / "web" / "osv-demo")
    _OsvMirror.archives["/npm/all.zip"] = _OsvMirror.archives["/PyPI/all.zip"]
    result = CliRunner().invoke(main, ["db", "update", str(root), "--url", mirror,
                                       "--db", str(db)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    # PyPI from the project's requirements.txt, npm because the demo subset is present
    assert _OsvMirror.requested == ["/PyPI/all.zip", "/npm/all.zip"]
    assert "ecosystems: PyPI" in result.output
