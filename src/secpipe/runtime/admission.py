"""What the Falco intake accepts: alerts whose time the hub can hold, normalised.

Falco writes RFC 3339 with nanoseconds and any offset; the parser (`secpipe.formats.falco`)
turns it into an aware UTC datetime. Here the time is normalised further to what the hub
stores (ASFF timestamps have milliseconds; episode Ids are built from them), and refused when
it is not a plausible alert time: before 1970 (what ASFF allows) or more than `max_future`
ahead of the hub's clock (default 24 h, the hub's import skew). Such times used to be stored
and then break every later flush: an episode dated year 0001 or 9999 overflowed the window
arithmetic (`last + window`) for its identity, so the intake stopped storing anything.

A refused alert refuses its whole request (400 naming it, nothing kept, as for an alert
without a rule), and is recorded as a dead letter so the operator sees what a node sent.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from secpipe.formats.falco import Alert, iter_alerts
from secpipe.hub.interface import InvalidInput
from secpipe.runtime import deadletter

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_FUTURE = timedelta(hours=24)


class AlertRefused(InvalidInput):
    """400: an alert of the request cannot be stored; `letters` are its dead letters."""

    def __init__(self, message: str, letters: list[deadletter.DeadLetter]) -> None:
        super().__init__(message)
        self.letters = letters


def normalise(alert: Alert, *, now: datetime | None = None,
              max_future: timedelta = MAX_FUTURE) -> Alert | str:
    """The alert with its time in UTC at millisecond precision, or why it is refused."""
    when = alert.time
    if not isinstance(when, datetime) or when.tzinfo is None:
        return "its time has no time zone"
    when = when.astimezone(timezone.utc)
    when = when.replace(microsecond=when.microsecond // 1000 * 1000)
    if when < EPOCH:
        return "its time is before 1970-01-01T00:00:00Z"
    limit = (now or datetime.now(timezone.utc)) + max_future
    if when > limit:
        hours = max_future.total_seconds() / 3600
        return f"its time is more than {hours:g} h ahead of the hub's clock"
    return alert if when == alert.time else replace(alert, time=when)


def _label(index: int, raw: Any) -> str:
    rule = raw.get("rule") if isinstance(raw, dict) else None
    when = raw.get("time") if isinstance(raw, dict) else None
    parts = [f"alert #{index + 1}"]
    if isinstance(rule, str):
        parts.append(f"rule {rule[:80]!r}")
    if isinstance(when, str):
        parts.append(f"time {when[:40]!r}")
    return parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")


def _raw_alerts(body: bytes) -> list[Any]:
    """The request's alerts as plain JSON (only on the error path, to name the bad one)."""
    try:
        whole = json.loads(body)
    except (ValueError, RecursionError):
        whole = None
    if isinstance(whole, dict):
        return [whole]
    if isinstance(whole, list):
        return whole
    out: list[Any] = []
    for line in body.splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except (ValueError, RecursionError):
                out.append(None)
    return out


def _counted(body: bytes, source: str, seen: list[int],
             skipped: list[str] | None) -> Iterator[Alert]:
    partial = "error" if skipped is None else "warn"
    on_partial = None if skipped is None else (lambda _n, problem: skipped.append(problem))
    # times are the intake's to judge (normalise): a bad one is a dead letter, not a bad body
    for alert in iter_alerts(body, source, partial_last_line=partial, time_range=False,
                             on_partial=on_partial):
        yield alert
        seen[0] += 1


def read_request(body: bytes, source: str = "request", *, now: datetime | None = None,
                 max_future: timedelta = MAX_FUTURE,
                 skipped: list[str] | None = None) -> list[Alert]:
    """The request's alerts, normalised; the parser's ReportFormatError for a malformed
    alert, AlertRefused naming the first alert whose time the hub cannot hold.

    With a `skipped` list (streaming intake: a log read while Falco writes it), a last line
    cut short is skipped and its problem appended there instead of refusing the request."""
    seen = [0]
    alerts: list[Alert] = []
    refused: list[tuple[int, str]] = []
    try:
        for alert in _counted(body, source, seen, skipped):
            checked = normalise(alert, now=now, max_future=max_future)
            if isinstance(checked, str):
                refused.append((len(alerts) + len(refused), checked))
            else:
                alerts.append(checked)
    except OverflowError:   # a time that leaves the years 1-9999 once in UTC
        refused.append((seen[0], "its time is outside the years 1-9999 once in UTC"))
    if not refused:
        return alerts
    raws = _raw_alerts(body)
    letters = []
    for index, why in refused:
        raw = raws[index] if index < len(raws) else None
        letters.append(deadletter.from_raw(raw, "request", f"refused at intake: {why}"))
    index, why = refused[0]
    more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
    raw = raws[index] if index < len(raws) else None
    raise AlertRefused(f"{_label(index, raw)}: {why}{more}; nothing of this request was kept",
                       letters)


__all__ = ["AlertRefused", "normalise", "read_request", "MAX_FUTURE", "EPOCH"]
