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

import os
import threading
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, TextIO

from secpipe.model.ocsf_own import asff_to_ocsf, own_shape, own_shape_event
from secpipe.outputs.asff import FILE_NAME as ASFF_FILE_NAME
from secpipe.outputs.asff import iter_asff
from secpipe.outputs._stream import _OPTIONS, _orjson, _orjson_text
from secpipe.outputs._stream import encode, encode_utf8, write_atomic
from secpipe.pipeline.result import RunResult

FILE_NAME = "findings.ocsf.json"


def ocsf_events(run: RunResult) -> Iterator[dict[str, Any]]:
    """One OCSF event per gated finding, in the ASFF file's order."""
    for obj in iter_asff(run):
        yield asff_to_ocsf(obj)


def dump_events(events: Iterable[dict[str, Any]], out: TextIO) -> None:
    """A JSON array of events, written as they come, one compact event per line (the spaces
    of json.dumps' default separators were a tenth of the file)."""
    out.write("[")
    for i, event in enumerate(events):
        out.write(",\n" if i else "\n")
        out.write(encode(event))
    out.write("\n]\n")


def render_ocsf(run: RunResult) -> str:
    import io

    buf = io.StringIO()
    dump_events(ocsf_events(run), buf)
    return buf.getvalue()


def write_ocsf(run: RunResult, run_dir: Path,
               docs: Iterable[dict[str, Any]] | None = None) -> Path:
    """`docs`: the run's ASFF documents when already built (the hub's), else built here."""
    path = Path(run_dir) / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            dump_events(ocsf_events(run) if docs is None else map(asff_to_ocsf, docs), fh)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _encoded(doc: dict[str, Any]) -> tuple[bytes, bytes]:
    """`(encode_utf8(doc), encode_utf8(asff_to_ocsf(doc)))`, checking orjson's text once.

    Whether orjson's text is the standard encoder's is decided by scanning it (three byte
    searches, a third of the time of writing both files). The event of a document that
    passed, built by the direct path without Vulnerabilities, needs no scan of its own: its
    numbers are ints or numbers of the document, which hold no NaN, no Infinity and no float
    the two encoders write differently (`ocsf_own.own_shape_event`), and it holds no None."""
    text = _orjson_text(doc) if _orjson is not None else None
    if text is None:
        return encode_utf8(doc), encode_utf8(asff_to_ocsf(doc))
    if "Vulnerabilities" not in doc and own_shape(doc):
        event = own_shape_event(doc)
        try:
            return text, _orjson.dumps(event, option=_OPTIONS)
        except (TypeError, ValueError):     # what orjson refuses: the standard encoder
            return text, encode_utf8(event)
    return text, encode_utf8(asff_to_ocsf(doc))


def write_findings_files(run: RunResult, run_dir: Path,
                         docs: Iterable[dict[str, Any]] | None = None) -> tuple[Path, Path]:
    """findings.asff.json and findings.ocsf.json in one pass: each ASFF document is built once
    (or taken from `docs`, the list the hub was given), written to both files and dropped.
    Same bytes as `write_asff` and `write_ocsf` (tests compare them)."""
    run_dir = Path(run_dir)
    source: Iterator[dict[str, Any]] = iter(docs) if docs is not None else iter_asff(run)

    def fill_both(asff: BinaryIO, ocsf: BinaryIO) -> None:
        # binary files: each element's orjson bytes go out as they are (utf-8, as the text
        # files were), not decoded and encoded back
        first = True
        ocsf.write(b"[")
        for doc in source:
            doc_bytes, event_bytes = _encoded(doc)
            # outputs._stream.json_chunks(spread=1) and dump_events, element by element
            asff.write(b"[\n " if first else b",\n ")
            asff.write(doc_bytes)
            ocsf.write(b"\n" if first else b",\n")
            ocsf.write(event_bytes)
            first = False
        asff.write(b"[]\n" if first else b"\n]\n")
        ocsf.write(b"\n]\n")

    ocsf_path = run_dir / FILE_NAME
    asff_path = write_atomic(
        run_dir / ASFF_FILE_NAME,
        lambda asff: write_atomic(ocsf_path, lambda ocsf: fill_both(asff, ocsf),
                                  binary=True, buffering=1 << 20),
        binary=True, buffering=1 << 20)
    return asff_path, ocsf_path
