"""Sinks: where a finished run goes besides its local files (Security Hub, an S3 archive).

Configured in secpipe.yml (`sinks: [{type: securityhub, ...}, {type: s3, bucket: ...}]`) and/or
named on the command line (`secpipe run --sink securityhub`); a sink named on the command line
takes its options from the config entry of the same type when there is one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from secpipe.sinks.interface import Sink, SinkError, SinkOutcome, SinksFailed

SINK_TYPES = ("securityhub", "s3")
OUTCOME_FILE = "sinks.json"


def _options(entry: Any) -> dict[str, Any]:
    data = entry.model_dump() if hasattr(entry, "model_dump") else dict(entry)
    data.pop("type", None)
    return {k: v for k, v in data.items() if v is not None}


def make_sink(kind: str, **options: Any) -> Sink:
    """A sink of a type with its options (secpipe.yml's keys); no network is touched here."""
    if kind == "securityhub":
        from secpipe.sinks.securityhub import SecurityHubSink
        return SecurityHubSink(**options)
    if kind == "s3":
        from secpipe.sinks.s3 import S3ArchiveSink
        return S3ArchiveSink(**options)
    raise SinkError(f"unknown sink {kind!r}; use one of: {', '.join(SINK_TYPES)}")


def build_sinks(configured: Sequence[Any] = (), requested: Sequence[str] = ()) -> list[Sink]:
    """The run's sinks: every configured one, plus each requested type not configured."""
    entries: list[tuple[str, dict[str, Any]]] = [(e.type, _options(e)) for e in configured]
    for kind in requested:
        if kind not in SINK_TYPES:
            raise SinkError(f"unknown sink {kind!r}; use one of: {', '.join(SINK_TYPES)}")
        if not any(k == kind for k, _ in entries):
            entries.append((kind, {}))
    return [make_sink(kind, **opts) for kind, opts in entries]


def deliver_all(sinks: Sequence[Sink], run: Any, run_dir: Path) -> list[SinkOutcome]:
    """Run every sink (one failing does not stop the others); record outcomes in sinks.json."""
    outcomes: list[SinkOutcome] = []
    for sink in sinks:
        try:
            outcomes.append(sink.deliver(run, run_dir))
        except SinkError as exc:
            outcomes.append(SinkOutcome(sink.name, False, str(exc)))
    try:
        (Path(run_dir) / OUTCOME_FILE).write_text(json.dumps(
            [{"sink": o.sink, "ok": o.ok, "message": o.message, **o.details} for o in outcomes],
            indent=2, default=str) + "\n", encoding="utf-8")
    except OSError:
        pass  # the outcome is also in the exception and on the console
    return outcomes


__all__ = ["SINK_TYPES", "Sink", "SinkError", "SinkOutcome", "SinksFailed", "build_sinks",
           "deliver_all", "make_sink"]
