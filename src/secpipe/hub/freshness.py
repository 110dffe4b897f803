"""When `bulk_import`'s writer may trust the checking thread's key lookup (SQLite).

The checks look up what the hub stores for a part's keys before the write lock is taken, and
`importer.write` used to look every key up again under the lock to confirm an unchanged
re-import: on a re-sent 100k run that second lookup was a third of the time. It can be
skipped for a key when nothing can have changed its row since the check's read:
- no other connection committed: SQLite's `PRAGMA data_version`, read on the writer's
  connection at the start of each transaction under the write lock, changes exactly when
  another connection committed since the previous read on that connection. Comparing it with
  the previous transaction's value (same connection) proves that nobody else committed
  between the two transactions; while the writer holds the lock nobody else can commit;
- and the import itself did not write the key in the meantime (its own commits do not move
  `data_version`): the keys each transaction created or updated are kept for the last few
  transactions.

A check records the generation (`generation`) before its read begins: the number of
transactions whose lock had been taken by then, so its read saw at most what those
transactions and earlier commits left. Everything is conservative: an unknown generation, a
different connection, a transaction further back than the kept ones, or PostgreSQL (no such
counter) mean the writer looks the keys up again as before.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Hashable

_KEPT = 8      # transactions whose written keys are kept (the checker runs a few parts ahead)


class Freshness:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.gen = 0                       # transactions begun (under the lock) so far
        self._noisy = 1 << 62              # the last generation that found a foreign commit
        # (connection, data_version at its transaction's start, total_changes at its end):
        # the connection object itself, so that its id cannot be another's
        self._last: tuple[Any, Any, int] | None = None
        self._version: Any = None
        self._written: deque[tuple[int, set]] = deque(maxlen=_KEPT)

    def generation(self) -> int:
        """For the checking thread, before its read."""
        return self.gen

    def begin(self, raw_conn: Any) -> None:
        """At the start of a write transaction, under the write lock. Another connection's
        commit moves `data_version`; a commit through this same pooled connection by someone
        else between two transactions of the import moves its `total_changes`."""
        if not self.enabled:
            return
        version = raw_conn.execute("PRAGMA data_version").fetchone()[0]
        self.gen += 1
        last = self._last
        if last is None or last[0] is not raw_conn or last[1] != version \
                or last[2] != raw_conn.total_changes:
            self._noisy = self.gen
        self._version = version
        self._written.append((self.gen, set()))

    def wrote(self, keys: list[Hashable]) -> None:
        """Keys the current transaction created or updated."""
        if self.enabled and self._written:
            self._written[-1][1].update(keys)

    def end(self, raw_conn: Any) -> None:
        """After the transaction's last write (before its commit)."""
        if self.enabled:
            self._last = (raw_conn, self._version, raw_conn.total_changes)

    def trusted(self, seen: int | None) -> Callable[[Hashable], bool] | None:
        """A test `key -> bool`: does a lookup read at generation `seen` still hold for the
        key now? None when nothing read then can be trusted.

        The read began after transaction `seen` took the lock: it saw every commit before
        that. Since then only transactions seen..gen (this import's own writes) and the gaps
        between them can have changed rows; a gap had no foreign commit when the
        transaction after it found none (`_noisy` <= seen)."""
        if not self.enabled or seen is None or seen < 1 or not self._written:
            return None
        if seen < self._noisy or seen < self._written[0][0]:
            return None
        # one set of the keys written since (an unchanged re-import writes none): a single
        # lookup per key, where the writer asks for every finding of the part
        recent = set().union(*(keys for gen, keys in self._written if gen >= seen))
        return lambda key: key not in recent
