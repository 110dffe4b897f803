"""Whether a hub's schema is already at the newest migration, without importing alembic.

Opening the hub is on every `secpipe run`'s path, and alembic's import alone costs about
0.2 s of CPU. The migration files name their revision and parent in plain assignments, so
the head is read from them directly; any doubt (several heads, a merge revision, a line this
reader does not understand, no version table yet) answers False, and the caller asks alembic,
which then also performs the upgrade.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

_ASSIGN = re.compile(r"""^(revision|down_revision)\s*(?::[^=]*)?=\s*(None|"[^"]*"|'[^']*')\s*(?:#.*)?$""",
                     re.MULTILINE)
_ANY = re.compile(r"^(revision|down_revision)\b", re.MULTILINE)


def head_revision(versions: Path) -> str | None:
    """The single head revision id of the migration files in `versions`, or None if unsure."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        if path.name.startswith("__"):
            continue
        source = path.read_text(encoding="utf-8")
        found = dict((m.group(1), m.group(2)) for m in _ASSIGN.finditer(source))
        if len(_ANY.findall(source)) != 2 or set(found) != {"revision", "down_revision"}:
            return None
        revisions.add(found["revision"].strip("\"'"))
        if found["down_revision"] != "None":
            parents.add(found["down_revision"].strip("\"'"))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def at_head(engine: Engine, migrations: Path, version_table: str) -> bool:
    """True when the database's recorded revision is the migration files' head."""
    head = head_revision(migrations / "versions")
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(f"SELECT version_num FROM {version_table}")).all()
    except SQLAlchemyError:
        return False   # a new database: no version table yet
    return [r[0] for r in rows] == [head]
