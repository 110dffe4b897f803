"""CONTAINS / CONTAINS_WORD on nested keys, answered from their value rows (finding_map "X").

A nested key's values are also rows of `finding_map` (kind "X", key = the filter key, v = the
value cut to MAP_VALUE_INDEXED characters; `full` is never written for these rows, see
`filtermatch.indexed_values`). A positive CONTAINS used to read every document (json_each /
jsonb_path_query); the index `ix_finding_map_kv (kind, key, v)` holds that key's rows in one
range, short strings instead of whole documents, so the substring test runs there instead,
with the very expressions the document path uses (`instr` / `strpos`, case-sensitive;
CONTAINS_WORD: the registered `secpipe_word` on SQLite, `~*` with `word_pattern` on
PostgreSQL), so both paths agree exactly.

What a row can decide (`decisive`): a CONTAINS hit in the cut value is a hit in the whole
value; a CONTAINS_WORD hit is one only when the row holds the whole value (shorter than the
cut), since a word ending at the cut may go on in the document. A row at the cut length
(`candidate` only) may hide a hit past the cut: for those findings the document decides.
So a key's condition is "some row decides, or some row is cut and the document matches", and
the document is read only for findings with a value of 256 characters or more at that key.
An empty CONTAINS value matches every string value: the document path stays (a scan either way).
"""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import and_, func, or_, true
from sqlalchemy.sql import ColumnElement

from secpipe.hub import filterspec as fs
from secpipe.hub.common import prefix_upper
from secpipe.hub.schema import MAP_VALUE_INDEXED
from secpipe.hub.schema import finding_map as M

RowCond = Callable[[Any], ColumnElement]
SUBSTRING = ("CONTAINS", "CONTAINS_WORD")


def applies(pos: list[tuple[str, str]]) -> bool:
    """The positive comparisons can be answered from the rows: substring tests, alone or
    beside EQUALS / PREFIX (which `value_term` already ranges), none with an empty value."""
    return any(c in SUBSTRING for c, _ in pos) and all(
        c in ("EQUALS", "PREFIX", *SUBSTRING) and v for c, v in pos)


# characters a PostgreSQL ARE treats specially, escaped in a CONTAINS_WORD value
_PUNCT = set("\\^$.|?*+()[]{}-/#&~!@%=<>:;,'\"`")


def word_pattern(word: str) -> str:
    """CONTAINS_WORD as a PostgreSQL ARE (for `~*`): `filtermatch.word_pattern`'s bounds."""
    escaped = "".join("\\" + c if c in _PUNCT else c for c in word)
    return f"(^|[^A-Za-z0-9_]){escaped}([^A-Za-z0-9_]|$)"


def contains_word(col: Any, word: str, dialect: str) -> ColumnElement:
    """CONTAINS_WORD on any text column: here rather than in `query_json` so that both the
    document path and the value rows use it without an import circle."""
    if dialect == "sqlite":
        return func.secpipe_word(col, word) == 1
    return col.op("~*")(word_pattern(word))


def hit(m: Any, comp: str, value: str, dialect: str) -> ColumnElement:
    """The document path's test (`query_json._string`), on a row's value.

    On PostgreSQL a CONTAINS is spelled `LIKE '%value%'` (SQLAlchemy's `contains`, escaped),
    which means the same as `strpos(v, value) > 0` but which the planner can estimate from
    the column's statistics: `strpos` always got a third of the key's rows, so at 1M findings a rare CONTAINS was
    planned as a sorted scan of every finding (7.7 s) instead of the value rows (32 ms)."""
    if comp == "CONTAINS_WORD":
        return contains_word(m.c.v, value, dialect)
    if dialect == "sqlite":
        return func.instr(m.c.v, value) > 0
    return m.c.v.contains(value, autoescape=True)


def cut(m: Any) -> ColumnElement:
    """A row that may hold only the first MAP_VALUE_INDEXED characters of its value."""
    return func.length(m.c.v) >= MAP_VALUE_INDEXED


def candidate(comp: str, value: str, dialect: str) -> RowCond:
    """Rows of a finding that may match (a superset: the planner's term)."""
    return lambda m: or_(hit(m, comp, value, dialect), cut(m))


def decisive(comp: str, value: str, dialect: str) -> RowCond:
    """Rows that prove a match on their own."""
    if comp == "CONTAINS_WORD":
        return lambda m: and_(hit(m, comp, value, dialect), ~cut(m))
    return lambda m: hit(m, comp, value, dialect)


def has_cut(p: fs.Parsed, ctx: Any) -> ColumnElement:
    """This finding has a row of the key cut at MAP_VALUE_INDEXED characters: only then can
    the document know more than the rows (a guard before any document is read)."""
    return ctx.probe(M, lambda m: and_(m.c.kind == fs.VALUE_KIND, m.c.key == p.key, cut(m)))


def decided(p: fs.Parsed, ctx: Any) -> ColumnElement:
    """This finding has a value row that proves a positive comparison on its own (the
    substring tests above, EQUALS / PREFIX where `value_term` calls them exact):
    the document then needs no reading."""
    conds: list[Callable[[Any], ColumnElement]] = []
    for comp, value in p.positive:
        if comp in SUBSTRING:
            conds.append(decisive(comp, value, ctx.dialect))
        elif comp == "EQUALS" and len(value) < MAP_VALUE_INDEXED:
            conds.append(lambda m, v=value: m.c.v == v)
        elif comp == "PREFIX" and len(value) <= MAP_VALUE_INDEXED:
            upper = prefix_upper(value)
            conds.append(lambda m, v=value, u=upper: and_(
                m.c.v >= v, true() if u is None else m.c.v < u))
    return ctx.probe(M, lambda m: and_(m.c.kind == fs.VALUE_KIND, m.c.key == p.key,
                                      or_(*(c(m) for c in conds))))
