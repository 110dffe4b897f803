"""What recording import changes in the history costs: re-imports of N findings into a
SQLite hub, with the history's `import_changes` as shipped and with it switched off.

    PYTHONPATH=src python bench/hub_history_events.py [N]

Three re-imports each: a run's ordinary re-import (new UpdatedAt, RunId and Commit: no event),
and one that changes every finding's Title (one event row per finding). Prints seconds and
the finding_events rows written; compare the columns, never assert on them.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from secpipe.hub import history
from secpipe.hub.schema import finding_events
from secpipe.hub.store import open_store
from secpipe.model import Finding, Location, Severity, SourceContext, to_asff


def population(n: int, run: str, stamp: str, title: str = "") -> list[dict]:
    ctx = SourceContext(repo="bench", branch="main", commit=run * 4, run_id=run, stage="sast",
                        tool_version="1")
    out = []
    for i in range(n):
        f = Finding(tool="bandit", rule_id="B101", title=f"{title}finding {i}",
                    severity=Severity.MEDIUM, location=Location(f"src/m{i}.py", 1),
                    location_key=f"k{i}")
        out.append(to_asff(f, ctx, updated_at=stamp))
    return out


def events(store) -> int:
    with store._read() as conn:
        return conn.execute(select(func.count()).select_from(finding_events)).scalar_one()


def run(n: int, record: bool) -> tuple[float, float, int]:
    original = history.import_changes
    if not record:
        history.import_changes = lambda old, new, skip=frozenset(): {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(Path(tmp) / "hub.db")
            store.bulk_import(population(n, "run1", "2026-01-01T00:00:00.000Z"))
            t0 = time.perf_counter()
            store.bulk_import(population(n, "run2", "2026-01-02T00:00:00.000Z"))
            ordinary = time.perf_counter() - t0
            t0 = time.perf_counter()
            store.bulk_import(population(n, "run3", "2026-01-03T00:00:00.000Z", "renamed "))
            renamed = time.perf_counter() - t0
            rows = events(store)
            store.close()
            return ordinary, renamed, rows
    finally:
        history.import_changes = original


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    print(f"{n} findings, SQLite; seconds per re-import")
    print(f"{'history':>10} {'ordinary':>10} {'renamed':>10} {'events':>8}")
    for record in (False, True):
        ordinary, renamed, rows = run(n, record)
        print(f"{'on' if record else 'off':>10} {ordinary:10.2f} {renamed:10.2f} {rows:8d}")


if __name__ == "__main__":
    main()
