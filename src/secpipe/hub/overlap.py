"""Checking the next findings while the database writes the current ones (`bulk_import`).

The checks (`importer.check_all`) are pure Python and hold the GIL; the writes spend most of
their time inside SQLite or PostgreSQL, with the GIL released. A producer thread checks a
transaction's findings part by part (`PART` findings each) and hands the parts over in order,
so the writer starts on the first part while the rest are being checked, instead of waiting
for the whole transaction's checks (one 10k-finding transaction used to mean ~1 s of checks
and then ~0.7 s of writing, one after the other).

A transaction's findings are written part by part with one `importer.write` per part. That is
the same as one `write` of the whole batch except where a key occurs twice in the batch (the
newest UpdatedAt wins inside one `write`, a later one on a tie; across two writes a tie keeps
the first): a batch whose keys repeat is therefore checked and written as one part.
"""

from __future__ import annotations

import itertools
import queue
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from secpipe.counted import CountedOverride
from secpipe.hub.importer import provider_key

PART = 1000            # findings per part: ~70 ms of checks, 8-10k side-table rows
# The first part of an import is smaller: nothing overlaps its checks (the writer waits for
# them), so at 10k findings a whole PART first was ~8% of the import's wall time. The last
# PART of each batch is cut into parts of this size too: nothing overlaps the writing of an
# import's last part (the checks are done), ~0.1 s of a 10k import's ~1.7 s as one PART.
FIRST_PART = 200
_AHEAD = 4             # parts checked ahead of the writer (bounds memory)
_DONE = object()
# The interpreter's switch interval while the checking thread runs. The writer gives up the
# GIL for every statement SQLite steps (~50 per 1000 findings, most of them 1-20 ms) and must
# take it back after each; while the checker runs Python, that waits for the switch interval
# (5 ms by default) before the checker is asked to let go, which can exceed the statement
# itself. A shorter interval hands it back sooner. Measured on the shared 2-core machine, 10k
# imports alternated: at load ~12, 15-35% less wall in 3 of 3 runs; at load ~3.5, within
# the noise (1.84-1.90 s against 1.73-2.78 s with 5 ms). Not yet measured calm.
SWITCH_INTERVAL = 0.0005

T = TypeVar("T")


def parts_of(batch: Sequence[Any], part: int | None = None,
             first: int | None = None, last: int | None = None) -> list[Sequence[Any]]:
    """`batch` cut into parts of `part` (default `PART`) findings, the first of them of
    `first` findings when given and the last `part` of them into parts of `last` when
    given, or whole when one of its keys repeats."""
    part = part or PART
    first = min(first or part, part)
    if len(batch) <= first:
        return [batch]
    if _repeats(batch):
        return [batch]
    tail = len(batch) - part if last and len(batch) - first > part else len(batch)
    return ([batch[:first]] + [batch[i:min(i + part, tail)] for i in range(first, tail, part)]
            + [batch[i:i + last] for i in range(tail, len(batch), last or part)])


def _repeats(batch: Sequence[Any]) -> bool:
    """Whether a key (`provider_key`) occurs twice in `batch`. The Ids (exact strings) are
    compared first: when none repeats, no key can, and the keys need not be built (~0.4
    against ~1 us per finding, for every finding of a bulk import)."""
    ids = [i for obj in batch if type(obj) is dict and type(i := obj.get("Id")) is str]
    if len(set(ids)) == len(ids):
        return False
    keys = [k for k in map(provider_key, batch) if k is not None]
    return len(set(keys)) != len(keys)


def _shorten_switch() -> float:
    saved = sys.getswitchinterval()
    sys.setswitchinterval(min(saved, SWITCH_INTERVAL))     # never longer than it was
    return saved


# `with quick_switch(): ...`: `SWITCH_INTERVAL` while the body runs, restored when the last
# concurrent user ends
quick_switch = CountedOverride(_shorten_switch, sys.setswitchinterval)


def checked_batches(findings: Iterable[Any], batch_size: int, check: Callable[..., T],
                    part: int | None = None, threaded: bool = True,
                    lookup: Callable[[list], Any] | None = None) -> Iterator[Iterator[T]]:
    """Per transaction of `batch_size` findings, an iterator of `check(part)` results, in
    order. Checking runs in a producer thread up to `_AHEAD` parts ahead of the consumer; an
    exception there is raised here. Each inner iterator must be consumed before the next.
    `threaded=False` checks in the caller's thread (a store on one shared connection, such
    as an in-memory SQLite database, cannot read while it writes).

    `lookup`: a read for each part, run one part ahead in a thread of its own while the
    producer checks the part before; then `check(part, lookup(part))` is called. The read
    (the key lookup) waits on the database with the GIL released, and on an unchanged
    re-import it was 30% of the producer's time, which the next part's checks now overlap."""
    if not threaded:
        yield from _inline(findings, batch_size, check, part, lookup)
        return
    handoff: queue.Queue = queue.Queue(maxsize=_AHEAD)
    stop = threading.Event()
    it = iter(findings)

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def pieces() -> Iterator[tuple[list, bool]]:
        first = None if part else FIRST_PART     # the import's first part only
        last = None if part else FIRST_PART
        while batch := list(itertools.islice(it, max(1, batch_size))):
            cut = parts_of(batch, part, first, last)
            first = None
            for i, piece in enumerate(cut):
                yield list(piece), i == len(cut) - 1

    def produce() -> None:
        reader = ThreadPoolExecutor(1, thread_name_prefix="hub-lookup") if lookup else None
        try:
            if reader is None:
                for piece, last in pieces():
                    if not put((check(piece), last, None)):
                        return
            else:
                source = pieces()
                ahead = next(source, None)
                read = reader.submit(lookup, ahead[0]) if ahead else None
                while ahead is not None:
                    piece, last = ahead
                    ahead = next(source, None)
                    looked = read.result()                      # type: ignore[union-attr]
                    read = reader.submit(lookup, ahead[0]) if ahead else None
                    if not put((check(piece, looked), last, None)):
                        return
            put(_DONE)
        except BaseException as exc:  # re-raised in the consumer, which owns the error
            put((None, True, exc))
        finally:
            if reader is not None:
                reader.shutdown(wait=True, cancel_futures=True)

    with quick_switch():             # see SWITCH_INTERVAL
        worker = threading.Thread(target=produce, name="hub-check", daemon=True)
        worker.start()

        def one_batch(first: tuple) -> Iterator[T]:
            item = first
            while True:
                result, last, exc = item
                if exc is not None:
                    raise exc
                yield result
                if last:
                    return
                item = handoff.get()

        try:
            while (item := handoff.get()) is not _DONE:
                yield one_batch(item)
        finally:
            stop.set()
            worker.join()


def _inline(findings: Iterable[Any], batch_size: int, check: Callable[..., T],
            part: int | None, lookup: Callable[[list], Any] | None = None
            ) -> Iterator[Iterator[T]]:
    it = iter(findings)
    while batch := list(itertools.islice(it, max(1, batch_size))):
        # every part checked before the caller opens its write transaction
        yield iter([check(list(piece)) if lookup is None else
                    check(list(piece), lookup(list(piece))) for piece in parts_of(batch, part)])
