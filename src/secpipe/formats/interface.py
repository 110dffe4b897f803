"""The contract every report format implements.

A format is a pure function from a report's bytes to Findings, plus a cheap sniffer so
`--from auto` can pick it. Parsers know no stage, no scanner and no run: the same parser serves
`secpipe run`, `secpipe convert`, the hub and the Lambda.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Sequence

from secpipe.model import Finding


class ReportFormatError(Exception):
    """The one documented error of every parser: the report is not what the format says.

    Carries the report's name and the problem, so the CLI can say which file is wrong and why
    without a traceback.
    """

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


# Formats read as one document (JSON, XML) need 3-8 times a report's size in memory; reports
# above this many bytes are refused with a ReportFormatError naming the limit. JSON-lines and
# text formats are read line by line and have no limit.
MAX_DOCUMENT_ENV = "SECPIPE_MAX_DOCUMENT_BYTES"
DEFAULT_MAX_DOCUMENT_BYTES = 256 * 1024 * 1024
SNIFF_LINES = 1000  # JSON lines a sniffer sees: enough to recognise, cheap on a huge report


def max_document_bytes() -> int:
    """The size limit of whole-document reports: $SECPIPE_MAX_DOCUMENT_BYTES, else 256 MiB."""
    raw = os.environ.get(MAX_DOCUMENT_ENV, "").strip()
    try:
        value = int(raw) if raw else DEFAULT_MAX_DOCUMENT_BYTES
    except ValueError:
        return DEFAULT_MAX_DOCUMENT_BYTES
    return value if value > 0 else DEFAULT_MAX_DOCUMENT_BYTES


class Document:
    """A report as a sniffer sees it: bytes, with text and JSON decoded lazily and at most once."""

    def __init__(self, data: bytes, source: str = "<report>") -> None:
        self.data = data
        self.source = source

    @cached_property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    @cached_property
    def json(self) -> Any:
        """The decoded JSON document, or None when the bytes are not one JSON value (or are
        more than the whole-document size limit)."""
        if len(self.data) > max_document_bytes():
            return None
        try:
            return json.loads(self.data)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None

    @cached_property
    def json_lines(self) -> list[Any] | None:
        """The first SNIFF_LINES non-empty lines decoded as JSON, or None when one of them is
        not JSON (the parser reads every line and says which one is broken)."""
        rows: list[Any] = []
        start, size = 0, len(self.data)
        if self.data.startswith(b"\xef\xbb\xbf"):
            start = 3
        while start < size and len(rows) < SNIFF_LINES:
            end = self.data.find(b"\n", start)
            end = size if end == -1 else end
            line = self.data[start:end]
            start = end + 1
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except (ValueError, RecursionError):  # also UnicodeDecodeError
                return None
        return rows or None


Parser = Callable[[bytes, str], Sequence[Finding]]
Sniffer = Callable[[Document], bool]


@dataclass(frozen=True)
class ReportFormat:
    """A registered report format.

    `parse(data, source)` returns Findings or raises ReportFormatError; `sniff(doc)` answers
    whether a document looks like this format (it must never raise).
    """

    name: str
    title: str
    parse: Parser
    sniff: Sniffer | None = None
    extensions: tuple[str, ...] = field(default=(".json",))
