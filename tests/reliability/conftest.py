"""Fixtures the hub's reliability tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.hub.conftest import PgServer, pg_server  # noqa: F401  (session fixture)


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_db(request, tmp_path: Path) -> Iterator[str]:
    """A hub database that does not exist yet: a SQLite path, or a fresh PostgreSQL database
    on the session's throwaway server (dropped afterwards)."""
    if request.param == "sqlite":
        yield str(tmp_path / "hub.db")
        return
    pg: PgServer = request.getfixturevalue("pg_server")
    url = pg.new_url()
    try:
        yield url
    finally:
        pg.drop(url)
