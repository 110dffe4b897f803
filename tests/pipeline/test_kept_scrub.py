"""kept.kept_scrub: the turn's scrub of a large report written straight into its file reads
back the bytes kept(report, collector.scrub(report)) held."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from secpipe.model import SecretCollector
from secpipe.scancache import kept


def _collector(values: list[str]) -> SecretCollector:
    c = SecretCollector()
    for v in values:
        c.add(v)
    return c


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(alphabet="abcXYZ019\"\\", min_size=6, max_size=12), max_size=6),
       st.integers(0, 3))
def test_same_bytes_as_scrub_then_kept(values: list[str], repeat: int) -> None:
    c = _collector(values)
    body = ("".join(f'{{"k": {v!r}, "x": "{v}"}}\n' for v in values) * repeat).encode()
    report = body + b" " * (kept.SPILL_MIN + 10 - len(body) % 7)
    got = kept.kept_scrub(report, c)
    old = c.scrub(report)
    if old is report:
        assert got is report
    else:
        assert got is not report and got.data == old


def test_small_reports_stay_in_memory() -> None:
    c = _collector(["secretvalue1"])
    report = b'{"a": "secretvalue1"}'
    assert kept.kept_scrub(report, c) == c.scrub(report)
