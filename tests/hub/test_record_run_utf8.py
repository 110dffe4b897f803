"""A run's recording keeps the checked documents' texts as orjson's UTF-8 bytes and stores
them as SQLite text straight from them (`importer.check_all`'s `utf8`, `bulk.insert_rows`'
`as_text`), and skips the surrogate regex over texts orjson wrote (`fastjson.
encode_screened`). The hub must hold exactly what the former path stored, where every text
was a str screened by the regex: the same runs (every record path, refusals, non-ASCII,
NUL, surrogates, oversized documents) through both leave the same rows in every table, the
same document texts byte for byte (typed text), and the same diffs and FailedFindings."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import text

from secpipe.hub import fastjson, importer
from secpipe.hub.store import open_store
from tests.hub.builders import ACCOUNT, finding
from tests.hub.test_record_run_parts import CI, _parted, _runs
from tests.hub.test_record_run_parts import two_urls  # noqa: F401 (the fixture)
from tests.hub.test_run_refresh import _NOW
from tests.hub.test_run_statements import _rows
from tests.hub.test_store_runs import T1, T2, run

_PROCESSED = re.compile(r'"ProcessedAt":"[^"]*"')


def _former(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every text a str from `fastjson.encode`, screened by the regex when not ASCII."""
    def plain(doc: Any) -> tuple[str, bool]:
        return fastjson.encode(doc), False

    monkeypatch.setattr(importer, "_encode_screened", plain)
    monkeypatch.setattr(importer, "_encode_utf8_screened", plain)


def _odd(stamp: str, run_id: str) -> list[dict[str, Any]]:
    """Documents whose texts are not ASCII, or are refused for their text or size."""
    fields = {"secpipe/Stage": "sca", "secpipe/Tool": "trivy", "secpipe/RunId": run_id}
    return [
        finding("u-1", UpdatedAt=stamp, Title="Secret …(hashed; #d77b)", ProductFields=fields),
        finding("u-2", UpdatedAt=stamp, Description="naïve café ☕ 𝄞 \u2028", ProductFields=fields),
        finding("u-3", UpdatedAt=stamp, Title="a NUL \x00 here", ProductFields=fields),
        finding("u-4", UpdatedAt=stamp, Title="a lone \ud800 surrogate", ProductFields=fields),
        finding("u-5", UpdatedAt=stamp, ProductFields={**fields, "k\udfff": "v"}),
        finding("u-6", UpdatedAt=stamp, ProductFields={**fields, "secpipe/x": "literal \\u0000"}),
        finding("u-7", UpdatedAt=stamp, Note={"Text": "é" * 500, "UpdatedBy": "me",
                                              "UpdatedAt": stamp},
                Resources=[{"Type": "Other", "Id": "r",
                            "Details": {"Other": {f"k{i}": "€" * 1000 for i in range(40)}}}]),
        finding("u-8", UpdatedAt=stamp,
                Resources=[{"Type": "Other", "Id": "r",
                            "Details": {"Other": {f"k{i}": "€" * 1024 for i in range(90)}}}]),
        finding("u-9", UpdatedAt=stamp, Confidence=float("nan"), Title="nan ✓"),
    ]


def _scenario(store, principal) -> list[Any]:
    out = _runs(_parted, store, principal)
    for run_id, stamp in (("u1", T1), ("u2", T2)):
        diff = store.record_run(run(run_id, stamp), _odd(stamp, run_id), batch_size=4,
                                principal=principal)
        out.append((sorted(diff.new), sorted(diff.recurring), sorted(diff.fixed),
                    diff.by_stage, diff.failed))
    return out


def _texts(store) -> list[tuple]:
    with store.engine.connect() as conn:
        kind = "typeof(doc)" if store.dialect == "sqlite" else "pg_typeof(doc)::text"
        # the hub's clock (ProcessedAt, a fixed finding's UpdatedAt) masked, not the runs'
        return [(pk, typ, _NOW.sub("*", _PROCESSED.sub('"ProcessedAt":"*"', doc)))
                for pk, typ, doc in
                conn.execute(text(f"SELECT pk, {kind}, doc FROM findings ORDER BY pk"))]


@pytest.mark.parametrize("principal", [None, CI], ids=["local", "ci"])
def test_utf8_texts_store_what_the_str_texts_stored(two_urls, principal,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    now = open_store(two_urls[0], account_id=ACCOUNT)
    try:
        got, got_rows, got_texts = _scenario(now, principal), _rows(now), _texts(now)
    finally:
        now.close()
    _former(monkeypatch)
    before = open_store(two_urls[1], account_id=ACCOUNT)
    try:
        assert got == _scenario(before, principal)
        assert got_rows == _rows(before)
        assert got_texts == _texts(before)
    finally:
        before.close()
    assert {t for _pk, t, _d in got_texts} <= {"text"}
    failed = [f["Id"] for f in got[-1][-1]] + [f["Id"] for f in got[-2][-1]]
    assert {"u-3", "u-4", "u-5", "u-8"} <= set(failed)        # NUL, surrogates, > 240 KB
    if principal is None:          # u-7 (large, stored; a ci key may not send a Note)
        assert any("é" * 500 in d for _pk, _t, d in got_texts)
