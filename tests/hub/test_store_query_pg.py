"""What a GetFindings page costs in round trips and how PostgreSQL is asked to plan it.

At 1M findings (bench/hub_store.py) a page's server time is a few ms to ~20 ms; on a loaded
machine each round trip waits for the server process to be scheduled, so a page runs as one
statement outside a transaction (no BEGIN, no COMMIT), and the hub's sessions price random
reads as cached ones (random_page_cost 1.1) so that a rare filter's candidates are probed by
index instead of scanning a common value's 100k index entries.
"""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.hub.builders import finding

CVE = "Software and Configuration Checks/Vulnerabilities/CVE"


def _docs(n: int = 30) -> list[dict]:
    return [finding(f"f-{i}", Severity={"Label": ["HIGH", "CRITICAL"][i % 2]},
                    Resources=[{"Type": "Container", "Id": f"registry.local/app{i % 3}:1.{i}"}])
            for i in range(n)]


def _watch(store) -> list[tuple[str, bool]]:
    """(statement, ran in autocommit?) of every statement the store's engine sends."""
    seen: list[tuple[str, bool]] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, conn.connection.dbapi_connection.autocommit))

    return seen


def test_a_page_on_postgresql_is_one_statement_without_a_transaction(store):
    if store.dialect != "postgresql":
        pytest.skip("SQLite plans a page with counting queries in one read transaction")
    store.bulk_import(_docs())
    filters = {"Type": [{"Value": CVE, "Comparison": "EQUALS"}],
               "SeverityLabel": [{"Value": "CRITICAL", "Comparison": "EQUALS"}],
               "ResourceId": [{"Value": "registry.local/app1:1.", "Comparison": "PREFIX"}]}
    seen = _watch(store)
    docs, token = store.get_findings(filters, max_results=2)
    assert [d["Id"] for d in docs] and token
    assert len(seen) == 1 and seen[0][1], seen
    seen.clear()
    more, _ = store.get_findings(filters, max_results=2, next_token=token)
    assert len(seen) == 1 and seen[0][1], seen
    everything, _ = store.get_findings(filters, max_results=100)
    assert [d["Id"] for d in docs + more] == [d["Id"] for d in everything][:len(docs + more)]
    # a write afterwards still runs in a transaction of its own
    seen.clear()
    store.bulk_import([finding("f-late")])
    assert seen and not any(autocommit for _, autocommit in seen), seen


def test_postgresql_sessions_price_random_reads_as_cached(store):
    if store.dialect != "postgresql":
        pytest.skip("a PostgreSQL planner setting")
    with store.engine.connect() as conn:
        settings = dict(conn.exec_driver_sql(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('random_page_cost', 'jit', 'max_parallel_workers_per_gather')").all())
    assert settings == {"random_page_cost": "1.1", "jit": "off",
                        "max_parallel_workers_per_gather": "0"}
