"""CONTAINS / CONTAINS_WORD on nested keys are answered from their value rows (finding_map
kind "X", `hub.query_contains`), reading a document only for a value cut at 256 characters;
on SQLite and PostgreSQL, with every plan spelling."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from secpipe.hub.schema import findings as F
from tests.hub.builders import finding

CUT_WORD = "b" * 251 + " word"          # exactly the 256 characters the row keeps
LONG = {
    "past": "a" * 300 + " needle tail",            # the match lies past the cut
    "edge": CUT_WORD + "suffix end",               # "word" is whole in the row, not in the doc
    "short": "xmrig-hidden",
    "empty": "",                                   # no row: an empty CONTAINS reads documents
}


def c(value: str, comparison: str = "CONTAINS") -> dict:
    return {"Value": value, "Comparison": comparison}


@pytest.fixture(params=["sorted-scan", "small"])
def hub(store, request, monkeypatch):
    from secpipe.hub import pages

    docs = [finding(fid, Process={"Name": name}) for fid, name in LONG.items()]
    docs.append(finding("none"))
    assert store.batch_import(docs).success_count == len(docs)
    if request.param == "sorted-scan":          # the store counts as large: the planner counts
        monkeypatch.setattr(pages, "COUNT_CAP", 1)   # terms and spells them for SQLite
    return store


def ids(store, filters) -> list[str]:
    out = []
    for sort in (None, [{"Field": "Title", "SortOrder": "asc"}]):
        out.append(sorted(d["Id"] for d in store.get_findings(filters, sort=sort)[0]))
    assert out[0] == out[1]
    return out[0]


@pytest.mark.parametrize("filters, expected", [
    ({"ProcessName": [c("rig-hid")]}, ["short"]),
    ({"ProcessName": [c("needle")]}, ["past"]),                  # past the cut: the document
    ({"ProcessName": [c("wordsuf")]}, ["edge"]),                 # across the cut
    ({"ProcessName": [c("word")]}, ["edge"]),                    # within the row
    ({"ProcessName": [c("WORD")]}, []),                          # CONTAINS is case-sensitive
    ({"ProcessName": [c("word", "CONTAINS_WORD")]}, []),         # the row's word goes on
    ({"ProcessName": [c("END", "CONTAINS_WORD")]}, ["edge"]),    # past the cut, any case
    ({"ProcessName": [c("TAIL", "CONTAINS_WORD")]}, ["past"]),
    ({"ProcessName": [c("XMRIG", "CONTAINS_WORD")]}, ["short"]),
    ({"ProcessName": [c("rig", "CONTAINS_WORD")]}, []),
    ({"ProcessName": [c("")]}, ["edge", "empty", "past", "short"]),
    ({"ProcessName": [c("needle"), c("rig-")]}, ["past", "short"]),
    ({"ProcessName": [c("tail", "CONTAINS_WORD"), c("xmrig-hidden", "EQUALS")]},
     ["past", "short"]),
    ({"ProcessName": [c("hidden", "CONTAINS_WORD"), c("b", "PREFIX")]}, ["edge", "short"]),
    ({"ProcessName": [c("end", "CONTAINS_WORD"), c("tail", "CONTAINS_WORD"),
                      c(LONG["past"], "NOT_EQUALS")]}, ["edge"]),
])
def test_substring_filters_on_nested_keys(hub, filters, expected):
    assert ids(hub, filters) == expected


def test_a_short_value_is_answered_without_its_document(hub):
    """The stored document is rewritten behind the hub's back (the rows keep the imported
    name): a CONTAINS that only the rows can see still finds the finding, so no document was
    needed. The document path would answer from the rewritten name instead."""
    doc = finding("short", Process={"Name": "sshd"})
    with hub.engine.begin() as conn:
        row = conn.execute(F.select().where(F.c.id == "short")).one()
        stored = json.loads(row.doc)
        stored["Process"] = doc["Process"]
        conn.execute(update(F).where(F.c.pk == row.pk).values(
            doc=json.dumps(stored, separators=(",", ":"), ensure_ascii=False)))
    assert ids(hub, {"ProcessName": [c("rig-hid")]}) == ["short"]
    assert ids(hub, {"ProcessName": [c("xmrig", "CONTAINS_WORD")]}) == ["short"]
    assert ids(hub, {"ProcessName": [c("ssh")]}) == []


def test_the_rows_scanned_are_one_index_range(store):
    """The value rows' subquery is a range of ix_finding_map_kv (kind, key): only that key's
    rows are read, never the documents (SQLite's plan; PostgreSQL plans on its statistics)."""
    from sqlalchemy import select

    from secpipe.hub.query import Ctx, where_clause

    if store.dialect != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    ctx = Ctx("sqlite")
    where = where_clause({"ProcessName": [c("rig-hid")]}, "sqlite", ctx=ctx)
    assert len(ctx.terms) == 1 and ctx.terms[0].counter is not None
    with store.engine.connect() as conn:
        term_sql = select(F.c.pk).where(where)
        plan = " | ".join(r[-1] for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(term_sql.compile(
                conn, compile_kwargs={"literal_binds": True}))))
    assert "ix_finding_map_kv (kind=? AND key=?)" in plan, plan


# --- FindingProviderFields*, ResourceDetailsOther, empty strings (hub.query_fpf) -------------

from tests.hub.builders import ARN, key  # noqa: E402

TYPE = "Software and Configuration Checks/Vulnerabilities/CVE"     # builders.finding's type
DIVERGED = {"Severity": {"Label": "LOW", "Original": "7.5"}, "Types": ["Effects/Data Exposure"],
            "Confidence": 42, "RelatedFindings": [{"ProductArn": ARN, "Id": "rel-1"}]}


def s(value: str, comparison: str = "EQUALS") -> dict:
    return {"Value": value, "Comparison": comparison}


def m(k: str, value: str, comparison: str = "EQUALS") -> dict:
    return {"Key": k, "Value": value, "Comparison": comparison}


@pytest.fixture
def fpf(store):
    docs = [
        finding("same", Severity={"Label": "HIGH", "Original": "HIGH"}),   # FPF filled in
        finding("diverged", FindingProviderFields=DIVERGED,
                RelatedFindings=[{"ProductArn": ARN, "Id": "rel-top"}]),
        finding("other", Resources=[{"Type": "Other", "Id": "r", "Details": {"Other": {
            "path": "helm/deploy.yaml", "empty": "", "long": "z" * 300 + "tail"}}}],
            Process={"Name": ""}),
    ]
    assert store.batch_import(docs).success_count == 3
    return store


FPF_CASES = [
    ({"FindingProviderFieldsSeverityLabel": [s("HIGH")]}, ["other", "same"]),
    ({"FindingProviderFieldsSeverityLabel": [s("LOW")]}, ["diverged"]),
    ({"FindingProviderFieldsSeverityLabel": [s("LO", "PREFIX")]}, ["diverged"]),
    ({"FindingProviderFieldsSeverityOriginal": [s("HIGH")]}, ["same"]),
    ({"FindingProviderFieldsSeverityOriginal": [s("7.5")]}, ["diverged"]),
    ({"FindingProviderFieldsTypes": [s(TYPE)]}, ["other", "same"]),
    ({"FindingProviderFieldsTypes": [s("Effects/", "PREFIX")]}, ["diverged"]),
    ({"FindingProviderFieldsConfidence": [{"Eq": 42}]}, ["diverged"]),
    ({"FindingProviderFieldsRelatedFindingsId": [s("rel-1")]}, ["diverged"]),
    ({"FindingProviderFieldsRelatedFindingsId": [s("rel-top")]}, []),
    ({"FindingProviderFieldsRelatedFindingsProductArn": [s(ARN)]}, ["diverged"]),
    ({"ResourceDetailsOther": [m("path", "helm/deploy.yaml")]}, ["other"]),
    ({"ResourceDetailsOther": [m("path", "deploy", "CONTAINS")]}, ["other"]),
    ({"ResourceDetailsOther": [m("long", "tail", "CONTAINS")]}, ["other"]),   # past the cut
    ({"ResourceDetailsOther": [m("empty", "")]}, ["other"]),
    ({"ResourceDetailsOther": [m("path", "helm/deploy.yaml", "NOT_EQUALS")]},
     ["diverged", "same"]),
    ({"ProcessName": [s("")]}, ["other"]),                 # EQUALS "" matches an empty value
]


@pytest.mark.parametrize("filters, expected", FPF_CASES)
def test_fpf_other_and_empty_values(fpf, filters, expected):
    from secpipe.hub import filtermatch

    assert ids(fpf, filters) == expected
    docs = fpf.get_findings(None, max_results=100)[0]
    assert sorted(d["Id"] for d in docs if filtermatch.matches(filters, d)) == expected


def test_fpf_rows_answer_without_the_documents(fpf):
    """The stored FindingProviderFields / Details.Other are removed behind the hub's back:
    the positive filters still answer as before, from the rows (and the twins) alone."""
    with fpf.engine.begin() as conn:
        for row in conn.execute(F.select()).all():
            stored = json.loads(row.doc)
            stored.pop("FindingProviderFields", None)
            for r in stored["Resources"]:
                r.pop("Details", None)
            conn.execute(update(F).where(F.c.pk == row.pk).values(
                doc=json.dumps(stored, separators=(",", ":"), ensure_ascii=False)))
    for filters, expected in FPF_CASES:
        if "NOT_" not in json.dumps(filters):
            assert ids(fpf, filters) == expected, filters


def test_fpf_follows_batch_update(fpf):
    """BatchUpdateFindings changes the top-level severity and types, not the provider's:
    the finding becomes divergent and its FPF rows say what the provider said."""
    doc = finding("same")
    result = fpf.batch_update([key(doc)], {"Severity": {"Label": "CRITICAL"},
                                           "Types": ["Effects/Denial of Service"]})
    assert not result.unprocessed
    assert ids(fpf, {"FindingProviderFieldsSeverityLabel": [s("HIGH")]}) == ["other", "same"]
    assert ids(fpf, {"FindingProviderFieldsSeverityLabel": [s("CRITICAL")]}) == []
    assert ids(fpf, {"SeverityLabel": [s("CRITICAL")]}) == ["same"]
    assert ids(fpf, {"FindingProviderFieldsTypes": [s(TYPE)]}) == ["other", "same"]
    assert ids(fpf, {"FindingProviderFieldsTypes": [s("Effects/", "PREFIX")]}) == ["diverged"]


def _plan(store, filters) -> str:
    from sqlalchemy import select

    from secpipe.hub.query import where_clause

    where = where_clause(filters, "sqlite")
    with store.engine.connect() as conn:
        sql = select(F.c.pk).where(where).compile(conn, compile_kwargs={"literal_binds": True})
        return " | ".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(sql)))


def test_fpf_and_other_plans_are_index_ranges(store):
    """SQLite's plan: the FPF rows and the marker are ranges of finding_map's indexes, the twin
    the severity_rank index; the Map rows one (kind, key, v) range; no document is scanned."""
    if store.dialect != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    plan = _plan(store, {"FindingProviderFieldsSeverityOriginal": [s("7.5")]})
    assert "ix_finding_map_kv (kind=? AND key=? AND v=?)" in plan, plan
    assert "severity_rank" in plan and "json_" not in plan, plan
    plan = _plan(store, {"FindingProviderFieldsTypes": [s(TYPE)]})
    assert "ix_finding_types_type (type=?)" in plan, plan
    plan = _plan(store, {"ResourceDetailsOther": [m("path", "helm/deploy.yaml")]})
    assert "ix_finding_map_kv (kind=? AND key=? AND v=?)" in plan and "json_" not in plan, plan


def test_migration_0011_backfills_and_reruns_as_a_no_op(fpf):
    """0011 brings stored findings to the rows the code writes; a second run changes
    nothing (SQLite and PostgreSQL)."""
    import importlib

    from sqlalchemy import text

    backfill = importlib.import_module(
        "secpipe.hub.migrations.versions.0011_fpf_rows")._backfill
    q = "SELECT finding_pk, kind, key, v, full FROM finding_map ORDER BY 1, 2, 3, 4"
    with fpf.engine.begin() as conn:
        rows = conn.execute(text(q)).all()
        assert {r[1] for r in rows} >= {"D", "O", "X"}
        conn.execute(text("DELETE FROM finding_map WHERE kind IN ('D', 'O') "
                          "OR key LIKE 'FindingProviderFields%' OR v = ''"))
        conn.execute(text("INSERT INTO finding_map (finding_pk, kind, key, v) "
                          "VALUES (1, 'D', 'FindingProviderFieldsTypes', '')"))   # stale
    assert ids(fpf, {"FindingProviderFieldsSeverityLabel": [s("LOW")]}) == []
    with fpf.engine.begin() as conn:
        deleted, inserted = backfill(conn)
        assert deleted == 1 and inserted > 0
        assert conn.execute(text(q)).all() == rows
    with fpf.engine.begin() as conn:
        assert backfill(conn) == (0, 0)
    assert ids(fpf, {"FindingProviderFieldsSeverityLabel": [s("LOW")]}) == ["diverged"]
