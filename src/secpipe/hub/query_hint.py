"""SQLite's `INDEXED BY` through SQLAlchemy's `Select.with_hint(table, text, "sqlite")`.

SQLAlchemy renders FROM hints only for dialects that have them (MySQL, SQL Server); its SQLite
compiler drops them. A GetFindings page that drives from a side table checks each candidate
against findings columns, and SQLite always reads those from the table row by rowid, even where
a covering index keyed by (severity_rank, pk) holds every column the check needs: at 1M
findings a row read is a random 16 KB page of the 6 GB table (cold: ~0.1-0.2 ms each, 2,400
candidates per page), an index entry is in a few MB that stay cached (`secpipe.hub.pages`).
Its planner cannot be talked out of the rowid lookup by rewriting the condition, so the page
names the index.

The same holds for a side table probed per candidate (`hub.query.Ctx.probe`): its primary key
(finding_pk, value) spreads the candidates over the whole table, its value index (value,
finding_pk) keeps one value's entries together.

The hooks add the hint text registered for a table or alias with `with_hint(..., "sqlite")`
after its name (SQLite's place for INDEXED BY); a statement without such a hint compiles
exactly as before.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import Alias


def _hinted(text: str, element: Any, kw: dict[str, Any]) -> str:
    hints = kw.get("fromhints")
    if kw.get("asfrom") and hints and element in hints:
        text += " " + hints[element]
    return text


@compiles(Table, "sqlite")
def _table_with_hint(element: Table, compiler: Any, **kw: Any) -> str:
    return _hinted(compiler.visit_table(element, **kw), element, kw)


@compiles(Alias, "sqlite")
def _alias_with_hint(element: Alias, compiler: Any, **kw: Any) -> str:
    return _hinted(compiler.visit_alias(element, **kw), element, kw)


def indexed_by(select: Any, table: Table, index: str) -> Any:
    """`select` with `table INDEXED BY index` on SQLite (other dialects: unchanged)."""
    return select.with_hint(table, f"INDEXED BY {index}", "sqlite")
