"""Small shared pieces of the hub store: timestamps, JSON, paging tokens, ARNs.

Timestamps are kept twice: the provider's own string stays in the ASFF document (Security Hub
hands back what it was given), and a canonical UTC form with microseconds goes into indexed
columns. The canonical form is fixed-width, so comparing strings compares instants; that keeps
DateFilter, sorting and "newer UpdatedAt wins" identical on SQLite and PostgreSQL without
datetime conversions on the hot import path.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from secpipe.hub.interface import InvalidInput

_STAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})?$"
)
_CANON = "%Y-%m-%dT%H:%M:%S.%fZ"


@lru_cache(maxsize=8192)
def canon_time(text: str) -> str:
    """ISO 8601 -> `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC; ValueError if it is not a timestamp.

    Cached: a run stamps all its findings with one or two instants, so the cache turns the
    parse into a dict lookup on the import path. A stamp without a zone is read as UTC.
    """
    m = _STAMP.match(text)
    if not m:
        raise ValueError(f"{text!r} is not an ISO 8601 timestamp")
    year, month, day, hour, minute, second, frac, zone = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    tz = timezone.utc
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        dt = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                      micro, tzinfo=tz).astimezone(timezone.utc)
    except OverflowError:   # 0001-01-01T00:00+01:00, 9999-12-31T23:59-01:00: not an instant
        raise ValueError(f"{text!r} is outside the years 1-9999 in UTC") from None
    # explicit widths: strftime's %Y drops the zeros of years below 1000 (fixed width matters)
    return f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:" \
           f"{dt.second:02d}.{dt.microsecond:06d}Z"


def now() -> str:
    """The current instant in canonical form."""
    return datetime.now(timezone.utc).strftime(_CANON)


def days_ago(days: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days)).strftime(_CANON)


def iso_ms(canon: str) -> str:
    """A canonical stamp as the millisecond ISO form Security Hub itself prints."""
    return canon[:23] + "Z"


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Any) -> str:
    """Compact JSON; one shared encoder (json.dumps with options builds one per call)."""
    return _ENCODER.encode(obj)


loads = json.loads


def fingerprint(obj: Any) -> str:
    """A short digest of a request shape (filters + sort) bound into paging tokens."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def encode_token(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (ValueError, TypeError, RecursionError) as exc:
        raise InvalidInput("NextToken is not valid") from exc
    if not isinstance(payload, dict):
        raise InvalidInput("NextToken is not valid")
    return payload


def seq_page(conn: Any, q: Any, seq: Any, max_results: int, next_token: str | None
             ) -> tuple[list[Any], str | None]:
    """One page of `q` (a select ordered by its `seq` column) after the token's seq, and the
    token of the next page (None on the last): keyset paging, stable while rows are added."""
    if next_token:
        after = decode_token(next_token).get("seq")
        if type(after) is not int:
            raise InvalidInput("NextToken is not valid")
        q = q.where(seq > after)
    rows = conn.execute(q.limit(max_results + 1)).all()
    if len(rows) <= max_results:
        return rows, None
    rows = rows[:max_results]
    return rows, encode_token({"seq": rows[-1].seq})


SURROGATES = re.compile("[\ud800-\udfff]")


def bad_text(obj: Any) -> str | None:
    """Why `obj` (a JSON value) cannot be stored, or None: a string (key or value) holding
    NUL, which PostgreSQL text refuses, or an unpaired surrogate, which no UTF-8 database
    can encode. Refusing both everywhere keeps SQLite and PostgreSQL hubs answering alike."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "strings must not contain NUL (U+0000)"
            if SURROGATES.search(item):
                return "strings must not contain unpaired surrogates (U+D800-U+DFFF)"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def refuse_nul_parameters(conn, cursor, statement, parameters, context, executemany) -> None:
    """A `before_cursor_execute` hook for PostgreSQL engines: a NUL in any bound string
    (a finding Id from a URL, a user name from a form...) is the caller's InvalidInput,
    not a driver DataError answered as a 500. SQLite stores NUL, so only PostgreSQL needs it."""
    rows = parameters if executemany else (parameters,)
    for row in rows or ():
        values = row.values() if isinstance(row, dict) else row
        for value in values or ():
            if type(value) is str and "\x00" in value:
                raise InvalidInput("strings must not contain NUL (U+0000)")


def prefix_upper(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (binary order).

    `col >= prefix AND col < prefix_upper(prefix)` is an exact, index-friendly PREFIX test in
    SQLite's BINARY and PostgreSQL's "C" collation, unlike LIKE whose case rules and escaping
    differ between the two.
    """
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None
