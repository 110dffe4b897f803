"""`findings.ocsf.json`: every finding of the run as an OCSF 1.1.0 finding event.

Security Hub's current generation and Amazon Security Lake take OCSF; the events are the ASFF
file's findings mapped by :mod:`secpipe.model.ocsf`, so both files name each finding by the
same Id (`finding_info.uid`) and carry the same workflow state (a suppressed finding is
status_id 3, Suppressed, with the suppression's Note in `unmapped`).

The file is written one event at a time to a temporary name and renamed: a run with a
million findings never holds the whole document as one string, and a reader never sees half
a file.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO

from secpipe.model.ocsf import asff_to_ocsf
from secpipe.outputs.asff import asff_findings
from secpipe.pipeline.result import RunResult

FILE_NAME = "findings.ocsf.json"


def ocsf_events(run: RunResult) -> Iterator[dict[str, Any]]:
    """One OCSF event per gated finding, in the ASFF file's order."""
    for obj in asff_findings(run):
        yield asff_to_ocsf(obj)


def dump_events(events: Iterable[dict[str, Any]], out: TextIO) -> None:
    """A JSON array of events, written as they come."""
    out.write("[")
    for i, event in enumerate(events):
        out.write(",\n" if i else "\n")
        out.write(json.dumps(event, ensure_ascii=False))
    out.write("\n]\n")


def render_ocsf(run: RunResult) -> str:
    import io

    buf = io.StringIO()
    dump_events(ocsf_events(run), buf)
    return buf.getvalue()


def write_ocsf(run: RunResult, run_dir: Path) -> Path:
    path = Path(run_dir) / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            dump_events(ocsf_events(run), fh)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
