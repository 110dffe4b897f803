"""A run's recording opens the hub without its query modules.

`secpipe run` opens the local hub on every run, reads baselines and suppressions, and records
the run; GetFindings' query modules (pages, query, query_json, ...), insights and the legacy
update are imported only by the methods that answer with them (~20 ms of every run's CPU).
The time is measured by bench/startup.py, not asserted; asserted are the mechanism and that
the SQLite functions those queries call are still registered on every connection.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from secpipe.hub import filtermatch as fm
from secpipe.hub.store import open_store
from tests.conftest import ROOT

QUERY_MODULES = ["secpipe.hub.findings_v2", "secpipe.hub.insights", "secpipe.hub.legacy_update",
                 "secpipe.hub.pages", "secpipe.hub.query", "secpipe.hub.query_json"]

PROBE = f"""
import sys
from secpipe.hub.interface import RunRecord
from secpipe.hub import filtermatch as fm
from secpipe.hub.store import open_store
from tests.hub.builders import example_run

T = "2024-06-01T10:00:00.000Z"
store = open_store(sys.argv[1])
store.baseline_ids("example/web", "main")
store.hub_suppressions("example/web")
store.record_run(RunRecord(run_id="r1", repo="example/web", branch="main", commit="c",
                           started_at=T, finished_at=T, status="passed", exit_code=0,
                           summary={{}}, scope=[("lint", "hadolint")]),
                 example_run(T, "r1"))
print(sorted(m for m in {QUERY_MODULES!r} if m in sys.modules))
"""


def test_a_run_is_recorded_without_the_query_modules(tmp_path: Path) -> None:
    open_store(str(tmp_path / "hub.db")).engine.dispose()    # created (and migrated) here
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "hub.db")],
                         capture_output=True, text=True, cwd=ROOT, check=True,
                         env={"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "PATH": "/usr/bin:/bin",
                              "HOME": str(tmp_path)})
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_the_filter_functions_are_registered_on_each_connection(tmp_path: Path) -> None:
    """CONTAINS_WORD, dates and CIDRs in SQLite call Python functions that `open_store`
    registers (filtermatch.register_sqlite), whether or not a query module was imported."""
    store = open_store(str(tmp_path / "hub.db"))
    try:
        with store.engine.connect() as conn:
            got = conn.exec_driver_sql(
                "SELECT secpipe_word('a lonely word', 'word'), secpipe_word('swordfish', 'word'),"
                " secpipe_ts('2024-06-01T10:00:00Z'), secpipe_ts('no date'),"
                " secpipe_in_cidr('10.1.2.3', '10.0.0.0/8'), secpipe_in_cidr('11.1.2.3', "
                "'10.0.0.0/8')").one()
    finally:
        store.engine.dispose()
    assert tuple(got) == (1, 0, fm.instant("2024-06-01T10:00:00Z"), None, 1, 0)
    assert got[2] is not None
