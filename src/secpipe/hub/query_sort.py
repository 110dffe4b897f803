"""Sorting on a single-valued key read from the stored document (`hub.query_json`'s twin).

GetFindings sorts on every String / Number / Date key whose path holds no list
(`filterspec.SORTABLE`); those without a column are read from `findings.doc` by `DocScalar`,
typed so that ORDER BY and the NextToken's keyset comparison agree on both dialects: strings
in code-point order (PostgreSQL: COLLATE "C", SQLite: BINARY), numbers as doubles, dates as
canonical stamps (`secpipe_ts`, see query_json). A missing value sorts as the sentinel of
`sort_entry` (first in ascending order), and pages.py breaks ties on pk.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnClause

from secpipe.hub import filterspec as fs
from secpipe.hub.schema import findings as F


def _jpath(names: list[str]) -> str:
    return "$" + "".join(f'."{n}"' for n in names)


class DocScalar(ColumnClause):
    """A single-valued key read from the document, typed for ORDER BY and the NextToken:
    strings as text (code-point order), numbers as doubles, dates as canonical stamps."""

    inherit_cache = True

    def __init__(self, key: str) -> None:
        spec = fs.ALL_KEYS[key]
        super().__init__(f"doc_{key}", type_=Float() if spec.kind == fs.NUMBER else String())
        self.key_name, self.spec = key, spec


@compiles(DocScalar, "sqlite")
def _doc_sqlite(el: DocScalar, compiler: Any, **kw: Any) -> str:
    doc = compiler.process(F.c.doc, **kw)
    path = _jpath(list(el.spec.path)).replace("'", "''")
    got = f"json_extract({doc}, '{path}')"
    if el.spec.kind == fs.NUMBER:
        return f"(CASE WHEN json_type({doc}, '{path}') IN ('integer', 'real') " \
               f"THEN CAST({got} AS REAL) END)"
    if el.spec.kind == fs.DATE:
        return f"secpipe_ts({got})"
    return f"(CASE WHEN json_type({doc}, '{path}') = 'text' THEN {got} END)"


@compiles(DocScalar, "postgresql")
def _doc_pg(el: DocScalar, compiler: Any, **kw: Any) -> str:
    doc = compiler.process(F.c.doc, **kw)
    arr = "'{" + ",".join(el.spec.path) + "}'"
    node = f"(CAST({doc} AS JSONB) #> {arr})"
    if el.spec.kind == fs.NUMBER:
        return f"(CASE WHEN jsonb_typeof({node}) = 'number' THEN CAST({node} AS FLOAT8) END)"
    text = f"(CASE WHEN jsonb_typeof({node}) = 'string' THEN {node} #>> '{{}}' END)"
    if el.spec.kind == fs.DATE:
        return f"secpipe_ts({text})"
    return f'({text} COLLATE "C")'


def sort_entry(key: str) -> tuple[Any, Any] | None:
    """(expression, NULL sentinel) for sorting on a scalar document key; None if not one."""
    spec = fs.ALL_KEYS.get(key)
    if spec is None or key not in fs.SORTABLE or spec.kind == fs.BOOLEAN:
        return None
    return DocScalar(key), (-1e308 if spec.kind == fs.NUMBER else "")
