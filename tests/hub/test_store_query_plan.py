"""GetFindings pages of bench/hub_store.py's query mix read indexes, never the whole table.

The mix (three filters each, sorted by UpdatedAt or SeverityLabel) must stay fast at 1M
findings (issue 15: p95 <= 50 ms); timings are the benchmark's business, so these tests check
the plans instead, on both databases: no full scan of `findings` (SQLite: no bare "SCAN
findings"; PostgreSQL, with sequential scans priced out as a small table would otherwise
rightly get one: no "Seq Scan on findings"), the sort key's covering index serving the sorted
scans (schema.COVERED), and every plan answering what the unplanned query answers.
"""

from __future__ import annotations

import pytest

from secpipe.hub import pages, partitions
from tests.hub.builders import every_page_ids, finding

TOOLS = ["checkov", "trivy", "semgrep", "zap"]
LABELS = ["LOW", "MEDIUM", "HIGH", "CRITICAL", "INFORMATIONAL"]
RESOURCES = {"trivy": "Container", "checkov": "KubernetesDeployment", "zap": "Url",
             "semgrep": "Other"}


def _hub_docs(n: int = 400) -> list[dict]:
    docs = []
    for i in range(n):
        tool = TOOLS[i % len(TOOLS)]
        rtype = RESOURCES[tool]
        rid = f"registry.local/app{i % 7}:1.{i % 3}" if tool == "trivy" else f"{tool}/r{i}"
        docs.append(finding(
            f"f-{i}", GeneratorId=f"{tool}/{tool.upper()}-{i % 11:04d}",
            Title=f"{['root', 'key', 'token'][i % 3]} issue {i}",
            Severity={"Label": LABELS[i % 5]},
            Types=["Software and Configuration Checks/Vulnerabilities/CVE" if tool == "trivy"
                   else "Software and Configuration Checks/Industry and Regulatory Standards"],
            Resources=[{"Type": rtype, "Id": rid}],
            ProductFields={"secpipe/Tool": tool},
            UpdatedAt=f"2024-{1 + i % 6:02d}-{1 + i % 28:02d}T00:00:00.000Z"))
    return docs


def eq(value: str, comparison: str = "EQUALS") -> dict:
    return {"Value": value, "Comparison": comparison}


MIX = [
    {"SeverityLabel": [eq("HIGH")], "WorkflowStatus": [eq("NEW")],
     "ProductFields": [{"Key": "secpipe/Tool", "Value": "trivy", "Comparison": "EQUALS"}]},
    {"RecordState": [eq("ACTIVE")], "ResourceType": [eq("Container")],
     "SeverityNormalized": [{"Gte": 70}]},
    {"GeneratorId": [eq("checkov/", "PREFIX")],
     "UpdatedAt": [{"Start": "2024-03-01T00:00:00Z", "End": "2024-06-30T00:00:00Z"}],
     "Title": [eq("key", "CONTAINS")]},
    {"Type": [eq("Software and Configuration Checks/Vulnerabilities/CVE")],
     "SeverityLabel": [eq("CRITICAL")], "ResourceId": [eq("registry.local/app3:1.", "PREFIX")]},
]
SORTS = [None, [{"Field": "SeverityLabel", "SortOrder": "desc"}]]


@pytest.fixture
def big(store, monkeypatch):
    """A hub the planner treats as large (its count cap lowered to fit the test's size)."""
    store.bulk_import(_hub_docs())
    monkeypatch.setattr(pages, "COUNT_CAP", 20)
    return store


def _plan(store, filters, sort) -> str:
    scope = partitions.visible(partitions.of(store, None), None)
    with store._read() as conn:
        q, _ = pages.page_query(conn, filters, sort, 100, None, None, scope)
        sql = str(q.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        if store.dialect == "sqlite":
            return "\n".join(r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))


@pytest.mark.parametrize("sort", SORTS, ids=["updated", "severity"])
@pytest.mark.parametrize("filters", MIX, ids=["pf", "resource", "generator", "type"])
def test_the_mix_never_scans_the_whole_table(big, filters, sort):
    plan = _plan(big, filters, sort)
    if big.dialect == "sqlite":
        assert not [line for line in plan.splitlines()
                    if line.strip() in ("SCAN findings", "SCAN findings_1")], plan
    else:
        assert "Seq Scan on findings" not in plan, plan


@pytest.mark.parametrize("sort", SORTS, ids=["updated", "severity"])
def test_a_sorted_scan_checks_the_narrow_filters_in_the_covering_index(big, sort):
    # SeverityLabel + WorkflowStatus + ProductFields: common values, so the page scans the
    # sort key's index in order; the covering index answers every findings column it tests
    if big.dialect != "sqlite":
        pytest.skip("SQLite's EXPLAIN QUERY PLAN names the covering index; PostgreSQL "
                    "plans from its statistics")
    plan = _plan(big, {"WorkflowStatus": [eq("NEW")], "RecordState": [eq("ACTIVE")]}, sort)
    name = "updated_at" if sort is None else "severity_rank"
    assert f"COVERING INDEX ix_findings_{name}_cover" in plan, plan


@pytest.mark.parametrize("sort", SORTS, ids=["updated", "severity"])
def test_candidates_from_a_side_table_are_checked_in_the_severity_index(big, sort):
    # Type + CRITICAL + ResourceId PREFIX drives from the few resources; each candidate's
    # severity, sort key and partition come from the (severity_rank, pk) covering index,
    # not from its table row (a cold random read each at 1M findings)
    if big.dialect != "sqlite":
        pytest.skip("INDEXED BY is SQLite's; PostgreSQL has ix_findings_narrow")
    plan = _plan(big, MIX[3], sort)
    assert "SEARCH finding_resources" in plan.split("ix_findings_severity_rank_cover")[-1], plan
    assert ("SEARCH findings USING COVERING INDEX ix_findings_severity_rank_cover "
            "(severity_rank=? AND pk=?)") in plan, plan
    # and their Type in that value's slice of its index, not by primary key all over the table
    assert "finding_types_1 USING COVERING INDEX ix_finding_types_type (type=? AND finding_pk=?)" \
        in plan, plan
    # without a SeverityLabel filter the candidates are read by rowid as before
    plan = _plan(big, {k: v for k, v in MIX[3].items() if k != "SeverityLabel"}, sort)
    assert "INTEGER PRIMARY KEY" in plan and "severity_rank_cover" not in plan, plan


# two Types: the probe of a driven page seeks both values in the Type index
TWO_TYPES = {**MIX[3], "Type": [eq("Software and Configuration Checks/Vulnerabilities/CVE"),
                                eq("Software and Configuration Checks/Industry and "
                                   "Regulatory Standards")]}


@pytest.mark.parametrize("filters", [*MIX, TWO_TYPES],
                         ids=["pf", "resource", "generator", "type", "two-types"])
def test_every_plan_of_the_mix_answers_what_the_plain_query_answers(store, monkeypatch,
                                                                    filters):
    store.bulk_import(_hub_docs())
    for sort in SORTS:
        monkeypatch.setattr(pages, "COUNT_CAP", 10**9)          # no planning: the database's
        expected = every_page_ids(store, filters, sort)
        assert expected
        for cap in (5, 20, 60):                                  # drive from a term, or scan
            monkeypatch.setattr(pages, "COUNT_CAP", cap)
            assert every_page_ids(store, filters, sort) == expected, (cap, sort)


def test_postgresql_vacuums_the_findings_tables_after_small_growth(store):
    # index-only scans need the visibility map that only VACUUM sets (migration 0012)
    if store.dialect != "postgresql":
        pytest.skip("autovacuum is PostgreSQL's")
    with store.engine.connect() as conn:
        options = dict(conn.exec_driver_sql(
            "SELECT relname, array_to_string(reloptions, ',') FROM pg_class WHERE relname IN "
            "('findings', 'finding_types', 'finding_resources', 'finding_map')").all())
    assert len(options) == 4
    assert all("autovacuum_vacuum_insert_scale_factor=0.02" in (o or "")
               for o in options.values()), options
