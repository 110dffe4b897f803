"""Group commit of concurrent BatchImportFindings calls (`secpipe.hub.groupcommit`): calls that
wait for the write lock together share one transaction, yet each keeps its own result,
FailedFindings, audit row and failure, and none answers before the commit."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Callable

import pytest

from secpipe.hub import audit, groupcommit, importer
from secpipe.hub.authz import Principal
from secpipe.hub.interface import ResourceNotFound
from tests.hub.builders import finding


def _writer(name: str) -> Principal:
    return Principal("sigv4", name, "us-east-1", "writer")


def _queued(store: Any, n: int) -> None:
    """Wait until `n` calls wait in the store's group (order, not time: they are queued)."""
    group = groupcommit.of(store)
    deadline = time.monotonic() + 60
    while len(group._queue) < n:
        assert time.monotonic() < deadline, "the calls never queued"
        time.sleep(0.005)


def _run_all(targets: list[Callable[[], None]]) -> list[threading.Thread]:
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    return threads


def _queued_in_order(store: Any, targets: list[Callable[[], None]]) -> list[threading.Thread]:
    """Start the callers one at a time, each once the one before it has queued (the group's
    order is then theirs)."""
    threads = []
    for n, target in enumerate(targets, 1):
        threads += _run_all([target])
        _queued(store, n)
    return threads


def _join(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join(120)
        assert not t.is_alive(), "a grouped call never answered"


def test_queued_calls_share_one_transaction_with_their_own_results(store):
    calls = 5
    results: dict[int, Any] = {}
    visible: dict[int, bool] = {}

    def call(i: int) -> None:
        docs = [finding(f"g{i}-{j}") for j in range(3)]
        if i == 2:
            docs.append(finding(f"g{i}-bad", Title=None))        # fails alone
        results[i] = store.batch_import(docs, principal=_writer(f"AKIDGROUP{i}"))
        # answered means committed: another connection sees the call's findings at once
        try:
            store.get_finding(f"g{i}-0")
            visible[i] = True
        except ResourceNotFound:
            visible[i] = False

    with store._write():                 # the lock is taken: every call queues behind it
        threads = _run_all([lambda i=i: call(i) for i in range(calls)])
        _queued(store, calls)
    _join(threads)

    group = groupcommit.of(store)
    assert (group.groups, group.grouped) == (1, calls)
    assert visible == {i: True for i in range(calls)}
    for i in range(calls):
        assert results[i].success_count == 3
        assert [f["Id"] for f in results[i].failed] == (["g2-bad"] if i == 2 else [])
    rows = [r for r in store.audit_log(action="BatchImportFindings")]
    assert sorted(r["principal"] for r in rows) == sorted(f"AKIDGROUP{i}" for i in range(calls))
    with store._read() as conn:
        for row in rows:
            i = int(row["principal"][-1])
            keys = [(f"g{i}-{j}", finding()["ProductArn"]) for j in range(3)]
            assert row["targets"] == [k[0] for k in keys]
            assert row["before"] == ""
            assert row["after"] == audit.findings_state(conn, keys) != ""
            assert row["detail"]["created"] == 3
            assert row["detail"]["failed"] == (1 if i == 2 else 0)


def _grouped_with_a_failure(store: Any, monkeypatch: Any, names: list[str]
                            ) -> tuple[dict[str, Any], list[str]]:
    """`names`' calls of two findings each queued in that order in one group, the call named
    "boom" failing after its rows are written; returns each call's outcome (its result or its
    exception) and the names whose writes ran, in the order they ran."""
    real = importer.write
    ran: list[str] = []

    def write(conn, batch, **kw):
        ran.append(batch[0].key[0].split("-")[0])
        if any(it.key[0] == "boom-0" for it in batch):
            real(conn, batch, **kw)              # its rows are written, then it fails
            raise RuntimeError("injected failure")
        return real(conn, batch, **kw)

    monkeypatch.setattr(importer, "write", write)
    outcome: dict[str, Any] = {}

    def call(name: str) -> None:
        try:
            outcome[name] = store.batch_import([finding(f"{name}-0"), finding(f"{name}-1")],
                                               principal=_writer(f"AKID{name.upper()}"))
        except RuntimeError as exc:
            outcome[name] = exc

    with store._write():
        threads = _queued_in_order(store, [lambda n=n: call(n) for n in names])
    _join(threads)
    assert isinstance(outcome["boom"], RuntimeError)
    for name in names:
        for fid in (f"{name}-0", f"{name}-1"):
            if name == "boom":
                with pytest.raises(ResourceNotFound):
                    store.get_finding(fid)
            else:
                assert outcome[name].success_count == 2
                store.get_finding(fid)
    principals = sorted(r["principal"] for r in store.audit_log(action="BatchImportFindings"))
    assert principals == sorted(f"AKID{n.upper()}" for n in names if n != "boom")
    return outcome, ran


def test_a_call_that_raises_rolls_back_alone(store, monkeypatch):
    _outcome, ran = _grouped_with_a_failure(store, monkeypatch, ["first", "boom", "last"])
    assert groupcommit.of(store).groups == 1
    assert ran == ["first", "boom", "last"]


def test_a_first_call_that_raises_rolls_back_alone_and_the_others_are_written(store,
                                                                             monkeypatch):
    """The group's first call runs without a savepoint: when it raises, the transaction rolls
    back and the others, which had not run, are written in a new one, in their order."""
    names = ["boom", "second", "third"]
    _outcome, ran = _grouped_with_a_failure(store, monkeypatch, names)
    group = groupcommit.of(store)
    assert (group.groups, group.grouped) == (2, 3)     # the rolled-back one, then the rest
    assert ran == names                                 # each call's work ran once
    assert not group._leading and not group._queue


def test_a_lone_call_that_raises_gets_its_error(store, monkeypatch):
    def write(conn, batch, **kw):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(importer, "write", write)
    with pytest.raises(RuntimeError, match="injected"):
        store.batch_import([finding("alone-0")], principal=_writer("AKIDALONE"))
    group = groupcommit.of(store)
    assert (group.groups, group.grouped) == (1, 1)
    assert not group._leading and not group._queue
    assert store.audit_log(action="BatchImportFindings") == []


def test_a_failed_commit_fails_every_call_of_the_group(store):
    @contextmanager
    def failing_commit():
        with store._write() as conn:
            yield conn
            raise OSError("disk full at commit")     # the transaction rolls back

    group = groupcommit.GroupCommit(failing_commit)
    errors: dict[int, BaseException | None] = {}

    def call(i: int) -> None:
        try:
            group.run(lambda conn: audit.record(conn, None, "GroupTest", [str(i)]))
            errors[i] = None
        except OSError as exc:
            errors[i] = exc

    with store._write():
        threads = _run_all([lambda i=i: call(i) for i in range(3)])
        deadline = time.monotonic() + 60
        while len(group._queue) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.005)
    _join(threads)
    assert all(isinstance(e, OSError) for e in errors.values()) and len(errors) == 3
    assert store.audit_log(action="GroupTest") == []
    assert not group._leading and not group._queue      # the next caller leads afresh
    group._begin = store._write
    group.run(lambda conn: audit.record(conn, None, "GroupTest", ["after"]))
    assert [r["targets"] for r in store.audit_log(action="GroupTest")] == [["after"]]


def test_many_concurrent_callers_all_land_exactly(store):
    threads_n, calls_n = 6, 8
    counts: dict[int, int] = {}

    def caller(t: int) -> None:
        n = 0
        for c in range(calls_n):
            res = store.batch_import([finding(f"m{t}-{c}-{j}") for j in range(4)],
                                     principal=_writer(f"AKIDMANY{t}"))
            n += res.success_count
            assert not res.failed
        counts[t] = n

    _join(_run_all([lambda t=t: caller(t) for t in range(threads_n)]))
    assert counts == {t: calls_n * 4 for t in range(threads_n)}
    assert store.count_findings() == threads_n * calls_n * 4
    group = groupcommit.of(store)
    assert group.grouped == threads_n * calls_n
    assert len(store.audit_log(action="BatchImportFindings", limit=1000)) == threads_n * calls_n
