"""Hypothesis strategies for hostile report documents, shaped like each format's real reports.

A format's "schema" is learned from its real reports (the third-party fixtures and our own):
every key path, the JSON types seen there and a few real values. Generated documents follow
that shape closely enough to reach deep into a parser (the right top-level container, the
right keys, real severity words) while each node may instead be missing, null, of the wrong
type, a huge string, NaN/Infinity, a 64-bit overflow, a number of 5,000 digits, a lone UTF-16
surrogate, invalid UTF-8, a duplicate key or a nesting thousands of levels deep. XML reports
get the same treatment element by element (plus DTDs and entity bombs), text reports line by
line. Shared by tests/reliability/test_fuzz_formats.py and bench/fuzz_formats.py.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Iterable
from xml.sax.saxutils import escape, quoteattr

from hypothesis import strategies as st

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
        for i, item in enumerate(value):
            if i:
                out.append(b",")
            _encode(item, out)
        out.append(b"]")
    elif isinstance(value, dict):
        _encode(Obj(tuple(value.items())), out)
    else:  # pragma: no cover - a strategy bug
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
)

_text = st.text(max_size=40)


@st.composite
def huge_text(draw: st.DrawFn) -> str:
    size = draw(st.sampled_from([1_000, 70_000, 1_000_000]))
    unit = draw(st.sampled_from(["A", "é", "\n", "a b ", "\x1b", "<"]))
    return unit * (size // len(unit))


def hostile_leaf() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from([None, True, False, 0, -1, 2 ** 63, -(2 ** 63) - 1, 2 ** 64, 1e308,
                         -0.0, 0.5, float("nan"), float("inf"), float("-inf"),
                         Token("NaN"), Token("-Infinity"), Token("9" * 5000), Token("1e99999"),
                         {}, [], Obj((("", None),))]),
        st.sampled_from(HOSTILE_TEXT),
        huge_text(),
        st.builds(Raw, st.sampled_from([b"\xff\xfe", b"\xc0\x80", b"\xed\xa0\x80", b"a\x80b",
                                        b"\\ud800", b"\\u0000", b"\\"])),
        st.builds(Nest, st.sampled_from([50, 900, 3000, 100_000]), st.just(1),
                  st.sampled_from(["[", "{"])),
        _text, st.integers(), st.floats(),
    )


def hostile_value() -> st.SearchStrategy[Any]:
    return st.recursive(
        hostile_leaf(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.lists(st.tuples(st.one_of(_text, st.sampled_from(HOSTILE_TEXT)), inner),
                     max_size=3).map(lambda p: Obj(tuple(p)))),
        max_leaves=6)


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


_SCALARS = {"str": _text, "int": st.integers(-10, 10 ** 6), "float": st.floats(),
            "bool": st.booleans(), "null": st.none()}


def from_shape(shape: Shape | None, depth: int = 0) -> st.SearchStrategy[Any]:
    """Documents of this shape, any node possibly hostile instead."""
    if shape is None or depth > MAX_LEARN_DEPTH:
        return hostile_value()
    options: list[st.SearchStrategy[Any]] = []
    if "obj" in shape.kinds:
        options.append(_object(shape, depth))
    if "arr" in shape.kinds:
        item = from_shape(shape.item, depth + 1) if shape.item else hostile_value()
        options.append(st.one_of(st.lists(item, max_size=4),
                                 st.builds(lambda x, n: [x] * n, item, st.sampled_from([60, 3000]))))
    scalars = [_SCALARS[k] for k in sorted(shape.kinds) if k in _SCALARS]
    if shape.samples:
        scalars.insert(0, st.sampled_from(shape.samples))
    if scalars:
        options.append(st.one_of(scalars))
    conform = st.one_of(options)
    return st.one_of(conform, conform, conform, hostile_value())


def _object(shape: Shape, depth: int) -> st.SearchStrategy[Obj]:
    children = {key: st.deferred(lambda s=sub: from_shape(s, depth + 1))
                for key, sub in shape.keys.items()}

    @st.composite
    def build(draw: st.DrawFn) -> Obj:
        pairs: list[tuple[str, Any]] = []
        for key, child in children.items():
            fate = draw(st.integers(0, 19))
            if fate < 15:
                pairs.append((key, draw(child)))
            elif fate < 17:
                continue                                    # key missing
            elif fate < 19:
                pairs.append((key, draw(hostile_value())))  # wrong type, null, huge...
            else:                                           # duplicate key
                pairs += [(key, draw(child)), (key, draw(hostile_value()))]
        if draw(st.integers(0, 9)) == 0:
            pairs.append((draw(st.one_of(_text, st.sampled_from(HOSTILE_TEXT))),
                          draw(hostile_value())))
        return Obj(tuple(pairs))

    return build()


@st.composite
def json_document(draw: st.DrawFn, shape: Shape | None) -> bytes:
    data = encode(draw(from_shape(shape)))
    return _wrap(draw, data)


@st.composite
def json_lines_document(draw: st.DrawFn, shape: Shape | None) -> bytes:
    rows = draw(st.lists(from_shape(shape), max_size=5))
    sep = draw(st.sampled_from([b"\n", b"\r\n", b"\n\n", b"\n \t\n"]))
    data = sep.join(encode(r) for r in rows)
    if draw(st.integers(0, 7)) == 0:
        data += sep + draw(st.sampled_from([b"not json", b"{", b"\x00", b"[]", b"null"]))
    return _wrap(draw, data)


def _wrap(draw: st.DrawFn, data: bytes) -> bytes:
    """Sometimes a BOM, a UTF-16 re-encoding or trailing garbage around the document."""
    fate = draw(st.integers(0, 15))
    if fate == 0:
        return b"\xef\xbb\xbf" + data
    if fate == 1:
        try:
            return data.decode("utf-8").encode("utf-16")
        except UnicodeError:
            return data
    if fate == 2:
        return data + draw(st.sampled_from([b"\x00", b" trailing", b"}", b"\n\n"]))
    return data


# --- XML shapes -------------------------------------------------------------------------------

@dataclass
class XShape:
    tag: str
    attrs: dict[str, list[str]] = field(default_factory=dict)
    children: dict[str, "XShape"] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)


def learn_xml(elem: ET.Element, shape: XShape | None = None, depth: int = 0) -> XShape:
    shape = shape or XShape(elem.tag)
    for key, value in list(elem.attrib.items())[:20]:
        seen = shape.attrs.setdefault(key, [])
        if len(seen) < MAX_SAMPLES and value not in seen and len(value) < 200:
            seen.append(value)
    text = (elem.text or "").strip()
    if text and len(shape.texts) < MAX_SAMPLES and text not in shape.texts and len(text) < 200:
        shape.texts.append(text)
    if depth < MAX_LEARN_DEPTH:
        for child in list(elem)[:MAX_LEARN_ITEMS]:
            shape.children[child.tag] = learn_xml(child, shape.children.get(child.tag), depth + 1)
    return shape


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


_XML_HOSTILE = (b"&undefined;", b"&#0;", b"&#x110000;", b"<", b"]]>", b"<![CDATA[x]]>",
                b"\xff\xfe", b"\x00", b"<?pi x?>", b"<!-- c -->", b"&amp;", b"&#x1b;")
BOMB = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&%s;" % bytes([97 + i])) * 10)
                   for i in range(8))
        + b"]>")
XXE = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'


@st.composite
def xml_document(draw: st.DrawFn, shape: XShape | None) -> bytes:
    if shape is None:
        shape = XShape("root")
    out: list[bytes] = []
    prolog = draw(st.integers(0, 11))
    entity = b""
    if prolog == 0:
        out.append(BOMB)
        entity = b"&i;"
    elif prolog == 1:
        out.append(XXE)
        entity = b"&x;"
    elif prolog == 2:
        out.append(b"\xef\xbb\xbf")
    elif prolog == 3:
        out.append(b'<?xml version="1.0" encoding="ISO-8859-1"?>')
    _element(draw, shape, "", out, 0, entity)
    if draw(st.integers(0, 9)) == 0:
        depth = draw(st.sampled_from([100, 5000, 200_000]))
        out.insert(len(out) - 1, b"<d>" * depth + b"</d>" * depth)
    return b"".join(out)


def _xml_text(draw: st.DrawFn, samples: list[str]) -> bytes:
    fate = draw(st.integers(0, 9))
    if fate < 4 and samples:
        return escape(draw(st.sampled_from(samples))).encode()
    if fate < 6:
        return escape(draw(st.one_of(_text, st.sampled_from(HOSTILE_TEXT).filter(
            lambda s: "\ud800" not in s and "\udfff" not in s)))).encode("utf-8", "replace")
    if fate < 8:
        return draw(st.sampled_from(_XML_HOSTILE))
    return escape(draw(huge_text())).encode()


def _element(draw: st.DrawFn, shape: XShape, parent_ns: str, out: list[bytes], depth: int,
             entity: bytes) -> None:
    ns, name = _split(shape.tag)
    attrs = [b" xmlns=%s" % quoteattr(ns).encode()] if ns != parent_ns else []
    for key, values in shape.attrs.items():
        if draw(st.integers(0, 7)) == 0:
            continue  # attribute missing
        kns, kname = _split(key)
        if kns:
            continue  # namespaced attributes would need prefixes; the element's own are enough
        if draw(st.integers(0, 5)) == 0:
            value = draw(st.one_of(st.sampled_from(HOSTILE_TEXT), huge_text())).replace(
                "\ud800", "").replace("\udfff", "")
        else:
            value = draw(st.sampled_from(values)) if values else draw(_text)
        attrs.append(b" %s=%s" % (kname.encode(), quoteattr(value).encode("utf-8", "replace")))
    out.append(b"<" + name.encode() + b"".join(attrs) + b">")
    out.append(_xml_text(draw, shape.texts) if shape.texts or not shape.children
               else b"")
    if entity and draw(st.integers(0, 3)) == 0:
        out.append(entity)
    if depth < MAX_LEARN_DEPTH:
        for child in shape.children.values():
            count = draw(st.sampled_from([1, 1, 1, 0, 2, 3]))
            for _ in range(count):
                _element(draw, child, ns, out, depth + 1, entity)
    out.append(b"</" + name.encode() + b">")


# --- text reports -----------------------------------------------------------------------------

@st.composite
def text_document(draw: st.DrawFn, lines: list[str]) -> bytes:
    """Lines like the real ones, with fields swapped for hostile text, plus random lines."""
    out: list[str] = []
    for _ in range(draw(st.integers(0, 8))):
        fate = draw(st.integers(0, 5))
        if fate < 3 and lines:
            line = draw(st.sampled_from(lines))
            parts = line.split(":")
            if len(parts) > 1 and fate:
                i = draw(st.integers(0, len(parts) - 1))
                parts[i] = draw(st.one_of(_text, st.sampled_from(HOSTILE_TEXT), huge_text()))
            out.append(":".join(parts))
        elif fate < 5:
            out.append(draw(st.one_of(_text, st.sampled_from(HOSTILE_TEXT))))
        else:
            out.append(draw(huge_text()))
    data = "\n".join(out).encode("utf-8", "surrogatepass")
    return _wrap(draw, data)
