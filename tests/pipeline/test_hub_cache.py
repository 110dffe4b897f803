"""A run's hub connection keeps a small SQLite page cache and reads the file without mapping it
(a mapped page it read stays in the run's resident set); other openers keep the defaults."""

from __future__ import annotations

from pathlib import Path

from secpipe.hub.interface import RunRecord
from secpipe.hub.store import open_store
from secpipe.pipeline.hubsync import RUN_CACHE_MB, RUN_PART, open_hub
from tests.hub.builders import T0, finding

T1 = "2024-05-02T10:00:00.000Z"


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


def _run(run_id: str) -> RunRecord:
    return RunRecord(run_id=run_id, repo="example/web", branch="main", commit=run_id,
                     started_at=T0, finished_at=T0, status="failed", exit_code=1,
                     summary={"run_id": run_id}, scope=[("sast", "bandit"), ("iac", "checkov")])


def _docs(ids: range, updated: str = T0) -> list[dict]:
    """Findings of two (stage, tool) pairs, ~2 KB stored: 950 of them and their indexes are
    several times a 1 MB page cache."""
    return [finding(f"f-{i:05d}", UpdatedAt=updated,
                    Description=f"finding {i} " + "x" * (700 + i % 300),
                    ProductFields={"secpipe/Stage": "sast" if i % 3 else "iac",
                                   "secpipe/Tool": "bandit" if i % 3 else "checkov"})
            for i in ids]


def _recorded(tmp_path: Path, cache_mb: int) -> tuple[list, list, dict]:
    """Three runs (new; 100 fixed, 200 updated, 50 new; unchanged) into a hub with a page
    cache of `cache_mb`: their diffs, every finding as stored (the clock's stamps masked) and
    every observation."""
    store = open_store(tmp_path / f"hub-{cache_mb}.db", cache_mb=cache_mb, mmap=False)
    try:
        second = _docs(range(100, 700)) + _docs(range(700, 900), T1) + _docs(range(900, 950))
        diffs = []
        for run_id, docs in (("r1", _docs(range(900))), ("r2", second), ("r3", second)):
            d = store.record_run(_run(run_id), docs, batch_size=RUN_PART)
            assert d.failed == []
            diffs.append((d.baseline_run_id, sorted(d.new), sorted(d.recurring),
                          sorted(d.fixed), d.by_stage))
        written = sum(p.stat().st_size for p in tmp_path.glob(f"hub-{cache_mb}.db*"))
        assert written > 4 * 2**20                  # what the 1 MB cache had to spill
        stored = []
        for doc in _all(store):
            doc.pop("ProcessedAt")
            if doc["RecordState"] == "ARCHIVED":
                doc.pop("UpdatedAt")                # the hub's own stamp for a fixed finding
            stored.append(doc)
        with store.engine.connect() as conn:
            seen = {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
                    for t in ("findings", "finding_types", "finding_resources", "finding_map",
                              "finding_events", "run_findings", "runs", "audit_log")}
            seen["observations"] = conn.exec_driver_sql(
                "SELECT run_seq, finding_pk, stage, tool, change FROM run_findings "
                "ORDER BY run_seq, finding_pk").fetchall()
        return diffs, stored, seen
    finally:
        store.close()


def _all(store) -> list[dict]:
    docs, token = store.get_findings(max_results=100, sort=[{"Field": "Id", "SortOrder": "asc"}])
    out = list(docs)
    while token:
        docs, token = store.get_findings(max_results=100, next_token=token,
                                         sort=[{"Field": "Id", "SortOrder": "asc"}])
        out += docs
    return out


def test_a_small_page_cache_records_the_same_hub(tmp_path: Path) -> None:
    """A run's cache (RUN_CACHE_MB, and 1 MB: spilling all the time) and the default 64 MB
    store the same findings, observations and diffs: the cache holds pages, never results."""
    small, run_cache, large = (_recorded(tmp_path, mb) for mb in (1, RUN_CACHE_MB, 64))
    assert small == large and run_cache == large
    diffs = large[0]
    assert len(diffs[1][3]) == 100 and len(diffs[1][1]) == 50 and diffs[2][1] == []
