"""The run hands its ASFF documents to the hub through `FindingsFiles.passing`, which writes
each to findings.asff.json and findings.ocsf.json on its way, so no document outlives its part
of the recording: the files are the same bytes as documents built afresh, however much of the
stream the hub took, and a failure to write is raised by `finish` without stopping the hub."""

from __future__ import annotations

import gc
import weakref
from itertools import islice
from pathlib import Path

import pytest

from secpipe.outputs import write_all
from secpipe.outputs.asff import asff_findings, iter_asff
from secpipe.outputs.ocsf import FindingsFiles, write_findings_files
from tests.test_outputs import make_run

FILES = ("findings.asff.json", "findings.ocsf.json")


class _Doc(dict):
    """A dict that can be weakly referenced (to see when the hand-over lets it go)."""


def _bytes(run_dir: Path) -> list[bytes]:
    return [(run_dir / name).read_bytes() for name in FILES]


@pytest.mark.parametrize("taken", [None, 0, 1, 2, 10 ** 6], ids=["never", "0", "1", "2", "all"])
def test_the_files_are_the_same_bytes_however_much_the_hub_took(tmp_path: Path,
                                                                taken: int | None) -> None:
    run = make_run()
    fresh, passed = tmp_path / "fresh", tmp_path / "passed"
    write_all(run, fresh)
    files = FindingsFiles(passed)
    stream = files.passing(iter_asff(run))
    if taken is not None:           # None: the hub failed before it read any
        got = list(islice(stream, taken))
        assert got == asff_findings(run)[:taken]
    write_all(run, passed, findings_files=files)
    assert _bytes(passed) == _bytes(fresh)
    assert sorted(p.name for p in passed.iterdir()) == sorted(p.name for p in fresh.iterdir())


def test_an_empty_run_writes_empty_arrays(tmp_path: Path) -> None:
    run = make_run()
    for stage in run.stages:
        stage.findings = []
    write_findings_files(run, tmp_path / "a")
    files = FindingsFiles(tmp_path / "b")
    assert list(files.passing(iter_asff(run))) == []
    files.finish()
    assert _bytes(tmp_path / "b") == _bytes(tmp_path / "a") == [b"[]\n", b"[\n]\n"]


def test_each_document_is_written_before_it_is_handed_on_and_not_kept(tmp_path: Path) -> None:
    run = make_run()
    refs: list[weakref.ref] = []

    def built():
        for doc in iter_asff(run):
            doc = _Doc(doc)
            refs.append(weakref.ref(doc))
            yield doc

    files = FindingsFiles(tmp_path / "passed")
    written, at = [], 0
    for doc in files.passing(built()):
        asff, _ocsf = files._files
        assert asff.tell() > at         # already in the file when the hub gets it
        at = asff.tell()
        written.append(doc["Id"])
        del doc
        gc.collect()
        # what the hub let go of is gone: the files hold bytes, not documents
        assert all(r() is None for r in refs[:-1])   # the generators hold the latest
    files.finish()
    write_findings_files(run, tmp_path / "fresh")
    assert _bytes(tmp_path / "passed") == _bytes(tmp_path / "fresh")
    assert written == [d["Id"] for d in asff_findings(run)]


def test_a_failure_to_write_is_raised_by_finish_and_the_hub_still_gets_every_document(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from secpipe.outputs import ocsf

    run = make_run()
    real = ocsf._encoded
    calls = []

    def failing(doc):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(doc)

    monkeypatch.setattr(ocsf, "_encoded", failing)
    files = FindingsFiles(tmp_path)
    assert list(files.passing(iter_asff(run))) == asff_findings(run)
    assert len(calls) == 2                  # nothing more is encoded once writing failed
    assert list(tmp_path.iterdir()) == []   # and the temporaries are gone
    with pytest.raises(OSError, match="No space"):
        files.finish()
    assert list(tmp_path.iterdir()) == []


def test_abort_leaves_no_temporaries(tmp_path: Path) -> None:
    run = make_run()
    files = FindingsFiles(tmp_path)
    next(files.passing(iter_asff(run)))
    assert len(list(tmp_path.iterdir())) == 2
    files.abort()
    assert list(tmp_path.iterdir()) == []
