"""Held reports sit as bytes in a `.bin` beside their entry (store.put_reports): they read back
exactly, a damaged or missing `.bin` is a miss, and entries of the JSON layout still read."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

from hypothesis import given, settings, strategies as st

from secpipe.scancache import store
from secpipe.scanners.interface import RawReport


@settings(max_examples=150, deadline=None)
@given(datas=st.lists(st.one_of(
    st.binary(max_size=60),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b'{"n": 123456789012345678901234567890}', b"\xed\xa0\x80 \xff",
                     b"\x00\x01\x1f\x7f ctl", b'"\\u00e9\\"'])), max_size=4))
def test_held_reports_read_back_exactly(tmp_path_factory, datas: list[bytes]) -> None:
    root = tmp_path_factory.mktemp("c")
    # hypothesis examples share no monkeypatch
    with mock.patch.dict(os.environ, {"SECPIPE_SCAN_CACHE": str(root)}):
        reports = [RawReport(f"r{i}.json", d) for i, d in enumerate(datas)]
        ref = store.put_reports("t", reports)
        assert store.get_reports("t", {"reports_ref": ref}) == reports
        assert store.put_reports("t", reports) == ref   # there already: not written again
        assert store.write_failures() == []


def test_a_short_or_missing_bin_is_a_miss(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SECPIPE_SCAN_CACHE", str(tmp_path))
    reports = [RawReport("a.json", b"{}" * 10), RawReport("b.log", b"x")]
    ref = store.put_reports("t", reports)
    [binary] = tmp_path.rglob("*.bin")
    assert binary.read_bytes() == b"{}" * 10 + b"x"
    binary.write_bytes(b"{}" * 10)
    assert store.get_reports("t", {"reports_ref": ref}) is None
    binary.unlink()
    assert store.get_reports("t", {"reports_ref": ref}) is None


def test_an_entry_of_the_json_layout_still_reads(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SECPIPE_SCAN_CACHE", str(tmp_path))
    reports = [RawReport("r.json", b'{"k": "caf\xc3\xa9 \xff"}'), RawReport("e", b"")]
    store.write_entry("t", "cd" * 32, {"reports": store.reports_streamed(reports)})
    assert store.get_reports("t", {"reports_ref": "cd" * 32}) == reports
    assert not list(tmp_path.rglob("*.bin"))


def test_the_json_layout_s_key_is_left_to_it(tmp_path: Path, monkeypatch) -> None:
    """A secpipe from before the .bin, sharing the cache, finds the same reports under its own
    key in its own layout: put_reports never writes a `parts` entry there."""
    import hashlib

    monkeypatch.setenv("SECPIPE_SCAN_CACHE", str(tmp_path))
    reports = [RawReport("a.json", b"{}")]
    old_key = store.digest(["reports", [[r.name, hashlib.sha256(r.data).hexdigest()]
                                        for r in reports]])
    assert store.put_reports("t", reports) != old_key
    assert store.read_entry("t", old_key) is None
