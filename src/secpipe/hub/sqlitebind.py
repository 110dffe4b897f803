"""None and booleans bound on SQLite without the sqlite3 module's failed adapter search.

Why: the sqlite3 module binds an exact int, float, str or bytearray directly, but looks every
other value up as an adapter first: the registry (nothing there), then the protocol type's
`__adapt__`, whose absence CPython reports by formatting an AttributeError message that is
then thrown away, then the value's `__conform__`. Only after that does a None become NULL and
a bool its integer. A stored finding binds about fifteen such values (its NULL columns, the
side rows' `full` column, `sample`): ~0.35 us each, ~5 us of the ~130 us a new finding costs
the import (valgrind: the search was 3% of the instructions of BatchImportFindings).

A registered adapter is found at the first step. These bind exactly what the search ended
with: `{}.get(None)` is None (NULL), `int(True)` is 1 (the search's bool was bound as the
int it is). The registration is the sqlite3 module's, for the whole process, as adapters are;
it changes no value any connection binds, only how fast.
"""

from __future__ import annotations

import sqlite3

_NULL = {}.get          # a C function of one argument that returns None


def install() -> None:
    """Register the adapters (idempotent)."""
    sqlite3.register_adapter(type(None), _NULL)
    sqlite3.register_adapter(bool, int)
