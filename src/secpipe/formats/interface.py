"""The contract every report format implements.

A format is a pure function from a report's bytes to Findings, plus a cheap sniffer so
`--from auto` can pick it. Parsers know no stage, no scanner and no run: the same parser serves
`secpipe run`, `secpipe convert`, the hub and the Lambda.
"""

from __future__ import annotations

import json
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
        """The decoded JSON document, or None when the bytes are not one JSON value."""
        try:
            return json.loads(self.data)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None

    @cached_property
    def json_lines(self) -> list[Any] | None:
        """Each non-empty line decoded as JSON, or None when any line is not JSON."""
        rows: list[Any] = []
        for line in self.text.splitlines():
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except (ValueError, RecursionError):
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
