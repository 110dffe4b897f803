"""Hostile XML and text reports, shaped like each format's real ones (see fuzz_docs.py for the
JSON side and the why): XML element by element (missing attributes, hostile text, entity
bombs, external entities, deep nesting, a wrong encoding), text line by line.
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from tests.reliability.fuzz_docs import (
    HOSTILE_TEXT, MAX_LEARN_DEPTH, MAX_LEARN_ITEMS, MAX_SAMPLES, XML_SAFE_TEXT, _Budget,
    giant_text, huge_text, plain_text, wrap,
)

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


XML_HOSTILE = (b"&undefined;", b"&#0;", b"&#x110000;", b"<", b"]]>", b"<![CDATA[x]]>",
               b"\xff\xfe", b"\x00", b"<?pi x?>", b"<!-- c -->", b"&amp;", b"&#x1b;", b"&#x202e;")
BOMB = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&%s;" % bytes([97 + i])) * 10)
                   for i in range(8))
        + b"]>")
XXE = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'


def xml_document(rng: random.Random, shape: XShape | None) -> bytes:
    shape = shape or XShape("root")
    out: list[bytes] = []
    prolog = rng.randrange(12)
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
    budget = _Budget(rng)
    _element(rng, shape, "", out, 0, entity, budget)
    if rng.randrange(10) == 0:
        depth = rng.choice([100, 5000, 200_000])
        out.insert(len(out) - 1, b"<d>" * depth + b"</d>" * depth)
    return b"".join(out)


def _xml_text(rng: random.Random, samples: list[str], budget: _Budget) -> bytes:
    fate = rng.randrange(20)
    if fate < 10 and samples:
        return escape(rng.choice(samples)).encode()
    if fate < 14:
        return escape(rng.choice([plain_text(rng), rng.choice(XML_SAFE_TEXT)])).encode(
            "utf-8", "replace")
    if fate < 17:
        return rng.choice(XML_HOSTILE)
    if fate == 17 and not budget.giant:
        budget.giant = True
        return giant_text(rng).encode()
    return escape(huge_text(rng)).encode()


def _element(rng: random.Random, shape: XShape, parent_ns: str, out: list[bytes], depth: int,
             entity: bytes, budget: _Budget) -> None:
    budget.nodes += 1
    ns, name = _split(shape.tag)
    attrs = [b" xmlns=%s" % quoteattr(ns).encode()] if ns != parent_ns else []
    for key, values in shape.attrs.items():
        kns, kname = _split(key)
        if kns or rng.randrange(8) == 0:
            continue  # missing (namespaced attributes would need prefixes: left out)
        if rng.randrange(6) == 0:
            value = rng.choice([rng.choice(XML_SAFE_TEXT), huge_text(rng)])
        else:
            value = rng.choice(values) if values else plain_text(rng)
        attrs.append(b" %s=%s" % (kname.encode(), quoteattr(value).encode("utf-8", "replace")))
    out.append(b"<" + name.encode() + b"".join(attrs) + b">")
    if shape.texts or not shape.children:
        out.append(_xml_text(rng, shape.texts, budget))
    if entity and rng.randrange(4) == 0:
        out.append(entity)
    if depth < MAX_LEARN_DEPTH and budget.nodes < 5_000:
        for child in shape.children.values():
            for _ in range(rng.choice([1, 1, 1, 0, 2, 3])):
                _element(rng, child, ns, out, depth + 1, entity, budget)
    out.append(b"</" + name.encode() + b">")


# --- text reports -----------------------------------------------------------------------------

def text_document(rng: random.Random, lines: list[str]) -> bytes:
    """Lines like the real ones, with fields swapped for hostile text, plus random lines."""
    out: list[str] = []
    for _ in range(rng.randint(0, 8)):
        fate = rng.randrange(6)
        if fate < 3 and lines:
            parts = rng.choice(lines).split(":")
            if len(parts) > 1 and fate:
                i = rng.randrange(len(parts))
                parts[i] = rng.choice([plain_text(rng), rng.choice(HOSTILE_TEXT), huge_text(rng)])
            out.append(":".join(parts))
        elif fate < 5:
            out.append(rng.choice([plain_text(rng), rng.choice(HOSTILE_TEXT)]))
        else:
            out.append(huge_text(rng))
    data = "\n".join(out).encode("utf-8", "surrogatepass")
    return wrap(rng, data)
