"""The findings hub: Security Hub semantics over SQLite or PostgreSQL, plus runs and diffs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from secpipe.hub.store import SqlHubStore


def open_store(url_or_path: Any = None, **kwargs: Any) -> "SqlHubStore":
    """See `secpipe.hub.store.open_store` (imported lazily: SQLAlchemy is not needed to scan)."""
    from secpipe.hub.store import open_store as _open

    return _open(url_or_path, **kwargs)


__all__ = ["open_store"]
