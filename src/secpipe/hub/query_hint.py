"""SQLite's `INDEXED BY` through SQLAlchemy's `Select.with_hint(table, text, "sqlite")`.

SQLAlchemy renders FROM hints only for dialects that have them (MySQL, SQL Server); its SQLite
compiler drops them. A GetFindings page that drives from a side table checks each candidate
against findings columns, and SQLite always reads those from the table row by rowid, even where
a covering index keyed by (severity_rank, pk) holds every column the check needs: at 1M
findings a row read is a random 16 KB page of the 6 GB table (cold: ~0.1-0.2 ms each, 2,400
candidates per page), an index entry is in a few MB that stay cached (`secpipe.hub.pages`).
Its planner cannot be talked out of the rowid lookup by rewriting the condition, so the page
names the index.

The hook adds the hint text registered for a table with `with_hint(..., "sqlite")` after the
table's name; a statement without such a hint compiles exactly as before.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.compiler import compiles


@compiles(Table, "sqlite")
def _table_with_hint(element: Table, compiler: Any, **kw: Any) -> str:
    text = compiler.visit_table(element, **kw)
    hints = kw.get("fromhints")
    if kw.get("asfrom") and hints and element in hints:
        text += " " + hints[element]
    return text


def indexed_by(select: Any, table: Table, index: str) -> Any:
    """`select` with `table INDEXED BY index` on SQLite (other dialects: unchanged)."""
    return select.with_hint(table, f"INDEXED BY {index}", "sqlite")
