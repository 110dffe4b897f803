"""An existing SQLite hub opens and answers without importing SQLAlchemy's PostgreSQL dialect (its
package pulls in the asyncpg and psycopg dialect modules: ~35 ms of every run's hub opening, for
nothing). Creating a hub by migration may (alembic loads every dialect's DDL support)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PROBE = """
import sys
from secpipe.hub.store import open_store
store = open_store(sys.argv[1])
store.get_findings({"ProductFields": [{"Key": "secpipe/Tool", "Value": "x",
                                      "Comparison": "EQUALS"}],
                    "Title": [{"Value": "t", "Comparison": "CONTAINS"}]})
loaded = sorted(m for m in sys.modules if m.startswith("sqlalchemy.dialects.postgresql"))
print(loaded)
raise SystemExit(1 if loaded else 0)
"""


def test_a_sqlite_hub_opens_and_queries_without_the_postgresql_dialect(tmp_path: Path) -> None:
    from secpipe.hub.store import open_store

    open_store(str(tmp_path / "hub.db")).engine.dispose()    # created (and migrated) here
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "hub.db")],
                         capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin",
                              "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_postgresql_index_options_are_still_there() -> None:
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex

    from secpipe.hub.schema import metadata

    ddl = {ix.name: str(CreateIndex(ix).compile(dialect=postgresql.dialect()))
           for table in metadata.tables.values() for ix in table.indexes}
    assert ddl["ix_findings_doc_gin"].endswith(
        "USING gin (CAST(doc AS JSONB) jsonb_path_ops)")
    assert ddl["ix_finding_map_kv"].endswith("(kind, key, v) INCLUDE (finding_pk)")
    assert "INCLUDE (severity_rank, workflow_status" in ddl["ix_findings_narrow"]
