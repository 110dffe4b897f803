"""Fixtures the hub's reliability tests share: the hub tests' own (a SQLite path or a fresh
PostgreSQL database on the session's throwaway server, dropped afterwards)."""

from tests.hub.conftest import backend, hub_db, pg_server, store_url  # noqa: F401
