"""Small helpers shared by parsers: decoding with clear errors, and tolerant field access."""

from __future__ import annotations

import json
from typing import Any, Iterator, Mapping

from secpipe.formats.interface import ReportFormatError


def load_json(data: bytes, source: str) -> Any:
    """Decode a JSON report or raise ReportFormatError saying where it broke."""
    if not data.strip():
        raise ReportFormatError(source, "the report is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReportFormatError(source, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportFormatError(
            source, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ReportFormatError(source, "JSON nested too deeply") from None


def load_json_lines(data: bytes, source: str) -> list[Any]:
    """Decode JSON Lines (one object per line); blank lines are allowed, nothing else."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReportFormatError(source, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    rows: list[Any] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ReportFormatError(source, f"line {number} is not JSON: {exc.msg}") from None
        except RecursionError:
            raise ReportFormatError(source, f"line {number}: JSON nested too deeply") from None
    return rows


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


def as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
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
