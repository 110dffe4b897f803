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
