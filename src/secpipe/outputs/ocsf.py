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
from secpipe.outputs._stream import encode, encode_utf8
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
    (or taken from `docs`), written to both files and dropped. Same bytes as `write_asff` and
    `write_ocsf` (tests compare them)."""
    files = FindingsFiles(run_dir)
    try:
        for doc in iter(docs) if docs is not None else iter_asff(run):
            files.add(doc)
    except BaseException:
        files.abort()
        raise
    return files.finish()


class FindingsFiles:
    """findings.asff.json and findings.ocsf.json, filled one ASFF document at a time as the
    documents pass by (`passing`), then completed and renamed into place (`finish`).

    A run with a hub hands its documents to the hub's recording through `passing`: each is
    written to both files as the recording takes it, so no document outlives its part of the
    recording and none is built twice (holding all 50,000 through the recording, for the files
    afterwards, was ~70 MB of the run's peak). A failure to write is kept and raised by
    `finish` (the run's other files are still written first, as for any writer); the documents
    keep going to the hub meanwhile. Until `finish`, the files are temporaries beside their
    final names (`abort` deletes them), so a reader never sees half a file."""

    def __init__(self, run_dir: Path) -> None:
        run_dir = Path(run_dir)
        self.asff_path = run_dir / ASFF_FILE_NAME
        self.ocsf_path = run_dir / FILE_NAME
        self._tmps = [p.with_name(f".{p.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                      for p in (self.asff_path, self.ocsf_path)]
        self._files: list[BinaryIO] = []
        self._first = True
        self._rest: Iterator[dict[str, Any]] | None = None
        self.failure: Exception | None = None

    def passing(self, docs: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """`docs`, each written to both files before it is handed on; `finish` writes those
        the consumer did not take (a recording that stopped early)."""
        self._rest = source = iter(docs)     # set now: a consumer may never start
        return self._tee(source)

    def _tee(self, source: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for doc in source:
            if self.failure is None:
                try:
                    self.add(doc)
                except Exception as exc:  # noqa: BLE001 - raised by finish(), after the hub's turn
                    self.failure = exc
                    self.abort()
            yield doc

    def add(self, doc: dict[str, Any]) -> None:
        if not self._files:
            self._open()
        asff, ocsf = self._files
        doc_bytes, event_bytes = _encoded(doc)
        # outputs._stream.json_chunks(spread=1) and dump_events, element by element
        asff.write(b"[\n " if self._first else b",\n ")
        asff.write(doc_bytes)
        ocsf.write(b"\n" if self._first else b",\n")
        ocsf.write(event_bytes)
        self._first = False

    def finish(self) -> tuple[Path, Path]:
        """Write what `passing` was not asked for, close both files and rename them into place
        (the OCSF file first, as before); a failure kept by `passing` is raised here. Any
        failure leaves no temporary behind."""
        try:
            return self._finish()
        except BaseException:
            self.abort()
            raise

    def _finish(self) -> tuple[Path, Path]:
        if self.failure is None and self._rest is not None:
            for doc in self._rest:
                self.add(doc)
        self._rest = None
        if self.failure is not None:
            raise self.failure
        if not self._files:
            self._open()
        asff, ocsf = self._files
        asff.write(b"[]\n" if self._first else b"\n]\n")
        ocsf.write(b"\n]\n")
        self._files = []
        asff_tmp, ocsf_tmp = self._tmps
        with asff, ocsf:
            pass
        os.replace(ocsf_tmp, self.ocsf_path)
        os.replace(asff_tmp, self.asff_path)
        self._tmps = []
        return self.asff_path, self.ocsf_path

    def abort(self) -> None:
        """Close and delete the temporaries (nothing once `finish` has renamed them)."""
        files, self._files = self._files, []
        for fh in files:
            fh.close()
        for tmp in self._tmps:
            tmp.unlink(missing_ok=True)

    def _open(self) -> None:
        self.asff_path.parent.mkdir(parents=True, exist_ok=True)
        # binary files: each element's orjson bytes go out as they are (utf-8, as the text
        # files were), not decoded and encoded back
        for tmp in self._tmps:
            self._files.append(open(tmp, "wb", buffering=1 << 20))
        self._files[1].write(b"[")
