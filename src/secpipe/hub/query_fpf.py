"""Index paths for FindingProviderFields* and ResourceDetailsOther (`hub.query_json` calls in).

FindingProviderFields* with a twin (`filterspec.TWINS`). Import copies Severity, Types and
RelatedFindings into FindingProviderFields, so in nearly every finding these keys hold the
very values of a top-level key that has an index of its own (the twin: `severity_rank`,
`finding_types`, the RelatedFindings* value rows). `filtermatch.indexed_values` writes their
value rows (finding_map kind "X") only for a finding where they differ from the twin, with a
marker row (kind "D", key = the FPF key). A positive comparison is then one index term:

    pk IN (SELECT finding_pk FROM finding_map WHERE kind 'X', key K, v in the ranges
           UNION SELECT <findings whose twin matches> WHERE NOT EXISTS <marker of K>)

exact under the same rules as any value term (`query_json.value_term`): the labels a
comparison accepts are worked out in Python (there are five), Types are whole values,
RelatedFindings rows are cut at 256 characters like every value row. Negative comparisons
still read the document.

Why not index them all: per finding of bench/hub_store.py (secpipe's pipeline output) that
is about 3 more rows (label, original, 1.1 types) on top of ~11 side rows, each two B-tree
inserts (the primary key and ix_finding_map_kv), on every import, for filters that almost
never select anything the twin would not. With twins, a finding as imported writes none of
them (a finding without Severity.Original writes one marker). FindingProviderFieldsConfidence
/ Criticality have no indexed twin (the top-level columns carry no index) and are plain value
rows: 0.76 rows per finding there.

Measured at 10k findings of bench/hub_store.py, store import CPU of `bulk_import` (SQLite; the
wall clock is noise on this shared machine, load average 10-17), runs alternated:
- before this change: 2.47, 2.39, 2.23 s (finding_map: 8.9 rows per finding);
- every new row written (Confidence rows 0.76, Details.Other rows 1.43 per finding: 11.0),
  with the trie walk of `filtermatch.indexed_values`: 2.35, 2.41, 3.01 s, i.e. the same
  median (2.4 s): the walk got 10 us per finding faster than before, which pays for the rows;
- the same rows walked key by key as before (the first version): 3.22, 3.14 s against
  2.38, 2.34 s in the same bench/hub_store.py runs (+35%).
Indexing the twins' values as well would add ~3 rows per finding to those 11.

ResourceDetailsOther (a Map): one row per entry (kind "O", key = the entry's key, v = its
value cut at 256, `full` = the whole value when longer), answered as ProductFields are
(`hub.query`'s map rows). A filter naming a key longer than the key column, or a value of
256 characters or more, keeps the document path (two long values sharing their first 256
characters under one key share a row).
"""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import and_, exists, false, or_, select, union_all
from sqlalchemy.sql import ColumnElement

from secpipe.hub import filtermatch as fm
from secpipe.hub import filterspec as fs
from secpipe.hub.query_terms import _map_match, _match, noindex
from secpipe.hub.schema import MAP_VALUE_INDEXED
from secpipe.hub.schema import finding_map as M
from secpipe.hub.schema import finding_types as T
from secpipe.hub.schema import findings as F
from secpipe.hub.validate import LABEL_RANK

RowCond = Callable[[Any], ColumnElement]


def _marker(key: str, pk: Any) -> ColumnElement:
    d = M.alias()
    return exists().where(d.c.finding_pk == pk, d.c.kind == fs.DIVERGENT_KIND,
                          d.c.key == key, d.c.v == "")


def _rows(key: str, ranges: list[RowCond]) -> RowCond:
    return lambda m: and_(m.c.kind == fs.VALUE_KIND, m.c.key == key,
                          or_(*(r(m) for r in ranges)))


def _twin(p: fs.Parsed, ranges: list[RowCond], ctx: Any) -> tuple[Any, ColumnElement, bool]:
    """(SELECT of the findings whose twin matches and that carry no marker, the same as a
    condition on the finding at hand, exact?)"""
    twin = fs.TWINS[p.key]
    if twin == "SeverityLabel":
        ranks = sorted(LABEL_RANK[label] for label in LABEL_RANK
                       if any(fm.string_match(label, c, v) for c, v in p.positive))
        f2 = F.alias()
        sel = select(f2.c.pk).where(f2.c.severity_rank.in_(ranks) if ranks else false(),
                                    ~_marker(p.key, f2.c.pk))
        here = noindex(F.c.severity_rank).in_(ranks) if ranks else false()
        return sel, here, True
    if twin == "Type":
        def hit(t: Any) -> ColumnElement:
            return or_(*(_match(t.c.type, c, v, ctx) for c, v in p.positive))
        t2 = T.alias()
        sel = select(t2.c.finding_pk).where(hit(t2), ~_marker(p.key, t2.c.finding_pk))
        return sel, ctx.probe(T, hit), True
    cond = _rows(twin, ranges)          # RelatedFindings*: the twin's own value rows
    m2 = M.alias()
    sel = select(m2.c.finding_pk).where(cond(m2), ~_marker(p.key, m2.c.finding_pk))
    return sel, ctx.probe(M, cond), True


def twin_term(p: fs.Parsed, ctx: Any, ranges: list[RowCond], exact: bool
              ) -> tuple[ColumnElement, bool]:
    """`query_json.value_term` for a key of `fs.TWINS` (see the module docstring)."""
    own = _rows(p.key, ranges)
    m = M.alias()
    twin_sel, twin_here, twin_exact = _twin(p, ranges, ctx)
    # disjoint: rows exist only for a divergent finding, the twin part excludes those
    sub = union_all(select(m.c.finding_pk).where(own(m)), twin_sel)
    return ctx.term(lambda: F.c.pk.in_(sub),
                    lambda: or_(ctx.probe(M, own), and_(twin_here, ~_marker(p.key, F.c.pk))),
                    lambda: sub), exact and twin_exact


def other_condition(p: fs.Parsed, ctx: Any) -> ColumnElement | None:
    """ResourceDetailsOther from its rows; None: the document path (see the docstring)."""

    if any(len(k) > fs.OTHER_KEY_MAX or len(v) >= MAP_VALUE_INDEXED for k, _, v in p.items):
        return None

    def entry(m: Any, k: str, c: str, v: str) -> ColumnElement:
        return and_(m.c.kind == fs.OTHER_KIND, m.c.key == k, _map_match(m, c, v, ctx.contains))

    parts = []
    pos = p.positive
    if pos:
        parts.append(ctx.present(M, lambda m: or_(*(entry(m, *e) for e in pos)),
                                 estimable=all(c == "EQUALS" for _, c, _ in pos)))
    for k, c, v in p.negative:
        parts.append(ctx.absent(M, lambda m, k=k, c=c, v=v: entry(m, k, c, v)))
    return and_(*parts)
