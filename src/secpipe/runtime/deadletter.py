"""Falco alerts set aside: refused at the intake (a time the hub cannot hold) or not storable
(the database or the import checks refused their finding), each with the reason.

Why a table and not a log line: Falco's http_output ignores the hub's answer and nobody reads
a hub's log, so a refused alert would vanish; and an alert that fails every write must leave
the write path, or it blocks all the alerts queued behind it (issue 12: one alert dated year
0001 stopped the intake for good). `secpipe falco dead-letters` lists them.

Rows are written in the intake's own short transactions and the table keeps the newest
MAX_ROWS, so a sender posting junk cannot grow the database without bound.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping

from sqlalchemy import delete, func, insert, select

from secpipe.formats.falco import Alert, iso_ms
from secpipe.hub.common import SURROGATES, now
from secpipe.hub.schema import falco_dead_letters as D

MAX_ROWS = 10000
MAX_ALERT_CHARS = 64 * 1024
MAX_BUFFER = 1000        # dead letters waiting for the next flush; beyond, they are counted


@dataclass(frozen=True)
class DeadLetter:
    stage: str           # request | write
    reason: str
    rule: str
    alert_time: str
    count: int
    alert: str           # JSON text


def _clean(text: str, limit: int) -> str:
    """Storable text on both databases: no NUL, no lone surrogate, bounded."""
    return SURROGATES.sub("\ufffd", text.replace("\x00", "\ufffd"))[:limit]


def alert_json(alert: Alert) -> str:
    """An Alert back as (roughly) the JSON Falco sent."""
    doc = {"time": iso_ms(alert.time) if isinstance(alert.time, datetime) else str(alert.time),
           "rule": alert.rule, "priority": alert.priority, "output": alert.output,
           "source": alert.source, "hostname": alert.hostname, "tags": list(alert.tags),
           "output_fields": dict(alert.fields), **dict(alert.extra)}
    return json.dumps(doc, ensure_ascii=False, default=str)


def from_alert(alert: Alert, stage: str, reason: str, count: int = 1) -> DeadLetter:
    when = iso_ms(alert.time) if isinstance(alert.time, datetime) else str(alert.time)
    return DeadLetter(stage, reason, alert.rule, when, count, alert_json(alert))


def from_raw(obj: Any, stage: str, reason: str) -> DeadLetter:
    """A refused alert as it came (a JSON value that may not even be an object)."""
    rule = obj.get("rule") if isinstance(obj, Mapping) else None
    when = obj.get("time") if isinstance(obj, Mapping) else None
    return DeadLetter(stage, reason, rule if isinstance(rule, str) else "",
                      when if isinstance(when, str) else "", 1,
                      json.dumps(obj, ensure_ascii=False, default=str))


class Buffer:
    """Dead letters waiting to be written (thread-safe, bounded)."""

    def __init__(self, limit: int = MAX_BUFFER) -> None:
        self.limit = limit
        self._items: list[DeadLetter] = []
        self._lock = threading.Lock()
        self.dropped = 0         # over the limit since the last write: summarised in one row

    def add(self, letters: Iterable[DeadLetter]) -> None:
        with self._lock:
            for letter in letters:
                if len(self._items) < self.limit:
                    self._items.append(letter)
                else:
                    self.dropped += letter.count

    def take(self) -> list[DeadLetter]:
        with self._lock:
            items, self._items = self._items, []
            if self.dropped:
                items.append(DeadLetter("request", f"{self.dropped} more alerts were refused "
                                        "while the dead-letter buffer was full", "", "",
                                        self.dropped, "{}"))
                self.dropped = 0
        return items

    def restore(self, letters: list[DeadLetter]) -> None:
        with self._lock:
            self._items[:0] = letters[:self.limit]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def write(store: Any, letters: list[DeadLetter]) -> int:
    """Append dead letters in one short transaction; keep the newest MAX_ROWS."""
    if not letters:
        return 0
    rows = [{"received_at": now(), "stage": d.stage, "reason": _clean(d.reason, 4000),
             "rule": _clean(d.rule, 256), "alert_time": _clean(d.alert_time, 64),
             "count": max(1, min(int(d.count), 2**31 - 1)),
             "alert": _clean(d.alert, MAX_ALERT_CHARS)} for d in letters]
    with store._write() as conn:
        conn.execute(insert(D), rows)
        top = conn.execute(select(func.max(D.c.seq))).scalar() or 0
        if top > MAX_ROWS:
            conn.execute(delete(D).where(D.c.seq <= top - MAX_ROWS))
    return len(rows)


def list_(store: Any, limit: int = 100) -> list[dict[str, Any]]:
    """The newest dead letters first."""
    q = select(D).order_by(D.c.seq.desc()).limit(limit)
    with store._read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


__all__ = ["DeadLetter", "Buffer", "from_alert", "from_raw", "write", "list_", "MAX_ROWS"]
