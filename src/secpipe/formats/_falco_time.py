"""When a Falco alert happened: RFC 3339 times (nanoseconds allowed) and their range.

Kept apart from :mod:`secpipe.formats.falco` so the reader stays small; the hub's runtime
dedup uses the same parsing for the times it stores.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from secpipe.formats.interface import ReportFormatError

_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:?\d{2})?$")


def iso_ms(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{when.microsecond // 1000:03d}Z"


def parse_time(text: str, *, utc_only: bool = True) -> datetime | None:
    """Falco's RFC 3339 time (nanoseconds allowed) as an aware UTC datetime, or None.

    `utc_only=False` keeps a time that exists in its own offset but not in UTC (year 1 at
    +01:00, year 9999 at -01:00) in that offset, for a caller with its own policy (the hub's
    intake dead-letters it) instead of None."""
    m = _TIME.match(text.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    tz = timezone.utc
    if zone and zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "")
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        when = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                        int((frac or "0")[:6].ljust(6, "0")), tzinfo=tz)
    except ValueError:
        return None
    try:
        return when.astimezone(timezone.utc)
    except OverflowError:  # year 9999 with a negative offset, year 1 with a positive one
        return None if utc_only else when


# An alert's time is when the kernel event happened: before Falco existed (2016) or far ahead
# of any clock is a corrupt or forged alert, refused rather than sorted to the top or bottom of
# every list (the intake dead-letters it).
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def alert_time(obj: Mapping[str, Any], fields: Mapping[str, Any], source: str,
               where: str, *, check_range: bool = True) -> datetime:
    """When the alert's event happened: `time` (RFC 3339), else the output field `evt.time`
    or `evt.time.iso8601` (an RFC 3339 string or nanoseconds since the epoch, as Falco prints
    them). A missing, unreadable or out-of-range time is a ReportFormatError for the alert."""
    raw: Any = obj.get("time")
    name = "time"
    if raw is None or raw == "":
        name, raw = next(((k, fields[k]) for k in ("evt.time", "evt.time.iso8601")
                          if fields.get(k) not in (None, "")), ("time", None))
    if raw is None:
        raise ReportFormatError(source, f"{where} has no 'time' (nor an evt.time output field)")
    when: datetime | None = None
    if isinstance(raw, str):
        when = parse_time(raw, utc_only=check_range)
        if when is None and raw.strip().isdigit():
            raw = int(raw.strip())
    if isinstance(raw, int) and not isinstance(raw, bool):
        try:
            when = _EPOCH + timedelta(microseconds=raw // 1000)
        except OverflowError:
            when = None
    shown = str(raw)[:40]
    if when is None:
        raise ReportFormatError(source, f"{where} has a '{name}' that is not an RFC 3339 time "
                                        f"or nanoseconds since 1970: {shown!r}")
    if check_range and not EARLIEST <= when < LATEST:
        raise ReportFormatError(
            source, f"{where} has a '{name}' out of range ({shown!r}): an alert's time must "
                    f"fall between {EARLIEST.year} and {LATEST.year}")
    return when
