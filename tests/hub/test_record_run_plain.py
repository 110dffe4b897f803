"""A run recorded through `validate_plain`'s one pass leaves the hub exactly as the former
passes did (`check_types`, `normalize`, `surely_valid` / `validate_asff`): every record path
of `test_record_run_utf8`'s scenario (creation, narrow re-run, triage, fixed tool,
reopening, refusals, non-ASCII, NUL, surrogates, oversized documents; local and ci
principals; SQLite and PostgreSQL), plus documents refused for their types or values, give
the same diffs and FailedFindings, the same rows in every table and the same texts."""

from __future__ import annotations

from typing import Any

import pytest

from secpipe.hub import validate
from secpipe.hub.store import open_store
from tests.hub.builders import ACCOUNT, finding
from tests.hub.test_record_run_parts import CI
from tests.hub.test_record_run_parts import two_urls  # noqa: F401 (the fixture)
from tests.hub.test_record_run_utf8 import _scenario, _texts
from tests.hub.test_run_statements import _rows
from tests.hub.test_store_runs import T1, run


def _refused(stamp: str) -> list[dict[str, Any]]:
    """Documents each rule of the checks refuses (or lets through) on its own."""
    fields = {"secpipe/Stage": "sca", "secpipe/Tool": "trivy"}
    return [
        finding("p-1", UpdatedAt=stamp, ProductFields=fields, Severity={"Label": "nope"}),
        finding("p-2", UpdatedAt=stamp, ProductFields=fields, Severity={"Normalized": 55}),
        finding("p-3", UpdatedAt=stamp, ProductFields=fields, Types=["Nope/x"]),
        finding("p-4", UpdatedAt=stamp, ProductFields=fields, Confidence=True),
        finding("p-5", UpdatedAt=stamp, ProductFields=fields, Title=""),
        finding("p-6", UpdatedAt=stamp, ProductFields={**fields, "k": 1}),
        finding("p-7", UpdatedAt=stamp, ProductFields=fields, Workflow={"Status": "DONE"}),
        finding("p-8", UpdatedAt=stamp, ProductFields=fields,
                FindingProviderFields={"Types": ["Effects/Data Exposure"]}),
        finding("p-9", UpdatedAt=stamp, ProductFields=fields, LastObservedAt="2024-13-01T00:00Z"),
        finding("p-10", UpdatedAt=stamp, ProductFields=fields, Sample=1),
    ]


def _all(store, principal) -> list[Any]:
    out = _scenario(store, principal)
    diff = store.record_run(run("p1", T1), _refused(T1), batch_size=3, principal=principal)
    out.append((sorted(diff.new), sorted(diff.recurring), sorted(diff.fixed), diff.by_stage,
                diff.failed))
    return out


@pytest.mark.parametrize("principal", [None, CI], ids=["local", "ci"])
def test_the_one_pass_stores_what_the_former_passes_stored(two_urls, principal,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    now = open_store(two_urls[0], account_id=ACCOUNT)
    try:
        got, got_rows, got_texts = _all(now, principal), _rows(now), _texts(now)
    finally:
        now.close()
    monkeypatch.setattr(validate, "_plain_check", lambda obj: None)
    before = open_store(two_urls[1], account_id=ACCOUNT)
    try:
        assert got == _all(before, principal)
        assert got_rows == _rows(before)
        assert got_texts == _texts(before)
    finally:
        before.close()
    failed = {f["Id"] for f in got[-1][-1]}
    assert {"p-1", "p-3", "p-4", "p-5", "p-6", "p-7", "p-9", "p-10"} <= failed
