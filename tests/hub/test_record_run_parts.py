"""`record_run` checks, screens and writes a run part by part (so only one part's checked
documents live at a time) and leaves the hub exactly as checking the whole run first did: every
column of every table, each run's diff, and FailedFindings in the same order. The whole-run
code is kept here as the reference (`_record_whole`, the code before the change, verbatim but
for `self`); both run through the same runs with parts of 3 findings, so parts split duplicates,
failures and refusals. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from secpipe.hub import audit, import_rules, importer, run_refresh, runs, subscriptions
from secpipe.hub.authz import Principal, Scope
from secpipe.hub.interface import RunDiff
from secpipe.hub.store import open_store
from tests.hub.builders import ACCOUNT, example_run, finding
from tests.hub.test_run_refresh import T4, _dump, triage_then_third
from tests.hub.test_store_runs import T1, T2, T3, run

PART = 3
OTHER_PRODUCT = "arn:aws:securityhub:us-east-1::product/aquasecurity/aquasecurity"
CI = Principal("sigv4", "AKIACI", role="ci", scope=Scope.of(repos=["example/*"]))


def _record_whole(store, run, findings, *, base_branch=None, batch_size=5000,
                  principal=None) -> RunDiff:
    """`record_run` as it was: check every finding, then write the accepted ones in parts (it
    took a sequence: an iterator is made a list first)."""
    findings = list(findings)
    runs.check_run(run)
    good, failed = store._check(findings, None, store.partition)
    actor = f"{principal.name} run {run.run_id}" if principal else f"run {run.run_id}"
    with store._write() as conn:
        good, denied = import_rules.screen(conn, principal, good, store.partition)
        failed += denied
        good, off = subscriptions.screen(conn, good, store.account_id, store.region, principal)
        failed += off
        observed: dict[int, tuple[str, str]] = {}
        for i in range(0, len(good), batch_size):
            chunk = good[i:i + batch_size]
            pks, rest = run_refresh.refresh(conn, chunk, store.partition)
            written = importer.write(conn, rest, actor=actor, run_id=run.run_id,
                                     partition=store.partition)
            pks.update(written.pks)
            failed += written.failed
            for item in chunk:
                pk = pks.get(item.key)
                if pk is not None:
                    observed.setdefault(pk, runs.stage_tool(importer.as_stored(item)))
        result = runs.record(conn, run, observed, base_branch, principal, store.policy)
        audit.record(conn, principal, "RecordRun", [run.run_id],
                     after=audit.digest([result.new, result.recurring, result.fixed]),
                     detail={"repo": run.repo, "branch": run.branch,
                             "base_branch": base_branch, "new": len(result.new),
                             "recurring": len(result.recurring), "fixed": len(result.fixed)})
    result.failed = failed
    return result


def _extras(stamp: str, run_id: str, drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Findings beside the example's: plain ones, refused ones and duplicates, spread so that
    parts of 3 split them. `drop`: Ids left out (fixed in this run)."""
    plain = [finding(f"x-{i}", UpdatedAt=stamp, CreatedAt=stamp,
                     ProductFields={"secpipe/Stage": "sca", "secpipe/Tool": "trivy",
                                    "secpipe/Repo": "example/web", "secpipe/RunId": run_id})
             for i in range(7)]
    newer = dict(plain[1], UpdatedAt=T4, Title="a later copy")      # same key, newer, later
    repo = {"secpipe/Repo": "example/web"}                         # in the ci key's scope
    out = [plain[0], {"Id": "broken"}, plain[1], plain[2],
            finding("other", ProductArn=OTHER_PRODUCT, ProductFields=repo),  # no subscription
            plain[3], dict(plain[0]),                                # an identical duplicate
            finding("future", UpdatedAt="2999-01-01T00:00:00.000Z"),
            plain[4], newer, plain[5],
            finding("x-1", Title="older", UpdatedAt=T1, ProductFields=repo),   # stale copy
            finding("triaged", Workflow={"Status": "SUPPRESSED"}, ProductFields=repo),  # not ci
            plain[6], {"Id": "broken-2", "ProductArn": "x"}]
    return [d for d in out if d.get("Id") not in drop]


def _runs(record, store, principal) -> list[Any]:
    """Runs through every path: creation, the narrow re-run, triage, changes, a fixed tool, a
    reopening, stale copies; each with the refusals of `_extras`."""
    out = []

    def go(run_id: str, stamp: str, docs: list, **kw: Any) -> None:
        diff = record(store, run(run_id, stamp, **kw), docs, batch_size=PART,
                      principal=principal)
        out.append((sorted(diff.new), sorted(diff.recurring), sorted(diff.fixed),
                    diff.by_stage, diff.baseline_run_id, diff.failed))

    go("r1", T1, example_run(T1, "r1") + _extras(T1, "r1"))
    go("r2", T2, _extras(T2, "r2")[:5] + example_run(T2, "r2") + _extras(T2, "r2")[5:])
    third = triage_then_third(store)
    go("r3", T3, _extras(T3, "r3", drop=("x-5", "x-6")) + third)
    stale = [d for d in example_run(T1, "r4") if d["ProductFields"]["secpipe/Tool"] == "trivy"]
    fourth = [d for d in example_run(T4, "r4") if d["ProductFields"]["secpipe/Tool"] != "trivy"]
    go("r4", T4, iter(fourth + _extras(T4, "r4") + stale))       # an iterator will do
    go("r5", T4, [])
    return out


def _parted(store, run, findings, **kw: Any) -> RunDiff:
    return store.record_run(run, findings, **kw)


@pytest.fixture
def two_urls(backend: str, tmp_path, request) -> Iterator[tuple[str, str]]:
    if backend == "sqlite":
        yield str(tmp_path / "whole.db"), str(tmp_path / "parted.db")
        return
    server = request.getfixturevalue("pg_server")
    urls = (server.new_url(), server.new_url())
    try:
        yield urls
    finally:
        for url in urls:
            server.drop(url)


@pytest.mark.parametrize("principal", [None, CI], ids=["local", "ci"])
def test_parts_store_what_the_whole_run_stored(two_urls, principal) -> None:
    whole = open_store(two_urls[0], account_id=ACCOUNT)
    parted = open_store(two_urls[1], account_id=ACCOUNT)
    try:
        want = _runs(_record_whole, whole, principal)
        got = _runs(_parted, parted, principal)
        assert got == want
        assert _dump(parted) == _dump(whole)
        failed = [f["Id"] for f in got[0][-1]]
        # the checks' failures, then import_rules' (ci only), then the subscription's
        assert failed == ["broken", "future", "broken-2"] + (["triaged"] if principal else []) \
            + ["other"]
    finally:
        whole.close()
        parted.close()


def test_one_processed_at_per_run(store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's created findings share one ProcessedAt, whatever part checked them (a clock
    that ticks on every reading tells one reading from several)."""
    ticks = iter(range(1, 1000))
    monkeypatch.setattr(importer, "now",
                        lambda: f"2025-01-01T00:00:{next(ticks):02d}.000Z"[:24])
    docs = example_run(T1, "r1") + _extras(T1, "r1")
    store.record_run(run("r1", T1), docs, batch_size=PART)
    # x-1 is updated by its later, newer copy: the update's own stamp, as before
    created = [d["Id"] for d in example_run(T1, "r1")] + [f"x-{i}" for i in (0, 2, 3, 4, 5, 6)]
    assert {store.get_finding(fid)["ProcessedAt"] for fid in created} == \
        {"2025-01-01T00:00:01.000Z"}


def test_the_narrow_update_uses_the_lookups_rows(tmp_path, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    """Each part's key lookup (`run_refresh.lookup`) also reads the rows the narrow update
    needs, which uses them for every key not written since (the lookup ran in the same
    transaction); only such keys are read again. The hub ends exactly as when the narrow
    update reads every row itself (parts of 3, so keys repeat across parts)."""
    reads: list[set] = []
    real_rows, real_refresh = run_refresh._rows, run_refresh.refresh

    def rows(conn, keys, partition):
        reads.append(set(keys))
        return real_rows(conn, keys, partition)

    monkeypatch.setattr(run_refresh, "_rows", rows)
    reused = open_store(str(tmp_path / "reused.db"), account_id=ACCOUNT)
    got = _runs(_parted, reused, None)
    reused_reads = len(reads)
    monkeypatch.setattr(run_refresh, "refresh", lambda conn, items, partition, trusted=None,
                        looked=None: real_refresh(conn, items, partition, trusted))
    reads.clear()
    again = open_store(str(tmp_path / "again.db"), account_id=ACCOUNT)
    try:
        want = _runs(_parted, again, None)
        assert got == want
        assert _dump(reused) == _dump(again)
        # reading every row again takes a read per refreshed part on top of the lookups
        assert reused_reads < len(reads)
    finally:
        reused.close()
        again.close()
