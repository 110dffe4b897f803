"""A run's hub connection keeps a small SQLite page cache and reads the file without mapping it
(a mapped page it read stays in the run's resident set); other openers keep the defaults."""

from __future__ import annotations

from pathlib import Path

from secpipe.hub.store import open_store
from secpipe.pipeline.hubsync import RUN_CACHE_MB, open_hub


def _cache_kib(store) -> int:
    with store.engine.connect() as conn:
        return -conn.exec_driver_sql("PRAGMA cache_size").scalar()


def _mmap_bytes(store) -> int:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA mmap_size").scalar()


def test_a_run_opens_its_hub_with_a_small_page_cache(tmp_path: Path) -> None:
    store = open_hub(str(tmp_path / "hub.db"))
    try:
        assert _cache_kib(store) == RUN_CACHE_MB * 1024
        assert _mmap_bytes(store) == 0
    finally:
        store.engine.dispose()


def test_other_openers_keep_the_default_cache(tmp_path: Path) -> None:
    store = open_store(tmp_path / "hub.db")
    try:
        assert _cache_kib(store) == 64 * 1024
        assert _mmap_bytes(store) == 2147418112
    finally:
        store.engine.dispose()
