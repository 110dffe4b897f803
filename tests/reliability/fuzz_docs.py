"""Hostile report documents, shaped like each format's real reports.

A format's "schema" is learned from its real reports (the third-party fixtures and our own):
every key path, the JSON types seen there and a few real values. Generated documents follow
that shape closely enough to reach deep into a parser (the right top-level container, the
right keys, real severity words) while any node may instead be missing, null, of the wrong
type, a huge string, NaN/Infinity, a 64-bit overflow, a number of 5,000 digits, a lone UTF-16
surrogate, invalid UTF-8, a duplicate key or a nesting thousands of levels deep. XML reports
get the same treatment element by element (plus DTDs and entity bombs), text reports line by
line (fuzz_markup.py).

Documents are built by plain functions of a `random.Random`; hypothesis supplies the seed
(tests/reliability/fuzz_harness.py), which keeps generation fast (a strategy graph as large
as a SARIF schema costs hypothesis more to walk than the parser costs to run) and runs
repeatable (`derandomize=True`). Shared by the test and bench/fuzz_formats.py.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any, Iterable

MAX_LEARN_DEPTH = 12
MAX_LEARN_ITEMS = 40      # array items looked at per array when learning
MAX_SAMPLES = 8           # real scalar values kept per path
MAX_KEYS = 60             # keys kept per object path


# --- a JSON value model that can say what json.dumps cannot -----------------------------------

@dataclass(frozen=True)
class Obj:
    """An object as key/value pairs: keys may repeat (duplicate keys)."""
    pairs: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Raw:
    """Bytes placed verbatim inside a JSON string (invalid UTF-8, CESU surrogates...)."""
    data: bytes


@dataclass(frozen=True)
class Token:
    """A bare token: NaN, Infinity, a 5,000-digit number."""
    text: str


@dataclass(frozen=True)
class Nest:
    """`value` wrapped in `depth` arrays or objects (encoded without recursion)."""
    depth: int
    value: Any
    kind: str = "["


def encode(value: Any) -> bytes:
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: Any, out: list[bytes]) -> None:
    if value is None:
        out.append(b"null")
    elif value is True:
        out.append(b"true")
    elif value is False:
        out.append(b"false")
    elif isinstance(value, int):
        out.append(str(value).encode())
    elif isinstance(value, float):
        out.append(json.dumps(value).encode())  # NaN, Infinity, -Infinity as Python writes them
    elif isinstance(value, str):
        try:
            out.append(json.dumps(value, ensure_ascii=False).encode("utf-8"))
        except UnicodeEncodeError:  # lone surrogates: written as \udXXX escapes
            out.append(json.dumps(value).encode("ascii"))
    elif isinstance(value, Raw):
        out += [b'"', value.data, b'"']
    elif isinstance(value, Token):
        out.append(value.text.encode())
    elif isinstance(value, Nest):
        opener, closer = (b"[", b"]") if value.kind == "[" else (b'{"a":', b"}")
        out.append(opener * value.depth)
        _encode(value.value, out)
        out.append(closer * value.depth)
    elif isinstance(value, Obj):
        out.append(b"{")
        for i, (key, item) in enumerate(value.pairs):
            if i:
                out.append(b",")
            _encode(key, out)
            out.append(b":")
            _encode(item, out)
        out.append(b"}")
    elif isinstance(value, (list, tuple)):
        out.append(b"[")
        previous: Any = out  # a sentinel no item can be
        encoded = b""
        for i, item in enumerate(value):
            if i:
                out.append(b",")
            if item is not previous:  # a long report repeats one item: encode it once
                part: list[bytes] = []
                _encode(item, part)
                previous, encoded = item, b"".join(part)
            out.append(encoded)
        out.append(b"]")
    elif isinstance(value, dict):
        _encode(Obj(tuple(value.items())), out)
    else:  # pragma: no cover - a generator bug
        raise TypeError(type(value))


def to_model(value: Any) -> Any:
    """A decoded JSON value as the model (dicts become Obj), for mutation."""
    if isinstance(value, dict):
        return Obj(tuple((k, to_model(v)) for k, v in value.items()))
    if isinstance(value, list):
        return [to_model(v) for v in value]
    return value


# --- hostile leaves ---------------------------------------------------------------------------

HOSTILE_TEXT = (
    "", " ", "\x00", "\x1b[2J\x1b[31mPASSED\x1b[0m", "\u202eexe.txt", "<script>alert(1)</script>",
    "javascript:alert(1)", "../../../../etc/passwd", "C:\\Windows\\..\\x", "\r\n\r\n",
    "{{7*7}}", "%s%n%x", "'; DROP TABLE findings; --", "\ufeff", "\ud800", "\udfff\ud800",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "0", "-1", "NaN",
    "null", "true", "CRITICAL", "9999999999999999999999", "1e309", "2024-13-45T99:99:99Z",
    "a" * 300, "é" * 300, "x\u2028y\u2029z", "\U0001F4A9" * 10,
    "9" * 5000, "CWE-" + "9" * 5000, "a:" + "9" * 5000 + ":x", "{" + "9" * 5000 + "}",
)
XML_SAFE_TEXT = tuple(t for t in HOSTILE_TEXT if "\ud800" not in t and "\udfff" not in t)
HOSTILE_SCALARS = (None, True, False, 0, -1, 2 ** 63, -(2 ** 63) - 1, 2 ** 64, 1e308, -0.0, 0.5,
                   float("nan"), float("inf"), float("-inf"), Token("NaN"), Token("-Infinity"),
                   Token("9" * 5000), Token("1e99999"), Token("-0"), Token("1E400"))
RAW_STRINGS = (b"\xff\xfe", b"\xc0\x80", b"\xed\xa0\x80", b"a\x80b", b"\\ud800", b"\\u0000",
               b"\\udfff\\ud800", b"\xf4\x90\x80\x80")


def plain_text(rng: random.Random, limit: int = 40) -> str:
    alphabet = rng.choice(["abcdefghijklmnopqrstuvwxyz0123456789-_./: ",
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
                           "\x00\x01\x1b\x7f\u0085\u200b\u202e\u2066\ufeff\U0001F600é中"])
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, limit)))


def huge_text(rng: random.Random) -> str:
    size = rng.choice([1_000, 1_000, 70_000])
    unit = rng.choice(["A", "é", "\n", "a b ", "\x1b", "<", "\\", "%"])
    return unit * (size // len(unit))


def giant_text(rng: random.Random) -> str:
    """Megabytes in one string: at most one per document."""
    return "A" * rng.choice([2_000_000, 2_000_000, 2_000_000, 8_000_000])


def hostile_leaf(rng: random.Random) -> Any:
    pick = rng.randrange(9)
    if pick == 0:
        return rng.choice(HOSTILE_SCALARS)
    if pick in (1, 2):
        return rng.choice(HOSTILE_TEXT)
    if pick == 3:
        return huge_text(rng)
    if pick == 4:
        return Raw(rng.choice(RAW_STRINGS))
    if pick == 5:
        return Nest(rng.choice([50, 900, 3000]), 1, rng.choice("[{"))
    if pick == 6:
        return rng.choice([{}, [], Obj((("", None),)), [None], Obj((("a", 1), ("a", "b")))])
    if pick == 7:
        return rng.choice([rng.randint(-2 ** 70, 2 ** 70), rng.uniform(-1e300, 1e300)])
    return plain_text(rng)


def hostile_value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(10)
    if depth < 3 and pick == 0:
        return [hostile_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 3 and pick == 1:
        return Obj(tuple((rng.choice([plain_text(rng), rng.choice(HOSTILE_TEXT)]),
                          hostile_value(rng, depth + 1)) for _ in range(rng.randint(0, 3))))
    return hostile_leaf(rng)


# --- JSON shapes learned from real reports ------------------------------------------------------

@dataclass
class Shape:
    kinds: set[str] = field(default_factory=set)   # obj arr str int float bool null
    keys: dict[str, "Shape"] = field(default_factory=dict)
    item: "Shape | None" = None
    samples: list[Any] = field(default_factory=list)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return {dict: "obj", list: "arr", str: "str", int: "int", float: "float"}[type(value)]


def learn(value: Any, shape: Shape | None = None, depth: int = 0) -> Shape:
    shape = shape or Shape()
    kind = _kind(value)
    shape.kinds.add(kind)
    if depth >= MAX_LEARN_DEPTH:
        return shape
    if kind == "obj":
        for key, item in value.items():
            if key in shape.keys or len(shape.keys) < MAX_KEYS:
                shape.keys[key] = learn(item, shape.keys.get(key), depth + 1)
    elif kind == "arr":
        for item in value[:MAX_LEARN_ITEMS]:
            shape.item = learn(item, shape.item, depth + 1)
    elif len(shape.samples) < MAX_SAMPLES and value not in shape.samples:
        if not isinstance(value, str) or len(value) <= 200:
            shape.samples.append(value)
    return shape


def learn_all(values: Iterable[Any]) -> Shape | None:
    shape = None
    for value in values:
        shape = learn(value, shape)
    return shape


class _Budget:
    """One giant string per document at most, and a cap on generated nodes."""

    def __init__(self, rng: random.Random | None = None) -> None:
        # one document in fifteen may hold a string of megabytes
        self.giant = rng is None or rng.randrange(15) != 0
        self.nodes = 0


def from_shape(rng: random.Random, shape: Shape | None, depth: int = 0,
               budget: _Budget | None = None) -> Any:
    """A value of this shape, any node possibly hostile instead (about one in twenty)."""
    budget = budget or _Budget(rng)
    budget.nodes += 1
    if shape is None or depth > MAX_LEARN_DEPTH or budget.nodes > 3_000:
        return hostile_value(rng)
    roll = rng.randrange(40)
    if roll == 0:
        return hostile_value(rng)
    if roll == 1 and not budget.giant:
        budget.giant = True
        return giant_text(rng)
    kinds = sorted(shape.kinds)
    kind = rng.choice(kinds)
    if kind == "obj":
        return _object(rng, shape, depth, budget)
    if kind == "arr":
        if shape.item is None:
            return []
        if rng.randrange(12) == 0:   # a long report: many copies of one small item
            item = from_shape(rng, shape.item, depth + 1, budget)
            return [item] * (rng.choice([60, 2000]) if len(encode(item)) < 512 else 2)
        return [from_shape(rng, shape.item, depth + 1, budget) for _ in range(rng.randint(0, 4))]
    if shape.samples and rng.randrange(3):
        return rng.choice(shape.samples)
    return _scalar(rng, kind)


def _scalar(rng: random.Random, kind: str) -> Any:
    if kind == "str":
        return plain_text(rng)
    if kind == "int":
        return rng.choice([0, 1, -1, rng.randint(-10, 10 ** 6)])
    if kind == "float":
        return rng.choice([0.0, rng.uniform(-10, 10), rng.uniform(0, 10)])
    if kind == "bool":
        return rng.random() < 0.5
    return None


def _object(rng: random.Random, shape: Shape, depth: int, budget: _Budget) -> Obj:
    pairs: list[tuple[str, Any]] = []
    for key, sub in shape.keys.items():
        fate = rng.randrange(40)
        if fate < 34:
            pairs.append((key, from_shape(rng, sub, depth + 1, budget)))
        elif fate < 37:
            continue                                        # key missing
        elif fate < 39:
            pairs.append((key, hostile_value(rng)))         # wrong type, null, huge...
        else:                                               # duplicate key
            pairs += [(key, from_shape(rng, sub, depth + 1, budget)), (key, hostile_value(rng))]
    if rng.randrange(10) == 0:
        pairs.append((rng.choice([plain_text(rng), rng.choice(HOSTILE_TEXT)]), hostile_value(rng)))
    if rng.randrange(10) == 0:
        rng.shuffle(pairs)
    return Obj(tuple(pairs))


def json_document(rng: random.Random, shape: Shape | None) -> bytes:
    return wrap(rng, encode(from_shape(rng, shape)))


def json_lines_document(rng: random.Random, shape: Shape | None) -> bytes:
    budget = _Budget(rng)
    rows = [from_shape(rng, shape, 0, budget) for _ in range(rng.randint(0, 6))]
    sep = rng.choice([b"\n", b"\r\n", b"\n\n", b"\n \t\n"])
    data = sep.join(encode(r) for r in rows)
    if rng.randrange(8) == 0:
        data += sep + rng.choice([b"not json", b"{", b"\x00", b"[]", b"null", b"\xff"])
    return wrap(rng, data)


def wrap(rng: random.Random, data: bytes) -> bytes:
    """Sometimes a BOM, a UTF-16 re-encoding or trailing garbage around the document."""
    fate = rng.randrange(16)
    if fate == 0:
        return b"\xef\xbb\xbf" + data
    if fate == 1:
        try:
            return data.decode("utf-8").encode("utf-16")
        except UnicodeError:
            return data
    if fate == 2:
        return data + rng.choice([b"\x00", b" trailing", b"}", b"\n\n", b"\xff"])
    return data
