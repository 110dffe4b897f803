"""A report scrubbed into a file a window at a time (`Scrubber.scrub_into`,
`SecretCollector.scrub_into`, `scrubonce.scrub_values_into`, `Spill.put_scrubbed`) gives the
bytes of the whole report scrubbed at once, whatever the windows, the values and the report
(binary, invalid UTF-8, CRLF, values across a window's end, values within values).
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from secpipe.model import SecretCollector, scrubonce, scrubber
from secpipe.model.scrubber import Scrubber
from secpipe.pipeline.spill import Spill
from secpipe.scancache import kept

needs_automaton = pytest.mark.skipif(importlib.util.find_spec("ahocorasick") is None,
                                     reason="the windows are those of the automaton's search")

# a few bytes, so that keys overlap, nest and recur: CR/LF, a quote, invalid UTF-8 (\xff, a
# lone \xc3) and a whole é (\xc3\xa9) among them
_BYTE = st.sampled_from([b"a", b"b", b"\r", b"\n", b"\r\n", b'"', b"\xc3", b"\xa9", b"\xff"])
_KEY = st.lists(_BYTE, min_size=1, max_size=7).map(b"".join)
# a replacement never equals its key (a secret's mask never does): "<" is in no key
_TABLE = st.dictionaries(_KEY, st.binary(max_size=3).map(lambda b: b"<" + b), min_size=1,
                         max_size=8)


def _report(draw_keys: list[bytes], pieces: list[tuple[int, bytes]]) -> bytes:
    """Keys after fillers (key index modulo the keys), so that the keys do occur."""
    return b"".join(filler + draw_keys[i % len(draw_keys)] for i, filler in pieces)


_PIECES = st.lists(st.tuples(st.integers(0, 20), st.lists(_BYTE, max_size=4).map(b"".join)),
                   max_size=25)


@needs_automaton
@settings(max_examples=400, deadline=None)
@given(_TABLE, _PIECES, st.binary(max_size=8), st.integers(1, 12))
def test_scrub_into_a_window_at_a_time_equals_the_whole_scrub(table, pieces, tail, window
                                                              ) -> None:
    data = _report(sorted(table), pieces) + tail
    expected = Scrubber(table, engine="regex").scrub(data)
    old = scrubber.WINDOW
    scrubber.WINDOW = window
    try:
        for engine in ("prefix", "aho-corasick"):
            one = Scrubber(table, engine=engine)
            out = io.BytesIO(b"before")
            out.seek(0, io.SEEK_END)
            changed = one.scrub_into(data, out)
            assert out.getvalue() == b"before" + expected, (engine, table, data)
            assert changed == (expected != data)
            assert one.scrub(data) == expected   # the in-memory scrub, windowed the same way
    finally:
        scrubber.WINDOW = old


@needs_automaton
def test_overlaps_past_the_budget_rewind_the_file_and_write_the_regex_result() -> None:
    words = {("a" * n).encode(): b"X" for n in range(6, 400)}
    data = b"[" + b"a" * 20_000 + b"]"
    for engine in ("prefix", "aho-corasick"):
        out = io.BytesIO(b"head")
        out.seek(0, io.SEEK_END)
        assert Scrubber(words, engine=engine).scrub_into(data, out)
        assert out.getvalue() == b"head[" + b"X" * 51 + b"]"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="AKIab\"\\\né\r", min_size=6, max_size=14), min_size=1,
                max_size=6, unique=True),
       st.lists(st.tuples(st.integers(0, 9), st.text(alphabet="ab \r\n\"é", max_size=5)),
                max_size=10), st.booleans())
def test_a_collector_scrubs_into_a_file_as_it_scrubs(values, pieces, built) -> None:
    """Both of its paths: the small data's (no automaton built yet) and the automaton's."""
    collector = SecretCollector()
    for value in values:
        collector.add(value)
    data = b"".join(f"{filler}{values[i % len(values)]}".encode() for i, filler in pieces)
    if built:
        collector._scrubber()
    expected = collector.scrub(data)
    out = io.BytesIO()
    assert collector.scrub_into(data, out) == (expected != data)
    assert out.getvalue() == expected


def _collector(values: list[str]) -> SecretCollector:
    collector = SecretCollector()
    for value in values:
        collector.add(value)
    return collector


def test_the_run_s_pass_into_a_file_gives_scrub_values_and_tells_the_changed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each way `scrub_values` takes a report (remembered as itself, as bytes, on disk, on
    disk but lost, not reusable, not remembered) written into a file: the same bytes, and the
    same reports told as changed."""
    own = _collector(["AKIAIOSFODNN7EXAMPLE"])
    everything = _collector(["AKIAIOSFODNN7EXAMPLE", "hunter2hunter2"])
    report = b'{"secret": "AKIAIOSFODNN7EXAMPLE",\r\n "ctx": "pw=\xffhunter2hunter2"}'
    clean = b'{"check": "CKV_AWS_1"}'
    monkeypatch.setattr(kept, "SPILL_MIN", 0)
    for into in (False, True):
        cases = {
            "itself": bytes(bytearray(clean)), "bytes": bytes(bytearray(report)),
            "on-disk": bytes(bytearray(report)), "lost": bytes(bytearray(report)),
            "not-reusable": bytes(bytearray(report)), "not-remembered": bytes(bytearray(report)),
            "clean-not-remembered": bytes(bytearray(clean)),
        }
        scrubonce.remember(cases["itself"], everything.values, cases["itself"])
        scrubonce.remember(cases["bytes"], everything.values, everything.scrub(report))
        for name in ("on-disk", "lost"):
            copy = kept.kept(cases[name], everything.scrub(report))
            assert not isinstance(copy, bytes)
            scrubonce.remember(cases[name], everything.values, copy)
            if name == "lost":
                copy.path.unlink()   # the scratch folder emptied under the run
        # scrubbed of its tool's own values only: the others occur, so it is scrubbed afresh
        scrubonce.remember(cases["not-reusable"], own.values, own.scrub(report))
        scrubonce.watch(id(data) for data in cases.values())
        for name, data in cases.items():
            if into:
                out = io.BytesIO(b"x")
                out.seek(1)
                scrubonce.scrub_values_into(everything, data, out)
                got = out.getvalue()[1:]
            else:
                got = scrubonce.scrub_values(everything, data)
            assert got == everything.scrub(bytes(bytearray(data))), name
        told = scrubonce.changed()
        changed = {name for name, data in cases.items() if id(data) in told}
        assert changed == {"bytes", "on-disk", "lost", "not-reusable", "not-remembered"}
        scrubonce.forget()


def test_a_spilled_report_written_by_its_scrub_holds_what_put_writes(tmp_path: Path) -> None:
    collector = _collector(["AKIAIOSFODNN7EXAMPLE"])
    data = b"key=AKIAIOSFODNN7EXAMPLE\r\n" * 1000
    spill = Spill()
    try:
        put = spill.put("a.json", collector.scrub(data))
        scrubbed = spill.put_scrubbed("a.json", data, collector.scrub_into)
        assert scrubbed.name == "a.json" and scrubbed.path != put.path
        assert scrubbed.data == put.data == collector.scrub(data)
        assert b"".join(scrubbed.chunks()) == scrubbed.data
        assert scrubbed.path.stat().st_mode & 0o777 == 0o600
    finally:
        spill.remove()
