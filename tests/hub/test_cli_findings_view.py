"""`findings list` at 80 columns, full Ids on demand, and one tool name from run to hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.vulndb import VulnDB
from tests.conftest import OWN_FIXTURES, ROOT
from tests.vulndb.test_flask_project import RECORDS, _project


def secpipe(*args: str, cwd: Path, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": str(columns),
           "TERM": "dumb"}
    return subprocess.run([sys.executable, "-m", "secpipe", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    report = OWN_FIXTURES / "checkov" / "example-web.json"
    done = secpipe("import", str(report), "--from", "checkov", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path


def test_table_fits_80_columns_one_line_per_finding(hub: Path) -> None:
    ids = json.loads(secpipe("findings", "list", "--json", cwd=hub).stdout)
    done = secpipe("findings", "list", cwd=hub)
    lines = done.stdout.splitlines()
    assert max(len(l) for l in lines) <= 80, "\n".join(l for l in lines if len(l) > 80)
    assert len(lines) == 1 + len(ids)  # header + one line per finding: nothing wraps
    assert f"{len(ids)} findings (full Ids: --ids or --wide)" in done.stderr


def test_ids_prints_only_full_ids(hub: Path) -> None:
    listed = json.loads(secpipe("findings", "list", "--json", cwd=hub).stdout)
    out = secpipe("findings", "list", "--ids", cwd=hub).stdout.splitlines()
    assert out == [f["Id"] for f in listed]
    # and one pastes straight into `findings update`
    done = secpipe("findings", "update", out[0], "--workflow", "NOTIFIED", cwd=hub)
    assert done.returncode == 0 and f"updated {out[0]}" in done.stdout


def test_wide_puts_the_full_id_first(hub: Path) -> None:
    listed = json.loads(secpipe("findings", "list", "--json", cwd=hub).stdout)
    lines = secpipe("findings", "list", "--wide", cwd=hub, columns=80).stdout.splitlines()
    assert [l.split()[0] for l in lines] == [f["Id"] for f in listed]


def test_one_tool_name_from_run_to_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "vulndb.sqlite"
    monkeypatch.setenv("SECPIPE_VULNDB", str(db))
    VulnDB(db).import_records([("test", rec, None) for rec in RECORDS], label="test")
    root = _project(tmp_path / "flaskapp")
    run_pipeline(RunRequest(root=root, stages=("sbom", "sca")))  # recorded in PATH/.secpipe
    done = secpipe("findings", "list", "--tool", "osv-match", "--json", "--hub",
                   str(root / ".secpipe" / "hub.db"), cwd=tmp_path)
    found = json.loads(done.stdout)
    assert len(found) == len(RECORDS)
    assert {f["ProductFields"]["secpipe/Tool"] for f in found} == {"osv-match"}
