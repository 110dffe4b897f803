"""The run hands the hub's ASFF documents to the findings files' writer one at a time, dropping
each from its list (`pipeline.api._drained`), so the writers after it run without the list:
the files are the same bytes as from the list itself or from documents built afresh."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from secpipe.outputs import write_all
from secpipe.outputs.asff import asff_findings
from secpipe.pipeline.api import _drained
from tests.test_outputs import make_run

FILES = ("findings.asff.json", "findings.ocsf.json")


class _Doc(dict):
    """A dict that can be weakly referenced (to see when the hand-over lets it go)."""


def test_drained_hands_over_in_order_and_lets_go() -> None:
    docs = [_Doc(n=i) for i in range(5)]
    refs = [weakref.ref(d) for d in docs]
    seen = []
    for doc in _drained(docs):
        seen.append(doc["n"])
        del doc
        gc.collect()
        # the list no longer holds what it handed over
        assert all(r() is None for r in refs[:len(seen)])
        assert all(r() is not None for r in refs[len(seen):])
    assert seen == [0, 1, 2, 3, 4] and docs == []


def test_the_files_are_the_same_bytes(tmp_path: Path) -> None:
    run = make_run()
    fresh, listed, drained = (tmp_path / n for n in ("fresh", "listed", "drained"))
    write_all(run, fresh)
    write_all(run, listed, asff_docs=asff_findings(run))
    docs = asff_findings(run)
    write_all(run, drained, asff_docs=_drained(docs))
    assert docs == []
    for name in FILES:
        want = (fresh / name).read_bytes()
        assert (listed / name).read_bytes() == want
        assert (drained / name).read_bytes() == want
