"""Group commit for BatchImportFindings: the calls of one hub process that wait for the write
lock at the same time are written in one transaction, each in its own savepoint.

Why: a 100-finding import spends about a fifth of its CPU on what every write transaction
costs whatever its size: BEGIN IMMEDIATE and the write gate, and above all the commit, which
copies every page the transaction dirtied into the WAL. 100 new findings dirty ~150 pages of
16 KB (24 KB of WAL per finding); two or four calls in one transaction share most of their
index pages. And the write lock is the one thing every worker of `hub serve --workers N`
serialises on: what is done under it bounds the hub, whatever the cores.

How: the first caller to arrive leads. It takes the store's write transaction (waiting for the
gate, during which later callers queue behind it), then runs every call queued by then, its
own first, each inside a SAVEPOINT, and commits once. Followers sleep on an Event and get
their own result or exception; a new leader is woken for calls queued during that commit.

What stays exact:
- a call's answer means its writes are committed: no follower returns before the commit, and
  if the commit fails every call of the group gets that error;
- per-call results: each call runs its own screens, writes and audit row under its own
  principal, in arrival order, seeing the earlier calls' writes exactly as serial
  transactions would (same lock, same order);
- a call that raises rolls back to its savepoint only: its writes and its audit row are gone,
  the others' stay, and it gets its exception as it would alone;
- the group's first call runs without a savepoint (a group of one is the plain transaction):
  if it raises, the whole transaction rolls back, which then held its work alone; it gets
  its exception, and the group's other calls, none of which has run yet, are written in a
  transaction of their own, in the same order.

Why not a savepoint for the first call: a savepoint makes SQLite copy every page the call
changes, as it was, into its statement journal, so that it can roll back to it; a call of 100
new findings changes hundreds of index pages. 6,000 new findings (`bench/hub_http.py`'s
documents, 100 per call, in one process, valgrind) took 850k instructions each written one
call per transaction, 871k two calls per transaction with a savepoint each (a group of two
cost more than two transactions), 852k with none for the first, 836k with none at all.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, ContextManager, Generic, TypeVar

from sqlalchemy.engine import Connection

T = TypeVar("T")

MAX_GROUP = 16       # calls per transaction: a bound on one transaction's size and latency


class _Call(Generic[T]):
    __slots__ = ("work", "done", "result", "error", "lead")

    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None
        self.lead = False          # woken to lead the next group rather than with a result


class _FirstRaised(Exception):
    """The group's first call raised (its own error is kept on it): roll the transaction
    back and write the others in a new one."""


class GroupCommit:
    """One store's grouped writers (per process: the groups never span processes)."""

    def __init__(self, begin: Callable[[], ContextManager[Connection]]) -> None:
        self._begin = begin        # the store's write transaction (`SqlHubStore._write`)
        self._mutex = threading.Lock()
        self._queue: deque[_Call[Any]] = deque()
        self._leading = False
        self.groups = 0            # write transactions run (for tests and benchmarks)
        self.grouped = 0           # calls written in them

    def run(self, work: Callable[[Connection], T]) -> T:
        """`work(conn)` in a write transaction, maybe shared with other callers' work; returns
        once that transaction has committed."""
        call: _Call[T] = _Call(work)
        with self._mutex:
            self._queue.append(call)
            lead = not self._leading
            if lead:
                self._leading = True
        if not lead:
            call.done.wait()
            if not call.lead:
                return self._answer(call)
        self._lead(call)
        return self._answer(call)

    @staticmethod
    def _answer(call: _Call[T]) -> T:
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]

    def _lead(self, own: _Call[Any]) -> None:
        """Write one group (`own` and whoever queued before the lock was ours), then hand the
        lead to the next queued caller, if any."""
        group: list[_Call[Any]] = []
        pending: list[_Call[Any]] = []        # the calls of the transaction being written
        try:
            while True:
                try:
                    with self._begin() as conn:
                        if not group:
                            with self._mutex:
                                while self._queue and len(group) < MAX_GROUP:
                                    group.append(self._queue.popleft())
                            pending = group[:]
                        self._write(conn, pending)
                    break
                except _FirstRaised:            # rolled back; the first call has its error
                    self.groups += 1
                    pending = pending[1:]       # the others never ran: written afresh
        except BaseException as exc:
            for call in pending:
                call.error, call.result = exc, None     # nothing of these committed
            if not group:
                own.error = exc                         # the transaction never began
                with self._mutex:
                    self._queue.remove(own)
        finally:
            if group:
                self.groups += 1
                self.grouped += len(group)
            self._handover(group, own)

    @staticmethod
    def _write(conn: Connection, group: list[_Call[Any]]) -> None:
        first = group[0]
        if len(group) == 1:
            first.result = first.work(conn)             # alone: the plain transaction
            return
        try:
            first.result = first.work(conn)             # no savepoint: see the top
        except Exception as exc:
            first.error, first.result = exc, None
            raise _FirstRaised from exc                 # the transaction rolls back
        for call in group[1:]:
            savepoint = conn.begin_nested()
            try:
                call.result = call.work(conn)
            except Exception as exc:                    # this call's failure is its own
                savepoint.rollback()
                call.error = exc
            else:
                savepoint.commit()

    def _handover(self, group: list[_Call[Any]], own: _Call[Any]) -> None:
        with self._mutex:
            nxt = self._queue[0] if self._queue else None
            if nxt is None:
                self._leading = False
            else:
                nxt.lead = True
        for call in group:
            if call is not own:
                call.done.set()
        if nxt is not None:
            nxt.done.set()


_OF_LOCK = threading.Lock()


def of(store: Any) -> GroupCommit:
    """`store`'s group (made on first use, on its `_write` transaction)."""
    group = store.__dict__.get("_group_commit")
    if group is None:
        with _OF_LOCK:
            group = store.__dict__.get("_group_commit")
            if group is None:
                group = store.__dict__["_group_commit"] = GroupCommit(store._write)
    return group
