"""Small helpers shared by parsers: decoding with clear errors, and tolerant field access."""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Callable, Iterator, Mapping, TypeVar

from secpipe.formats._jsonwalk import JsonCursor
from secpipe.formats.interface import (
    MAX_DOCUMENT_ENV, ReportFormatError, max_document_bytes,
)
from secpipe.gcpause import paused
from secpipe.model import Location, Resource

R = TypeVar("R")


def load_json(data: bytes, source: str) -> Any:
    """Decode a JSON report or raise ReportFormatError saying where it broke.

    A whole-document format costs 3-5 times the report's size in Python objects, so reports
    over :func:`max_document_bytes` are refused, naming the limit, rather than risking the
    machine's memory (JSON-lines formats stream and have no such limit).
    """
    if blank(data):
        raise ReportFormatError(source, "the report is empty")
    check_document_size(data, source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReportFormatError(source, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        with paused():   # a decoded report holds no cycle: no collection walks its objects
            return without_surrogates(json.loads(text), text)
    except json.JSONDecodeError as exc:
        raise ReportFormatError(
            source, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:  # a number of thousands of digits (int_max_str_digits)
        raise ReportFormatError(source, f"unreadable JSON: {exc}") from None
    except RecursionError:
        raise ReportFormatError(source, "JSON nested too deeply") from None


def json_array_items(data: bytes, source: str, what: str = "the report") -> Iterator[Any]:
    """The items of a report that is one JSON array, decoded one at a time: the same values,
    in order, as `load_json`'s list, without ever holding the whole decoded list (a 14 MB
    trufflehog3 report decodes to about 56 MB of objects, the largest part of a run's peak
    while its reports are parsed at once).

    Only a well-formed array is read this way. Anything else (a document that is no array,
    a lone surrogate escape, any syntax error, wherever it is) is read by `load_json`, which
    raises the error it always raised (a document that is no array: `expect`'s, naming
    `what`); items already given stand, as the caller fails on the error anyway."""
    if blank(data):
        raise ReportFormatError(source, "the report is empty")
    check_document_size(data, source)
    given = 0
    if walkable(data):
        try:
            with paused():   # neither the items nor what is made of them hold a cycle
                cursor = JsonCursor(data)
                for _ in cursor.items():
                    yield cursor.value()
                    given += 1
                cursor.end()
            return
        except (ValueError, RecursionError):   # json.JSONDecodeError is a ValueError
            pass
    doc = expect(load_json(data, source), list, source, what)
    # load_json read what the item-by-item reading refused: the rest of its items (never
    # seen: every document the item-by-item reading refuses is one json.loads refuses too)
    yield from doc[given:]


def walkable(data: bytes) -> bool:
    """Whether `JsonCursor` may read a report; not where only `load_json` may: blank, over
    the size limit, or spelling a lone surrogate escape (which `load_json` replaces after
    decoding; a pair, such as an emoji written by `json.dumps`, decodes to one character
    either way). Text that is not UTF-8 stops the cursor where it is."""
    if blank(data) or len(data) > max_document_bytes():
        return False
    return not (_SURROGATE_ESCAPE_BYTES.search(data) and _LONE_SURROGATE_ESCAPE.search(data))


def read_walking(data: bytes, source: str, walk: Callable[[JsonCursor], R],
                 whole: Callable[[Any], R]) -> R:
    """`walk` over the report's document, item by item; where it cannot (`walkable` says
    no, the JSON is broken anywhere, or `walk` raises anything: `Unwalkable` for a shape
    it leaves alone, a ReportFormatError, any other error), `whole(load_json(data, source))`:
    the parse as it was, so every error, and the result of every document the walk refuses,
    is the one it always was. `walk` reads the whole document (`JsonCursor.end`) before it
    returns.

    Whatever `walk` made before it gave up is dropped; tools' hashes it re-keyed stay
    remembered by the run's key (`Secret.from_hash`), which only scrubs more of that raw
    report."""
    if walkable(data):
        try:
            with paused():   # neither the items nor what is made of them hold a cycle
                return walk(JsonCursor(data))
        except Exception:   # noqa: BLE001 - not swallowed: the whole-document parse below
            pass            # raises its own error (or, for a shape walk refused, reads it)
    return whole(load_json(data, source))


def shared(value: str) -> str:
    """One object for every equal text a parser keeps on its findings (`sys.intern`): a
    decoded report holds a new string for each occurrence, and at 50,000 findings the
    repeated paths, rule ids, branches and dates kept about 10 MB alive until the run's end.
    Anything but a `str` is returned as it is."""
    return sys.intern(value) if type(value) is str else value


# equal mappings `shared_mapping` handed out, by their items; emptied when it grows past
# _SHARED_MAPPINGS_MAX so a report whose mappings never repeat costs no more than a bounded
# table (its findings keep their own)
_SHARED_MAPPINGS: dict[tuple, dict[str, Any]] = {}
_SHARED_MAPPINGS_MAX = 4096


def shared_mapping(value: dict[str, Any]) -> dict[str, Any]:
    """One dict for every equal small mapping parsers put on findings (`Finding.properties`,
    `Resource.details`): checkov's `{"framework": ...}` details and its properties, and
    detect-secrets' `{"hash_algorithm": "sha1"}`, are the same on thousands of findings, a
    184-byte dict each (64 empty). A finding's mappings are never changed once made (every
    writer copies before adding: `asff.to_asff`, `merge_repeats`), so sharing one is safe.
    Its keys and values must be hashable (they are strings)."""
    key = tuple(value.items())
    found = _SHARED_MAPPINGS.get(key)
    if found is None:
        if len(_SHARED_MAPPINGS) >= _SHARED_MAPPINGS_MAX:
            _SHARED_MAPPINGS.clear()
        found = _SHARED_MAPPINGS[key] = value
    return found


# the class whose instances lend their `__dict__` to `key_sharing_dict`, per kind; bounded
_KEY_SHARING: dict[str, type] = {}
_KEY_SHARING_MAX = 64


def key_sharing_dict(kind: str) -> dict[str, Any]:
    """An empty dict whose table of keys is shared with every other one made for `kind`
    (CPython's key-sharing dictionaries, PEP 412: an instance's `__dict__`, kept when the
    instance is gone). Filled with the same keys, it holds only its values: a 4-key mapping
    is 104 bytes instead of 184, 1.8 MB at 25,000 trufflehog3 findings, alive from the parse
    to the run's end. It is a plain `dict` to every reader (type, equality, order, `json`,
    pickling); a key the shared table cannot take, or one set out of order, makes it an
    ordinary dict again, which only costs the bytes. For mappings of a finding's own values
    (a history scan's commit and date); equal ones repeated across findings are one dict
    instead (`shared_mapping`)."""
    cls = _KEY_SHARING.get(kind)
    if cls is None:
        if len(_KEY_SHARING) >= _KEY_SHARING_MAX:
            return {}
        cls = _KEY_SHARING[kind] = type(f"{kind} properties", (), {"__module__": __name__})
    return cls().__dict__


# Locations `shared_location` handed out, by (path, start line, end line); emptied past
# _SHARED_LOCATIONS_MAX, as _SHARED_MAPPINGS
_SHARED_LOCATIONS: dict[tuple[str, int | None, int | None], Location] = {}
_SHARED_LOCATIONS_MAX = 4096


def shared_location(path: str, start_line: int | None, end_line: int | None) -> Location:
    """One Location for every finding at the same place (no snippet): checkov reports every
    check of a resource at the resource's lines, 12,500 findings at 800 places on the
    generated repository (64 bytes each otherwise). A Location is frozen. Only for parsers
    whose places repeat: a secret scanner's rarely do (one finding per file and value), and
    a table of places that never repeat would only cost its lookups."""
    key = (path, start_line, end_line)
    found = _SHARED_LOCATIONS.get(key)
    if found is None:
        if len(_SHARED_LOCATIONS) >= _SHARED_LOCATIONS_MAX:
            _SHARED_LOCATIONS.clear()
        found = _SHARED_LOCATIONS[key] = Location(path, start_line, end_line)
    return found


# Resources `shared_resource` handed out, by (type, id, id of the shared details); emptied
# past _SHARED_LOCATIONS_MAX
_SHARED_RESOURCES: dict[tuple[str, str, int], Resource] = {}


def shared_resource(type_: str, id_: str, details: dict[str, str]) -> Resource:
    """One Resource for every finding about the same resource: checkov reports every check
    of a resource with it (56 bytes and its name's text a finding otherwise). `details` must
    be a mapping `shared_mapping` gave (equal ones are one object). A Resource is frozen."""
    details = shared_mapping(details)
    key = (type_, id_, id(details))
    found = _SHARED_RESOURCES.get(key)
    if found is None or found.details is not details:
        if len(_SHARED_RESOURCES) >= _SHARED_LOCATIONS_MAX:
            _SHARED_RESOURCES.clear()
        found = _SHARED_RESOURCES[key] = Resource(type_, id_, details)
    return found


def check_document_size(data: bytes, source: str) -> None:
    limit = max_document_bytes()
    if len(data) > limit:
        raise ReportFormatError(
            source, f"the report is {len(data)} bytes, over the {limit}-byte limit for "
                    f"formats read as one document; set {MAX_DOCUMENT_ENV} to raise it")


def blank(data: bytes) -> bool:
    """Whether a report holds only whitespace, without copying it (`data.strip()` would)."""
    return not data or data.isspace()


def iter_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(number, line) of a report, one line in memory at a time; `\r\n` and a BOM on the
    first line are dropped. Only `\n` ends a line: JSON strings may hold U+2028 or \x1c,
    which `str.splitlines` would split on."""
    start, number, size = 0, 0, len(data)
    if data.startswith(b"\xef\xbb\xbf"):
        start = 3
    while start < size:
        end = data.find(b"\n", start)
        if end == -1:
            end = size
        number += 1
        line = data[start:end]
        yield number, line[:-1] if line.endswith(b"\r") else line
        start = end + 1


PARTIAL_LAST_LINE = ("error", "warn")


def iter_json_lines(data: bytes, source: str, *, partial_last_line: str = "error",
                    on_partial: Callable[[int, str], None] | None = None) -> Iterator[Any]:
    """Decode JSON Lines one line at a time (blank lines allowed, nothing else), so a report
    of any size costs the memory of one line plus what the caller keeps.

    A last line that is not JSON and has no newline after it is a report cut short (a full
    disk, a killed writer, a stream read mid-write): by default that is a ReportFormatError
    naming the line, as for any broken line. Streaming intake, which reads a file while Falco
    still writes it, passes `partial_last_line="warn"`: the cut line is skipped and reported
    to `on_partial(line_number, problem)` so the caller counts it; every other broken line,
    and a report whose only line is cut (nothing complete to keep), stays an error.
    """
    if partial_last_line not in PARTIAL_LAST_LINE:
        raise ValueError(f"partial_last_line must be one of {PARTIAL_LAST_LINE}")
    trimmed = data.rstrip(b" \t\r")
    # the number of the last line when the report does not end with a newline, else 0
    open_line = trimmed.count(b"\n") + 1 if trimmed and not trimmed.endswith(b"\n") else 0
    complete = 0
    for number, raw in iter_lines(data):
        if not raw or raw.isspace():
            continue
        try:
            line = raw.decode("utf-8")
            value = json.loads(line)
        except (ValueError, RecursionError) as exc:  # also UnicodeDecodeError
            last = number == open_line
            problem = _line_problem(number, exc, cut=last)
            if last and complete and partial_last_line == "warn":
                if on_partial is not None:
                    on_partial(number, problem)
                return
            raise ReportFormatError(source, problem) from None
        complete += 1
        yield without_surrogates(value, line)


def _line_problem(number: int, exc: BaseException, *, cut: bool) -> str:
    """What is wrong with line `number`, never quoting it (it may hold a secret)."""
    if cut and isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return (f"line {number} is not JSON: the last line is cut short (the report ends "
                f"mid-line, without a newline: truncated?)")
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (line {number}: {exc.reason} at byte {exc.start})"
    if isinstance(exc, json.JSONDecodeError):
        return f"line {number} is not JSON: {exc.msg}"
    if isinstance(exc, RecursionError):
        return f"line {number}: JSON nested too deeply"
    return f"line {number} is unreadable JSON: {exc}"  # thousands of digits (int_max_str_digits)


def load_json_lines(data: bytes, source: str) -> list[Any]:
    """Decode JSON Lines (one object per line); blank lines are allowed, nothing else."""
    return list(iter_json_lines(data, source))


def is_json_lines(data: bytes) -> bool:
    """Whether a report is JSON lines rather than one document: its first non-blank line is a
    whole JSON value on its own and another non-blank line follows. Reads two lines."""
    first = True
    for _, raw in iter_lines(data):
        if not raw or raw.isspace():
            continue
        if not first:
            return True
        try:
            json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # also UnicodeDecodeError
            return False
        first = False
    return False


# A \uD800-\uDFFF escape: JSON allows it, Unicode does not, and a lone one decodes into a str
# that cannot be encoded as UTF-8 (every writer, hash and HTTP body would then fail).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE_BYTES = re.compile(_SURROGATE_ESCAPE.pattern.encode())
# A high surrogate escape with no low one right after it, or a low one with no high one right
# before it: json's decoder leaves those alone in the string. Any surrogate escape right
# after a backslash matches too (that backslash may escape another, so the escape may be
# text): such a document is read the careful way.
_LONE_SURROGATE_ESCAPE = re.compile(
    rb"\\\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
    rb"|\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def without_surrogates(value: Any, text: str) -> Any:
    """`value` (decoded from `text`) with every lone surrogate replaced by U+FFFD.

    Pairs were already combined by the decoder; only a document that spells an escape in the
    surrogate range is walked at all.
    """
    if not _SURROGATE_ESCAPE.search(text):
        return value
    return _fix(value)


def _fix(value: Any) -> Any:
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        item = parent[key]
        if isinstance(item, str):
            parent[key] = _SURROGATE.sub("\ufffd", item)
        elif isinstance(item, list):
            stack += [(item, i) for i in range(len(item))]
        elif isinstance(item, dict):
            fixed = {_SURROGATE.sub("\ufffd", k) if isinstance(k, str) else k: v
                     for k, v in item.items()}
            parent[key] = fixed
            stack += [(fixed, k) for k in fixed]
    return root[0]


def expect(value: Any, kind: type | tuple[type, ...], source: str, what: str) -> Any:
    """Check a value's JSON type, raising a ReportFormatError that names the field."""
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        got = type(value).__name__
        raise ReportFormatError(source, f"{what} should be {_json_name(names)}, got {_json_name(got)}")
    return value


def _json_name(py: str) -> str:
    return (py.replace("dict", "an object").replace("list", "an array")
            .replace("str", "a string").replace("NoneType", "null"))


def text(value: Any, default: str = "") -> str:
    """A scalar as text; None and containers become the default."""
    if value is None or isinstance(value, (dict, list)):
        return default
    return str(value)


def as_list(value: Any) -> list:
    """A JSON array, or [] for anything else: a string where a list belongs would otherwise
    be walked character by character (slow and wrong), a number would raise TypeError."""
    return value if isinstance(value, list) else []


def as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(Infinity)
        return None


def dig(obj: Any, *keys: str | int, default: Any = None) -> Any:
    """obj[k1][k2]... tolerating missing keys and wrong types along the way."""
    for key in keys:
        if isinstance(obj, Mapping) and isinstance(key, str):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and -len(obj) <= key < len(obj):
            obj = obj[key]
        else:
            return default
        if obj is None:
            return default
    return obj


def objects(value: Any, source: str, what: str) -> Iterator[Mapping[str, Any]]:
    """Iterate a JSON array of objects, raising on anything else in it."""
    if value is None:
        return
    expect(value, list, source, what)
    for index, item in enumerate(value):
        yield expect(item, dict, source, f"{what}[{index}]")
