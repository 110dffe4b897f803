"""Secret values: kept as a hash and a masked form, never in clear.

A secrets scanner necessarily sees the clear value. The parser turns it into a :class:`Secret`
at once; the clear text exists only inside :func:`Secret.from_value`, and (so the pipeline can
scrub raw reports and tool logs before they are written anywhere) in an optional
:class:`SecretCollector` the caller opened around the parse. Nothing else keeps it.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from secpipe.model.scrubber import Scrubber


@dataclass(frozen=True, slots=True)
class Secret:
    sha256: str
    masked: str

    @classmethod
    def from_value(cls, value: str) -> "Secret":
        collector = _ACTIVE.get()
        if collector is not None:
            collector.add(value)
        return cls(sha256=hashlib.sha256(value.encode("utf-8")).hexdigest(), masked=mask(value))

    @classmethod
    def from_hash(cls, digest: str, masked: str = "****") -> "Secret":
        """For tools that only report a hash (detect-secrets reports SHA-1 of the value)."""
        return cls(sha256=digest, masked=masked)


def mask(value: str) -> str:
    """`AKIAABCDEFGHIJKLWXYZ` -> `AKIA…WXYZ`; short values keep nothing of themselves."""
    value = value.strip()
    if "\n" in value or "-----BEGIN" in value:
        first = value.splitlines()[0] if value else ""
        return first[:40] + "…(redacted)" if first.startswith("-----BEGIN") else "…(redacted)"
    if len(value) >= 16:
        return f"{value[:4]}…{value[-4:]}"
    if len(value) >= 8:
        return f"{value[:2]}…"
    return "…"


class SecretCollector:
    """Clear values seen while it was active, for scrubbing raw reports and logs."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self._cached: tuple[int, Scrubber] | None = None  # (len(values) it was built for, ...)

    def add(self, value: str) -> None:
        value = value.strip()
        if len(value) >= 6:
            self.values.add(value)
            # Long values (private-key blocks) are also scrubbed line by line, since tools
            # print them one line at a time.
            for line in value.splitlines():
                line = line.strip()
                if len(line) >= 16 and not line.startswith("-----"):
                    self.values.add(line)

    def scrub(self, data: bytes) -> bytes:
        """Replace every seen value (raw and JSON-escaped) with its masked form, in one pass.

        The JSON-escaped occurrence gets a JSON-escaped mask, so a scrubbed JSON report stays
        valid JSON (a mask may end in a quote the value contained). Where forms of several
        values overlap, the longest wins.
        """
        if not self.values:
            return data
        return self._scrubber().scrub(data)

    def _scrubber(self) -> "Scrubber":
        from secpipe.model.scrubber import Scrubber

        key = len(self.values)
        if self._cached is None or self._cached[0] != key:
            table: dict[bytes, bytes] = {}
            for value in self.values:
                masked = mask(value)
                for form, replacement in (
                        (json.dumps(value, ensure_ascii=False)[1:-1],
                         json.dumps(masked, ensure_ascii=False)[1:-1]),
                        (json.dumps(value)[1:-1], json.dumps(masked)[1:-1]),
                        (value, masked)):
                    # first form wins where two coincide, as replacing in this order did
                    table.setdefault(form.encode("utf-8"), replacement.encode("utf-8"))
            self._cached = (key, Scrubber(table))
        return self._cached[1]

    def scrub_text(self, text: str) -> str:
        return self.scrub(text.encode("utf-8")).decode("utf-8", errors="replace")


_ACTIVE: contextvars.ContextVar[SecretCollector | None] = contextvars.ContextVar(
    "secpipe_secret_collector", default=None
)


@contextlib.contextmanager
def collecting(collector: SecretCollector) -> Iterator[SecretCollector]:
    """Make `collector` see every :meth:`Secret.from_value` call in this context."""
    token = _ACTIVE.set(collector)
    try:
        yield collector
    finally:
        _ACTIVE.reset(token)
