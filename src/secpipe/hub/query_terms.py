"""The comparisons every part of the filter builder spells the same way (`hub.query` for
columns and side tables, `hub.query_fpf` for FindingProviderFields' twins): a module of their
own so that neither imports the other (`query` -> `query_json` -> `query_fpf`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, and_, func
from sqlalchemy.sql import ColumnElement

from secpipe.hub import query_contains
from secpipe.hub.common import prefix_upper
from secpipe.hub.schema import MAP_VALUE_INDEXED


def noindex(col: Any) -> ColumnElement:
    """`col` spelt so no index can serve it (`col || ''`, `col + 0`): SQLite's own idiom."""
    return col + ("" if isinstance(col.type, String) else 0)


def _match(col: Any, comp: str, value: str, ctx: Any) -> ColumnElement:
    """The positive form of a string comparison (NOT_* are negated by the caller)."""
    if comp.startswith("PREFIX"):
        upper = prefix_upper(value)
        return col >= value if upper is None else and_(col >= value, col < upper)
    if comp.endswith("EQUALS"):
        return col == value
    if comp == "CONTAINS_WORD":
        return query_contains.contains_word(col, value, ctx.dialect)
    return ctx.contains(col, value)


def _map_match(m: Any, comp: str, value: str, contains) -> ColumnElement:
    if comp.endswith("EQUALS"):
        if len(value) > MAP_VALUE_INDEXED:
            return and_(m.c.v == value[:MAP_VALUE_INDEXED], m.c.full == value)
        if len(value) == MAP_VALUE_INDEXED:      # `v` may be the head of a longer value
            return and_(m.c.v == value, m.c.full.is_(None))
        # shorter: `v` equal to it is a whole value (a cut one has MAP_VALUE_INDEXED chars),
        # so the (kind, key, v) index answers alone, without reading each row for `full`
        return m.c.v == value
    return contains(func.coalesce(m.c.full, m.c.v), value)
