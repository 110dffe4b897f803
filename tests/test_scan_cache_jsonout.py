"""A cache entry written piece by piece (scancache.jsonout) is byte for byte json.dumps."""

from __future__ import annotations

import io
import json
from pathlib import Path

from hypothesis import given, settings, strategies as st

from secpipe.model import Category, Finding, Location, Secret, Severity
from secpipe.scancache import jsonout, store
from secpipe.scanners.interface import RawReport


def _plain(value):
    """The entry as json.dumps sees it: Each materialised, Text decoded whole."""
    if isinstance(value, jsonout.Each):
        return [_plain(v) for v in value.items]
    if isinstance(value, jsonout.Text):
        return value.data.decode("utf-8", "surrogateescape")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _dumped(make) -> str:
    out = io.StringIO()
    jsonout.dump(make(), out)
    return out.getvalue()


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), cut=st.integers(1, 7))
def test_text_is_escaped_in_pieces_exactly_as_whole(data: bytes, cut: int) -> None:
    # tiny pieces, so multi-byte sequences and invalid bytes fall across piece ends
    old = jsonout._CHUNK
    jsonout._CHUNK = cut
    try:
        got = _dumped(lambda: {"reports": jsonout.Each([["r", jsonout.Text(data + "é😀".encode()
                                                                           + data)]])})
    finally:
        jsonout._CHUNK = old
    want = json.dumps({"reports": [["r", (data + "é😀".encode() + data).decode(
        "utf-8", "surrogateescape")]]}, separators=(",", ":"))
    assert got == want
    assert json.loads(got)["reports"][0][1].encode("utf-8", "surrogateescape") == (
        data + "é😀".encode() + data)


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      st.text(max_size=8))
json_value = st.recursive(json_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=5), kids, max_size=4)),
    max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(head=st.dictionaries(st.text(max_size=5), json_value, max_size=4),
       items=st.lists(json_value, max_size=5), units=st.dictionaries(
           st.text(max_size=4), st.lists(json_value, max_size=3), max_size=3))
def test_an_entry_with_streamed_lists_is_json_dumps_of_the_lists(head, items, units) -> None:
    def make():
        return {**head, "findings": jsonout.Each(iter(items)),
                "units": {u: ["d" + u, jsonout.Each(iter(v))] for u, v in units.items()},
                "plain": [1, {"a": [2, 3]}]}
    assert _dumped(make) == json.dumps(_plain(make()), separators=(",", ":"))


def test_a_written_entry_reads_back_as_the_lists_it_streamed(tmp_path: Path,
                                                             monkeypatch) -> None:
    monkeypatch.setenv("SECPIPE_SCAN_CACHE", str(tmp_path / "c"))
    findings = [Finding(tool="t", rule_id=f"r{i}", title="x\u2028y", severity=Severity.LOW,
                        category=Category.SECRET, location=Location(f"a{i}.py", i, i, "s"),
                        secret=Secret("ab" * 32, "AK…")) for i in range(3)]
    reports = [RawReport("r.json", b'{"k": "caf\xc3\xa9 \xff"}'), RawReport("e", b"")]
    store.write_entry("t", "ab" * 32, {"findings": store.findings_streamed(iter(findings)),
                                       "artifacts": store.reports_streamed(reports)})
    entry = store.read_entry("t", "ab" * 32)
    assert entry is not None
    assert [store.finding_from_json(f) for f in entry["findings"]] == findings
    assert store.reports_from_json(entry["artifacts"]) == reports
    path = next((tmp_path / "c").rglob("*.json"))
    assert path.read_text() == json.dumps(
        {"schema": store.SCHEMA, "findings": [store.finding_to_json(f) for f in findings],
         "artifacts": store.reports_to_json(reports)}, separators=(",", ":"))
    ref = store.put_reports("t", reports)
    assert store.get_reports("t", {"reports_ref": ref}) == reports


@settings(max_examples=150, deadline=None)
@given(datas=st.lists(st.one_of(
    st.binary(max_size=60),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b'{"n": 123456789012345678901234567890, "f": 1e400, "x": NaN}',
                     b"\xed\xa0\x80 lone surrogate bytes", b"\x00\x01\x1f\x7f ctl",
                     b"\xe2\x80\xa8\xe2\x80\xa9 seps", b'"\\u00e9\\"'])), max_size=4))
def test_held_reports_read_with_orjson_are_json_s_reading(tmp_path_factory, datas) -> None:
    """read_entry reads with orjson where it can: the same reports, and the same entry as
    json's reading, whatever bytes the reports hold."""
    root = tmp_path_factory.mktemp("c")
    reports = [RawReport(f"r{i}.json", d) for i, d in enumerate(datas)]
    key = store.digest(["reports", [r.name for r in reports], [d.hex() for d in datas]])
    store.write_entry("t", key, {"reports": store.reports_streamed(reports)}, root)
    fast = store.read_entry("t", key, root)
    [path] = root.rglob("*.json")
    assert fast == json.loads(path.read_text(encoding="utf-8"))
    assert store.reports_from_json(fast["reports"]) == reports


_json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
    | st.sampled_from([2 ** 63, -(2 ** 63), -(2 ** 63) - 1, 2 ** 64 - 1, 2 ** 64, 10 ** 19,
                       -(10 ** 19), 0.1, -0.0, 1e308, 5e-324])
    | st.text(alphabet=st.characters(max_codepoint=0xFFFF), max_size=8)
    | st.text(alphabet="0123456789abcdef-", min_size=18, max_size=40),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(_json_values)
def test_an_entry_reads_as_json_reads_it(value) -> None:
    """orjson where it reads the same (ints beyond 64 bits, NaN, lone surrogates left to
    json): the same types and values, compared by repr (1 is not 1.0, -0.0 is not 0.0)."""
    raw = jsonout.encode({"schema": store.SCHEMA, "v": value}).encode("utf-8")
    assert repr(store._loads(raw)) == repr(json.loads(raw.decode("utf-8")))


_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2030), max_size=12)


@settings(max_examples=300, deadline=None)
@given(title=_text, path=_text, props=st.dictionaries(_text, _text, max_size=3),
       score=st.one_of(st.none(), st.floats(), st.integers(-2**70, 2**70)))
def test_streamed_findings_are_json_dumps_of_finding_to_json(title, path, props, score) -> None:
    """Each finding is encoded at once, not walked: the same text, non-ASCII text, DEL,
    exponent floats and NaN included."""
    from secpipe.model.finding import Vulnerability

    findings = [Finding(tool="t", rule_id="r\x7f", title=title, severity=Severity.LOW,
                        location=Location(path, 1, None, None), properties=props),
                Finding(tool="t", rule_id="v", title="x", severity=Severity.HIGH,
                        vulnerabilities=(Vulnerability("CVE-1", cvss_score=score),),
                        confidence=score if isinstance(score, int) else None)]
    got = _dumped(lambda: {"findings": store.findings_streamed(iter(findings)), "n": 1})
    assert got == json.dumps({"findings": [store.finding_to_json(f) for f in findings],
                              "n": 1}, separators=(",", ":"))


def test_raw_text_is_written_as_it_is_wherever_it_stands() -> None:
    raw = jsonout.Raw('{"a":[1,"\\u00e9"]}')
    got = _dumped(lambda: {"x": raw, "y": [raw, {"z": raw}], "e": jsonout.Each([raw])})
    assert json.loads(got) == {"x": {"a": [1, "é"]}, "y": [{"a": [1, "é"]}, {"z": {"a": [1, "é"]}}],
                               "e": [{"a": [1, "é"]}]}
