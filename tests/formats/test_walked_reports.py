"""checkov's and detect-secrets' reports are read item by item (`formats._jsonwalk`); for any
bytes, `parse` must give what the former parse gives, the whole document decoded then read
(`parse_document(load_json(...))`, the former `parse` kept as the fallback): equal findings,
or the same error with the same text. Checked on every fixture report of both tools and on
generated documents (key orders, repeated keys, nesting, unicode escapes, numbers, broken
tails). The walk itself must read every well-formed fixture (else the comparison would only
compare the fallback with itself), and what it gives when it reads a document must be the
former result."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from hypothesis import given, settings, strategies as st

from secpipe.formats import checkov, detect_secrets
from secpipe.formats import _jsonwalk
from secpipe.formats._common import load_json, walkable
from secpipe.formats._jsonwalk import JsonCursor
from secpipe.model import keyed
from tests.formats.fixture_reports import KEY, reports_of

_MODULES = {"checkov": checkov, "detect-secrets": detect_secrets}


def _outcome(read: Callable[[], Any]) -> tuple:
    with keyed(KEY):
        try:
            return ("ok", repr(list(read())))   # repr: a NaN cvss score is no NaN's equal
        except Exception as exc:
            return (type(exc).__name__, str(exc))


def _former(module: Any, data: bytes) -> tuple:
    return _outcome(lambda: module.parse_document(load_json(data, "r"), "r"))


def _walked(module: Any, data: bytes) -> tuple | None:
    """What the walk alone gives, or None where it refuses the document (parse falls back)."""
    if not walkable(data):
        return None
    found = _outcome(lambda: module._walk(JsonCursor(data), "r"))
    return found if found[0] == "ok" else None


@contextmanager
def _window(chunk: int) -> Iterator[None]:
    """The cursor decoding `chunk` bytes at a time (a token then often runs past the window)."""
    former, _jsonwalk.CHUNK = _jsonwalk.CHUNK, chunk
    try:
        yield
    finally:
        _jsonwalk.CHUNK = former


_CHUNKS = st.sampled_from([_jsonwalk.CHUNK, 1, 2, 3, 7, 64])


def _check(tool: str, data: bytes, chunk: int = _jsonwalk.CHUNK) -> tuple:
    module = _MODULES[tool]
    former = _former(module, data)
    with _window(chunk):
        assert _outcome(lambda: module.parse(data, "r")) == former
        walked = _walked(module, data)
    assert walked is None or walked == former
    return former if walked is None else ("walked",)


@pytest.mark.parametrize("tool,folders", [
    ("checkov", ("checkov",)), ("detect-secrets", ("detect-secrets", "detect_secrets")),
])
def test_every_fixture_reads_as_before_and_is_walked(tool: str, folders: tuple) -> None:
    for path in reports_of(tool, *folders):
        data = path.read_bytes()
        for chunk in (_jsonwalk.CHUNK, 4096, 13):
            assert _check(tool, data, chunk)[0] in ("walked", "ReportFormatError"), path


# -- generated documents: objects as lists of (key, value) pairs, so keys repeat and reorder


class _Obj(list):
    """A JSON object spelt member by member, repeats and order as drawn."""


_space = st.sampled_from(["", " ", "\n  ", "\t", "\r\n"])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                     st.floats(allow_infinity=True, allow_nan=True), st.text(max_size=6))


def _spell(draw: Any, value: Any) -> str:
    """`value` as JSON text, with drawn whitespace and, now and then, escaped characters."""
    gap = draw(_space)
    if isinstance(value, _Obj):
        members = [f"{gap}{_key(draw, k)}{draw(_space)}:{gap}{_spell(draw, v)}" for k, v in value]
        return "{" + ",".join(members) + gap + "}"
    if isinstance(value, list):
        return "[" + ",".join(gap + _spell(draw, v) for v in value) + draw(_space) + "]"
    return json.dumps(value, ensure_ascii=draw(st.booleans()))


def _key(draw: Any, key: str) -> str:
    """A key, one of its characters sometimes spelt as a \\u escape (still the same key)."""
    if key and draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(key) - 1))
        return '"' + json.dumps(key[:at])[1:-1] + f"\\u{ord(key[at]):04x}" \
            + json.dumps(key[at + 1:])[1:-1] + '"'
    return json.dumps(key, ensure_ascii=draw(st.booleans()))


@st.composite
def _members(draw: Any, wanted: dict[str, Any], extra: Any) -> _Obj:
    """Some of `wanted`'s members (strategies by key), some repeated, plus others, shuffled."""
    pairs = [(k, draw(s)) for k, s in wanted.items() if not draw(_one_in_thirty)]
    if draw(_one_in_ten):
        repeated = draw(st.sampled_from(sorted(wanted)))
        pairs.append((repeated, draw(wanted[repeated])))
    pairs += draw(st.lists(st.tuples(st.text(max_size=4), extra), max_size=2))
    return _Obj(draw(st.permutations(pairs)))


_one_in_ten = st.sampled_from([False] * 9 + [True])   # the simplest (first) is False
_one_in_thirty = st.sampled_from([False] * 29 + [True])


@st.composite
def _mostly(draw: Any, good: Any, odd: Any = _scalars) -> Any:
    """`good` nine times in ten, else `odd` (a value of the wrong kind, or none)."""
    return draw(odd) if draw(_one_in_ten) else draw(good)


_hex40 = st.text("0123456789abcdef", min_size=40, max_size=40)
_check_item = _members({
    "check_id": _mostly(st.sampled_from(["CKV_AWS_1", "CKV_SECRET_2", "CKV_K8S_8", "CKV2_X"])),
    "check_name": st.one_of(st.text(max_size=8), st.none()),
    "file_path": st.sampled_from(["/a/main.tf", "\\b\\c.yaml", "", "/ü/x"]),
    "file_line_range": _mostly(st.lists(st.integers(-1, 99), max_size=3)),
    "resource": st.one_of(_hex40, st.text(max_size=6)),
    "severity": st.sampled_from(["LOW", "HIGH", None, "odd", 3]),
    "guideline": st.sampled_from([None, "https://x.io/g", "fix it: https://y.io/a.", "text"]),
    "details": st.one_of(st.lists(_scalars, max_size=3), _scalars),
    "vulnerability_details": st.one_of(st.none(), _members({
        "id": st.sampled_from(["CVE-1", "", None]), "cvss": _scalars,
        "package_name": st.text(max_size=3)}, _scalars)),
    "bc_check_id": st.one_of(st.none(), st.text(max_size=4)),
    "code_block": st.lists(st.lists(_scalars, max_size=2), max_size=2),
}, _scalars)
_listish = _mostly(st.lists(_check_item, min_size=1, max_size=4), st.one_of(st.just([]), _scalars))
_results = _members({"failed_checks": _listish, "passed_checks": _listish,
                     "parsing_errors": st.lists(st.text(max_size=3), max_size=2)}, _scalars)
_summary = _mostly(_members({"checkov_version": _mostly(st.sampled_from(["3.3.30", "2.0"])),
                               "passed": st.integers(0, 9), "failed": st.integers(0, 9),
                               "resource_count": st.integers(0, 9)}, _scalars), _scalars)
_report = _members({"check_type": _mostly(st.sampled_from(["terraform", "secrets", "kubernetes"])),
                    "results": _mostly(_results), "summary": _summary}, _scalars)
_checkov_doc = _mostly(st.one_of(_report, st.lists(_report, min_size=1, max_size=3)),
                       st.one_of(_summary, st.just([]), _scalars))

_entry = _members({
    "type": _mostly(st.sampled_from(["Secret Keyword", "AWS Access Key",
                                     "Hex High Entropy String"]), st.sampled_from(["", None])),
    "filename": st.sampled_from(["a.py", "/b/c.env", "", None]),
    "hashed_secret": _mostly(_hex40, st.sampled_from(["", " ABC ", None])),
    "is_verified": st.one_of(st.booleans(), st.none()),
    "line_number": st.one_of(st.integers(0, 99), _scalars),
    "is_secret": st.one_of(st.booleans(), st.none()),
}, _scalars)
_files = _members({"a.py": _mostly(st.lists(_entry, min_size=1, max_size=4)),
                   "b/c.env": st.lists(_entry, max_size=3)}, st.lists(_entry, max_size=2))
_detect_doc = _members({"version": st.just("1.5.0"), "plugins_used": st.lists(_scalars, max_size=2),
                        "filters_used": st.just([]), "results": _mostly(_files),
                        "generated_at": st.just("2026-01-01T00:00:00Z")}, _scalars)


@st.composite
def _document(draw: Any, shape: Any) -> bytes:
    data = _spell(draw, draw(shape)).encode("utf-8")
    edit = draw(st.sampled_from(["none"] * 8 + ["bom", "cut", "insert", "trailing"]))
    if edit == "bom":
        data = b"\xef\xbb\xbf" + data
    elif edit == "cut" and data:
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif edit == "insert":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(
            [b",", b"]", b"}", b"{", b"x", b'"\\ud800"', b"\xff", b" ", b"NaN", b'"k":1,'])) \
            + data[at:]
    elif edit == "trailing":
        data += draw(st.sampled_from([b" x", b",", b"]", b"{}", b"\n"]))
    return data


@settings(max_examples=250, deadline=None)
@given(_document(_checkov_doc), _CHUNKS)
def test_checkov_documents_read_as_before(data: bytes, chunk: int) -> None:
    _check("checkov", data, chunk)


@settings(max_examples=300, deadline=None)
@given(_document(_detect_doc), _CHUNKS)
def test_detect_secrets_documents_read_as_before(data: bytes, chunk: int) -> None:
    _check("detect-secrets", data, chunk)


@settings(max_examples=150, deadline=None)
@given(_document(st.one_of(_checkov_doc, _detect_doc)), _CHUNKS)
def test_the_cursor_reads_what_json_loads_reads(data: bytes, chunk: int) -> None:
    """Reading past a whole document (`skip`, then `end`), a window of `chunk` bytes at a
    time, fails exactly where decoding it and json.loads fail; reading its values one by
    one gives json.loads' values."""
    try:
        loaded: Any = ("ok", repr(json.loads(data.decode("utf-8-sig"))))
    except (ValueError, RecursionError):   # also UnicodeDecodeError
        loaded = None
    try:
        cursor = JsonCursor(data, chunk)
        cursor.skip()
        cursor.end()
        walked_ok = True
    except (ValueError, RecursionError):
        walked_ok = False
    assert walked_ok == (loaded is not None)
    if loaded is not None and data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":
        cursor = JsonCursor(data, chunk)
        items = []
        for _ in cursor.items():
            items.append(cursor.value())
        cursor.end()
        assert ("ok", repr(items)) == loaded


@pytest.mark.parametrize("tool,data", [
    ("checkov", b'{"results": {"failed_checks": [{"check_id": "CKV_A"}]}, "check_type": "t",'
                b' "summary": {"checkov_version": "1"}}'),
    ("checkov", b'{"check_type": "a", "results": {}, "check_type": "b"}'),
    ("checkov", b'[{"check_type": "a", "results": {"failed_checks": [{"check_id": "X"}]}},'
                b' {"check_type": "b", "results": {"failed_checks": null}, "summary": 1}]'),
    ("checkov", b'{"check_type": "a", "results": {"failed_checks": [{"check_id": "X"}],'
                b' "failed_checks": [{"check_id": "Y"}]}}'),
    ("checkov", b'{"passed": 0, "failed": 0, "skipped": 0, "checkov_version": "3"}'),
    ("checkov", b"[]"),
    ("checkov", b'[{"check_type": "a", "results": {"failed_checks": [{"check_id": ""}]}}]'),
    ("detect-secrets", b'{"results": {"a": [{"type": "T", "hashed_secret": "ab"}]},'
                       b' "generated_at": "x"}'),
    ("detect-secrets", b'{"plugins_used": [], "results": {"a": [{"type": "T", "hashed_secret":'
                       b' "ab"}], "a": []}}'),
    ("detect-secrets", b'{"plugins_used": [], "results": {"a": [{"type": "T"}]}}'),
    ("detect-secrets", b'{"plugins_used": [], "results": {"a": [{"type": "T", "hashed_secret":'
                       b' "ab"}]}} x'),
    ("detect-secrets", b'{"results": {}}'),
])
def test_orders_repeats_and_refusals_read_as_before(tool: str, data: bytes) -> None:
    _check(tool, data)


def test_a_report_whose_summary_comes_last_keeps_its_version() -> None:
    data = Path(__file__).parent.parent.joinpath(
        "fixtures", "checkov", "checkov-3.3.30-multi.json").read_bytes()
    with keyed(KEY):
        findings = checkov.parse(data, "r")
    assert findings and all(f.properties["checkov_version"] == "3.3.30" for f in findings)


_escapes = st.lists(st.sampled_from(
    ["x", "\\\\", "\\ud800", "\\udbff", "\\udc00", "\\uDFFF", "\\ud83d\\ude00", "\\u0041", "\\n",
     "\\\\u", "ud800", "\U0001f600"]), max_size=8)


@settings(max_examples=400, deadline=None)
@given(_escapes, _escapes)
def test_only_documents_without_lone_surrogates_are_walked(key: list[str],
                                                           value: list[str]) -> None:
    """A document `walkable` lets through decodes to no lone surrogate, so json.loads gives
    what `load_json` gives (which replaces lone ones by U+FFFD)."""
    data = ('{"' + "".join(key) + '": ["' + "".join(value) + '"]}').encode()
    if walkable(data):
        decoded = json.loads(data)
        assert not any("\ud800" <= ch <= "\udfff" for text in (*decoded, *decoded.values())
                       for ch in (text if isinstance(text, str) else text[0]))
        assert decoded == load_json(data, "r")
