"""A flood of Falco alerts is one finding: aggregation in memory, then one write per episode.

Identity is the Finding's fingerprint (rule + container/pod/host + process + file, see
`secpipe.formats.falco`). Alerts of one identity whose times lie within `window` of each other
form an *episode*: one hub finding with `secpipe/Count`, and FirstObservedAt/LastObservedAt
spanning the alerts. An alert more than `window` after the episode's last one starts a new
episode, i.e. a new finding, so a shell spawned next week is not hidden inside a finding
someone already resolved.

`Aggregator` gathers alerts in memory (per request, and between flushes); `write_episodes`
merges a batch into the hub in ONE write transaction under the hub's write lock: it looks up
the latest stored episode of each identity, extends it or opens a new one, ties it to the run
that shipped its image (`secpipe.runtime.correlate`), and imports the documents with the
store's BatchImportFindings semantics (same Id -> update; triage fields stay the customer's).
Counts are read and written under that lock, so concurrent writers (the hub and a
`secpipe falco ingest`) never lose one. A failed write hands its episodes back to the caller,
which puts them back into the aggregator: a count is either in memory or in the database.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from sqlalchemy import select

from secpipe.formats.falco import Alert, alert_finding, iso_ms, parse_time, with_count
from secpipe.hub import importer, partitions
from secpipe.hub.common import prefix_upper
from secpipe.hub.interface import Partition
from secpipe.hub.schema import findings as F
from secpipe.model import Finding, SourceContext, to_asff
from secpipe.runtime import correlate

DEFAULT_WINDOW = 3600.0
RUNTIME_STAGE = "runtime"
_MAX_FIELDS = 50


_MIN = datetime.min.replace(tzinfo=timezone.utc)
_MAX = datetime.max.replace(tzinfo=timezone.utc)


def shift(when: datetime, delta: timedelta) -> datetime:
    """`when + delta`, clamped to the representable range: a stored episode dated 9999 (from
    before the intake refused such times) must not overflow, and so fail, every later write."""
    try:
        return when + delta
    except OverflowError:
        return _MAX if delta > timedelta(0) else _MIN


@dataclass
class Episode:
    """Alerts of one identity close together in time, not yet written."""

    key: str                  # the Finding's fingerprint
    finding: Finding          # built from the newest alert
    alert: Alert              # the newest alert
    first: datetime
    last: datetime
    count: int

    def overlaps(self, first: datetime, last: datetime, window: timedelta) -> bool:
        return first <= shift(self.last, window) and last >= shift(self.first, -window)

    def absorb(self, other: "Episode") -> None:
        self.count += other.count
        self.first = min(self.first, other.first)
        if other.last >= self.last:
            self.last, self.alert, self.finding = other.last, other.alert, other.finding


class QueueFull(Exception):
    """Adding a batch would exceed the pending identities allowed."""

    def __init__(self, pending: int, adding: int, limit: int) -> None:
        super().__init__(f"{pending} identities pending + {adding} new > {limit}")
        self.pending, self.adding, self.limit = pending, adding, limit


class Aggregator:
    """Thread-safe pending episodes, merged by identity and window."""

    def __init__(self, window: float = DEFAULT_WINDOW) -> None:
        self.window = timedelta(seconds=window)
        self._pending: dict[str, list[Episode]] = {}
        self._lock = threading.Lock()
        self.alerts = 0           # alerts pending (not yet handed to a write)

    def add(self, alerts: Iterable[Alert], max_keys: int | None = None) -> int:
        """Add alerts; returns how many. With `max_keys`, a batch that would leave more than
        that many identities pending is refused whole (QueueFull), nothing of it kept."""
        fresh = []
        for alert in alerts:
            finding = alert_finding(alert)
            fresh.append(Episode(finding.fingerprint(), finding, alert, alert.time, alert.time, 1))
        with self._lock:
            if max_keys is not None:
                new_keys = {ep.key for ep in fresh} - self._pending.keys()
                if len(self._pending) + len(new_keys) > max_keys:
                    raise QueueFull(len(self._pending), len(new_keys), max_keys)
            for ep in fresh:
                self._merge(ep)
            self.alerts += len(fresh)
        return len(fresh)

    def _merge(self, ep: Episode) -> None:
        episodes = self._pending.setdefault(ep.key, [])
        for seen in episodes:
            if seen.overlaps(ep.first, ep.last, self.window):
                seen.absorb(ep)
                return
        episodes.append(ep)

    def take(self) -> list[Episode]:
        """Everything pending, oldest first per identity; the aggregator is then empty."""
        with self._lock:
            pending, self._pending, self.alerts = self._pending, {}, 0
        return [ep for eps in pending.values() for ep in sorted(eps, key=lambda e: e.first)]

    def restore(self, episodes: Iterable[Episode]) -> None:
        """Put back episodes a failed write did not store."""
        with self._lock:
            for ep in episodes:
                self._merge(ep)
                self.alerts += ep.count

    @property
    def keys(self) -> int:
        with self._lock:
            return len(self._pending)


@dataclass
class WriteStats:
    alerts: int = 0
    created: int = 0
    updated: int = 0
    failed: list[dict[str, str]] | None = None
    correlated: int = 0
    documents: list[dict[str, Any]] | None = None   # the ASFF documents written


@dataclass
class _Stored:
    doc: dict[str, Any]
    first: datetime
    last: datetime
    count: int


def _stored_latest(conn, ctx: SourceContext, keys: list[str]) -> dict[str, _Stored]:
    """The latest stored episode of each identity (by LastObservedAt).

    Episode Ids are `<product>/falco/<fingerprint>/<first seen>`, so an identity's episodes
    are one range of the (id, product_arn) unique index."""
    best: dict[str, tuple[str, int]] = {}
    for key in keys:
        prefix = f"{ctx.product_name}/falco/{key}/"
        q = (select(F.c.pk, F.c.last_observed_at)
             .where(F.c.id >= prefix, F.c.id < prefix_upper(prefix),
                    F.c.product_arn == ctx.product_arn,
                    partitions.findings_in(Partition(ctx.account_id, ctx.region)))
             .order_by(F.c.last_observed_at.desc()).limit(1))
        row = conn.execute(q).first()
        if row is not None:
            best[key] = (row.last_observed_at or "", row.pk)
    docs = importer.load_docs(conn, [pk for _, pk in best.values()])
    out: dict[str, _Stored] = {}
    for key, (_, pk) in best.items():
        doc = docs[pk][0]
        fields = doc.get("ProductFields") or {}
        first = parse_time(str(doc.get("FirstObservedAt") or ""))
        last = parse_time(str(doc.get("LastObservedAt") or ""))
        if first is None or last is None:
            continue
        try:
            count = int(fields.get("secpipe/Count", "1"))
        except ValueError:
            count = 1
        out[key] = _Stored(doc, first, last, count)
    return out


def _stamp_after(previous: str | None) -> str:
    """Now, as an ASFF timestamp strictly after `previous` (UpdatedAt must only grow)."""
    stamp = datetime.now(timezone.utc)
    if previous:
        prev = parse_time(previous)
        if prev is not None and stamp <= prev:
            stamp = shift(prev, timedelta(milliseconds=1))
    return iso_ms(stamp)


def _finish(doc: dict[str, Any], *, eid: str, count: int, first: datetime, last: datetime,
            updated: str, run: correlate.RunMatch | None,
            inherited: dict[str, str] | None = None) -> dict[str, Any]:
    out = dict(doc)
    out["Id"] = eid
    out["FirstObservedAt"], out["LastObservedAt"] = iso_ms(first), iso_ms(last)
    out["UpdatedAt"] = updated
    out.setdefault("CreatedAt", updated)
    fields = dict(out.get("ProductFields") or {})
    fields.update({"secpipe/Count": str(count), "secpipe/FirstSeen": iso_ms(first),
                   "secpipe/LastSeen": iso_ms(last), "secpipe/Stage": RUNTIME_STAGE})
    fields.update(run.product_fields() if run else (inherited or {}))
    extra = sorted((k for k in fields if k.startswith("secpipe/falco.")), reverse=True)
    while len(fields) > _MAX_FIELDS and extra:
        fields.pop(extra.pop(0))
    out["ProductFields"] = fields
    return out


def _run_fields(doc: dict[str, Any]) -> dict[str, str]:
    fields = doc.get("ProductFields") or {}
    return {k: v for k, v in fields.items() if k in (
        "secpipe/RunId", "secpipe/Commit", "secpipe/Repo", "secpipe/Branch",
        "secpipe/RunMatch", "secpipe/RunImage")}


def write_episodes(store: Any, episodes: list[Episode], window: float = DEFAULT_WINDOW
                   ) -> WriteStats:
    """Merge episodes into the hub in one write transaction (see the module docstring)."""
    stats = WriteStats(alerts=sum(ep.count for ep in episodes), failed=[])
    if not episodes:
        return stats
    span = timedelta(seconds=window)
    ctx = SourceContext(account_id=store.account_id, region=store.region, stage=RUNTIME_STAGE)
    by_key: dict[str, list[Episode]] = {}
    for ep in episodes:
        by_key.setdefault(ep.key, []).append(ep)
    with store._write() as conn:
        stored = _stored_latest(conn, ctx, list(by_key))
        runs: dict[tuple[str, str, str], correlate.RunMatch | None] = {}
        docs: dict[str, dict[str, Any]] = {}
        for key, eps in by_key.items():
            current = stored.get(key)
            cur_id = current.doc["Id"] if current else None
            for ep in sorted(eps, key=lambda e: e.first):
                image = ep.alert.image
                if image not in runs:
                    runs[image] = correlate.find_run(conn, *image) if any(image) else None
                run = runs[image]
                if current is not None and shift(current.first, -span) <= ep.last and \
                        ep.first <= shift(current.last, span):
                    newer = ep.last >= current.last
                    base = _asff(ep, ctx) if newer else current.doc
                    first, last = min(current.first, ep.first), max(current.last, ep.last)
                    count = current.count + ep.count
                    doc = _finish(base, eid=cur_id, count=count, first=first, last=last,
                                  updated=_stamp_after(current.doc.get("UpdatedAt")),
                                  run=run, inherited=_run_fields(current.doc))
                else:
                    base = _asff(ep, ctx)
                    cur_id = f"{base['Id']}/{ep.first.strftime('%Y%m%dT%H%M%S')}." \
                             f"{ep.first.microsecond // 1000:03d}Z"
                    doc = _finish(base, eid=cur_id, count=ep.count, first=ep.first,
                                  last=ep.last, updated=_stamp_after(None), run=run)
                docs[cur_id] = doc
                current = _Stored(doc, datetime_of(doc, "FirstObservedAt"),
                                  datetime_of(doc, "LastObservedAt"),
                                  int(doc["ProductFields"]["secpipe/Count"]))
        stats.correlated = sum(1 for d in docs.values() if "secpipe/RunId" in d["ProductFields"])
        good, failed = importer.check_all(list(docs.values()))
        written = importer.write(conn, good, force=True, actor="falco intake",
                                 partition=partitions.of(store, None))
    stats.created, stats.updated = written.created, written.updated
    stats.failed = failed
    stats.documents = [checked.doc for checked in good]
    return stats


def datetime_of(doc: dict[str, Any], key: str) -> datetime:
    when = parse_time(str(doc.get(key) or ""))
    assert when is not None, key
    return when


def _asff(ep: Episode, ctx: SourceContext) -> dict[str, Any]:
    finding = with_count(ep.finding, ep.count, iso_ms(ep.first), iso_ms(ep.last))
    stamp = iso_ms(datetime.now(timezone.utc))
    return to_asff(finding, ctx, updated_at=stamp)


__all__ = ["Aggregator", "QueueFull", "Episode", "shift", "WriteStats", "write_episodes",
           "DEFAULT_WINDOW"]
